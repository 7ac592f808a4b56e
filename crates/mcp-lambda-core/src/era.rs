//! Bridging the two protocol eras: legacy (initialize handshake, 2025-03-26 … 2025-11-25) and
//! modern (stateless, per-request `_meta`, 2026-07-28).
//!
//! Contract: pure functions, no I/O. Each one rewrites exactly what the other era needs and keeps
//! every other byte of meaning:
//!
//! | direction | function |
//! |---|---|
//! | modern request's `_meta` → what we know of the client | [`ModernMeta::read`] |
//! | modern client, legacy child: initialize params for the child | [`ModernMeta::init_params`] |
//! | modern request → legacy child (drops the envelope from `_meta`) | [`to_legacy_request`] |
//! | legacy child's answer → modern client | [`to_modern_response`] |
//! | legacy child's InitializeResult → `server/discover` answer | [`discover_from_initialize`] |
//! | legacy request → modern child (adds `_meta`) | [`to_modern_request`] |
//! | modern child's `server/discover` → a legacy client's InitializeResult | [`initialize_from_discover`] |
//! | is a child's `server/discover` answer modern evidence? | [`is_modern_discover`] |
//!
//! Children shared between clients are keyed by [`capability_key`] so that one client's declared
//! capabilities never reach another client's requests.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::jsonrpc::{self, Message};
use crate::protocol::{
    self, LATEST_MODERN_VERSION, META_CLIENT_CAPABILITIES, META_CLIENT_INFO, META_PROTOCOL_VERSION,
    META_SERVER_INFO, SERVED_VERSIONS,
};
use crate::upstream::Reply;

/// What a modern request says about its client, read from `params._meta`.
#[derive(Debug, Clone)]
pub struct ModernMeta {
    /// `io.modelcontextprotocol/protocolVersion`.
    pub protocol_version: String,
    /// `io.modelcontextprotocol/clientCapabilities` (raw JSON object).
    pub client_capabilities: Arc<RawValue>,
    /// `io.modelcontextprotocol/clientInfo` (raw JSON), when sent.
    pub client_info: Option<Arc<RawValue>>,
    /// `io.modelcontextprotocol/logLevel`, when sent (log notifications only then).
    pub log_level: Option<String>,
}

/// Why a request's `_meta` is not a valid modern envelope (answered -32602, HTTP 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MetaError(pub String);

impl ModernMeta {
    /// Reads the modern envelope of `params` (the request's `params` object, if any). `Ok(None)`
    /// when `_meta` carries no protocol version at all (a legacy request).
    pub fn read(params: Option<&Map<String, Value>>) -> Result<Option<ModernMeta>, MetaError> {
        let Some(meta) = params.and_then(|p| p.get("_meta")) else {
            return Ok(None);
        };
        let Some(meta) = meta.as_object() else {
            return Ok(None);
        };
        let Some(version) = meta.get(META_PROTOCOL_VERSION) else {
            return Ok(None);
        };
        let Some(version) = version.as_str() else {
            return Err(MetaError(format!(
                "params._meta[\"{META_PROTOCOL_VERSION}\"] must be a string"
            )));
        };
        let caps = match meta.get(META_CLIENT_CAPABILITIES) {
            Some(c @ Value::Object(_)) => c,
            Some(_) => {
                return Err(MetaError(format!(
                    "params._meta[\"{META_CLIENT_CAPABILITIES}\"] must be an object"
                )));
            }
            None => {
                return Err(MetaError(format!(
                    "params._meta is missing the required \"{META_CLIENT_CAPABILITIES}\""
                )));
            }
        };
        Ok(Some(ModernMeta {
            protocol_version: version.to_owned(),
            client_capabilities: raw(caps),
            client_info: meta.get(META_CLIENT_INFO).map(raw),
            log_level: meta
                .get(protocol::META_LOG_LEVEL)
                .and_then(Value::as_str)
                .map(str::to_owned),
        }))
    }

