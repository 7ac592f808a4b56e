//! mcp-lambda as an AWS Lambda custom runtime, end to end: the real binary started the way
//! Lambda starts it (no arguments, `AWS_LAMBDA_RUNTIME_API` set, `MCP_LAMBDA_*` variables)
//! against the real Runtime API emulator of PyPI `cargo-lambda` (`cargo lambda watch
//! --only-lambda-apis`), reached through its Function URLs (HTTP, payload 2.0) and its Invoke
//! API (`cargo lambda invoke` with every event fixture of `tests/data`).
//!
//! Two things the emulator does differently from Lambda are covered with a minimal Runtime API
//! of our own ([`MiniRuntimeApi`]): it passes the client context on base64-encoded (Lambda sends
//! JSON; AgentCore Gateway puts the tool name there), and it sends a relative deadline (Lambda
//! sends an absolute one, which bounds a request).
//!
//! Every test starts its own emulator (or Runtime API) and runtime: an invocation nobody waits
//! for any more can linger in an emulator's queue. A missing emulator, peer or client fails the
//! test under `CI=true` and skips it (with a message) otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use mcp_lambda_tests::{
    Emulator, Invocation, LambdaRuntime, Mcp, MiniRuntimeApi, alive, bin, cargo_lambda, http,
    mcp_server_time, node, node_module, post, python_client, root, signal, wait_gone,
};
use serde_json::{Value, json};

/// The version the runtime prewarms its `reuse` child with (the latest it speaks).
const LATEST: &str = "2025-11-25";

/// How long one `cargo lambda invoke` or one client run may take.
const INVOKE_TIMEOUT: Duration = Duration::from_secs(30);

