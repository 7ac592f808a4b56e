//! Cold start (issue 15): what a cold Lambda instance costs before its first answers.
//!
//! The real binary runs against the stand-in Runtime API ([`MiniRuntimeApi`]) with
//! `fixture-server`, which sleeps before it reads stdin (a server slow to start) and logs one
//! line per spawn, so a test can count spawns and tell a snapshot answer from a live one.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_lambda_tests::{Invocation, LambdaRuntime, MiniRuntimeApi, bin, function_url_event};
use serde_json::{Value, json};

/// How long the fixture sleeps before it reads stdin.
const START: Duration = Duration::from_millis(1500);

/// A Function URL invocation of `body` with `MCP-Protocol-Version: version` (no header when
/// `None`, as a client's first `initialize`) and `extra` headers.
fn event(body: &Value, version: Option<&str>, extra: &[(&str, &str)]) -> Invocation {
    let raw = function_url_event(&body.to_string(), version.unwrap_or("x"), "cold");
    let mut payload: Value = serde_json::from_slice(&raw).unwrap();
    let headers = payload["headers"].as_object_mut().unwrap();
    if version.is_none() {
        headers.remove("mcp-protocol-version");
    }
    for (k, v) in extra {
        headers.insert((*k).to_owned(), json!(v));
    }
    Invocation {
        payload,
        client_context: None,
        deadline_in: Duration::from_secs(30),
    }
}

/// The JSON-RPC answer in a Function URL response envelope (status 200).
fn answer(api: &MiniRuntimeApi, f: &LambdaRuntime, inv: Invocation) -> Value {
    let envelope = api
        .invoke(inv, Duration::from_secs(30))
        .unwrap_or_else(|e| panic!("invocation error {e}\n{}", f.log()));
    assert_eq!(envelope["statusCode"], 200, "{envelope}\n{}", f.log());
    serde_json::from_str(envelope["body"].as_str().unwrap()).unwrap()
}

fn initialize(version: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": version, "capabilities": {},
        "clientInfo": {"name": "cold-start-test", "version": "1"}}})
}

fn tools_list() -> Value {
    json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"})
}

/// A 2026-07-28 `tools/list` (envelope in `_meta`; the routing headers go with it).
fn modern_tools_list() -> (Value, [(&'static str, &'static str); 1]) {
    let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}}});
    (body, [("mcp-method", "tools/list")])
}

/// A fresh directory for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mcpl-e2e-cold-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn spawns(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// A cold instance over an initialize-era server that takes [`START`] to start: a 2025-06-18,
/// a 2025-11-25 and a 2026-07-28 client (sessions off, as on Lambda by default) are all answered
/// within one start time of the process starting, by one child: INIT prewarms in parallel, and
/// one child serves 2025-06-18 and 2025-11-25 clients and modern clients without capabilities.
/// Before, INIT started two children one after the other and 2025-06-18 got a third.
#[test]
fn one_spawn_serves_every_era_on_a_cold_instance() {
    let dir = scratch("one-spawn");
    let spawn_log = dir.join("spawns");
    let api = Arc::new(MiniRuntimeApi::start());
    let env = format!(
        "FIXTURE_START_MS={},FIXTURE_SPAWN_LOG={}",
        START.as_millis(),
        spawn_log.display()
    );
    let command = bin("fixture-server").display().to_string();
    let t0 = Instant::now();
    let f = LambdaRuntime::start(
        &api.addr,
        &[("MCP_LAMBDA_COMMAND", &command), ("MCP_LAMBDA_ENV", &env)],
    );
    let init = t0.elapsed();
    for version in ["2025-06-18", "2025-11-25"] {
        let a = answer(&api, &f, event(&initialize(version), None, &[]));
        assert_eq!(a["result"]["protocolVersion"], version, "{a}");
        assert_eq!(a["result"]["serverInfo"]["name"], "fixture-server", "{a}");
        let a = answer(&api, &f, event(&tools_list(), Some(version), &[]));
        assert!(a["result"]["tools"].as_array().unwrap().len() > 3, "{a}");
    }
    let (body, headers) = modern_tools_list();
    let a = answer(&api, &f, event(&body, Some("2026-07-28"), &headers));
    assert_eq!(a["result"]["resultType"], "complete", "{a}");
    assert!(a["result"]["tools"].as_array().unwrap().len() > 3, "{a}");
    let all = t0.elapsed();
    assert_eq!(
        spawns(&spawn_log),
        1,
        "one child for every client\n{}",
        f.log()
    );
    // One start time, plus the process's own start and the invocations (generous for a loaded
    // CI machine; the old behaviour needed three start times).
    assert!(
        all < START * 2,
        "INIT {init:?}, all answered after {all:?}\n{}",
        f.log()
    );
}

/// Runs `mcp-lambda snapshot -o FILE -- fixture-server` (a fast start) and returns FILE.
fn take_snapshot(dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("snapshot.json");
    let out = std::process::Command::new(bin("mcp-lambda"))
        .arg("snapshot")
        .arg("-o")
        .arg(&file)
        .arg("--")
        .arg(bin("fixture-server"))
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "snapshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    file
}

/// A runtime over the slow fixture with `MCP_LAMBDA_SNAPSHOT=snapshot`; returns it with the
/// instant it was started.
fn with_snapshot(
    api: &MiniRuntimeApi,
    dir: &std::path::Path,
    snapshot: &std::path::Path,
    start: Duration,
    extra: &[(&str, &str)],
) -> (LambdaRuntime, Instant) {
    let env = format!(
        "FIXTURE_START_MS={},FIXTURE_SPAWN_LOG={}",
        start.as_millis(),
        dir.join("spawns").display()
    );
    let command = bin("fixture-server").display().to_string();
    let snapshot = snapshot.display().to_string();
    let mut all = vec![
        ("MCP_LAMBDA_COMMAND", command.as_str()),
        ("MCP_LAMBDA_ENV", env.as_str()),
        ("MCP_LAMBDA_SNAPSHOT", snapshot.as_str()),
    ];
    all.extend_from_slice(extra);
    let t0 = Instant::now();
    (LambdaRuntime::start(&api.addr, &all), t0)
}

