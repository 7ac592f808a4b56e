//! `fixture-server`: a deliberately misbehaving stdio MCP server for mcp-lambda's tests.
//!
//! Contract:
//! - Transport: newline-delimited JSON-RPC 2.0 on stdin/stdout; each reply is written as one
//!   line + `\n` under a mutex and flushed. Request ids are echoed back verbatim. Logs go to
//!   stderr. Exits with status 0 when stdin reaches EOF.
//! - Mode, chosen by the first CLI argument (default `normal`):
//!   - `normal`: serve normally.
//!   - `ignore-sigterm`: re-exec itself (same pid) as `sh -c 'trap "" TERM; exec "$0" normal'
//!     <self>`, so it serves normally with SIGTERM ignored (only SIGKILL stops it).
//!   - `garbage-banner`: print 3 non-JSON lines to stdout at startup, then serve normally.
//!   - `exit-on-start`: write `fatal: cannot start` to stderr and exit with status 7.
//!   - `slow-start`: sleep 500 ms before reading stdin.
//!   - anything else: complain on stderr and exit with status 2.
//! - Environment (every mode): `FIXTURE_SPAWN_LOG=FILE` appends one line (its pid) to FILE at
//!   start, so a test can count spawns; `FIXTURE_START_MS=N` sleeps N ms before reading stdin
//!   (a server that is slow to start, e.g. one importing a lot of Python);
//!   `FIXTURE_BROKEN_SCHEMA=1` adds a tool `bad tool` whose inputSchema is `{"type": "text"}`.
//! - Methods: `initialize` (echoes a known requested protocolVersion, else `2025-11-25`;
//!   serverInfo name `fixture-server`), `ping`, `tools/list`, `tools/call`; notifications get
//!   no reply; other methods get -32601; malformed JSON gets -32700 with id null.
//! - Tools (every mode), each `tools/call` on its own thread unless noted:
//!   `echo` {message}, `pid`, `crash` {code? = 3} (exit at once with that status, no reply),
//!   `abort` (SIGABRT), `hang` (never replies), `freeze` (on the reader thread: holds the stdout
//!   lock and sleeps forever, so nothing is read or answered any more), `garbage` (3 non-JSON
//!   lines — `this is not json`, `{broken`, an empty line — then the reply "ok"), `flood`
//!   {bytes} (one reply line whose text is `bytes` × 'x'), `stderr` {lines} (writes
//!   `fixture stderr line N` for N in 1..=lines, then "ok"), `slow` {ms? = 1000} ("slept"),
//!   `spawn_grandchild` {inherit_stdio? = false} (spawns `sleep 300` in the same process group,
//!   replies with its pid; its stdin/stdout are /dev/null unless `inherit_stdio`, stderr is
//!   inherited), `client_info` (compact JSON of the initialize params, or "null"),
//!   `init_count` (how many `initialize` requests were received).
//! - Unknown tool or bad arguments: -32602.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

const NAME: &str = "fixture-server";
const SUPPORTED_PROTOCOL_VERSIONS: [&str; 4] =
    ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];
const LATEST_PROTOCOL_VERSION: &str = "2025-11-25";
/// Upper bound of the `flood` tool, to keep a typo from eating all memory.
const MAX_FLOOD_BYTES: u64 = 1 << 30;
const MAX_SLOW_MS: u64 = 600_000;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;