/// A command line as `MCP_LAMBDA_COMMAND` takes it: every word single-quoted for the shell.
fn shell_quote(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// The bundled example server, as `MCP_LAMBDA_COMMAND`.
fn example() -> String {
    shell_quote(&[path_str(&bin("mcp-lambda-example-server"))])
}

/// An emulator and the runtime it serves, running `command` with extra environment `env`.
fn function(cl: &Path, command: &str, env: &[(&str, &str)]) -> (Emulator, LambdaRuntime) {
    let emu = Emulator::start(cl);
    let mut all = vec![("MCP_LAMBDA_COMMAND", command)];
    all.extend_from_slice(env);
    let f = LambdaRuntime::start(&emu.runtime_api(), &all);
    (emu, f)
}

fn pid(m: &mut Mcp) -> u32 {
    m.call_text("pid", json!({})).parse().unwrap()
}

/// The number after `key` (e.g. `pid=`) on the first log line containing `needle`.
fn number_in_log(log: &str, needle: &str, key: &str) -> u32 {
    let line = log
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in the log:\n{log}"));
    let rest = &line[line.find(key).unwrap_or_else(|| panic!("{line}")) + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("{line}"))
}

/// Lambda request ids from the emulator are UUIDs.
fn assert_uuid(id: &str) {
    let shape: Vec<usize> = id.split('-').map(str::len).collect();
    assert_eq!(shape, [8, 4, 4, 4, 12], "not a UUID: {id:?}");
    assert!(
        id.bytes().all(|b| b == b'-' || b.is_ascii_hexdigit()),
        "{id}"
    );
}

fn ms(emf: &Value, metric: &str) -> f64 {
    emf[metric]
        .as_f64()
        .unwrap_or_else(|| panic!("no {metric}: {emf}"))
}

// ------------------------------------------------------------------------- Function URL

#[test]
fn function_url_serves_streamable_http_from_the_prewarmed_child() {
    let Some(cl) = cargo_lambda() else { return };
    let (emu, f) = function(&cl, &example(), &[]);
    let url = emu.function_url("/mcp");
    let log = f.log();
    assert!(
        log.contains("lifecycle=Reuse"),
        "reuse is the default:\n{log}"
    );
    assert!(
        log.contains("sessions=None"),
        "no sessions on Lambda:\n{log}"
    );
    // One prewarmed child (a legacy server) serves 2026-07-28 clients without capabilities and
    // the 2025-06-18 / 2025-11-25 family (docs/PROTOCOL-ERAS.md).
    let prewarmed = number_in_log(&log, "version=2025-11-25 took=", "pid=");
    let prewarmed_modern = number_in_log(&log, "version=2026-07-28 took=", "pid=");
    assert!(alive(prewarmed));
    assert_eq!(prewarmed, prewarmed_modern);

    // initialize: answered, and no session is issued. 2025-03-26 is a version family of its
    // own: its client starts a child.
    let seen = f.emf().len();
    let init = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
        "protocolVersion":"2025-03-26","capabilities":{},
        "clientInfo":{"name":"lambda-e2e","version":"1.0"}}});
    let r = post(&url, &[], &init.to_string());
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"), "{r:?}");
    assert_eq!(r.header("mcp-session-id"), None, "{r:?}");
    let v = r.json();
    assert_eq!(v["id"], 1, "{v}");
    assert_eq!(v["result"]["protocolVersion"], "2025-03-26", "{v}");
    assert_eq!(
        v["result"]["serverInfo"]["name"], "mcp-lambda-example-server",
        "{v}"
    );
    // Its metrics line names the invocation: the request id the runtime logged it under.
    let emf = f.emf_after(seen, Duration::from_secs(5));
    assert_eq!(emf["eventSource"], "http-v2", "{emf}");
    assert_eq!(emf["FunctionName"], "_", "{emf}");
    assert_eq!(
        emf["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "mcp-lambda"
    );
    let request_id = emf["requestId"].as_str().unwrap().to_string();
    assert_uuid(&request_id);
    let log = f.log();
    let started = log
        .lines()
        .find(|l| l.contains("started and initialized by a client"))
        .unwrap_or_else(|| panic!("2025-03-26 gets a child of its own:\n{log}"));
    assert!(
        started.contains(&format!("requestId=\"{request_id}\"")),
        "the EMF line carries the id of the invocation that started the child: {started}\n{emf}"
    );
    assert!(
        ms(&emf, "SpawnMs") > 0.0 && ms(&emf, "InitializeMs") > 0.0,
        "{emf}"
    );
    assert_eq!(emf["ChildRestarts"], 0, "{emf}");

    // The client's notification: 202, no body.
    let n = post(
        &url,
        &[("mcp-protocol-version", "2025-06-18")],
        &json!({"jsonrpc":"2.0","method":"notifications/initialized"}).to_string(),
    );
    assert_eq!((n.status, n.body.as_str()), (202, ""), "{n:?}");

    // tools/call from a 2025-06-18 client: the prewarmed child of its family, nothing spawned.
    let mut m = Mcp::stateless(&url, "2025-06-18");
    let seen = f.emf().len();
    assert_eq!(
        m.call_text("echo", json!({"message": "through a Function URL"})),
        "through a Function URL"
    );
    let emf = f.emf_after(seen, Duration::from_secs(5));
    assert_eq!(emf["eventSource"], "http-v2", "{emf}");
    assert_eq!(
        (ms(&emf, "SpawnMs"), ms(&emf, "InitializeMs")),
        (0.0, 0.0),
        "{emf}"
    );
    assert!(ms(&emf, "TotalMs") >= ms(&emf, "CallMs"), "{emf}");
    assert_ne!(emf["requestId"].as_str(), Some(request_id.as_str()));
    let p_0618 = pid(&mut m);
    assert_eq!(
        p_0618, prewarmed,
        "2025-06-18 shares the prewarmed child of its family"
    );

    // The HTTP rules hold behind the Function URL.
    let get = http("GET", &url, &[("accept", "text/event-stream")], None);
    assert_eq!(get.status, 405, "{get:?}");
    let bad = post(&url, &[], "{\"jsonrpc\": \"2.0\", \"id\": 1,");
    assert_eq!(bad.status, 400, "{bad:?}");
    assert_eq!(bad.json()["error"]["code"], -32700, "{bad:?}");
    assert_eq!(bad.json()["id"], Value::Null, "{bad:?}");
    let missing = http(
        "POST",
        &emu.function_url("/elsewhere"),
        &[("content-type", "application/json")],
        Some("{}"),
    );
    assert_eq!(missing.status, 404, "{missing:?}");
    assert!(missing.body.contains("/mcp"), "{missing:?}");

    // Warm path: invocations at the latest version reach the prewarmed child, every time.
    let mut latest = Mcp::stateless(&url, LATEST);
    let (p1, p2) = (pid(&mut latest), pid(&mut latest));
    assert_eq!((p1, p2), (prewarmed, prewarmed), "{}", f.log());

    // One EMF line per invocation, all from the Function URL, each with its own id.
    let invocations = 9;
    f.emf_after(invocations - 1, Duration::from_secs(5));
    let emf = f.emf();
    assert_eq!(emf.len(), invocations, "{}", f.log());
    assert!(emf.iter().all(|e| e["eventSource"] == "http-v2"), "{emf:?}");
    let mut ids: Vec<&str> = emf
        .iter()
        .map(|e| e["requestId"].as_str().unwrap())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), invocations, "{emf:?}");
}

