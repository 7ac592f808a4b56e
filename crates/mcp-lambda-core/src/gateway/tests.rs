//! Gateway rule tests (in-process, fake upstream).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{HeaderMap, HeaderValue};
use http::{Method, Request, StatusCode};
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::{Body, Gateway, GatewayConfig, RequestContext, is_loopback_origin};
use crate::jsonrpc::{self, Message};
use crate::protocol;
use crate::session::{MemoryStore, Session, SessionStore, StoreError};
use crate::upstream::{self, Exchange, InitOk, Outcome, Upstream, UpstreamError};

// ---------------------------------------------------------------------------------------------
// The fake upstream
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Initialize,
    Request,
    Notify,
    EndSession,
}

/// One call the gateway made to the upstream.
#[derive(Debug, Clone)]
struct Call {
    op: Op,
    method: Option<String>,
    /// The message's raw id.
    id: Option<String>,
    protocol_version: Option<String>,
    session_id: Option<String>,
    init_params: Option<String>,
    deadline: Option<Instant>,
    /// `Exchange.modern`'s protocol version: `Some` only for a 2026-07-28 exchange.
    modern_version: Option<String>,
    /// `Exchange.modern`'s client capabilities (raw JSON).
    client_capabilities: Option<String>,
    /// `Exchange.modern`'s client info (raw JSON), when the client sent it.
    client_info: Option<String>,
    /// Whether the exchange had a stream for the child's messages (an SSE answer).
    streamed: bool,
}

/// How the fake answers `initialize`.
#[derive(Debug, Clone, Copy, Default)]
enum InitMode {
    /// Negotiates the requested version when supported, else the latest.
    #[default]
    Echo,
    /// Always negotiates this version (an older server).
    Fixed(&'static str),
    /// Answers with a JSON-RPC error (nothing negotiated).
    Reject,
}

#[derive(Default)]
struct Fake {
    mode: InitMode,
    calls: Mutex<Vec<Call>>,
}

impl Fake {
    fn with_mode(mode: InitMode) -> Self {
        Self {
            mode,
            calls: Mutex::default(),
        }
    }

    fn record(&self, op: Op, ex: &Exchange, msg: &Message) {
        self.calls.lock().unwrap().push(Call {
            op,
            method: msg.method().map(str::to_owned),
            id: msg.id().map(|i| i.get().to_owned()),
            protocol_version: Some(ex.protocol_version.clone()),
            session_id: ex.session_id.clone(),
            init_params: ex.init_params.as_deref().map(str::to_owned),
            deadline: Some(ex.deadline),
            modern_version: ex.modern.as_ref().map(|m| m.protocol_version.clone()),
            client_capabilities: ex
                .modern
                .as_ref()
                .map(|m| m.client_capabilities.get().to_owned()),
            client_info: ex
                .modern
                .as_ref()
                .and_then(|m| m.client_info.as_ref())
                .map(|i| i.get().to_owned()),
            streamed: ex.sink.is_some(),
        });
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }
}

/// Method prefix the fake answers with an error: `fake/error/-32601` → code -32601.
const FAKE_ERROR: &str = "fake/error/";

fn raw(v: &Value) -> Box<RawValue> {
    RawValue::from_string(v.to_string()).unwrap()
}

#[async_trait]
impl Upstream for Fake {
    async fn initialize(&self, ex: &Exchange, msg: &Message) -> Outcome<InitOk> {
        self.record(Op::Initialize, ex, msg);
        let requested = msg
            .member("params")
            .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
            .and_then(|p| p["protocolVersion"].as_str().map(str::to_owned));
        let version = match self.mode {
            InitMode::Reject => {
                return Err(UpstreamError::InitializeRefused(
                    r#"{"code":-32602,"message":"fake: initialize rejected"}"#.into(),
                ));
            }
            InitMode::Fixed(v) => v.to_owned(),
            InitMode::Echo => requested
                .filter(|v| protocol::is_supported(v))
                .unwrap_or_else(|| "2025-11-25".to_owned()),
        };
        let result = serde_json::json!({
            "protocolVersion": version,
            "capabilities": {},
            "serverInfo": { "name": "fake", "version": "0.0.1" }
        });
        Ok(InitOk {
            result: raw(&result).into(),
            negotiated: version,
        })
    }

    async fn request(&self, ex: &Exchange, msg: &Message) -> Outcome<upstream::Reply> {
        self.record(Op::Request, ex, msg);
        // `fake/error/<code>` is answered with that JSON-RPC error code.
        if let Some(code) = msg
            .method()
            .and_then(|m| m.strip_prefix(FAKE_ERROR))
            .and_then(|c| c.parse::<i64>().ok())
        {
            return Ok(upstream::Reply::error(
                msg.id(),
                code,
                "fake: asked to fail",
            ));
        }
        let result = serde_json::json!({
            "method": msg.method(),
            "protocolVersion": ex.protocol_version,
            "sessionId": ex.session_id,
        });
        Ok(upstream::Reply::result(msg.id(), &raw(&result)))
    }

    async fn notify(&self, ex: &Exchange, msg: &Message) {
        self.record(Op::Notify, ex, msg);
    }

    async fn end_session(&self, session_id: &str) {
        self.calls.lock().unwrap().push(Call {
            op: Op::EndSession,
            method: None,
            id: None,
            protocol_version: None,
            session_id: Some(session_id.to_owned()),
            init_params: None,
            deadline: None,
            modern_version: None,
            client_capabilities: None,
            client_info: None,
            streamed: false,
        });
    }

    async fn shutdown(&self) {}
}

/// A session store that is always down.
struct BrokenStore;

#[async_trait]
impl SessionStore for BrokenStore {
    async fn create(&self, _: &Session) -> Result<String, StoreError> {
        Err(StoreError::Unavailable("fake outage".into()))
    }
    async fn get(&self, _: &str) -> Result<Option<Session>, StoreError> {
        Err(StoreError::Unavailable("fake outage".into()))
    }
    async fn touch(
        &self,
        _: &str,
        _: &Session,
        _: std::time::SystemTime,
    ) -> Result<(), StoreError> {
        Err(StoreError::Unavailable("fake outage".into()))
    }
    async fn delete(&self, _: &str, _: &Session) -> Result<bool, StoreError> {
        Err(StoreError::Unavailable("fake outage".into()))
    }
    fn idle_ttl(&self) -> Duration {
        Duration::from_secs(60)
    }
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

const ACCEPT_BOTH: &str = "application/json, text/event-stream";

struct Harness {
    gw: Gateway,
    fake: Arc<Fake>,
}

fn memory_store() -> Option<Arc<dyn SessionStore>> {
    Some(Arc::new(MemoryStore::new(Duration::from_secs(60))))
}

impl Harness {
    /// Default config; `sessions` picks a memory store or none.
    fn new(sessions: bool) -> Self {
        Self::with(GatewayConfig::default(), sessions)
    }

    fn with(cfg: GatewayConfig, sessions: bool) -> Self {
        Self::build(
            cfg,
            Fake::default(),
            if sessions { memory_store() } else { None },
        )
    }

    fn build(cfg: GatewayConfig, fake: Fake, sessions: Option<Arc<dyn SessionStore>>) -> Self {
        let fake = Arc::new(fake);
        let gw = Gateway::new(cfg, fake.clone(), sessions);
        Self { gw, fake }
    }

    async fn send(&self, req: Request<Bytes>) -> Reply {
        self.send_as(req, RequestContext::default()).await
    }

    async fn send_as(&self, req: Request<Bytes>, ctx: RequestContext) -> Reply {
        Reply::from(self.gw.handle(req, ctx).await)
    }

    /// POSTs `body` with good Content-Type and Accept plus `headers`.
    async fn post(&self, headers: &[(&str, &str)], body: &str) -> Reply {
        self.send(post(headers, body)).await
    }

    /// Initializes with `version` (as `principal`) and returns the session id.
    async fn open_session_as(&self, version: &str, principal: Option<&str>) -> String {
        let reply = self
            .send_as(
                post(&[], &init_body(1, version)),
                RequestContext {
                    principal: principal.map(str::to_owned),
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        reply
            .header("mcp-session-id")
            .expect("initialize returns a session id")
            .to_owned()
    }

    async fn open_session(&self, version: &str) -> String {
        self.open_session_as(version, None).await
    }

    fn calls(&self) -> Vec<Call> {
        self.fake.calls()
    }

    fn calls_of(&self, op: Op) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.op == op).collect()
    }
}

/// A gateway answer, taken apart.
#[derive(Debug)]
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Option<Bytes>,
    empty: bool,
}

impl From<http::Response<Body>> for Reply {
    fn from(r: http::Response<Body>) -> Self {
        let (parts, body) = r.into_parts();
        assert!(
            !matches!(body, Body::Stream(_)),
            "the gateway does not stream yet"
        );
        Self {
            status: parts.status,
            headers: parts.headers,
            body: body.bytes().cloned(),
            empty: matches!(body, Body::Empty),
        }
    }
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }

    fn content_type(&self) -> Option<&str> {
        self.header("content-type")
    }

    fn json(&self) -> Value {
        let body = self.body.as_ref().expect("a JSON body");
        serde_json::from_slice(body).expect("the body is JSON")
    }

    fn error_code(&self) -> i64 {
        self.json()["error"]["code"]
            .as_i64()
            .expect("a JSON-RPC error")
    }
}

fn request(method: Method, headers: &[(&str, &str)], body: &str) -> Request<Bytes> {
    let mut b = Request::builder().method(method).uri("/mcp");
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    b.body(Bytes::copy_from_slice(body.as_bytes())).unwrap()
}

fn post(headers: &[(&str, &str)], body: &str) -> Request<Bytes> {
    let mut all = vec![
        ("content-type", "application/json"),
        ("accept", ACCEPT_BOTH),
    ];
    all.extend_from_slice(headers);
    request(Method::POST, &all, body)
}

fn init_body(id: u32, version: &str) -> String {
    serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": { "name": "test-client", "version": "1.0" }
        }
    })
    .to_string()
}

fn req_body(id: u32, method: &str) -> String {
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method }).to_string()
}

const TOOLS_LIST: &str = r#"{"jsonrpc":"2.0","id":7,"method":"tools/list"}"#;

