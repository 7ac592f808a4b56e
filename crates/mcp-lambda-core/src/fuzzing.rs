//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`; not part of the API).
//!
//! Contract: each function takes arbitrary bytes, runs one piece of the request path on them and
//! panics only when an invariant breaks (a panic is what the fuzzer reports). The invariants:
//! nothing panics on any input; what the gateway answers as JSON is JSON; a message that passes
//! the client parser re-parses to the same kind after its id is rewritten; an SSE event is one
//! event whose `data` is the message; a session token made from valid params opens to its
//! session.
//! No child process is involved: the gateway runs over [`Echo`], an in-process upstream that
//! answers every request with its own params.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use bytes::Bytes;
use http::{Method, Request};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::gateway::mrtr::{self, Round};
use crate::gateway::{Body, Gateway, GatewayConfig, RequestContext, sse};
use crate::jsonrpc::{self, Message};
use crate::protocol;
use crate::session::{MemoryStore, Session, SessionStore};
use crate::token::TokenStore;
use crate::upstream::{Exchange, InitOk, Outcome, Reply, Upstream};
use crate::{era, sealed::Sealer};

/// A fixed key for the sealed-state targets.
const KEY: [u8; 32] = [7; 32];

/// The client parser and the id rewriting every request goes through.
pub fn envelope(data: &[u8]) {
    let Ok(payload) = jsonrpc::parse_client(data) else {
        return;
    };
    // What the client parser accepts, the lenient parser accepts too.
    let lenient = jsonrpc::parse(data).map(|p| p.messages().len());
    assert_eq!(lenient.ok(), Some(payload.messages().len()));
    for msg in payload.messages() {
        let _ = (
            msg.method(),
            msg.params(),
            msg.error_code(),
            msg.member("_meta"),
        );
        let Ok(rewritten) = jsonrpc::replace_id(msg.raw(), "\"fuzz-1\"") else {
            continue;
        };
        let again = jsonrpc::parse_message(&rewritten).ok();
        if msg.id().is_some() {
            let again = again.as_ref().map(Message::kind);
            assert_eq!(
                again,
                Some(msg.kind()),
                "rewriting the id changed the message"
            );
        }
    }
}

/// The 2025 ↔ 2026-07-28 translations, on whatever message and result the bytes hold.
pub fn era_translation(data: &[u8]) {
    let Ok(raw) = serde_json::from_slice::<Box<RawValue>>(data) else {
        return;
    };
    if let Ok(msg) = jsonrpc::parse_message(&raw) {
        let init = msg.params();
        let modern = era::to_modern_request(&msg, init);
        let legacy = era::to_legacy_request(&msg);
        for out in [modern, legacy] {
            // Valid JSON text (numbers beyond f64 are still JSON: `Value` would refuse them).
            let again = serde_json::from_str::<serde::de::IgnoredAny>(out.get());
            assert!(
                again.is_ok(),
                "a translation that is not JSON: {}",
                out.get()
            );
        }
        let params = msg.params().and_then(|p| serde_json::from_str(p).ok());
        let _ = era::ModernMeta::read(params.as_ref());
        if let Some(p) = msg.params() {
            let _ = era::capability_key_of_params(p);
        }
    }
    // The same bytes as a result.
    let _ = era::discover_from_initialize(&raw);
    let _ = era::server_info_of(&raw);
    let _ = era::is_modern_discover(&raw);
    let _ = era::initialize_from_discover(&raw, protocol::LATEST_VERSION);
    let _ = era::capability_key(&raw);
    let reply = Reply {
        body: Bytes::copy_from_slice(data),
        error: None,
    };
    let _ = era::discover_for_endpoint(era::to_modern_response(
        reply,
        "tools/list",
        Some(&Value::Null),
    ));
}

/// SSE framing: one event, whose single `data:` line is the message with CR and LF as spaces.
pub fn sse_event(data: &[u8]) {
    let event = sse::event(data);
    let text = &event[..];
    assert!(text.starts_with(b"event: message\ndata: "));
    assert!(text.ends_with(b"\n\n"));
    let inner = &text[b"event: message\ndata: ".len()..text.len() - 2];
    assert!(!inner.iter().any(|b| *b == b'\n' || *b == b'\r'));
    assert_eq!(inner.len(), data.len());
}

