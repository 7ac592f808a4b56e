//! Front-door tests: Lambda events through [`Handler::handle`] onto a real core gateway over a
//! fake upstream (in-process, no child processes).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use lambda_runtime::Context;
use mcp_lambda_core::jsonrpc::{self, Message};
use mcp_lambda_core::{
    Exchange, Gateway, GatewayConfig, InitOk, MemoryStore, Outcome, Reply, SessionStore, Upstream,
    protocol,
};
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::{Handler, HandlerConfig};
use crate::event::ACCEPTED_SHAPES;

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

use crate::fixtures::{
    AGENTCORE_ARGUMENTS, AGENTCORE_CLIENT_CONTEXT, ALB, ALB_GET, ALB_MULTI_VALUE, FUNCTION_URL_IAM,
    HTTP_API_JWT_BASE64, HTTP_API_NOTIFICATION, INVOKE_BATCH, INVOKE_MALFORMED,
    INVOKE_NOTIFICATION, INVOKE_REQUEST, REST_API, REST_API_STAGE_IN_PATH, S3_PUT,
};

const BOB_ARN: &str = "arn:aws:iam::123456789012:user/bob";

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The fake upstream
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Initialize,
    Request,
    Notify,
}

/// One call the gateway made to the upstream.
#[derive(Debug, Clone)]
struct Call {
    op: Op,
    method: Option<String>,
    params: Option<Value>,
    protocol_version: String,
    session_id: Option<String>,
    deadline: Instant,
}

#[derive(Default)]
struct Fake {
    /// Answer every request with a JSON-RPC error.
    fail_requests: bool,
    calls: Mutex<Vec<Call>>,
}

impl Fake {
    fn record(&self, op: Op, ex: &Exchange, msg: &Message) {
        self.calls.lock().unwrap().push(Call {
            op,
            method: msg.method().map(str::to_owned),
            params: msg
                .member("params")
                .map(|p| serde_json::from_str(p.get()).unwrap()),
            protocol_version: ex.protocol_version.clone(),
            session_id: ex.session_id.clone(),
            deadline: ex.deadline,
        });
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn only_call(&self) -> Call {
        let calls = self.calls();
        assert_eq!(calls.len(), 1, "{calls:?}");
        calls[0].clone()
    }
}

fn raw(v: &Value) -> Box<RawValue> {
    RawValue::from_string(v.to_string()).unwrap()
}

#[async_trait]
impl Upstream for Fake {
    async fn initialize(&self, ex: &Exchange, msg: &Message) -> Outcome<InitOk> {
        self.record(Op::Initialize, ex, msg);
        let version = msg
            .member("params")
            .and_then(|p| serde_json::from_str::<Value>(p.get()).ok())
            .and_then(|p| p["protocolVersion"].as_str().map(str::to_owned))
            .filter(|v| protocol::is_supported(v))
            .unwrap_or_else(|| protocol::LATEST_VERSION.to_owned());
        let result = json!({
            "protocolVersion": version,
            "capabilities": {},
            "serverInfo": { "name": "fake", "version": "0.0.1" }
        });
        Ok(InitOk {
            result: raw(&result).into(),
            negotiated: version,
        })
    }

    async fn request(&self, ex: &Exchange, msg: &Message) -> Outcome<Reply> {
        self.record(Op::Request, ex, msg);
        if self.fail_requests {
            return Ok(Reply::error(
                msg.id(),
                jsonrpc::INVALID_PARAMS,
                "fake: unknown tool",
            ));
        }
        let result = json!({
            "method": msg.method(),
            "protocolVersion": ex.protocol_version,
            "sessionId": ex.session_id,
        });
        Ok(Reply::result(msg.id(), &raw(&result)))
    }

    async fn notify(&self, ex: &Exchange, msg: &Message) {
        self.record(Op::Notify, ex, msg);
    }

    async fn end_session(&self, _: &str) {}

    async fn shutdown(&self) {}
}

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

struct Harness {
    handler: Handler,
    fake: Arc<Fake>,
}

const MARGIN: Duration = Duration::from_millis(500);

impl Harness {
    /// Sessions off, default gateway settings.
    fn new() -> Self {
        Self::with(Fake::default(), GatewayConfig::default(), false)
    }

    /// Sessions in a memory store.
    fn with_sessions() -> Self {
        Self::with(Fake::default(), GatewayConfig::default(), true)
    }