    /// The legacy initialize params a legacy child gets on this client's behalf: the newest
    /// legacy version, the request's capabilities and client info (ours if it sent none).
    pub fn init_params(&self) -> Arc<str> {
        let info = self
            .client_info
            .as_ref()
            .and_then(|i| serde_json::from_str::<Value>(i.get()).ok())
            .filter(Value::is_object)
            .unwrap_or_else(our_client_info);
        let caps: Value =
            serde_json::from_str(self.client_capabilities.get()).unwrap_or(Value::Null);
        Arc::from(
            serde_json::json!({
                "protocolVersion": protocol::LATEST_VERSION,
                "capabilities": caps,
                "clientInfo": info,
            })
            .to_string(),
        )
    }
}

fn raw(v: &Value) -> Arc<RawValue> {
    let text = v.to_string();
    match RawValue::from_string(text) {
        Ok(r) => Arc::from(r),
        // Serializing a `Value` always yields valid JSON; keep a valid fallback regardless.
        Err(_) => Arc::from(RawValue::NULL.to_owned()),
    }
}

fn our_client_info() -> Value {
    serde_json::json!({ "name": "mcp-lambda", "version": env!("CARGO_PKG_VERSION") })
}

/// Top-level client capabilities that change what a server may do for a client. A shared child
/// is only ever used for clients declaring the same set of these.
const KEYED_CAPABILITIES: &[&str] = &[
    "elicitation",
    "experimental",
    "extensions",
    "roots",
    "sampling",
    "tasks",
];

/// The sorted names of the behaviour-changing capabilities in `caps` (a raw JSON object), e.g.
/// `"elicitation,sampling"`; unknown names are ignored so the number of keys stays bounded.
pub fn capability_key(caps: &RawValue) -> String {
    let Ok(map) = serde_json::from_str::<Map<String, Value>>(caps.get()) else {
        return String::new();
    };
    KEYED_CAPABILITIES
        .iter()
        .filter(|k| map.get(**k).is_some_and(|v| !v.is_null()))
        .copied()
        .collect::<Vec<_>>()
        .join(",")
}

/// The capability key of legacy initialize params (raw JSON with `capabilities`).
pub fn capability_key_of_params(params: &str) -> String {
    capabilities_in(params)
        .map(capability_key)
        .unwrap_or_default()
}

/// The `capabilities` member (raw) of initialize params (raw JSON), if they have one.
pub fn capabilities_in(params: &str) -> Option<&RawValue> {
    #[derive(serde::Deserialize)]
    struct P<'a> {
        #[serde(borrow)]
        capabilities: Option<&'a RawValue>,
    }
    serde_json::from_str::<P<'_>>(params).ok()?.capabilities
}

/// Methods whose 2026-07-28 results are `CacheableResult`s (`ttlMs` and `cacheScope` required).
fn cacheable(method: &str) -> bool {
    matches!(
        method,
        "tools/list"
            | "prompts/list"
            | "resources/list"
            | "resources/read"
            | "resources/templates/list"
            | "server/discover"
    )
}

/// Fills the fields a modern result must carry and a legacy server never sends: `resultType`
/// (`"complete"`), `ttlMs` / `cacheScope` for cacheable methods (0 and `"private"`: a wrapper
/// knows nothing about freshness or who may share the answer), and the server's identity in
/// `_meta`. Fields already present are kept.
fn complete_result(result: &mut Map<String, Value>, method: &str, server_info: Option<&Value>) {
    result
        .entry("resultType")
        .or_insert_with(|| Value::from("complete"));
    if cacheable(method) {
        result.entry("ttlMs").or_insert_with(|| Value::from(0));
        result
            .entry("cacheScope")
            .or_insert_with(|| Value::from("private"));
    }
    if let Some(info) = server_info {
        let meta = result
            .entry("_meta")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(meta) = meta.as_object_mut() {
            meta.entry(META_SERVER_INFO).or_insert_with(|| info.clone());
        }
    }
}

