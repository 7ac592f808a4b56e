//! Classify once: an HTTP request — or a bare JSON-RPC body from a host without HTTP (direct
//! Invoke, AgentCore) — becomes a typed [`Call`] or a [`Rejection`]. This is the only place that
//! reads the request's headers for routing, decides the protocol era, and parses the body; the
//! era ladders ([`legacy`](super::legacy), [`modern`](super::modern)) take the value it returns
//! and never the raw request.
//!
//! Contract (first rule that applies wins):
//!
//! | input | call or rejection |
//! |---|---|
//! | `Origin` not allowed | 403 |
//! | GET / DELETE with a 2026-07-28 `MCP-Protocol-Version` | 405 (`Allow: POST`) |
//! | DELETE: sessions off → 405; no `Mcp-Session-Id` → 400; sealed-token sessions → 405 | [`Call::Delete`] |
//! | GET where sessions have a stream: `Accept` without `text/event-stream` → 406; no `Mcp-Session-Id` → 400 | [`Call::Get`] |
//! | OPTIONS with an `Origin` | [`Call::Preflight`] |
//! | other methods (GET where there is no stream) | 405 with the endpoint's `Allow` |
//! | POST: Content-Type not `application/json` → 415; `Accept` without JSON → 406; body over the limit → 413 | |
//! | POST whose `MCP-Protocol-Version` is a legacy version, or absent with no protocol version in `params._meta` | [`Post::Legacy`] (invalid JSON → 400 -32700; not JSON-RPC, a member named twice in any object, or nesting deeper than 64 → 400 -32600) |
//! | any other POST | the 2026-07-28 ladder of [`modern`](super::modern): [`Post::Modern`], [`Post::Dropped`] for a notification, or its rejection |
//!
//! A bare JSON-RPC body ([`Gateway::classify_rpc`]) has no headers: a single message whose
//! `params._meta` carries a protocol version is modern (notifications and responses are
//! dropped); anything else is legacy, at the newest legacy version for a single message and
//! 2025-03-26 (the only era with batches) for a batch.

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Request};
use serde_json::{Map, Value};

use super::modern::{self, VersionHeader};
use super::reject::Rejection;
use super::{Gateway, accepts_json, accepts_sse, is_json_content_type};
use crate::era::ModernMeta;
use crate::jsonrpc::{self, Kind, Message, Payload};
use crate::protocol::{self, SESSION_HEADER};

/// What a request asks for, once its routing is decided.
pub(crate) enum Call {
    /// A CORS preflight.
    Preflight,
    /// A session's GET stream.
    Get {
        /// The `Mcp-Session-Id`.
        session: String,
        /// `Last-Event-ID`, when it is a number.
        last_event_id: Option<u64>,
    },
    /// End a session.
    Delete {
        /// The `Mcp-Session-Id`.
        session: String,
    },
    /// A JSON-RPC message (or batch).
    Post(Box<Post>),
}

/// A POST, by era.
pub(crate) enum Post {
    /// Initialize era (2025-03-26 … 2025-11-25).
    Legacy(LegacyPost),
    /// One 2026-07-28 request that passed the envelope and header rules.
    Modern(ModernPost),
    /// A 2026-07-28 notification (or, without HTTP, a response): accepted and dropped.
    Dropped,
}

/// An initialize-era POST.
pub(crate) struct LegacyPost {
    /// The messages.
    pub(crate) payload: Payload,
    /// The version the request names (`MCP-Protocol-Version`, or the host's default without
    /// HTTP); a session's negotiated version overrides it.
    pub(crate) version: Option<String>,
    /// The `Mcp-Session-Id`, as sent.
    pub(crate) session: Option<String>,
    /// The answer may be an SSE stream (the host streams, the client accepts it).
    pub(crate) stream: bool,
    /// Over HTTP: sessions apply. (Without HTTP every request stands alone.)
    pub(crate) http: bool,
}

/// A 2026-07-28 request that passed the ladder.
pub(crate) struct ModernPost {
    /// The request.
    pub(crate) msg: Message,
    /// Its `_meta` envelope.
    pub(crate) meta: ModernMeta,
    /// Its `params` (parsed once, here).
    pub(crate) params: Map<String, Value>,
    /// The request's headers, kept for a `tools/call` over HTTP (`Mcp-Param-*` checks).
    pub(crate) headers: Option<HeaderMap>,
    /// The answer may be an SSE stream.
    pub(crate) stream: bool,
}

