//! Event-shape tests over the fixtures in tests/data/.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use http::{HeaderValue, Method, Response, StatusCode};
use serde_json::{Value, json};

use super::{ACCEPTED_SHAPES, HttpEvent, Inbound, Origin, classify, envelope};

// ---------------------------------------------------------------------------------------------
// Fixtures and helpers
// ---------------------------------------------------------------------------------------------

use crate::fixtures::{
    AGENTCORE_ARGUMENTS, AGENTCORE_CLIENT_CONTEXT, ALB, ALB_GET, ALB_MULTI_VALUE, FUNCTION_URL_IAM,
    HTTP_API_JWT_BASE64, HTTP_API_NOTIFICATION, INVOKE_BATCH, INVOKE_MALFORMED,
    INVOKE_NOTIFICATION, INVOKE_REQUEST, REST_API, REST_API_STAGE_IN_PATH, S3_PUT,
};

/// The tools/call body several fixtures carry (id 7).
const TOOLS_CALL_BODY: &str = r#"{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "hello from a fixture"}}}"#;
/// The decoded body of http-api-jwt-base64.json.
const INITIALIZE_BODY: &str = r#"{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "fixture", "version": "1.0"}}}"#;
/// The decoded body of alb-multi-value.json.
const PING_BODY: &str = r#"{"jsonrpc": "2.0", "id": "p-1", "method": "ping"}"#;

const ALICE: &str = "iam:arn:aws:iam::123456789012:user/alice";
const BOB: &str = "iam:arn:aws:iam::123456789012:user/bob";

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// Classifies `event` (no AgentCore tool) and expects an HTTP event.
fn http(event: Value) -> HttpEvent {
    match classify(event, None) {
        Inbound::Http(h) => *h,
        other => panic!("expected an HTTP event, got {other:?}"),
    }
}

