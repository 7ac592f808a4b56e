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