impl Call {
    /// The same call, answered without SSE (a host that buffers this answer).
    pub(crate) fn buffered(mut self) -> Self {
        if let Call::Post(post) = &mut self {
            match post.as_mut() {
                Post::Legacy(p) => p.stream = false,
                Post::Modern(p) => p.stream = false,
                Post::Dropped => {}
            }
        }
        self
    }
}

/// The tool names a POST calls (`tools/call` members; a name that is not a string is left to
/// the tool policy and the child).
pub(crate) fn called_tools(call: &Call) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Called {
        name: Option<Value>,
    }
    let name_of = |m: &Message| {
        m.params()
            .and_then(|p| serde_json::from_str::<Called>(p).ok())
            .and_then(|c| match c.name {
                Some(Value::String(n)) => Some(n),
                _ => None,
            })
    };
    match call {
        Call::Post(post) => match post.as_ref() {
            Post::Legacy(p) => p
                .payload
                .messages()
                .iter()
                .filter(|m| m.method() == Some("tools/call"))
                .filter_map(name_of)
                .collect(),
            Post::Modern(p) if p.msg.method() == Some("tools/call") => p
                .params
                .get("name")
                .and_then(Value::as_str)
                .map(|n| vec![n.to_owned()])
                .unwrap_or_default(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// A single message's `params`, parsed when its `_meta` may carry the 2026-07-28 envelope.
struct Params {
    /// `params` as an object (`None`: absent).
    map: Option<Map<String, Value>>,
    /// `params` was present but not an object.
    not_object: bool,
}

impl Params {
    /// Parses `msg`'s params (once).
    fn of(msg: &Message) -> Self {
        match msg.params().map(serde_json::from_str::<Value>) {
            None => Self {
                map: None,
                not_object: false,
            },
            Some(Ok(Value::Object(m))) => Self {
                map: Some(m),
                not_object: false,
            },
            Some(_) => Self {
                map: None,
                not_object: true,
            },
        }
    }

    /// Whether `_meta` carries a protocol version (or a malformed envelope: the modern ladder
    /// explains what is wrong).
    fn is_modern(&self) -> bool {
        matches!(ModernMeta::read(self.map.as_ref()), Ok(Some(_)) | Err(_))
    }
}

/// Cheap test before parsing params: can this message's `_meta` name a protocol version?
fn may_be_modern(msg: &Message) -> bool {
    msg.params()
        .is_some_and(|p| p.contains(protocol::META_PROTOCOL_VERSION))
}

impl Gateway {
    /// Classifies an HTTP request (see the module docs).
    pub(crate) fn classify(&self, req: Request<Bytes>) -> Result<Call, Rejection> {
        let (parts, body) = req.into_parts();
        let headers = &parts.headers;
        if let Some(o) = headers.get(header::ORIGIN)
            && !self.origin_allowed(o)
        {
            tracing::warn!(origin = ?o, "request from a foreign Origin refused");
            return Err(Rejection::forbidden_origin());
        }
        if parts.method == Method::POST {
            return self
                .classify_post(parts.headers, body)
                .map(|p| Call::Post(Box::new(p)));
        }
        let modern_header = matches!(
            modern::version_header(headers),
            VersionHeader::Value(v) if protocol::is_modern(v)
        );
        match parts.method {
            Method::GET | Method::DELETE if modern_header => Err(Rejection::method_not_allowed(
                "POST",
                "protocol version 2026-07-28 has no GET stream and no sessions",
            )),
            Method::DELETE => {
                if self.sessions.is_none() {
                    return Err(Rejection::method_not_allowed(
                        self.allow(),
                        "DELETE: sessions are off",
                    ));
                }
                let session = session_header(headers)?;
                if !self.deletable() {
                    return Err(Rejection::method_not_allowed(
                        self.allow(),
                        "DELETE: these sessions are sealed tokens and end when they expire",
                    ));
                }
                Ok(Call::Delete { session })
            }
            Method::GET if self.get_streams() => {
                if !accepts_sse(headers) {
                    return Err(Rejection::not_acceptable(
                        "Not Acceptable: a GET stream needs Accept: text/event-stream",
                    ));
                }
                let session = session_header(headers)?;
                let last_event_id = headers
                    .get("last-event-id")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok());
                Ok(Call::Get {
                    session,
                    last_event_id,
                })
            }
            Method::OPTIONS if headers.contains_key(header::ORIGIN) => Ok(Call::Preflight),
            Method::GET => Err(Rejection::method_not_allowed(
                self.allow(),
                "GET: this server offers no server-initiated SSE stream",
            )),
            _ => Err(Rejection::method_not_allowed(
                self.allow(),
                "method not allowed",
            )),
        }
    }

    fn classify_post(&self, headers: HeaderMap, body: Bytes) -> Result<Post, Rejection> {
        if !is_json_content_type(&headers) {
            return Err(Rejection::unsupported_media_type());
        }
        if !accepts_json(&headers) {
            return Err(Rejection::not_acceptable(
                "Not Acceptable: Accept must include application/json (and text/event-stream)",
            ));
        }
        if body.len() > self.cfg.max_body {
            return Err(Rejection::too_large(body.len(), self.cfg.max_body, false));
        }
        let stream = self.can_stream(&headers);
        let version = modern::version_header(&headers);
        // The one parse of the body.
        let parsed = jsonrpc::parse_client(&body);
        let legacy_header = match version {
            VersionHeader::Value(v) if protocol::is_supported(v) => Some(v.to_owned()),
            _ => None,
        };
        if let Some(v) = legacy_header {
            return Ok(Post::Legacy(LegacyPost {
                payload: parsed.map_err(|e| Rejection::envelope(&e))?,
                version: Some(v),
                session: session_of(&headers),
                stream,
                http: true,
            }));
        }
        // Modern by its header (or an unusable one), or — with no header — by its `_meta`.
        let single = match &parsed {
            Ok(Payload::Single(m)) => Some(m),
            _ => None,
        };
        let params = single.filter(|m| may_be_modern(m)).map(Params::of);
        let modern = !matches!(version, VersionHeader::Absent)
            || params.as_ref().is_some_and(Params::is_modern);
        if !modern {
            return Ok(Post::Legacy(LegacyPost {
                payload: parsed.map_err(|e| Rejection::envelope(&e))?,
                version: None,
                session: session_of(&headers),
                stream,
                http: true,
            }));
        }
        let request_id = single
            .filter(|m| m.kind() == Kind::Request)
            .and_then(Message::id);
        // A header naming a version nobody serves is answered first, whatever the body.
        match version {
            VersionHeader::Duplicated => {
                return Err(Rejection::header_mismatch(
                    "the mcp-protocol-version header appears more than once",
                )
                .with_id(request_id));
            }
            VersionHeader::Invalid => {
                return Err(
                    Rejection::unsupported_version("(not visible ASCII)").with_id(request_id)
                );
            }
            VersionHeader::Value(v) if !protocol::is_modern(v) => {
                return Err(Rejection::unsupported_version(v).with_id(request_id));
            }
            _ => {}
        }
        let msg = match parsed {
            Ok(Payload::Single(msg)) => msg,
            Ok(Payload::Batch(_)) => {
                return Err(Rejection::invalid_request(
                    "Bad Request: a protocol 2026-07-28 POST carries one JSON-RPC request or notification, not a batch",
                ));
            }
            Err(e) => return Err(Rejection::envelope(&e)),
        };
        let params = params.unwrap_or_else(|| Params::of(&msg));
        match msg.kind() {
            Kind::Request => {}
            Kind::Response => {
                return Err(Rejection::invalid_request(
                    "Bad Request: clients do not send JSON-RPC responses in protocol 2026-07-28",
                ));
            }
            Kind::Notification => {
                let named = match version {
                    VersionHeader::Value(v) => v.to_owned(),
                    _ => ModernMeta::read(params.map.as_ref())
                        .ok()
                        .flatten()
                        .map(|m| m.protocol_version)
                        .unwrap_or_default(),
                };
                if !protocol::is_modern(&named) {
                    return Err(Rejection::unsupported_version(&named));
                }
                // 2026-07-28 defines no client notifications over HTTP (closing the response
                // stream is the cancellation); accepted and dropped.
                tracing::debug!(
                    method = msg.method().unwrap_or(""),
                    "2026-07-28 notification accepted and dropped"
                );
                return Ok(Post::Dropped);
            }
        }
        let (meta, params) = modern::validate(Some(&headers), &msg, params.map, params.not_object)?;
        let keep_headers = msg.method() == Some("tools/call");
        Ok(Post::Modern(ModernPost {
            msg,
            meta,
            params,
            headers: keep_headers.then_some(headers),
            stream,
        }))
    }

    /// Classifies a bare JSON-RPC body (see the module docs).
    pub(crate) fn classify_rpc(&self, body: &[u8]) -> Result<Post, Rejection> {
        let payload = jsonrpc::parse_client(body).map_err(|e| Rejection::envelope(&e))?;
        if let Payload::Single(msg) = &payload
            && may_be_modern(msg)
        {
            let params = Params::of(msg);
            if params.is_modern() {
                if msg.kind() != Kind::Request {
                    return Ok(Post::Dropped);
                }
                let (meta, map) = modern::validate(None, msg, params.map, params.not_object)?;
                let Payload::Single(msg) = payload else {
                    return Ok(Post::Dropped);
                };
                return Ok(Post::Modern(ModernPost {
                    msg,
                    meta,
                    params: map,
                    headers: None,
                    stream: false,
                }));
            }
        }
        let version = match payload {
            Payload::Batch(_) => protocol::DEFAULT_VERSION,
            Payload::Single(_) => protocol::LATEST_VERSION,
        };
        Ok(Post::Legacy(LegacyPost {
            payload,
            version: Some(version.to_owned()),
            session: None,
            stream: false,
            http: false,
        }))
    }
}

/// The `Mcp-Session-Id` as sent, if readable.
fn session_of(h: &HeaderMap) -> Option<String> {
    h.get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The `Mcp-Session-Id` of a GET or DELETE, or the 400 for its absence.
fn session_header(h: &HeaderMap) -> Result<String, Rejection> {
    session_of(h).ok_or_else(|| Rejection::session_required(false))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::sync::Arc;

    use super::*;
    use crate::gateway::GatewayConfig;
    use crate::upstream::{Exchange, InitOk, Outcome, Reply, Upstream};
    use async_trait::async_trait;

    struct Nothing;
    #[async_trait]
    impl Upstream for Nothing {
        async fn initialize(&self, _: &Exchange, _: &Message) -> Outcome<InitOk> {
            unreachable!()
        }
        async fn request(&self, _: &Exchange, _: &Message) -> Outcome<Reply> {
            unreachable!()
        }
        async fn notify(&self, _: &Exchange, _: &Message) {}
        async fn end_session(&self, _: &str) {}
        async fn shutdown(&self) {}
    }

    fn post(version: Option<&str>, body: &str) -> Result<Call, Rejection> {
        let gw = Gateway::new(GatewayConfig::default(), Arc::new(Nothing), None);
        let mut b = Request::post("/mcp")
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header(protocol::METHOD_HEADER, "tools/list");
        if let Some(v) = version {
            b = b.header(protocol::VERSION_HEADER, v);
        }
        gw.classify(b.body(Bytes::from(body.to_owned())).unwrap())
    }

    fn era(c: Result<Call, Rejection>) -> &'static str {
        match c {
            Ok(Call::Post(p)) if matches!(*p, Post::Legacy(_)) => "legacy",
            Ok(Call::Post(p)) if matches!(*p, Post::Modern(_)) => "modern",
            Ok(Call::Post(p)) if matches!(*p, Post::Dropped) => "dropped",
            Ok(_) => "other",
            Err(r) if r.code == jsonrpc::UNSUPPORTED_PROTOCOL_VERSION => "unsupported",
            Err(_) => "rejected",
        }
    }

    const MODERN: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#;
    const LEGACY: &str = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;

    #[test]
    fn the_era_of_a_post_is_decided_here() {
        assert_eq!(era(post(None, LEGACY)), "legacy");
        assert_eq!(era(post(Some("2026-07-28"), MODERN)), "modern");
        assert_eq!(
            era(post(None, MODERN)),
            "rejected",
            "modern by its _meta; the missing header is the ladder's -32020"
        );
        assert_eq!(
            era(post(Some("2025-06-18"), MODERN)),
            "legacy",
            "a legacy header decides"
        );
        assert_eq!(era(post(Some("2026-07-28"), LEGACY)), "rejected");
        assert_eq!(
            era(post(Some("1900-01-01"), LEGACY)),
            "unsupported",
            "unknown versions get the modern error"
        );
    }
}
