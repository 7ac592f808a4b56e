//! Hostile input and hostile neighbours, end to end against the real binary: what a stranger
//! can make the wrapper hold or spawn, and what a process of the same user can read.
//!
//! (More of issue 12 lands here: process caps, bounded maps and queues, isolation, timeouts.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mcp_lambda_tests::{
    ProcessGuard, accepts, bin, children_of, free_port, get_stream, http, on_path, post, rss_of,
    serve,
};
use serde_json::json;

/// 30 `initialize` requests whose `protocolVersion` is a 1 MB string: a version nobody serves
/// negotiates like the newest one, so no child, map entry or session keeps the string — the
/// `reuse` upstream keeps its one child and the process keeps (almost) none of the 30 MB.
#[test]
fn megabyte_protocol_versions_start_no_children_and_are_not_kept() {
    let s = serve(
        &[],
        &[bin("mcp-lambda-example-server").display().to_string()],
    );
    let init = |version: &str| {
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": version, "capabilities": {},
            "clientInfo": {"name": "hostile", "version": "1"}}})
        .to_string()
    };
    let r = post(&s.url, &[], &init("2025-11-25"));
    assert_eq!(r.status, 200, "{r:?}");
    let before = rss_of(s.pid()).unwrap().current;
    assert_eq!(children_of(s.pid()).unwrap(), 1);
    for i in 0..30 {
        let version = format!("{i:02}{}", "v".repeat(1024 * 1024));
        let r = post(&s.url, &[], &init(&version));
        assert_eq!(r.status, 200, "{}", r.body);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(
            v["result"]["protocolVersion"], "2025-11-25",
            "negotiated to a version we serve"
        );
    }
    assert_eq!(
        children_of(s.pid()).unwrap(),
        1,
        "a child per client-chosen version string"
    );
    let after = rss_of(s.pid()).unwrap().current;
    // The old code kept each string twice (a reuse map key, the session's params): +60 MB.
    // What is left is allocator slack from parsing the bodies.
    let grown = after.saturating_sub(before);
    assert!(
        grown < 16 * 1024 * 1024,
        "RSS grew by {} MB over 30 MB of version strings",
        grown / (1024 * 1024)
    );
    // Genuine clients are unaffected.
    let r = post(&s.url, &[], &init("2025-06-18"));
    assert_eq!(r.status, 200, "{r:?}");
}

/// A copy of the binary any user can run (the checkout may not be readable by `nobody`).
fn world_executable_binary() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcpl-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("mcp-lambda");
    std::fs::copy(bin("mcp-lambda"), &copy).unwrap();
    Command::new("chmod")
        .arg("-R")
        .arg("a+rx")
        .arg(&dir)
        .status()
        .unwrap();
    copy
}

/// `cat /proc/PID/environ` as `nobody`: the text, or `None` when refused.
fn environ_as_nobody(setpriv: &PathBuf, pid: u32) -> Option<String> {
    let out = Command::new(setpriv)
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
        .arg(format!("/proc/{pid}/environ"))
        .stderr(Stdio::null())
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The wrapper's secrets stay in the wrapper: running as an unprivileged user, its environment
/// (session keys, AWS credentials) is not readable by another process of that same user — which
/// is what the MCP server it starts is. A dumpable process of that user with the same
/// environment is readable: the check can tell the difference.
#[test]
fn a_process_of_the_same_user_cannot_read_the_wrappers_secrets() {
    let Some(setpriv) = on_path("setpriv") else {
        return;
    };
    let exe = world_executable_binary();
    let secret = "5ecre7".repeat(10) + "abcd"; // 64 hex-ish chars: a key's shape
    let key = "ab".repeat(32);
    let port = free_port();
    let env = [
        ("MCP_LAMBDA_SESSION_KEYS", key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
    ];
    let mut cmd = Command::new(&setpriv);
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&exe)
        .args(["serve", "--sessions", "token", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let wrapper = ProcessGuard::spawn("mcp-lambda as nobody", &mut cmd).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !accepts(([127, 0, 0, 1], port).into()) {
        assert!(Instant::now() < deadline, "the wrapper did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let health = http(
        "GET",
        &format!("http://127.0.0.1:{port}/healthz"),
        &[],
        None,
    );
    assert_eq!(health.status, 200, "{health:?}");
    // The control: a dumpable process of the same user, same environment.
    let mut control = Command::new(&setpriv);
    control
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "sleep",
            "30",
        ])
        .env_clear()
        .envs(env);
    let control = ProcessGuard::spawn("sleep as nobody", &mut control).unwrap();
    // Until setpriv has dropped to `nobody` and exec'd, the process is root's: wait for that.
    let deadline = Instant::now() + Duration::from_secs(5);
    let seen = loop {
        match environ_as_nobody(&setpriv, control.pid()) {
            Some(e) if e.contains(&secret) => break e,
            _ if Instant::now() > deadline => break String::new(),
            _ => std::thread::sleep(Duration::from_millis(20)),
        }
    };
    assert!(
        seen.contains(&secret),
        "the control's environment should be readable by its own user"
    );
    let stolen = environ_as_nobody(&setpriv, wrapper.pid());
    assert!(
        stolen
            .as_deref()
            .is_none_or(|e| !e.contains(&secret) && !e.contains(&key)),
        "a process of the same user read the wrapper's environment"
    );
    let _ = std::fs::remove_dir_all(exe.parent().unwrap());
}

/// Connects to `s` and sends `bytes` (maybe an unfinished request), read timeout `wait`.
fn stalled(s: &mcp_lambda_tests::Server, bytes: &str, wait: Duration) -> std::net::TcpStream {
    use std::io::Write;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(wait)).unwrap();
    c.write_all(bytes.as_bytes()).unwrap();
    c
}

/// What the server sends before it closes `c` (or the read times out): the bytes, and whether
/// it closed.
fn until_closed(c: &mut std::net::TcpStream) -> (String, bool) {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (String::from_utf8_lossy(&got).into_owned(), true);
            }
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), false),
        }
    }
}

