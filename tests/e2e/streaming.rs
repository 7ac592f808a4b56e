//! Streaming, end to end: a child's progress and log notifications and its own requests
//! (sampling, elicitation) reach real clients (Python `mcp` 2.x, the TypeScript SDK) over the
//! POST's SSE stream in `serve`, their answers reach the child; and where no stream can carry a
//! server→client request (a client that accepts only JSON, buffered Lambda), the child gets an
//! error at once and the call ends cleanly, fast, with the child still alive.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use mcp_lambda_tests::{
    Mcp, everything_cmd, fixture_cmd, get_stream, node, post, py_stream, python_client, serve,
    ts_stream,
};
use serde_json::{Value, json};

fn text(v: &Value) -> String {
    v["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text: {v}"))
        .to_owned()
}

#[test]
fn python_legacy_gets_progress_logs_sampling_and_elicitation() {
    let (Some(py), Some(cmd)) = (python_client(), fixture_cmd()) else {
        return;
    };
    let s = serve(&[], &cmd);
    let out = py_stream(&py, &s.url, "legacy", "test_tool_with_progress", &json!({}));
    assert_eq!(out["progress"], json!([0.0, 50.0, 100.0]), "{out}");
    let out = py_stream(&py, &s.url, "legacy", "test_tool_with_logging", &json!({}));
    assert_eq!(out["logs"].as_array().unwrap().len(), 3, "{out}");
    assert!(
        out["logs"][0].as_str().unwrap().contains("started"),
        "{out}"
    );
    let out = py_stream(
        &py,
        &s.url,
        "legacy",
        "test_sampling",
        &json!({"prompt": "hi"}),
    );
    assert_eq!(out["asked"], json!(["sampling/createMessage"]), "{out}");
    assert_eq!(text(&out), "LLM response: sampled: hi", "{out}");
    let out = py_stream(
        &py,
        &s.url,
        "legacy",
        "test_elicitation",
        &json!({"message": "who?"}),
    );
    assert_eq!(out["asked"], json!(["elicitation/create"]), "{out}");
    assert!(text(&out).contains("alice"), "{out}");
}

#[test]
fn typescript_gets_progress_logs_sampling_and_elicitation() {
    let (Some(node), Some(cmd)) = (node(), fixture_cmd()) else {
        return;
    };
    let s = serve(&[], &cmd);
    let out = ts_stream(&node, &s.url, "test_tool_with_progress", &json!({}));
    assert_eq!(out["progress"], json!([0, 50, 100]), "{out}");
    let out = ts_stream(&node, &s.url, "test_tool_with_logging", &json!({}));
    assert_eq!(out["logs"].as_array().unwrap().len(), 3, "{out}");
    let out = ts_stream(&node, &s.url, "test_sampling", &json!({"prompt": "ts"}));
    assert_eq!(out["asked"], json!(["sampling/createMessage"]), "{out}");
    assert_eq!(text(&out), "LLM response: sampled: ts", "{out}");
    let out = ts_stream(
        &node,
        &s.url,
        "test_elicitation",
        &json!({"message": "who?"}),
    );
    assert_eq!(out["asked"], json!(["elicitation/create"]), "{out}");
    assert!(text(&out).contains("alice"), "{out}");
}

/// npm server-everything: progress from its long-running tool, and its sampling tool (it only
/// registers that one for clients declaring sampling) answered by the client.
#[test]
fn server_everything_progress_and_sampling_reach_the_clients() {
    let (Some(cmd), Some(node)) = (everything_cmd(), node()) else {
        return;
    };
    let s = serve(&["--lifecycle", "per-session"], &cmd);
    let out = ts_stream(
        &node,
        &s.url,
        "trigger-long-running-operation",
        &json!({"duration": 1, "steps": 4}),
    );
    assert_eq!(out["progress"], json!([1, 2, 3, 4]), "{out}");
    let out = ts_stream(
        &node,
        &s.url,
        "trigger-sampling-request",
        &json!({"prompt": "everything"}),
    );
    assert_eq!(out["asked"], json!(["sampling/createMessage"]), "{out}");
    // The client's answer went back to the child, which quotes it in its result.
    let result = text(&out);
    assert!(
        result.contains("sampled: ") && result.contains("everything"),
        "{out}"
    );
    if let Some(py) = python_client() {
        let out = py_stream(
            &py,
            &s.url,
            "legacy",
            "trigger-long-running-operation",
            &json!({"duration": 1, "steps": 2}),
        );
        assert_eq!(out["progress"], json!([1.0, 2.0]), "{out}");
    }
}