    fn with(fake: Fake, cfg: GatewayConfig, sessions: bool) -> Self {
        let fake = Arc::new(fake);
        let store: Option<Arc<dyn SessionStore>> = if sessions {
            Some(Arc::new(MemoryStore::new(Duration::from_secs(60))))
        } else {
            None
        };
        let gateway = Arc::new(Gateway::new(cfg, fake.clone(), store));
        let handler = Handler::new(
            gateway,
            HandlerConfig {
                path: "/mcp".into(),
                margin: MARGIN,
                metrics: false,
                stream: false,
            },
        );
        Self { handler, fake }
    }

    async fn handle(&self, event: Value) -> Value {
        self.handler.handle(event, &ctx()).await
    }
}

/// A context like the Runtime API's, with no believable deadline (the configured timeout rules).
fn ctx() -> Context {
    let mut c = Context::default();
    c.request_id = "req-1".into();
    c
}

fn agentcore_ctx() -> Context {
    let mut c = ctx();
    // `ClientContext` is not re-exported by lambda_runtime; the field's type drives the parse.
    c.client_context = Some(serde_json::from_str(AGENTCORE_CLIENT_CONTEXT).unwrap());
    c
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The JSON body of an envelope.
fn body(envelope: &Value) -> Value {
    assert_eq!(envelope["isBase64Encoded"], false, "{envelope}");
    serde_json::from_str(envelope["body"].as_str().unwrap()).unwrap()
}

/// Asserts `v` is a JSON-RPC error with `code`; returns its message.
fn rpc_error(v: &Value, code: i64) -> String {
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert_eq!(v["error"]["code"], code, "{v}");
    v["error"]["message"].as_str().unwrap().to_owned()
}

fn assert_http_v2_shape(v: &Value) {
    for k in [
        "statusCode",
        "headers",
        "body",
        "isBase64Encoded",
        "cookies",
    ] {
        assert!(v.get(k).is_some(), "{k} missing: {v}");
    }
}

fn with_body(mut event: Value, body: &Value) -> Value {
    event["body"] = json!(body.to_string());
    event["isBase64Encoded"] = json!(false);
    event
}

// ---------------------------------------------------------------------------------------------
// HTTP front doors
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn function_url_tools_call() {
    let h = Harness::new();
    let v = h.handle(fixture(FUNCTION_URL_IAM)).await;
    assert_http_v2_shape(&v);
    assert!(v.get("multiValueHeaders").is_none());
    assert_eq!(v["statusCode"], 200);
    assert_eq!(v["headers"]["content-type"], "application/json");
    let b = body(&v);
    assert_eq!(b["id"], 7);
    assert_eq!(b["result"]["method"], "tools/call");
    assert_eq!(b["result"]["protocolVersion"], "2025-06-18");
    let call = h.fake.only_call();
    assert_eq!(call.op, Op::Request);
    assert_eq!(call.method.as_deref(), Some("tools/call"));
    assert_eq!(
        call.params,
        Some(json!({"name": "echo", "arguments": {"message": "hello from a fixture"}}))
    );
}

#[tokio::test]
async fn http_api_base64_initialize() {
    let h = Harness::new();
    let v = h.handle(fixture(HTTP_API_JWT_BASE64)).await;
    assert_http_v2_shape(&v);
    assert_eq!(v["statusCode"], 200);
    let b = body(&v);
    assert_eq!(b["id"], 1);
    assert_eq!(b["result"]["protocolVersion"], "2025-06-18");
    // Sessions off: no session id.
    assert!(v["headers"].get("mcp-session-id").is_none(), "{v}");
    let call = h.fake.only_call();
    assert_eq!(call.op, Op::Initialize);
    assert_eq!(call.params.unwrap()["clientInfo"]["name"], "fixture");
}

#[tokio::test]
async fn http_api_notification_is_202_with_no_body() {
    let h = Harness::new();
    let v = h.handle(fixture(HTTP_API_NOTIFICATION)).await;
    assert_http_v2_shape(&v);
    assert_eq!(v["statusCode"], 202);
    assert_eq!(v["body"], "");
    assert_eq!(v["isBase64Encoded"], false);
    let call = h.fake.only_call();
    assert_eq!(call.op, Op::Notify);
    assert_eq!(call.method.as_deref(), Some("notifications/initialized"));
}

#[tokio::test]
async fn rest_api_ping() {
    let h = Harness::new();
    let v = h.handle(fixture(REST_API)).await;
    assert_eq!(v["statusCode"], 200);
    assert_eq!(
        v["multiValueHeaders"]["content-type"],
        json!(["application/json"])
    );
    assert!(v.get("headers").is_none(), "only multiValueHeaders: {v}");
    assert!(v.get("cookies").is_none());
    let b = body(&v);
    assert_eq!(b["id"], "p-1");
    assert_eq!(b["result"]["method"], "ping");
    assert_eq!(b["result"]["protocolVersion"], "2025-06-18");
}

#[tokio::test]
async fn rest_api_stage_in_path() {
    let h = Harness::new();
    let v = h.handle(fixture(REST_API_STAGE_IN_PATH)).await;
    assert_eq!(v["statusCode"], 200, "{v}");
    assert!(v.get("multiValueHeaders").is_some());
    let b = body(&v);
    assert_eq!(b["id"], 7);
    // No MCP-Protocol-Version header and no session: the default era.
    assert_eq!(b["result"]["protocolVersion"], protocol::DEFAULT_VERSION);
}

#[tokio::test]
async fn alb_single_value() {
    let h = Harness::new();
    let v = h.handle(fixture(ALB)).await;
    assert_eq!(v["statusCode"], 200);
    assert_eq!(v["statusDescription"], "200 OK");
    assert_eq!(v["headers"]["content-type"], "application/json");
    assert!(v.get("multiValueHeaders").is_none());
    assert_eq!(body(&v)["id"], 7);
}

#[tokio::test]
async fn alb_multi_value_answers_in_multi_value_headers() {
    let h = Harness::new();
    let v = h.handle(fixture(ALB_MULTI_VALUE)).await;
    assert_eq!(v["statusCode"], 200);
    assert_eq!(v["statusDescription"], "200 OK");
    assert_eq!(
        v["multiValueHeaders"]["content-type"],
        json!(["application/json"])
    );
    assert!(v.get("headers").is_none());
    let b = body(&v);
    assert_eq!(b["id"], "p-1");
    assert_eq!(b["result"]["method"], "ping");
}

#[tokio::test]
async fn alb_get_is_405() {
    let h = Harness::new();
    let v = h.handle(fixture(ALB_GET)).await;
    assert_eq!(v["statusCode"], 405);
    assert_eq!(v["statusDescription"], "405 Method Not Allowed");
    assert_eq!(v["headers"]["allow"], "POST");
    rpc_error(&body(&v), jsonrpc::INVALID_REQUEST);
    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn wrong_path_is_404_in_every_shape() {
    let h = Harness::new();
    let mut e = fixture(FUNCTION_URL_IAM);
    e["rawPath"] = json!("/other");
    let v = h.handle(e).await;
    assert_http_v2_shape(&v);
    assert_eq!(v["statusCode"], 404);
    let b = body(&v);
    // The core's 404, the same as the local server's: a JSON-RPC error naming the endpoint.
    assert!(
        b["error"]["message"].as_str().unwrap().contains("/mcp"),
        "{b}"
    );

    let mut e = fixture(REST_API);
    e["path"] = json!("/other");
    let v = h.handle(e).await;
    assert_eq!(v["statusCode"], 404);
    assert!(v.get("multiValueHeaders").is_some());

    let mut e = fixture(ALB_MULTI_VALUE);
    e["path"] = json!("/other");
    let v = h.handle(e).await;
    assert_eq!(v["statusCode"], 404);
    assert_eq!(v["statusDescription"], "404 Not Found");
    assert_eq!(
        v["multiValueHeaders"]["content-type"],
        json!(["application/json"])
    );

    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn healthz_is_200() {
    let h = Harness::new();
    let mut e = fixture(FUNCTION_URL_IAM);
    e["rawPath"] = json!("/healthz");
    let v = h.handle(e).await;
    assert_http_v2_shape(&v);
    assert_eq!(v["statusCode"], 200);
    assert_eq!(v["headers"]["content-type"], "application/json");
    assert_eq!(body(&v), json!({"status": "ok"}));
    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn trailing_slash_reaches_the_endpoint() {
    let h = Harness::new();
    let mut e = fixture(FUNCTION_URL_IAM);
    e["rawPath"] = json!("/mcp/");
    let v = h.handle(e).await;
    assert_eq!(v["statusCode"], 200);
    assert_eq!(body(&v)["id"], 7);
}

#[tokio::test]
async fn wrong_content_type_is_a_415_envelope() {
    let h = Harness::new();
    let mut e = fixture(FUNCTION_URL_IAM);
    e["headers"]["content-type"] = json!("text/plain");
    let v = h.handle(e).await;
    assert_http_v2_shape(&v);
    assert_eq!(v["statusCode"], 415);
    let b = body(&v);
    assert_eq!(b["id"], Value::Null);
    rpc_error(&b, jsonrpc::INVALID_REQUEST);
    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn invalid_json_body_is_a_400_envelope() {
    let h = Harness::new();
    let mut e = fixture(ALB);
    e["body"] = json!("{not json");
    let v = h.handle(e).await;
    assert_eq!(v["statusCode"], 400);
    assert_eq!(v["statusDescription"], "400 Bad Request");
    rpc_error(&body(&v), jsonrpc::PARSE_ERROR);
}

#[tokio::test]
async fn metrics_on_does_not_change_the_answer() {
    let fake = Arc::new(Fake::default());
    let gateway = Arc::new(Gateway::new(GatewayConfig::default(), fake.clone(), None));
    let handler = Handler::new(
        gateway,
        HandlerConfig {
            path: "/mcp".into(),
            margin: MARGIN,
            metrics: true,
            stream: false,
        },
    );
    let v = handler.handle(fixture(FUNCTION_URL_IAM), &ctx()).await;
    assert_eq!(v["statusCode"], 200);
    assert_eq!(body(&v)["id"], 7);
}

// ---------------------------------------------------------------------------------------------
// Direct Invoke
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn invoke_request() {
    let h = Harness::new();
    let v = h.handle(fixture(INVOKE_REQUEST)).await;
    assert_eq!(v["jsonrpc"], "2.0");
    assert_eq!(v["id"], 7);
    assert_eq!(v["result"]["method"], "tools/call");
    // A single message speaks the newest era.
    assert_eq!(v["result"]["protocolVersion"], protocol::LATEST_VERSION);
    assert!(v.get("statusCode").is_none());
    let call = h.fake.only_call();
    assert_eq!(call.op, Op::Request);
    assert_eq!(call.session_id, None);
}

#[tokio::test]
async fn invoke_notification_is_null() {
    let h = Harness::new();
    let v = h.handle(fixture(INVOKE_NOTIFICATION)).await;
    assert_eq!(v, Value::Null);
    let call = h.fake.only_call();
    assert_eq!(call.op, Op::Notify);
    assert_eq!(call.method.as_deref(), Some("notifications/initialized"));
}

#[tokio::test]
async fn invoke_batch_answers_in_order() {
    let h = Harness::new();
    let v = h.handle(fixture(INVOKE_BATCH)).await;
    let answers = v.as_array().unwrap();
    assert_eq!(answers.len(), 2, "{v}");
    assert_eq!(answers[0]["id"], 7);
    assert_eq!(answers[0]["result"]["method"], "tools/call");
    assert_eq!(answers[1]["id"], "p-1");
    assert_eq!(answers[1]["result"]["method"], "ping");
    // Batches belong to 2025-03-26.
    assert_eq!(
        answers[0]["result"]["protocolVersion"],
        protocol::DEFAULT_VERSION
    );
    let ops: Vec<(Op, Option<String>)> = h
        .fake
        .calls()
        .into_iter()
        .map(|c| (c.op, c.method))
        .collect();
    assert_eq!(
        ops,
        [
            (Op::Request, Some("tools/call".into())),
            (Op::Notify, Some("notifications/initialized".into())),
            (Op::Request, Some("ping".into())),
        ]
    );
}

#[tokio::test]
async fn invoke_malformed_is_invalid_request() {
    let h = Harness::new();
    let v = h.handle(fixture(INVOKE_MALFORMED)).await;
    assert!(v.is_object(), "{v}");
    assert_eq!(v["id"], Value::Null);
    rpc_error(&v, jsonrpc::INVALID_REQUEST);
    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn invoke_initialize_is_served() {
    let h = Harness::new();
    let v = h
        .handle(json!({
            "jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}
        }))
        .await;
    assert_eq!(v["id"], 1);
    assert_eq!(v["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(h.fake.only_call().op, Op::Initialize);
}

// ---------------------------------------------------------------------------------------------
// Bedrock AgentCore Gateway
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn agentcore_returns_the_tool_result() {
    let h = Harness::new();
    let v = h
        .handler
        .handle(fixture(AGENTCORE_ARGUMENTS), &agentcore_ctx())
        .await;
    // The tools/call result itself, not a JSON-RPC envelope.
    assert_eq!(
        v,
        json!({
            "method": "tools/call",
            "protocolVersion": protocol::LATEST_VERSION,
            "sessionId": null,
        })
    );
    let call = h.fake.only_call();
    assert_eq!(call.op, Op::Request);
    assert_eq!(call.method.as_deref(), Some("tools/call"));
    assert_eq!(
        call.params,
        Some(json!({"name": "echo", "arguments": {"message": "hello from AgentCore"}}))
    );
}

#[tokio::test]
async fn agentcore_null_arguments_become_an_empty_object() {
    let h = Harness::new();
    h.handler.handle(Value::Null, &agentcore_ctx()).await;
    let call = h.fake.only_call();
    assert_eq!(call.params, Some(json!({"name": "echo", "arguments": {}})));
}

#[tokio::test]
async fn agentcore_tool_error_is_an_error_result() {
    let h = Harness::with(
        Fake {
            fail_requests: true,
            ..Fake::default()
        },
        GatewayConfig::default(),
        false,
    );
    let v = h
        .handler
        .handle(fixture(AGENTCORE_ARGUMENTS), &agentcore_ctx())
        .await;
    assert_eq!(v["isError"], true, "{v}");
    assert_eq!(v["content"][0]["type"], "text");
    assert_eq!(v["content"][0]["text"], "fake: unknown tool");
    assert_eq!(v["error"]["code"], jsonrpc::INVALID_PARAMS);
    assert!(v.get("jsonrpc").is_none());
}

// ---------------------------------------------------------------------------------------------
// Rejected events
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn s3_event_is_a_jsonrpc_error() {
    let h = Harness::new();
    let v = h.handle(fixture(S3_PUT)).await;
    assert_eq!(v["id"], Value::Null);
    let message = rpc_error(&v, jsonrpc::INVALID_REQUEST);
    assert!(message.contains(ACCEPTED_SHAPES), "{message}");
    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn non_object_events_are_jsonrpc_errors() {
    let h = Harness::new();
    for e in [json!(42), json!("x"), Value::Null, json!([])] {
        let v = h.handle(e.clone()).await;
        let message = rpc_error(&v, jsonrpc::INVALID_REQUEST);
        assert!(
            message.contains("expected a Lambda Function URL"),
            "{e}: {message}"
        );
    }
    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn decoded_path_with_a_space_is_still_an_http_answer() {
    let h = Harness::new();
    let mut e = fixture(HTTP_API_JWT_BASE64);
    e["rawPath"] = json!("/mcp x");
    let v = h.handle(e).await;
    assert_http_v2_shape(&v);
    assert_eq!(v["statusCode"], 404, "{v}");
}

#[tokio::test]
async fn unreadable_http_events_get_a_400_in_their_own_envelope() {
    let h = Harness::new();
    let mut e = fixture(HTTP_API_JWT_BASE64);
    e["body"] = json!("not base64 at all!");
    let v = h.handle(e).await;
    assert_http_v2_shape(&v);
    assert_eq!(v["statusCode"], 400, "{v}");
    assert!(rpc_error(&body(&v), -32600).contains("base64"), "{v}");
    let mut e = fixture(ALB_MULTI_VALUE);
    e["body"] = json!("%%%");
    let v = h.handle(e).await;
    assert_eq!(v["statusCode"], 400, "{v}");
    assert!(
        v.get("multiValueHeaders").is_some(),
        "ALB multi-value shape kept: {v}"
    );
}

// ---------------------------------------------------------------------------------------------
// Deadlines
// ---------------------------------------------------------------------------------------------

fn assert_near(actual: Duration, expected: Duration) {
    let tolerance = Duration::from_millis(100);
    assert!(
        actual + tolerance >= expected && actual <= expected + tolerance,
        "{actual:?} is not within {tolerance:?} of {expected:?}"
    );
}

#[tokio::test]
async fn deadline_is_the_remaining_time_minus_the_margin() {
    let h = Harness::new();
    let mut c = ctx();
    c.deadline = now_ms() + 3_000;
    let before = Instant::now();
    h.handler.handle(fixture(INVOKE_REQUEST), &c).await;
    let left = h
        .fake
        .only_call()
        .deadline
        .saturating_duration_since(before);
    assert_near(left, Duration::from_millis(2_500));
}

#[tokio::test]
async fn deadline_applies_to_http_events_too() {
    let h = Harness::new();
    let mut c = ctx();
    c.deadline = now_ms() + 3_000;
    let before = Instant::now();
    let v = h.handler.handle(fixture(FUNCTION_URL_IAM), &c).await;
    assert_eq!(v["statusCode"], 200);
    let left = h
        .fake
        .only_call()
        .deadline
        .saturating_duration_since(before);
    assert_near(left, Duration::from_millis(2_500));
}

#[tokio::test]
async fn relative_emulator_deadline_falls_back_to_the_request_timeout() {
    let cfg = GatewayConfig {
        request_timeout: Duration::from_secs(7),
        ..GatewayConfig::default()
    };
    let h = Harness::with(Fake::default(), cfg, false);
    let mut c = ctx();
    // cargo lambda watch sends a relative 600000 (ten minutes) in Lambda-Runtime-Deadline-Ms.
    c.deadline = 600_000;
    let before = Instant::now();
    h.handler.handle(fixture(INVOKE_REQUEST), &c).await;
    let left = h
        .fake
        .only_call()
        .deadline
        .saturating_duration_since(before);
    assert_near(left, Duration::from_secs(7));
}

#[tokio::test]
async fn request_timeout_wins_when_it_is_shorter() {
    let cfg = GatewayConfig {
        request_timeout: Duration::from_secs(1),
        ..GatewayConfig::default()
    };
    let h = Harness::with(Fake::default(), cfg, false);
    let mut c = ctx();
    c.deadline = now_ms() + 60_000;
    let before = Instant::now();
    h.handler.handle(fixture(INVOKE_REQUEST), &c).await;
    let left = h
        .fake
        .only_call()
        .deadline
        .saturating_duration_since(before);
    assert_near(left, Duration::from_secs(1));
}

// ---------------------------------------------------------------------------------------------
// Sessions through Function URL events
// ---------------------------------------------------------------------------------------------

fn initialize_body() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}
    })
}

fn tools_call_body() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "echo", "arguments": {}}
    })
}

/// Initializes through function-url-iam.json (alice); returns the session id.
async fn open_session(h: &Harness) -> String {
    let v = h
        .handle(with_body(fixture(FUNCTION_URL_IAM), &initialize_body()))
        .await;
    assert_eq!(v["statusCode"], 200, "{v}");
    assert_eq!(body(&v)["result"]["protocolVersion"], "2025-06-18");
    let id = v["headers"]["mcp-session-id"].as_str().unwrap().to_owned();
    assert!(!id.is_empty());
    id
}

#[tokio::test]
async fn sessions_work_through_function_url_events() {
    let h = Harness::with_sessions();
    let sid = open_session(&h).await;

    let mut e = with_body(fixture(FUNCTION_URL_IAM), &tools_call_body());
    e["headers"]["mcp-session-id"] = json!(sid);
    let v = h.handle(e).await;
    assert_eq!(v["statusCode"], 200, "{v}");
    let b = body(&v);
    assert_eq!(b["id"], 2);
    assert_eq!(b["result"]["sessionId"], sid.as_str());
    assert_eq!(b["result"]["protocolVersion"], "2025-06-18");

    let calls = h.fake.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].session_id.as_deref(), Some(sid.as_str()));
    assert_eq!(calls[1].protocol_version, "2025-06-18");
}

#[tokio::test]
async fn sessions_require_the_session_header() {
    let h = Harness::with_sessions();
    open_session(&h).await;
    let v = h
        .handle(with_body(fixture(FUNCTION_URL_IAM), &tools_call_body()))
        .await;
    assert_eq!(v["statusCode"], 400, "{v}");
    rpc_error(&body(&v), jsonrpc::INVALID_REQUEST);
}

#[tokio::test]
async fn session_is_bound_to_the_iam_caller() {
    let h = Harness::with_sessions();
    let sid = open_session(&h).await;

    let mut e = with_body(fixture(FUNCTION_URL_IAM), &tools_call_body());
    e["headers"]["mcp-session-id"] = json!(sid);
    e["requestContext"]["authorizer"]["iam"]["userArn"] = json!(BOB_ARN);
    let v = h.handle(e).await;
    assert_http_v2_shape(&v);
    assert_eq!(v["statusCode"], 404, "{v}");
    rpc_error(&body(&v), jsonrpc::INVALID_REQUEST);
    // Only alice's initialize reached the upstream.
    let calls = h.fake.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].op, Op::Initialize);
}