/// Slowloris: 50 connections that send half a request head and stall, and idle ones that send
/// nothing, are all closed by the server after the header timeout; a real client is served
/// meanwhile.
#[test]
fn stalled_request_heads_and_idle_connections_are_closed() {
    let s = serve(
        &["--header-timeout", "1s", "--sessions", "none"],
        &[bin("mcp-lambda-example-server").display().to_string()],
    );
    let started = Instant::now();
    let mut conns: Vec<_> = (0..50)
        .map(|_| {
            stalled(
                &s,
                "POST /mcp HTTP/1.1\r\nHost: x\r\n",
                Duration::from_secs(5),
            )
        })
        .collect();
    conns.extend((0..5).map(|_| stalled(&s, "", Duration::from_secs(5))));
    let r = post(
        &s.url,
        &[("mcp-protocol-version", "2025-11-25")],
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    for c in &mut conns {
        let (_, closed) = until_closed(c);
        assert!(closed, "a stalled connection was still open after 5 s");
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "closed late: {:?}",
        started.elapsed()
    );
}

/// A body that stops arriving gets 408 after the body timeout, and the connection is closed.
#[test]
fn a_stalled_body_gets_408() {
    let s = serve(
        &["--body-timeout", "1s", "--sessions", "none"],
        &[bin("mcp-lambda-example-server").display().to_string()],
    );
    let mut c = stalled(
        &s,
        "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json\r\nContent-Length: 100\r\n\r\n{\"jsonrpc\":",
        Duration::from_secs(5),
    );
    let started = Instant::now();
    let (answer, closed) = until_closed(&mut c);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("Request Timeout"), "{answer}");
    assert!(closed, "the connection stayed open");
    assert!(started.elapsed() < Duration::from_secs(4));
}

/// `--max-connections 2`: a third connection is not served until one of the two closes.
#[test]
fn connections_over_the_limit_wait_for_a_free_slot() {
    let s = serve(
        &[
            "--max-connections",
            "2",
            "--header-timeout",
            "30s",
            "--sessions",
            "none",
        ],
        &[bin("mcp-lambda-example-server").display().to_string()],
    );
    let request = "POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAccept: application/json\r\nMCP-Protocol-Version: 2025-11-25\r\nConnection: close\r\nContent-Length: 46\r\n\r\n{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}";
    let first = stalled(&s, "", Duration::from_secs(5));
    let second = stalled(&s, "", Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    let mut third = stalled(&s, request, Duration::from_millis(1500));
    let (answer, _) = until_closed(&mut third);
    assert!(answer.is_empty(), "served over the limit: {answer}");
    drop(first);
    third
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let (answer, _) = until_closed(&mut third);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(second);
}

/// What is checked is what runs: a 2026-07-28 `tools/call` whose routing header names `add`
/// but whose body names `env` a second time — two `params`, or two `name`s inside `params` —
/// is refused before anything reaches the child (parsers disagree on which duplicate wins).
#[test]
fn duplicate_members_cannot_smuggle_a_call_past_the_header_checks() {
    let s = serve(
        &["--sessions", "none"],
        &[bin("mcp-lambda-example-server").display().to_string()],
    );
    let meta = r#"{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}"#;
    let headers = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", "add"),
    ];
    let honest = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"add","arguments":{{"a":1,"b":2}},"_meta":{meta}}}}}"#
    );
    let r = post(&s.url, &headers, &honest);
    assert_eq!(r.status, 200, "{r:?}");
    for smuggled in [
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"add","arguments":{{"a":1,"b":2}},"_meta":{meta}}},"params":{{"name":"env","arguments":{{}},"_meta":{meta}}}}}"#
        ),
        format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"add","name":"env","arguments":{{}},"_meta":{meta}}}}}"#
        ),
    ] {
        let r = post(&s.url, &headers, &smuggled);
        assert_eq!(r.status, 400, "{r:?}");
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"]["code"], -32600, "{v}");
        assert!(!r.body.contains("PATH"), "the env tool ran: {}", r.body);
    }
}