/// 2026-07-28 clients get progress on the POST's stream too; log messages only when their
/// request set a log level (the Python client sets one).
#[test]
fn modern_clients_get_progress_and_logs_on_the_stream() {
    let (Some(py), Some(cmd)) = (python_client(), fixture_cmd()) else {
        return;
    };
    let s = serve(&[], &cmd);
    let out = py_stream(&py, &s.url, "auto", "test_tool_with_progress", &json!({}));
    assert_eq!(out["protocolVersion"], "2026-07-28", "{out}");
    assert_eq!(out["progress"], json!([0.0, 50.0, 100.0]), "{out}");
    let out = py_stream(&py, &s.url, "auto", "test_tool_with_logging", &json!({}));
    assert_eq!(out["logs"].as_array().unwrap().len(), 3, "{out}");
}

/// A 2026-07-28 request without `io.modelcontextprotocol/logLevel` gets no log messages.
#[test]
fn modern_requests_without_a_log_level_get_no_logs() {
    let Some(cmd) = fixture_cmd() else { return };
    let s = serve(&[], &cmd);
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
    "name": "test_tool_with_logging", "arguments": {},
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}
    }}});
    let r = post(
        &s.url,
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "test_tool_with_logging"),
        ],
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
    assert!(!r.body.contains("notifications/message"), "{r:?}");
}

/// A client that accepts only JSON cannot be asked anything: the child's sampling request is
/// answered with an error at once, the tool reports it, and the child lives on.
#[test]
fn without_sse_a_server_request_fails_fast_and_the_child_survives() {
    let Some(cmd) = fixture_cmd() else { return };
    let s = serve(&["--sessions", "none"], &cmd);
    let mut m = Mcp::stateless(&s.url, "2025-11-25");
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": "test_sampling", "arguments": {"prompt": "x"}}});
    let started = Instant::now();
    let r = mcp_lambda_tests::http(
        "POST",
        &s.url,
        &[
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("mcp-protocol-version", "2025-11-25"),
        ],
        Some(&call.to_string()),
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r.status, 200, "{r:?}");
    let v = r.json();
    assert_eq!(v["result"]["isError"], true, "{v}");
    assert!(text(&v).contains("sampling failed"), "{v}");
    // The same child answers the next call.
    let v = m.call("test_simple_text", json!({}));
    assert!(v["content"][0]["text"].is_string(), "{v}");
}

/// 2026-07-28 clients: a legacy child's sampling / elicitation request becomes an
/// `InputRequiredResult` (MRTR); the Python client answers it with its callbacks and retries,
/// and the retried call gets the answer.
#[test]
fn modern_clients_answer_sampling_and_elicitation_as_input_required_results() {
    let (Some(py), Some(cmd)) = (python_client(), fixture_cmd()) else {
        return;
    };
    let s = serve(&[], &cmd);
    let out = py_stream(
        &py,
        &s.url,
        "auto",
        "test_sampling",
        &json!({"prompt": "mrtr"}),
    );
    assert_eq!(out["protocolVersion"], "2026-07-28", "{out}");
    assert_eq!(out["asked"], json!(["sampling/createMessage"]), "{out}");
    assert_eq!(text(&out), "LLM response: sampled: mrtr", "{out}");
    let out = py_stream(
        &py,
        &s.url,
        "auto",
        "test_elicitation",
        &json!({"message": "who?"}),
    );
    assert_eq!(out["asked"], json!(["elicitation/create"]), "{out}");
    assert!(text(&out).contains("alice"), "{out}");
}

fn modern_call(url: &str, id: u64, tool: &str, params: Value) -> (u16, Value) {
    let mut params = params;
    params["name"] = json!(tool);
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {}},
    });
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
    let r = mcp_lambda_tests::http(
        "POST",
        url,
        &[
            ("content-type", "application/json"),
            ("accept", "application/json"),
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", tool),
        ],
        Some(&body.to_string()),
    );
    (r.status, r.json())
}

/// The round trip by hand, across two instances sharing keys: instance A asks (sealed
/// `requestState`), instance B continues the round; a tampered state is refused.
#[test]
fn input_required_rounds_continue_on_another_instance_with_the_same_keys() {
    let Some(cmd) = fixture_cmd() else { return };
    let key = ("MCP_LAMBDA_SESSION_KEYS", "11".repeat(32));
    let start = || {
        let mut args = vec!["--sessions", "none", "--"];
        args.extend(cmd.iter().map(String::as_str));
        mcp_lambda_tests::Server::start(&args, &[(key.0, key.1.as_str())])
    };
    let (a, b) = (start(), start());
    let args = json!({"arguments": {"message": "name?"}});
    let (status, v) = modern_call(&a.url, 1, "test_elicitation", args.clone());
    assert_eq!(status, 200, "{v}");
    let result = &v["result"];
    assert_eq!(result["resultType"], "input_required", "{v}");
    let (key_name, request) = result["inputRequests"]
        .as_object()
        .unwrap()
        .iter()
        .next()
        .unwrap();
    assert_eq!(request["method"], "elicitation/create", "{v}");
    let state = result["requestState"].as_str().unwrap().to_owned();

    let mut retry = args.clone();
    retry["inputResponses"] =
        json!({ key_name: {"action": "accept", "content": {"username": "bob"}} });
    retry["requestState"] = json!(state);
    let (status, v) = modern_call(&b.url, 2, "test_elicitation", retry.clone());
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["id"], 2);
    assert_eq!(v["result"]["resultType"], "complete", "{v}");
    assert!(text(&v).contains("bob"), "{v}");

    // Tampered state, or the state of another call: 400, -32602.
    let mut bad = retry.clone();
    bad["requestState"] = json!(format!("{state}A"));
    let (status, v) = modern_call(&b.url, 3, "test_elicitation", bad);
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(-32602)),
        "{v}"
    );
    let mut other = retry;
    other["arguments"] = json!({"message": "something else"});
    let (status, v) = modern_call(&b.url, 4, "test_elicitation", other);
    assert_eq!(
        (status, v["error"]["code"].as_i64()),
        (400, Some(-32602)),
        "{v}"
    );
}