/// Session tokens: arbitrary handles, and arbitrary plaintext sealed with the store's key.
pub fn session_token(data: &[u8]) {
    let Ok(store) = TokenStore::new(&[KEY], Duration::from_secs(60)) else {
        return;
    };
    let handle = String::from_utf8_lossy(data);
    let _ = block_on(store.get(&handle));
    if let Some(sealed) = store.seal_raw(data) {
        let _ = block_on(store.get(&sealed));
    }
    // A session made of the bytes round-trips (possibly with its params reduced).
    if let Ok(params) = std::str::from_utf8(data)
        && serde_json::from_str::<Box<RawValue>>(params).is_ok()
    {
        let now = SystemTime::now();
        let session = Session {
            id: "fuzz".into(),
            protocol_version: protocol::LATEST_VERSION.into(),
            init_params: params.into(),
            principal: None,
            created_at: now,
            last_seen: now,
            expires_at: now + Duration::from_secs(60),
        };
        if let Ok(handle) = block_on(store.create(&session)) {
            let back = block_on(store.get(&handle)).ok().flatten();
            assert_eq!(back.map(|s| s.id), Some(session.id));
        }
    }
}

/// 2026-07-28 `requestState`: a retry carrying state sealed from the bytes (and the bytes as state).
pub fn request_state(data: &[u8]) {
    let sealer = Arc::new(
        Sealer::new(&[KEY], mrtr::PREFIX, b"fuzz", 64 * 1024)
            .unwrap_or_else(|| Sealer::ephemeral(mrtr::PREFIX, b"fuzz", 64 * 1024)),
    );
    let states = [
        sealer.seal(data),
        Some(format!("{}{}", mrtr::PREFIX, String::from_utf8_lossy(data))),
    ];
    for state in states.into_iter().flatten() {
        let params: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "name": "echo",
            "arguments": {},
            "requestState": state,
            "inputResponses": {"input-1": {"action": "accept"}},
        }))
        .unwrap_or_default();
        let raw = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params});
        let Ok(raw) = RawValue::from_string(raw.to_string()) else {
            continue;
        };
        let Ok(msg) = jsonrpc::parse_message(&raw) else {
            continue;
        };
        let caps: Arc<RawValue> = RawValue::from_string("{}".into())
            .map(Arc::from)
            .unwrap_or_else(|_| Arc::from(RawValue::NULL.to_owned()));
        if let mrtr::Begin::Run(_, mut round) = Round::begin(&sealer, &msg, params, caps, None) {
            let ask = br#"{"jsonrpc":"2.0","id":"s-1","method":"elicitation/create","params":{}}"#;
            let _ = round.on_request(ask);
        }
    }
}

