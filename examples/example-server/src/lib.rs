//! A small, dependency-light stdio MCP server used as mcp-lambda's example child.
//!
//! Contract:
//! - Transport: newline-delimited JSON-RPC 2.0. Every message read from stdin is one line;
//!   every message written to stdout is exactly one line terminated by `\n` and flushed,
//!   written under a mutex so concurrent replies never interleave. Diagnostics go to stderr
//!   only. [`run`] returns `Ok(())` when stdin reaches EOF (in-flight tool calls are abandoned).
//! - Concurrency: every `tools/call` runs on its own thread, so `ping` and other requests are
//!   answered while a slow tool call is in progress.
//! - Request ids are echoed back byte-for-byte (the raw JSON value is kept), numbers or strings.
//! - `initialize` echoes the requested protocol version when it is one of
//!   [`SUPPORTED_PROTOCOL_VERSIONS`], else answers with the latest; requests sent before
//!   `initialize` are still answered.
//! - `ping` and `logging/setLevel` return `{}`; `tools/list` lists `echo`, `add`, `slow`,
//!   `fail`, `env`, `pid` and `client_info`; any other method (including `server/discover`)
//!   gets `-32601 "Method not found: <method>"`.
//! - Notifications get no reply. `notifications/cancelled` stops an in-flight `slow` call early
//!   and suppresses the response of any cancelled in-flight `tools/call`.
//! - A line that is not JSON gets `-32700` with id `null`; JSON that is not a request object gets
//!   `-32600`. Blank lines are ignored. Unknown tool or bad arguments give `-32602`.