// ------------------------------------------------------------- every fixture, raw events

/// `cargo lambda invoke --data-file tests/data/<fixture>.json`: the function's response.
fn invoke_fixture(emu: &Emulator, fixture: &str) -> Value {
    let file = path_str(&root().join("tests/data").join(format!("{fixture}.json")));
    let (ok, out, err) = emu.invoke(&["--data-file", &file], INVOKE_TIMEOUT);
    assert!(ok, "invoke {fixture} failed:\n{out}\n{err}\n{}", emu.log());
    serde_json::from_str(out.trim())
        .unwrap_or_else(|e| panic!("{fixture}: not JSON ({e}): {out}\n{err}"))
}

/// The JSON body of an HTTP envelope (decoding base64 is never needed: answers are UTF-8).
fn body_of(envelope: &Value) -> Value {
    assert_eq!(envelope["isBase64Encoded"], false, "{envelope}");
    let body = envelope["body"].as_str().unwrap();
    serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {envelope}"))
}

fn assert_echo(v: &Value) {
    assert_eq!(v["id"], 7, "{v}");
    assert_eq!(
        v["result"]["content"][0]["text"], "hello from a fixture",
        "{v}"
    );
}

#[test]
fn every_event_fixture_through_cargo_lambda_invoke() {
    let Some(cl) = cargo_lambda() else { return };
    let (emu, f) = function(&cl, &example(), &[]);

    // Function URL with IAM auth (payload 2.0): tools/call.
    let r = invoke_fixture(&emu, "function-url-iam");
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(r["headers"]["content-type"], "application/json", "{r}");
    assert_echo(&body_of(&r));

    // HTTP API, JWT authorizer, base64 body: initialize, and no session on Lambda.
    let r = invoke_fixture(&emu, "http-api-jwt-base64");
    assert_eq!(r["statusCode"], 200, "{r}");
    assert!(r["headers"].get("mcp-session-id").is_none(), "{r}");
    let b = body_of(&r);
    assert_eq!(b["id"], 1, "{b}");
    assert_eq!(b["result"]["protocolVersion"], "2025-06-18", "{b}");
    assert_eq!(
        b["result"]["serverInfo"]["name"], "mcp-lambda-example-server",
        "{b}"
    );

    // A notification only: 202 with an empty body.
    let r = invoke_fixture(&emu, "http-api-notification");
    assert_eq!(r["statusCode"], 202, "{r}");
    assert_eq!(r["body"], "", "{r}");

    // REST API (payload 1.0): multi-value headers back, and only those (API Gateway would
    // repeat a header given in both maps).
    let r = invoke_fixture(&emu, "rest-api");
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(
        r["multiValueHeaders"]["content-type"],
        json!(["application/json"]),
        "{r}"
    );
    assert!(r.get("headers").is_none(), "{r}");
    let b = body_of(&r);
    assert_eq!((&b["id"], &b["result"]), (&json!("p-1"), &json!({})), "{b}");

    // REST with the stage still in the path.
    let r = invoke_fixture(&emu, "rest-api-stage-in-path");
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_echo(&body_of(&r));

    // ALB: statusDescription, single-value headers exactly when the request had them.
    let r = invoke_fixture(&emu, "alb");
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(r["statusDescription"], "200 OK", "{r}");
    assert_eq!(r["headers"]["content-type"], "application/json", "{r}");
    assert!(r.get("multiValueHeaders").is_none(), "{r}");
    assert_echo(&body_of(&r));

    let r = invoke_fixture(&emu, "alb-multi-value");
    assert_eq!(r["statusCode"], 200, "{r}");
    assert_eq!(r["statusDescription"], "200 OK", "{r}");
    assert_eq!(
        r["multiValueHeaders"]["content-type"],
        json!(["application/json"]),
        "{r}"
    );
    assert!(r.get("headers").is_none(), "{r}");
    let b = body_of(&r);
    assert_eq!((&b["id"], &b["result"]), (&json!("p-1"), &json!({})), "{b}");

    let r = invoke_fixture(&emu, "alb-get");
    assert_eq!(r["statusCode"], 405, "{r}");
    assert_eq!(r["statusDescription"], "405 Method Not Allowed", "{r}");

    // Direct Invoke: bare JSON-RPC in, bare JSON-RPC out.
    assert_echo(&invoke_fixture(&emu, "invoke-request"));
    assert_eq!(invoke_fixture(&emu, "invoke-notification"), Value::Null);
    let r = invoke_fixture(&emu, "invoke-batch");
    let batch = r.as_array().unwrap_or_else(|| panic!("{r}"));
    assert_eq!(batch.len(), 2, "two requests, one notification: {r}");
    assert_echo(&batch[0]);
    assert_eq!(
        (&batch[1]["id"], &batch[1]["result"]),
        (&json!("p-1"), &json!({})),
        "{r}"
    );
    let r = invoke_fixture(&emu, "invoke-malformed");
    assert_eq!(r["error"]["code"], -32600, "{r}");

    // Not a front door: a JSON-RPC error naming what is accepted.
    let r = invoke_fixture(&emu, "s3-put");
    assert_eq!(r["error"]["code"], -32600, "{r}");
    let msg = r["error"]["message"].as_str().unwrap();
    assert!(msg.contains("expected a Lambda Function URL"), "{r}");

    // One metrics line per invocation, each naming its front door.
    let expected = [
        "http-v2", "http-v2", "http-v2", "rest-v1", "rest-v1", "alb", "alb", "alb", "invoke",
        "invoke", "invoke", "invoke", "unknown",
    ];
    f.emf_after(expected.len() - 1, Duration::from_secs(5));
    let sources: Vec<Value> = f.emf().iter().map(|e| e["eventSource"].clone()).collect();
    assert_eq!(sources, expected.map(Value::from), "{}", f.log());
    // The S3 event is logged as what it is.
    assert!(f.log().contains("unrecognised event"), "{}", f.log());
}