/// A gateway-made error: status, JSON content type, JSON-RPC 2.0 error with a null id.
#[track_caller]
fn assert_error(reply: &Reply, status: StatusCode, code: i64) {
    assert_eq!(reply.status, status, "status; body: {:?}", reply.body);
    assert_eq!(reply.content_type(), Some("application/json"));
    let v = reply.json();
    assert_eq!(v["jsonrpc"], "2.0");
    assert!(v["id"].is_null(), "gateway errors carry a null id: {v}");
    assert_eq!(reply.error_code(), code, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(v.get("result").is_none());
}

/// A 200 carrying the fake's answer to a single request.
#[track_caller]
fn assert_answered(reply: &Reply, id: u32, method: &str) -> Value {
    assert_eq!(reply.status, StatusCode::OK, "body: {:?}", reply.body);
    assert_eq!(reply.content_type(), Some("application/json"));
    let v = reply.json();
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], id);
    assert_eq!(v["result"]["method"], method);
    v
}

// ---------------------------------------------------------------------------------------------
// Origin and CORS
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn foreign_origin_is_forbidden_and_never_reaches_the_upstream() {
    let h = Harness::new(false);
    for origin in [
        "https://evil.example",
        "null",
        "http://localhost.evil.com",
        "http://127.0.0.1.evil.com",
        "http://localhost:80@evil.com",
        "http://[::1]evil",
        "file://",
    ] {
        let r = h.post(&[("origin", origin)], TOOLS_LIST).await;
        assert_error(&r, StatusCode::FORBIDDEN, jsonrpc::INVALID_REQUEST);
        assert!(
            r.header("access-control-allow-origin").is_none(),
            "{origin}: no CORS grant on a refusal"
        );
    }
    // Every method is refused, not only POST.
    for m in [Method::GET, Method::DELETE, Method::OPTIONS] {
        let r = h
            .send(request(
                m.clone(),
                &[("origin", "https://evil.example")],
                "",
            ))
            .await;
        assert_error(&r, StatusCode::FORBIDDEN, jsonrpc::INVALID_REQUEST);
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn loopback_origins_are_allowed_when_configured() {
    let h = Harness::new(false);
    for origin in [
        "http://localhost:6274",
        "http://localhost",
        "https://localhost:8443",
        "http://127.0.0.1:3000",
        "http://127.1.2.3",
        "http://[::1]:8080",
        "http://[::1]",
    ] {
        let r = h.post(&[("origin", origin)], TOOLS_LIST).await;
        assert_answered(&r, 7, "tools/list");
        assert_eq!(r.header("access-control-allow-origin"), Some(origin));
    }
}

#[tokio::test]
async fn loopback_origins_are_refused_when_not_allowed() {
    let h = Harness::with(
        GatewayConfig {
            allow_loopback_origins: false,
            ..Default::default()
        },
        false,
    );
    for origin in [
        "http://localhost:6274",
        "http://127.0.0.1",
        "http://[::1]:1",
    ] {
        let r = h.post(&[("origin", origin)], TOOLS_LIST).await;
        assert_error(&r, StatusCode::FORBIDDEN, jsonrpc::INVALID_REQUEST);
    }
    // No Origin at all (a non-browser client) is fine.
    let r = h.post(&[], TOOLS_LIST).await;
    assert_answered(&r, 7, "tools/list");
    assert!(r.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn allowed_origins_match_exactly() {
    let h = Harness::with(
        GatewayConfig {
            allowed_origins: vec!["https://app.example".into()],
            allow_loopback_origins: false,
            ..Default::default()
        },
        false,
    );
    let r = h
        .post(&[("origin", "https://app.example")], TOOLS_LIST)
        .await;
    assert_answered(&r, 7, "tools/list");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example")
    );
    for other in [
        "https://app.example.evil",
        "https://app.example:8443",
        "http://app.example",
        "https://evil.app.example",
        "http://localhost:3000",
    ] {
        let r = h.post(&[("origin", other)], TOOLS_LIST).await;
        assert_error(&r, StatusCode::FORBIDDEN, jsonrpc::INVALID_REQUEST);
    }
}

#[tokio::test]
async fn wildcard_allows_any_origin() {
    let h = Harness::with(
        GatewayConfig {
            allowed_origins: vec!["*".into()],
            allow_loopback_origins: false,
            ..Default::default()
        },
        false,
    );
    for origin in ["https://anything.example", "null", "http://localhost:1"] {
        let r = h.post(&[("origin", origin)], TOOLS_LIST).await;
        assert_answered(&r, 7, "tools/list");
        assert_eq!(r.header("access-control-allow-origin"), Some(origin));
    }
}

#[tokio::test]
async fn allowed_origin_answers_carry_cors_headers() {
    let h = Harness::new(true);
    let origin = "http://localhost:6274";
    // On a successful initialize (the session id must be readable by the page).
    let r = h
        .post(&[("origin", origin)], &init_body(1, "2025-06-18"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("access-control-allow-origin"), Some(origin));
    assert_eq!(r.header("vary"), Some("Origin"));
    let exposed = r.header("access-control-expose-headers").unwrap();
    assert!(exposed.contains("mcp-session-id"), "{exposed}");
    assert!(exposed.contains("mcp-protocol-version"), "{exposed}");
    // And on errors too (a 405 and a 400), so the page can read them.
    let r = h
        .send(request(Method::GET, &[("origin", origin)], ""))
        .await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, jsonrpc::INVALID_REQUEST);
    assert_eq!(r.header("access-control-allow-origin"), Some(origin));
    let r = h.post(&[("origin", origin)], TOOLS_LIST).await;
    assert_error(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST);
    assert_eq!(r.header("access-control-allow-origin"), Some(origin));
}

#[tokio::test]
async fn preflight_is_answered_for_allowed_origins() {
    let h = Harness::new(true);
    let origin = "http://127.0.0.1:5173";
    let r = h
        .send(request(
            Method::OPTIONS,
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "content-type, mcp-session-id",
                ),
            ],
            "",
        ))
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.empty);
    assert!(r.content_type().is_none());
    assert_eq!(r.header("access-control-allow-origin"), Some(origin));
    let methods = r.header("access-control-allow-methods").unwrap();
    for m in ["POST", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let allowed = r.header("access-control-allow-headers").unwrap();
    for hd in [
        "content-type",
        "accept",
        "mcp-session-id",
        "mcp-protocol-version",
    ] {
        assert!(allowed.contains(hd), "{allowed}");
    }
    assert_eq!(r.header("access-control-max-age"), Some("600"));
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn options_without_origin_is_not_a_preflight() {
    let h = Harness::new(true);
    let r = h.send(request(Method::OPTIONS, &[], "")).await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, jsonrpc::INVALID_REQUEST);
    assert_eq!(r.header("allow"), Some("POST, DELETE"));
}

#[test]
fn loopback_origin_recognition() {
    for yes in [
        "http://localhost",
        "http://LOCALHOST:80",
        "https://localhost:1",
        "http://127.0.0.1",
        "http://127.255.255.254:9",
        "http://[::1]",
        "http://[::1]:65535",
    ] {
        assert!(is_loopback_origin(yes), "{yes}");
    }
    for no in [
        "localhost",
        "ftp://localhost",
        "http://localhost.example",
        "http://localhost:80x",
        "http://128.0.0.1",
        "http://[::2]",
        "http://[::1]x",
        "http://0.0.0.0",
        "null",
        "",
    ] {
        assert!(!is_loopback_origin(no), "{no}");
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP methods
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn get_is_405_with_allow() {
    let h = Harness::new(true);
    let r = h
        .send(request(Method::GET, &[("accept", "text/event-stream")], ""))
        .await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, jsonrpc::INVALID_REQUEST);
    assert_eq!(r.header("allow"), Some("POST, DELETE"));

    let h = Harness::new(false);
    let r = h
        .send(request(Method::GET, &[("accept", "text/event-stream")], ""))
        .await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, jsonrpc::INVALID_REQUEST);
    assert_eq!(r.header("allow"), Some("POST"));
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn other_methods_are_405() {
    let h = Harness::new(true);
    for m in [Method::PUT, Method::PATCH, Method::HEAD] {
        let r = h
            .send(request(
                m.clone(),
                &[("content-type", "application/json")],
                TOOLS_LIST,
            ))
            .await;
        assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, jsonrpc::INVALID_REQUEST);
        assert_eq!(r.header("allow"), Some("POST, DELETE"), "{m}");
    }
    assert!(h.calls().is_empty());
}

// ---------------------------------------------------------------------------------------------
// DELETE
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_with_sessions_off_is_405() {
    let h = Harness::new(false);
    let r = h
        .send(request(
            Method::DELETE,
            &[("mcp-session-id", "0123456789abcdef")],
            "",
        ))
        .await;
    assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, jsonrpc::INVALID_REQUEST);
    assert_eq!(r.header("allow"), Some("POST"));
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn delete_ends_the_session() {
    let h = Harness::new(true);
    let id = h.open_session("2025-06-18").await;
    let other = h.open_session("2025-06-18").await;

    let r = h
        .send(request(Method::DELETE, &[("mcp-session-id", &id)], ""))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.empty);
    let ended = h.calls_of(Op::EndSession);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].session_id.as_deref(), Some(id.as_str()));

    // The id is gone: requests and a second DELETE get 404.
    let r = h.post(&[("mcp-session-id", &id)], TOOLS_LIST).await;
    assert_error(&r, StatusCode::NOT_FOUND, jsonrpc::INVALID_REQUEST);
    let r = h
        .send(request(Method::DELETE, &[("mcp-session-id", &id)], ""))
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, jsonrpc::INVALID_REQUEST);
    assert_eq!(h.calls_of(Op::EndSession).len(), 1);
    assert!(h.calls_of(Op::Request).is_empty());

    // The other session is untouched.
    let r = h.post(&[("mcp-session-id", &other)], TOOLS_LIST).await;
    assert_answered(&r, 7, "tools/list");
}

#[tokio::test]
async fn delete_of_unknown_session_is_404() {
    let h = Harness::new(true);
    let r = h
        .send(request(
            Method::DELETE,
            &[("mcp-session-id", &"ab".repeat(32))],
            "",
        ))
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, jsonrpc::INVALID_REQUEST);
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn delete_without_session_header_is_400() {
    let h = Harness::new(true);
    let _id = h.open_session("2025-06-18").await;
    let r = h.send(request(Method::DELETE, &[], "")).await;
    assert_error(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST);
    assert!(h.calls_of(Op::EndSession).is_empty());
}

