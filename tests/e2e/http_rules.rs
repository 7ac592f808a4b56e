//! The Streamable HTTP rules over a real socket (the gateway's unit tests cover each rule in
//! process; these check the local host adds nothing and loses nothing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_lambda_tests::{Mcp, Server, bin, http, post};
use serde_json::json;

fn server(args: &[&str]) -> Server {
    let example = bin("mcp-lambda-example-server")
        .to_string_lossy()
        .into_owned();
    let mut all: Vec<&str> = args.to_vec();
    all.push("--");
    all.push(&example);
    Server::start(&all, &[])
}

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

#[test]
fn healthz_paths_and_methods() {
    let s = server(&[]);
    let h = http("GET", &format!("{}/healthz", s.base), &[], None);
    assert_eq!((h.status, h.body.as_str()), (200, r#"{"status":"ok"}"#));
    assert_eq!(
        http("GET", &format!("{}/other", s.base), &[], None).status,
        404
    );
    // GET is a session's stream: without a session it is refused as such.
    let g = http("GET", &s.url, &[("accept", "text/event-stream")], None);
    assert_eq!(g.status, 400, "{g:?}");
    let put = http("PUT", &s.url, &[], Some("{}"));
    assert_eq!(put.status, 405);
    assert_eq!(put.header("allow"), Some("GET, POST, DELETE"));
    // Without sessions there is no GET stream.
    let none = server(&["--sessions", "none"]);
    let g = http("GET", &none.url, &[("accept", "text/event-stream")], None);
    assert_eq!(g.status, 405);
    assert_eq!(g.header("allow"), Some("POST"));
}

#[test]
fn malformed_and_invalid_bodies() {
    let s = server(&[]);
    let r = post(&s.url, &[], "{not json");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], -32700);
    let r = post(&s.url, &[], r#"{"hello":"world"}"#);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["code"], -32600);
    let r = http(
        "POST",
        &s.url,
        &[
            ("content-type", "text/plain"),
            ("accept", "application/json"),
        ],
        Some(INIT),
    );
    assert_eq!(r.status, 415);
    let r = http(
        "POST",
        &s.url,
        &[
            ("content-type", "application/json"),
            ("accept", "text/event-stream"),
        ],
        Some(INIT),
    );
    assert_eq!(r.status, 406);
    let r = post(&s.url, &[("mcp-protocol-version", "1999-01-01")], INIT);
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Unsupported protocol version")
    );
}

#[test]
fn bodies_over_the_limit_get_413_without_reaching_the_child() {
    let s = server(&["--max-message-bytes", "4096"]);
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"echo","arguments":{{"message":"{}"}}}}}}"#,
        "x".repeat(10_000)
    );
    let r = post(&s.url, &[], &big);
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["error"]["code"], -32600);
}

#[test]
fn sessions_issue_ids_and_forget_deleted_ones() {
    let s = server(&[]);
    let m = Mcp::connect(&s.url, "2025-06-18", "t");
    let id = m.session.clone().unwrap();
    assert_eq!(id.len(), 64);
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
    let r = post(
        &s.url,
        &[],
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    );
    assert_eq!(r.status, 400, "no session id");
    let r = post(
        &s.url,
        &[("mcp-session-id", "nope")],
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    );
    assert_eq!(r.status, 404, "unknown session id");
    assert_eq!(m.close(), 200);
    assert_eq!(m.close(), 404);
}

#[test]
fn sessions_off_means_no_id_and_delete_is_405() {
    let s = server(&["--sessions", "none"]);
    let r = post(&s.url, &[], INIT);
    assert_eq!(r.status, 200);
    assert!(r.header("mcp-session-id").is_none());
    assert_eq!(
        http("DELETE", &s.url, &[("mcp-session-id", "x")], None).status,
        405
    );
}

#[test]
fn origin_is_checked() {
    let s = server(&["--allow-origin", "https://app.example.com"]);
    let r = post(&s.url, &[("origin", "https://evil.example.net")], INIT);
    assert_eq!(r.status, 403);
    let r = post(&s.url, &[("origin", "https://app.example.com")], INIT);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let r = post(&s.url, &[("origin", "http://localhost:6274")], INIT);
    assert_eq!(
        r.status, 200,
        "loopback origins are fine on a loopback listener"
    );
}

#[test]
fn batches_only_in_2025_03_26_and_discover_is_a_clean_error() {
    let s = server(&["--sessions", "none"]);
    let batch = json!([
        {"jsonrpc":"2.0","id":"b","method":"tools/call","params":{"name":"echo","arguments":{"message":"second"}}},
        {"jsonrpc":"2.0","method":"notifications/initialized"},
        {"jsonrpc":"2.0","id":"a","method":"ping"}
    ])
    .to_string();
    let r = post(&s.url, &[("mcp-protocol-version", "2025-03-26")], &batch);
    assert_eq!(r.status, 200);
    let v = r.json();
    let arr = v.as_array().unwrap();
    assert_eq!(arr.len(), 2);
    assert_eq!(arr[0]["id"], "b");
    assert_eq!(arr[0]["result"]["content"][0]["text"], "second");
    assert_eq!(arr[1]["id"], "a");
    let r = post(&s.url, &[("mcp-protocol-version", "2025-06-18")], &batch);
    assert_eq!(r.status, 400);
    let r = post(
        &s.url,
        &[],
        r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}}"#,
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["error"]["code"], -32601);
    let r = post(
        &s.url,
        &[("mcp-protocol-version", "2026-07-28")],
        r#"{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}}"#,
    );
    assert_eq!(r.status, 400, "a modern-only request is a 4xx, never a 5xx");
}
