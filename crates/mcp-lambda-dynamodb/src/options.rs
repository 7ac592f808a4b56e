//! Tuning of the store, and the one HTTP client the SDK uses.
//!
//! Contract: every DynamoDB call is bounded by [`DynamoOptions::operation_timeout`], retries and
//! backoff included; [`DynamoOptions`] is turned into the SDK's own retry and timeout config
//! ([`client_config`]) so the SDK retries throttling and transient network errors itself.
//! [`http_client`] is hyper 1 + rustls with the *ring* provider and the system's root
//! certificates: the crate compiles no other TLS stack.

use std::time::Duration;

use aws_sdk_dynamodb::config::SharedHttpClient;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// How the store talks to DynamoDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DynamoOptions {
    /// The whole budget of one store operation (one `get`, `create`, ...), every retry and
    /// backoff included. When it runs out the operation fails with
    /// [`StoreError::Unavailable`](mcp_lambda_core::session::StoreError). Default 2 s.
    pub operation_timeout: Duration,
    /// The budget of one HTTP attempt (connect included); capped at `operation_timeout`.
    /// Default 800 ms: DynamoDB answers in milliseconds, so a slower attempt is better retried.
    pub attempt_timeout: Duration,
    /// Attempts per operation (1 = no retries), for throttling, 5xx, network errors and a
    /// missing table. Default 3.
    pub max_attempts: u32,
    /// Base of the exponential backoff with jitter between attempts. Default 25 ms.
    pub initial_backoff: Duration,
    /// `touch` writes `last_seen`/`expires_at` at most once per interval per session: a request
    /// within `touch_interval` of the stored `last_seen` costs no write. Sessions therefore expire
    /// up to one interval earlier than "last use + TTL". Capped at half the TTL. Default 60 s.
    pub touch_interval: Duration,
    /// How long `create_table` waits for a new table to become ACTIVE. Default 2 min.
    pub table_active_timeout: Duration,
}

impl Default for DynamoOptions {
    fn default() -> Self {
        Self {
            operation_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_millis(800),
            max_attempts: 3,
            initial_backoff: Duration::from_millis(25),
            touch_interval: Duration::from_secs(60),
            table_active_timeout: Duration::from_secs(120),
        }
    }
}

impl DynamoOptions {
    /// The SDK retry config these options ask for.
    pub(crate) fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts.max(1))
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff((self.operation_timeout / 4).max(self.initial_backoff))
    }

    /// The SDK timeout config these options ask for.
    pub(crate) fn timeout_config(&self) -> TimeoutConfig {
        let attempt = self.attempt_timeout.min(self.operation_timeout);
        TimeoutConfig::builder()
            .connect_timeout(attempt)
            .operation_attempt_timeout(attempt)
            .operation_timeout(self.operation_timeout)
            .build()
    }
}

/// The HTTPS client for the SDK: hyper 1, rustls with the ring crypto provider, native roots.
/// It also speaks plain `http://` (local emulators such as moto).
pub fn http_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// `client`'s config with the retry and timeout settings of `opts` applied.
pub(crate) fn client_config(
    config: &aws_sdk_dynamodb::Config,
    opts: &DynamoOptions,
) -> aws_sdk_dynamodb::Config {
    config
        .to_builder()
        .retry_config(opts.retry_config())
        .timeout_config(opts.timeout_config())
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_configs_follow_the_options() {
        let opts = DynamoOptions {
            operation_timeout: Duration::from_millis(500),
            attempt_timeout: Duration::from_secs(5),
            max_attempts: 0,
            ..DynamoOptions::default()
        };
        let t = opts.timeout_config();
        assert_eq!(t.operation_timeout(), Some(Duration::from_millis(500)));
        assert_eq!(
            t.operation_attempt_timeout(),
            Some(Duration::from_millis(500)),
            "an attempt never outlives the operation"
        );
        assert_eq!(t.connect_timeout(), Some(Duration::from_millis(500)));
        let r = opts.retry_config();
        assert_eq!(r.max_attempts(), 1, "at least one attempt");
        assert_eq!(r.initial_backoff(), Duration::from_millis(25));
        assert_eq!(r.max_backoff(), Duration::from_millis(125));
    }
}