// -------------------------------------------------- what only Lambda's own Runtime API does

/// A Runtime API request that fails (the API closes the connection of a poll) does not end the
/// runtime: it polls again, and the next invocation is served by the same warm child.
#[test]
fn a_failed_runtime_api_request_is_survived() {
    let (api, f) = mini_function(&[]);
    let ping = |id: u64| Invocation {
        payload: json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": "pid", "arguments": {}}}),
        client_context: None,
        deadline_in: Duration::from_secs(60),
    };
    let first = api.invoke(ping(1), INVOKE_TIMEOUT).unwrap();
    api.drop_next_polls(1);
    // Served by the poll already waiting; the runtime's next poll is the one that fails.
    let second = api.invoke(ping(2), INVOKE_TIMEOUT).unwrap();
    let third = api
        .invoke(ping(3), INVOKE_TIMEOUT)
        .unwrap_or_else(|e| panic!("the runtime did not poll again: {e}\n{}", f.log()));
    let pid = |v: &Value| v["result"]["content"][0]["text"].clone();
    assert_eq!(pid(&first), pid(&second));
    assert_eq!(pid(&first), pid(&third), "the same warm child");
    assert!(
        f.log()
            .contains("Lambda Runtime API request failed; polling again"),
        "{}",
        f.log()
    );
}