/// A child that stops reading its stdin (fixture `freeze`) while 300 requests of 64 KB pour in:
/// the pipe and the writer's queue fill up, yet every request is answered by its deadline
/// (-32001, or a result from the replacement), and the next request gets a new child.
#[test]
fn a_child_that_stops_reading_fails_requests_at_their_deadline_and_is_replaced() {
    let cmd = [bin("fixture-server").display().to_string()];
    let s = serve(&["--request-timeout", "2s", "--sessions", "none"], &cmd);
    let url = s.url.clone();
    let call = move |name: &str, arguments: serde_json::Value| {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}});
        let r = post(
            &url,
            &[("mcp-protocol-version", "2025-11-25")],
            &body.to_string(),
        );
        assert_eq!(r.status, 200, "{r:?}");
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap()
    };
    let pid = |v: &serde_json::Value| {
        v["result"]["content"][0]["text"]
            .as_str()
            .map(str::to_owned)
    };
    let before = pid(&call("pid", json!({}))).expect("a pid");
    let frozen = {
        let call = call.clone();
        std::thread::spawn(move || call("freeze", json!({})))
    };
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    let big = "x".repeat(64 * 1024);
    let pouring: Vec<_> = (0..300)
        .map(|_| {
            let (call, big) = (call.clone(), big.clone());
            std::thread::spawn(move || call("echo", json!({ "message": big })))
        })
        .collect();
    let mut timed_out = 0;
    for h in pouring {
        let v = h.join().unwrap();
        match v["error"]["code"].as_i64() {
            Some(-32001) => timed_out += 1,
            None => assert!(v.get("result").is_some(), "{v}"),
            Some(other) => panic!("unexpected error {other}: {v}"),
        }
    }
    assert!(timed_out > 0, "nothing waited on the frozen child");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "requests hung past their 2 s deadline: {:?}",
        started.elapsed()
    );
    assert_eq!(frozen.join().unwrap()["error"]["code"], -32001);
    let after = pid(&call("pid", json!({}))).expect("a pid");
    assert_ne!(
        before, after,
        "the child that stopped reading was not replaced"
    );
}

/// `per-session` at `--max-children 3`: ten sessions open one after another, and never more
/// than three children run — the least recently used idle session's child is stopped, and that
/// session still works (its child is started again from its stored params).
#[test]
fn per_session_children_are_capped_and_idle_ones_make_room() {
    let s = serve(
        &["--lifecycle", "per-session", "--max-children", "3"],
        &[bin("mcp-lambda-example-server").display().to_string()],
    );
    let mut sessions = Vec::new();
    for i in 0..10 {
        let m = mcp_lambda_tests::Mcp::connect(&s.url, "2025-11-25", &format!("client-{i}"));
        sessions.push(m);
        let n = children_of(s.pid()).unwrap();
        assert!(n <= 3, "{n} children after {} sessions", i + 1);
    }
    let first = &mut sessions[0];
    let v = first.call("echo", json!({"message": "still here"}));
    assert_eq!(v["content"][0]["text"], "still here", "{v}");
    assert!(children_of(s.pid()).unwrap() <= 3);
}

