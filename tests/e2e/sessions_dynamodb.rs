//! Sessions in DynamoDB (a real `aws-sdk-dynamodb` against moto, a wire-compatible server):
//! two `mcp-lambda` processes share one table, so a session survives the instance change, a
//! DELETE on one instance is seen by the other, expiry holds, and a broken store answers 503
//! with a JSON-RPC error within the deadline instead of hanging.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use mcp_lambda_tests::{Mcp, Moto, RoundRobin, Server, bin, http, post, run};
use serde_json::{Value, json};

const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;

fn create_table(moto: &Moto, table: &str) -> String {
    let mut cmd = Command::new(bin("mcp-lambda"));
    cmd.args(["sessions", "create-table", "--table", table]);
    for (k, v) in moto.env() {
        cmd.env(k, v);
    }
    let (ok, out, err) = run(&mut cmd, Duration::from_secs(60));
    assert!(ok, "create-table failed: {err}");
    out
}

fn dynamo_server(moto: &Moto, table: &str, extra: &[&str]) -> Server {
    let example = bin("mcp-lambda-example-server")
        .to_string_lossy()
        .into_owned();
    let mut args = vec!["--sessions", "dynamodb", "--session-table", table];
    args.extend_from_slice(extra);
    args.push("--");
    args.push(&example);
    let env = moto.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    Server::start(&args, &env)
}

fn on(m: &Mcp, url: &str) -> Mcp {
    let mut other = Mcp::stateless(url, &m.version);
    other.session = m.session.clone();
    other
}

#[test]
fn create_table_is_idempotent() {
    let Some(moto) = Moto::start() else { return };
    let first = create_table(&moto, "sessions-idem");
    let second = create_table(&moto, "sessions-idem");
    assert_ne!(
        first, second,
        "the second run reports the table already existed: {first} / {second}"
    );
    assert!(second.contains("sessions-idem"), "{second}");
}

#[test]
fn a_session_survives_the_instance_change_and_delete_is_seen_everywhere() {
    let Some(moto) = Moto::start() else { return };
    create_table(&moto, "sessions-x");
    let a = dynamo_server(&moto, "sessions-x", &[]);
    let b = dynamo_server(&moto, "sessions-x", &[]);
    let mut on_a = Mcp::connect(&a.url, "2025-06-18", "dynamo-client");
    let id = on_a.session.clone().unwrap();
    assert_eq!(id.len(), 64, "a random id, not a token");
    assert_eq!(on_a.call_text("echo", json!({"message": "A"})), "A");
    let mut on_b = on(&on_a, &b.url);
    let seen: Value = serde_json::from_str(&on_b.call_text("client_info", json!({}))).unwrap();
    assert_eq!(
        seen["clientInfo"]["name"], "dynamo-client",
        "B replayed the stored initialize"
    );
    assert_eq!(on_b.close(), 200, "DELETE on B");
    let r = on_a.post_raw(&json!({"jsonrpc":"2.0","id":5,"method":"tools/list"}));
    assert_eq!(r.status, 404, "A sees the deletion");
    assert_eq!(
        http("DELETE", &a.url, &[("mcp-session-id", &id)], None).status,
        404
    );
}

#[test]
fn expired_sessions_are_404() {
    let Some(moto) = Moto::start() else { return };
    create_table(&moto, "sessions-exp");
    let a = dynamo_server(&moto, "sessions-exp", &["--session-ttl", "1s"]);
    let b = dynamo_server(&moto, "sessions-exp", &["--session-ttl", "1s"]);
    // Only the initialize: a loaded machine could take longer than the TTL to send more.
    let init = post(&a.url, &[], INIT);
    assert_eq!(init.status, 200, "{init:?}");
    let mut m = Mcp::stateless(&b.url, "2025-06-18");
    m.session = init.header("mcp-session-id").map(str::to_owned);
    assert!(m.session.is_some(), "{init:?}");
    std::thread::sleep(Duration::from_millis(2100));
    let r = m.post_raw(&json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}));
    assert_eq!(
        r.status, 404,
        "expired (DynamoDB's TTL deletion is lazy: filtered on read)"
    );
}

