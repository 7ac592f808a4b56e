//! mcp-lambda's DynamoDB session store: MCP sessions shared by every Lambda instance.
//!
//! [`DynamoStore`] implements [`SessionStore`](mcp_lambda_core::SessionStore) on one table:
//! partition key `session_id` (S), one item per session, `expires_at` (epoch seconds) as the
//! table's time-to-live attribute (the layout is in [`item`]'s docs). The client's
//! `Mcp-Session-Id` is the session id itself.
//!
//! What it promises:
//! - sessions are created once (never overwritten), read consistently, never returned once
//!   expired, refreshed at most once per [`DynamoOptions::touch_interval`], and deleted only by
//!   their own principal;
//! - every operation ends within [`DynamoOptions::operation_timeout`], retries included; a
//!   throttled, unreachable or missing table becomes
//!   [`StoreError::Unavailable`](mcp_lambda_core::session::StoreError) naming the table and the
//!   cause (the gateway answers 503);
//! - [`DynamoStore::create_table`] sets up the table idempotently.
//!
//! Configuration is the AWS SDK's own ([`DynamoStore::from_env`]): region and credentials from
//! the environment, `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL` to use a local emulator.
//! The only TLS stack compiled in is rustls with the ring provider ([`http_client`]).

mod error;
pub mod item;
mod options;
mod store;
mod table;

pub use error::DynamoError;
pub use options::{DynamoOptions, http_client};
pub use store::DynamoStore;
pub use table::CreateOutcome;
