//! [`DynamoStore`]: the [`SessionStore`] on a DynamoDB table.
//!
//! Contract:
//! - The handle is the session id; a handle that is not 1–128 visible ASCII characters is
//!   answered (`None` / `false` / nothing to do) without calling DynamoDB.
//! - `create` never overwrites: it writes with `attribute_not_exists(session_id)`, and an existing
//!   item is an error.
//! - `get` reads consistently and never returns an expired session, whether or not DynamoDB's
//!   (lazy) TTL deletion has removed it yet. Items that cannot be read as a session are logged and
//!   answered `None`, like any foreign handle.
//! - `touch` writes at most once per [`DynamoOptions::touch_interval`], never recreates a session
//!   that was deleted or has expired, and never moves `last_seen` backwards.
//! - `delete` only removes the item if its principal is the caller's (absent when `None`).
//! - Every operation ends within [`DynamoOptions::operation_timeout`]: throttling, network errors
//!   and a missing table are retried with backoff inside that budget, then reported as
//!   [`StoreError::Unavailable`] with a message naming the table and the cause.

use std::error::Error;
use std::future::Future;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use mcp_lambda_core::Session;
use mcp_lambda_core::session::{SessionStore, StoreError};

use crate::error::DynamoError;
use crate::item::{
    self, EXPIRES_AT, LAST_SEEN, PRINCIPAL, SESSION_ID, epoch_millis, epoch_secs, num, valid_handle,
};
use crate::options::{DynamoOptions, client_config, http_client};

/// DynamoDB error codes that mean "slow down".
const THROTTLING: &[&str] = &[
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
];

/// Sessions in a DynamoDB table (see the crate docs for the item layout and the table).
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    ttl: Duration,
    opts: DynamoOptions,
}

impl DynamoStore {
    /// A store on `table`, configured the SDK's way: region, credentials (environment, profile,
    /// web identity, ECS, IMDS) and endpoint (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`)
    /// come from the environment. Sessions expire after `ttl` without use.
    ///
    /// Fails if no region is configured or the table name is invalid. Nothing is sent to
    /// DynamoDB until the first operation.
    pub async fn from_env(
        table: String,
        ttl: Duration,
        opts: DynamoOptions,
    ) -> Result<Self, DynamoError> {
        let sdk = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .load()
            .await;
        if sdk.region().is_none() {
            return Err(DynamoError::NoRegion);
        }
        Self::new(Client::new(&sdk), table, ttl, opts)
    }

