//! The HTTP side shared by both links: an HTTPS client, bounded body reads, retries.
//!
//! Contract: [`Http::send`] sends a request built afresh for every attempt (so each attempt is
//! signed at its own time) and retries, with exponential backoff ([`backoff`], honouring a
//! `Retry-After` of up to [`MAX_RETRY_AFTER`]), at most [`RETRIES`] times: a 429 always (the
//! request was refused before any work), a 502/503/504 and a connection lost after sending only
//! when the step is idempotent, a connection that could not be made always. [`read_bounded`]
//! reads a body up to a bound.

use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::{ConnectError, Failure};

/// Retries after the first attempt.
pub(crate) const RETRIES: u32 = 4;
/// Longest `Retry-After` honoured.
pub(crate) const MAX_RETRY_AFTER: Duration = Duration::from_secs(20);
/// Longest wait for a TCP connection.
pub(crate) const CONNECT_WITHIN: Duration = Duration::from_secs(10);

/// The wait before retry `attempt` (0-based): 250 ms doubling, capped at 4 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64 << attempt.min(4)).min(Duration::from_secs(4))
}

/// An HTTPS (and plain HTTP, for local endpoints) client.
pub(crate) struct Http {
    client: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Http {
    /// A client with the Mozilla root certificates.
    pub(crate) fn new() -> Result<Self, ConnectError> {
        let mut tcp = HttpConnector::new();
        tcp.set_connect_timeout(Some(CONNECT_WITHIN));
        tcp.set_nodelay(true);
        tcp.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
            .map_err(|e| ConnectError::Config(format!("TLS set-up: {e}")))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(tcp);
        Ok(Self {
            client: HyperClient::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(60))
                .build(connector),
        })
    }

    /// Sends the request `build` makes (once per attempt), retrying as the module docs say.
    pub(crate) async fn send<F, Fut>(
        &self,
        idempotent: bool,
        mut build: F,
    ) -> Result<Response<Incoming>, Failure>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Request<Full<Bytes>>, Failure>>,
    {
        let mut attempt = 0;
        loop {
            let req = build().await?;
            match self.client.request(req).await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry = status == StatusCode::TOO_MANY_REQUESTS
                        || (idempotent && matches!(status.as_u16(), 502..=504));
                    if retry && attempt < RETRIES {
                        let wait = retry_after(resp.headers()).unwrap_or_else(|| backoff(attempt));
                        tracing::info!(%status, attempt, wait_ms = wait.as_millis() as u64, "retrying");
                        tokio::time::sleep(wait).await;
                        attempt += 1;
                        continue;
                    }
                    return Ok(resp);
                }
                Err(e) => {
                    let unsent = e.is_connect();
                    if (unsent || idempotent) && attempt < RETRIES {
                        tracing::info!(error = %e, attempt, "retrying");
                        tokio::time::sleep(backoff(attempt)).await;
                        attempt += 1;
                        continue;
                    }
                    let detail = std::error::Error::source(&e)
                        .map(|s| format!("{e}: {s}"))
                        .unwrap_or_else(|| e.to_string());
                    return Err(Failure::Unreachable(detail));
                }
            }
        }
    }
}

/// A `Retry-After` in seconds, capped.
fn retry_after(h: &HeaderMap) -> Option<Duration> {
    let secs: u64 = h
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

/// Reads `body` whole, refusing more than `max` bytes.
pub(crate) async fn read_bounded(body: Incoming, max: usize) -> Result<Bytes, Failure> {
    Limited::new(body, max)
        .collect()
        .await
        .map(|c| c.to_bytes())
        .map_err(|e| Failure::BadAnswer(format!("the answer could not be read: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff(0), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(9), Duration::from_secs(4));
        let mut h = HeaderMap::new();
        h.insert(http::header::RETRY_AFTER, "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(http::header::RETRY_AFTER, "9999".parse().unwrap());
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
    }
}