/// The next `data:` line after an `id:` line on the stream: (id, data).
fn next_event(rx: &std::sync::mpsc::Receiver<String>) -> (String, String) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut id = String::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.to_owned();
        } else if let Some(data) = line.strip_prefix("data: ") {
            return (id, data.to_owned());
        }
    }
    panic!("no event on the GET stream");
}

/// A session's GET stream carries what belongs to no request (here the list change a tool
/// triggers), with event ids; after a reconnect with `Last-Event-ID`, what was missed is replayed.
#[test]
fn the_get_stream_carries_list_changes_and_resumes_after_last_event_id() {
    let Some(cmd) = fixture_cmd() else { return };
    let s = serve(&[], &cmd);
    let mut m = Mcp::connect(&s.url, "2025-11-25", "get-stream");
    let session = m.session.clone().unwrap();
    let (conn, rx) = get_stream(&s.base, &session, None);
    std::thread::sleep(Duration::from_millis(200));
    m.call("test_trigger_tool_change", json!({}));
    let (first_id, data) = next_event(&rx);
    assert!(data.contains("notifications/tools/list_changed"), "{data}");
    assert!(!first_id.is_empty());
    // Hang up, miss one, come back with the last id seen.
    drop(conn);
    std::thread::sleep(Duration::from_millis(200));
    m.call("test_trigger_tool_change", json!({}));
    std::thread::sleep(Duration::from_millis(300));
    let (_conn, rx) = get_stream(&s.base, &session, Some(&first_id));
    let (id, data) = next_event(&rx);
    assert!(data.contains("notifications/tools/list_changed"), "{data}");
    assert!(
        id.parse::<u64>().unwrap() > first_id.parse::<u64>().unwrap(),
        "{id} after {first_id}"
    );
    // GET needs a session and an SSE Accept.
    let r = mcp_lambda_tests::http("GET", &s.url, &[("accept", "text/event-stream")], None);
    assert_eq!(r.status, 400, "{r:?}");
    let r = mcp_lambda_tests::http(
        "GET",
        &s.url,
        &[("accept", "application/json"), ("mcp-session-id", &session)],
        None,
    );
    assert_eq!(r.status, 406, "{r:?}");
}

/// A message belongs to the child that sent it: with `per-session`, one session's list change
/// reaches that session's GET stream and never another session's.
#[test]
fn one_sessions_server_messages_never_reach_another_sessions_stream() {
    let Some(cmd) = fixture_cmd() else { return };
    let s = serve(&["--lifecycle", "per-session"], &cmd);
    let mut a = Mcp::connect(&s.url, "2025-11-25", "session-a");
    let mut b = Mcp::connect(&s.url, "2025-11-25", "session-b");
    let (_a_conn, a_rx) = get_stream(&s.base, a.session.as_ref().unwrap(), None);
    let (_b_conn, b_rx) = get_stream(&s.base, b.session.as_ref().unwrap(), None);
    std::thread::sleep(Duration::from_millis(200));
    // The GET answers' status lines and headers.
    let drain = |rx: &std::sync::mpsc::Receiver<String>| {
        let mut data = Vec::new();
        while let Ok(line) = rx.try_recv() {
            if let Some(d) = line.strip_prefix("data: ") {
                data.push(d.to_owned());
            }
        }
        data
    };
    drain(&a_rx);
    drain(&b_rx);
    a.call("test_trigger_tool_change", json!({}));
    let (_, data) = next_event(&a_rx);
    assert!(data.contains("notifications/tools/list_changed"), "{data}");
    // Delivered to every mailbox at once, if at all: by now B would have it.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(drain(&b_rx), Vec::<String>::new(), "A's child reached B");
    // B's own child does reach B.
    b.call("test_trigger_tool_change", json!({}));
    let (id, data) = next_event(&b_rx);
    assert!(data.contains("notifications/tools/list_changed"), "{data}");
    assert_eq!(id, "1", "B's first event is its own");
}
