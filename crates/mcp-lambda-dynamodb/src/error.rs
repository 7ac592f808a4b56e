//! The crate's one error type.
//!
//! Contract: every message names the table and the DynamoDB operation (or the setting) at fault,
//! and says what went wrong in words an operator can act on. The gateway only ever sees these as
//! [`StoreError::Unavailable`] (HTTP 503 with a JSON-RPC error body), carrying this text.

use std::time::Duration;

use mcp_lambda_core::session::StoreError;

/// What can go wrong talking to the session table.
#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    /// No AWS region could be found in the environment or the profile.
    #[error("no AWS region configured for the session table (set AWS_REGION)")]
    NoRegion,
    /// The table name breaks DynamoDB's naming rules.
    #[error(
        "invalid session table name {0:?}: DynamoDB table names are 3 to 255 characters of a-z, A-Z, 0-9, '_', '-' and '.'"
    )]
    InvalidTableName(String),
    /// The operation did not finish within its time budget (retries included).
    #[error("DynamoDB table {table:?}: {op} did not complete within {budget:?} (retries included)")]
    Timeout {
        /// The table.
        table: String,
        /// The DynamoDB operation, e.g. `GetItem`.
        op: &'static str,
        /// The budget that ran out.
        budget: Duration,
    },
    /// The endpoint could not be reached (connection refused, DNS, TLS, ...), after retries.
    #[error("DynamoDB table {table:?}: {op} could not reach the DynamoDB endpoint: {cause}")]
    Unreachable {
        /// The table.
        table: String,
        /// The DynamoDB operation.
        op: &'static str,
        /// The transport's explanation.
        cause: String,
    },
    /// DynamoDB kept answering that the table does not exist.
    #[error(
        "DynamoDB table {table:?} does not exist or is not ready ({op}); create it with `mcp-lambda sessions create-table`"
    )]
    NoTable {
        /// The table.
        table: String,
        /// The DynamoDB operation.
        op: &'static str,
    },
    /// DynamoDB kept throttling the requests, even after retries.
    #[error("DynamoDB table {table:?}: {op} throttled, even after retries: {detail}")]
    Throttled {
        /// The table.
        table: String,
        /// The DynamoDB operation.
        op: &'static str,
        /// DynamoDB's error code and message.
        detail: String,
    },
    /// DynamoDB refused the request for another reason (permissions, validation, ...).
    #[error("DynamoDB table {table:?}: {op} failed: {detail}")]
    Rejected {
        /// The table.
        table: String,
        /// The DynamoDB operation.
        op: &'static str,
        /// DynamoDB's error code and message.
        detail: String,
    },
    /// A session with this id already exists: the new one was not written.
    #[error(
        "DynamoDB table {table:?}: a session with id {id_prefix}... already exists; not overwritten"
    )]
    Collision {
        /// The table.
        table: String,
        /// The first characters of the session id.
        id_prefix: String,
    },
    /// The session id is not a valid handle (visible ASCII, at most 128 characters).
    #[error("session id is not visible ASCII of at most 128 characters")]
    InvalidId,
    /// The table exists but its TTL is set on another attribute.
    #[error(
        "DynamoDB table {table:?}: time to live is set on attribute {found:?}, expected \"expires_at\"; change it by hand"
    )]
    TtlAttribute {
        /// The table.
        table: String,
        /// The attribute TTL is enabled on.
        found: String,
    },
    /// The table exists but is not keyed by `session_id` (S) alone.
    #[error(
        "DynamoDB table {table:?} exists with key [{found}], expected [session_id (HASH), type S]; use another table name"
    )]
    WrongKey {
        /// The table.
        table: String,
        /// The key schema found.
        found: String,
    },
    /// The table was not ACTIVE in time after being created.
    #[error(
        "DynamoDB table {table:?} did not become ACTIVE within {waited:?} (last status: {status})"
    )]
    NotActive {
        /// The table.
        table: String,
        /// How long we waited.
        waited: Duration,
        /// The last status DynamoDB reported.
        status: String,
    },
    /// Any other failure of the SDK (request construction, unreadable response, ...).
    #[error("DynamoDB table {table:?}: {op} failed: {cause}")]
    Sdk {
        /// The table.
        table: String,
        /// The DynamoDB operation.
        op: &'static str,
        /// The SDK's explanation.
        cause: String,
    },
}

impl From<DynamoError> for StoreError {
    fn from(e: DynamoError) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}