/// `MiniRuntimeApi` and a runtime serving the example server from it.
fn mini_function(env: &[(&str, &str)]) -> (MiniRuntimeApi, LambdaRuntime) {
    let api = MiniRuntimeApi::start();
    let mut all = vec![("MCP_LAMBDA_COMMAND", example())];
    all.extend(env.iter().map(|(k, v)| (*k, v.to_string())));
    let all: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let f = LambdaRuntime::start(&api.addr, &all);
    (api, f)
}

fn read_json(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join(rel)).unwrap()).unwrap()
}

/// AgentCore Gateway invokes with the tool's arguments as the event and
/// `bedrockAgentCoreToolName` (`<target>___<tool>`) in the client context, and wants the
/// CallToolResult back. (`cargo lambda invoke --client-context-file` cannot show this: the
/// emulator hands the runtime the context base64-encoded, which Lambda never does.)
#[test]
fn agentcore_gateway_tool_calls_with_the_client_context() {
    let (api, f) = mini_function(&[]);
    let context = read_json("tests/data/agentcore-client-context.json");
    let call = |payload: Value, context: &Value| {
        api.invoke(
            Invocation {
                payload,
                client_context: Some(context.clone()),
                deadline_in: Duration::from_secs(60),
            },
            INVOKE_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("invocation error: {e}\n{}", f.log()))
    };
    let r = call(read_json("tests/data/agentcore-arguments.json"), &context);
    assert_eq!(r["content"][0]["text"], "hello from AgentCore", "{r}");
    assert!(r.get("jsonrpc").is_none(), "the bare CallToolResult: {r}");
    let emf = f.emf_after(0, Duration::from_secs(5));
    assert_eq!(emf["eventSource"], "agentcore", "{emf}");
    assert_eq!(emf["requestId"], "mini-0", "{emf}");

    // Another tool of the same target; a name without the `___` separator is the tool itself.
    let mut bare = context.clone();
    bare["custom"]["bedrockAgentCoreToolName"] = json!("echo");
    let r = call(json!({"message": "bare name"}), &bare);
    assert_eq!(r["content"][0]["text"], "bare name", "{r}");
    let mut add = context.clone();
    add["custom"]["bedrockAgentCoreToolName"] = json!("mcp-target___add");
    let r = call(json!({"a": 20, "b": 22}), &add);
    assert_eq!(r["content"][0]["text"], "42", "{r}");

    // A JSON-RPC error (unknown tool) becomes an isError result the gateway can show.
    let mut unknown = context.clone();
    unknown["custom"]["bedrockAgentCoreToolName"] = json!("mcp-target___no_such_tool");
    let r = call(json!({}), &unknown);
    assert_eq!(r["isError"], true, "{r}");
    assert_eq!(r["error"]["code"], -32602, "{r}");
    assert_eq!(
        r["content"][0]["text"], "Unknown tool: no_such_tool",
        "the error message is the text: {r}"
    );

    // The same runtime still serves plain direct invokes.
    let r = call(read_json("tests/data/invoke-request.json"), &json!({}));
    assert_echo(&r);
}