/// Classifies `event` (no AgentCore tool) and expects a rejection; returns its message.
fn unknown(event: Value) -> String {
    match classify(event, None) {
        Inbound::Unknown(why) | Inbound::BadHttp { message: why, .. } => why,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// Every value of header `name`, in order.
fn header_values(h: &HttpEvent, name: &str) -> Vec<String> {
    h.request
        .headers()
        .get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

/// The single value of header `name`.
fn header(h: &HttpEvent, name: &str) -> String {
    let values = header_values(h, name);
    assert_eq!(values.len(), 1, "{name}: {values:?}");
    values[0].clone()
}

fn body_text(h: &HttpEvent) -> &str {
    std::str::from_utf8(h.request.body()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// classify: HTTP front doors
// ---------------------------------------------------------------------------------------------

#[test]
fn function_url_iam() {
    let h = http(fixture(FUNCTION_URL_IAM));
    assert_eq!(h.origin, Origin::HttpV2);
    assert_eq!(h.request.method(), Method::POST);
    assert_eq!(h.request.uri().path(), "/mcp");
    assert_eq!(h.request.uri().query(), None);
    assert_eq!(header(&h, "content-type"), "application/json");
    assert_eq!(header(&h, "accept"), "application/json, text/event-stream");
    assert_eq!(header(&h, "mcp-protocol-version"), "2025-06-18");
    assert_eq!(header(&h, "host"), "abcdefghij.lambda-url.us-east-1.on.aws");
    assert!(h.request.headers().get("cookie").is_none());
    assert_eq!(body_text(&h), TOOLS_CALL_BODY);
    assert_eq!(h.principal.as_deref(), Some(ALICE));
}

#[test]
fn http_api_jwt_base64() {
    let h = http(fixture(HTTP_API_JWT_BASE64));
    assert_eq!(h.origin, Origin::HttpV2);
    assert_eq!(h.request.method(), Method::POST);
    assert_eq!(h.request.uri().path(), "/mcp");
    assert_eq!(h.request.uri().query(), Some("a=1&b=two"));
    assert_eq!(header(&h, "cookie"), "c1=v1");
    assert_eq!(header(&h, "content-type"), "application/json");
    assert_eq!(header(&h, "mcp-protocol-version"), "2025-06-18");
    // The body is base64 in the event and plain JSON in the request.
    assert_eq!(body_text(&h), INITIALIZE_BODY);
    assert_eq!(h.principal.as_deref(), Some("jwt:user-42"));
}

#[test]
fn http_api_notification() {
    let h = http(fixture(HTTP_API_NOTIFICATION));
    assert_eq!(h.origin, Origin::HttpV2);
    assert_eq!(h.request.method(), Method::POST);
    assert_eq!(h.request.uri().path(), "/mcp");
    assert_eq!(h.request.uri().query(), None);
    assert_eq!(
        body_text(&h),
        r#"{"jsonrpc": "2.0", "method": "notifications/initialized"}"#
    );
    // No authorizer: no principal.
    assert_eq!(h.principal, None);
}

#[test]
fn rest_api() {
    let h = http(fixture(REST_API));
    assert_eq!(h.origin, Origin::RestV1);
    assert_eq!(h.request.method(), Method::POST);
    assert_eq!(h.request.uri().path(), "/mcp");
    assert_eq!(h.request.uri().query(), None);
    // Multi-value headers win over `headers`; header names are case-insensitive.
    assert_eq!(
        header_values(&h, "accept"),
        ["application/json", "text/event-stream"]
    );
    assert_eq!(header(&h, "content-type"), "application/json");
    assert_eq!(header(&h, "mcp-protocol-version"), "2025-06-18");
    assert_eq!(body_text(&h), PING_BODY);
    assert_eq!(h.principal.as_deref(), Some(BOB));
}

#[test]
fn rest_api_stage_in_path_is_stripped() {
    let h = http(fixture(REST_API_STAGE_IN_PATH));
    assert_eq!(h.origin, Origin::RestV1);
    assert_eq!(h.request.method(), Method::POST);
    assert_eq!(h.request.uri().path(), "/mcp");
    assert_eq!(h.request.uri().query(), None);
    assert_eq!(header(&h, "accept"), "application/json");
    assert_eq!(body_text(&h), TOOLS_CALL_BODY);
    assert_eq!(h.principal.as_deref(), Some("jwt:cognito-user-7"));
}

#[test]
fn rest_stage_prefix_only_at_a_segment_boundary() {
    let mut e = fixture(REST_API_STAGE_IN_PATH);
    e["path"] = json!("/production/mcp");
    assert_eq!(http(e.clone()).request.uri().path(), "/production/mcp");
    e["path"] = json!("/prod");
    assert_eq!(http(e.clone()).request.uri().path(), "/");
    e["path"] = json!("/mcp/prod");
    assert_eq!(http(e).request.uri().path(), "/mcp/prod");
}

#[test]
fn rest_single_value_query_is_percent_encoded() {
    let mut e = fixture(REST_API);
    e["queryStringParameters"] = json!({ "q": "a b&c" });
    let h = http(e);
    // lambda_http's form encoding: a space is `+`.
    assert_eq!(h.request.uri().query(), Some("q=a+b%26c"));
}

#[test]
fn rest_lambda_authorizer_principal() {
    let mut e = fixture(REST_API_STAGE_IN_PATH);
    e["requestContext"]["authorizer"] = json!({ "principalId": "tenant-9" });
    assert_eq!(http(e).principal.as_deref(), Some("authorizer:tenant-9"));
}

#[test]
fn alb_single_value() {
    let h = http(fixture(ALB));
    assert_eq!(h.origin, Origin::Alb { multi_value: false });
    assert_eq!(h.request.method(), Method::POST);
    assert_eq!(h.request.uri().path(), "/mcp");
    // `queryStringParameters: {}`: no query.
    assert_eq!(h.request.uri().query(), None);
    assert_eq!(header(&h, "accept"), "application/json, text/event-stream");
    assert_eq!(header(&h, "x-forwarded-for"), "203.0.113.11");
    assert_eq!(body_text(&h), TOOLS_CALL_BODY);
    assert_eq!(h.principal, None);
}

#[test]
fn alb_multi_value() {
    let h = http(fixture(ALB_MULTI_VALUE));
    assert_eq!(h.origin, Origin::Alb { multi_value: true });
    assert_eq!(h.request.method(), Method::POST);
    assert_eq!(h.request.uri().path(), "/mcp");
    assert_eq!(h.request.uri().query(), Some("x=1&x=2"));
    assert_eq!(
        header_values(&h, "accept"),
        ["text/event-stream", "application/json"]
    );
    assert_eq!(header(&h, "content-type"), "application/json");
    assert_eq!(body_text(&h), PING_BODY);
    assert_eq!(h.principal, None);
}

#[test]
fn alb_get() {
    let h = http(fixture(ALB_GET));
    assert_eq!(h.origin, Origin::Alb { multi_value: false });
    assert_eq!(h.request.method(), Method::GET);
    assert_eq!(h.request.uri().path(), "/mcp");
    assert_eq!(header(&h, "accept"), "text/event-stream");
    assert!(h.request.body().is_empty());
    assert_eq!(h.principal, None);
}

#[test]
fn alb_path_keeps_a_leading_segment() {
    // No stage stripping for ALB, even if requestContext happened to name one.
    let mut e = fixture(ALB);
    e["path"] = json!("/prod/mcp");
    e["requestContext"]["stage"] = json!("prod");
    assert_eq!(http(e).request.uri().path(), "/prod/mcp");
}

#[test]
fn v2_multiple_cookies_are_joined() {
    let mut e = fixture(FUNCTION_URL_IAM);
    e["cookies"] = json!(["a=1", "b=2"]);
    assert_eq!(header(&http(e), "cookie"), "a=1; b=2");
}

#[test]
fn v2_path_falls_back_to_request_context() {
    let mut e = fixture(FUNCTION_URL_IAM);
    e.as_object_mut().unwrap().remove("rawPath");
    e["requestContext"]["http"]["path"] = json!("/from-context");
    assert_eq!(http(e).request.uri().path(), "/from-context");
}

#[test]
fn v2_missing_body_is_empty() {
    let mut e = fixture(FUNCTION_URL_IAM);
    e.as_object_mut().unwrap().remove("body");
    assert!(http(e).request.body().is_empty());
}

#[test]
fn v2_principal_falls_through_empty_values() {
    let mut e = fixture(FUNCTION_URL_IAM);
    e["requestContext"]["authorizer"] = json!({
        "iam": { "userArn": "" },
        "lambda": { "principalId": "p-3" }
    });
    assert_eq!(http(e).principal.as_deref(), Some("authorizer:p-3"));
}

#[test]
fn unusable_header_values_make_the_event_malformed() {
    let mut e = fixture(FUNCTION_URL_IAM);
    e["headers"]["x-bad"] = json!("line\nbreak");
    assert!(unknown(e).starts_with("malformed HTTP event"));
}

// ---------------------------------------------------------------------------------------------
// classify: direct Invoke and AgentCore
// ---------------------------------------------------------------------------------------------

fn rpc_bytes(event: Value) -> Bytes {
    match classify(event, None) {
        Inbound::Rpc(b) => b,
        other => panic!("expected Rpc, got {other:?}"),
    }
}

#[test]
fn invoke_fixtures_are_rpc_with_the_same_json() {
    for text in [
        INVOKE_REQUEST,
        INVOKE_NOTIFICATION,
        INVOKE_BATCH,
        INVOKE_MALFORMED,
    ] {
        let event = fixture(text);
        let bytes = rpc_bytes(event.clone());
        let back: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back, event, "{text}");
    }
}

#[test]
fn invoke_batch_stays_an_array() {
    let bytes = rpc_bytes(fixture(INVOKE_BATCH));
    let back: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back.as_array().unwrap().len(), 3);
    assert_eq!(back[0]["id"], 7);
    assert_eq!(back[2]["id"], "p-1");
}

#[test]
fn agentcore_tool_from_client_context() {
    let cc = fixture(AGENTCORE_CLIENT_CONTEXT);
    let name = cc["custom"]["bedrockAgentCoreToolName"].as_str().unwrap();
    assert_eq!(name, "mcp-target___echo");
    match classify(fixture(AGENTCORE_ARGUMENTS), Some(name)) {
        Inbound::AgentCore { tool, arguments } => {
            assert_eq!(tool, "echo");
            assert_eq!(arguments, json!({ "message": "hello from AgentCore" }));
        }
        other => panic!("expected AgentCore, got {other:?}"),
    }
}

#[test]
fn agentcore_tool_without_separator_is_the_tool() {
    match classify(json!({}), Some("echo")) {
        Inbound::AgentCore { tool, arguments } => {
            assert_eq!(tool, "echo");
            assert_eq!(arguments, json!({}));
        }
        other => panic!("expected AgentCore, got {other:?}"),
    }
}

#[test]
fn agentcore_prefix_ends_at_the_first_separator() {
    // Target names cannot contain underscores; the rest is the tool's own name.
    match classify(json!({}), Some("t-1___my___tool")) {
        Inbound::AgentCore { tool, .. } => assert_eq!(tool, "my___tool"),
        other => panic!("expected AgentCore, got {other:?}"),
    }
}

#[test]
fn agentcore_tool_name_wins_over_the_event_shape() {
    // With a tool name in the client context the event is the tool's arguments, whatever it is.
    let event = fixture(INVOKE_REQUEST);
    match classify(event.clone(), Some("t___echo")) {
        Inbound::AgentCore { tool, arguments } => {
            assert_eq!(tool, "echo");
            assert_eq!(arguments, event);
        }
        other => panic!("expected AgentCore, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// classify: rejections
// ---------------------------------------------------------------------------------------------

#[test]
fn s3_event_is_unknown_and_names_the_accepted_shapes() {
    let why = unknown(fixture(S3_PUT));
    assert!(why.contains("expected a Lambda Function URL"), "{why}");
    assert!(why.contains(ACCEPTED_SHAPES), "{why}");
}

#[test]
fn non_objects_are_unknown() {
    for v in [
        json!(42),
        json!("x"),
        Value::Null,
        json!(true),
        json!([1, 2]),
        json!([]),
    ] {
        let why = unknown(v.clone());
        assert!(why.contains("expected a Lambda Function URL"), "{v}: {why}");
    }
}

#[test]
fn v2_without_method_is_malformed() {
    let mut e = fixture(FUNCTION_URL_IAM);
    e["requestContext"]["http"]
        .as_object_mut()
        .unwrap()
        .remove("method");
    let why = unknown(e);
    assert!(why.starts_with("malformed HTTP event"), "{why}");
}

#[test]
fn alb_without_method_is_malformed() {
    let mut e = fixture(ALB);
    e.as_object_mut().unwrap().remove("httpMethod");
    let why = unknown(e);
    assert!(why.starts_with("malformed HTTP event"), "{why}");
}

#[test]
fn v2_invalid_method_is_malformed() {
    let mut e = fixture(FUNCTION_URL_IAM);
    e["requestContext"]["http"]["method"] = json!("PO ST");
    let why = unknown(e);
    assert!(why.starts_with("malformed HTTP event"), "{why}");
}

#[test]
fn invalid_base64_body_is_malformed() {
    for text in [HTTP_API_JWT_BASE64, ALB_MULTI_VALUE] {
        let mut e = fixture(text);
        e["body"] = json!("not base64 at all!");
        let why = unknown(e);
        assert!(why.starts_with("malformed HTTP event"), "{why}");
        assert!(why.contains("base64"), "{why}");
    }
}

#[test]
fn v2_needs_version_2() {
    // `requestContext.http` without `version: "2.0"` is not taken for a payload 2.0 event.
    let mut e = fixture(FUNCTION_URL_IAM);
    e.as_object_mut().unwrap().remove("version");
    let why = unknown(e);
    assert!(why.contains("expected a Lambda Function URL"), "{why}");
}

// ---------------------------------------------------------------------------------------------
// envelope
// ---------------------------------------------------------------------------------------------

fn response(status: u16, headers: &[(&'static str, &'static str)], body: &[u8]) -> Response<Bytes> {
    let mut r = Response::new(Bytes::copy_from_slice(body));
    *r.status_mut() = StatusCode::from_u16(status).unwrap();
    for (k, v) in headers {
        r.headers_mut().append(*k, HeaderValue::from_static(v));
    }
    r
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

const JSON_BODY: &str = r#"{"jsonrpc":"2.0","id":7,"result":{}}"#;

#[test]
fn envelope_http_v2() {
    let r = response(
        200,
        &[
            ("content-type", "application/json"),
            ("mcp-session-id", "abc"),
        ],
        JSON_BODY.as_bytes(),
    );
    let v = envelope(Origin::HttpV2, r);
    assert_eq!(
        keys(&v),
        [
            "body",
            "cookies",
            "headers",
            "isBase64Encoded",
            "statusCode"
        ]
    );
    assert_eq!(v["statusCode"], 200);
    assert_eq!(v["headers"]["content-type"], "application/json");
    assert_eq!(v["headers"]["mcp-session-id"], "abc");
    assert_eq!(v["body"], JSON_BODY);
    assert_eq!(v["isBase64Encoded"], false);
    assert_eq!(v["cookies"], json!([]));
}

#[test]
fn envelope_rest_v1_keeps_every_value() {
    let r = response(
        400,
        &[
            ("content-type", "application/json"),
            ("vary", "Origin"),
            ("vary", "Accept"),
        ],
        JSON_BODY.as_bytes(),
    );
    let v = envelope(Origin::RestV1, r);
    assert_eq!(
        keys(&v),
        ["body", "isBase64Encoded", "multiValueHeaders", "statusCode"],
        "API Gateway would repeat a header given in both maps"
    );
    assert_eq!(v["statusCode"], 400);
    assert_eq!(v["multiValueHeaders"]["vary"], json!(["Origin", "Accept"]));
    assert_eq!(
        v["multiValueHeaders"]["content-type"],
        json!(["application/json"])
    );
    assert_eq!(v["body"], JSON_BODY);
    assert_eq!(v["isBase64Encoded"], false);
}

#[test]
fn envelope_alb_single_value() {
    let r = response(202, &[("vary", "Origin"), ("vary", "Accept")], b"");
    let v = envelope(Origin::Alb { multi_value: false }, r);
    assert_eq!(
        keys(&v),
        [
            "body",
            "headers",
            "isBase64Encoded",
            "statusCode",
            "statusDescription"
        ]
    );
    assert_eq!(v["statusCode"], 202);
    assert_eq!(v["statusDescription"], "202 Accepted");
    assert_eq!(v["headers"]["vary"], "Origin, Accept");
    assert_eq!(v["body"], "");
    assert_eq!(v["isBase64Encoded"], false);
}

#[test]
fn envelope_alb_multi_value() {
    let r = response(
        200,
        &[
            ("content-type", "application/json"),
            ("vary", "Origin"),
            ("vary", "Accept"),
        ],
        JSON_BODY.as_bytes(),
    );
    let v = envelope(Origin::Alb { multi_value: true }, r);
    assert_eq!(
        keys(&v),
        [
            "body",
            "isBase64Encoded",
            "multiValueHeaders",
            "statusCode",
            "statusDescription"
        ]
    );
    assert!(v.get("headers").is_none());
    assert_eq!(v["statusDescription"], "200 OK");
    assert_eq!(v["multiValueHeaders"]["vary"], json!(["Origin", "Accept"]));
    assert_eq!(
        v["multiValueHeaders"]["content-type"],
        json!(["application/json"])
    );
    assert_eq!(v["body"], JSON_BODY);
}

#[test]
fn envelope_alb_status_without_a_reason() {
    let v = envelope(Origin::Alb { multi_value: false }, response(599, &[], b""));
    assert_eq!(v["statusDescription"], "599");
}

#[test]
fn envelope_non_utf8_body_is_base64() {
    let bytes = [0xff, 0xfe, 0x00, 0x01, b'a'];
    for origin in [
        Origin::HttpV2,
        Origin::RestV1,
        Origin::Alb { multi_value: false },
        Origin::Alb { multi_value: true },
    ] {
        let v = envelope(origin, response(200, &[], &bytes));
        assert_eq!(v["isBase64Encoded"], true, "{origin:?}");
        assert_eq!(v["body"], "//4AAWE=", "{origin:?}");
    }
}

#[test]
fn envelope_empty_headers_are_empty_objects() {
    let v = envelope(Origin::RestV1, response(204, &[], b""));
    assert_eq!(v["multiValueHeaders"], json!({}));
    assert_eq!(v["body"], "");
    let v = envelope(Origin::HttpV2, response(204, &[], b""));
    assert_eq!(v["headers"], json!({}));
}

// ---------------------------------------------------------------------------------------------
// Known bugs
// ---------------------------------------------------------------------------------------------

#[test]
fn alb_query_is_not_encoded_twice() {
    let mut e = fixture(ALB);
    e["queryStringParameters"] = json!({ "q": "a%20b" });
    assert_eq!(http(e).request.uri().query(), Some("q=a+b"));
    let mut e = fixture(ALB_MULTI_VALUE);
    e["multiValueQueryStringParameters"] = json!({ "q": ["a%20b", "c%2Fd"] });
    assert_eq!(http(e).request.uri().query(), Some("q=a+b&q=c%2Fd"));
}

#[test]
fn decoded_v2_path_is_still_an_http_event() {
    let mut e = fixture(HTTP_API_JWT_BASE64);
    e["rawPath"] = json!("/mcp x");
    // An HTTP request (re-escaped, e.g. "/mcp%20x"), which the handler then answers with a 404.
    let h = http(e);
    assert_ne!(h.request.uri().path(), "/mcp");
}

#[test]
fn the_public_base_comes_from_the_request_context_never_from_host() {
    let h = http(fixture(FUNCTION_URL_IAM));
    assert_eq!(
        h.public_base.as_deref(),
        Some("https://abcdefghij.lambda-url.us-east-1.on.aws")
    );
    let h = http(fixture(REST_API));
    assert_eq!(
        h.public_base.as_deref(),
        Some("https://abc123.execute-api.us-east-1.amazonaws.com/prod")
    );
    let mut e = fixture(REST_API_STAGE_IN_PATH);
    e["requestContext"]["domainName"] = json!("mcp.example.com");
    assert_eq!(
        http(e.clone()).public_base.as_deref(),
        Some("https://mcp.example.com/prod")
    );
    // Something that is not a host name is not used.
    e["requestContext"]["domainName"] = json!("evil.example.com/x?");
    assert_eq!(http(e).public_base, None);
    // ALB: the Host is the client's.
    assert_eq!(http(fixture(ALB)).public_base, None);
}

// ---------------------------------------------------------------------------------------------
// Hostile shapes lambda_http would panic on: refused, never a panic
// ---------------------------------------------------------------------------------------------

#[test]
fn a_host_that_is_no_host_is_kept_as_a_header_and_never_parsed() {
    for host in ["a b", "[", "xn--zz", "h:99999", "u@h"] {
        for fixture_text in [FUNCTION_URL_IAM, REST_API, ALB, ALB_MULTI_VALUE] {
            let mut e = fixture(fixture_text);
            if e.get("multiValueHeaders")
                .is_some_and(|m| !m.as_object().unwrap().is_empty())
            {
                e["multiValueHeaders"]["host"] = json!([host]);
            }
            e["headers"]["host"] = json!(host);
            let h = http(e);
            assert_eq!(h.request.uri().path(), "/mcp", "{host}");
            assert_eq!(header(&h, "host"), host);
        }
    }
}

#[test]
fn a_path_without_a_leading_slash_is_malformed() {
    for path in [":99999", "mcp", ""] {
        let mut e = fixture(FUNCTION_URL_IAM);
        e["rawPath"] = json!(path);
        assert!(unknown(e).contains("must start with '/'"), "{path}");
    }
}

#[test]
fn a_raw_query_a_uri_cannot_carry_is_encoded() {
    let mut e = fixture(FUNCTION_URL_IAM);
    e["rawQueryString"] = json!("a=b c&d=\"{}|#%zz&e=%41");
    let h = http(e);
    assert_eq!(
        h.request.uri().query(),
        Some("a=b%20c&d=%22%7B%7D%7C%23%25zz&e=%41")
    );
}

#[test]
fn a_hostile_path_becomes_a_valid_uri() {
    let mut e = fixture(FUNCTION_URL_IAM);
    e["rawPath"] = json!("/a b/%/\\/ü/?#");
    let h = http(e);
    assert_eq!(h.request.uri().path(), "/a%20b/%25/%5C/%C3%BC/%3F%23");
}

#[test]
fn query_parameters_without_values_are_dropped() {
    for (text, key) in [
        (REST_API, "multiValueQueryStringParameters"),
        (ALB_MULTI_VALUE, "multiValueQueryStringParameters"),
        (ALB, "queryStringParameters"),
    ] {
        let mut e = fixture(text);
        e[key] = json!({"x": [], "y": null, "z": ["1"]});
        if key == "queryStringParameters" {
            e[key] = json!({"y": null, "z": "1"});
        }
        assert_eq!(http(e).request.uri().query(), Some("z=1"), "{key}");
    }
}

#[test]
fn a_uri_longer_than_the_limit_is_malformed() {
    let long = "a".repeat(super::MAX_URI_BYTES);
    let mut e = fixture(ALB);
    e["path"] = json!(format!("/{long}"));
    assert!(unknown(e).contains("URI is longer"));
    let mut e = fixture(REST_API);
    e["multiValueQueryStringParameters"] = json!({"q": [long]});
    assert!(unknown(e).contains("URI is longer"));
    // A long name counts once for each of its values.
    let mut e = fixture(ALB_MULTI_VALUE);
    let name = "n".repeat(super::MAX_URI_BYTES / 8);
    e["multiValueQueryStringParameters"] = json!({name: ["1", "2", "3"]});
    assert!(unknown(e).contains("URI is longer"));
    let mut e = fixture(FUNCTION_URL_IAM);
    e["rawQueryString"] = json!(long);
    assert!(unknown(e).contains("URI is longer"));
    // Just under it is fine.
    let mut e = fixture(FUNCTION_URL_IAM);
    e["rawQueryString"] = json!("a".repeat(super::MAX_URI_BYTES - 10));
    assert_eq!(http(e).request.uri().path(), "/mcp");
}

#[test]
fn an_http_api_path_is_the_raw_path_whatever_the_stage() {
    let mut e = fixture(FUNCTION_URL_IAM);
    e["requestContext"]["stage"] = json!("a".repeat(super::MAX_URI_BYTES));
    assert_eq!(http(e.clone()).request.uri().path(), "/mcp");
    e["requestContext"]["stage"] = json!("prod");
    e["rawPath"] = json!("/prod/mcp");
    assert_eq!(http(e).request.uri().path(), "/prod/mcp");
}

#[test]
fn multi_value_headers_are_not_overwritten_by_the_last_value() {
    for text in [REST_API, ALB_MULTI_VALUE] {
        let mut e = fixture(text);
        e["multiValueHeaders"] = json!({
            "accept": ["application/json", "text/event-stream"],
            "content-type": ["application/json"],
        });
        e["headers"] = json!({"accept": "text/event-stream"});
        assert_eq!(
            header_values(&http(e), "accept"),
            ["application/json", "text/event-stream"]
        );
    }
}

#[test]
fn dot_segments_stay_in_the_path() {
    let mut e = fixture(REST_API);
    e["path"] = json!("/x/../mcp");
    assert_eq!(http(e).request.uri().path(), "/x/../mcp");
    let mut e = fixture(ALB);
    e["path"] = json!("/x/%2e%2e/mcp");
    assert_eq!(http(e).request.uri().path(), "/x/%2e%2e/mcp");
    let mut e = fixture(FUNCTION_URL_IAM);
    e["rawPath"] = json!("/./mcp");
    e["rawQueryString"] = json!("a=1");
    let h = http(e);
    assert_eq!(h.request.uri().path(), "/./mcp");
    assert_eq!(h.request.uri().query(), Some("a=1"));
}

#[test]
fn too_many_header_names_are_malformed() {
    let many: serde_json::Map<String, Value> = (0..=super::MAX_HEADER_NAMES)
        .map(|i| (format!("h{i}"), json!("")))
        .collect();
    let mut e = fixture(FUNCTION_URL_IAM);
    e["headers"] = Value::Object(many.clone());
    assert!(unknown(e).contains("header names"));
    let mut e = fixture(ALB);
    e["headers"] = Value::Object(many);
    assert!(unknown(e).contains("header names"));
}

#[test]
fn a_comma_in_a_single_value_query_is_one_value() {
    let mut e = fixture(ALB);
    e["queryStringParameters"] = json!({"a": "x,y"});
    assert_eq!(http(e).request.uri().query(), Some("a=x%2Cy"));
}
