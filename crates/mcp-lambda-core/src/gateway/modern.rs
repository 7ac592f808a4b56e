//! The 2026-07-28 (modern, stateless) request rules: which era a POST speaks, and the validation
//! ladder a modern request passes before it reaches the upstream.
//!
//! Contract — a modern POST is answered, first rule that applies wins:
//!
//! | input | answer |
//! |---|---|
//! | invalid JSON | 400, -32700 |
//! | a batch, a response, not JSON-RPC | 400, -32600 |
//! | a notification | 202 if its `MCP-Protocol-Version` is served, else 400 -32022; never forwarded (2026-07-28 defines no client notifications over HTTP) |
//! | a routing header (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`) sent twice | 400, -32020 |
//! | `params._meta` without `protocolVersion` + `clientCapabilities` | 400, -32602 |
//! | `MCP-Protocol-Version` missing or ≠ `_meta` version; `Mcp-Method` ≠ `method`; `Mcp-Name` ≠ `params.name` / `params.uri` (after `=?base64?…?=` decoding) | 400, -32020 |
//! | version not served | 400, -32022 with `data.supported` / `data.requested` |
//! | a method removed in 2026-07-28 (`initialize`, `ping`, `logging/setLevel`, `resources/subscribe`, …) | 404, -32601 |
//! | anything else | forwarded; the answer's status follows its error code (400 for -32700/-32600/-32602/-32020/-32021/-32022, 404 for -32601, else 200) |
//!
//! `Mcp-Session-Id` and `Last-Event-ID` are ignored and no session id is ever minted.

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use crate::era::ModernMeta;
use crate::jsonrpc::{self, Message};
use crate::protocol::{self, METHOD_HEADER, NAME_HEADER, SERVED_VERSIONS, VERSION_HEADER};

/// A rejected modern request: the HTTP status and the JSON-RPC error body.
#[derive(Debug)]
pub(crate) struct Rejection {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

fn reject(status: StatusCode, msg: &Message, code: i64, text: &str) -> Rejection {
    Rejection {
        status,
        body: jsonrpc::error_response(msg.id(), code, text),
    }
}

fn mismatch(msg: &Message, text: &str) -> Rejection {
    reject(
        StatusCode::BAD_REQUEST,
        msg,
        jsonrpc::HEADER_MISMATCH,
        &format!("Header mismatch: {text}"),
    )
}

/// The `UnsupportedProtocolVersionError` for `requested`.
pub(crate) fn unsupported_version(msg: Option<&Message>, requested: &str) -> Rejection {
    Rejection {
        status: StatusCode::BAD_REQUEST,
        body: jsonrpc::error_response_with_data(
            msg.and_then(Message::id),
            jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version",
            Some(serde_json::json!({ "supported": SERVED_VERSIONS, "requested": requested })),
        ),
    }
}

/// The `MCP-Protocol-Version` header as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionHeader<'a> {
    /// Not sent.
    Absent,
    /// Sent more than once (a router and this server could read different values).
    Duplicated,
    /// Not visible ASCII.
    Invalid,
    /// One value, surrounding whitespace removed (RFC 9110 §5.5).
    Value(&'a str),
}

/// Reads the `MCP-Protocol-Version` header.
pub(crate) fn version_header(headers: &HeaderMap) -> VersionHeader<'_> {
    let mut all = headers.get_all(VERSION_HEADER).iter();
    match (all.next(), all.next()) {
        (None, _) => VersionHeader::Absent,
        (Some(_), Some(_)) => VersionHeader::Duplicated,
        (Some(v), None) => match v.to_str() {
            Ok(v) => VersionHeader::Value(v.trim()),
            Err(_) => VersionHeader::Invalid,
        },
    }
}

/// The rejection of a POST whose `MCP-Protocol-Version` is sent more than once.
pub(crate) fn duplicated_version(msg: Option<&Message>) -> Rejection {
    Rejection {
        status: StatusCode::BAD_REQUEST,
        body: jsonrpc::error_response(
            msg.and_then(Message::id),
            jsonrpc::HEADER_MISMATCH,
            "Header mismatch: the mcp-protocol-version header appears more than once",
        ),
    }
}

/// `true` if a POST with these headers and this (unparsed) body speaks the modern era: its
/// `MCP-Protocol-Version` is not a legacy version (or is unreadable, or sent twice), or it has
/// none and the body's `_meta` carries a protocol version (a modern client that forgot the
/// header is told so).
pub(crate) fn is_modern_post(headers: &HeaderMap, body: &[u8]) -> bool {
    match version_header(headers) {
        VersionHeader::Value(v) => !protocol::is_supported(v),
        VersionHeader::Duplicated | VersionHeader::Invalid => true,
        VersionHeader::Absent => body_has_modern_meta(body),
    }
}

