//! Sessions that survive instance changes: sealed tokens (no database) shared by two
//! `mcp-lambda` processes holding the same key. (DynamoDB-backed sessions: see
//! `sessions_dynamodb.rs`.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mcp_lambda_tests::{Mcp, Server, bin, http, post};
use serde_json::{Value, json};

const KEY: &str = "8c7b5f1f0e6d4c3b2a19080706050403020100f0e0d0c0b0a090807060504030";
const OTHER_KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

fn token_server(key: &str, extra: &[&str]) -> Server {
    let example = bin("mcp-lambda-example-server")
        .to_string_lossy()
        .into_owned();
    let mut args = vec!["--sessions", "token"];
    args.extend_from_slice(extra);
    args.push("--");
    args.push(&example);
    Server::start(&args, &[("MCP_LAMBDA_SESSION_KEYS", key)])
}

/// The same client session, pointed at another instance.
fn on(m: &Mcp, url: &str) -> Mcp {
    let mut other = Mcp::stateless(url, &m.version);
    other.session = m.session.clone();
    other
}

#[test]
fn a_token_session_opened_on_one_instance_works_on_another() {
    let a = token_server(KEY, &[]);
    let b = token_server(KEY, &[]);
    let mut on_a = Mcp::connect(&a.url, "2025-06-18", "token-client");
    let handle = on_a.session.clone().unwrap();
    assert!(handle.starts_with("mlt1."), "{handle}");
    assert!(handle.len() < 4096);
    assert_eq!(on_a.call_text("echo", json!({"message": "on A"})), "on A");
    // B has never seen this session: it initializes its own child from the token's params.
    let mut on_b = on(&on_a, &b.url);
    assert_eq!(on_b.call_text("echo", json!({"message": "on B"})), "on B");
    let seen: Value = serde_json::from_str(&on_b.call_text("client_info", json!({}))).unwrap();
    assert_eq!(
        seen["clientInfo"]["name"], "token-client",
        "B replayed the client's initialize"
    );
    // The client's params, asking for its family's newest version (docs/PROTOCOL-ERAS.md).
    assert_eq!(seen["protocolVersion"], "2025-11-25");
    assert_eq!(seen["capabilities"], json!({"roots": {}}));
}

#[test]
fn tampered_foreign_and_expired_tokens_are_404_and_delete_is_405() {
    // Long enough for the checks below on a loaded machine, short enough to wait out.
    let a = token_server(KEY, &["--session-ttl", "5s"]);
    let foreign = token_server(OTHER_KEY, &[]);
    let m = Mcp::connect(&a.url, "2025-06-18", "t");
    let handle = m.session.clone().unwrap();
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let ok = post(&a.url, &[("mcp-session-id", &handle)], list);
    assert_eq!(ok.status, 200);
    let mut bytes = handle.clone().into_bytes();
    let i = bytes.len() - 10;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    assert_eq!(
        post(&a.url, &[("mcp-session-id", &tampered)], list).status,
        404
    );
    assert_eq!(
        post(&foreign.url, &[("mcp-session-id", &handle)], list).status,
        404,
        "another key"
    );
    let d = http("DELETE", &a.url, &[("mcp-session-id", &handle)], None);
    assert_eq!(d.status, 405, "a sealed token cannot be revoked");
    // What this endpoint does allow: POST, and the GET stream a token session may open.
    assert_eq!(d.header("allow"), Some("GET, POST"));
    std::thread::sleep(Duration::from_millis(5200));
    assert_eq!(
        post(&a.url, &[("mcp-session-id", &handle)], list).status,
        404,
        "expired"
    );
}

#[test]
fn per_session_children_follow_the_token_across_instances() {
    let a = token_server(KEY, &["--lifecycle", "per-session"]);
    let b = token_server(KEY, &["--lifecycle", "per-session"]);
    let mut x = Mcp::connect(&a.url, "2025-11-25", "x");
    let mut x_on_b = on(&x, &b.url);
    let pid_b1 = x_on_b.call_text("pid", json!({}));
    let pid_b2 = x_on_b.call_text("pid", json!({}));
    assert_eq!(pid_b1, pid_b2, "one child per session per instance");
    assert_ne!(
        x.call_text("pid", json!({})),
        pid_b1,
        "each instance has its own"
    );
}

#[test]
fn real_clients_keep_one_token_session_across_two_instances() {
    let a = token_server(KEY, &[]);
    let b = token_server(KEY, &[]);
    let proxy = mcp_lambda_tests::RoundRobin::start(vec![a.base.clone(), b.base.clone()], "/mcp");
    if let Some(py) = mcp_lambda_tests::python_client() {
        let msg = json!({"message": "across instances"});
        let v = mcp_lambda_tests::py_client(&py, &proxy.url, "legacy", "echo", &msg);
        assert_eq!(v["result"]["content"][0]["text"], "across instances");
    }
    if let (Some(node), Some(_)) = (
        mcp_lambda_tests::node(),
        mcp_lambda_tests::node_module("@modelcontextprotocol/sdk/package.json"),
    ) {
        let v = mcp_lambda_tests::ts_client(
            &node,
            &proxy.url,
            "echo",
            &json!({"message": "ts across"}),
        );
        assert_eq!(v["result"]["content"][0]["text"], "ts across");
        assert!(v["sessionId"].as_str().unwrap().starts_with("mlt1."));
    }
    // Both instances served requests of those sessions.
    let served = proxy.served.load(std::sync::atomic::Ordering::Relaxed);
    assert!(served >= 6, "{served}");
    assert!(a.log().contains("request"), "A served some requests");
    assert!(
        b.log().contains("MCP server started and initialized"),
        "B started its own child:\n{}",
        b.log()
    );
}