#[tokio::test]
async fn session_is_bound_even_against_an_anonymous_caller() {
    let h = Harness::with_sessions();
    let sid = open_session(&h).await;

    let mut e = with_body(fixture(FUNCTION_URL_IAM), &tools_call_body());
    e["headers"]["mcp-session-id"] = json!(sid);
    e["requestContext"]
        .as_object_mut()
        .unwrap()
        .remove("authorizer");
    let v = h.handle(e).await;
    assert_eq!(v["statusCode"], 404, "{v}");
}

// ---------------------------------------------------------------------------------------------
// GET streams on Lambda
// ---------------------------------------------------------------------------------------------

/// A streaming function (`RESPONSE_STREAM`) with memory sessions.
fn streaming_harness(get_stream_max: Duration) -> Harness {
    let cfg = GatewayConfig {
        stream_responses: true,
        get_stream_max,
        ..GatewayConfig::default()
    };
    let mut h = Harness::with(Fake::default(), cfg, true);
    let gateway = h.handler.gateway().clone();
    h.handler = Handler::new(
        gateway,
        HandlerConfig {
            path: "/mcp".into(),
            margin: MARGIN,
            metrics: false,
            stream: true,
        },
    );
    h
}

/// A session opened through a streaming Function URL; returns its id.
async fn open_streaming_session(h: &Harness) -> String {
    let e = with_body(fixture(FUNCTION_URL_IAM), &initialize_body());
    match h.handler.invoke(e, &ctx()).await {
        super::Reply::Streaming(prelude, mut rx) => {
            assert_eq!(prelude.status_code, 200);
            while rx.recv().await.is_some() {}
            prelude.headers["mcp-session-id"]
                .to_str()
                .unwrap()
                .to_owned()
        }
        other => panic!("not streamed: {other:?}"),
    }
}