/// The whole HTTP request path of [`Gateway::handle`] over [`Echo`]. The bytes choose the
/// method, the headers (version, media types, session, `Mcp-Method` / `Mcp-Name`) and the body.
pub fn gateway_http(data: &[u8]) {
    let [m, h, rest @ ..] = data else {
        return;
    };
    let method = match m % 8 {
        0..=4 => Method::POST,
        5 => Method::GET,
        6 => Method::DELETE,
        _ => Method::OPTIONS,
    };
    let mut parts = rest.splitn(3, |b| *b == b'\n');
    let session = parts.next().unwrap_or_default();
    let name = parts.next().unwrap_or_default();
    let body = parts.next().unwrap_or_default();
    let versions = ["", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"];
    let accept = [
        "application/json, text/event-stream",
        "application/json",
        "text/event-stream",
        "",
    ];
    let mut req = Request::builder().method(method).uri("/mcp");
    // h: bits 0-2 the version, 3-4 Accept, 5 no Content-Type, 6 a foreign Origin, 7 sessions;
    // m: bits 0-2 the method, 4 a host that streams.
    let version = versions[usize::from((h & 0x07) % 5)];
    if !version.is_empty() {
        req = req.header(protocol::VERSION_HEADER, version);
    }
    let accept = accept[usize::from((h >> 3) & 0x03)];
    if !accept.is_empty() {
        req = req.header(http::header::ACCEPT, accept);
    }
    if h & 0x20 == 0 {
        req = req.header(http::header::CONTENT_TYPE, "application/json");
    }
    if h & 0x40 != 0 {
        req = req.header(http::header::ORIGIN, "https://evil.example");
    }
    if !session.is_empty() {
        req = req.header(protocol::SESSION_HEADER, session);
    }
    if !name.is_empty() {
        req = req.header(protocol::NAME_HEADER, name);
        req = req.header(protocol::METHOD_HEADER, "tools/call");
    }
    let Ok(req) = req.body(Bytes::copy_from_slice(body)) else {
        return;
    };
    let sessions: Option<Arc<dyn SessionStore>> =
        (h & 0x80 != 0).then(|| Arc::new(MemoryStore::new(Duration::from_secs(60))) as _);
    let cfg = GatewayConfig {
        stream_responses: m & 0x10 != 0,
        state_keys: vec![KEY],
        ..GatewayConfig::default()
    };
    let gateway = Gateway::new(cfg, Arc::new(Echo), sessions);
    // A session line of `S` stands for a live session: one is opened first and its id used,
    // so GET streams, subscriptions and session requests are reached too.
    let mut req = req;
    if session == b"S" {
        let init = br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{"roots":{}},"clientInfo":{"name":"fuzz","version":"1"}}}"#;
        let open = Request::builder()
            .method(Method::POST)
            .uri("/mcp")
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::ACCEPT, "application/json, text/event-stream")
            .body(Bytes::from_static(init));
        if let Ok(open) = open {
            let opened = block_on(gateway.handle(open, RequestContext::default()));
            if let Some(id) = opened.headers().get(protocol::SESSION_HEADER).cloned() {
                req.headers_mut().insert(protocol::SESSION_HEADER, id);
            }
        }
    }
    let response = block_on(gateway.handle(req, RequestContext::default()));
    match response.into_body() {
        Body::Json(bytes) => {
            let parsed = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes);
            assert!(parsed.is_ok(), "a JSON answer that is not JSON: {bytes:?}");
        }
        Body::Stream(mut rx) => {
            // A POST's stream ends with its answer; a GET stream is a session's and stays open.
            rx.close();
            while let Ok(event) = rx.try_recv() {
                assert!(event.ends_with(b"\n\n"));
            }
        }
        Body::Empty => {}
    }
}

/// An upstream answering every request with its params (or `{}`), and `initialize` with the
/// version asked for when served.
pub struct Echo;

#[async_trait]
impl Upstream for Echo {
    async fn initialize(&self, _ex: &Exchange, msg: &Message) -> Outcome<InitOk> {
        let asked = msg
            .params()
            .and_then(|p| serde_json::from_str::<Value>(p).ok())
            .and_then(|p| p["protocolVersion"].as_str().map(str::to_owned))
            .filter(|v| protocol::is_supported(v))
            .unwrap_or_else(|| protocol::LATEST_VERSION.to_owned());
        let result = serde_json::json!({
            "protocolVersion": asked,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "echo", "version": "0"},
        });
        let result = RawValue::from_string(result.to_string())
            .map(Arc::from)
            .unwrap_or_else(|_| Arc::from(RawValue::NULL.to_owned()));
        Ok(InitOk {
            result,
            negotiated: asked,
        })
    }

    async fn request(&self, _ex: &Exchange, msg: &Message) -> Outcome<Reply> {
        let params = msg
            .params()
            .and_then(|p| RawValue::from_string(p.to_owned()).ok());
        let empty = RawValue::from_string("{}".into()).ok();
        match params.or(empty) {
            Some(p) => Ok(Reply::result(msg.id(), &p)),
            None => Ok(Reply::error(msg.id(), -32603, "echo")),
        }
    }

    async fn notify(&self, _ex: &Exchange, _msg: &Message) {}

    async fn end_session(&self, _session_id: &str) {}

    async fn shutdown(&self) {}
}

/// Runs `f` on a current-thread runtime (timers on, so deadlines work).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    thread_local! {
        static RT: Option<tokio::runtime::Runtime> = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .ok();
    }
    RT.with(|rt| match rt {
        Some(rt) => rt.block_on(f),
        None => panic!("no runtime"),
    })
}
