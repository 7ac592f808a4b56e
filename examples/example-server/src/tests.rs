//! The example server's protocol, tested in-process.
#![allow(clippy::unwrap_used)]

use super::*;
use std::sync::mpsc::{self, Receiver, Sender};

/// Captures each written line (every message is written with a single `write_all`).
struct ChannelWriter(Sender<Vec<u8>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(buf.to_vec()).map_err(io::Error::other)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Harness {
    server: Arc<Server>,
    lines: Receiver<Vec<u8>>,
}

impl Harness {
    fn new() -> Self {
        let (tx, rx) = mpsc::channel();
        Self {
            server: Server::new(Box::new(ChannelWriter(tx))),
            lines: rx,
        }
    }

    fn send(&self, line: &str) {
        self.server.handle_line(line.as_bytes());
    }

    fn next_raw(&self) -> String {
        let bytes = self.lines.recv_timeout(Duration::from_secs(5)).unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.ends_with('\n'), "not newline-terminated: {text:?}");
        assert_eq!(
            text.matches('\n').count(),
            1,
            "more than one line: {text:?}"
        );
        text
    }

    fn next(&self) -> Value {
        serde_json::from_str(&self.next_raw()).unwrap()
    }

    fn request(&self, line: &str) -> Value {
        self.send(line);
        self.next()
    }

    fn call(&self, id: u64, tool: &str, arguments: Value) -> Value {
        let msg = json!({"jsonrpc":"2.0","id":id,"method":"tools/call",
            "params":{"name":tool,"arguments":arguments}});
        let reply = self.request(&msg.to_string());
        assert_eq!(reply["id"], json!(id));
        reply
    }

    fn assert_silent(&self) {
        assert!(
            self.lines.recv_timeout(Duration::from_millis(150)).is_err(),
            "unexpected output"
        );
    }
}

fn text_of(reply: &Value) -> &str {
    reply["result"]["content"][0]["text"].as_str().unwrap()
}