    /// A store on `table` through `client`, whose retry and timeout settings are replaced by
    /// those of `opts` (everything else — endpoint, region, credentials, HTTP client — is kept).
    /// The client needs an HTTP client: [`http_client`](crate::http_client) is the crate's.
    pub fn new(
        client: Client,
        table: String,
        ttl: Duration,
        opts: DynamoOptions,
    ) -> Result<Self, DynamoError> {
        if !valid_table_name(&table) {
            return Err(DynamoError::InvalidTableName(table));
        }
        let client = Client::from_conf(client_config(client.config(), &opts));
        Ok(Self {
            client,
            table,
            ttl,
            opts,
        })
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The DynamoDB client (with this store's retry and timeout settings).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The options in force.
    pub fn options(&self) -> &DynamoOptions {
        &self.opts
    }

    /// The effective touch interval: the configured one, capped at half the TTL so a session in
    /// use never expires between two writes.
    pub fn touch_interval(&self) -> Duration {
        self.opts.touch_interval.min(self.ttl / 2)
    }

    /// Runs one DynamoDB operation within the budget. `call` builds and sends the request; the
    /// SDK retries throttling and transient errors itself, and this loop adds retries for a
    /// missing table (DynamoDB answers `ResourceNotFoundException` while a table is being
    /// created). Returns the output, or the modeled service error for the caller to interpret
    /// (a failed condition, say); transport failures, timeouts and a table that stays missing
    /// are [`DynamoError`]s.
    pub(crate) async fn run<T, E, F, Fut>(
        &self,
        op: &'static str,
        mut call: F,
    ) -> Result<Result<T, E>, DynamoError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E, HttpResponse>>>,
        E: ProvideErrorMetadata + Error + 'static,
    {
        let budget = self.opts.operation_timeout;
        let attempts = async {
            let mut backoff = self.opts.initial_backoff;
            let mut attempt = 1;
            loop {
                match call().await {
                    Ok(out) => return Ok(Ok(out)),
                    Err(SdkError::ServiceError(ctx)) => {
                        let err = ctx.into_err();
                        if err.code() != Some("ResourceNotFoundException") {
                            return Ok(Err(err));
                        }
                        if attempt >= self.opts.max_attempts {
                            return Err(DynamoError::NoTable {
                                table: self.table.clone(),
                                op,
                            });
                        }
                        tracing::debug!(table = %self.table, op, attempt, "table not found; retrying");
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                        attempt += 1;
                    }
                    Err(other) => return Err(self.transport_error(op, &other)),
                }
            }
        };
        match tokio::time::timeout(budget, attempts).await {
            Ok(result) => result,
            Err(_) => Err(DynamoError::Timeout {
                table: self.table.clone(),
                op,
                budget,
            }),
        }
    }

    /// A modeled service error the caller did not expect, as a [`DynamoError`].
    pub(crate) fn service_error<E: ProvideErrorMetadata>(
        &self,
        op: &'static str,
        err: &E,
    ) -> DynamoError {
        let code = err.code().unwrap_or("UnknownError");
        let detail = match err.message() {
            Some(m) => format!("{code}: {m}"),
            None => code.to_owned(),
        };
        let table = self.table.clone();
        if THROTTLING.contains(&code) {
            DynamoError::Throttled { table, op, detail }
        } else {
            DynamoError::Rejected { table, op, detail }
        }
    }

    fn transport_error<E: Error + 'static>(
        &self,
        op: &'static str,
        err: &SdkError<E, HttpResponse>,
    ) -> DynamoError {
        let table = self.table.clone();
        match err {
            SdkError::TimeoutError(_) => DynamoError::Timeout {
                table,
                op,
                budget: self.opts.operation_timeout,
            },
            SdkError::DispatchFailure(_) => DynamoError::Unreachable {
                table,
                op,
                cause: error_chain(err),
            },
            _ => DynamoError::Sdk {
                table,
                op,
                cause: error_chain(err),
            },
        }
    }

    fn key(handle: &str) -> (String, AttributeValue) {
        (SESSION_ID.to_owned(), AttributeValue::S(handle.to_owned()))
    }
}

/// `err` and its sources, `: `-separated, without repeats.
fn error_chain(err: &(dyn Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(err);
    while let Some(e) = next {
        let text = e.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// DynamoDB's table-name rules (3–255 of `[A-Za-z0-9_.-]`), or a table ARN.
fn valid_table_name(name: &str) -> bool {
    if name.starts_with("arn:") {
        return name.len() <= 1024 && name.bytes().all(|b| (0x21..=0x7e).contains(&b));
    }
    (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn create(&self, session: &Session) -> Result<String, StoreError> {
        if !valid_handle(&session.id) {
            return Err(DynamoError::InvalidId.into());
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item::to_item(session)))
            .condition_expression("attribute_not_exists(#id)")
            .expression_attribute_names("#id", SESSION_ID);
        match self.run("PutItem", || put.clone().send()).await? {
            Ok(_) => Ok(session.id.clone()),
            Err(e) if e.is_conditional_check_failed_exception() => Err(DynamoError::Collision {
                table: self.table.clone(),
                id_prefix: session.id.chars().take(8).collect(),
            }
            .into()),
            Err(e) => Err(self.service_error("PutItem", &e).into()),
        }
    }

    async fn get(&self, handle: &str) -> Result<Option<Session>, StoreError> {
        if !valid_handle(handle) {
            return Ok(None);
        }
        let (k, v) = Self::key(handle);
        let get = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(k, v)
            .consistent_read(true);
        let out = match self.run("GetItem", || get.clone().send()).await? {
            Ok(out) => out,
            Err(e) => return Err(self.service_error("GetItem", &e).into()),
        };
        let Some(found) = out.item else {
            return Ok(None);
        };
        let session = match item::from_item(&found) {
            Ok(s) if s.id == handle => s,
            Ok(_) => return Ok(None),
            Err(e) => {
                tracing::warn!(table = %self.table, session = %&handle[..handle.len().min(8)], error = %e,
                    "unreadable session item; treated as unknown");
                return Ok(None);
            }
        };
        if session.expires_at <= SystemTime::now() {
            // DynamoDB deletes expired items lazily (within days): filter on read.
            return Ok(None);
        }
        Ok(Some(session))
    }

    async fn touch(
        &self,
        handle: &str,
        session: &Session,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        if !valid_handle(handle) {
            return Ok(());
        }
        let since = now.duration_since(session.last_seen).unwrap_or_default();
        if since < self.touch_interval() {
            return Ok(());
        }
        let (k, v) = Self::key(handle);
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(k, v)
            .update_expression("SET #ls = :ls, #exp = :exp")
            .condition_expression("attribute_exists(#id) AND #exp > :now AND #ls < :ls")
            .expression_attribute_names("#id", SESSION_ID)
            .expression_attribute_names("#ls", LAST_SEEN)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":ls", num(epoch_millis(now)))
            .expression_attribute_values(":exp", num(epoch_secs(now + self.ttl)))
            .expression_attribute_values(":now", num(epoch_secs(now)));
        match self.run("UpdateItem", || update.clone().send()).await? {
            Ok(_) => Ok(()),
            // Deleted, expired, or touched more recently by another instance: nothing to do.
            Err(e) if e.is_conditional_check_failed_exception() => Ok(()),
            Err(e) => Err(self.service_error("UpdateItem", &e).into()),
        }
    }

    async fn delete(&self, handle: &str, session: &Session) -> Result<bool, StoreError> {
        if !valid_handle(handle) {
            return Ok(false);
        }
        let (k, v) = Self::key(handle);
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(k, v)
            .expression_attribute_names("#id", SESSION_ID)
            .expression_attribute_names("#p", PRINCIPAL);
        let delete = match &session.principal {
            Some(p) => delete
                .condition_expression("attribute_exists(#id) AND #p = :p")
                .expression_attribute_values(":p", AttributeValue::S(p.clone())),
            None => {
                delete.condition_expression("attribute_exists(#id) AND attribute_not_exists(#p)")
            }
        };
        match self.run("DeleteItem", || delete.clone().send()).await? {
            Ok(_) => Ok(true),
            Err(e) if e.is_conditional_check_failed_exception() => Ok(false),
            Err(e) => Err(self.service_error("DeleteItem", &e).into()),
        }
    }

    fn idle_ttl(&self) -> Duration {
        self.ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_follow_dynamodb_rules() {
        assert!(valid_table_name("mcp-lambda-sessions"));
        assert!(valid_table_name("a.b_c-D9"));
        assert!(valid_table_name(
            "arn:aws:dynamodb:us-east-1:123456789012:table/sessions"
        ));
        assert!(!valid_table_name("ab"));
        assert!(!valid_table_name(&"a".repeat(256)));
        assert!(!valid_table_name("has space"));
        assert!(!valid_table_name("slash/no"));
        assert!(!valid_table_name(""));
    }

    #[test]
    fn error_chains_skip_repeats() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "Connection refused",
        ));
        assert_eq!(error_chain(&e), "outer: Connection refused");
    }
}
