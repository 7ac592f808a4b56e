//! The three child lifecycles, handshake fidelity, restarts and the environment allow-list,
//! end to end: the real binary serving the bundled example server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use mcp_lambda_tests::{Mcp, Server, alive, bin, wait_gone};
use serde_json::{Value, json};

fn pid(m: &mut Mcp) -> u32 {
    m.call_text("pid", json!({})).parse().unwrap()
}

fn example() -> String {
    bin("mcp-lambda-example-server")
        .to_string_lossy()
        .into_owned()
}

#[test]
fn reuse_shares_one_child_per_version_and_answers_later_initializes_from_it() {
    let s = Server::start(&["--", &example()], &[]);
    let mut a = Mcp::connect(&s.url, "2025-06-18", "client-a");
    let mut b = Mcp::connect(&s.url, "2025-06-18", "client-b");
    let (pa, pb) = (pid(&mut a), pid(&mut b));
    assert_eq!(pa, pb, "same version → same child");
    assert_eq!(pid(&mut a), pa, "the child lives on between requests");
    // The child saw the first client's own initialize, once.
    let seen: Value = serde_json::from_str(&a.call_text("client_info", json!({}))).unwrap();
    assert_eq!(seen["clientInfo"]["name"], "client-a");
    assert_eq!(seen["capabilities"], json!({"roots": {}}));
    // Another version gets a child of its own.
    let mut c = Mcp::connect(&s.url, "2025-03-26", "client-c");
    assert_eq!(c.version, "2025-03-26");
    assert_ne!(pid(&mut c), pa, "different version → different child");
}

#[test]
fn reuse_restarts_a_dead_child_transparently_replaying_the_clients_initialize() {
    let fixture = bin("fixture-server").to_string_lossy().into_owned();
    let s = Server::start(&["--", &fixture], &[]);
    let mut a = Mcp::connect(&s.url, "2025-11-25", "replayed-client");
    let first = pid(&mut a);
    let err = a.call_error("crash", json!({"code": 3}));
    assert_eq!(err["code"], -32603);
    assert!(wait_gone(first, Duration::from_secs(5)));
    // Next request: a new child, initialized with the same client's params, exactly once.
    let second = pid(&mut a);
    assert_ne!(first, second);
    assert_eq!(a.call_text("init_count", json!({})), "1");
    let seen: Value = serde_json::from_str(&a.call_text("client_info", json!({}))).unwrap();
    assert_eq!(seen["clientInfo"]["name"], "replayed-client");
    assert_eq!(seen["protocolVersion"], "2025-11-25");
}

#[test]
fn per_request_spawns_a_child_for_every_request_and_terminates_it() {
    let s = Server::start(&["--lifecycle", "per-request", "--", &example()], &[]);
    let mut a = Mcp::connect(&s.url, "2025-06-18", "per-request-client");
    let p1 = pid(&mut a);
    let p2 = pid(&mut a);
    assert_ne!(p1, p2, "each request gets its own child");
    assert!(
        wait_gone(p1, Duration::from_secs(5)),
        "finished children are terminated"
    );
    // Each fresh child is initialized with the session's own params.
    let seen: Value = serde_json::from_str(&a.call_text("client_info", json!({}))).unwrap();
    assert_eq!(seen["clientInfo"]["name"], "per-request-client");
    assert_eq!(seen["protocolVersion"], "2025-06-18");
}

#[test]
fn per_session_gives_each_session_its_own_child_ended_by_delete() {
    let s = Server::start(&["--lifecycle", "per-session", "--", &example()], &[]);
    let mut a = Mcp::connect(&s.url, "2025-06-18", "a");
    let mut b = Mcp::connect(&s.url, "2025-06-18", "b");
    let (pa, pb) = (pid(&mut a), pid(&mut b));
    assert_ne!(pa, pb);
    assert_eq!(pid(&mut a), pa);
    let seen: Value = serde_json::from_str(&b.call_text("client_info", json!({}))).unwrap();
    assert_eq!(seen["clientInfo"]["name"], "b");
    assert_eq!(a.close(), 200);
    assert!(
        wait_gone(pa, Duration::from_secs(5)),
        "DELETE terminates the session's child"
    );
    assert!(alive(pb));
    let r = a.post_raw(&json!({"jsonrpc":"2.0","id":9,"method":"tools/list"}));
    assert_eq!(r.status, 404, "a deleted session is gone");
}

#[test]
fn per_session_reaps_idle_children_and_restarts_them_from_the_session() {
    let s = Server::start(
        &[
            "--lifecycle",
            "per-session",
            "--idle-timeout",
            "300ms",
            "--",
            &example(),
        ],
        &[],
    );
    let mut a = Mcp::connect(&s.url, "2025-06-18", "idle-client");
    let p1 = pid(&mut a);
    assert!(wait_gone(p1, Duration::from_secs(5)), "idle child reaped");
    let p2 = pid(&mut a);
    assert_ne!(p1, p2);
    let seen: Value = serde_json::from_str(&a.call_text("client_info", json!({}))).unwrap();
    assert_eq!(
        seen["clientInfo"]["name"], "idle-client",
        "restarted from the session's params"
    );
}

