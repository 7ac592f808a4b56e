//! `mcp-lambda connect TARGET`: a stdio MCP server (newline-delimited JSON-RPC on stdin and
//! stdout, logs on stderr) that forwards every message to a deployed endpoint, so desktop MCP
//! clients — which start stdio servers — reach a function behind an `AWS_IAM` Function URL, a
//! bearer-protected endpoint, or a function reached only by Invoke.
//!
//! Contract:
//! - Every line read on stdin must be one JSON value of at most [`MAX_MESSAGE`] bytes; the very
//!   bytes read are what is forwarded (parsed only to route it and to answer errors). A line
//!   that is not JSON, or is too long, is answered with a JSON-RPC parse error (`id: null`).
//! - Requests run concurrently (at most [`MAX_IN_FLIGHT`]; reading stdin pauses beyond that);
//!   `initialize`, notifications and responses are sent in the order read, each before the next
//!   line is read, so the endpoint sees the handshake before what follows it.
//! - Every request gets exactly one answer on stdout: the endpoint's, or, when the endpoint
//!   cannot be reached, refuses the request, or does not answer within `--timeout`, a JSON-RPC
//!   error with its id (code [`FORWARD_ERROR`], `data.status` when there was an HTTP status).
//!   Messages the endpoint sends in between (progress, logs, server→client requests) are written
//!   as they arrive.
//! - At the end of stdin, requests still running are awaited (each within its deadline), a
//!   Streamable HTTP session is ended with `DELETE`, and the process exits 0.
//!
//! [`streamable`] and [`invoke`] describe what each kind of target adds.

pub mod auth;
mod client;
mod forward;
pub mod invoke;
pub mod oauth;
pub mod sse;
pub mod streamable;
pub mod target;

use std::time::Duration;

pub use auth::{BearerSource, Signer};
pub use forward::run;
pub use oauth::OAuthOptions;
pub use target::{Target, TargetError};

/// Largest message accepted from stdin or from the endpoint.
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;
/// Requests forwarded at once.
pub const MAX_IN_FLIGHT: usize = 64;
/// The JSON-RPC error code of answers made by `connect` itself (the endpoint could not be
/// reached or refused the request): JSON-RPC's internal error.
pub const FORWARD_ERROR: i64 = -32603;

/// What `connect` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Where to forward.
    pub target: Target,
    /// Sign HTTP requests with SigV4 (service `lambda`). Invoke targets are always signed.
    pub sigv4: bool,
    /// Send `Authorization: Bearer` with the token from here.
    pub bearer: Option<BearerSource>,
    /// Sign in with OAuth (authorization code + PKCE in the browser) when the endpoint asks.
    pub oauth: Option<OAuthOptions>,
    /// The AWS region (default: from a Function URL or an ARN, then the AWS configuration).
    pub region: Option<String>,
    /// The AWS profile (default: the AWS configuration's).
    pub profile: Option<String>,
    /// Longest wait for one answer.
    pub timeout: Duration,
}

/// Why `connect` cannot start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// A bad option or combination.
    #[error("{0}")]
    Config(String),
    /// Credentials could not be had.
    #[error("{0}")]
    Credentials(String),
}

/// Why one message could not be forwarded (turned into a JSON-RPC error for a request).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// No connection, or it broke.
    #[error("the endpoint could not be reached: {0}")]
    Unreachable(String),
    /// No answer within the deadline.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// An HTTP status that is not an answer.
    #[error("the endpoint answered HTTP {status}: {detail}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// What its body said (shortened).
        detail: String,
    },
    /// An answer that is not JSON-RPC, too large, or cut short.
    #[error("{0}")]
    BadAnswer(String),
    /// The function failed (Invoke's `X-Amz-Function-Error`).
    #[error("the function failed: {0}")]
    Function(String),
    /// Credentials could not be had.
    #[error("{0}")]
    Credentials(String),
}

impl From<ConnectError> for Failure {
    fn from(e: ConnectError) -> Self {
        match e {
            ConnectError::Config(m) | ConnectError::Credentials(m) => Failure::Credentials(m),
        }
    }
}

/// At most `max` characters of `s`, on one line.
pub(crate) fn excerpt(s: &str, max: usize) -> String {
    let flat: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(max)
        .collect();
    if s.chars().count() > max {
        format!("{}…", flat.trim_end())
    } else {
        flat.trim().to_owned()
    }
}