/// Rewrites a legacy child's response (client id already restored) for a modern client:
/// results get `resultType`, the cache fields and the server identity (`complete_result`); the
/// legacy resource-not-found code -32002 becomes -32602 (2026-07-28 forbids -32002).
/// `server_info` is the child's `serverInfo`. A response that cannot be read is passed through
/// unchanged.
pub fn to_modern_response(reply: Reply, method: &str, server_info: Option<&Value>) -> Reply {
    let Ok(mut v) = serde_json::from_slice::<Map<String, Value>>(&reply.body) else {
        return reply;
    };
    let mut error = reply.error;
    if let Some(Value::Object(result)) = v.get_mut("result") {
        complete_result(result, method, server_info);
    } else if let Some(Value::Object(e)) = v.get_mut("error")
        && error == Some(jsonrpc::LEGACY_RESOURCE_NOT_FOUND)
    {
        e.insert("code".into(), Value::from(jsonrpc::INVALID_PARAMS));
        error = Some(jsonrpc::INVALID_PARAMS);
    }
    match serde_json::to_vec(&v) {
        Ok(b) => Reply {
            body: Bytes::from(b),
            error,
        },
        Err(_) => reply,
    }
}

/// A `server/discover` response as this endpoint answers it: `supportedVersions` lists every
/// version the endpoint serves (both eras, as its -32022 errors do), and the capabilities that
/// promise change notifications (`listChanged` of tools / prompts / resources,
/// `resources.subscribe`) are removed, since `subscriptions/listen` is not offered. Anything
/// unreadable is passed through.
pub fn discover_for_endpoint(reply: Reply) -> Reply {
    let Ok(mut v) = serde_json::from_slice::<Map<String, Value>>(&reply.body) else {
        return reply;
    };
    let Some(Value::Object(result)) = v.get_mut("result") else {
        return reply;
    };
    result.insert(
        "supportedVersions".into(),
        Value::from(SERVED_VERSIONS.to_vec()),
    );
    if let Some(Value::Object(caps)) = result.get_mut("capabilities") {
        for (name, fields) in [
            ("tools", &["listChanged"][..]),
            ("prompts", &["listChanged"]),
            ("resources", &["listChanged", "subscribe"]),
        ] {
            if let Some(Value::Object(c)) = caps.get_mut(name) {
                for f in fields {
                    c.remove(*f);
                }
            }
        }
    }
    match serde_json::to_vec(&v) {
        Ok(b) => Reply {
            body: Bytes::from(b),
            error: None,
        },
        Err(_) => reply,
    }
}

/// A `server/discover` result built from a legacy child's InitializeResult: its capabilities,
/// instructions and identity; every version this endpoint serves.
pub fn discover_from_initialize(init_result: &RawValue) -> Box<RawValue> {
    let init: Map<String, Value> = serde_json::from_str(init_result.get()).unwrap_or_default();
    let mut out = Map::new();
    out.insert(
        "supportedVersions".into(),
        Value::from(SERVED_VERSIONS.to_vec()),
    );
    out.insert(
        "capabilities".into(),
        init.get("capabilities")
            .filter(|c| c.is_object())
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new())),
    );
    if let Some(i) = init.get("instructions").filter(|i| i.is_string()) {
        out.insert("instructions".into(), i.clone());
    }
    complete_result(&mut out, "server/discover", init.get("serverInfo"));
    boxed(&Value::Object(out))
}

/// The `serverInfo` of a legacy InitializeResult, for stamping modern results.
pub fn server_info_of(init_result: &RawValue) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct R {
        #[serde(rename = "serverInfo")]
        server_info: Option<Value>,
    }
    serde_json::from_str::<R>(init_result.get())
        .ok()?
        .server_info
        .filter(Value::is_object)
}