fn main() -> ExitCode {
    let mode = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "normal".to_owned());
    match mode.as_str() {
        "normal" => {}
        "ignore-sigterm" => {
            let exe = match std::env::current_exe() {
                Ok(exe) => exe,
                Err(err) => {
                    eprintln!("{NAME}: cannot locate own executable: {err}");
                    return ExitCode::FAILURE;
                }
            };
            // Ignored signal dispositions survive exec, so the final process ignores SIGTERM.
            let err = Command::new("sh")
                .arg("-c")
                .arg(r#"trap "" TERM; exec "$0" normal"#)
                .arg(exe)
                .exec();
            eprintln!("{NAME}: cannot re-exec under sh: {err}");
            return ExitCode::FAILURE;
        }
        "garbage-banner" => {
            let mut out = io::stdout().lock();
            let banner = "fixture-server v0 starting up\n*** this banner is not JSON ***\n\
                          ready: listening on stdio\n";
            if out
                .write_all(banner.as_bytes())
                .and_then(|()| out.flush())
                .is_err()
            {
                return ExitCode::FAILURE;
            }
        }
        "exit-on-start" => {
            eprintln!("fatal: cannot start");
            return ExitCode::from(7);
        }
        "slow-start" => thread::sleep(Duration::from_millis(500)),
        other => {
            eprintln!(
                "{NAME}: unknown mode {other:?} (expected normal, ignore-sigterm, \
                 garbage-banner, exit-on-start or slow-start)"
            );
            return ExitCode::from(2);
        }
    }
    if let Some(path) = std::env::var_os("FIXTURE_SPAWN_LOG") {
        let logged = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| writeln!(f, "{}", std::process::id()));
        if let Err(err) = logged {
            eprintln!("{NAME}: cannot append to FIXTURE_SPAWN_LOG: {err}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(ms) = std::env::var("FIXTURE_START_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        thread::sleep(Duration::from_millis(ms.min(MAX_SLOW_MS)));
    }
    match serve() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{NAME}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Serves on stdin/stdout until stdin reaches EOF.
fn serve() -> io::Result<()> {
    let server = Server::new(Box::new(io::stdout()));
    let mut input = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        server.handle_line(&line);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A JSON-RPC error object.
#[derive(Debug)]
struct RpcError {
    code: i64,
    message: String,
}

impl RpcError {
    fn new(code: i64, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    fn bad_argument(tool: &str, argument: &str, requirement: &str) -> Self {
        Self::new(
            INVALID_PARAMS,
            format!("Invalid arguments for tool `{tool}`: `{argument}` {requirement}"),
        )
    }
}

/// What a tool call asks the server to do.
enum Outcome {
    /// Reply with this result (or error).
    Reply(Result<Value, RpcError>),
    /// Write these raw lines (each without `\n`) first, then reply with the result.
    GarbageThenReply(&'static [&'static str], Value),
    /// Never reply.
    NoReply,
}

struct Server {
    out: Mutex<Box<dyn Write + Send>>,
    init_params: Mutex<Option<Value>>,
    init_count: AtomicU64,
}

impl Server {
    fn new(out: Box<dyn Write + Send>) -> Arc<Self> {
        Arc::new(Self {
            out: Mutex::new(out),
            init_params: Mutex::new(None),
            init_count: AtomicU64::new(0),
        })
    }

    fn write_lines(&self, prefix: &[&str], message: Option<String>) {
        let mut buf = String::new();
        for line in prefix {
            buf.push_str(line);
            buf.push('\n');
        }
        if let Some(message) = message {
            buf.push_str(&message);
            buf.push('\n');
        }
        let mut out = lock(&self.out);
        if let Err(err) = out.write_all(buf.as_bytes()).and_then(|()| out.flush()) {
            eprintln!("{NAME}: cannot write to stdout: {err}");
        }
    }

    fn send_reply(&self, raw_id: &str, reply: Result<Value, RpcError>) {
        self.write_lines(&[], Some(format_reply(raw_id, reply)));
    }

    fn handle_line(self: &Arc<Self>, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        let parsed = std::str::from_utf8(line)
            .map_err(|err| err.to_string())
            .and_then(|text| {
                serde_json::from_str::<HashMap<String, &RawValue>>(text)
                    .map_err(|err| err.to_string())
            });
        let fields = match parsed {
            Ok(fields) => fields,
            Err(err) => {
                eprintln!("{NAME}: malformed line: {err}");
                let error = RpcError::new(PARSE_ERROR, format!("Parse error: {err}"));
                return self.send_reply("null", Err(error));
            }
        };
        let id = fields.get("id").map(|raw| raw.get());
        let method = fields
            .get("method")
            .and_then(|raw| serde_json::from_str::<String>(raw.get()).ok());
        let params = fields
            .get("params")
            .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
            .unwrap_or(Value::Null);
        match (method, id) {
            (Some(method), Some(id)) => self.handle_request(&method, id, params),
            (Some(_), None) => {} // notification
            (None, Some(_)) if fields.contains_key("result") || fields.contains_key("error") => {}
            (None, id) => self.send_reply(
                id.unwrap_or("null"),
                Err(RpcError::new(INVALID_REQUEST, "Invalid Request")),
            ),
        }
    }

    fn handle_request(self: &Arc<Self>, method: &str, raw_id: &str, params: Value) {
        let reply = match method {
            "initialize" => {
                self.init_count.fetch_add(1, Ordering::SeqCst);
                let version = params
                    .get("protocolVersion")
                    .and_then(Value::as_str)
                    .and_then(|v| SUPPORTED_PROTOCOL_VERSIONS.iter().find(|k| **k == v))
                    .copied()
                    .unwrap_or(LATEST_PROTOCOL_VERSION);
                *lock(&self.init_params) = Some(params);
                Ok(json!({
                    "protocolVersion": version,
                    "capabilities": { "tools": { "listChanged": false } },
                    "serverInfo": { "name": NAME, "version": env!("CARGO_PKG_VERSION") },
                }))
            }
            "ping" => Ok(json!({})),
            "tools/list" => Ok(with_broken_schema(tools_list())),
            "tools/call" => {
                if params.get("name").and_then(Value::as_str) == Some("freeze") {
                    self.freeze();
                }
                let server = Arc::clone(self);
                let id = raw_id.to_owned();
                let spawned = thread::Builder::new()
                    .name("tools/call".into())
                    .spawn(move || server.finish_call(&id, server.call_tool(&params)));
                match spawned {
                    Ok(_) => return,
                    Err(err) => Err(RpcError::new(
                        INTERNAL_ERROR,
                        format!("cannot start tool thread: {err}"),
                    )),
                }
            }
            other => Err(RpcError::new(
                METHOD_NOT_FOUND,
                format!("Method not found: {other}"),
            )),
        };
        self.send_reply(raw_id, reply);
    }

    fn finish_call(&self, raw_id: &str, outcome: Outcome) {
        match outcome {
            Outcome::Reply(reply) => self.send_reply(raw_id, reply),
            Outcome::GarbageThenReply(lines, result) => {
                self.write_lines(lines, Some(format_reply(raw_id, Ok(result))));
            }
            Outcome::NoReply => {}
        }
    }

    /// Stops everything: holds the stdout lock (no thread can answer) and never returns to the
    /// reader loop (stdin is no longer read).
    fn freeze(&self) -> ! {
        eprintln!("{NAME}: freezing");
        let _out = lock(&self.out);
        loop {
            thread::sleep(Duration::from_secs(3600));
        }
    }

    fn call_tool(&self, params: &Value) -> Outcome {
        match self.try_call_tool(params) {
            Ok(outcome) => outcome,
            Err(err) => Outcome::Reply(Err(err)),
        }
    }

    fn try_call_tool(&self, params: &Value) -> Result<Outcome, RpcError> {
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Err(RpcError::new(
                INVALID_PARAMS,
                "tools/call params: `name` is required and must be a string",
            ));
        };
        let empty = Map::new();
        let args = match params.get("arguments") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(args)) => args,
            Some(_) => {
                return Err(RpcError::bad_argument(
                    name,
                    "arguments",
                    "must be an object",
                ));
            }
        };
        let reply = |text: String| Ok(Outcome::Reply(Ok(text_result(text))));
        match name {
            "echo" => match args.get("message").and_then(Value::as_str) {
                Some(message) => reply(message.to_owned()),
                None => Err(RpcError::bad_argument(
                    name,
                    "message",
                    "is required and must be a string",
                )),
            },
            "pid" => reply(std::process::id().to_string()),
            "crash" => {
                let code = optional_u64(name, args, "code", 3, 255)?;
                eprintln!("{NAME}: crashing with exit code {code}");
                std::process::exit(i32::try_from(code).unwrap_or(3));
            }
            "abort" => {
                eprintln!("{NAME}: aborting");
                std::process::abort();
            }
            "hang" => Ok(Outcome::NoReply),
            "freeze" => self.freeze(),
            "garbage" => Ok(Outcome::GarbageThenReply(
                &["this is not json", "{broken", ""],
                text_result("ok".to_owned()),
            )),
            "flood" => {
                let bytes = required_u64(name, args, "bytes", MAX_FLOOD_BYTES)?;
                let len = usize::try_from(bytes).map_err(|_| {
                    RpcError::bad_argument(name, "bytes", "is too large for this platform")
                })?;
                reply("x".repeat(len))
            }
            "stderr" => {
                let lines = required_u64(name, args, "lines", u64::MAX)?;
                let mut err = io::stderr().lock();
                for n in 1..=lines {
                    // Nothing useful to do if stderr is gone.
                    let _ = writeln!(err, "fixture stderr line {n}");
                }
                let _ = err.flush();
                reply("ok".to_owned())
            }
            "slow" => {
                let ms = optional_u64(name, args, "ms", 1000, MAX_SLOW_MS)?;
                thread::sleep(Duration::from_millis(ms));
                reply("slept".to_owned())
            }
            "spawn_grandchild" => {
                let inherit = match args.get("inherit_stdio") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(inherit)) => *inherit,
                    Some(_) => {
                        return Err(RpcError::bad_argument(
                            name,
                            "inherit_stdio",
                            "must be a boolean",
                        ));
                    }
                };
                let stdio = || {
                    if inherit {
                        Stdio::inherit()
                    } else {
                        Stdio::null()
                    }
                };
                let mut child = Command::new("sleep")
                    .arg("300")
                    .stdin(stdio())
                    .stdout(stdio())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .map_err(|err| {
                        RpcError::new(INTERNAL_ERROR, format!("cannot spawn sleep: {err}"))
                    })?;
                let pid = child.id();
                // Reap it if it dies while we live, so a killed grandchild is not a zombie.
                let _ = thread::Builder::new()
                    .name("grandchild-reaper".into())
                    .spawn(move || child.wait());
                reply(pid.to_string())
            }
            "client_info" => reply(match &*lock(&self.init_params) {
                Some(params) => params.to_string(),
                None => "null".to_owned(),
            }),
            "init_count" => reply(self.init_count.load(Ordering::SeqCst).to_string()),
            other => Err(RpcError::new(
                INVALID_PARAMS,
                format!("Unknown tool: {other}"),
            )),
        }
    }
}