/// Lambda sends an absolute deadline; the runtime keeps `MCP_LAMBDA_DEADLINE_MARGIN` (500 ms)
/// of it back, so a slow tool gets a JSON-RPC timeout before Lambda would kill the invocation,
/// even with a far longer request timeout.
#[test]
fn the_invocation_deadline_bounds_a_request() {
    let (api, f) = mini_function(&[("MCP_LAMBDA_REQUEST_TIMEOUT", "60s")]);
    let slow = json!({"jsonrpc":"2.0","id":3,"method":"tools/call",
        "params":{"name":"slow","arguments":{"ms": 5000}}});
    let start = Instant::now();
    let r = api
        .invoke(
            Invocation {
                payload: slow,
                client_context: None,
                deadline_in: Duration::from_millis(1500),
            },
            INVOKE_TIMEOUT,
        )
        .unwrap_or_else(|e| panic!("invocation error: {e}\n{}", f.log()));
    let took = start.elapsed();
    assert_eq!(r["id"], 3, "{r}");
    assert_eq!(r["error"]["code"], -32001, "{r}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(1500),
        "answered at deadline - margin (1 s), before the deadline: {took:?}"
    );
    // The next invocation is served normally.
    let r = api
        .invoke(
            Invocation {
                payload: read_json("tests/data/invoke-request.json"),
                client_context: None,
                deadline_in: Duration::from_secs(60),
            },
            INVOKE_TIMEOUT,
        )
        .unwrap();
    assert_echo(&r);
}

// ------------------------------------------------------------------- real peers, real clients