/// The protocol version in a body's `params._meta`, if any.
pub(crate) fn meta_version(msg: &Message) -> Option<String> {
    let params = msg.member("params")?;
    let map: Map<String, Value> = serde_json::from_str(params.get()).ok()?;
    ModernMeta::read(Some(&map))
        .ok()?
        .map(|m| m.protocol_version)
}

/// Cheap pre-check (a substring) followed by a real parse of `params._meta`.
pub(crate) fn body_has_modern_meta(body: &[u8]) -> bool {
    const KEY: &[u8] = protocol::META_PROTOCOL_VERSION.as_bytes();
    if !body.windows(KEY.len()).any(|w| w == KEY) {
        return false;
    }
    #[derive(serde::Deserialize)]
    struct Req {
        params: Option<Map<String, Value>>,
    }
    serde_json::from_slice::<Req>(body)
        .ok()
        .and_then(|r| r.params)
        .is_some_and(|p| matches!(ModernMeta::read(Some(&p)), Ok(Some(_)) | Err(_)))
}

/// A request that passed the ladder: its envelope and its `params` (parsed once, reused).
pub(crate) struct Valid {
    pub(crate) meta: ModernMeta,
    pub(crate) params: Map<String, Value>,
}

/// Runs the ladder over one request. `headers` is `None` for callers without HTTP (direct
/// Invoke), which skip the header rungs.
pub(crate) fn validate(headers: Option<&HeaderMap>, msg: &Message) -> Result<Valid, Rejection> {
    if let Some(h) = headers
        && let Some(dup) = [VERSION_HEADER, METHOD_HEADER, NAME_HEADER]
            .into_iter()
            .find(|name| h.get_all(*name).iter().count() > 1)
    {
        return Err(mismatch(
            msg,
            &format!("the {dup} header appears more than once"),
        ));
    }
    let params: Option<Map<String, Value>> = match msg.member("params") {
        None => None,
        Some(p) => match serde_json::from_str::<Value>(p.get()) {
            Ok(Value::Object(m)) => Some(m),
            _ => {
                return Err(reject(
                    StatusCode::BAD_REQUEST,
                    msg,
                    jsonrpc::INVALID_PARAMS,
                    "params must be an object",
                ));
            }
        },
    };
    let meta = match ModernMeta::read(params.as_ref()) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                msg,
                jsonrpc::INVALID_PARAMS,
                &format!(
                    "params._meta must carry \"{}\" and \"{}\" (protocol version 2026-07-28 sends them on every request)",
                    protocol::META_PROTOCOL_VERSION,
                    protocol::META_CLIENT_CAPABILITIES
                ),
            ));
        }
        Err(e) => {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                msg,
                jsonrpc::INVALID_PARAMS,
                &e.0,
            ));
        }
    };
    if let Some(h) = headers {
        check_headers(h, msg, params.as_ref(), &meta)?;
    }
    if !protocol::is_modern(&meta.protocol_version) {
        return Err(unsupported_version(Some(msg), &meta.protocol_version));
    }
    let method = msg.method().unwrap_or_default();
    if protocol::REMOVED_IN_MODERN.contains(&method) {
        return Err(reject(
            StatusCode::NOT_FOUND,
            msg,
            jsonrpc::METHOD_NOT_FOUND,
            &format!(
                "Method not found: {method} is not part of protocol version {}",
                meta.protocol_version
            ),
        ));
    }
    Ok(Valid {
        meta,
        params: params.unwrap_or_default(),
    })
}

