//! Real third-party peers, end to end: published stdio MCP servers (PyPI `mcp-server-time`,
//! npm `@modelcontextprotocol/server-everything` and `server-memory`) served by the real
//! binary in every lifecycle, and published MCP clients (the Python SDK, the TypeScript SDK,
//! the Inspector CLI) talking to it.
//!
//! The peers come from `scripts/install-tools`; a missing one fails the test under `CI=true`
//! and skips it (with a message) otherwise.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mcp_lambda_tests::{
    Mcp, Server, alive, everything_cmd, example_cmd, node, node_module, path_str, post,
    python_client, run, serve, time_cmd, wait_gone,
};
use serde_json::{Value, json};

/// The protocol version every client here asks for and every peer here speaks.
const VERSION: &str = "2025-11-25";

/// How long one run of an outside client may take (a per-request run pays a spawn per request).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

/// `node .../server-memory/dist/index.js`.
fn memory_cmd() -> Option<Vec<String>> {
    let node = node()?;
    let js = node_module("@modelcontextprotocol/server-memory/dist/index.js")?;
    Some(vec![path_str(&node), path_str(&js)])
}

/// `serve` with `--lifecycle <lifecycle>`.
fn serve_in(lifecycle: &str, cmd: &[String]) -> Server {
    serve(&["--lifecycle", lifecycle], cmd)
}

fn tool_names(m: &mut Mcp) -> Vec<String> {
    let v = m.request("tools/list", json!({}));
    assert!(v.get("error").is_none(), "tools/list failed: {v}");
    v["result"]["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("tools/list without tools: {v}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

/// The pids of every child mcp-lambda spawned so far, from its debug log
/// (`child{pid=N}: ... spawned MCP server`).
fn spawned_pids(s: &Server) -> Vec<u32> {
    s.log()
        .lines()
        .filter(|l| l.contains("spawned MCP server"))
        .map(|l| {
            let rest = &l[l.find("child{pid=").expect(l) + "child{pid=".len()..];
            rest[..rest.find('}').unwrap()].parse().unwrap()
        })
        .collect()
}

/// The `request_id` of the log line containing `needle` (e.g. `r0`).
fn request_id_of(s: &Server, needle: &str) -> String {
    let log = s.log();
    let line = log
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in the log:\n{log}"));
    let rest = &line[line.find("request_id=").expect(line) + "request_id=".len()..];
    rest[..rest.find('}').unwrap()].to_string()
}

fn assert_all_gone(pids: &[u32]) {
    for &p in pids {
        assert!(
            wait_gone(p, Duration::from_secs(10)),
            "child {p} was left running"
        );
    }
}

/// Seconds since the epoch of an RFC 3339 `YYYY-MM-DDTHH:MM:SS±HH:MM` time.
fn epoch_seconds(t: &str) -> i64 {
    let n = |r: std::ops::Range<usize>| -> i64 { t[r].parse().unwrap_or_else(|_| panic!("{t}")) };
    let (y, mo, d) = (n(0..4), n(5..7), n(8..10));
    let (h, mi, s) = (n(11..13), n(14..16), n(17..19));
    let sign = if &t[19..20] == "-" { -1 } else { 1 };
    let offset = sign * (n(20..22) * 3600 + n(23..25) * 60);
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + h * 3600 + mi * 60 + s - offset
}

/// Checks a `get_current_time {timezone: "UTC"}` result: the text is the JSON of the
/// structured content, in UTC, and close to our own clock.
fn assert_current_utc(result: &Value) {
    let text = result["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no text content: {result}"));
    let t: Value =
        serde_json::from_str(text).unwrap_or_else(|e| panic!("text is not JSON ({e}): {text}"));
    assert_eq!(t["timezone"], "UTC", "{t}");
    assert_eq!(t["is_dst"], false, "{t}");
    if let Some(sc) = result.get("structuredContent") {
        assert_eq!(sc, &t, "structured content and text agree");
    }
    let dt = t["datetime"].as_str().unwrap();
    assert!(dt.ends_with("+00:00"), "{dt}");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (epoch_seconds(dt) - now).abs() < 300,
        "{dt} is not the current time (now = {now})"
    );
}

