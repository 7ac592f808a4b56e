//! End-to-end test support: start the real `mcp-lambda` binary around real stdio servers, talk
//! to it over real HTTP, and find the real third-party peers `scripts/install-tools` installed.
//!
//! Contract:
//! - [`Server::start`] runs `mcp-lambda serve --listen 127.0.0.1:0 ...`, waits until it logs its
//!   URL, and kills it (and, through its shutdown, its children) when dropped.
//! - [`require`] finds an outside tool; when it is missing the test fails under `CI=true` and
//!   is skipped (with a message) otherwise — never silently.
//! - Binaries are taken from the target directory this test was built into: run
//!   `cargo build --workspace --bins` first (the README's test command does).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// A binary of this workspace (`mcp-lambda`, `fixture-server`, `mcp-lambda-example-server`).
pub fn bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let dir = if dir.ends_with("deps") {
        dir.parent().unwrap()
    } else {
        dir
    };
    let p = dir.join(name);
    assert!(
        p.exists(),
        "{} is missing: run `cargo build --workspace --bins` first (scripts/test does)",
        p.display()
    );
    p
}

/// An outside tool at `path`: `Some(path)` if present; if absent, panics under `CI=true`, else
/// prints why the test is skipped and returns `None`.
pub fn require(path: PathBuf, what: &str) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let msg = format!(
        "{what} is not installed at {} (run scripts/install-tools)",
        path.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// `node`, for npm servers and clients.
pub fn node() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("node"))
            .find(|p| p.exists())
    });
    require(
        found.unwrap_or_else(|| PathBuf::from("/nonexistent/node")),
        "node",
    )
}

/// `tests/clients/node_modules/<rel>`.
pub fn node_module(rel: &str) -> Option<PathBuf> {
    require(
        root().join("tests/clients/node_modules").join(rel),
        &format!("npm package file {rel}"),
    )
}

/// The Python interpreter of the client venv (mcp 2.x).
pub fn python_client() -> Option<PathBuf> {
    require(
        root().join(".tools/venv-client/bin/python"),
        "Python mcp client venv",
    )
}

/// PyPI `mcp-server-time`'s entry point.
pub fn mcp_server_time() -> Option<PathBuf> {
    require(
        root().join(".tools/venv-time/bin/mcp-server-time"),
        "mcp-server-time",
    )
}

/// A running `mcp-lambda serve`.
pub struct Server {
    child: Child,
    pub url: String,
    pub base: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `mcp-lambda serve --listen 127.0.0.1:0 <args>` with extra environment `env`.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::try_start(args, env).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`start`](Self::start) but returns the startup failure (with the log) instead.
    pub fn try_start(args: &[&str], env: &[(&str, &str)]) -> Result<Server, String> {
        let mut cmd = Command::new(bin("mcp-lambda"));
        cmd.arg("serve").arg("--listen").arg("127.0.0.1:0");
        cmd.args(args);
        cmd.env("MCP_LAMBDA_LOG_LEVEL", "debug");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| e.to_string())?;
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let l = log.clone();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(i) = line.find("listening on http://") {
                    let url: String = line[i + "listening on ".len()..]
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(url);
                    }
                }
                if std::env::var_os("E2E_ECHO_LOG").is_some() {
                    eprintln!("[mcp-lambda] {line}");
                }
                l.lock().unwrap().push(line);
            }
        });
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => {
                let base =
                    url[..url[7..].find('/').map(|i| i + 7).unwrap_or(url.len())].to_string();
                Ok(Server {
                    child,
                    url,
                    base,
                    log,
                })
            }
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                std::thread::sleep(Duration::from_millis(100));
                Err(format!(
                    "mcp-lambda did not start (status {status:?}); log:\n{}",
                    log.lock().unwrap().join("\n")
                ))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits until the log contains `needle` (or panics after `within`).
    pub fn wait_for_log(&self, needle: &str, within: Duration) {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.log().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("log never contained {needle:?}:\n{}", self.log());
    }

    /// Sends SIGTERM and waits for the exit status (panics after `within`).
    pub fn stop(mut self, within: Duration) -> std::process::ExitStatus {
        signal(self.child.id(), "TERM");
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            assert!(
                start.elapsed() < within,
                "mcp-lambda did not stop within {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            signal(self.child.id(), "TERM");
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {
                if self.child.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sends a signal by name (`TERM`, `KILL`, `0` to test existence) with the `kill` command.
pub fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `true` while a process with this pid exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits until `pid` is gone; `false` if it is still there after `within`.
pub fn wait_gone(pid: u32, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(120))
        .build()
}

/// Any HTTP request; 4xx/5xx are answers, not errors.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Resp {
    let mut req = agent().request(method, url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match body {
        Some(b) => req.send_string(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = resp.header(&n).unwrap_or("").to_string();
            (n, v)
        })
        .collect();
    let body = resp.into_string().unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

/// A POST with the headers a Streamable HTTP client sends.
pub fn post(url: &str, extra: &[(&str, &str)], body: &str) -> Resp {
    let mut headers = vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    headers.extend_from_slice(extra);
    http("POST", url, &headers, Some(body))
}

/// A minimal MCP client over raw HTTP (for precise assertions).
pub struct Mcp {
    pub url: String,
    pub session: Option<String>,
    pub version: String,
    next: u64,
}

impl Mcp {
    /// Initializes with `version` and `clientInfo.name = name`; sends `notifications/initialized`.
    pub fn connect(url: &str, version: &str, name: &str) -> Mcp {
        let mut m = Mcp {
            url: url.to_string(),
            session: None,
            version: version.to_string(),
            next: 1,
        };
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

/// Runs a command with a timeout and returns (status success, stdout, stderr).
pub fn run(cmd: &mut Command, within: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let o = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut out, &mut s).ok();
        s
    });
    let e = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).ok();
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.success(), o.join().unwrap(), e.join().unwrap())
}