fn check_headers(
    h: &HeaderMap,
    msg: &Message,
    params: Option<&Map<String, Value>>,
    meta: &ModernMeta,
) -> Result<(), Rejection> {
    // Field values exclude surrounding whitespace (RFC 9110 §5.5).
    let header = |name: &str| h.get(name).map(|v| v.to_str().map(str::trim));
    match header(VERSION_HEADER) {
        None => {
            return Err(mismatch(
                msg,
                "the MCP-Protocol-Version header is required and must equal params._meta's protocol version",
            ));
        }
        Some(Ok(v)) if v == meta.protocol_version => {}
        Some(Ok(v)) => {
            return Err(mismatch(
                msg,
                &format!(
                    "MCP-Protocol-Version header value '{v}' does not match body value '{}'",
                    meta.protocol_version
                ),
            ));
        }
        Some(Err(_)) => {
            return Err(mismatch(
                msg,
                "MCP-Protocol-Version header is not visible ASCII",
            ));
        }
    }
    let method = msg.method().unwrap_or_default();
    match header(METHOD_HEADER) {
        None => return Err(mismatch(msg, "the Mcp-Method header is required")),
        Some(Ok(v)) if v == method => {}
        Some(Ok(v)) => {
            return Err(mismatch(
                msg,
                &format!("Mcp-Method header value '{v}' does not match body value '{method}'"),
            ));
        }
        Some(Err(_)) => return Err(mismatch(msg, "Mcp-Method header is not visible ASCII")),
    }
    if let Some(field) = protocol::name_param(method) {
        let body = params.and_then(|p| p.get(field)).and_then(Value::as_str);
        match (header(NAME_HEADER), body) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(mismatch(
                    msg,
                    &format!("the Mcp-Name header is required for {method}"),
                ));
            }
            (Some(Err(_)), _) => {
                return Err(mismatch(msg, "Mcp-Name header contains invalid characters"));
            }
            (Some(Ok(v)), body) => match decode_header_value(v) {
                None => {
                    return Err(mismatch(
                        msg,
                        "Mcp-Name header carries a malformed base64 value",
                    ));
                }
                Some(decoded) if Some(decoded.as_str()) == body => {}
                Some(decoded) => {
                    return Err(mismatch(
                        msg,
                        &format!(
                            "Mcp-Name header value '{decoded}' does not match body value '{}'",
                            body.unwrap_or("(absent)")
                        ),
                    ));
                }
            },
        }
    }
    Ok(())
}

/// Decodes a header value that may use the `=?base64?…?=` sentinel (2026-07-28 "Value
/// Encoding"). `None` for a malformed sentinel (bad base64, non-canonical, not UTF-8), so a
/// corrupt header never matches a body value by accident.
pub(crate) fn decode_header_value(v: &str) -> Option<String> {
    let Some(payload) = v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    else {
        return Some(v.to_owned());
    };
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine.decode(payload).ok()?;
    if engine.encode(&bytes) != payload {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// The HTTP status of a modern answer, from its JSON-RPC error code (200 for results and for
/// errors the spec gives no status).
pub(crate) fn status_of(response: &[u8]) -> StatusCode {
    #[derive(serde::Deserialize)]
    struct E {
        code: i64,
    }
    #[derive(serde::Deserialize)]
    struct R {
        error: Option<E>,
    }
    let code = serde_json::from_slice::<R>(response)
        .ok()
        .and_then(|r| r.error)
        .map(|e| e.code);
    match code {
        Some(
            jsonrpc::PARSE_ERROR
            | jsonrpc::INVALID_REQUEST
            | jsonrpc::INVALID_PARAMS
            | jsonrpc::HEADER_MISMATCH
            | jsonrpc::MISSING_REQUIRED_CLIENT_CAPABILITY
            | jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
        ) => StatusCode::BAD_REQUEST,
        Some(jsonrpc::METHOD_NOT_FOUND) => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_decode() {
        assert_eq!(
            decode_header_value("get_weather").as_deref(),
            Some("get_weather")
        );
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(decode_header_value("=?base64?!!!?="), None);
        // Non-canonical: trailing bits set.
        assert_eq!(decode_header_value("=?base64?SGVsbG9=?="), None);
        assert_eq!(decode_header_value("=?base64??=").as_deref(), Some(""));
    }

    #[test]
    fn statuses_follow_error_codes() {
        let e =
            |c: i64| format!(r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":{c},"message":"m"}}}}"#);
        assert_eq!(status_of(e(-32601).as_bytes()), StatusCode::NOT_FOUND);
        assert_eq!(status_of(e(-32602).as_bytes()), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(e(-32022).as_bytes()), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(e(-32603).as_bytes()), StatusCode::OK);
        assert_eq!(status_of(e(-32001).as_bytes()), StatusCode::OK);
        assert_eq!(
            status_of(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#),
            StatusCode::OK
        );
    }

    #[test]
    fn era_of_a_post() {
        let mut h = HeaderMap::new();
        let modern = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
        let legacy = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        assert!(is_modern_post(&h, modern));
        assert!(!is_modern_post(&h, legacy));
        h.insert(VERSION_HEADER, "2025-06-18".parse().unwrap());
        assert!(!is_modern_post(&h, modern), "a legacy header decides");
        h.insert(VERSION_HEADER, "2026-07-28".parse().unwrap());
        assert!(is_modern_post(&h, legacy));
        h.insert(VERSION_HEADER, "1900-01-01".parse().unwrap());
        assert!(
            is_modern_post(&h, legacy),
            "unknown versions get the modern error"
        );
    }
}
