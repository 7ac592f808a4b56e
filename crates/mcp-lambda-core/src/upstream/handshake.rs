//! Initializing a child: with the client's own params, or replayed / synthesized ones.
//!
//! Contract: [`initialize_child`] sends exactly one `initialize` and, on success, the
//! `notifications/initialized` that completes the handshake; the caller never does either.

use std::sync::Arc;

use serde_json::value::RawValue;
use tokio::time::Instant;

use super::{InitOk, Outcome, UpstreamError};
use crate::child::{ChildError, ChildProcess};
use crate::jsonrpc::{self, Message};
use crate::protocol;

/// A child's successful InitializeResult.
#[derive(Debug, Clone)]
pub(crate) struct Initialized {
    /// The raw `result` object.
    pub(crate) result: Arc<RawValue>,
    /// `result.protocolVersion`.
    pub(crate) negotiated: String,
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

/// The params of a client's initialize (raw) and the version they ask for. A version this
/// endpoint does not know is asked as the newest legacy version — the spec's negotiation (the
/// server answers with a version it supports) done here, in the params the child sees too — so
/// no map, lock or child is ever keyed by a string the client chose.
pub(crate) fn requested_version(msg: &Message) -> Outcome<(Arc<str>, String)> {
    #[derive(serde::Deserialize)]
    struct P<'a> {
        #[serde(rename = "protocolVersion", borrow)]
        protocol_version: std::borrow::Cow<'a, str>,
    }
    let params = msg
        .params()
        .ok_or(UpstreamError::InvalidParams("initialize requires params"))?;
    let p: P<'_> = serde_json::from_str(params).map_err(|_| {
        UpstreamError::InvalidParams("initialize params need a string protocolVersion")
    })?;
    if protocol::is_supported(&p.protocol_version) {
        return Ok((Arc::from(params), p.protocol_version.into_owned()));
    }
    tracing::debug!(
        requested_len = p.protocol_version.len(),
        "initialize asks for a version this endpoint does not serve; asked as {}",
        protocol::LATEST_VERSION
    );
    let rewritten = asking(params, protocol::LATEST_VERSION).ok_or(
        UpstreamError::InvalidParams("initialize params must be an object"),
    )?;
    Ok((rewritten, protocol::LATEST_VERSION.to_owned()))
}

/// Initialize params (raw JSON object) with `protocolVersion` set to `version`; `None` if they
/// are not an object.
pub(crate) fn asking(params: &str, version: &str) -> Option<Arc<str>> {
    let mut v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(params).ok()?;
    if v.get("protocolVersion").and_then(|p| p.as_str()) == Some(version) {
        return Some(Arc::from(params));
    }
    v.insert("protocolVersion".into(), serde_json::Value::from(version));
    Some(Arc::from(serde_json::Value::Object(v).to_string()))
}

/// Sends `initialize` with `params` (raw JSON) and then `notifications/initialized`.
pub(crate) async fn initialize_child(
    child: &ChildProcess,
    params: &str,
    deadline: Instant,
) -> Outcome<Initialized> {
    let failed = |e: ChildError| UpstreamError::Initialize(e);
    let broken = |why: String| UpstreamError::Initialize(ChildError::Exited(why));
    let request = RawValue::from_string(format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{params}}}"
    ))
    .map_err(|e| broken(format!("got bad params ({e})")))?;
    let raw = child.request(&request, deadline).await.map_err(failed)?;
    let msg = jsonrpc::parse_message(&raw)
        .map_err(|e| broken(format!("answered initialize with {e}")))?;
    if let Some(err) = msg.member("error") {
        return Err(UpstreamError::InitializeRefused(Arc::from(err.get())));
    }
    let result = msg
        .member("result")
        .ok_or_else(|| broken("answered initialize without a result".into()))?;
    #[derive(serde::Deserialize)]
    struct R {
        #[serde(rename = "protocolVersion")]
        protocol_version: String,
    }
    let r: R = serde_json::from_str(result.get())
        .map_err(|_| broken("answered initialize without a protocolVersion".into()))?;
    let note = RawValue::from_string(
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}".into(),
    )
    .map_err(|e| broken(e.to_string()))?;
    child.notify(&note).await.map_err(failed)?;
    Ok(Initialized {
        result: Arc::from(result),
        negotiated: r.protocol_version,
    })
}

/// A legacy child's InitializeResult as the answer to a client asking for `requested`: the
/// child's own answer, unless the child negotiated a newer version of the client's family, in
/// which case the client's version is put in (the server speaks it: see
/// [`family`](crate::protocol::family)).
pub(crate) fn answered_as(init: &Initialized, requested: &str) -> InitOk {
    let own = || InitOk {
        result: init.result.clone(),
        negotiated: init.negotiated.clone(),
    };
    if requested == init.negotiated
        || protocol::family(requested) != protocol::family(&init.negotiated)
        || requested > init.negotiated.as_str()
    {
        return own();
    }
    let Ok(mut map) =
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(init.result.get())
    else {
        return own();
    };
    map.insert("protocolVersion".into(), requested.into());
    match serde_json::value::to_raw_value(&map) {
        Ok(raw) => InitOk {
            result: Arc::from(raw),
            negotiated: requested.to_owned(),
        },
        Err(_) => own(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn init(version: &str) -> Initialized {
        let raw = format!(
            r#"{{"protocolVersion":"{version}","capabilities":{{}},"serverInfo":{{"name":"s","version":"1"}}}}"#
        );
        Initialized {
            result: Arc::from(RawValue::from_string(raw).unwrap()),
            negotiated: version.to_owned(),
        }
    }

    fn version_of(ok: &InitOk) -> String {
        let v: serde_json::Value = serde_json::from_str(ok.result.get()).unwrap();
        assert_eq!(v["serverInfo"]["name"], "s");
        assert_eq!(v["protocolVersion"], ok.negotiated.as_str());
        ok.negotiated.clone()
    }

    #[test]
    fn a_newer_child_of_the_family_answers_with_the_clients_version() {
        assert_eq!(
            version_of(&answered_as(&init("2025-11-25"), "2025-06-18")),
            "2025-06-18"
        );
        assert_eq!(
            version_of(&answered_as(&init("2025-11-25"), "2025-11-25")),
            "2025-11-25"
        );
        // The child's own counter-offer stands: it is older than what the client asked.
        assert_eq!(
            version_of(&answered_as(&init("2025-06-18"), "2025-11-25")),
            "2025-06-18"
        );
        // Other families are never relabelled.
        assert_eq!(
            version_of(&answered_as(&init("2025-11-25"), "2025-03-26")),
            "2025-11-25"
        );
        assert_eq!(
            version_of(&answered_as(&init("2025-03-26"), "2025-06-18")),
            "2025-03-26"
        );
    }

    #[test]
    fn asking_rewrites_only_the_version() {
        let p = r#"{"protocolVersion":"2025-06-18","capabilities":{"roots":{}},"clientInfo":{"name":"c","version":"1"}}"#;
        let out: serde_json::Value =
            serde_json::from_str(&asking(p, "2025-11-25").unwrap()).unwrap();
        assert_eq!(out["protocolVersion"], "2025-11-25");
        assert_eq!(out["capabilities"], serde_json::json!({"roots": {}}));
        assert_eq!(out["clientInfo"]["name"], "c");
        assert_eq!(&*asking(p, "2025-06-18").unwrap(), p);
        assert!(asking("[]", "2025-11-25").is_none());
    }
}
