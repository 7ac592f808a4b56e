//! MCP clients: a minimal one over HTTP for precise assertions ([`Mcp`]), the real SDK
//! clients in `tests/clients` (Python `mcp`, TypeScript SDK) run as processes, and for the
//! bench a bare stdio client ([`StdioChild`]) and a session over the raw HTTP client
//! ([`McpSession`]).
//!
//! Contract: the e2e helpers panic, naming the client, when the exchange fails (the SDK clients
//! print one JSON line last, which is returned parsed); [`StdioChild`] and [`McpSession`] return
//! errors instead, and never time anything themselves.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::{Client, Resp, Response, http, json_rpc_from_body, post};
use crate::paths::root;
use crate::process::run;

/// A minimal MCP client over raw HTTP (for precise assertions).
pub struct Mcp {
    /// The MCP endpoint.
    pub url: String,
    /// `Mcp-Session-Id`, once the server gave one.
    pub session: Option<String>,
    /// The negotiated protocol version, sent as `mcp-protocol-version`.
    pub version: String,
    next: u64,
}

impl Mcp {
    /// Initializes with `version` and `clientInfo.name = name`; sends `notifications/initialized`.
    pub fn connect(url: &str, version: &str, name: &str) -> Mcp {
        let mut m = Mcp::stateless(url, version);
        let r = post(
            url,
            &[],
            &json!({"jsonrpc":"2.0","id":0,"method":"initialize","params":{
                "protocolVersion": version, "capabilities": {"roots": {}},
                "clientInfo": {"name": name, "version": "1.0"}}})
            .to_string(),
        );
        assert_eq!(r.status, 200, "initialize: {r:?}");
        let v = r.json();
        assert!(v.get("result").is_some(), "initialize failed: {v}");
        m.version = v["result"]["protocolVersion"].as_str().unwrap().to_string();
        m.session = r.header("mcp-session-id").map(str::to_string);
        let n = m.post_raw(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        assert_eq!(n.status, 202, "{n:?}");
        m
    }

    /// A client for a server without sessions that never initializes (stateless use).
    pub fn stateless(url: &str, version: &str) -> Mcp {
        Mcp {
            url: url.to_string(),
            session: None,
            version: version.to_string(),
            next: 1,
        }
    }

    /// POSTs `body` with the protocol version and session headers; returns the answer as is.
    pub fn post_raw(&self, body: &Value) -> Resp {
        let mut h: Vec<(&str, &str)> = vec![("mcp-protocol-version", &self.version)];
        if let Some(s) = &self.session {
            h.push(("mcp-session-id", s));
        }
        post(&self.url, &h, &body.to_string())
    }

    /// Sends a request and returns the whole JSON-RPC response (asserting HTTP 200).
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let id = self.next;
        self.next += 1;
        let r = self.post_raw(&json!({"jsonrpc":"2.0","id":id,"method":method,"params":params}));
        assert_eq!(r.status, 200, "{method}: {r:?}");
        let v = r.json();
        assert_eq!(
            v["id"],
            json!(id),
            "the answer carries the request's id: {v}"
        );
        v
    }

    /// Calls a tool and returns its result (panics on a JSON-RPC error).
    pub fn call(&mut self, tool: &str, args: Value) -> Value {
        let v = self.request("tools/call", json!({"name": tool, "arguments": args}));
        assert!(v.get("error").is_none(), "{tool} failed: {v}");
        v["result"].clone()
    }