#[tokio::test]
async fn delete_by_another_principal_is_404_and_keeps_the_session() {
    let h = Harness::new(true);
    let id = h.open_session_as("2025-06-18", Some("alice")).await;
    let as_bob = RequestContext {
        principal: Some("bob".into()),
        ..Default::default()
    };
    let r = h
        .send_as(
            request(Method::DELETE, &[("mcp-session-id", &id)], ""),
            as_bob,
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, jsonrpc::INVALID_REQUEST);
    assert!(h.calls_of(Op::EndSession).is_empty());
    let as_alice = RequestContext {
        principal: Some("alice".into()),
        ..Default::default()
    };
    let r = h
        .send_as(post(&[("mcp-session-id", &id)], TOOLS_LIST), as_alice)
        .await;
    assert_answered(&r, 7, "tools/list");
}

// ---------------------------------------------------------------------------------------------
// Content-Type and Accept
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn wrong_or_missing_content_type_is_415() {
    let h = Harness::new(false);
    let bad: [Option<&str>; 6] = [
        None,
        Some("text/plain"),
        Some("application/jsonx"),
        Some("application/x-www-form-urlencoded"),
        Some("text/event-stream"),
        Some("application/json-seq"),
    ];
    for ct in bad {
        let mut headers = vec![("accept", ACCEPT_BOTH)];
        if let Some(ct) = ct {
            headers.push(("content-type", ct));
        }
        let r = h.send(request(Method::POST, &headers, TOOLS_LIST)).await;
        assert_error(
            &r,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            jsonrpc::INVALID_REQUEST,
        );
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn json_content_type_with_parameters_is_accepted() {
    let h = Harness::new(false);
    for ct in [
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        "Application/JSON",
    ] {
        let r = h
            .send(request(
                Method::POST,
                &[("content-type", ct), ("accept", ACCEPT_BOTH)],
                TOOLS_LIST,
            ))
            .await;
        assert_answered(&r, 7, "tools/list");
    }
    assert_eq!(h.calls_of(Op::Request).len(), 3);
}

#[tokio::test]
async fn accept_without_json_is_406() {
    let h = Harness::new(false);
    let bad: [Option<&str>; 5] = [
        None,
        Some("text/event-stream"),
        Some("text/html"),
        Some("application/jsonl, text/*"),
        Some("application/xml"),
    ];
    for accept in bad {
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = accept {
            headers.push(("accept", a));
        }
        let r = h.send(request(Method::POST, &headers, TOOLS_LIST)).await;
        assert_error(&r, StatusCode::NOT_ACCEPTABLE, jsonrpc::INVALID_REQUEST);
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn accept_admitting_json_is_accepted() {
    let h = Harness::new(false);
    for accept in [
        "application/json, text/event-stream",
        "text/event-stream, application/json",
        "application/json",
        "*/*",
        "application/*",
        "text/event-stream;q=0.9, APPLICATION/JSON;q=0.8",
    ] {
        let r = h
            .send(request(
                Method::POST,
                &[("content-type", "application/json"), ("accept", accept)],
                TOOLS_LIST,
            ))
            .await;
        assert_answered(&r, 7, "tools/list");
    }
    // Accept split over two header lines.
    let r = h
        .send(request(
            Method::POST,
            &[
                ("content-type", "application/json"),
                ("accept", "text/event-stream"),
                ("accept", "application/json"),
            ],
            TOOLS_LIST,
        ))
        .await;
    assert_answered(&r, 7, "tools/list");
}

#[tokio::test]
async fn accept_with_json_refused_by_q0_is_406() {
    let h = Harness::new(false);
    for accept in [
        "application/json;q=0, text/event-stream",
        "text/event-stream, */*;q=0",
    ] {
        let r = h
            .send(request(
                Method::POST,
                &[("content-type", "application/json"), ("accept", accept)],
                TOOLS_LIST,
            ))
            .await;
        assert_error(&r, StatusCode::NOT_ACCEPTABLE, jsonrpc::INVALID_REQUEST);
    }
}

// ---------------------------------------------------------------------------------------------
// Body size
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let limit = TOOLS_LIST.len();
    let h = Harness::with(
        GatewayConfig {
            max_body: limit,
            ..Default::default()
        },
        false,
    );
    // Exactly at the limit: served.
    let r = h.post(&[], TOOLS_LIST).await;
    assert_answered(&r, 7, "tools/list");
    // One byte over (trailing whitespace, still valid JSON): refused before parsing.
    let r = h.post(&[], &format!("{TOOLS_LIST} ")).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, jsonrpc::INVALID_REQUEST);
    // Over the limit and not even JSON: still 413 (the size is checked first).
    let r = h.post(&[], &"x".repeat(limit + 100)).await;
    assert_error(&r, StatusCode::PAYLOAD_TOO_LARGE, jsonrpc::INVALID_REQUEST);
    assert_eq!(h.calls().len(), 1);
}

#[test]
fn default_body_limit_is_lambdas() {
    assert_eq!(GatewayConfig::default().max_body, 6 * 1024 * 1024);
    assert_eq!(super::DEFAULT_MAX_BODY, 6 * 1024 * 1024);
}

// ---------------------------------------------------------------------------------------------
// MCP-Protocol-Version
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn unsupported_protocol_version_header_is_400() {
    let h = Harness::new(false);
    for v in ["garbage", "", "2025-06-18x", "2024-10-07"] {
        let r = h.post(&[("mcp-protocol-version", v)], TOOLS_LIST).await;
        // Answered with the request's id (JSON-RPC 2.0: null only when it cannot be read).
        assert_refused(
            &r,
            StatusCode::BAD_REQUEST,
            jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
            7,
        );
        let data = &r.json()["error"]["data"];
        assert_eq!(data["requested"], v);
        assert_eq!(data["supported"][0], "2026-07-28");
    }
    // A modern version with a legacy body: the 2026-07-28 envelope is missing.
    let r = h
        .post(&[("mcp-protocol-version", "2026-07-28")], TOOLS_LIST)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.error_code(), jsonrpc::INVALID_PARAMS);
    // Not visible ASCII.
    let mut req = post(&[], TOOLS_LIST);
    req.headers_mut().insert(
        "mcp-protocol-version",
        HeaderValue::from_bytes(b"2025-\xff").unwrap(),
    );
    let r = h.send(req).await;
    assert_refused(
        &r,
        StatusCode::BAD_REQUEST,
        jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
        7,
    );
    // An initialize under a 2026-07-28 header: that era has no initialize.
    let r = h
        .post(
            &[("mcp-protocol-version", "2026-07-28")],
            &init_body(1, "2025-06-18"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn protocol_version_header_or_default_reaches_the_upstream() {
    let h = Harness::new(false);
    for v in protocol::LEGACY_VERSIONS {
        let r = h.post(&[("mcp-protocol-version", v)], TOOLS_LIST).await;
        let body = assert_answered(&r, 7, "tools/list");
        assert_eq!(body["result"]["protocolVersion"], *v);
    }
    // No header: 2025-03-26 is assumed.
    let r = h.post(&[], TOOLS_LIST).await;
    let body = assert_answered(&r, 7, "tools/list");
    assert_eq!(body["result"]["protocolVersion"], "2025-03-26");
    let seen: Vec<_> = h
        .calls()
        .into_iter()
        .map(|c| c.protocol_version.unwrap())
        .collect();
    assert_eq!(
        seen,
        ["2025-03-26", "2025-06-18", "2025-11-25", "2025-03-26"]
    );
    assert!(
        h.calls()
            .iter()
            .all(|c| c.session_id.is_none() && c.init_params.is_none())
    );
}

// ---------------------------------------------------------------------------------------------
// Envelope
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn malformed_json_is_400_parse_error() {
    let h = Harness::new(false);
    for body in [
        "{nope",
        "",
        "{\"jsonrpc\":\"2.0\",\"id\":1,",
        "[{\"jsonrpc\":\"2.0\"",
        "\u{feff}{}",
    ] {
        let r = h.post(&[], body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, jsonrpc::PARSE_ERROR);
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn json_that_is_not_json_rpc_is_400_invalid_request() {
    let h = Harness::new(false);
    for body in [
        r#"{"foo":1}"#,
        "[]",
        "42",
        r#""tools/list""#,
        "null",
        "[1]",
        r#"{"jsonrpc":"1.0","id":1,"method":"x"}"#,
        r#"{"id":1,"method":"x"}"#,
        r#"{"jsonrpc":"2.0","id":1.5,"method":"x"}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"x"},3]"#,
    ] {
        let r = h.post(&[], body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST);
    }
    assert!(h.calls().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Batches
// ---------------------------------------------------------------------------------------------

const MIXED_BATCH: &str = r#"[
    {"jsonrpc":"2.0","id":1,"method":"tools/list"},
    {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}},
    {"jsonrpc":"2.0","id":"r","result":{}},
    {"jsonrpc":"2.0","id":"b","method":"prompts/list"},
    {"jsonrpc":"2.0","id":3,"method":"ping"}
]"#;

#[track_caller]
fn assert_mixed_batch_answer(r: &Reply) {
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert_eq!(r.content_type(), Some("application/json"));
    let v = r.json();
    let arr = v.as_array().expect("a batch answer is an array");
    let got: Vec<(Value, Value)> = arr
        .iter()
        .map(|m| (m["id"].clone(), m["result"]["method"].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (1.into(), "tools/list".into()),
            ("b".into(), "prompts/list".into()),
            (3.into(), "ping".into()),
        ]
    );
}

#[tokio::test]
async fn batch_in_2025_03_26_is_answered_in_order() {
    for header in [None, Some("2025-03-26")] {
        let h = Harness::new(false);
        let headers: Vec<(&str, &str)> = header
            .map(|v| vec![("mcp-protocol-version", v)])
            .unwrap_or_default();
        let r = h.post(&headers, MIXED_BATCH).await;
        assert_mixed_batch_answer(&r);
        let calls: Vec<(Op, Option<String>)> =
            h.calls().into_iter().map(|c| (c.op, c.method)).collect();
        assert_eq!(
            calls,
            vec![
                (Op::Request, Some("tools/list".into())),
                (Op::Notify, Some("notifications/progress".into())),
                (Op::Request, Some("prompts/list".into())),
                (Op::Request, Some("ping".into())),
            ],
            "header {header:?}"
        );
        assert!(
            h.calls()
                .iter()
                .all(|c| c.protocol_version.as_deref() == Some("2025-03-26"))
        );
    }
}

#[tokio::test]
async fn batch_of_notifications_only_is_202() {
    let h = Harness::new(false);
    let r = h
        .post(
            &[],
            r#"[{"jsonrpc":"2.0","method":"notifications/a"},{"jsonrpc":"2.0","id":9,"result":{}}]"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.empty);
    assert_eq!(h.calls_of(Op::Notify).len(), 1);
    assert!(h.calls_of(Op::Request).is_empty());
}

#[tokio::test]
async fn batch_in_later_versions_is_400() {
    let h = Harness::new(false);
    for v in ["2025-06-18", "2025-11-25"] {
        let r = h.post(&[("mcp-protocol-version", v)], MIXED_BATCH).await;
        assert_error(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST);
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn initialize_inside_a_batch_is_400() {
    for sessions in [false, true] {
        let h = Harness::new(sessions);
        let body = format!("[{},{}]", init_body(1, "2025-03-26"), req_body(2, "ping"));
        let r = h
            .post(&[("mcp-protocol-version", "2025-03-26")], &body)
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST);
        // Alone in a batch too.
        let r = h
            .post(&[], &format!("[{}]", init_body(1, "2025-03-26")))
            .await;
        assert_error(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST);
        assert!(r.header("mcp-session-id").is_none());
        assert!(h.calls().is_empty());
    }
}

#[tokio::test]
async fn batch_follows_the_sessions_negotiated_version() {
    let h = Harness::new(true);
    let old = h.open_session("2025-03-26").await;
    let new = h.open_session("2025-06-18").await;
    let r = h.post(&[("mcp-session-id", &old)], MIXED_BATCH).await;
    assert_mixed_batch_answer(&r);
    let r = h.post(&[("mcp-session-id", &new)], MIXED_BATCH).await;
    assert_error(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST);
    // Only the first batch's three requests and one notification went through.
    assert_eq!(h.calls_of(Op::Request).len(), 3);
    assert_eq!(h.calls_of(Op::Notify).len(), 1);
    assert!(
        h.calls_of(Op::Request)
            .iter()
            .all(|c| c.session_id.as_deref() == Some(old.as_str()))
    );
}

// ---------------------------------------------------------------------------------------------
// initialize
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn initialize_with_sessions_returns_a_session_id() {
    let h = Harness::new(true);
    let r = h.post(&[], &init_body(1, "2025-06-18")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), Some("application/json"));
    let v = r.json();
    assert_eq!(v["id"], 1);
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(v["result"]["serverInfo"]["name"], "fake");
    let id = r.header("mcp-session-id").unwrap();
    assert_eq!(id.len(), 64, "{id}");
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
        "{id}"
    );
    // The upstream saw the session id the client got, and no stored params yet.
    let inits = h.calls_of(Op::Initialize);
    assert_eq!(inits.len(), 1);
    assert_eq!(inits[0].session_id.as_deref(), Some(id));
    assert_eq!(inits[0].init_params, None);
    assert_eq!(inits[0].method.as_deref(), Some("initialize"));
    assert_eq!(inits[0].id.as_deref(), Some("1"));
    // No header on initialize: the default version is what the Exchange carries.
    assert_eq!(inits[0].protocol_version.as_deref(), Some("2025-03-26"));
}

#[tokio::test]
async fn initialize_without_sessions_returns_no_session_id() {
    let h = Harness::new(false);
    let r = h
        .post(
            &[("mcp-protocol-version", "2025-11-25")],
            &init_body(5, "2025-11-25"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), Some("application/json"));
    assert!(r.header("mcp-session-id").is_none());
    let v = r.json();
    assert_eq!(v["id"], 5);
    assert_eq!(v["result"]["protocolVersion"], "2025-11-25");
    let inits = h.calls_of(Op::Initialize);
    assert_eq!(inits.len(), 1);
    assert_eq!(inits[0].session_id, None);
    assert_eq!(inits[0].protocol_version.as_deref(), Some("2025-11-25"));
}

#[tokio::test]
async fn initialize_does_not_need_a_session_header() {
    // Even with a stale session id attached, initialize opens a fresh session.
    let h = Harness::new(true);
    let r = h
        .post(
            &[("mcp-session-id", &"cd".repeat(32))],
            &init_body(1, "2025-06-18"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let id = r.header("mcp-session-id").unwrap();
    assert_ne!(id, "cd".repeat(32));
}

#[tokio::test]
async fn failed_initialize_opens_no_session() {
    let h = Harness::build(
        GatewayConfig::default(),
        Fake::with_mode(InitMode::Reject),
        memory_store(),
    );
    let r = h.post(&[], &init_body(4, "2025-06-18")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.content_type(), Some("application/json"));
    assert!(r.header("mcp-session-id").is_none());
    let v = r.json();
    assert_eq!(v["id"], 4);
    assert_eq!(v["error"]["code"], jsonrpc::INVALID_PARAMS);
    // The id the upstream was given was never saved.
    let sid = h.calls_of(Op::Initialize)[0].session_id.clone().unwrap();
    let r = h.post(&[("mcp-session-id", &sid)], TOOLS_LIST).await;
    assert_error(&r, StatusCode::NOT_FOUND, jsonrpc::INVALID_REQUEST);
}

#[tokio::test]
async fn two_sessions_get_different_ids() {
    let h = Harness::new(true);
    let a = h.open_session("2025-06-18").await;
    let b = h.open_session("2025-06-18").await;
    assert_ne!(a, b);
    let ra = h.post(&[("mcp-session-id", &a)], TOOLS_LIST).await;
    let rb = h.post(&[("mcp-session-id", &b)], TOOLS_LIST).await;
    assert_eq!(
        assert_answered(&ra, 7, "tools/list")["result"]["sessionId"],
        *a
    );
    assert_eq!(
        assert_answered(&rb, 7, "tools/list")["result"]["sessionId"],
        *b
    );
}

#[tokio::test]
async fn session_store_outage_is_503() {
    let h = Harness::build(
        GatewayConfig::default(),
        Fake::default(),
        Some(Arc::new(BrokenStore)),
    );
    let r = h.post(&[], &init_body(8, "2025-06-18")).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.content_type(), Some("application/json"));
    assert!(r.header("mcp-session-id").is_none());
    let v = r.json();
    assert_eq!(v["id"], 8, "the client's own id");
    assert_eq!(v["error"]["code"], jsonrpc::INTERNAL_ERROR);
    // What the upstream set up for that session is released.
    let sid = h.calls_of(Op::Initialize)[0].session_id.clone().unwrap();
    let ended = h.calls_of(Op::EndSession);
    assert_eq!(ended.len(), 1);
    assert_eq!(ended[0].session_id.as_deref(), Some(sid.as_str()));

    let r = h.post(&[("mcp-session-id", &sid)], TOOLS_LIST).await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, jsonrpc::INTERNAL_ERROR);
    let r = h
        .send(request(Method::DELETE, &[("mcp-session-id", &sid)], ""))
        .await;
    assert_error(&r, StatusCode::SERVICE_UNAVAILABLE, jsonrpc::INTERNAL_ERROR);
    assert!(h.calls_of(Op::Request).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Notifications and responses
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn notification_only_post_is_202_empty() {
    let h = Harness::new(false);
    let r = h
        .post(
            &[("mcp-protocol-version", "2025-06-18")],
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.empty);
    assert!(r.body.is_none());
    assert!(r.content_type().is_none());
    let n = h.calls_of(Op::Notify);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].method.as_deref(), Some("notifications/initialized"));
    assert_eq!(n[0].protocol_version.as_deref(), Some("2025-06-18"));
    assert_eq!(h.calls().len(), 1);
}

#[tokio::test]
async fn response_only_post_is_202_empty_and_dropped() {
    let h = Harness::new(false);
    for body in [
        r#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":"x","error":{"code":-1,"message":"no"}}"#,
    ] {
        let r = h.post(&[], body).await;
        assert_eq!(r.status, StatusCode::ACCEPTED);
        assert!(r.empty);
        assert!(r.content_type().is_none());
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn notifications_in_a_session_carry_it() {
    let h = Harness::new(true);
    let id = h.open_session("2025-11-25").await;
    let r = h
        .post(
            &[
                ("mcp-session-id", &id),
                ("mcp-protocol-version", "2025-11-25"),
            ],
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert!(r.empty);
    let n = h.calls_of(Op::Notify);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].session_id.as_deref(), Some(id.as_str()));
    assert_eq!(n[0].protocol_version.as_deref(), Some("2025-11-25"));
    // Without the session header it is refused like a request.
    let r = h
        .post(
            &[],
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST);
    assert_eq!(h.calls_of(Op::Notify).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn missing_session_header_is_400() {
    let h = Harness::new(true);
    let _id = h.open_session("2025-06-18").await;
    let r = h.post(&[], TOOLS_LIST).await;
    assert_error(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST);
    assert!(h.calls_of(Op::Request).is_empty());
}

#[tokio::test]
async fn unknown_session_is_404() {
    let h = Harness::new(true);
    let id = h.open_session("2025-06-18").await;
    let mut wrong = id.clone();
    wrong.replace_range(0..1, if id.starts_with('0') { "1" } else { "0" });
    for unknown in [wrong.as_str(), "nope", ""] {
        let r = h.post(&[("mcp-session-id", unknown)], TOOLS_LIST).await;
        assert_error(&r, StatusCode::NOT_FOUND, jsonrpc::INVALID_REQUEST);
    }
    assert!(h.calls_of(Op::Request).is_empty());
}

#[tokio::test]
async fn known_session_carries_version_params_and_id() {
    let h = Harness::new(true);
    // Raw params with odd spacing and number formatting: they must be kept byte for byte.
    let params = r#"{"protocolVersion":"2025-06-18", "capabilities":{"roots":{"listChanged":true}},"clientInfo":{"name":"t","version":"1"},"x":1.50}"#;
    let body =
        format!(r#"{{"jsonrpc":"2.0","id":"init-1","method":"initialize","params": {params}}}"#);
    let r = h.post(&[], &body).await;
    assert_eq!(r.status, StatusCode::OK);
    let id = r.header("mcp-session-id").unwrap().to_owned();

    // No version header: the session's negotiated version is used.
    let r = h.post(&[("mcp-session-id", &id)], TOOLS_LIST).await;
    let v = assert_answered(&r, 7, "tools/list");
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(v["result"]["sessionId"], id.as_str());
    // A matching header is fine too.
    let r = h
        .post(
            &[
                ("mcp-session-id", &id),
                ("mcp-protocol-version", "2025-06-18"),
            ],
            &req_body(8, "tools/call"),
        )
        .await;
    assert_answered(&r, 8, "tools/call");

    let reqs = h.calls_of(Op::Request);
    assert_eq!(reqs.len(), 2);
    for c in &reqs {
        assert_eq!(c.protocol_version.as_deref(), Some("2025-06-18"));
        assert_eq!(c.session_id.as_deref(), Some(id.as_str()));
        assert_eq!(c.init_params.as_deref(), Some(params));
    }
    assert_eq!(reqs[0].id.as_deref(), Some("7"));
    assert_eq!(reqs[1].id.as_deref(), Some("8"));
}

#[tokio::test]
async fn initialize_without_params_stores_empty_object() {
    let h = Harness::new(true);
    let r = h
        .post(&[], r#"{"jsonrpc":"2.0","id":1,"method":"initialize"}"#)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let id = r.header("mcp-session-id").unwrap().to_owned();
    // The fake negotiated the latest version for an unknown request.
    assert_eq!(r.json()["result"]["protocolVersion"], "2025-11-25");
    let r = h.post(&[("mcp-session-id", &id)], TOOLS_LIST).await;
    assert_answered(&r, 7, "tools/list");
    let c = &h.calls_of(Op::Request)[0];
    assert_eq!(c.init_params.as_deref(), Some("{}"));
    assert_eq!(c.protocol_version.as_deref(), Some("2025-11-25"));
}

#[tokio::test]
async fn supported_version_header_differing_from_the_session_yields_to_the_session() {
    // The transport only requires 400 for an invalid or unsupported version; a served one that
    // differs from the negotiated version is overruled by the session.
    let h = Harness::new(true);
    let id = h.open_session("2025-06-18").await;
    for other in ["2025-03-26", "2025-11-25"] {
        let r = h
            .post(
                &[("mcp-session-id", &id), ("mcp-protocol-version", other)],
                TOOLS_LIST,
            )
            .await;
        let v = assert_answered(&r, 7, "tools/list");
        assert_eq!(v["result"]["protocolVersion"], "2025-06-18", "{other}");
    }
    let reqs = h.calls_of(Op::Request);
    assert_eq!(reqs.len(), 2);
    for c in &reqs {
        assert_eq!(c.protocol_version.as_deref(), Some("2025-06-18"));
        assert_eq!(c.session_id.as_deref(), Some(id.as_str()));
    }
    // An unserved version is still refused, session or not.
    let r = h
        .post(
            &[
                ("mcp-session-id", &id),
                ("mcp-protocol-version", "2024-10-07"),
            ],
            TOOLS_LIST,
        )
        .await;
    assert_refused(
        &r,
        StatusCode::BAD_REQUEST,
        jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
        7,
    );
    assert_eq!(h.calls_of(Op::Request).len(), 2);
}

#[tokio::test]
async fn header_matching_an_older_negotiated_version_is_accepted() {
    let h = Harness::build(
        GatewayConfig::default(),
        Fake::with_mode(InitMode::Fixed("2024-11-05")),
        memory_store(),
    );
    let r = h.post(&[], &init_body(1, "2025-11-25")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["result"]["protocolVersion"], "2024-11-05");
    let id = r.header("mcp-session-id").unwrap().to_owned();
    // What the SDK clients do next: send the negotiated version in the header.
    let r = h
        .post(
            &[
                ("mcp-session-id", &id),
                ("mcp-protocol-version", "2024-11-05"),
            ],
            TOOLS_LIST,
        )
        .await;
    let v = assert_answered(&r, 7, "tools/list");
    assert_eq!(v["result"]["protocolVersion"], "2024-11-05");
}

#[tokio::test]
async fn session_with_older_negotiated_version_works_without_header() {
    // The part of the 2024-11-05 case that does work: no header, the session's version is used.
    let h = Harness::build(
        GatewayConfig::default(),
        Fake::with_mode(InitMode::Fixed("2024-11-05")),
        memory_store(),
    );
    let id = h.open_session("2025-11-25").await;
    let r = h.post(&[("mcp-session-id", &id)], TOOLS_LIST).await;
    let v = assert_answered(&r, 7, "tools/list");
    assert_eq!(v["result"]["protocolVersion"], "2024-11-05");
}

#[tokio::test]
async fn sessions_are_bound_to_their_principal() {
    let h = Harness::new(true);
    let id = h.open_session_as("2025-06-18", Some("a")).await;
    let ctx = |p: Option<&str>| RequestContext {
        principal: p.map(str::to_owned),
        ..Default::default()
    };
    for other in [Some("b"), None, Some("A")] {
        let r = h
            .send_as(post(&[("mcp-session-id", &id)], TOOLS_LIST), ctx(other))
            .await;
        assert_error(&r, StatusCode::NOT_FOUND, jsonrpc::INVALID_REQUEST);
    }
    assert!(h.calls_of(Op::Request).is_empty());
    let r = h
        .send_as(post(&[("mcp-session-id", &id)], TOOLS_LIST), ctx(Some("a")))
        .await;
    assert_answered(&r, 7, "tools/list");

    // And an anonymous session is not usable by an authenticated caller.
    let anon = h.open_session("2025-06-18").await;
    let r = h
        .send_as(
            post(&[("mcp-session-id", &anon)], TOOLS_LIST),
            ctx(Some("a")),
        )
        .await;
    assert_error(&r, StatusCode::NOT_FOUND, jsonrpc::INVALID_REQUEST);
}

#[tokio::test]
async fn session_header_is_ignored_when_sessions_are_off() {
    let h = Harness::new(false);
    let r = h.post(&[("mcp-session-id", "whatever")], TOOLS_LIST).await;
    let v = assert_answered(&r, 7, "tools/list");
    assert!(v["result"]["sessionId"].is_null());
    assert_eq!(h.calls_of(Op::Request)[0].session_id, None);
}

// ---------------------------------------------------------------------------------------------
// server/discover
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn server_discover_is_method_not_found_without_reaching_the_upstream() {
    for sessions in [false, true] {
        let h = Harness::new(sessions);
        let r = h
            .post(
                &[],
                r#"{"jsonrpc":"2.0","id":"d1","method":"server/discover","params":{}}"#,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "sessions {sessions}");
        assert_eq!(r.content_type(), Some("application/json"));
        assert!(r.header("mcp-session-id").is_none());
        let v = r.json();
        assert_eq!(v["jsonrpc"], "2.0");
        assert_eq!(v["id"], "d1", "answered with the client's id");
        assert_eq!(v["error"]["code"], jsonrpc::METHOD_NOT_FOUND);
        assert!(v.get("result").is_none());
        assert!(h.calls().is_empty(), "sessions {sessions}");
    }
}

// ---------------------------------------------------------------------------------------------
// Deadlines
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn deadline_is_the_configured_timeout_or_a_tighter_host_deadline() {
    let timeout = Duration::from_secs(30);
    let h = Harness::with(
        GatewayConfig {
            request_timeout: timeout,
            ..Default::default()
        },
        true,
    );
    let before = Instant::now();
    let id = h.open_session("2025-06-18").await;
    let after = Instant::now();
    let d = h.calls_of(Op::Initialize)[0].deadline.unwrap();
    assert!(d >= before + timeout && d <= after + timeout);

    // No host deadline: now + request_timeout.
    let before = Instant::now();
    let r = h.post(&[("mcp-session-id", &id)], TOOLS_LIST).await;
    let after = Instant::now();
    assert_answered(&r, 7, "tools/list");
    let d = h.calls_of(Op::Request)[0].deadline.unwrap();
    assert!(d >= before + timeout && d <= after + timeout);

    // A tighter host deadline wins, exactly.
    let tight = Instant::now() + Duration::from_millis(750);
    let r = h
        .send_as(
            post(&[("mcp-session-id", &id)], TOOLS_LIST),
            RequestContext {
                deadline: Some(tight),
                ..Default::default()
            },
        )
        .await;
    assert_answered(&r, 7, "tools/list");
    assert_eq!(h.calls_of(Op::Request)[1].deadline, Some(tight));

    // A looser one is capped at the configured timeout.
    let before = Instant::now();
    let r = h
        .send_as(
            post(&[("mcp-session-id", &id)], TOOLS_LIST),
            RequestContext {
                deadline: Some(Instant::now() + Duration::from_secs(3600)),
                ..Default::default()
            },
        )
        .await;
    let after = Instant::now();
    assert_answered(&r, 7, "tools/list");
    let d = h.calls_of(Op::Request)[2].deadline.unwrap();
    assert!(d >= before + timeout && d <= after + timeout);

    // Initialize honours the tighter deadline as well.
    let tight = Instant::now() + Duration::from_millis(300);
    let r = h
        .send_as(
            post(&[], &init_body(2, "2025-06-18")),
            RequestContext {
                deadline: Some(tight),
                ..Default::default()
            },
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(h.calls_of(Op::Initialize)[1].deadline, Some(tight));
}

// ---------------------------------------------------------------------------------------------
// A whole conversation
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn full_session_lifecycle() {
    let h = Harness::new(true);
    let id = h.open_session("2025-11-25").await;
    let hdrs = [
        ("mcp-session-id", id.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let r = h
        .post(
            &hdrs,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    let r = h.post(&hdrs, &req_body(2, "tools/list")).await;
    assert_answered(&r, 2, "tools/list");
    let r = h.post(&hdrs, &req_body(3, "tools/call")).await;
    assert_answered(&r, 3, "tools/call");
    let r = h
        .send(request(Method::DELETE, &[("mcp-session-id", &id)], ""))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let ops: Vec<Op> = h.calls().into_iter().map(|c| c.op).collect();
    assert_eq!(
        ops,
        [
            Op::Initialize,
            Op::Notify,
            Op::Request,
            Op::Request,
            Op::EndSession
        ]
    );
    let r = h.post(&hdrs, &req_body(4, "tools/list")).await;
    assert_error(&r, StatusCode::NOT_FOUND, jsonrpc::INVALID_REQUEST);
}

// ---------------------------------------------------------------------------------------------
// 2026-07-28 (modern era)
// ---------------------------------------------------------------------------------------------

const MODERN: &str = "2026-07-28";

/// A 2026-07-28 `params._meta` for `version`, with capabilities and (optionally) client info.
fn meta_for(version: &str, client_info: bool) -> Value {
    let mut meta = serde_json::json!({
        protocol::META_PROTOCOL_VERSION: version,
        protocol::META_CLIENT_CAPABILITIES: { "sampling": {}, "roots": { "listChanged": true } },
    });
    if client_info {
        meta[protocol::META_CLIENT_INFO] =
            serde_json::json!({ "name": "modern-client", "version": "2.0" });
    }
    meta
}

/// A request body with `params` (an object) plus `_meta`.
fn body_with_meta(id: u32, method: &str, params: Value, meta: Value) -> String {
    let mut params = params;
    params["_meta"] = meta;
    serde_json::json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params })
        .to_string()
}

/// A well-formed 2026-07-28 request body.
fn modern_body(id: u32, method: &str, params: Value) -> String {
    body_with_meta(id, method, params, meta_for(MODERN, true))
}

/// The routing headers a 2026-07-28 client sends: version, method, and name when given.
fn modern_headers<'a>(method: &'a str, name: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
    let mut h = vec![("mcp-protocol-version", MODERN), ("mcp-method", method)];
    if let Some(n) = name {
        h.push(("mcp-name", n));
    }
    h
}

/// A JSON-RPC error answer of the modern path: status, JSON content type, code, no result,
/// no session id. Returns the body.
#[track_caller]
fn assert_rejected(reply: &Reply, status: StatusCode, code: i64) -> Value {
    assert_eq!(reply.status, status, "status; body: {:?}", reply.body);
    assert_eq!(reply.content_type(), Some("application/json"));
    assert!(reply.header("mcp-session-id").is_none());
    let v = reply.json();
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["error"]["code"], code, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{v}"
    );
    assert!(v.get("result").is_none(), "{v}");
    v
}

/// A validation failure of one parsed request: the answer carries the request's id.
#[track_caller]
fn assert_refused(reply: &Reply, status: StatusCode, code: i64, id: u32) {
    let v = assert_rejected(reply, status, code);
    assert_eq!(v["id"], id, "the client's own id: {v}");
}

/// The only upstream call so far: a 2026-07-28 request for `method` with no session.
#[track_caller]
fn assert_one_modern_call(h: &Harness, method: &str) -> Call {
    let calls = h.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    let c = calls.into_iter().next().unwrap();
    assert_eq!(c.op, Op::Request);
    assert_eq!(c.method.as_deref(), Some(method));
    assert_eq!(
        c.modern_version.as_deref(),
        Some(MODERN),
        "a modern exchange"
    );
    assert_eq!(c.protocol_version.as_deref(), Some(MODERN));
    assert_eq!(c.session_id, None);
    assert_eq!(c.init_params, None);
    c
}

#[tokio::test]
async fn modern_request_reaches_the_upstream_as_a_modern_exchange() {
    let h = Harness::new(false);
    // Header names in any case (RFC 9110: names are case-insensitive).
    let r = h
        .post(
            &[
                ("MCP-Protocol-Version", MODERN),
                ("Mcp-Method", "tools/list"),
            ],
            &modern_body(7, "tools/list", serde_json::json!({})),
        )
        .await;
    let v = assert_answered(&r, 7, "tools/list");
    assert!(v["result"]["sessionId"].is_null());
    let c = assert_one_modern_call(&h, "tools/list");
    assert_eq!(c.id.as_deref(), Some("7"));
    let caps: Value = serde_json::from_str(c.client_capabilities.as_deref().unwrap()).unwrap();
    assert_eq!(
        caps,
        serde_json::json!({ "sampling": {}, "roots": { "listChanged": true } })
    );
    let info: Value = serde_json::from_str(c.client_info.as_deref().unwrap()).unwrap();
    assert_eq!(info["name"], "modern-client");
}

#[tokio::test]
async fn modern_request_without_client_info_is_served() {
    let h = Harness::new(false);
    let body = body_with_meta(
        3,
        "prompts/list",
        serde_json::json!({}),
        meta_for(MODERN, false),
    );
    let r = h.post(&modern_headers("prompts/list", None), &body).await;
    assert_answered(&r, 3, "prompts/list");
    let c = assert_one_modern_call(&h, "prompts/list");
    assert!(c.client_capabilities.is_some());
    assert_eq!(c.client_info, None);
}

#[tokio::test]
async fn named_modern_requests_with_matching_mcp_name_are_served() {
    let h = Harness::new(false);
    let cases = [
        ("tools/call", "name", "get_weather"),
        ("prompts/get", "name", "code_review"),
        (
            "resources/read",
            "uri",
            "file:///projects/myapp/config.json",
        ),
    ];
    for (i, (method, field, value)) in (1u32..).zip(cases) {
        let mut params = serde_json::json!({ "arguments": { "location": "Seattle, WA" } });
        params[field] = value.into();
        let r = h
            .post(
                &modern_headers(method, Some(value)),
                &modern_body(i, method, params),
            )
            .await;
        assert_answered(&r, i, method);
    }
    // The tools/call with arguments first fetched the tools' Mcp-Param annotations.
    let (fetches, calls): (Vec<_>, Vec<_>) = h
        .calls_of(Op::Request)
        .into_iter()
        .partition(|c| c.method.as_deref() == Some("tools/list"));
    assert_eq!(fetches.len(), 1);
    assert_eq!(calls.len(), 3);
    assert!(
        calls
            .iter()
            .all(|c| c.modern_version.as_deref() == Some(MODERN))
    );
}

#[tokio::test]
async fn modern_request_mints_and_echoes_no_session_and_ignores_last_event_id() {
    let h = Harness::new(true);
    // A real legacy session exists; a modern request naming it still runs without it.
    let legacy = h.open_session("2025-11-25").await;
    for sid in [legacy.as_str(), "not-a-session-anyone-issued"] {
        let mut headers = modern_headers("tools/list", None);
        headers.push(("mcp-session-id", sid));
        headers.push(("last-event-id", "evt-41"));
        let r = h
            .post(
                &headers,
                &modern_body(9, "tools/list", serde_json::json!({})),
            )
            .await;
        let v = assert_answered(&r, 9, "tools/list");
        assert!(r.header("mcp-session-id").is_none(), "{sid}: not echoed");
        assert!(v["result"]["sessionId"].is_null());
    }
    let reqs = h.calls_of(Op::Request);
    assert_eq!(reqs.len(), 2);
    for c in &reqs {
        assert_eq!(c.session_id, None);
        assert_eq!(c.init_params, None);
        assert_eq!(c.modern_version.as_deref(), Some(MODERN));
    }
    // Nothing was minted without a session header either.
    let r = h
        .post(
            &modern_headers("tools/list", None),
            &modern_body(10, "tools/list", serde_json::json!({})),
        )
        .await;
    assert_answered(&r, 10, "tools/list");
    assert!(r.header("mcp-session-id").is_none());
    assert_eq!(h.calls_of(Op::Initialize).len(), 1, "only the legacy one");
}

#[tokio::test]
async fn modern_server_discover_reaches_the_upstream() {
    for sessions in [false, true] {
        let h = Harness::new(sessions);
        let r = h
            .post(
                &modern_headers("server/discover", None),
                &modern_body(4, "server/discover", serde_json::json!({})),
            )
            .await;
        assert_answered(&r, 4, "server/discover");
        assert!(r.header("mcp-session-id").is_none());
        assert_one_modern_call(&h, "server/discover");
    }
}

#[tokio::test]
async fn modern_body_without_version_header_is_header_mismatch() {
    let h = Harness::new(false);
    let r = h
        .post(
            &[("mcp-method", "tools/list")],
            &modern_body(5, "tools/list", serde_json::json!({})),
        )
        .await;
    assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, 5);
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn version_header_differing_from_meta_is_header_mismatch() {
    let h = Harness::new(false);
    // The body names another version (served or not) than the header.
    for body_version in ["2025-11-25", "1900-01-01", "2026-07-29"] {
        let body = body_with_meta(
            5,
            "tools/list",
            serde_json::json!({}),
            meta_for(body_version, true),
        );
        let r = h.post(&modern_headers("tools/list", None), &body).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, 5);
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn mcp_method_missing_or_mismatched_is_header_mismatch() {
    let h = Harness::new(false);
    let body = modern_body(6, "tools/list", serde_json::json!({}));
    let r = h.post(&[("mcp-protocol-version", MODERN)], &body).await;
    assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, 6);
    for wrong in ["tools/call", "prompts/list", "tools/list/", ""] {
        let r = h.post(&modern_headers(wrong, None), &body).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, 6);
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn mcp_name_missing_or_mismatched_is_header_mismatch() {
    let h = Harness::new(false);
    for (method, field, value) in [
        ("tools/call", "name", "get_weather"),
        ("prompts/get", "name", "code_review"),
        ("resources/read", "uri", "file:///a.txt"),
    ] {
        let mut params = serde_json::json!({});
        params[field] = value.into();
        let body = modern_body(8, method, params);
        // Missing.
        let r = h.post(&modern_headers(method, None), &body).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, 8);
        // Another name.
        let r = h.post(&modern_headers(method, Some("other")), &body).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, 8);
        // A name in the header, none in the body.
        let r = h
            .post(
                &modern_headers(method, Some(value)),
                &modern_body(8, method, serde_json::json!({})),
            )
            .await;
        assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, 8);
    }
    // resources/read mirrors `params.uri`, not `params.name`.
    let body = modern_body(
        8,
        "resources/read",
        serde_json::json!({ "uri": "file:///a.txt", "name": "a" }),
    );
    let r = h
        .post(&modern_headers("resources/read", Some("a")), &body)
        .await;
    assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, 8);
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn base64_mcp_name_matching_the_body_is_accepted() {
    let h = Harness::new(false);
    for (i, (name, header)) in (1u32..).zip([
        // The spec's own examples (Value Encoding).
        ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA==?="),
        (" padded ", "=?base64?IHBhZGRlZCA=?="),
        ("line1\nline2", "=?base64?bGluZTEKbGluZTI=?="),
        ("=?base64?literal?=", "=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?="),
        // Encoding a header-safe name is allowed too.
        ("get_weather", "=?base64?Z2V0X3dlYXRoZXI=?="),
    ]) {
        let r = h
            .post(
                &modern_headers("tools/call", Some(header)),
                &modern_body(i, "tools/call", serde_json::json!({ "name": name })),
            )
            .await;
        assert_answered(&r, i, "tools/call");
    }
    // A resource URI outside the safe set.
    let r = h
        .post(
            &modern_headers(
                "resources/read",
                Some("=?base64?ZmlsZTovLy/DqXTDqS50eHQ=?="),
            ),
            &modern_body(
                9,
                "resources/read",
                serde_json::json!({ "uri": "file:///été.txt" }),
            ),
        )
        .await;
    assert_answered(&r, 9, "resources/read");
    assert_eq!(h.calls_of(Op::Request).len(), 6);
}

#[tokio::test]
async fn malformed_base64_mcp_name_is_header_mismatch() {
    let h = Harness::new(false);
    for (name, header) in [
        ("Hello, 世界", "=?base64?!!!?="),
        // Non-canonical: trailing bits set ("SGVsbG8=" is the encoding of "Hello").
        ("Hello", "=?base64?SGVsbG9=?="),
        // Padding dropped.
        ("Hello, 世界", "=?base64?SGVsbG8sIOS4lueVjA?="),
        // Valid base64 of bytes that are not UTF-8.
        ("\u{fffd}", "=?base64?/w==?="),
        // A value looking like the sentinel must be encoded; sent plain it is malformed.
        ("=?base64?literal?=", "=?base64?literal?="),
        // The markers are case-sensitive: this is a plain value, and not the body's.
        ("get_weather", "=?BASE64?Z2V0X3dlYXRoZXI=?="),
    ] {
        let r = h
            .post(
                &modern_headers("tools/call", Some(header)),
                &modern_body(2, "tools/call", serde_json::json!({ "name": name })),
            )
            .await;
        assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, 2);
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn whitespace_around_routing_header_values_is_ignored() {
    let h = Harness::new(false);
    let r = h
        .post(
            &[
                ("mcp-protocol-version", MODERN),
                ("mcp-method", "  tools/call\t"),
                ("mcp-name", "\tget_weather  "),
            ],
            &modern_body(
                1,
                "tools/call",
                serde_json::json!({ "name": "get_weather" }),
            ),
        )
        .await;
    assert_answered(&r, 1, "tools/call");
    assert_one_modern_call(&h, "tools/call");
}

#[tokio::test]
async fn whitespace_around_the_version_header_is_ignored() {
    let h = Harness::new(false);
    let r = h
        .post(
            &[
                ("mcp-protocol-version", " 2026-07-28\t"),
                ("mcp-method", "tools/list"),
            ],
            &modern_body(1, "tools/list", serde_json::json!({})),
        )
        .await;
    assert_answered(&r, 1, "tools/list");
    assert_one_modern_call(&h, "tools/list");
}

#[tokio::test]
async fn routing_header_sent_twice_is_header_mismatch() {
    let h = Harness::new(false);
    let body = modern_body(3, "tools/call", serde_json::json!({ "name": "t" }));
    for dup in ["mcp-protocol-version", "Mcp-Method", "MCP-NAME"] {
        let mut headers = modern_headers("tools/call", Some("t"));
        // The same value again: still two fields.
        let again = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(dup))
            .map(|(_, v)| *v)
            .unwrap();
        headers.push((dup, again));
        let r = h.post(&headers, &body).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, 3);
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn routing_header_values_are_case_sensitive() {
    let h = Harness::new(false);
    let r = h
        .post(
            &modern_headers("Tools/List", None),
            &modern_body(1, "tools/list", serde_json::json!({})),
        )
        .await;
    assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, 1);
    let r = h
        .post(
            &modern_headers("tools/call", Some("Get_Weather")),
            &modern_body(
                2,
                "tools/call",
                serde_json::json!({ "name": "get_weather" }),
            ),
        )
        .await;
    assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::HEADER_MISMATCH, 2);
    assert!(h.calls().is_empty());
    // Names are not: shouted header names with the right values are served.
    let r = h
        .post(
            &[
                ("MCP-PROTOCOL-VERSION", MODERN),
                ("MCP-METHOD", "tools/call"),
                ("MCP-NAME", "get_weather"),
            ],
            &modern_body(
                3,
                "tools/call",
                serde_json::json!({ "name": "get_weather" }),
            ),
        )
        .await;
    assert_answered(&r, 3, "tools/call");
}

#[tokio::test]
async fn malformed_modern_envelope_is_invalid_params() {
    let h = Harness::new(false);
    let v = protocol::META_PROTOCOL_VERSION;
    let c = protocol::META_CLIENT_CAPABILITIES;
    let bodies = [
        // No _meta at all, or no params at all.
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{}}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#.to_owned(),
        // _meta without the version, or without the capabilities.
        format!(
            r#"{{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{{"_meta":{{"{c}":{{}}}}}}}}"#
        ),
        format!(
            r#"{{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{{"_meta":{{"{v}":"2026-07-28"}}}}}}"#
        ),
        // Capabilities that are not an object; a version that is not a string.
        format!(
            r#"{{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{{"_meta":{{"{v}":"2026-07-28","{c}":[]}}}}}}"#
        ),
        format!(
            r#"{{"jsonrpc":"2.0","id":4,"method":"tools/list","params":{{"_meta":{{"{v}":20260728,"{c}":{{}}}}}}}}"#
        ),
        // params not an object.
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":[1]}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":"x"}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/list","params":null}"#.to_owned(),
    ];
    for body in &bodies {
        let r = h.post(&modern_headers("tools/list", None), body).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_PARAMS, 4);
    }
    // Without the header a broken envelope is still recognised as modern and named.
    let r = h.post(&[("mcp-method", "tools/list")], &bodies[5]).await;
    assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_PARAMS, 4);
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn unknown_version_header_is_unsupported_and_lists_ours() {
    let h = Harness::new(false);
    let bodies = [
        body_with_meta(
            1,
            "tools/list",
            serde_json::json!({}),
            meta_for("1900-01-01", true),
        ),
        // The header decides even when the body names a served version.
        modern_body(1, "tools/list", serde_json::json!({})),
        req_body(1, "tools/list"),
    ];
    for body in &bodies {
        let r = h
            .post(
                &[
                    ("mcp-protocol-version", "1900-01-01"),
                    ("mcp-method", "tools/list"),
                ],
                body,
            )
            .await;
        let v = assert_rejected(
            &r,
            StatusCode::BAD_REQUEST,
            jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
        );
        assert_eq!(
            v["id"], 1,
            "the request's id, as in the spec's example: {v}"
        );
        let data = &v["error"]["data"];
        assert_eq!(data["requested"], "1900-01-01", "{v}");
        let supported: Vec<&str> = data["supported"]
            .as_array()
            .expect("data.supported is a list")
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert!(supported.contains(&MODERN), "{supported:?}");
        for legacy in protocol::LEGACY_VERSIONS {
            assert!(supported.contains(legacy), "{supported:?}");
        }
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn methods_removed_in_2026_07_28_are_404() {
    let h = Harness::new(false);
    for (i, method) in (1u32..).zip([
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
    ]) {
        let params = serde_json::json!({ "uri": "file:///a", "level": "info" });
        let r = h
            .post(
                &modern_headers(method, None),
                &modern_body(i, method, params),
            )
            .await;
        assert_refused(&r, StatusCode::NOT_FOUND, jsonrpc::METHOD_NOT_FOUND, i);
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn subscriptions_listen_is_404_without_reaching_the_upstream() {
    for sessions in [false, true] {
        let h = Harness::new(sessions);
        let r = h
            .post(
                &modern_headers("subscriptions/listen", None),
                &modern_body(
                    5,
                    "subscriptions/listen",
                    serde_json::json!({ "notifications": { "toolsListChanged": true } }),
                ),
            )
            .await;
        assert_refused(&r, StatusCode::NOT_FOUND, jsonrpc::METHOD_NOT_FOUND, 5);
        assert!(h.calls().is_empty(), "sessions {sessions}");
    }
}

#[tokio::test]
async fn modern_batch_is_invalid_request() {
    let h = Harness::new(false);
    let one = modern_body(1, "tools/list", serde_json::json!({}));
    for body in [format!("[{one},{one}]"), format!("[{one}]")] {
        let r = h.post(&modern_headers("tools/list", None), &body).await;
        assert_rejected(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST);
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn modern_client_response_is_invalid_request() {
    let h = Harness::new(false);
    for body in [
        r#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}"#,
    ] {
        let r = h.post(&[("mcp-protocol-version", MODERN)], body).await;
        assert_rejected(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST);
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn modern_invalid_json_is_parse_error() {
    let h = Harness::new(false);
    for body in ["{nope", "", r#"{"jsonrpc":"2.0","id":1,"#] {
        let r = h.post(&modern_headers("tools/list", None), body).await;
        assert_rejected(&r, StatusCode::BAD_REQUEST, jsonrpc::PARSE_ERROR);
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn modern_notification_is_202_and_not_forwarded() {
    for sessions in [false, true] {
        let h = Harness::new(sessions);
        let with_meta = serde_json::json!({
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": { "requestId": 1, "_meta": meta_for(MODERN, true) }
        })
        .to_string();
        for body in [
            with_meta.as_str(),
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        ] {
            let r = h
                .post(
                    &[
                        ("mcp-protocol-version", MODERN),
                        ("mcp-method", "notifications/cancelled"),
                    ],
                    body,
                )
                .await;
            assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
            assert!(r.empty);
            assert!(r.content_type().is_none());
            assert!(r.header("mcp-session-id").is_none());
        }
        assert!(h.calls().is_empty(), "sessions {sessions}");
    }
}

#[tokio::test]
async fn modern_notification_with_unknown_version_is_unsupported() {
    let h = Harness::new(false);
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": { "requestId": 1, "_meta": meta_for("1900-01-01", true) }
    })
    .to_string();
    let r = h
        .post(&[("mcp-protocol-version", "1900-01-01")], &body)
        .await;
    let v = assert_rejected(
        &r,
        StatusCode::BAD_REQUEST,
        jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
    );
    assert_eq!(v["error"]["data"]["requested"], "1900-01-01");
    assert_eq!(v["error"]["data"]["supported"][0], MODERN);
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn modern_answers_take_their_status_from_the_error_code() {
    let h = Harness::new(false);
    let cases = [
        (jsonrpc::METHOD_NOT_FOUND, StatusCode::NOT_FOUND),
        (jsonrpc::INVALID_PARAMS, StatusCode::BAD_REQUEST),
        (jsonrpc::INVALID_REQUEST, StatusCode::BAD_REQUEST),
        (jsonrpc::PARSE_ERROR, StatusCode::BAD_REQUEST),
        (jsonrpc::HEADER_MISMATCH, StatusCode::BAD_REQUEST),
        (
            jsonrpc::MISSING_REQUIRED_CLIENT_CAPABILITY,
            StatusCode::BAD_REQUEST,
        ),
        (
            jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
            StatusCode::BAD_REQUEST,
        ),
        (jsonrpc::INTERNAL_ERROR, StatusCode::OK),
        (jsonrpc::REQUEST_TIMEOUT, StatusCode::OK),
        (-1, StatusCode::OK),
    ];
    for (i, (code, status)) in (1u32..).zip(cases) {
        let method = format!("{FAKE_ERROR}{code}");
        let r = h
            .post(
                &modern_headers(&method, None),
                &modern_body(i, &method, serde_json::json!({})),
            )
            .await;
        assert_eq!(r.status, status, "code {code}: {:?}", r.body);
        assert_eq!(r.content_type(), Some("application/json"));
        let v = r.json();
        assert_eq!(v["id"], i, "the upstream's answer, unchanged: {v}");
        assert_eq!(v["error"]["code"], code);
        assert_eq!(v["error"]["message"], "fake: asked to fail");
    }
    // A result is 200.
    let r = h
        .post(
            &modern_headers("tools/list", None),
            &modern_body(99, "tools/list", serde_json::json!({})),
        )
        .await;
    assert_answered(&r, 99, "tools/list");
    assert_eq!(h.calls_of(Op::Request).len(), cases.len() + 1);
    assert!(
        h.calls()
            .iter()
            .all(|c| c.modern_version.as_deref() == Some(MODERN))
    );
}

#[tokio::test]
async fn legacy_answers_stay_200_for_json_rpc_errors() {
    let h = Harness::new(false);
    for code in [
        jsonrpc::METHOD_NOT_FOUND,
        jsonrpc::INVALID_PARAMS,
        jsonrpc::HEADER_MISMATCH,
        jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
        jsonrpc::INTERNAL_ERROR,
    ] {
        let method = format!("{FAKE_ERROR}{code}");
        let r = h
            .post(
                &[("mcp-protocol-version", "2025-11-25")],
                &req_body(1, &method),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "code {code}: {:?}", r.body);
        assert_eq!(r.error_code(), code);
    }
    assert!(h.calls().iter().all(|c| c.modern_version.is_none()));
}

#[tokio::test]
async fn get_and_delete_with_the_modern_version_are_405() {
    for sessions in [false, true] {
        let h = Harness::new(sessions);
        let sid = if sessions {
            h.open_session("2025-11-25").await
        } else {
            "0123456789abcdef".to_owned()
        };
        for m in [Method::GET, Method::DELETE] {
            let r = h
                .send(request(
                    m.clone(),
                    &[
                        ("mcp-protocol-version", MODERN),
                        ("accept", "text/event-stream"),
                        ("mcp-session-id", &sid),
                    ],
                    "",
                ))
                .await;
            assert_error(&r, StatusCode::METHOD_NOT_ALLOWED, jsonrpc::INVALID_REQUEST);
            assert_eq!(r.header("allow"), Some("POST"), "{m} sessions {sessions}");
        }
        // The legacy session was not ended by the modern DELETE.
        assert!(h.calls_of(Op::EndSession).is_empty());
        if sessions {
            let r = h.post(&[("mcp-session-id", &sid)], TOOLS_LIST).await;
            assert_answered(&r, 7, "tools/list");
        }
    }
}

#[tokio::test]
async fn legacy_version_header_with_modern_meta_is_served_as_legacy() {
    let h = Harness::new(false);
    let r = h
        .post(
            &[
                ("mcp-protocol-version", "2025-06-18"),
                ("mcp-method", "tools/list"),
            ],
            &modern_body(7, "tools/list", serde_json::json!({})),
        )
        .await;
    let v = assert_answered(&r, 7, "tools/list");
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
    let c = &h.calls_of(Op::Request)[0];
    assert_eq!(c.protocol_version.as_deref(), Some("2025-06-18"));
    assert_eq!(c.modern_version, None, "a legacy exchange");
    assert_eq!(c.client_capabilities, None);
    // With sessions on, the legacy session rules apply to it.
    let h = Harness::new(true);
    let r = h
        .post(
            &[("mcp-protocol-version", "2025-06-18")],
            &modern_body(7, "tools/list", serde_json::json!({})),
        )
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST);
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn no_header_and_no_meta_is_the_legacy_default() {
    let h = Harness::new(false);
    // `_meta` without the modern keys (a progress token) is still legacy.
    for body in [
        TOOLS_LIST.to_owned(),
        r#"{"jsonrpc":"2.0","id":7,"method":"tools/list","params":{"_meta":{"progressToken":1}}}"#
            .to_owned(),
    ] {
        let r = h.post(&[], &body).await;
        let v = assert_answered(&r, 7, "tools/list");
        assert_eq!(v["result"]["protocolVersion"], protocol::DEFAULT_VERSION);
    }
    let calls = h.calls_of(Op::Request);
    assert_eq!(calls.len(), 2);
    for c in calls {
        assert_eq!(
            c.protocol_version.as_deref(),
            Some(protocol::DEFAULT_VERSION)
        );
        assert_eq!(c.modern_version, None);
    }
}

#[tokio::test]
async fn rpc_modern_request_gets_a_modern_exchange() {
    let h = Harness::new(true);
    let out =
        h.gw.rpc(
            modern_body(
                11,
                "tools/call",
                serde_json::json!({ "name": "get_weather" }),
            )
            .as_bytes(),
            RequestContext::default(),
        )
        .await
        .expect("a request is answered");
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["id"], 11);
    assert_eq!(v["result"]["method"], "tools/call");
    assert_eq!(v["result"]["protocolVersion"], MODERN);
    let c = assert_one_modern_call(&h, "tools/call");
    let info: Value = serde_json::from_str(c.client_info.as_deref().unwrap()).unwrap();
    assert_eq!(info["name"], "modern-client");
}

#[tokio::test]
async fn rpc_malformed_modern_envelope_is_invalid_params() {
    let h = Harness::new(false);
    let c = protocol::META_CLIENT_CAPABILITIES;
    for body in [
        // No capabilities.
        body_with_meta(
            12,
            "tools/list",
            serde_json::json!({}),
            serde_json::json!({ protocol::META_PROTOCOL_VERSION: MODERN }),
        ),
        // A version that is not a string.
        body_with_meta(
            12,
            "tools/list",
            serde_json::json!({}),
            serde_json::json!({ protocol::META_PROTOCOL_VERSION: 1, c: {} }),
        ),
    ] {
        let out =
            h.gw.rpc(body.as_bytes(), RequestContext::default())
                .await
                .expect("an error answer");
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["jsonrpc"], "2.0");
        assert_eq!(v["id"], 12, "{v}");
        assert_eq!(v["error"]["code"], jsonrpc::INVALID_PARAMS, "{v}");
    }
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn rpc_modern_notification_is_none_and_not_forwarded() {
    let h = Harness::new(false);
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": { "requestId": 1, "_meta": meta_for(MODERN, true) }
    })
    .to_string();
    let out = h.gw.rpc(body.as_bytes(), RequestContext::default()).await;
    assert!(out.is_none(), "{out:?}");
    assert!(h.calls().is_empty());
}

#[tokio::test]
async fn rpc_modern_unknown_version_is_unsupported() {
    let h = Harness::new(false);
    let body = body_with_meta(
        13,
        "tools/list",
        serde_json::json!({}),
        meta_for("1900-01-01", true),
    );
    let out =
        h.gw.rpc(body.as_bytes(), RequestContext::default())
            .await
            .expect("an error answer");
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["id"], 13, "{v}");
    assert_eq!(
        v["error"]["code"],
        jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
        "{v}"
    );
    assert_eq!(v["error"]["data"]["requested"], "1900-01-01");
    assert_eq!(v["error"]["data"]["supported"][0], MODERN);
    assert!(h.calls().is_empty());
}

/// A subscription over the session's limits is refused before the upstream sees it: the
/// gateway could not deliver its updates, so the child must not be told.
#[tokio::test]
async fn subscriptions_over_the_limits_never_reach_the_upstream() {
    use super::events::{MAX_SUBSCRIPTIONS, MAX_URI};
    let h = Harness::new(true);
    let session = h.open_session("2025-03-26").await;
    let sub = |id: usize, uri: &str| {
        serde_json::json!({"jsonrpc": "2.0", "id": id, "method": "resources/subscribe",
            "params": {"uri": uri}})
        .to_string()
    };
    // 2025-03-26: the version with batches.
    let headers = [("mcp-session-id", session.as_str())];
    let long = format!("test://{}", "x".repeat(MAX_URI));
    let r = h.post(&headers, &sub(1, &long)).await;
    assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_PARAMS, 1);
    // Params the gateway would read differently from the child: refused too.
    for params in [r#"["test://x"]"#, r#"{"uri":7}"#, r#"{}"#] {
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"resources/subscribe","params":{params}}}"#
        );
        let r = h.post(&headers, &body).await;
        assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_PARAMS, 1);
    }
    assert!(
        !h.calls()
            .iter()
            .any(|c| c.method.as_deref() == Some("resources/subscribe")),
        "a refused subscription reached the upstream"
    );
    for i in 0..MAX_SUBSCRIPTIONS {
        let r = h.post(&headers, &sub(i + 2, &format!("test://{i}"))).await;
        assert_eq!(r.status, StatusCode::OK);
    }
    let before = h.calls().len();
    let r = h.post(&headers, &sub(9, "test://one-too-many")).await;
    assert_refused(&r, StatusCode::BAD_REQUEST, jsonrpc::INVALID_PARAMS, 9);
    // In a batch the refusal is that member's answer; the other members run.
    let batch = format!("[{},{}]", sub(10, "test://another"), TOOLS_LIST_ID_11);
    let r = h.post(&headers, &batch).await;
    let v = r.json();
    assert_eq!(v[0]["error"]["code"], jsonrpc::INVALID_PARAMS, "{v}");
    assert_eq!(v[1]["id"], 11, "{v}");
    let methods: Vec<_> = h.calls()[before..]
        .iter()
        .map(|c| c.method.clone().unwrap_or_default())
        .collect();
    assert_eq!(methods, ["tools/list"], "only the batch's other member ran");
}

const TOOLS_LIST_ID_11: &str = r#"{"jsonrpc":"2.0","id":11,"method":"tools/list"}"#;

/// A front door that buffers (API Gateway REST, ALB) on a streaming host gets plain JSON: an SSE
/// answer would carry server requests no one could answer before it ends.
#[tokio::test]
async fn a_buffered_front_door_never_gets_an_sse_answer() {
    let h = Harness::with(
        GatewayConfig {
            stream_responses: true,
            ..Default::default()
        },
        false,
    );
    for buffered in [false, true] {
        let r = h
            .send_as(
                post(
                    &[("mcp-protocol-version", "2025-06-18")],
                    &req_body(2, "tools/call"),
                ),
                RequestContext {
                    buffered,
                    ..Default::default()
                },
            )
            .await;
        assert_eq!(r.status, StatusCode::OK);
        let last = h.calls_of(Op::Request).pop().unwrap();
        assert_eq!(last.streamed, !buffered, "buffered: {buffered}");
    }
}