#[test]
fn stateless_clients_work_without_initialize_when_sessions_are_off() {
    let s = Server::start(&["--sessions", "none", "--", &example()], &[]);
    let mut m = Mcp::stateless(&s.url, "2025-06-18");
    assert_eq!(
        m.call_text("echo", json!({"message": "no handshake"})),
        "no handshake"
    );
    let seen: Value = serde_json::from_str(&m.call_text("client_info", json!({}))).unwrap();
    // Synthesized for the header's version family: one child serves 2025-06-18 and
    // 2025-11-25 clients and is asked for the newer one (docs/PROTOCOL-ERAS.md).
    assert_eq!(
        seen["protocolVersion"], "2025-11-25",
        "synthesized for the header's family"
    );
    assert_eq!(seen["clientInfo"]["name"], "mcp-lambda");
}

#[test]
fn child_environment_is_an_allow_list() {
    let secret = [
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
        ("AWS_SECRET_ACCESS_KEY", "super-secret"),
        ("AWS_SESSION_TOKEN", "token"),
        ("DATABASE_URL", "postgres://secret"),
        ("MY_TOKEN", "passed"),
    ];
    let s = Server::start(
        &[
            "--pass-env",
            "MY_TOKEN",
            "--env",
            "EXTRA=given",
            "--",
            &example(),
        ],
        &secret,
    );
    let mut m = Mcp::connect(&s.url, "2025-06-18", "env");
    for name in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "DATABASE_URL",
        "MCP_LAMBDA_LOG_LEVEL",
    ] {
        assert_eq!(
            m.call_text("env", json!({"name": name})),
            "<unset>",
            "{name} must not reach the child"
        );
    }
    assert_eq!(m.call_text("env", json!({"name": "MY_TOKEN"})), "passed");
    assert_eq!(m.call_text("env", json!({"name": "EXTRA"})), "given");
    assert_ne!(m.call_text("env", json!({"name": "PATH"})), "<unset>");
    // Asked for explicitly, a credential does cross.
    drop(s);
    let s = Server::start(
        &["--pass-env", "AWS_SECRET_ACCESS_KEY", "--", &example()],
        &secret,
    );
    let mut m = Mcp::connect(&s.url, "2025-06-18", "env");
    assert_eq!(
        m.call_text("env", json!({"name": "AWS_SECRET_ACCESS_KEY"})),
        "super-secret"
    );
}

#[test]
fn embedded_default_serves_the_bundled_example_server() {
    let s = Server::start(&[], &[]);
    let mut m = Mcp::connect(&s.url, "2025-11-25", "default");
    assert_eq!(m.call_text("add", json!({"a": 2, "b": 40})), "42");
    let info = m.request("tools/list", json!({}));
    let names: Vec<&str> = info["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"slow") && names.contains(&"fail"),
        "{names:?}"
    );
    let r = m.call("fail", json!({}));
    assert_eq!(r["isError"], true);
}

#[test]
fn reuse_never_initializes_a_child_twice_even_when_stateless_and_session_clients_mix() {
    let fixture = bin("fixture-server").to_string_lossy().into_owned();
    let s = Server::start(&["--", &fixture], &[]);
    // Two session clients of the same version: one child, initialized once.
    let mut a = Mcp::connect(&s.url, "2025-06-18", "first");
    let mut b = Mcp::connect(&s.url, "2025-06-18", "second");
    assert_eq!(pid(&mut a), pid(&mut b));
    assert_eq!(b.call_text("init_count", json!({})), "1");
    drop(s);
    // Sessions off: a stateless request starts the child on the client's behalf; a later
    // initialize for that version is answered by the same child, not a new one.
    let s = Server::start(&["--sessions", "none", "--", &fixture], &[]);
    let mut st = Mcp::stateless(&s.url, "2025-11-25");
    let first = pid(&mut st);
    let mut c = Mcp::connect(&s.url, "2025-11-25", "late");
    assert_eq!(c.version, "2025-11-25");
    assert_eq!(pid(&mut c), first);
    assert_eq!(c.call_text("init_count", json!({})), "1");
}

#[test]
fn per_session_child_is_still_reaped_after_a_client_hangs_up_mid_request() {
    use std::io::Write;
    let s = Server::start(
        &[
            "--lifecycle",
            "per-session",
            "--idle-timeout",
            "300ms",
            "--",
            &example(),
        ],
        &[],
    );
    let mut a = Mcp::connect(&s.url, "2025-06-18", "hang-up");
    let child = pid(&mut a);
    // A slow call whose client disconnects before the answer: the request future is dropped.
    let body = json!({"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"slow","arguments":{"ms":1500}}}).to_string();
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json\r\nMcp-Session-Id: {}\r\nMCP-Protocol-Version: 2025-06-18\r\nContent-Length: {}\r\n\r\n{body}",
        a.session.as_deref().unwrap(),
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    drop(conn);
    // The session's child is no longer counted busy: once idle it is reaped.
    assert!(
        wait_gone(child, Duration::from_secs(6)),
        "reaped after the client hung up"
    );
}