/// An ALB (or API Gateway) event is buffered even on a streaming function: a GET stream would
/// never end (until Lambda's timeout), so it is 405 at once, with an `Allow` without GET.
#[tokio::test]
async fn a_buffered_front_door_answers_get_with_405_at_once() {
    let h = streaming_harness(Duration::from_secs(300));
    let sid = open_streaming_session(&h).await;
    let mut e = fixture(ALB_GET);
    e["headers"]["mcp-session-id"] = json!(sid);
    let v = tokio::time::timeout(Duration::from_secs(5), h.handle(e))
        .await
        .expect("the buffered GET never ended");
    assert_eq!(v["statusCode"], 405, "{v}");
    assert_eq!(v["headers"]["allow"], "POST, DELETE");
    let message = rpc_error(&body(&v), jsonrpc::INVALID_REQUEST);
    assert!(message.contains("cannot stream"), "{message}");
}

/// A streaming Function URL's GET stream ends before the invocation's deadline (Lambda would
/// cut it off with an error) and after `get_stream_max` at the latest.
#[tokio::test]
async fn a_get_stream_ends_before_the_deadline_and_at_its_maximum() {
    for (max, deadline_in, expected) in [
        (Duration::from_secs(300), 1_500, Duration::from_secs(1)),
        (
            Duration::from_millis(700),
            60_000,
            Duration::from_millis(700),
        ),
    ] {
        let h = streaming_harness(max);
        let sid = open_streaming_session(&h).await;
        let mut e = fixture(FUNCTION_URL_IAM);
        e["requestContext"]["http"]["method"] = json!("GET");
        e["body"] = json!("");
        e["headers"]["accept"] = json!("text/event-stream");
        e["headers"]["mcp-session-id"] = json!(sid);
        let mut c = ctx();
        c.deadline = now_ms() + deadline_in;
        let started = std::time::Instant::now();
        let super::Reply::Streaming(prelude, mut rx) = h.handler.invoke(e, &c).await else {
            panic!("a GET stream is streamed");
        };
        assert_eq!(prelude.status_code, 200);
        tokio::time::timeout(Duration::from_secs(5), async {
            while rx.recv().await.is_some() {}
        })
        .await
        .expect("the GET stream did not end");
        assert_near(started.elapsed(), expected);
    }
}