/// A legacy InitializeResult for a legacy client in front of a modern child, built from the
/// child's `server/discover` result; `version` is the legacy version negotiated with the client.
pub fn initialize_from_discover(discover: &RawValue, version: &str) -> Box<RawValue> {
    let d: Map<String, Value> = serde_json::from_str(discover.get()).unwrap_or_default();
    let server_info = d
        .get("_meta")
        .and_then(|m| m.get(META_SERVER_INFO))
        .filter(|i| i.is_object())
        .cloned()
        .unwrap_or_else(|| serde_json::json!({ "name": "mcp-server", "version": "unknown" }));
    let mut out = Map::new();
    out.insert("protocolVersion".into(), Value::from(version));
    out.insert(
        "capabilities".into(),
        d.get("capabilities")
            .filter(|c| c.is_object())
            .cloned()
            .unwrap_or_else(|| Value::Object(Map::new())),
    );
    out.insert("serverInfo".into(), server_info);
    if let Some(i) = d.get("instructions").filter(|i| i.is_string()) {
        out.insert("instructions".into(), i.clone());
    }
    boxed(&Value::Object(out))
}

/// The version a legacy client gets from an emulated initialize: what it asked for if we serve
/// it, else the newest legacy version (the client may then disconnect, as the spec allows).
pub fn negotiate_legacy(requested: &str) -> &'static str {
    protocol::LEGACY_VERSIONS
        .iter()
        .chain(protocol::OLDER_VERSIONS)
        .find(|v| **v == requested)
        .copied()
        .unwrap_or(protocol::LATEST_VERSION)
}

/// `true` if a child's answer to our `server/discover` probe shows a modern server: a result
/// listing a modern version we speak.
pub fn is_modern_discover(result: &RawValue) -> bool {
    #[derive(serde::Deserialize)]
    struct R {
        #[serde(rename = "supportedVersions")]
        supported: Vec<String>,
    }
    serde_json::from_str::<R>(result.get())
        .map(|r| r.supported.iter().any(|v| protocol::is_modern(v)))
        .unwrap_or(false)
}

/// The `server/discover` request the wrapper sends to probe a child (id 0; rewritten on send).
pub fn discover_probe() -> Box<RawValue> {
    boxed(&serde_json::json!({
        "jsonrpc": "2.0",
        "id": 0,
        "method": "server/discover",
        "params": { "_meta": modern_meta_value(LATEST_MODERN_VERSION, &Value::Object(Map::new()), &our_client_info()) }
    }))
}

fn modern_meta_value(version: &str, caps: &Value, info: &Value) -> Value {
    serde_json::json!({
        META_PROTOCOL_VERSION: version,
        META_CLIENT_CAPABILITIES: caps,
        META_CLIENT_INFO: info,
    })
}

/// A legacy client's request rewritten for a modern child: `params._meta` gains the modern
/// envelope built from the client's initialize params (`init_params`, raw; its capabilities and
/// clientInfo), keeping any `_meta` the client sent (e.g. `progressToken`).
pub fn to_modern_request(msg: &Message, init_params: Option<&str>) -> Box<RawValue> {
    let init: Map<String, Value> = init_params
        .and_then(|p| serde_json::from_str(p).ok())
        .unwrap_or_default();
    let caps = init
        .get("capabilities")
        .filter(|c| c.is_object())
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    let info = init
        .get("clientInfo")
        .filter(|c| c.is_object())
        .cloned()
        .unwrap_or_else(our_client_info);
    let Ok(mut whole) = serde_json::from_str::<Map<String, Value>>(msg.raw().get()) else {
        return msg.raw().to_owned();
    };
    let params = whole
        .entry("params")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(params) = params.as_object_mut() else {
        return msg.raw().to_owned();
    };
    let meta = params
        .entry("_meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let (Some(meta), Value::Object(add)) = (
        meta.as_object_mut(),
        modern_meta_value(LATEST_MODERN_VERSION, &caps, &info),
    ) {
        for (k, v) in add {
            meta.entry(k).or_insert(v);
        }
    }
    boxed(&Value::Object(whole))
}

