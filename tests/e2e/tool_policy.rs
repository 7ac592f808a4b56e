//! Tool policy (`--tools`, `--read-only`) against real servers (npm `server-everything`, which
//! annotates its tools with `readOnlyHint`, and PyPI `mcp-server-time`), in both eras, in a
//! batch, with real clients and in `agentcore-schema`: a hidden tool is missing from every
//! listing, and calling it is answered -32602 `Unknown tool: NAME` without reaching the child.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use mcp_lambda_tests::{
    Mcp, bin, everything_cmd, node, py_client, python_client, run, serve, time_cmd, ts_client,
};
use serde_json::{Value, json};

/// A modern request with its envelope and headers; (status, answer). Declares roots, as
/// `Mcp::connect` does (server-everything lists get-roots-list only then).
fn modern(url: &str, id: u64, method: &str, params: Value) -> (u16, Value) {
    mcp_lambda_tests::modern_post(url, id, method, params, json!({"roots": {}}))
}

fn names(list: &Value) -> BTreeSet<String> {
    list["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("no tools: {list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Every tool the server lists without a policy, with its annotations.
fn unfiltered(cmd: &[String]) -> Vec<Value> {
    let s = serve(&[], cmd);
    let mut m = Mcp::connect(&s.url, "2025-06-18", "policy-e2e");
    let v = m.request("tools/list", json!({}));
    v["result"]["tools"].as_array().unwrap().clone()
}

#[test]
fn globs_hide_tools_in_both_eras_and_in_batches() {
    let Some(cmd) = everything_cmd() else { return };
    let all: BTreeSet<String> = unfiltered(&cmd)
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(all.contains("get-env") && all.contains("echo"), "{all:?}");
    let s = serve(&["--tools", "echo,get-*,!get-env"], &cmd);
    let expected: BTreeSet<String> = all
        .iter()
        .filter(|n| *n == "echo" || (n.starts_with("get-") && *n != "get-env"))
        .cloned()
        .collect();
    assert!(expected.len() >= 3, "{expected:?}");

    // Legacy, with a session.
    let mut m = Mcp::connect(&s.url, "2025-06-18", "policy-e2e");
    assert_eq!(names(&m.request("tools/list", json!({}))), expected);
    let e = m.call_error("get-env", json!({}));
    assert_eq!(
        e,
        json!({"code": -32602, "message": "Unknown tool: get-env"})
    );
    let e = m.call_error("toggle-simulated-logging", json!({}));
    assert_eq!(e["message"], "Unknown tool: toggle-simulated-logging");
    assert_eq!(m.call_text("echo", json!({"message": "hi"})), "Echo: hi");
    // A name that is not a string never reaches the child.
    let v = m.request("tools/call", json!({"name": ["get-env"], "arguments": {}}));
    assert_eq!(v["error"]["code"], -32602, "{v}");

    // Modern.
    let (status, list) = modern(&s.url, 1, "tools/list", json!({}));
    assert_eq!(status, 200);
    assert_eq!(names(&list), expected);
    let (status, v) = modern(
        &s.url,
        2,
        "tools/call",
        json!({"name": "get-env", "arguments": {}}),
    );
    assert_eq!(
        (status, &v["error"]["message"]),
        (400, &json!("Unknown tool: get-env")),
        "{v}"
    );
    let (status, v) = modern(
        &s.url,
        3,
        "tools/call",
        json!({"name": "echo", "arguments": {"message": "m"}}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["result"]["content"][0]["text"], "Echo: m");

    // A 2025-03-26 batch: each member on its own.
    let mut old = Mcp::connect(&s.url, "2025-03-26", "policy-batch");
    let batch = json!([
        {"jsonrpc": "2.0", "id": 10, "method": "tools/call", "params": {"name": "get-env", "arguments": {}}},
        {"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": {"name": "echo", "arguments": {"message": "b"}}},
        {"jsonrpc": "2.0", "id": 12, "method": "tools/list"},
    ]);
    let r = old.post_raw(&batch);
    assert_eq!(r.status, 200, "{r:?}");
    let answers = r.json();
    let by_id = |id: u64| {
        answers
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(by_id(10)["error"]["message"], "Unknown tool: get-env");
    assert_eq!(by_id(11)["result"]["content"][0]["text"], "Echo: b");
    assert_eq!(names(&by_id(12)), expected);
    let _ = old.request("ping", json!({}));
}

#[test]
fn read_only_shows_and_runs_only_tools_annotated_read_only() {
    let Some(cmd) = everything_cmd() else { return };
    let all = unfiltered(&cmd);
    let read_only: BTreeSet<String> = all
        .iter()
        .filter(|t| t["annotations"]["readOnlyHint"] == true)
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    let writable: Vec<String> = all
        .iter()
        .filter(|t| t["annotations"]["readOnlyHint"] != true)
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        read_only.contains("echo") && !writable.is_empty(),
        "{all:?}"
    );

    for lifecycle in ["reuse", "per-request"] {
        let s = serve(&["--read-only", "--lifecycle", lifecycle], &cmd);
        let mut m = Mcp::connect(&s.url, "2025-11-25", "policy-ro");
        assert_eq!(names(&m.request("tools/list", json!({}))), read_only);
        for name in &writable {
            let e = m.call_error(name, json!({}));
            assert_eq!(e["message"], format!("Unknown tool: {name}"), "{lifecycle}");
        }
        assert_eq!(m.call_text("echo", json!({"message": "ro"})), "Echo: ro");
        let (_, list) = modern(&s.url, 1, "tools/list", json!({}));
        assert_eq!(names(&list), read_only, "{lifecycle}");
        let (status, v) = modern(
            &s.url,
            2,
            "tools/call",
            json!({"name": writable[0], "arguments": {}}),
        );
        assert_eq!(status, 400, "{v}");
        assert_eq!(v["error"]["code"], -32602);
    }
    // --read-only and --tools together: both must allow.
    let s = serve(&["--read-only", "--tools", "!echo"], &cmd);
    let mut m = Mcp::connect(&s.url, "2025-06-18", "policy-both");
    let mut expected = read_only.clone();
    expected.remove("echo");
    assert_eq!(names(&m.request("tools/list", json!({}))), expected);
    assert_eq!(
        m.call_error("echo", json!({"message": "x"}))["message"],
        "Unknown tool: echo"
    );
}

#[test]
fn real_clients_see_only_what_the_policy_shows() {
    let Some(cmd) = time_cmd() else { return };
    let s = serve(&["--tools", "!convert_time"], &cmd);
    let mut m = Mcp::connect(&s.url, "2025-06-18", "policy-time");
    assert_eq!(
        names(&m.request("tools/list", json!({}))),
        BTreeSet::from(["get_current_time".to_owned()])
    );
    let e = m.call_error(
        "convert_time",
        json!({"source_timezone": "UTC", "time": "12:00", "target_timezone": "Europe/Paris"}),
    );
    assert_eq!(e["message"], "Unknown tool: convert_time");
    if let Some(py) = python_client() {
        let v = py_client(
            &py,
            &s.url,
            "auto",
            "get_current_time",
            &json!({"timezone": "UTC"}),
        );
        assert!(v["result"]["content"][0]["text"].is_string(), "{v}");
        assert_eq!(v["tools"], json!(["get_current_time"]), "{v}");
    }
    if let Some(node) = node() {
        let v = ts_client(
            &node,
            &s.url,
            "get_current_time",
            &json!({"timezone": "UTC"}),
        );
        assert_eq!(v["tools"], json!(["get_current_time"]), "{v}");
    }
}

#[test]
fn agentcore_schema_leaves_hidden_tools_out() {
    let Some(cmd) = everything_cmd() else { return };
    let (ok, out, err) = run(
        Command::new(bin("mcp-lambda"))
            .args(["agentcore-schema", "--tools", "echo,get-sum"])
            .arg("--")
            .args(&cmd),
        Duration::from_secs(60),
    );
    assert!(ok, "{out}\n{err}");
    let defs: Vec<Value> = serde_json::from_str(&out).unwrap();
    let got: BTreeSet<&str> = defs.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(got, BTreeSet::from(["echo", "get-sum"]));
}