use std::collections::HashMap;
use std::io::{self, BufRead, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::value::RawValue;
use serde_json::{Map, Value, json};

/// MCP protocol versions this server accepts as-is in `initialize`.
pub const SUPPORTED_PROTOCOL_VERSIONS: [&str; 4] =
    ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"];

/// Version answered when the client requests one this server does not know.
const LATEST_PROTOCOL_VERSION: &str = "2025-11-25";
const SERVER_NAME: &str = "mcp-lambda-example-server";
const INSTRUCTIONS: &str = "Example MCP server bundled with mcp-lambda. Tools: echo (returns \
its message), add (sums two numbers), slow (sleeps, reports progress, can be cancelled), fail \
(always returns a tool error), env (reads an environment variable), pid (process id), \
client_info (the initialize parameters this process received).";

const DEFAULT_SLOW_MS: u64 = 1_000;
const MAX_SLOW_MS: u64 = 600_000;
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;
const INTERNAL_ERROR: i64 = -32603;

/// Serves MCP on stdin/stdout until stdin reaches EOF, then returns `Ok(())`.
///
/// Returns an error only if reading stdin fails. Failures to write stdout are logged to stderr.
pub fn run() -> io::Result<()> {
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

/// Locks a mutex, ignoring poisoning (a panicking tool thread must not wedge the server).
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A JSON-RPC error object (code and message).
#[derive(Debug, Clone, PartialEq)]
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

    fn invalid_params(message: impl Into<String>) -> Self {
        Self::new(INVALID_PARAMS, message)
    }

    fn bad_argument(tool: &str, argument: &str, requirement: &str) -> Self {
        Self::invalid_params(format!(
            "Invalid arguments for tool `{tool}`: `{argument}` {requirement}"
        ))
    }
}

/// Cancellation flag of one in-flight `tools/call`, sleepable.
#[derive(Default)]
struct CancelToken {
    cancelled: Mutex<bool>,
    wakeup: Condvar,
}

impl CancelToken {
    fn cancel(&self) {
        *lock(&self.cancelled) = true;
        self.wakeup.notify_all();
    }

    fn is_cancelled(&self) -> bool {
        *lock(&self.cancelled)
    }

    /// Sleeps for `duration` or until cancelled; returns whether the call was cancelled.
    fn sleep(&self, duration: Duration) -> bool {
        let guard = lock(&self.cancelled);
        let (guard, _) = self
            .wakeup
            .wait_timeout_while(guard, duration, |cancelled| !*cancelled)
            .unwrap_or_else(PoisonError::into_inner);
        *guard
    }
}

/// Canonical form of a request id, used to match `notifications/cancelled` to requests.
fn canonical_id(raw: &str) -> String {
    serde_json::from_str::<Value>(raw).map_or_else(|_| raw.to_owned(), |v| v.to_string())
}

/// Server state shared by the reader loop and the tool-call threads.
struct Server {
    out: Mutex<Box<dyn Write + Send>>,
    /// The `initialize` params received (`Value::Null` if it had none), `None` before it.
    init_params: Mutex<Option<Value>>,
    /// In-flight `tools/call` requests by canonical id.
    in_flight: Mutex<HashMap<String, Arc<CancelToken>>>,
}

impl Server {
    fn new(out: Box<dyn Write + Send>) -> Arc<Self> {
        Arc::new(Self {
            out: Mutex::new(out),
            init_params: Mutex::new(None),
            in_flight: Mutex::new(HashMap::new()),
        })
    }

    /// Writes one message as one line and flushes it.
    fn send_line(&self, mut line: String) {
        line.push('\n');
        let mut out = lock(&self.out);
        if let Err(err) = out.write_all(line.as_bytes()).and_then(|()| out.flush()) {
            eprintln!("{SERVER_NAME}: cannot write to stdout: {err}");
        }
    }

    fn send_reply(&self, raw_id: &str, reply: Result<Value, RpcError>) {
        let line = match reply {
            Ok(result) => format!(r#"{{"jsonrpc":"2.0","id":{raw_id},"result":{result}}}"#),
            Err(err) => {
                let error = json!({ "code": err.code, "message": err.message });
                format!(r#"{{"jsonrpc":"2.0","id":{raw_id},"error":{error}}}"#)
            }
        };
        self.send_line(line);
    }

    fn send_notification(&self, method: &str, params: Value) {
        let message = json!({ "jsonrpc": "2.0", "method": method, "params": params });
        self.send_line(message.to_string());
    }

    /// Handles one line read from stdin (with or without its trailing newline).
    fn handle_line(self: &Arc<Self>, line: &[u8]) {
        let line = line.trim_ascii();
        if line.is_empty() {
            return;
        }
        let Ok(text) = std::str::from_utf8(line) else {
            eprintln!("{SERVER_NAME}: ignoring a line that is not UTF-8");
            self.send_reply(
                "null",
                Err(RpcError::new(PARSE_ERROR, "Parse error: invalid UTF-8")),
            );
            return;
        };
        let fields: HashMap<String, &RawValue> = match serde_json::from_str(text) {
            Ok(fields) => fields,
            Err(err) => {
                let error = if serde_json::from_str::<&RawValue>(text).is_ok() {
                    RpcError::new(INVALID_REQUEST, "Invalid Request: expected a JSON object")
                } else {
                    eprintln!("{SERVER_NAME}: malformed JSON line: {err}");
                    RpcError::new(PARSE_ERROR, format!("Parse error: {err}"))
                };
                self.send_reply("null", Err(error));
                return;
            }
        };
        let id = fields.get("id").map(|raw| raw.get());
        let method = match fields.get("method") {
            None => None,
            Some(raw) => match serde_json::from_str::<String>(raw.get()) {
                Ok(method) => Some(method),
                Err(_) => {
                    let error = RpcError::new(INVALID_REQUEST, "Invalid Request: bad method");
                    self.send_reply(id.unwrap_or("null"), Err(error));
                    return;
                }
            },
        };
        let params = fields
            .get("params")
            .and_then(|raw| serde_json::from_str::<Value>(raw.get()).ok())
            .unwrap_or(Value::Null);
        match (method, id) {
            (Some(method), Some(id)) => self.handle_request(&method, id, params),
            (Some(method), None) => self.handle_notification(&method, &params),
            // A response to a server-to-client request; this server sends none, so ignore it.
            (None, Some(_)) if fields.contains_key("result") || fields.contains_key("error") => {}
            (None, id) => self.send_reply(
                id.unwrap_or("null"),
                Err(RpcError::new(
                    INVALID_REQUEST,
                    "Invalid Request: missing method",
                )),
            ),
        }
    }

    fn handle_notification(&self, method: &str, params: &Value) {
        if method == "notifications/cancelled"
            && let Some(request_id) = params.get("requestId")
            && let Some(token) = lock(&self.in_flight).get(&request_id.to_string())
        {
            token.cancel();
        }
        // notifications/initialized and every other notification: nothing to do.
    }

    fn handle_request(self: &Arc<Self>, method: &str, raw_id: &str, params: Value) {
        let reply = match method {
            "initialize" => Ok(self.initialize(params)),
            "ping" | "logging/setLevel" => Ok(json!({})),
            "tools/list" => Ok(tools_list()),
            "tools/call" => return self.spawn_tool_call(raw_id, params),
            other => Err(RpcError::new(
                METHOD_NOT_FOUND,
                format!("Method not found: {other}"),
            )),
        };
        self.send_reply(raw_id, reply);
    }

    fn initialize(&self, params: Value) -> Value {
        let version = params
            .get("protocolVersion")
            .and_then(Value::as_str)
            .and_then(|v| {
                SUPPORTED_PROTOCOL_VERSIONS
                    .iter()
                    .find(|known| **known == v)
            })
            .copied()
            .unwrap_or(LATEST_PROTOCOL_VERSION);
        *lock(&self.init_params) = Some(params);
        json!({
            "protocolVersion": version,
            "capabilities": { "tools": { "listChanged": false }, "logging": {} },
            "serverInfo": { "name": SERVER_NAME, "version": env!("CARGO_PKG_VERSION") },
            "instructions": INSTRUCTIONS,
        })
    }

    /// Runs a `tools/call` on its own thread; its response is dropped if it gets cancelled.
    fn spawn_tool_call(self: &Arc<Self>, raw_id: &str, params: Value) {
        let key = canonical_id(raw_id);
        let token = Arc::new(CancelToken::default());
        lock(&self.in_flight).insert(key.clone(), Arc::clone(&token));
        let server = Arc::clone(self);
        let id = raw_id.to_owned();
        let spawned = thread::Builder::new()
            .name("tools/call".into())
            .spawn(move || {
                let reply = server.call_tool(&params, &token);
                server.finish(&key, &token);
                if !token.is_cancelled() {
                    server.send_reply(&id, reply);
                }
            });
        if let Err(err) = spawned {
            let key = canonical_id(raw_id);
            lock(&self.in_flight).remove(&key);
            let error = RpcError::new(INTERNAL_ERROR, format!("cannot start tool thread: {err}"));
            self.send_reply(raw_id, Err(error));
        }
    }

    /// Forgets an in-flight call (unless its id has since been reused by another call).
    fn finish(&self, key: &str, token: &Arc<CancelToken>) {
        let mut in_flight = lock(&self.in_flight);
        if in_flight.get(key).is_some_and(|t| Arc::ptr_eq(t, token)) {
            in_flight.remove(key);
        }
    }

    fn call_tool(&self, params: &Value, token: &CancelToken) -> Result<Value, RpcError> {
        let Some(params) = params.as_object() else {
            return Err(RpcError::invalid_params(
                "tools/call params must be an object",
            ));
        };
        let Some(name) = params.get("name").and_then(Value::as_str) else {
            return Err(RpcError::invalid_params(
                "tools/call params: `name` is required and must be a string",
            ));
        };
        let empty = Map::new();
        let args = match params.get("arguments") {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(args)) => args,
            Some(_) => {
                return Err(RpcError::invalid_params(format!(
                    "Invalid arguments for tool `{name}`: `arguments` must be an object"
                )));
            }
        };
        let progress_token = params
            .get("_meta")
            .and_then(|meta| meta.get("progressToken"))
            .filter(|t| t.is_string() || t.is_number());
        match name {
            "echo" => Ok(text_result(required_str(name, args, "message")?)),
            "add" => add(args),
            "slow" => self.slow(args, progress_token, token),
            "fail" => {
                let message = match args.get("message") {
                    None | Some(Value::Null) => "this tool always fails",
                    Some(Value::String(message)) => message,
                    Some(_) => {
                        return Err(RpcError::bad_argument(name, "message", "must be a string"));
                    }
                };
                let mut result = text_result(message);
                result["isError"] = Value::Bool(true);
                Ok(result)
            }
            "env" => {
                let var = required_str(name, args, "name")?;
                Ok(text_result(match std::env::var_os(var) {
                    Some(value) => value.to_string_lossy().into_owned(),
                    None => "<unset>".to_owned(),
                }))
            }
            "pid" => Ok(text_result(std::process::id().to_string())),
            "client_info" => Ok(text_result(match &*lock(&self.init_params) {
                Some(params) => params.to_string(),
                None => "null".to_owned(),
            })),
            other => Err(RpcError::invalid_params(format!("Unknown tool: {other}"))),
        }
    }

    /// The `slow` tool: sleeps `ms` milliseconds, sending progress about every 100 ms when the
    /// caller asked for it, and stopping early when cancelled.
    fn slow(
        &self,
        args: &Map<String, Value>,
        progress_token: Option<&Value>,
        token: &CancelToken,
    ) -> Result<Value, RpcError> {
        let ms = match args.get("ms") {
            None | Some(Value::Null) => DEFAULT_SLOW_MS,
            Some(value) => value
                .as_u64()
                .filter(|ms| *ms <= MAX_SLOW_MS)
                .ok_or_else(|| {
                    RpcError::bad_argument(
                        "slow",
                        "ms",
                        &format!("must be an integer between 0 and {MAX_SLOW_MS}"),
                    )
                })?,
        };
        let start = Instant::now();
        let total = Duration::from_millis(ms);
        loop {
            let elapsed = start.elapsed();
            if elapsed >= total {
                break;
            }
            if token.sleep((total - elapsed).min(PROGRESS_INTERVAL)) {
                return Ok(text_result("cancelled"));
            }
            if let Some(progress_token) = progress_token {
                let done = u64::try_from(start.elapsed().min(total).as_millis()).unwrap_or(ms);
                self.send_notification(
                    "notifications/progress",
                    json!({ "progressToken": progress_token, "progress": done, "total": ms }),
                );
            }
        }
        Ok(text_result(format!("slept {ms} ms")))
    }
}

fn text_result(text: impl Into<String>) -> Value {
    json!({ "content": [{ "type": "text", "text": text.into() }] })
}

fn required_str<'a>(
    tool: &str,
    args: &'a Map<String, Value>,
    argument: &str,
) -> Result<&'a str, RpcError> {
    args.get(argument)
        .and_then(Value::as_str)
        .ok_or_else(|| RpcError::bad_argument(tool, argument, "is required and must be a string"))
}

