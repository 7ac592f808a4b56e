//! mcp-lambda's core, free of AWS: everything between an HTTP request and a stdio MCP server.
//!
//! The request path, one module each:
//! - [`gateway`]: MCP Streamable HTTP rules per protocol era, sessions, mapping failures to
//!   statuses and JSON-RPC errors. Hosts (the local server, Lambda front doors) only translate
//!   their input into an `http::Request<Bytes>` and call [`gateway::Gateway::handle`].
//! - [`upstream`]: the child lifecycles (`reuse`, `per-request`, `per-session`) and the
//!   initialize handshake on the client's behalf.
//! - [`child`]: one supervised stdio process (framing, id rewriting, timeouts, termination).
//! - [`auth`]: the hook an OAuth resource server plugs into the gateway (identity at the edge).
//! - [`session`] and [`token`]: session stores (in memory; sealed client-carried tokens).
//! - [`policy`]: which tools clients may see and call (`--tools`, `--read-only`).
//! - [`tools`]: one `tools/list` pager and one `tools/call`, for hosts that speak in tools.
//! - [`era`]: the rewrites between the legacy (initialize) and modern (2026-07-28) eras.
//! - [`jsonrpc`], [`framing`], [`protocol`], [`command`]: the pieces they share.

pub mod auth;
pub mod child;
pub mod command;
pub mod era;
pub mod framing;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod gateway;
pub mod jsonrpc;
pub mod policy;
pub mod protocol;
pub mod queue;
pub mod sealed;
pub mod session;
pub mod token;
pub mod tools;
pub mod upstream;

pub use child::{ChildError, ChildProcess};
pub use command::ServerCommand;
pub use gateway::{Body, Gateway, GatewayConfig, RequestContext};
pub use session::{MemoryStore, Session, SessionStore};
pub use token::TokenStore;
pub use upstream::{
    CachePolicy, CacheScope, ChildConfig, ChildSlots, EraCache, EraPolicy, Exchange, InitOk,
    Outcome, PerRequest, PerSession, Policed, Reply, Reuse, Snapshot, SnapshotEra, SnapshotError,
    Snapshotted, Stats, Upstream, UpstreamError, capture,
};