fn format_reply(raw_id: &str, reply: Result<Value, RpcError>) -> String {
    match reply {
        Ok(result) => format!(r#"{{"jsonrpc":"2.0","id":{raw_id},"result":{result}}}"#),
        Err(err) => {
            let error = json!({ "code": err.code, "message": err.message });
            format!(r#"{{"jsonrpc":"2.0","id":{raw_id},"error":{error}}}"#)
        }
    }
}

fn text_result(text: String) -> Value {
    json!({ "content": [{ "type": "text", "text": text }] })
}

fn required_u64(
    tool: &str,
    args: &Map<String, Value>,
    argument: &str,
    max: u64,
) -> Result<u64, RpcError> {
    args.get(argument)
        .and_then(Value::as_u64)
        .filter(|value| *value <= max)
        .ok_or_else(|| {
            RpcError::bad_argument(
                tool,
                argument,
                &format!("is required and must be an integer between 0 and {max}"),
            )
        })
}

fn optional_u64(
    tool: &str,
    args: &Map<String, Value>,
    argument: &str,
    default: u64,
    max: u64,
) -> Result<u64, RpcError> {
    match args.get(argument) {
        None | Some(Value::Null) => Ok(default),
        Some(_) => required_u64(tool, args, argument, max),
    }
}

/// `tools` with a broken tool added when `FIXTURE_BROKEN_SCHEMA` is set.
fn with_broken_schema(mut tools: Value) -> Value {
    if std::env::var_os("FIXTURE_BROKEN_SCHEMA").is_some()
        && let Some(list) = tools["tools"].as_array_mut()
    {
        list.push(
            json!({"name": "bad tool", "description": "Broken.", "inputSchema": {"type": "text"}}),
        );
    }
    tools
}

fn tools_list() -> Value {
    let no_args = json!({ "type": "object", "properties": {} });
    let tool = |name: &str, description: &str, schema: &Value| json!({ "name": name, "description": description, "inputSchema": schema });
    let int_arg = |arg: &str, required: bool| {
        let mut schema = json!({
            "type": "object",
            "properties": { arg: { "type": "integer", "minimum": 0 } },
        });
        if required {
            schema["required"] = json!([arg]);
        }
        schema
    };
    json!({ "tools": [
        tool("echo", "Returns the message.", &json!({
            "type": "object",
            "properties": { "message": { "type": "string" } },
            "required": ["message"],
        })),
        tool("pid", "Returns this process's pid.", &no_args),
        tool("crash", "Exits at once with the given code (default 3), without replying.",
            &int_arg("code", false)),
        tool("abort", "Kills this process with SIGABRT.", &no_args),
        tool("hang", "Never replies to this request.", &no_args),
        tool("freeze", "Stops reading stdin and answering anything, forever.", &no_args),
        tool("garbage", "Prints non-JSON lines to stdout, then replies \"ok\".", &no_args),
        tool("flood", "Replies with `bytes` 'x' characters in one line.",
            &int_arg("bytes", true)),
        tool("stderr", "Writes `lines` lines to stderr, then replies \"ok\".",
            &int_arg("lines", true)),
        tool("slow", "Sleeps `ms` milliseconds (default 1000), then replies \"slept\".",
            &int_arg("ms", false)),
        tool("spawn_grandchild", "Spawns `sleep 300` in this process group; replies its pid.",
            &json!({
                "type": "object",
                "properties": { "inherit_stdio": { "type": "boolean" } },
            })),
        tool("client_info", "Returns the initialize params received, as JSON.", &no_args),
        tool("init_count", "Returns how many initialize requests were received.", &no_args),
    ]})
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::mpsc::{self, Receiver, Sender};

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

    fn harness() -> (Arc<Server>, Receiver<Vec<u8>>) {
        let (tx, rx) = mpsc::channel();
        (Server::new(Box::new(ChannelWriter(tx))), rx)
    }

    fn next(rx: &Receiver<Vec<u8>>) -> String {
        String::from_utf8(rx.recv_timeout(Duration::from_secs(5)).unwrap()).unwrap()
    }

    fn call(server: &Arc<Server>, rx: &Receiver<Vec<u8>>, tool: &str, args: Value) -> Value {
        let msg = json!({"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":tool,"arguments":args}});
        server.handle_line(msg.to_string().as_bytes());
        serde_json::from_str(&next(rx)).unwrap()
    }

    fn text(reply: &Value) -> &str {
        reply["result"]["content"][0]["text"].as_str().unwrap()
    }

    #[test]
    fn handshake_counts_and_records_initialize() {
        let (server, rx) = harness();
        assert_eq!(text(&call(&server, &rx, "client_info", json!({}))), "null");
        assert_eq!(text(&call(&server, &rx, "init_count", json!({}))), "0");
        for version in ["2025-03-26", "1.0"] {
            let params = json!({"protocolVersion":version,"capabilities":{},
                "clientInfo":{"name":"c","version":"1"}});
            let msg = json!({"jsonrpc":"2.0","id":"i","method":"initialize","params":params});
            server.handle_line(msg.to_string().as_bytes());
            let reply: Value = serde_json::from_str(&next(&rx)).unwrap();
            assert_eq!(reply["id"], "i");
            let expected = if version == "1.0" {
                "2025-11-25"
            } else {
                version
            };
            assert_eq!(reply["result"]["protocolVersion"], expected);
            assert_eq!(reply["result"]["serverInfo"]["name"], NAME);
            let info = call(&server, &rx, "client_info", json!({}));
            assert_eq!(serde_json::from_str::<Value>(text(&info)).unwrap(), params);
        }
        assert_eq!(text(&call(&server, &rx, "init_count", json!({}))), "2");
    }

    #[test]
    fn echo_flood_garbage_and_errors() {
        let (server, rx) = harness();
        assert_eq!(
            text(&call(&server, &rx, "echo", json!({"message":"hi"}))),
            "hi"
        );
        let reply = call(&server, &rx, "flood", json!({"bytes":100_000}));
        assert_eq!(text(&reply).len(), 100_000);
        assert!(text(&reply).bytes().all(|b| b == b'x'));

        server.handle_line(
            br#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"garbage"}}"#,
        );
        let out = next(&rx);
        let lines: Vec<&str> = out.split_terminator('\n').collect();
        assert_eq!(lines[..3], ["this is not json", "{broken", ""]);
        let reply: Value = serde_json::from_str(lines[3]).unwrap();
        assert_eq!(text(&reply), "ok");

        let reply = call(&server, &rx, "nope", json!({}));
        assert_eq!(reply["error"]["code"], INVALID_PARAMS);
        let reply = call(&server, &rx, "flood", json!({}));
        assert_eq!(reply["error"]["code"], INVALID_PARAMS);

        server.handle_line(b"{broken\n");
        let reply: Value = serde_json::from_str(&next(&rx)).unwrap();
        assert_eq!(reply["error"]["code"], PARSE_ERROR);
        assert_eq!(reply["id"], Value::Null);
    }

    #[test]
    fn hang_does_not_block_ping_and_ids_are_verbatim() {
        let (server, rx) = harness();
        server.handle_line(
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"hang"}}"#,
        );
        server.handle_line(br#"{"jsonrpc":"2.0","id":"p-1","method":"ping"}"#);
        assert_eq!(
            next(&rx),
            "{\"jsonrpc\":\"2.0\",\"id\":\"p-1\",\"result\":{}}\n"
        );
        server.handle_line(br#"{"jsonrpc":"2.0","id":2,"method":"server/discover"}"#);
        let reply: Value = serde_json::from_str(&next(&rx)).unwrap();
        assert_eq!(reply["error"]["code"], METHOD_NOT_FOUND);
        assert!(rx.recv_timeout(Duration::from_millis(100)).is_err());
    }

    #[test]
    fn tools_list_names() {
        let tools = tools_list();
        let names: Vec<&str> = tools["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "echo",
                "pid",
                "crash",
                "abort",
                "hang",
                "freeze",
                "garbage",
                "flood",
                "stderr",
                "slow",
                "spawn_grandchild",
                "client_info",
                "init_count"
            ]
        );
    }
}