#[test]
fn initialize_negotiates_protocol_version() {
    let h = Harness::new();
    for (requested, expected) in [
        ("2024-11-05", "2024-11-05"),
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ] {
        let reply = h.request(
            &json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
                "protocolVersion":requested,"capabilities":{},
                "clientInfo":{"name":"t","version":"1"}}})
            .to_string(),
        );
        let result = &reply["result"];
        assert_eq!(result["protocolVersion"], expected);
        assert_eq!(result["capabilities"]["tools"]["listChanged"], false);
        assert_eq!(result["capabilities"]["logging"], json!({}));
        assert_eq!(result["serverInfo"]["name"], SERVER_NAME);
        assert_eq!(result["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
        assert!(result["instructions"].is_string());
    }
    let reply = h.request(r#"{"jsonrpc":"2.0","id":2,"method":"initialize"}"#);
    assert_eq!(reply["result"]["protocolVersion"], LATEST_PROTOCOL_VERSION);
}

#[test]
fn ids_are_echoed_verbatim() {
    let h = Harness::new();
    let raw = |line: &str| {
        h.send(line);
        h.next_raw()
    };
    assert_eq!(
        raw(r#"{"jsonrpc":"2.0","id":"abc-1","method":"ping"}"#),
        "{\"jsonrpc\":\"2.0\",\"id\":\"abc-1\",\"result\":{}}\n"
    );
    assert_eq!(
        raw(r#"{"jsonrpc":"2.0","id":1.50,"method":"ping"}"#),
        "{\"jsonrpc\":\"2.0\",\"id\":1.50,\"result\":{}}\n"
    );
    assert_eq!(
        raw(r#"{"id":  "\u0041",   "jsonrpc":"2.0","method":"ping"}"#),
        "{\"jsonrpc\":\"2.0\",\"id\":\"\\u0041\",\"result\":{}}\n"
    );
    assert_eq!(
        raw(
            "{\"jsonrpc\":\"2.0\",\"id\":18446744073709551615,\"method\":\"logging/setLevel\",\"params\":{\"level\":\"debug\"}}\r\n"
        ),
        "{\"jsonrpc\":\"2.0\",\"id\":18446744073709551615,\"result\":{}}\n"
    );
}

#[test]
fn malformed_and_invalid_messages() {
    let h = Harness::new();
    let reply = h.request("{not json");
    assert_eq!(reply["id"], Value::Null);
    assert_eq!(reply["error"]["code"], PARSE_ERROR);
    let reply = h.request("[1,2]");
    assert_eq!(reply["id"], Value::Null);
    assert_eq!(reply["error"]["code"], INVALID_REQUEST);
    let reply = h.request(r#"{"jsonrpc":"2.0","id":4}"#);
    assert_eq!(reply["id"], 4);
    assert_eq!(reply["error"]["code"], INVALID_REQUEST);
    h.server.handle_line(b"\xff\xfe\n");
    assert_eq!(h.next()["error"]["code"], PARSE_ERROR);
    // Blank lines and responses from the client are ignored.
    h.send("   \n");
    h.send(r#"{"jsonrpc":"2.0","id":9,"result":{}}"#);
    h.assert_silent();
}

#[test]
fn unknown_methods_are_not_found() {
    let h = Harness::new();
    for method in ["server/discover", "resources/list", "nope"] {
        let reply = h.request(&json!({"jsonrpc":"2.0","id":"x","method":method}).to_string());
        assert_eq!(reply["id"], "x");
        assert_eq!(reply["error"]["code"], METHOD_NOT_FOUND);
        assert_eq!(
            reply["error"]["message"],
            format!("Method not found: {method}")
        );
    }
}

#[test]
fn notifications_get_no_reply_and_requests_work_before_initialize() {
    let h = Harness::new();
    h.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
    h.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":77}}"#);
    h.send(r#"{"jsonrpc":"2.0","method":"notifications/whatever","params":{}}"#);
    h.assert_silent();
    assert_eq!(
        h.request(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)["result"],
        json!({})
    );
    assert_eq!(
        text_of(&h.call(2, "echo", json!({"message":"early"}))),
        "early"
    );
}

#[test]
fn tools_list_declares_all_tools_with_schemas() {
    let h = Harness::new();
    let reply = h.request(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
    let tools = reply["result"]["tools"].as_array().unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        ["echo", "add", "slow", "fail", "env", "pid", "client_info"]
    );
    for tool in tools {
        assert_eq!(tool["inputSchema"]["type"], "object");
        assert!(tool["inputSchema"]["properties"].is_object());
        assert!(tool["description"].is_string());
    }
    assert_eq!(
        tools[1]["outputSchema"]["properties"]["sum"]["type"],
        "number"
    );
}

#[test]
fn echo_add_fail_env_pid() {
    let h = Harness::new();
    assert_eq!(
        text_of(&h.call(1, "echo", json!({"message":"héllo\nworld"}))),
        "héllo\nworld"
    );

    let reply = h.call(2, "add", json!({"a":2,"b":3}));
    assert_eq!(text_of(&reply), "5");
    assert_eq!(reply["result"]["structuredContent"], json!({"sum":5}));
    let reply = h.call(3, "add", json!({"a":0.5,"b":-2}));
    assert_eq!(text_of(&reply), "-1.5");
    assert_eq!(reply["result"]["structuredContent"], json!({"sum":-1.5}));
    let reply = h.call(4, "add", json!({"a":i64::MAX,"b":1}));
    assert_eq!(
        reply["result"]["structuredContent"]["sum"].as_f64(),
        Some(9.223372036854776e18)
    );

    let reply = h.call(5, "fail", json!({}));
    assert_eq!(reply["result"]["isError"], true);
    assert_eq!(text_of(&reply), "this tool always fails");
    let reply = h.call(6, "fail", json!({"message":"boom"}));
    assert_eq!(reply["result"]["isError"], true);
    assert_eq!(text_of(&reply), "boom");

    let path = std::env::var("PATH").unwrap();
    assert_eq!(text_of(&h.call(7, "env", json!({"name":"PATH"}))), path);
    assert_eq!(
        text_of(&h.call(8, "env", json!({"name":"MCP_LAMBDA_SURELY_UNSET_VARIABLE"}))),
        "<unset>"
    );

    assert_eq!(
        text_of(&h.call(9, "pid", json!({}))),
        std::process::id().to_string()
    );
}

#[test]
fn client_info_reports_initialize_params() {
    let h = Harness::new();
    assert_eq!(text_of(&h.call(1, "client_info", json!({}))), "null");
    let params = json!({"protocolVersion":"2025-06-18","capabilities":{"roots":{}},
        "clientInfo":{"name":"fidelity","version":"9.9"}});
    h.request(&json!({"jsonrpc":"2.0","id":2,"method":"initialize","params":params}).to_string());
    let text = text_of(&h.call(3, "client_info", json!({}))).to_owned();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), params);
    assert!(!text.contains(' '), "not compact: {text}");
}

#[test]
fn unknown_tool_and_bad_arguments() {
    let h = Harness::new();
    let reply = h.call(1, "nope", json!({}));
    assert_eq!(reply["error"]["code"], INVALID_PARAMS);
    assert_eq!(reply["error"]["message"], "Unknown tool: nope");
    for (tool, args, argument) in [
        ("echo", json!({}), "message"),
        ("echo", json!({"message":1}), "message"),
        ("add", json!({"a":1}), "b"),
        ("add", json!({"a":"1","b":2}), "a"),
        ("slow", json!({"ms":-1}), "ms"),
        ("slow", json!({"ms":600_001}), "ms"),
        ("slow", json!({"ms":"10"}), "ms"),
        ("fail", json!({"message":false}), "message"),
        ("env", json!({}), "name"),
        ("echo", json!([1]), "arguments"),
    ] {
        let reply = h.call(2, tool, args);
        assert_eq!(reply["error"]["code"], INVALID_PARAMS, "{tool}");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(&format!("`{argument}`")), "{message}");
    }
    let reply = h.request(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{}}"#);
    assert_eq!(reply["error"]["code"], INVALID_PARAMS);
}

#[test]
fn slow_reports_progress_and_ping_is_answered_meanwhile() {
    let h = Harness::new();
    h.send(r#"{"jsonrpc":"2.0","id":"s","method":"tools/call","params":{"name":"slow","arguments":{"ms":350},"_meta":{"progressToken":"tok"}}}"#);
    h.send(r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#);
    assert_eq!(h.next()["id"], "p");
    let mut progress = Vec::new();
    let reply = loop {
        let message = h.next();
        if message["method"] == "notifications/progress" {
            assert_eq!(message["params"]["progressToken"], "tok");
            assert_eq!(message["params"]["total"], 350);
            progress.push(message["params"]["progress"].as_u64().unwrap());
        } else {
            break message;
        }
    };
    assert_eq!(reply["id"], "s");
    assert_eq!(text_of(&reply), "slept 350 ms");
    assert!(progress.len() >= 3, "{progress:?}");
    assert!(progress.windows(2).all(|w| w[0] < w[1]), "{progress:?}");

    // Without a progress token: no notifications, default-free explicit duration.
    let reply = h.call(2, "slow", json!({"ms":0}));
    assert_eq!(text_of(&reply), "slept 0 ms");
}

#[test]
fn cancelled_slow_call_stops_early_without_response() {
    let h = Harness::new();
    let started = Instant::now();
    h.send(r#"{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"slow","arguments":{"ms":60000}}}"#);
    thread::sleep(Duration::from_millis(50));
    h.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":42,"reason":"test"}}"#);
    // The call ends promptly and forgets itself, without writing anything.
    while !lock(&h.server.in_flight).is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5), "not cancelled");
        thread::sleep(Duration::from_millis(5));
    }
    h.assert_silent();
    // String ids can be cancelled too.
    h.send(r#"{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"slow","arguments":{"ms":60000}}}"#);
    thread::sleep(Duration::from_millis(20));
    h.send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"c"}}"#);
    assert_eq!(
        h.request(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#)["id"],
        1
    );
    h.assert_silent();
    assert!(started.elapsed() < Duration::from_secs(5));
}