    /// The first text content of a tool result.
    pub fn call_text(&mut self, tool: &str, args: Value) -> String {
        let r = self.call(tool, args);
        r["content"][0]["text"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Calls a tool expecting a JSON-RPC error; returns the error object.
    pub fn call_error(&mut self, tool: &str, args: Value) -> Value {
        let v = self.request("tools/call", json!({"name": tool, "arguments": args}));
        assert!(v.get("error").is_some(), "{tool} should have failed: {v}");
        v["error"].clone()
    }

    /// Ends the session with DELETE; returns the status.
    pub fn close(&self) -> u16 {
        let s = self.session.as_deref().unwrap();
        http("DELETE", &self.url, &[("mcp-session-id", s)], None).status
    }
}

/// How long a real client gets for one run.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

/// The last non-empty line of a client's output, as JSON.
fn last_json_line(out: &str, err: &str) -> Value {
    let line = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"))
}

/// Runs a client script (`tests/clients/<script>`) for `tool` on `url` and returns the JSON line
/// it prints; panics (naming the client) if it fails. Python scripts take `MODE` before the tool.
fn client_json(
    interpreter: &Path,
    script: &str,
    url: &str,
    mode: Option<&str>,
    tool: &str,
    args: &Value,
) -> Value {
    let clients = root().join("tests/clients");
    let mut cmd = Command::new(interpreter);
    cmd.current_dir(&clients).arg(clients.join(script)).arg(url);
    if let Some(m) = mode {
        cmd.arg(m);
    }
    let (ok, out, err) = run(cmd.args([tool, &args.to_string()]), CLIENT_TIMEOUT);
    assert!(
        ok,
        "{script} ({}) failed:\n{out}\n{err}",
        mode.unwrap_or("-")
    );
    last_json_line(&out, &err)
}

/// Runs the Python `mcp` client (`tests/clients/py_client.py URL MODE TOOL ARGS`) and returns
/// its JSON line; panics if it fails.
pub fn py_client(python: &Path, url: &str, mode: &str, tool: &str, args: &Value) -> Value {
    client_json(python, "py_client.py", url, Some(mode), tool, args)
}

/// Runs the TypeScript SDK client (`node ts_client.mjs URL TOOL ARGS` in `tests/clients`) and
/// returns its JSON line; panics if it fails.
pub fn ts_client(node: &Path, url: &str, tool: &str, args: &Value) -> Value {
    client_json(node, "ts_client.mjs", url, None, tool, args)
}

/// Runs the TypeScript SDK's OAuth client (`node ts_oauth.mjs URL TOOL ARGS`: 401 → metadata →
/// registration → PKCE authorization code, the login driven over HTTP → token → call) and
/// returns its JSON line (`tools`, `result`, `steps`, `authorization`); panics if it fails.
pub fn ts_oauth(node: &Path, url: &str, tool: &str, args: &Value) -> Value {
    client_json(node, "ts_oauth.mjs", url, None, tool, args)
}

/// Runs the Python `mcp` client's OAuth flow (`py_oauth.py URL TOOL ARGS MODE`) and returns its
/// JSON line, like [`ts_oauth`]; panics if it fails.
pub fn py_oauth(python: &Path, url: &str, mode: &str, tool: &str, args: &Value) -> Value {
    let clients = root().join("tests/clients");
    let mut cmd = Command::new(python);
    cmd.current_dir(&clients)
        .arg(clients.join("py_oauth.py"))
        .args([url, tool, &args.to_string(), mode]);
    let (ok, out, err) = run(&mut cmd, CLIENT_TIMEOUT);
    assert!(ok, "py_oauth.py ({mode}) failed:\n{out}\n{err}");
    last_json_line(&out, &err)
}

/// Runs `tests/clients/py_stream.py URL MODE TOOL ARGS` (progress, logs, sampling and elicitation
/// answered) and returns its JSON line; panics if it fails.
pub fn py_stream(python: &Path, url: &str, mode: &str, tool: &str, args: &Value) -> Value {
    client_json(python, "py_stream.py", url, Some(mode), tool, args)
}

/// Runs `node ts_stream.mjs URL TOOL ARGS` in `tests/clients` (the TypeScript SDK through the
/// streaming paths) and returns its JSON line; panics if it fails.
pub fn ts_stream(node: &Path, url: &str, tool: &str, args: &Value) -> Value {
    client_json(node, "ts_stream.mjs", url, None, tool, args)
}

/// An `initialize` request with `id` for protocol `version`, from client `name`.
pub fn initialize_request(id: u64, version: &str, name: &str) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": name, "version": "1"},
        },
    })
    .to_string()
}

/// The `notifications/initialized` message.
pub const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// A bare stdio MCP client: the server spawned with piped stdin/stdout (stderr discarded) and
/// nothing else between us and it — the baseline a wrapper is compared with.
pub struct StdioChild {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    line: String,
}

impl StdioChild {
    /// Spawns `program args`.
    pub fn spawn(program: &str, args: &[String]) -> std::io::Result<Self> {
        use std::process::Stdio;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(std::io::Error::other("the child has no pipes"));
        };
        let stdout = std::io::BufReader::with_capacity(64 * 1024, stdout);
        let line = String::new();
        Ok(Self {
            child,
            stdin: Some(stdin),
            stdout,
            line,
        })
    }

    /// `initialize` (id 0, protocol `version`) then `notifications/initialized`, exactly as a
    /// wrapper must.
    pub fn handshake(&mut self, version: &str, name: &str) -> std::io::Result<()> {
        let init = initialize_request(0, version, name);
        self.roundtrip(init.as_bytes(), &json!(0))?;
        self.send(INITIALIZED.as_bytes())
    }

    /// Writes `line` (no trailing newline) plus `\n`, in one write.
    fn send(&mut self, line: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(std::io::Error::other("stdin already closed"));
        };
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        stdin.write_all(&buf)?;
        stdin.flush()
    }

    /// Sends `request` and reads lines until the response whose id is `id` (anything else the
    /// server writes, e.g. notifications, is skipped); returns it and the instant its line had
    /// been read (before it was parsed, so parsing is not timed).
    pub fn roundtrip(&mut self, request: &[u8], id: &Value) -> std::io::Result<(Value, Instant)> {
        use std::io::BufRead;
        self.send(request)?;
        loop {
            self.line.clear();
            if self.stdout.read_line(&mut self.line)? == 0 {
                return Err(std::io::Error::other("the child closed stdout"));
            }
            let read = Instant::now();
            let Ok(msg) = serde_json::from_str::<Value>(&self.line) else {
                continue;
            };
            if msg.get("id") == Some(id) && msg.get("method").is_none() {
                return Ok((msg, read));
            }
        }
    }

    /// Closes stdin, waits up to 5 s for the child to exit, then kills it. (Dropped without
    /// this, the child gets EOF on stdin and exits on its own.)
    pub fn close(mut self) -> std::io::Result<()> {
        drop(self.stdin.take());
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = self.child.kill();
        self.child.wait().map(|_| ())
    }
}