/// `_meta` keys of the modern per-request envelope; a legacy server must not see them (a
/// dual-era server initialized in the legacy era rejects requests carrying them).
const ENVELOPE_KEYS: &[&str] = &[
    META_PROTOCOL_VERSION,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    protocol::META_LOG_LEVEL,
];

/// A modern client's request in legacy form for a legacy child: the envelope keys leave
/// `params._meta` (which goes away if nothing else is in it); everything else is kept.
pub fn to_legacy_request(msg: &Message) -> Box<RawValue> {
    let Ok(mut whole) = serde_json::from_str::<Map<String, Value>>(msg.raw().get()) else {
        return msg.raw().to_owned();
    };
    let Some(Value::Object(params)) = whole.get_mut("params") else {
        return msg.raw().to_owned();
    };
    if let Some(Value::Object(meta)) = params.get_mut("_meta") {
        for k in ENVELOPE_KEYS {
            meta.remove(*k);
        }
        if meta.is_empty() {
            params.remove("_meta");
        }
    }
    boxed(&Value::Object(whole))
}

fn boxed(v: &Value) -> Box<RawValue> {
    RawValue::from_string(v.to_string()).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reply as a child's answer comes back (its error code read).
    fn reply(body: &str) -> Reply {
        let raw = RawValue::from_string(body.to_owned()).unwrap();
        let m = jsonrpc::parse_message(&raw).unwrap();
        Reply {
            body: Bytes::from(body.to_owned()),
            error: m.error_code(),
        }
    }
    use serde_json::json;

    /// Found by the `era` fuzz target: a number beyond f64 (`5e44000005`) is valid JSON that
    /// `Value` cannot hold; both translations then forward the message as it came, still JSON.
    #[test]
    fn numbers_beyond_f64_pass_through_translation_as_json() {
        let body = r#"{"jsonrpc":"2.0","id":1,"zd":5e44000005,"method":"tools/list","params":{"x":1e999}}"#;
        let raw = RawValue::from_string(body.to_owned()).unwrap();
        let msg = jsonrpc::parse_message(&raw).unwrap();
        for out in [to_modern_request(&msg, None), to_legacy_request(&msg)] {
            assert_eq!(out.get(), body);
            serde_json::from_str::<serde::de::IgnoredAny>(out.get()).unwrap();
        }
    }

    fn params(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn reads_the_modern_envelope() {
        let p = params(json!({"_meta": {
            META_PROTOCOL_VERSION: "2026-07-28",
            META_CLIENT_CAPABILITIES: {"sampling": {}},
            META_CLIENT_INFO: {"name": "c", "version": "1"}
        }}));
        let m = ModernMeta::read(Some(&p)).unwrap().unwrap();
        assert_eq!(m.protocol_version, "2026-07-28");
        assert_eq!(m.client_capabilities.get(), r#"{"sampling":{}}"#);
        assert!(m.client_info.is_some());
        let init: Value = serde_json::from_str(&m.init_params()).unwrap();
        assert_eq!(init["protocolVersion"], "2025-11-25");
        assert_eq!(init["capabilities"], json!({"sampling": {}}));
        assert_eq!(init["clientInfo"]["name"], "c");
    }

    #[test]
    fn legacy_requests_have_no_envelope() {
        assert!(ModernMeta::read(None).unwrap().is_none());
        let p = params(json!({"_meta": {"progressToken": 1}}));
        assert!(ModernMeta::read(Some(&p)).unwrap().is_none());
    }

    #[test]
    fn malformed_envelopes_are_named() {
        let p = params(json!({"_meta": {META_PROTOCOL_VERSION: "2026-07-28"}}));
        let e = ModernMeta::read(Some(&p)).unwrap_err();
        assert!(e.0.contains("clientCapabilities"), "{e}");
        let p = params(json!({"_meta": {META_PROTOCOL_VERSION: 7, META_CLIENT_CAPABILITIES: {}}}));
        assert!(ModernMeta::read(Some(&p)).is_err());
        let p = params(
            json!({"_meta": {META_PROTOCOL_VERSION: "2026-07-28", META_CLIENT_CAPABILITIES: []}}),
        );
        assert!(ModernMeta::read(Some(&p)).is_err());
    }

    #[test]
    fn capability_keys_are_bounded_and_ordered() {
        let r = |s: &str| RawValue::from_string(s.into()).unwrap();
        assert_eq!(capability_key(&r("{}")), "");
        assert_eq!(
            capability_key(&r(
                r#"{"sampling":{},"roots":{"listChanged":true},"made-up":{}}"#
            )),
            "roots,sampling"
        );
        assert_eq!(
            capability_key_of_params(
                r#"{"protocolVersion":"x","capabilities":{"elicitation":{}}}"#
            ),
            "elicitation"
        );
        assert_eq!(capability_key_of_params("{}"), "");
    }

    #[test]
    fn legacy_results_get_the_modern_fields() {
        let info = json!({"name": "s", "version": "2"});
        let out = to_modern_response(
            reply(r#"{"jsonrpc":"2.0","id":3,"result":{"tools":[]}}"#),
            "tools/list",
            Some(&info),
        );
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(v["id"], 3);
        assert_eq!(v["result"]["resultType"], "complete");
        assert_eq!(v["result"]["ttlMs"], 0);
        assert_eq!(v["result"]["cacheScope"], "private");
        assert_eq!(v["result"]["_meta"][META_SERVER_INFO], info);
        // Not cacheable: no cache fields; fields the server set are kept.
        let out = to_modern_response(
            reply(
                r#"{"jsonrpc":"2.0","id":"a","result":{"content":[],"resultType":"complete","_meta":{"k":1}}}"#,
            ),
            "tools/call",
            None,
        );
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert!(v["result"].get("ttlMs").is_none());
        assert_eq!(v["result"]["_meta"]["k"], 1);
    }

    #[test]
    fn legacy_resource_not_found_becomes_invalid_params() {
        let out = to_modern_response(
            reply(r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32002,"message":"nope"}}"#),
            "resources/read",
            None,
        );
        assert_eq!(out.error, Some(-32602));
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(v["error"]["code"], -32602);
        assert_eq!(v["error"]["message"], "nope");
    }

    #[test]
    fn discover_and_initialize_map_both_ways() {
        let init = RawValue::from_string(
            json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                   "serverInfo": {"name": "s", "version": "1"}, "instructions": "hi"})
            .to_string(),
        )
        .unwrap();
        let d = discover_from_initialize(&init);
        assert!(is_modern_discover(&d));
        let dv: Value = serde_json::from_str(d.get()).unwrap();
        assert_eq!(dv["capabilities"], json!({"tools": {}}));
        assert_eq!(dv["instructions"], "hi");
        assert_eq!(dv["resultType"], "complete");
        assert_eq!(dv["_meta"][META_SERVER_INFO]["name"], "s");
        assert_eq!(dv["supportedVersions"][0], "2026-07-28");
        let back = initialize_from_discover(&d, "2025-06-18");
        let bv: Value = serde_json::from_str(back.get()).unwrap();
        assert_eq!(bv["protocolVersion"], "2025-06-18");
        assert_eq!(bv["capabilities"], json!({"tools": {}}));
        assert_eq!(bv["serverInfo"]["name"], "s");
        assert_eq!(bv["instructions"], "hi");
        assert_eq!(server_info_of(&init).unwrap()["version"], "1");
    }

    #[test]
    fn discover_answers_for_the_endpoint() {
        let out = discover_for_endpoint(reply(
            &json!({"jsonrpc": "2.0", "id": 1, "result": {"capabilities": {
                "tools": {"listChanged": true},
                "resources": {"subscribe": true, "listChanged": true},
                "logging": {}
            }}})
            .to_string(),
        ));
        let v: Value = serde_json::from_slice(&out.body).unwrap();
        assert_eq!(
            v["result"]["capabilities"],
            json!({"tools": {}, "resources": {}, "logging": {}})
        );
        assert_eq!(v["result"]["supportedVersions"], json!(SERVED_VERSIONS));
        let err = reply(r#"{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m"}}"#);
        assert_eq!(discover_for_endpoint(err.clone()), err);
    }

    #[test]
    fn discover_evidence() {
        let r = |s: &str| RawValue::from_string(s.into()).unwrap();
        assert!(is_modern_discover(&r(
            r#"{"supportedVersions":["2026-07-28"],"capabilities":{}}"#
        )));
        assert!(!is_modern_discover(&r(
            r#"{"supportedVersions":["2025-11-25"],"capabilities":{}}"#
        )));
        assert!(!is_modern_discover(&r(r#"{"capabilities":{}}"#)));
        assert_eq!(negotiate_legacy("2025-06-18"), "2025-06-18");
        assert_eq!(negotiate_legacy("1999-01-01"), "2025-11-25");
    }

    #[test]
    fn modern_requests_lose_the_envelope() {
        let msg = jsonrpc::parse_message(
            &RawValue::from_string(
                json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                    "name": "t",
                    "_meta": {
                        META_PROTOCOL_VERSION: "2026-07-28",
                        META_CLIENT_CAPABILITIES: {},
                        META_CLIENT_INFO: {"name": "c", "version": "1"},
                        "io.modelcontextprotocol/logLevel": "info",
                        "progressToken": 4
                    }
                }})
                .to_string(),
            )
            .unwrap(),
        )
        .unwrap();
        let v: Value = serde_json::from_str(to_legacy_request(&msg).get()).unwrap();
        assert_eq!(v["params"]["_meta"], json!({"progressToken": 4}));
        assert_eq!(v["params"]["name"], "t");
        assert_eq!(v["id"], 1);
        let msg = jsonrpc::parse_message(
            &RawValue::from_string(
                json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {
                    "_meta": {META_PROTOCOL_VERSION: "2026-07-28", META_CLIENT_CAPABILITIES: {}}
                }})
                .to_string(),
            )
            .unwrap(),
        )
        .unwrap();
        let v: Value = serde_json::from_str(to_legacy_request(&msg).get()).unwrap();
        assert_eq!(v["params"], json!({}));
    }

    #[test]
    fn legacy_requests_gain_the_envelope() {
        let msg = jsonrpc::parse_message(
            &RawValue::from_string(
                r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":"p"}}}"#
                    .into(),
            )
            .unwrap(),
        )
        .unwrap();
        let out = to_modern_request(
            &msg,
            Some(
                r#"{"protocolVersion":"2025-06-18","capabilities":{"roots":{}},"clientInfo":{"name":"c","version":"9"}}"#,
            ),
        );
        let v: Value = serde_json::from_str(out.get()).unwrap();
        assert_eq!(v["params"]["name"], "t");
        let meta = &v["params"]["_meta"];
        assert_eq!(meta["progressToken"], "p");
        assert_eq!(meta[META_PROTOCOL_VERSION], "2026-07-28");
        assert_eq!(meta[META_CLIENT_CAPABILITIES], json!({"roots": {}}));
        assert_eq!(meta[META_CLIENT_INFO]["name"], "c");
        // No params at all, no session: empty capabilities and our identity.
        let msg = jsonrpc::parse_message(
            &RawValue::from_string(r#"{"jsonrpc":"2.0","id":6,"method":"tools/list"}"#.into())
                .unwrap(),
        )
        .unwrap();
        let v: Value = serde_json::from_str(to_modern_request(&msg, None).get()).unwrap();
        assert_eq!(v["params"]["_meta"][META_CLIENT_CAPABILITIES], json!({}));
        assert_eq!(v["params"]["_meta"][META_CLIENT_INFO]["name"], "mcp-lambda");
    }
}