/// `per-request` at `--max-children 2` with two slow calls running: a third is refused with
/// 503, `Retry-After` and a JSON-RPC error — not queued without bound, not a third process.
#[test]
fn requests_beyond_the_child_cap_get_503_with_retry_after() {
    let s = serve(
        &[
            "--lifecycle",
            "per-request",
            "--max-children",
            "2",
            "--sessions",
            "none",
        ],
        &[bin("mcp-lambda-example-server").display().to_string()],
    );
    let slow = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"ms": 2500}}})
    .to_string();
    let running: Vec<_> = (0..2)
        .map(|_| {
            let (url, body) = (s.url.clone(), slow.clone());
            std::thread::spawn(move || post(&url, &[("mcp-protocol-version", "2025-11-25")], &body))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(children_of(s.pid()).unwrap(), 2);
    let r = post(&s.url, &[("mcp-protocol-version", "2025-11-25")], &slow);
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("1"), "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["error"]["code"], -32603, "{v}");
    for h in running {
        let r = h.join().unwrap();
        assert_eq!(r.status, 200, "{r:?}");
    }
}

/// The memory store keeps `--max-sessions` sessions: one more is refused with 503 and
/// `Retry-After` (its child released), a closed one makes room; initialize params a session
/// would keep are at most 16 KiB.
#[test]
fn sessions_are_bounded_in_number_and_size() {
    let s = serve(
        &["--max-sessions", "3"],
        &[bin("mcp-lambda-example-server").display().to_string()],
    );
    let init = |client: &str, padding: usize| {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": client, "version": "1", "padding": "p".repeat(padding)}}});
        post(&s.url, &[], &body.to_string())
    };
    let ids: Vec<String> = (0..3)
        .map(|i| {
            let r = init(&format!("c{i}"), 0);
            assert_eq!(r.status, 200, "{r:?}");
            r.header("mcp-session-id").unwrap().to_owned()
        })
        .collect();
    let r = init("one-too-many", 0);
    assert_eq!(r.status, 503, "{r:?}");
    assert_eq!(r.header("retry-after"), Some("1"), "{r:?}");
    assert!(r.header("mcp-session-id").is_none());
    let r = http(
        "DELETE",
        &s.url,
        &[
            ("mcp-session-id", ids[0].as_str()),
            ("mcp-protocol-version", "2025-11-25"),
        ],
        None,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(init("room-again", 0).status, 200);
    let r = init("huge", 17 * 1024);
    assert_eq!(r.status, 400, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["error"]["code"], -32602, "{v}");
}

/// `true` once the stream has ended (its last chunk, or the connection closed) within `wait`.
fn stream_ends(rx: &std::sync::mpsc::Receiver<String>, wait: Duration) -> bool {
    let deadline = Instant::now() + wait;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) if line.trim() == "0" => return true,
            Ok(_) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return true,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return false,
        }
    }
    false
}

/// A token session cannot be deleted, so its GET-stream mailbox (replay buffer, subscriptions)
/// used to live as long as the process. Now it goes when the session expires: the next mailbox
/// made sweeps it and its stream ends, while a live session's stream stays open.
#[test]
fn an_expired_token_sessions_get_stream_ends_and_its_mailbox_goes() {
    let example = bin("mcp-lambda-example-server").display().to_string();
    let s = mcp_lambda_tests::Server::start(
        &["--sessions", "token", "--session-ttl", "2s", "--", &example],
        &[(
            "MCP_LAMBDA_SESSION_KEYS",
            "8c7b5f1f0e6d4c3b2a19080706050403020100f0e0d0c0b0a090807060504030",
        )],
    );
    let a = mcp_lambda_tests::Mcp::connect(&s.url, "2025-11-25", "expires");
    let (_a_conn, a_rx) = get_stream(&s.base, a.session.as_ref().unwrap(), None);
    assert!(
        !stream_ends(&a_rx, Duration::from_millis(500)),
        "A's stream ended at once"
    );
    std::thread::sleep(Duration::from_millis(2_500));
    // A has expired; B's new mailbox sweeps it.
    let b = mcp_lambda_tests::Mcp::connect(&s.url, "2025-11-25", "lives");
    let (_b_conn, b_rx) = get_stream(&s.base, b.session.as_ref().unwrap(), None);
    assert!(
        stream_ends(&a_rx, Duration::from_secs(5)),
        "the expired session's GET stream is still open"
    );
    assert!(
        !stream_ends(&b_rx, Duration::from_millis(500)),
        "B's stream ended"
    );
}

/// Opens a legacy session declaring `capabilities`; returns its `Mcp-Session-Id`.
fn session_with(url: &str, capabilities: serde_json::Value) -> String {
    let r = post(
        url,
        &[],
        &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": capabilities,
            "clientInfo": {"name": "hostile", "version": "1"}}})
        .to_string(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.header("mcp-session-id").unwrap().to_owned()
}

