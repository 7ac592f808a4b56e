//! Both protocol eras through one endpoint, end to end with real peers: the Python `mcp` 2.x
//! client in `auto` mode (lands on 2026-07-28) and in `legacy` mode, and the TypeScript SDK
//! client, in front of a modern child (PyPI `mcp-server-time`, built on `mcp` 2.x, answers
//! `server/discover`) and legacy children (npm `server-everything`, the bundled example server).
//! Plus the modern HTTP rules against a real child, the child-era probe and `--child-era`, and
//! capability isolation between clients sharing a child.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mcp_lambda_tests::{
    Server, everything_cmd, example_cmd, http, node, post, py_client, python_client, serve,
    time_cmd, ts_client,
};
use serde_json::{Value, json};

const MODERN: &str = "2026-07-28";

fn meta(caps: Value, name: &str) -> Value {
    mcp_lambda_tests::modern_meta(caps, name)
}

fn modern(url: &str, id: u64, method: &str, params: Value, caps: Value) -> (u16, Value) {
    mcp_lambda_tests::modern_post(url, id, method, params, caps)
}

fn text(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text content: {result}"))
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Real clients × real children
// ---------------------------------------------------------------------------------------------

#[test]
fn python_auto_lands_on_2026_07_28_through_a_modern_child() {
    let (Some(py), Some(cmd)) = (python_client(), time_cmd()) else {
        return;
    };
    let s = serve(&[], &cmd);
    let out = py_client(
        &py,
        &s.url.clone(),
        "auto",
        "get_current_time",
        &json!({"timezone": "UTC"}),
    );
    assert_eq!(out["protocolVersion"], MODERN, "{out}");
    assert_eq!(out["serverName"], "mcp-time", "{out}");
    assert!(
        text(&out["result"]).contains("\"timezone\": \"UTC\""),
        "{out}"
    );
    assert!(
        s.log().contains("MCP server speaks protocol 2026-07-28"),
        "{}",
        s.log()
    );
    // The modern child is never initialized: not even once for the probe.
    assert!(!s.log().contains("initialized pid="), "{}", s.log());
}

#[test]
fn python_legacy_and_typescript_work_through_a_modern_child() {
    let (Some(py), Some(node), Some(cmd)) = (python_client(), node(), time_cmd()) else {
        return;
    };
    let s = serve(&[], &cmd);
    let out = py_client(
        &py,
        &s.url.clone(),
        "legacy",
        "get_current_time",
        &json!({"timezone": "UTC"}),
    );
    assert_eq!(out["protocolVersion"], "2025-11-25", "{out}");
    assert_eq!(
        out["serverName"], "mcp-time",
        "emulated initialize carries the child's identity: {out}"
    );
    assert!(text(&out["result"]).contains("UTC"), "{out}");
    let ts = ts_client(
        &node,
        &s.url.clone(),
        "get_current_time",
        &json!({"timezone": "UTC"}),
    );
    assert!(
        ts["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "convert_time"),
        "{ts}"
    );
    assert!(ts.to_string().contains("UTC"), "{ts}");
    // One child served all three clients (both eras).
    assert_eq!(
        s.log().matches("MCP server started").count(),
        1,
        "{}",
        s.log()
    );
}

#[test]
fn python_auto_lands_on_2026_07_28_through_a_legacy_child() {
    let (Some(py), Some(cmd)) = (python_client(), everything_cmd()) else {
        return;
    };
    let s = serve(&[], &cmd);
    let out = py_client(
        &py,
        &s.url.clone(),
        "auto",
        "echo",
        &json!({"message": "both eras"}),
    );
    assert_eq!(out["protocolVersion"], MODERN, "{out}");
    assert_eq!(out["serverName"], "mcp-servers/everything", "{out}");
    assert!(text(&out["result"]).contains("both eras"), "{out}");
    assert_eq!(out["result"]["resultType"], "complete", "{out}");
    assert!(
        s.log()
            .contains("MCP server speaks the initialize-era protocol"),
        "{}",
        s.log()
    );
    // Legacy mode and the TypeScript client, same server, same endpoint.
    let out = py_client(
        &py,
        &s.url.clone(),
        "legacy",
        "echo",
        &json!({"message": "legacy"}),
    );
    assert_eq!(out["protocolVersion"], "2025-11-25", "{out}");
    assert!(text(&out["result"]).contains("legacy"), "{out}");
    if let Some(node) = node() {
        let ts = ts_client(
            &node,
            &s.url.clone(),
            "echo",
            &json!({"message": "from ts"}),
        );
        assert!(ts.to_string().contains("from ts"), "{ts}");
    }
}

#[test]
fn modern_clients_in_every_lifecycle() {
    let Some(py) = python_client() else { return };
    for lifecycle in ["per-request", "per-session"] {
        let s = serve(&["--lifecycle", lifecycle], &example_cmd());
        let out = py_client(&py, &s.url.clone(), "auto", "add", &json!({"a": 2, "b": 3}));
        assert_eq!(out["protocolVersion"], MODERN, "{lifecycle}: {out}");
        assert_eq!(text(&out["result"]), "5", "{lifecycle}: {out}");
        let out = py_client(
            &py,
            &s.url.clone(),
            "legacy",
            "add",
            &json!({"a": 4, "b": 3}),
        );
        assert_eq!(out["protocolVersion"], "2025-11-25", "{lifecycle}: {out}");
        assert_eq!(text(&out["result"]), "7", "{lifecycle}: {out}");
    }
    if let Some(cmd) = time_cmd() {
        let s = serve(&["--lifecycle", "per-request"], &cmd);
        let out = py_client(
            &py,
            &s.url.clone(),
            "auto",
            "get_current_time",
            &json!({"timezone": "UTC"}),
        );
        assert_eq!(out["protocolVersion"], MODERN, "{out}");
        assert!(text(&out["result"]).contains("UTC"), "{out}");
    }
}

// ---------------------------------------------------------------------------------------------
// The modern HTTP rules against a real child
// ---------------------------------------------------------------------------------------------

#[test]
fn discover_describes_a_legacy_child() {
    let s = serve(&[], &example_cmd());
    let (status, v) = modern(&s.url.clone(), 1, "server/discover", json!({}), json!({}));
    assert_eq!(status, 200, "{v}");
    let r = &v["result"];
    assert_eq!(r["supportedVersions"][0], MODERN, "{v}");
    assert!(
        r["supportedVersions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x == "2025-06-18"),
        "{v}"
    );
    assert!(
        r["capabilities"]["tools"].is_object(),
        "the child's capabilities: {v}"
    );
    assert_eq!(r["resultType"], "complete");
    assert_eq!(r["ttlMs"], 0);
    assert_eq!(r["cacheScope"], "private");
    assert_eq!(
        r["_meta"]["io.modelcontextprotocol/serverInfo"]["name"], "mcp-lambda-example-server",
        "{v}"
    );
    assert!(
        r["instructions"]
            .as_str()
            .unwrap()
            .contains("Example MCP server")
    );
}

#[test]
fn modern_results_and_errors_from_a_legacy_child() {
    let s = serve(&[], &example_cmd());
    let url = s.url.clone();
    let (status, v) = modern(&url, 1, "tools/list", json!({}), json!({}));
    assert_eq!(status, 200);
    assert_eq!(v["result"]["resultType"], "complete", "{v}");
    assert_eq!(v["result"]["cacheScope"], "private", "{v}");
    assert!(v["result"]["tools"].as_array().unwrap().len() >= 5, "{v}");
    let (status, v) = modern(
        &url,
        2,
        "tools/call",
        json!({"name": "add", "arguments": {"a": 1, "b": 1}}),
        json!({}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(text(&v["result"]), "2");
    assert!(
        v["result"].get("ttlMs").is_none(),
        "tools/call is not cacheable: {v}"
    );
    // An unknown method: the child's -32601 becomes HTTP 404 on the modern path.
    let (status, v) = modern(&url, 3, "nothing/here", json!({}), json!({}));
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["error"]["code"], -32601, "{v}");
    // Removed in 2026-07-28: answered by the gateway.
    let (status, v) = modern(&url, 4, "ping", json!({}), json!({}));
    assert_eq!(status, 404, "{v}");
}

#[test]
fn modern_header_rules_hold_end_to_end() {
    let s = serve(&[], &example_cmd());
    let url = s.url.clone();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": "x"}, "_meta": meta(json!({}), "h")}})
    .to_string();
    // Mcp-Name disagrees with the body.
    let r = post(
        &url,
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
            ("mcp-name", "add"),
        ],
        &body,
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["error"]["code"], -32020, "{r:?}");
    // Base64 sentinel form of the right name is accepted.
    let r = post(
        &url,
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?ZWNobw==?="),
        ],
        &body,
    );
    assert_eq!(r.status, 200, "{r:?}");
    // No version header at all, modern body: told which header is missing.
    let r = post(
        &url,
        &[("mcp-method", "tools/call"), ("mcp-name", "echo")],
        &body,
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.json()["error"]["code"], -32020, "{r:?}");
    // An unknown version: the supported list includes both eras.
    let r = post(&url, &[("mcp-protocol-version", "1900-01-01")], &body);
    assert_eq!(r.status, 400);
    let e = &r.json()["error"];
    assert_eq!(e["code"], -32022, "{r:?}");
    assert_eq!(e["data"]["requested"], "1900-01-01");
    assert!(
        e["data"]["supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == MODERN)
    );
    // GET and DELETE are not part of 2026-07-28, sessions on or off.
    for method in ["GET", "DELETE"] {
        let r = http(method, &url, &[("mcp-protocol-version", MODERN)], None);
        assert_eq!(r.status, 405, "{method}: {r:?}");
    }
    // A session id is ignored, not validated.
    let r = post(
        &url,
        &[
            ("mcp-protocol-version", MODERN),
            ("mcp-method", "tools/call"),
            ("mcp-name", "echo"),
            ("mcp-session-id", "not-a-session"),
        ],
        &body,
    );
    assert_eq!(r.status, 200, "{r:?}");
}

// ---------------------------------------------------------------------------------------------
// The era probe and isolation
// ---------------------------------------------------------------------------------------------

#[test]
fn child_era_legacy_skips_the_probe_and_initializes_a_modern_capable_child() {
    let (Some(py), Some(cmd)) = (python_client(), time_cmd()) else {
        return;
    };
    let s = serve(&["--child-era", "legacy"], &cmd);
    let out = py_client(
        &py,
        &s.url.clone(),
        "auto",
        "get_current_time",
        &json!({"timezone": "UTC"}),
    );
    assert_eq!(out["protocolVersion"], MODERN, "{out}");
    assert!(text(&out["result"]).contains("UTC"), "{out}");
    let log = s.log();
    assert!(!log.contains("server/discover answered"), "{log}");
    assert!(log.contains("initialized pid="), "{log}");
}

#[test]
fn child_era_modern_fails_clearly_for_a_legacy_child() {
    let s = serve(&["--child-era", "modern"], &example_cmd());
    let (status, v) = modern(&s.url.clone(), 1, "tools/list", json!({}), json!({}));
    assert_eq!(status, 200, "{v}");
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("did not answer server/discover"), "{v}");
}

/// Clients declaring different capabilities never share a legacy child (its behaviour may
/// depend on what the client that initialized it declared); the same set does share.
#[test]
fn shared_legacy_children_are_keyed_by_client_capabilities() {
    let s = serve(&[], &example_cmd());
    let url = s.url.clone();
    let pid = |id: u64, caps: Value| -> String {
        let (status, v) = modern(
            &url,
            id,
            "tools/call",
            json!({"name": "pid", "arguments": {}}),
            caps,
        );
        assert_eq!(status, 200, "{v}");
        text(&v["result"])
    };
    let plain = pid(1, json!({}));
    let sampling = pid(2, json!({"sampling": {}}));
    let plain_again = pid(3, json!({}));
    let sampling_again = pid(4, json!({"sampling": {"tools": {}}, "made-up": {}}));
    assert_eq!(plain, plain_again);
    assert_eq!(sampling, sampling_again);
    assert_ne!(plain, sampling);
    // And each child saw the capabilities of the clients it serves.
    let (_, v) = modern(
        &url,
        5,
        "tools/call",
        json!({"name": "client_info", "arguments": {}}),
        json!({"sampling": {}}),
    );
    let info: Value = serde_json::from_str(&text(&v["result"])).unwrap();
    assert!(info["capabilities"]["sampling"].is_object(), "{info}");
    assert_eq!(info["protocolVersion"], "2025-11-25", "{info}");
    assert_eq!(info["clientInfo"]["name"], "raw-e2e", "{info}");
}

/// POSTs `body` on a raw connection and hangs up before the answer.
fn hang_up_mid_call(s: &Server, headers: &str, body: &Value) {
    use std::io::Write;
    let body = body.to_string();
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        conn,
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    drop(conn);
}

/// 2026-07-28: "closing the response stream MUST be treated as cancellation". A modern client
/// that hangs up mid-call cancels it at the child; so does a legacy client whose SSE stream
/// closes; a legacy client waiting for plain JSON does not (2025-11-25: a disconnect is not a
/// cancellation).
#[test]
fn a_modern_client_hanging_up_cancels_its_request_at_the_child() {
    let s = serve(&[], &example_cmd());
    let mut params = json!({"name": "slow", "arguments": {"ms": 3000}});
    params["_meta"] = meta(json!({}), "hang-up");
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params});
    hang_up_mid_call(
        &s,
        "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2026-07-28\r\nMcp-Method: tools/call\r\nMcp-Name: slow\r\n",
        &body,
    );
    s.wait_for_log(
        "client went away mid-request; cancelled it at the MCP server",
        std::time::Duration::from_secs(5),
    );
    // The child is fine and answers the next call at once.
    let (status, v) = modern(
        &s.url,
        2,
        "tools/call",
        json!({"name": "add", "arguments": {"a": 1, "b": 2}}),
        json!({}),
    );
    assert_eq!((status, text(&v["result"])), (200, "3".to_owned()), "{v}");

    // Legacy, answered as plain JSON: a hang-up is not a cancellation (2025-11-25).
    let legacy = serve(&["--sessions", "none"], &example_cmd());
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "slow", "arguments": {"ms": 500}}});
    hang_up_mid_call(
        &legacy,
        "Accept: application/json\r\nMCP-Protocol-Version: 2025-11-25\r\n",
        &body,
    );
    std::thread::sleep(std::time::Duration::from_millis(800));
    assert!(
        !legacy.log().contains("cancelled it at the MCP server"),
        "{}",
        legacy.log()
    );
    // Legacy, on an SSE stream: a closed stream can carry nothing more, so it cancels.
    hang_up_mid_call(
        &legacy,
        "Accept: application/json, text/event-stream\r\nMCP-Protocol-Version: 2025-11-25\r\n",
        &body,
    );
    legacy.wait_for_log(
        "client went away mid-request; cancelled it at the MCP server",
        std::time::Duration::from_secs(5),
    );
}