#[test]
fn a_missing_table_or_a_dead_endpoint_is_503_with_a_json_rpc_error_in_time() {
    let Some(moto) = Moto::start() else { return };
    // No table created.
    let s = dynamo_server(&moto, "no-such-table", &[]);
    let started = Instant::now();
    let r = post(&s.url, &[], INIT);
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.json()["error"]["code"], -32603);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let r = post(
        &s.url,
        &[("mcp-session-id", &"a".repeat(64))],
        r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#,
    );
    assert_eq!(r.status, 503);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unavailable")
    );
    drop(s);
    // The endpoint goes away under a running server.
    create_table(&moto, "sessions-down");
    let s = dynamo_server(&moto, "sessions-down", &[]);
    let m = Mcp::connect(&s.url, "2025-06-18", "t");
    drop(moto);
    let started = Instant::now();
    let r = m.post_raw(&json!({"jsonrpc":"2.0","id":3,"method":"tools/list"}));
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.json()["error"].is_object());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn real_clients_keep_one_dynamodb_session_across_two_instances() {
    let Some(moto) = Moto::start() else { return };
    create_table(&moto, "sessions-rr");
    let a = dynamo_server(&moto, "sessions-rr", &[]);
    let b = dynamo_server(&moto, "sessions-rr", &[]);
    let proxy = RoundRobin::start(vec![a.base.clone(), b.base.clone()], "/mcp");
    if let Some(py) = mcp_lambda_tests::python_client() {
        let v = mcp_lambda_tests::py_client(
            &py,
            &proxy.url,
            "legacy",
            "echo",
            &json!({"message": "py"}),
        );
        assert_eq!(v["result"]["content"][0]["text"], "py");
    }
    if let (Some(node), Some(_)) = (
        mcp_lambda_tests::node(),
        mcp_lambda_tests::node_module("@modelcontextprotocol/sdk/package.json"),
    ) {
        let v = mcp_lambda_tests::ts_client(&node, &proxy.url, "echo", &json!({"message": "ts"}));
        assert_eq!(v["result"]["content"][0]["text"], "ts");
    }
    assert!(proxy.served.load(std::sync::atomic::Ordering::Relaxed) >= 6);
}

/// A Function URL event from IAM caller `arn`, carrying `body` and maybe a session id.
fn function_url_event(arn: &str, body: &Value, session: Option<&str>) -> Value {
    let text =
        std::fs::read_to_string(mcp_lambda_tests::root().join("tests/data/function-url-iam.json"))
            .unwrap();
    let mut e: Value = serde_json::from_str(&text).unwrap();
    e["requestContext"]["authorizer"]["iam"]["userArn"] = json!(arn);
    e["body"] = json!(body.to_string());
    if let Some(s) = session {
        e["headers"]["mcp-session-id"] = json!(s);
    }
    e
}

#[test]
fn two_lambda_instances_share_sessions_bound_to_their_principal() {
    use mcp_lambda_tests::{Invocation, LambdaRuntime, MiniRuntimeApi};
    let Some(moto) = Moto::start() else { return };
    create_table(&moto, "sessions-lambda");
    let example = bin("mcp-lambda-example-server")
        .to_string_lossy()
        .into_owned();
    let mut env: Vec<(&str, String)> = moto.env();
    env.push(("MCP_LAMBDA_SESSIONS", "dynamodb".into()));
    env.push(("MCP_LAMBDA_SESSION_TABLE", "sessions-lambda".into()));
    env.push(("MCP_LAMBDA_COMMAND", example));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (api_a, api_b) = (MiniRuntimeApi::start(), MiniRuntimeApi::start());
    let _a = LambdaRuntime::start(&format!("http://{}", api_a.addr), &env);
    let _b = LambdaRuntime::start(&format!("http://{}", api_b.addr), &env);
    let invoke = |api: &MiniRuntimeApi, e: Value| {
        api.invoke(
            Invocation {
                payload: e,
                client_context: None,
                deadline_in: Duration::from_secs(30),
            },
            Duration::from_secs(30),
        )
        .unwrap()
    };
    let alice = "arn:aws:iam::123456789012:user/alice";
    let bob = "arn:aws:iam::123456789012:user/bob";
    let init: Value = serde_json::from_str(INIT).unwrap();
    let opened = invoke(&api_a, function_url_event(alice, &init, None));
    assert_eq!(opened["statusCode"], 200, "{opened}");
    let session = opened["headers"]["mcp-session-id"]
        .as_str()
        .unwrap()
        .to_string();
    let call = json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"alice on B"}}});
    let on_b = invoke(&api_b, function_url_event(alice, &call, Some(&session)));
    assert_eq!(on_b["statusCode"], 200, "{on_b}");
    assert!(on_b["body"].as_str().unwrap().contains("alice on B"));
    let bob_on_b = invoke(&api_b, function_url_event(bob, &call, Some(&session)));
    assert_eq!(
        bob_on_b["statusCode"], 404,
        "another principal's session is unknown"
    );
    // Bob cannot delete it either; alice can, and then it is gone on A too.
    let mut del = function_url_event(bob, &json!({}), Some(&session));
    del["requestContext"]["http"]["method"] = json!("DELETE");
    del["body"] = json!("");
    assert_eq!(invoke(&api_b, del.clone())["statusCode"], 404);
    del["requestContext"]["authorizer"]["iam"]["userArn"] = json!(alice);
    assert_eq!(invoke(&api_b, del)["statusCode"], 200);
    let after = invoke(&api_a, function_url_event(alice, &call, Some(&session)));
    assert_eq!(after["statusCode"], 404, "deleted on B, gone on A");
}