fn required_number(args: &Map<String, Value>, argument: &str) -> Result<f64, RpcError> {
    args.get(argument)
        .and_then(Value::as_f64)
        .ok_or_else(|| RpcError::bad_argument("add", argument, "is required and must be a number"))
}

/// The `add` tool: integer arithmetic when both operands are integers, else floating point.
fn add(args: &Map<String, Value>) -> Result<Value, RpcError> {
    let a = required_number(args, "a")?;
    let b = required_number(args, "b")?;
    let integer_sum = args
        .get("a")
        .and_then(Value::as_i64)
        .zip(args.get("b").and_then(Value::as_i64))
        .and_then(|(a, b)| a.checked_add(b));
    let (text, sum) = match integer_sum {
        Some(sum) => (sum.to_string(), Value::from(sum)),
        None => {
            let sum = a + b;
            let Some(number) = serde_json::Number::from_f64(sum) else {
                let mut result = text_result("the sum is not a finite number");
                result["isError"] = Value::Bool(true);
                return Ok(result);
            };
            (sum.to_string(), Value::Number(number))
        }
    };
    let mut result = text_result(text);
    result["structuredContent"] = json!({ "sum": sum });
    Ok(result)
}

/// The `tools/list` result.
fn tools_list() -> Value {
    json!({
        "tools": [
            {
                "name": "echo",
                "description": "Returns the given message unchanged.",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "message": { "type": "string", "description": "Text to echo back." }
                    },
                    "required": ["message"],
                    "additionalProperties": false
                }
            },
            {
                "name": "add",
                "description": "Adds two numbers.",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "a": { "type": "number", "description": "First addend." },
                        "b": { "type": "number", "description": "Second addend." }
                    },
                    "required": ["a", "b"],
                    "additionalProperties": false
                },
                "outputSchema": {
                    "type": "object",
                    "properties": { "sum": { "type": "number", "description": "a + b" } },
                    "required": ["sum"]
                }
            },
            {
                "name": "slow",
                "description": "Sleeps for `ms` milliseconds, reporting progress about every \
                    100 ms when a progress token is given. Can be cancelled.",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "ms": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": MAX_SLOW_MS,
                            "default": DEFAULT_SLOW_MS,
                            "description": "How long to sleep, in milliseconds."
                        }
                    },
                    "additionalProperties": false
                }
            },
            {
                "name": "fail",
                "description": "Always returns a tool error (isError: true).",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "message": { "type": "string", "description": "Error text to return." }
                    },
                    "additionalProperties": false
                }
            },
            {
                "name": "env",
                "description": "Returns the value of an environment variable of the server \
                    process, or \"<unset>\".",
                "inputSchema": {
                    "type": "object",
                    "properties": {
                        "name": { "type": "string", "description": "Variable name." }
                    },
                    "required": ["name"],
                    "additionalProperties": false
                }
            },
            {
                "name": "pid",
                "description": "Returns the operating-system process id of this server.",
                "inputSchema": { "type": "object", "properties": {}, "additionalProperties": false }
            },
            {
                "name": "client_info",
                "description": "Returns the initialize params this process received, as JSON \
                    (\"null\" before initialize).",
                "inputSchema": { "type": "object", "properties": {}, "additionalProperties": false }
            }
        ]
    })
}

#[cfg(test)]
mod tests;