/// A tools/call in `session`, read whole (JSON or SSE).
fn call_in(url: &str, session: &str, id: u32, tool: &str, args: serde_json::Value) -> String {
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": {"name": tool, "arguments": args}});
    let h = [
        ("mcp-session-id", session),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    post(url, &h, &body.to_string()).body
}

/// `reuse` initializes the shared child with the first client's params: a client that declared
/// no `sampling` used to be sent the child's `sampling/createMessage` on its SSE stream (and the
/// call waited for an answer that never came). Now the child gets an error at once.
#[test]
fn a_legacy_client_gets_no_server_requests_for_capabilities_it_did_not_declare() {
    let Some(cmd) = mcp_lambda_tests::fixture_cmd() else {
        return;
    };
    let s = serve(&["--request-timeout", "8s"], &cmd);
    let _first = session_with(&s.url, json!({"sampling": {}, "elicitation": {}}));
    let plain = session_with(&s.url, json!({}));
    let started = Instant::now();
    let body = call_in(&s.url, &plain, 1, "test_sampling", json!({"prompt": "hi"}));
    assert!(
        !body.contains(r#""method":"sampling/createMessage""#),
        "a client without the sampling capability was asked to sample: {body}"
    );
    assert!(body.contains("sampling failed"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the child waited {:?} for an answer",
        started.elapsed()
    );
}

/// On a child shared by every client (`reuse`), one client's `roots/list_changed` used to reach
/// the child, whose `roots/list` then went to whichever client had a stream open, so one client
/// could set the roots (for server-filesystem: the sandbox) of all. Now client roots never
/// reach a shared child: the notification stays here and its `roots/list` reaches no client.
#[test]
fn roots_never_cross_clients_on_a_shared_child() {
    let Some(cmd) = mcp_lambda_tests::everything_cmd() else {
        return;
    };
    let s = serve(&[], &cmd);
    let a = session_with(&s.url, json!({"roots": {"listChanged": true}}));
    let b = session_with(&s.url, json!({"roots": {"listChanged": true}}));
    // The server asks for roots 350 ms after initialized, and then on every change.
    std::thread::sleep(Duration::from_millis(800));
    let url = s.url.clone();
    let b_call = std::thread::spawn(move || {
        call_in(
            &url,
            &b,
            2,
            "trigger-long-running-operation",
            json!({"duration": 2, "steps": 2}),
        )
    });
    std::thread::sleep(Duration::from_millis(500));
    let changed = json!({"jsonrpc": "2.0", "method": "notifications/roots/list_changed"});
    let h = [
        ("mcp-session-id", a.as_str()),
        ("mcp-protocol-version", "2025-11-25"),
    ];
    let r = post(&s.url, &h, &changed.to_string());
    assert_eq!(r.status, 202, "{r:?}");
    let body = b_call.join().unwrap();
    assert!(body.contains("Long running operation completed"), "{body}");
    assert!(
        !body.contains(r#""method":"roots/list""#),
        "A's roots change made the shared child ask B for roots: {body}"
    );
}

/// `per-request` used to start one process per batch member, one after another: a 64-member
/// batch was 64 spawns from one small request. The members of one HTTP request's batch now run
/// on one child, which goes away with the request.
#[test]
fn a_per_request_batch_shares_one_child() {
    let s = serve(
        &["--lifecycle", "per-request", "--sessions", "none"],
        &[bin("mcp-lambda-example-server").display().to_string()],
    );
    let batch: Vec<_> = (1..=10)
        .map(|id| {
            json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": "pid", "arguments": {}}})
        })
        .collect();
    let r = post(
        &s.url,
        &[("mcp-protocol-version", "2025-03-26")],
        &serde_json::Value::from(batch).to_string(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let answers: Vec<serde_json::Value> = serde_json::from_str(&r.body).unwrap();
    let pids: std::collections::BTreeSet<_> = answers
        .iter()
        .map(|a| {
            a["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(answers.len(), 10);
    assert_eq!(pids.len(), 1, "one child per member: {pids:?}");
    // The next request gets a child of its own; the batch's is gone.
    let one = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "pid", "arguments": {}}});
    let r = post(
        &s.url,
        &[("mcp-protocol-version", "2025-03-26")],
        &one.to_string(),
    );
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let pid = v["result"]["content"][0]["text"].as_str().unwrap();
    assert!(
        !pids.contains(pid),
        "the batch's child served another request"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while children_of(s.pid()).unwrap() > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        children_of(s.pid()).unwrap(),
        0,
        "a batch's child outlived its request"
    );
}