/// An MCP client session over one keep-alive HTTP connection ([`Client`]): the initialize-era
/// handshake, then requests carrying `mcp-protocol-version` and `mcp-session-id`.
pub struct McpSession {
    /// The HTTP client.
    pub http: Client,
    /// The MCP endpoint's path.
    pub path: String,
    /// Sent as `mcp-protocol-version` (and in `initialize`).
    pub version: String,
    /// `Mcp-Session-Id`, once the server gave one.
    pub session: Option<String>,
}

impl McpSession {
    /// A session (not yet initialized) on `http` for the endpoint at `path`.
    pub fn new(http: Client, path: &str, version: &str) -> Self {
        let (path, version) = (path.to_owned(), version.to_owned());
        Self {
            http,
            path,
            version,
            session: None,
        }
    }

    /// The headers of a POST: content type, accept, protocol version and session (if any).
    pub fn headers(&self) -> Vec<(&'static str, &str)> {
        mcp_headers(&self.version, self.session.as_deref())
    }

    /// POSTs `body` with [`headers`](Self::headers).
    pub fn post(&mut self, body: &[u8]) -> std::io::Result<Response> {
        let headers = mcp_headers(&self.version, self.session.as_deref());
        self.http.request("POST", &self.path, &headers, body)
    }

    /// `initialize` as client `name` (only content type and accept headers, as a client that
    /// knows no version yet), keeping the `Mcp-Session-Id` the server returns; fails unless it
    /// is a 200 with a result.
    pub fn initialize(&mut self, name: &str) -> std::io::Result<Response> {
        let body = initialize_request(0, &self.version, name);
        let headers = [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
        ];
        let r = self
            .http
            .request("POST", &self.path, &headers, body.as_bytes())?;
        let msg = json_rpc_from_body(&r, &json!(0)).unwrap_or_default();
        if r.status != 200 || msg.get("result").is_none() {
            return Err(std::io::Error::other(format!(
                "initialize: HTTP {}: {}",
                r.status,
                r.text()
            )));
        }
        self.session = r.header("mcp-session-id").map(str::to_owned);
        Ok(r)
    }

    /// `notifications/initialized`; fails unless it is accepted (202, or 200).
    pub fn initialized(&mut self) -> std::io::Result<Response> {
        let r = self.post(INITIALIZED.as_bytes())?;
        if r.status != 202 && r.status != 200 {
            let msg = format!("notifications/initialized: HTTP {}: {}", r.status, r.text());
            return Err(std::io::Error::other(msg));
        }
        Ok(r)
    }

    /// [`initialize`](Self::initialize) then [`initialized`](Self::initialized).
    pub fn open(&mut self, name: &str) -> std::io::Result<()> {
        self.initialize(name)?;
        self.initialized().map(|_| ())
    }

    /// `DELETE` of the session.
    pub fn delete(&mut self) -> std::io::Result<Response> {
        let mut headers = vec![("mcp-protocol-version", self.version.as_str())];
        headers.extend(self.session.as_deref().map(|s| ("mcp-session-id", s)));
        self.http.request("DELETE", &self.path, &headers, b"")
    }
}

/// The headers of an MCP POST for protocol `version` in `session` (if any): content type,
/// accept (JSON or SSE), protocol version, session id.
pub fn mcp_headers<'a>(version: &'a str, session: Option<&'a str>) -> Vec<(&'static str, &'a str)> {
    let mut h = vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", version),
    ];
    h.extend(session.map(|s| ("mcp-session-id", s)));
    h
}

/// The 2026-07-28 envelope for `params._meta`: that version, capabilities `caps`, client `name`.
pub fn modern_meta(caps: Value, name: &str) -> Value {
    json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": caps,
        "io.modelcontextprotocol/clientInfo": {"name": name, "version": "1.0"},
    })
}

/// POSTs one 2026-07-28 request with the headers such a client sends (`Mcp-Name` when the
/// method carries a name or uri); `params` gets the envelope with `caps`. Returns the status and
/// the JSON answer; asserts that no session was minted.
pub fn modern_post(
    url: &str,
    id: u64,
    method: &str,
    mut params: Value,
    caps: Value,
) -> (u16, Value) {
    params["_meta"] = modern_meta(caps, "raw-e2e");
    let name = params
        .get("name")
        .or_else(|| params.get("uri"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut headers = vec![
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", method),
    ];
    if let Some(n) = &name {
        headers.push(("mcp-name", n));
    }
    let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
    let r = post(url, &headers, &body.to_string());
    assert!(
        r.header("mcp-session-id").is_none(),
        "2026-07-28 answers mint no session: {r:?}"
    );
    (r.status, r.json())
}
