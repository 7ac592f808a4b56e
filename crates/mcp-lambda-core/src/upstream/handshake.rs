//! Initializing a child: with the client's own params, or replayed / synthesized ones.
//!
//! Contract: [`initialize_child`] sends exactly one `initialize` and, on success, the
//! `notifications/initialized` that completes the handshake; the caller never does either.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::child::{ChildError, ChildProcess};
use crate::jsonrpc::{self, Message};

/// A child's successful InitializeResult.
#[derive(Debug, Clone)]
pub(crate) struct Initialized {
    /// The raw `result` object.
    pub(crate) result: Arc<RawValue>,
    /// `result.protocolVersion`.
    pub(crate) negotiated: String,
}

/// Why a child could not be initialized.
#[derive(Debug)]
pub(crate) enum InitFailure {
    /// The child failed (spawn, exit, timeout...).
    Child(ChildError),
    /// The child answered initialize with a JSON-RPC error (its raw `error` object).
    Rejected(Box<RawValue>),
}

impl InitFailure {
    /// The client's response for this failure.
    pub(crate) fn response(&self, client_id: Option<&RawValue>) -> Bytes {
        match self {
            InitFailure::Child(e) => jsonrpc::error_response(
                client_id,
                e.code(),
                &format!("could not initialize the MCP server: {e}"),
            ),
            InitFailure::Rejected(error) => Bytes::from(format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{},\"error\":{}}}",
                client_id.map(RawValue::get).unwrap_or("null"),
                error.get()
            )),
        }
    }
}

/// Initialize params the wrapper uses when it knows nothing of the client: the version, no
/// capabilities, and our own clientInfo.
pub fn synthesized_params(version: &str) -> Arc<str> {
    Arc::from(
        serde_json::json!({
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": { "name": "mcp-lambda", "version": env!("CARGO_PKG_VERSION") }
        })
        .to_string(),
    )
}

/// `params.protocolVersion` of a client's initialize, or the error response to send back.
pub(crate) fn requested_version(msg: &Message) -> Result<(Arc<str>, String), Bytes> {
    #[derive(serde::Deserialize)]
    struct P {
        #[serde(rename = "protocolVersion")]
        protocol_version: String,
    }
    let bad = |why: &str| jsonrpc::error_response(msg.id(), jsonrpc::INVALID_PARAMS, why);
    let params = msg
        .member("params")
        .ok_or_else(|| bad("initialize requires params"))?;
    let p: P = serde_json::from_str(params.get())
        .map_err(|_| bad("initialize params need a string protocolVersion"))?;
    Ok((Arc::from(params.get()), p.protocol_version))
}

/// Sends `initialize` with `params` (raw JSON) and then `notifications/initialized`.
pub(crate) async fn initialize_child(
    child: &ChildProcess,
    params: &str,
    deadline: Instant,
) -> Result<Initialized, InitFailure> {
    let request = RawValue::from_string(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{params}}}"
    ))
    .map_err(|e| InitFailure::Child(ChildError::Exited(format!("got bad params ({e})"))))?;
    let raw = child
        .request(&request, deadline)
        .await
        .map_err(InitFailure::Child)?;
    let msg = jsonrpc::parse_message(&raw).map_err(|e| {
        InitFailure::Child(ChildError::Exited(format!("answered initialize with {e}")))
    })?;
    if let Some(err) = msg.member("error") {
        return Err(InitFailure::Rejected(err));
    }
    let result = msg.member("result").ok_or_else(|| {
        InitFailure::Child(ChildError::Exited(
            "answered initialize without a result".into(),
        ))
    })?;
    #[derive(serde::Deserialize)]
    struct R {
        #[serde(rename = "protocolVersion")]
        protocol_version: String,
    }
    let r: R = serde_json::from_str(result.get()).map_err(|_| {
        InitFailure::Child(ChildError::Exited(
            "answered initialize without a protocolVersion".into(),
        ))
    })?;
    let note = RawValue::from_string(
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}".into(),
    )
    .map_err(|e| InitFailure::Child(ChildError::Exited(e.to_string())))?;
    child.notify(&note).await.map_err(InitFailure::Child)?;
    Ok(Initialized {
        result: Arc::from(result),
        negotiated: r.protocol_version,
    })
}