/// A whole session against mcp-server-time: list, get_current_time, convert_time.
fn exercise_time(m: &mut Mcp) {
    let names = tool_names(m);
    assert!(
        names.iter().any(|n| n == "get_current_time") && names.iter().any(|n| n == "convert_time"),
        "{names:?}"
    );
    assert_current_utc(&m.call("get_current_time", json!({"timezone": "UTC"})));
}

fn convert_noon_utc_to_tokyo(m: &mut Mcp) {
    let r = m.call(
        "convert_time",
        json!({"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}),
    );
    let t: Value = serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(t["time_difference"], "+9.0h", "{t}");
    let target = t["target"]["datetime"].as_str().unwrap();
    assert!(target.ends_with("T21:00:00+09:00"), "{t}");
}

// ---------------------------------------------------------------- mcp-server-time (PyPI)

#[test]
fn time_server_reuse_serves_many_calls_and_clients_from_one_child() {
    let Some(cmd) = time_cmd() else { return };
    let s = serve_in("reuse", &cmd);
    let mut a = Mcp::connect(&s.url, VERSION, "time-a");
    assert_eq!(a.version, VERSION);
    exercise_time(&mut a);
    // A second call on the same session, and a second client, reach the same child.
    convert_noon_utc_to_tokyo(&mut a);
    assert_current_utc(&a.call("get_current_time", json!({"timezone": "UTC"})));
    let mut b = Mcp::connect(&s.url, VERSION, "time-b");
    assert_ne!(a.session, b.session);
    exercise_time(&mut b);
    let pids = spawned_pids(&s);
    assert_eq!(
        pids.len(),
        1,
        "reuse: one child for everything:\n{}",
        s.log()
    );
    assert!(alive(pids[0]), "the reused child lives on");
    // An unknown timezone is the tool's own error, passed through as such.
    let r = a.call("get_current_time", json!({"timezone": "Not/AZone"}));
    assert_eq!(r["isError"], true, "{r}");
    assert!(alive(pids[0]), "a tool error does not cost the child");
}

#[test]
fn time_server_per_request_pays_a_fresh_child_for_each_request() {
    let Some(cmd) = time_cmd() else { return };
    let s = serve_in("per-request", &cmd);
    let mut m = Mcp::connect(&s.url, VERSION, "time-per-request");
    assert_eq!(m.version, VERSION);
    exercise_time(&mut m);
    let pids = spawned_pids(&s);
    // mcp-server-time speaks 2026-07-28: initialize is answered from its discover result (the
    // child that was probed for it then serves tools/list), tools/call gets a child of its own.
    assert_eq!(pids.len(), 2, "{pids:?}\n{}", s.log());
    let mut distinct = pids.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 2, "{pids:?}");
    assert_all_gone(&pids);
}

#[test]
fn time_server_per_session_gives_each_session_its_own_child() {
    let Some(cmd) = time_cmd() else { return };
    let s = serve_in("per-session", &cmd);
    let mut a = Mcp::connect(&s.url, VERSION, "time-a");
    let mut b = Mcp::connect(&s.url, VERSION, "time-b");
    exercise_time(&mut a);
    exercise_time(&mut b);
    convert_noon_utc_to_tokyo(&mut a);
    let pids = spawned_pids(&s);
    assert_eq!(pids.len(), 2, "one child per session:\n{}", s.log());
    // Sessions were opened one after the other, so their children were spawned in that order.
    let (pa, pb) = (pids[0], pids[1]);
    assert_eq!(a.close(), 200);
    assert!(
        wait_gone(pa, Duration::from_secs(10)),
        "DELETE ends the session's child"
    );
    assert!(alive(pb), "the other session's child lives on");
    assert_current_utc(&b.call("get_current_time", json!({"timezone": "UTC"})));
    assert_eq!(spawned_pids(&s), [pa, pb], "b kept its child");
}

// ------------------------------------------------------ server-everything (npm, TypeScript)

fn exercise_everything(m: &mut Mcp, message: &str) {
    let names = tool_names(m);
    assert!(names.iter().any(|n| n == "echo"), "{names:?}");
    assert!(
        names.len() > 5,
        "the everything server has many tools: {names:?}"
    );
    let text = m.call_text("echo", json!({"message": message}));
    assert_eq!(text, format!("Echo: {message}"));
    assert!(text.contains(message));
}

#[test]
fn everything_server_in_reuse() {
    let Some(cmd) = everything_cmd() else { return };
    let s = serve_in("reuse", &cmd);
    let mut a = Mcp::connect(&s.url, VERSION, "everything-a");
    assert_eq!(a.version, VERSION);
    exercise_everything(&mut a, "hello from reuse");
    assert_eq!(
        a.call_text("get-sum", json!({"a": 2, "b": 40})),
        "The sum of 2 and 40 is 42."
    );
    let mut b = Mcp::connect(&s.url, VERSION, "everything-b");
    exercise_everything(&mut b, "second client");
    assert_eq!(spawned_pids(&s).len(), 1, "{}", s.log());
}

#[test]
fn everything_server_per_request() {
    let Some(cmd) = everything_cmd() else { return };
    let s = serve_in("per-request", &cmd);
    let mut m = Mcp::connect(&s.url, VERSION, "everything-per-request");
    assert_eq!(m.version, VERSION);
    exercise_everything(&mut m, "hello from per-request");
    let pids = spawned_pids(&s);
    assert_eq!(pids.len(), 3, "{pids:?}\n{}", s.log());
    assert_all_gone(&pids);
}

#[test]
fn everything_server_per_session() {
    let Some(cmd) = everything_cmd() else { return };
    let s = serve_in("per-session", &cmd);
    let mut a = Mcp::connect(&s.url, VERSION, "everything-a");
    let mut b = Mcp::connect(&s.url, VERSION, "everything-b");
    exercise_everything(&mut a, "session a");
    exercise_everything(&mut b, "session b");
    assert_eq!(spawned_pids(&s).len(), 2, "{}", s.log());
    assert_eq!(a.close(), 200);
    assert_eq!(b.close(), 200);
    assert_all_gone(&spawned_pids(&s));
}

// --------------------------------------------------- server-memory (npm, stateful graph)

/// A fresh memory file (and the `--env` option that points the server at it).
fn memory_file(tag: &str) -> (PathBuf, String) {
    let p = std::env::temp_dir().join(format!(
        "mcp-lambda-e2e-memory-{}-{tag}.jsonl",
        std::process::id()
    ));
    let _ = std::fs::remove_file(&p);
    let opt = format!("MEMORY_FILE_PATH={}", p.display());
    (p, opt)
}

fn entity(name: &str) -> Value {
    json!({"name": name, "entityType": "test", "observations": [format!("{name} was created")]})
}

fn create_entity(m: &mut Mcp, name: &str) {
    let r = m.call("create_entities", json!({"entities": [entity(name)]}));
    assert_eq!(
        r["structuredContent"]["entities"],
        json!([entity(name)]),
        "{r}"
    );
}

fn graph_names(m: &mut Mcp) -> Vec<String> {
    let r = m.call("read_graph", json!({}));
    let text: Value = serde_json::from_str(r["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        r["structuredContent"], text,
        "structured content and text agree"
    );
    text["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

/// server-memory keeps the graph in `MEMORY_FILE_PATH`: every tool call loads the file and every
/// change rewrites it, so the graph lives exactly as long as the file, whatever the lifecycle.
fn memory_case(lifecycle: &str) {
    let Some(cmd) = memory_cmd() else { return };
    let (file, env) = memory_file(lifecycle);
    let s = serve(&["--lifecycle", lifecycle, "--env", &env], &cmd);
    let mut a = Mcp::connect(&s.url, VERSION, "memory-a");
    assert_eq!(graph_names(&mut a), Vec::<String>::new(), "a fresh file");
    create_entity(&mut a, "Ada");
    assert_eq!(
        graph_names(&mut a),
        ["Ada"],
        "read back in the same session"
    );
    let on_disk = std::fs::read_to_string(&file).unwrap();
    assert!(
        on_disk.contains("\"Ada\""),
        "--env reached the child: {on_disk}"
    );
    // A second client in another session sees the same graph, through the file.
    let mut b = Mcp::connect(&s.url, VERSION, "memory-b");
    create_entity(&mut b, "Grace");
    assert_eq!(graph_names(&mut a), ["Ada", "Grace"]);
    let pids = spawned_pids(&s);
    match lifecycle {
        "reuse" => assert_eq!(pids.len(), 1, "{}", s.log()),
        "per-session" => assert_eq!(pids.len(), 2, "{}", s.log()),
        // Every request spawns: 2 initializes + 5 tool calls. The graph survives anyway:
        // the state is on disk, not in the (short-lived) process.
        "per-request" => {
            assert_eq!(pids.len(), 7, "{}", s.log());
            assert_all_gone(&pids);
        }
        _ => unreachable!(),
    }
    drop(s);
    let _ = std::fs::remove_file(&file);
}

#[test]
fn memory_server_keeps_the_graph_in_reuse() {
    memory_case("reuse");
}

#[test]
fn memory_server_keeps_the_graph_per_session() {
    memory_case("per-session");
}

#[test]
fn memory_server_per_request_still_sees_the_graph_through_its_file() {
    memory_case("per-request");
}

// ------------------------------------------------------------ Python SDK (mcp 2.x) client

/// The Python client in `mode` against a fresh mcp-lambda serving `cmd`; returns its output.
/// Also checks how the handshake went: `auto` lands on 2026-07-28 (stateless: no session is
/// opened), `legacy` initializes first (the gateway numbers every HTTP request `r0`, `r1`, ...,
/// so its initialize is `r0`) and closes its session at the end.
fn py_case(
    python: &Path,
    opts: &[&str],
    cmd: &[String],
    mode: &str,
    tool: &str,
    args: Value,
) -> (Value, Server) {
    let s = serve(opts, cmd);
    let out = mcp_lambda_tests::py_client(python, &s.url, mode, tool, &args);
    assert_eq!(out["result"]["isError"], false, "{out}");
    if mode == "auto" {
        assert_eq!(out["protocolVersion"], "2026-07-28", "{out}");
        assert!(!s.log().contains("session opened"), "{}", s.log());
    } else {
        assert_eq!(out["protocolVersion"], VERSION, "{out}");
        let initialize = request_id_of(&s, "session opened");
        assert_eq!(initialize, "r0", "{mode}: initialize's place:\n{}", s.log());
        s.wait_for_log("session closed by the client", Duration::from_secs(10));
    }
    (out, s)
}

#[test]
fn python_client_auto_and_legacy_with_the_example_server() {
    let Some(python) = python_client() else {
        return;
    };
    // A bare `server/discover` (no 2026-07-28 envelope, no header) is a legacy request: -32601.
    let s = serve(&[], &example_cmd());
    let discover =
        json!({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{}}).to_string();
    let r = post(&s.url, &[], &discover);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["error"]["code"], -32601, "{r:?}");
    // The probe as the Python SDK sends it (header + envelope) is answered with a DiscoverResult.
    let probe = json!({"jsonrpc":"2.0","id":2,"method":"server/discover","params":{"_meta":{
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {}}}})
    .to_string();
    let r = post(
        &s.url,
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "server/discover"),
        ],
        &probe,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.json()["result"]["supportedVersions"][0],
        "2026-07-28",
        "{r:?}"
    );
    drop(s);
    for mode in ["auto", "legacy"] {
        let (out, _s) = py_case(
            &python,
            &[],
            &example_cmd(),
            mode,
            "echo",
            json!({"message": format!("hi from {mode}")}),
        );
        assert_eq!(out["serverName"], "mcp-lambda-example-server", "{out}");
        let tools = out["tools"].as_array().unwrap();
        assert!(
            tools.contains(&json!("echo")) && tools.contains(&json!("add")),
            "{out}"
        );
        assert_eq!(
            out["result"]["content"][0]["text"],
            format!("hi from {mode}"),
            "{out}"
        );
    }
}

#[test]
fn python_client_auto_and_legacy_with_mcp_server_time() {
    let Some(python) = python_client() else {
        return;
    };
    let Some(cmd) = time_cmd() else { return };
    for mode in ["auto", "legacy"] {
        let (out, _s) = py_case(
            &python,
            &[],
            &cmd,
            mode,
            "get_current_time",
            json!({"timezone": "UTC"}),
        );
        assert_eq!(out["serverName"], "mcp-time", "{out}");
        assert_eq!(
            out["tools"],
            json!(["convert_time", "get_current_time"]),
            "{out}"
        );
        assert_current_utc(&out["result"]);
    }
}

#[test]
fn python_client_through_per_request_with_mcp_server_time() {
    let Some(python) = python_client() else {
        return;
    };
    let Some(cmd) = time_cmd() else { return };
    let (out, s) = py_case(
        &python,
        &["--lifecycle", "per-request"],
        &cmd,
        "auto",
        "convert_time",
        json!({"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}),
    );
    assert_eq!(
        out["tools"],
        json!(["convert_time", "get_current_time"]),
        "{out}"
    );
    assert_eq!(
        out["result"]["structuredContent"]["target"]["datetime"]
            .as_str()
            .map(|t| t.ends_with("T21:00:00+09:00")),
        Some(true),
        "{out}"
    );
    // initialize, tools/list, tools/call: a child each, all ended.
    let pids = spawned_pids(&s);
    assert_eq!(pids.len(), 3, "{pids:?}\n{}", s.log());
    assert_all_gone(&pids);
}

// ------------------------------------------------------------------ TypeScript SDK client

/// The TypeScript client, checked for a 64-hex session id and the newest version.
fn ts_client(node: &Path, url: &str, tool: &str, args: Value) -> Value {
    let v = mcp_lambda_tests::ts_client(node, url, tool, &args);
    assert_eq!(v["protocolVersion"], VERSION, "{v}");
    let sid = v["sessionId"].as_str().unwrap_or_default();
    assert!(
        sid.len() == 64 && sid.bytes().all(|b| b.is_ascii_hexdigit()),
        "session id is 64 hex digits: {v}"
    );
    v
}

#[test]
fn typescript_client_with_the_everything_server_and_the_example_server() {
    let Some(node) = node() else { return };
    let Some(_) = node_module("@modelcontextprotocol/sdk/package.json") else {
        return;
    };
    let Some(cmd) = everything_cmd() else { return };

    let s = serve(&[], &cmd);
    let out = ts_client(&node, &s.url, "echo", json!({"message": "from ts"}));
    assert_eq!(out["serverName"], "mcp-servers/everything", "{out}");
    assert!(
        out["tools"].as_array().unwrap().contains(&json!("echo")),
        "{out}"
    );
    assert_eq!(
        out["result"]["content"][0]["text"], "Echo: from ts",
        "{out}"
    );
    // The client ended its session with DELETE.
    s.wait_for_log("session closed by the client", Duration::from_secs(10));

    let s = serve(&[], &example_cmd());
    let out = ts_client(&node, &s.url, "add", json!({"a": 20, "b": 22}));
    assert_eq!(out["serverName"], "mcp-lambda-example-server", "{out}");
    assert_eq!(out["result"]["content"][0]["text"], "42", "{out}");
    let out2 = ts_client(&node, &s.url, "echo", json!({"message": "again"}));
    assert_eq!(out2["result"]["content"][0]["text"], "again", "{out2}");
    assert_ne!(
        out["sessionId"], out2["sessionId"],
        "each run is a new session"
    );
}

// ----------------------------------------------------------------------- Inspector CLI

fn inspector(cli: &Path, url: &str, args: &[&str]) -> Value {
    let (ok, out, err) = run(
        Command::new(cli)
            .arg("--cli")
            .arg(url)
            .args(["--transport", "http"])
            .args(args),
        CLIENT_TIMEOUT,
    );
    assert!(ok, "inspector {args:?} failed:\n{out}\n{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"))
}

#[test]
fn inspector_cli_lists_and_calls_tools_of_the_everything_server() {
    let Some(_) = node() else { return };
    let Some(cli) = node_module(".bin/mcp-inspector") else {
        return;
    };
    let Some(cmd) = everything_cmd() else { return };
    let s = serve(&[], &cmd);
    let list = inspector(&cli, &s.url, &["--method", "tools/list"]);
    let names: Vec<&str> = list["tools"]
        .as_array()
        .unwrap_or_else(|| panic!("{list}"))
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"echo") && names.contains(&"get-sum"),
        "{names:?}"
    );
    let echo = list["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "echo")
        .unwrap();
    assert_eq!(
        echo["inputSchema"]["properties"]["message"]["type"], "string",
        "{echo}"
    );
    let call = inspector(
        &cli,
        &s.url,
        &[
            "--method",
            "tools/call",
            "--tool-name",
            "echo",
            "--tool-arg",
            "message=inspected",
        ],
    );
    assert_eq!(call["content"][0]["text"], "Echo: inspected", "{call}");
    assert_eq!(spawned_pids(&s).len(), 1, "{}", s.log());
}