#[test]
fn python_client_through_a_function_url_to_mcp_server_time() {
    let Some(python) = python_client() else {
        return;
    };
    let Some(cl) = cargo_lambda() else { return };
    let Some(time) = mcp_server_time() else {
        return;
    };
    let command = shell_quote(&[path_str(&time), "--local-timezone".into(), "UTC".into()]);
    let (emu, f) = function(&cl, &command, &[]);
    let url = emu.function_url("/mcp");
    for mode in ["auto", "legacy"] {
        let out = mcp_lambda_tests::py_client(
            &python,
            &url,
            mode,
            "get_current_time",
            &json!({"timezone": "UTC"}),
        );
        // `auto` lands on 2026-07-28 (the wrapper serves both eras), `legacy` initializes.
        let expected = if mode == "auto" { "2026-07-28" } else { LATEST };
        assert_eq!(out["protocolVersion"], expected, "{mode}: {out}");
        assert_eq!(out["serverName"], "mcp-time", "{mode}: {out}");
        assert_eq!(
            out["tools"],
            json!(["convert_time", "get_current_time"]),
            "{mode}: {out}"
        );
        let result = &out["result"];
        assert_eq!(result["isError"], false, "{mode}: {out}");
        let t: Value = serde_json::from_str(result["content"][0]["text"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("{mode}: {e}: {out}"));
        assert_eq!(t["timezone"], "UTC", "{t}");
        assert!(t["datetime"].as_str().unwrap().ends_with("+00:00"), "{t}");
    }
    // Both clients were served by the prewarmed child.
    let log = f.log();
    assert_eq!(log.matches("spawned MCP server").count(), 1, "{log}");
}

#[test]
fn python_client_through_a_function_url_to_server_everything() {
    let Some(python) = python_client() else {
        return;
    };
    let Some(cl) = cargo_lambda() else { return };
    let Some(node) = node() else { return };
    let Some(js) = node_module("@modelcontextprotocol/server-everything/dist/index.js") else {
        return;
    };
    let command = shell_quote(&[path_str(&node), path_str(&js), "stdio".into()]);
    let (emu, f) = function(&cl, &command, &[]);
    let url = emu.function_url("/mcp");
    for mode in ["auto", "legacy"] {
        let message = format!("{mode} through Lambda");
        let out =
            mcp_lambda_tests::py_client(&python, &url, mode, "echo", &json!({"message": message}));
        let expected = if mode == "auto" { "2026-07-28" } else { LATEST };
        assert_eq!(out["protocolVersion"], expected, "{mode}: {out}");
        assert_eq!(out["serverName"], "mcp-servers/everything", "{mode}: {out}");
        assert!(
            out["tools"].as_array().unwrap().contains(&json!("echo")),
            "{mode}: {out}"
        );
        assert_eq!(
            out["result"]["content"][0]["text"],
            format!("Echo: {message}"),
            "{mode}: {out}"
        );
    }
    // A legacy child: one prewarmed child (the one the era probe ran on) serves modern clients
    // without capabilities and legacy clients; no spawn on a request.
    let log = f.log();
    assert_eq!(log.matches("spawned MCP server").count(), 1, "{log}");
    assert_eq!(log.matches("prewarmed the MCP server").count(), 2, "{log}");
}

// ------------------------------------------------------------------ lifecycles and failures

#[test]
fn a_child_killed_between_invocations_is_replaced_on_the_next() {
    let Some(cl) = cargo_lambda() else { return };
    let (emu, f) = function(&cl, &example(), &[]);
    let mut m = Mcp::stateless(&emu.function_url("/mcp"), LATEST);
    let first = pid(&mut m);
    assert!(signal(first, "KILL"));
    assert!(wait_gone(first, Duration::from_secs(5)));
    let seen = f.emf().len();
    let second = pid(&mut m);
    assert_ne!(first, second);
    assert!(alive(second));
    let emf = f.emf_after(seen, Duration::from_secs(5));
    assert_eq!(emf["ChildRestarts"], 1, "{emf}\n{}", f.log());
    assert!(ms(&emf, "SpawnMs") > 0.0, "{emf}");
    let log = f.log();
    assert!(
        log.contains("MCP server is gone; starting a new one"),
        "{log}"
    );
    // And it stays: the replacement serves what follows.
    let seen = f.emf().len();
    assert_eq!(pid(&mut m), second);
    assert_eq!(
        f.emf_after(seen, Duration::from_secs(5))["ChildRestarts"],
        0
    );
}

#[test]
fn per_request_gives_every_invocation_a_fresh_child() {
    let Some(cl) = cargo_lambda() else { return };
    let (emu, f) = function(&cl, &example(), &[("MCP_LAMBDA_LIFECYCLE", "per-request")]);
    let log = f.log();
    assert!(log.contains("lifecycle=PerRequest"), "{log}");
    assert!(
        !log.contains("prewarmed"),
        "prewarm is for reuse only:\n{log}"
    );
    let mut m = Mcp::stateless(&emu.function_url("/mcp"), LATEST);
    let p1 = pid(&mut m);
    let p2 = pid(&mut m);
    assert_ne!(p1, p2, "{}", f.log());
    for p in [p1, p2] {
        assert!(
            wait_gone(p, Duration::from_secs(5)),
            "child {p} left running"
        );
    }
    f.emf_after(1, Duration::from_secs(5));
    for emf in f.emf() {
        assert!(ms(&emf, "SpawnMs") > 0.0, "each pays a spawn: {emf}");
        assert!(ms(&emf, "InitializeMs") > 0.0, "and an initialize: {emf}");
    }
}

#[test]
fn request_timeout_answers_32001_in_time_and_the_next_call_works() {
    let Some(cl) = cargo_lambda() else { return };
    let (emu, _f) = function(&cl, &example(), &[("MCP_LAMBDA_REQUEST_TIMEOUT", "1s")]);
    let mut m = Mcp::stateless(&emu.function_url("/mcp"), LATEST);
    let start = Instant::now();
    let err = m.call_error("slow", json!({"ms": 5000}));
    let took = start.elapsed();
    assert_eq!(err["code"], -32001, "{err}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(3),
        "the emulator's relative deadline is ignored, the 1 s timeout applies: {took:?}"
    );
    assert_eq!(m.call_text("echo", json!({"message": "after"})), "after");
}

#[test]
fn sigterm_stops_the_runtime_and_its_child() {
    let Some(cl) = cargo_lambda() else { return };
    let (emu, mut f) = function(&cl, &example(), &[]);
    let mut m = Mcp::stateless(&emu.function_url("/mcp"), LATEST);
    let child = pid(&mut m);
    assert!(alive(child));
    assert!(signal(f.pid(), "TERM"));
    let status = f
        .wait_exit(Duration::from_secs(2))
        .unwrap_or_else(|| panic!("still running 2 s after SIGTERM:\n{}", f.log()));
    assert!(status.success(), "{status:?}\n{}", f.log());
    assert!(
        wait_gone(child, Duration::from_secs(2)),
        "child {child} outlived the runtime"
    );
    let log = f.log();
    assert!(
        log.contains("Lambda is shutting down; stopping MCP server processes"),
        "{log}"
    );
    assert!(log.contains("Graceful shutdown completed"), "{log}");
}

// ------------------------------------------------------------------ response streaming

/// `MCP_LAMBDA_INVOKE_MODE=RESPONSE_STREAM` under the emulator: a real client on the Function URL
/// gets progress, log messages and the server's sampling / elicitation requests, and answers them.
#[test]
fn a_streaming_function_carries_progress_logs_and_server_requests() {
    let (Some(cl), Some(py), Some(cmd)) = (
        cargo_lambda(),
        python_client(),
        mcp_lambda_tests::fixture_cmd(),
    ) else {
        return;
    };
    let (emu, f) = function(
        &cl,
        &shell_quote(&cmd),
        &[("MCP_LAMBDA_INVOKE_MODE", "RESPONSE_STREAM")],
    );
    assert!(
        f.log().contains("invoke_mode=ResponseStream"),
        "{}",
        f.log()
    );
    // On failure, show what the function and the emulator logged (a hang leaves no other trace).
    struct Dump<'a>(&'a LambdaRuntime, &'a Emulator);
    impl Drop for Dump<'_> {
        fn drop(&mut self) {
            if std::thread::panicking() {
                eprintln!(
                    "function (alive: {}):\n{}\nemulator:\n{}",
                    alive(self.0.pid()),
                    self.0.log(),
                    self.1.log()
                );
            }
        }
    }
    let _dump = Dump(&f, &emu);
    let url = emu.function_url("/mcp");
    let out =
        mcp_lambda_tests::py_stream(&py, &url, "legacy", "test_tool_with_progress", &json!({}));
    assert_eq!(out["progress"], json!([0.0, 50.0, 100.0]), "{out}");
    let out =
        mcp_lambda_tests::py_stream(&py, &url, "legacy", "test_tool_with_logging", &json!({}));
    assert_eq!(out["logs"].as_array().map(Vec::len), Some(3), "{out}");
    let out = mcp_lambda_tests::py_stream(
        &py,
        &url,
        "legacy",
        "test_sampling",
        &json!({"prompt": "λ"}),
    );
    assert_eq!(out["asked"], json!(["sampling/createMessage"]), "{out}");
    assert!(out.to_string().contains("sampled: λ"), "{out}");
    let out = mcp_lambda_tests::py_stream(
        &py,
        &url,
        "auto",
        "test_elicitation",
        &json!({"message": "who?"}),
    );
    assert_eq!(out["protocolVersion"], "2026-07-28", "{out}");
    assert!(out.to_string().contains("alice"), "{out}");
    // The TypeScript SDK client through the same streaming function.
    if let Some(node) = node() {
        let out = mcp_lambda_tests::ts_stream(&node, &url, "test_tool_with_progress", &json!({}));
        assert_eq!(out["progress"], json!([0, 50, 100]), "{out}");
        let out = mcp_lambda_tests::ts_stream(
            &node,
            &url,
            "test_elicitation",
            &json!({"message": "ts?"}),
        );
        assert_eq!(out["asked"], json!(["elicitation/create"]), "{out}");
        assert!(out.to_string().contains("alice"), "{out}");
    }
}

/// Buffered (the default): a tool that asks for sampling completes with an error, fast, and the
/// child lives on to answer the next call.
#[test]
fn a_buffered_function_fails_server_requests_fast_and_keeps_the_child() {
    let (Some(cl), Some(cmd)) = (cargo_lambda(), mcp_lambda_tests::fixture_cmd()) else {
        return;
    };
    let (emu, _f) = function(&cl, &shell_quote(&cmd), &[]);
    let mut m = Mcp::stateless(&emu.function_url("/mcp"), LATEST);
    let started = std::time::Instant::now();
    let r = m.call("test_sampling", json!({"prompt": "x"}));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(r["isError"], true, "{r}");
    let again = m.call("test_simple_text", json!({}));
    assert!(again["content"][0]["text"].is_string(), "{again}");
}