fn tool_names(result: &Value) -> Vec<String> {
    result["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {result}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// With a snapshot, INIT does not wait for the child, and `initialize`, `tools/list` and the
/// 2026-07-28 `server/discover` and `tools/list` are answered before the child has answered
/// its own initialize (it sleeps 3 s first); the first call waits for the child and works.
#[test]
fn a_snapshot_answers_the_first_requests_before_the_child_is_up() {
    const SLOW: Duration = Duration::from_secs(3);
    let dir = scratch("snapshot");
    let snapshot = take_snapshot(&dir);
    let api = Arc::new(MiniRuntimeApi::start());
    let (f, t0) = with_snapshot(&api, &dir, &snapshot, SLOW, &[]);
    let init = t0.elapsed();
    let a = answer(&api, &f, event(&initialize("2025-06-18"), None, &[]));
    assert_eq!(a["result"]["protocolVersion"], "2025-06-18", "{a}");
    assert_eq!(a["result"]["serverInfo"]["name"], "fixture-server", "{a}");
    let a = answer(&api, &f, event(&tools_list(), Some("2025-06-18"), &[]));
    let legacy_tools = tool_names(&a["result"]);
    assert!(legacy_tools.contains(&"echo".to_owned()), "{a}");
    let discover = json!({"jsonrpc": "2.0", "id": 4, "method": "server/discover", "params": {"_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}}});
    let a = answer(
        &api,
        &f,
        event(
            &discover,
            Some("2026-07-28"),
            &[("mcp-method", "server/discover")],
        ),
    );
    assert_eq!(
        a["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "fixture-server",
        "{a}"
    );
    let (body, headers) = modern_tools_list();
    let a = answer(&api, &f, event(&body, Some("2026-07-28"), &headers));
    assert_eq!(a["result"]["resultType"], "complete", "{a}");
    assert_eq!(a["result"]["ttlMs"], 0, "{a}");
    assert_eq!(tool_names(&a["result"]), legacy_tools);
    let listed = t0.elapsed();
    let log = f.log();
    assert!(
        !log.contains("MCP server started and initialized"),
        "the child answered before the snapshot did; INIT {init:?}, listed after {listed:?}\n{log}"
    );
    assert!(listed < SLOW, "listed after {listed:?}\n{log}");
    // The first call needs the child: it waits for it.
    let call = json!({"jsonrpc": "2.0", "id": 5, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": "live"}}});
    let a = answer(&api, &f, event(&call, Some("2025-06-18"), &[]));
    assert_eq!(a["result"]["content"][0]["text"], "live", "{a}");
    assert!(t0.elapsed() >= SLOW);
    f.wait_for_log("snapshot verified", Duration::from_secs(10));
    assert!(!f.log().contains("snapshot is stale"), "{}", f.log());
    assert_eq!(spawns(&dir.join("spawns")), 1, "{}", f.log());
}

/// A snapshot whose tool list no longer matches the server: the difference is logged once
/// and the live list is answered from then on.
#[test]
fn a_stale_snapshot_is_detected_and_replaced_by_the_live_lists() {
    let dir = scratch("stale");
    let snapshot = take_snapshot(&dir);
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&snapshot).unwrap()).unwrap();
    let tools = s["lists"]["tools/list"]["tools"].as_array_mut().unwrap();
    let live_count = tools.len();
    tools.retain(|t| t["name"] != "echo");
    tools.push(json!({"name": "retired_tool", "inputSchema": {"type": "object"}}));
    std::fs::write(&snapshot, s.to_string()).unwrap();

    let api = Arc::new(MiniRuntimeApi::start());
    let (f, _) = with_snapshot(&api, &dir, &snapshot, Duration::from_millis(300), &[]);
    let a = answer(&api, &f, event(&tools_list(), Some("2025-11-25"), &[]));
    assert!(
        tool_names(&a["result"]).contains(&"retired_tool".to_owned()),
        "{a}"
    );
    f.wait_for_log("snapshot is stale", Duration::from_secs(10));
    let a = answer(&api, &f, event(&tools_list(), Some("2025-11-25"), &[]));
    let names = tool_names(&a["result"]);
    assert!(names.contains(&"echo".to_owned()), "{a}");
    assert!(!names.contains(&"retired_tool".to_owned()), "{a}");
    assert_eq!(names.len(), live_count);
    let (body, headers) = modern_tools_list();
    let a = answer(&api, &f, event(&body, Some("2026-07-28"), &headers));
    assert_eq!(tool_names(&a["result"]).len(), live_count, "{a}");
    assert_eq!(
        f.log().matches("snapshot is stale").count(),
        1,
        "{}",
        f.log()
    );
}

/// A snapshot file that is not one stops start-up with one line naming the variable.
#[test]
fn a_broken_snapshot_stops_start_up() {
    let dir = scratch("broken");
    let file = dir.join("broken.json");
    std::fs::write(&file, r#"{"mcpLambdaSnapshot": 1, "era": "legacy"}"#).unwrap();
    let out = std::process::Command::new(bin("mcp-lambda"))
        .arg("serve")
        .arg("--snapshot")
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("MCP_LAMBDA_SNAPSHOT") && err.contains("needs `initialize`"),
        "{err}"
    );
}
