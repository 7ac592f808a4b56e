//! `sessions`: what each `--sessions` store costs per MCP request, and how many DynamoDB requests
//! one MCP request makes. Run it with `scripts/bench-sessions` (see docs/PERFORMANCE-SESSIONS.md).
//!
//! Contract:
//! - Every process is started before anything is measured: `moto_server` (the DynamoDB
//!   emulator), an in-process counting HTTP/1.1 relay ("the proxy") in front of it, and one `mcp-lambda serve
//!   --lifecycle reuse` with the bundled example server per mode — `none`, `memory`, `token`
//!   (a fresh random key), `dynamodb` (SDK endpoint = moto itself) and `dynamodb+proxy` (SDK
//!   endpoint = the proxy) — plus one `dynamodb` server with a short `--session-ttl` for the
//!   touch check. The table is created with `mcp-lambda sessions create-table` through the proxy.
//! - Latency: each mode's client initializes once (keeping the `Mcp-Session-Id`), sends
//!   `notifications/initialized`, then times `tools/call echo` requests (with `mcp-session-id`
//!   and `mcp-protocol-version`) over one keep-alive HTTP/1.1 connection (hand-written client,
//!   `TCP_NODELAY`, `Content-Length` bodies). After a warm-up, `--rounds` rounds each run
//!   `iterations / rounds` requests of every mode, in an order rotated every round, so load drift
//!   hits every mode alike. Every answer is checked (status 200, the echoed text); any failure
//!   stops the run. Figures are reported against `none` from the same run. A GetItem straight to
//!   moto from the same hand-written client takes one more slot of every round, so the store's
//!   cost beyond its wire round trip is measured under the same load.
//! - DynamoDB requests: the proxy is an HTTP/1.1 relay that reads each request's head, counts it
//!   by `X-Amz-Target` operation, then forwards it (`Content-Length` framing; a request without
//!   one is counted as unframed and its connection dropped). A count is taken before the request
//!   is forwarded, so once an MCP answer is back every DynamoDB request made for it has been
//!   counted: counters read before and after one sequential MCP request give exactly that
//!   request's DynamoDB requests. The relay keeps the SDK's side of the connection alive although
//!   the emulator closes every connection, so the number of connections it accepted shows whether
//!   the SDK reuses them; it also records each operation's time to the emulator's response head.
//!   The `dynamodb` server connected straight to moto is counted from moto's request log (one
//!   line per request): moto's total minus the proxy's count minus the raw GetItems.
//! - The touch check drives a session on a server whose touch interval is `ttl / 2` and reports
//!   how many `UpdateItem`s it made against how many intervals elapsed.
//! - Output: a plain-text report on stdout, and with `--json FILE` every figure as JSON. Exit
//!   status 0 only when every step succeeded; every process started is stopped (SIGTERM to its
//!   process group, SIGKILL after 5 s) whatever happens.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

#[path = "../stats.rs"]
mod stats;
use stats::{Summary, round1 as r1, round3 as r3};

const USAGE: &str = "\
usage: sessions --mcp-lambda PATH --example-server PATH --moto PATH [options]

  --iterations N      timed tools/call requests per mode (default 2000)
  --warmup N          untimed requests per mode first (default 200)
  --rounds K          interleaving rounds (default 10)
  --count-calls N     tools/call requests in the DynamoDB counting phase (default 20)
  --touch-ttl SECS    --session-ttl of the touch-check server (default 4; touch interval = ttl/2)
  --touch-run SECS    how long the touch check drives its session (default 6.5)
  --log-level LEVEL   mcp-lambda's --log-level (default warn)
  --work-dir DIR      where logs go (default: a new directory under $TMPDIR, removed on success)
  --build-info TEXT   shown in the report
  --json FILE         also write every figure as JSON";

/// The MCP protocol version the clients speak (the one mcp-lambda prewarms its child with).
const VERSION: &str = "2025-11-25";
const PATH: &str = "/mcp";
const TABLE: &str = "mcp-lambda-bench-sessions";
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const IO_TIMEOUT: Duration = Duration::from_secs(60);

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sessions: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Arguments

struct Args {
    mcp_lambda: PathBuf,
    example_server: PathBuf,
    moto: PathBuf,
    iterations: usize,
    warmup: usize,
    rounds: usize,
    count_calls: usize,
    touch_ttl: u64,
    touch_run: Duration,
    log_level: String,
    work_dir: Option<PathBuf>,
    build_info: String,
    json: Option<PathBuf>,
}

impl Args {
    fn parse() -> anyhow::Result<Self> {
        let mut a = Args {
            mcp_lambda: PathBuf::new(),
            example_server: PathBuf::new(),
            moto: PathBuf::new(),
            iterations: 2000,
            warmup: 200,
            rounds: 10,
            count_calls: 20,
            touch_ttl: 4,
            touch_run: Duration::from_millis(6500),
            log_level: "warn".into(),
            work_dir: None,
            build_info: "unknown build".into(),
            json: None,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            if flag == "--help" || flag == "-h" {
                println!("{USAGE}");
                std::process::exit(0);
            }
            let value = it
                .next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
            let num = |v: &str| -> anyhow::Result<usize> {
                v.parse()
                    .with_context(|| format!("{flag}: not a number: {v}"))
            };
            match flag.as_str() {
                "--mcp-lambda" => a.mcp_lambda = value.into(),
                "--example-server" => a.example_server = value.into(),
                "--moto" => a.moto = value.into(),
                "--iterations" => a.iterations = num(&value)?,
                "--warmup" => a.warmup = num(&value)?,
                "--rounds" => a.rounds = num(&value)?,
                "--count-calls" => a.count_calls = num(&value)?,
                "--touch-ttl" => a.touch_ttl = num(&value)? as u64,
                "--touch-run" => {
                    let secs: f64 = value
                        .parse()
                        .with_context(|| format!("--touch-run: not a number: {value}"))?;
                    a.touch_run = Duration::from_secs_f64(secs);
                }
                "--log-level" => a.log_level = value,
                "--work-dir" => a.work_dir = Some(value.into()),
                "--build-info" => a.build_info = value,
                "--json" => a.json = Some(value.into()),
                _ => bail!("unknown option {flag}\n{USAGE}"),
            }
        }
        for (p, name) in [
            (&a.mcp_lambda, "--mcp-lambda"),
            (&a.example_server, "--example-server"),
            (&a.moto, "--moto"),
        ] {
            ensure!(
                p.is_file(),
                "{name}: no such file: {} (scripts/bench-sessions passes it)",
                p.display()
            );
        }
        ensure!(a.rounds >= 1, "--rounds must be at least 1");
        ensure!(
            a.iterations >= a.rounds,
            "--iterations must be at least --rounds"
        );
        ensure!(a.count_calls >= 1, "--count-calls must be at least 1");
        ensure!(a.touch_ttl >= 2, "--touch-ttl must be at least 2 (seconds)");
        Ok(a)
    }
}

// ---------------------------------------------------------------------------------------------
// Processes

/// A child process in its own process group, stopped (group-wide) when dropped.
struct Proc {
    name: String,
    child: Child,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command, log: PathBuf) -> anyhow::Result<Self> {
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        cmd.process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        Ok(Self {
            name: name.to_owned(),
            child,
            log,
        })
    }

    /// The last lines of its log.
    fn tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Fails (with the log's tail) if the process has exited.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "{} exited ({status}); last log lines ({}):\n{}",
                self.name,
                self.log.display(),
                self.tail()
            );
        }
        Ok(())
    }

    /// Waits until `port` on loopback accepts connections.
    fn wait_listening(&mut self, port: u16) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(());
            }
            self.check_alive()?;
            if started.elapsed() > READY_TIMEOUT {
                bail!(
                    "{} did not listen on port {port} within {READY_TIMEOUT:?}:\n{}",
                    self.name,
                    self.tail()
                );
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn signal(&self, sig: Signal) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = killpg(Pid::from_raw(pid), sig);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        self.signal(Signal::SIGTERM);
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            if self.child.try_wait().ok().flatten().is_some() {
                // The group may still hold the server's child for a moment: make sure.
                self.signal(Signal::SIGKILL);
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.signal(Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(l.local_addr()?.port())
}

/// 32 random bytes as 64 hex characters (a `--session-keys` key).
fn random_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    }))
}

/// The environment that points the AWS SDK at `endpoint` with dummy credentials.
fn aws_env(endpoint: SocketAddr) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL_DYNAMODB", format!("http://{endpoint}")),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

// ---------------------------------------------------------------------------------------------
// The counting proxy

/// What the proxy saw.
#[derive(Default)]
struct Tally {
    /// Requests per operation (`GetItem`, ...).
    ops: BTreeMap<String, u64>,
    /// Per operation: request forwarded → the emulator's response head read.
    ttfb: BTreeMap<String, Vec<Duration>>,
    /// TCP connections accepted from SDK clients.
    connections: u64,
    /// Requests without `Content-Length` framing (the connection is then dropped).
    unframed: u64,
}

type Ops = BTreeMap<String, u64>;

/// An HTTP/1.1 relay in front of the DynamoDB emulator that counts requests by `X-Amz-Target`.
///
/// One thread per client connection relays request, then response, in turn (the SDK never
/// pipelines). The emulator (werkzeug) answers `Connection: close` every time; the relay drops
/// that header and reconnects upstream per request, so the client side behaves like DynamoDB's
/// keep-alive endpoint and [`Tally::connections`] shows whether the SDK reuses connections.
struct Proxy {
    addr: SocketAddr,
    tally: Arc<Mutex<Tally>>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the proxy")?;
        let addr = listener.local_addr()?;
        let tally = Arc::new(Mutex::new(Tally::default()));
        let t = tally.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                if let Ok(mut t) = t.lock() {
                    t.connections += 1;
                }
                let t = t.clone();
                thread::spawn(move || {
                    if let Err(e) = proxy_connection(conn, upstream, &t) {
                        eprintln!("sessions: proxy connection: {e:#}");
                    }
                });
            }
        });
        Ok(Self { addr, tally })
    }

    fn lock(&self) -> anyhow::Result<std::sync::MutexGuard<'_, Tally>> {
        self.tally
            .lock()
            .map_err(|_| anyhow::anyhow!("proxy tally poisoned"))
    }

    /// Requests per operation so far.
    fn ops(&self) -> anyhow::Result<Ops> {
        Ok(self.lock()?.ops.clone())
    }
}

fn proxy_connection(
    client: TcpStream,
    upstream: SocketAddr,
    tally: &Arc<Mutex<Tally>>,
) -> anyhow::Result<()> {
    client.set_nodelay(true)?;
    let mut to_client = client.try_clone()?;
    let mut from_client = BufReader::with_capacity(64 * 1024, client);
    let mut server: Option<BufReader<TcpStream>> = None;
    loop {
        let Some(head) = read_head(&mut from_client)? else {
            return Ok(());
        };
        let op = match head.header("x-amz-target") {
            Some(t) => t.rsplit('.').next().unwrap_or(t).to_owned(),
            None => "(no X-Amz-Target)".to_owned(),
        };
        if let Ok(mut t) = tally.lock() {
            *t.ops.entry(op.clone()).or_default() += 1;
        }
        let Some(len) = head.content_length()? else {
            if let Ok(mut t) = tally.lock() {
                t.unframed += 1;
            }
            bail!("{op}: request without Content-Length (chunked?): not supported");
        };
        let mut msg = head.raw;
        let body = msg.len();
        msg.resize(body + len, 0);
        from_client.read_exact(&mut msg[body..])?;

        // The emulator closes every connection after one response: reconnect as needed.
        let conn = match &mut server {
            Some(c) => c,
            None => {
                let s = TcpStream::connect(upstream).context("connecting to the emulator")?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(IO_TIMEOUT))?;
                server.insert(BufReader::with_capacity(64 * 1024, s))
            }
        };
        let sent = Instant::now();
        conn.get_mut().write_all(&msg)?;
        let resp = read_head(conn)?.context("the emulator closed without answering")?;
        let ttfb = sent.elapsed();
        let close = resp
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || resp.raw.starts_with(b"HTTP/1.0");
        let mut out = Vec::with_capacity(resp.raw.len() + 4096);
        for line in resp.lines() {
            // The client side stays alive whatever the emulator does.
            if !line.to_ascii_lowercase().starts_with(b"connection:") {
                out.extend_from_slice(line);
            }
        }
        let mut body = Vec::new();
        match resp.content_length()? {
            Some(len) => {
                body.resize(len, 0);
                conn.read_exact(&mut body)?;
            }
            None => {
                ensure!(
                    close,
                    "{op}: response without Content-Length on a kept-alive connection"
                );
                conn.read_to_end(&mut body)?;
                write!(out, "content-length: {}\r\n", body.len())?;
            }
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&body);
        if close {
            server = None;
        }
        if let Ok(mut t) = tally.lock() {
            t.ttfb.entry(op).or_default().push(ttfb);
        }
        to_client.write_all(&out)?;
    }
}

/// An HTTP message head (start line and headers, up to and including the empty line), raw.
struct Head {
    raw: Vec<u8>,
}

impl Head {
    /// The start line and header lines, each with its line ending; not the final empty line.
    fn lines(&self) -> impl Iterator<Item = &[u8]> {
        self.raw
            .split_inclusive(|&b| b == b'\n')
            .take_while(|l| !(l == b"\r\n" || l == b"\n"))
    }

    /// The first value of header `name` (case-insensitive).
    fn header(&self, name: &str) -> Option<&str> {
        self.lines().skip(1).find_map(|l| {
            let l = std::str::from_utf8(l).ok()?;
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    fn content_length(&self) -> anyhow::Result<Option<usize>> {
        if self
            .header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
        {
            return Ok(None);
        }
        self.header("content-length")
            .map(|v| {
                v.parse()
                    .with_context(|| format!("bad content-length {v:?}"))
            })
            .transpose()
    }
}

/// Reads one message head; `None` on a clean end of stream before it.
fn read_head(r: &mut impl BufRead) -> anyhow::Result<Option<Head>> {
    let mut raw = Vec::with_capacity(2048);
    loop {
        let start = raw.len();
        if r.read_until(b'\n', &mut raw)? == 0 {
            ensure!(raw.is_empty(), "connection closed inside a message head");
            return Ok(None);
        }
        let line = &raw[start..];
        if line == b"\r\n" || line == b"\n" {
            return Ok(Some(Head { raw }));
        }
        ensure!(raw.len() < 64 * 1024, "message head over 64 KiB");
    }
}

/// `after - before`, operation by operation (zeros left out).
fn ops_diff(before: &Ops, after: &Ops) -> Ops {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

fn ops_text(ops: &Ops) -> String {
    if ops.is_empty() {
        return "none".into();
    }
    ops.iter()
        .map(|(k, v)| format!("{v} {k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// HTTP client

struct Resp {
    status: u16,
    /// Names lower-cased.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body)
            .chars()
            .take(300)
            .collect()
    }
}

/// A keep-alive HTTP/1.1 client on one connection: `TCP_NODELAY`, each request written with one
/// `write`, no pipelining; reconnects when the server closed the connection.
struct Http {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    buf: Vec<u8>,
}

impl Http {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            conn: None,
            buf: Vec::with_capacity(4096),
        }
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<Resp> {
        self.buf.clear();
        write!(
            self.buf,
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n",
            self.addr,
            body.len()
        )?;
        for (k, v) in headers {
            write!(self.buf, "{k}: {v}\r\n")?;
        }
        self.buf.extend_from_slice(b"\r\n");
        self.buf.extend_from_slice(body);
        let reused = self.conn.is_some();
        match self.attempt() {
            Ok(r) => Ok(r),
            // A kept-alive connection the server closed while idle: once more on a new one.
            Err((true, _)) if reused => {
                self.conn = None;
                self.attempt().map_err(|(_, e)| e)
            }
            Err((_, e)) => {
                self.conn = None;
                Err(e)
            }
        }
    }

    /// One try; the error says whether nothing at all was read back (safe to retry).
    fn attempt(&mut self) -> Result<Resp, (bool, anyhow::Error)> {
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr)
                .and_then(|s| {
                    s.set_nodelay(true)?;
                    s.set_read_timeout(Some(IO_TIMEOUT))?;
                    Ok(s)
                })
                .with_context(|| format!("connecting to {}", self.addr))
                .map_err(|e| (false, e))?;
            self.conn = Some(BufReader::with_capacity(64 * 1024, s));
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err((false, anyhow::anyhow!("no connection")));
        };
        conn.get_mut()
            .write_all(&self.buf)
            .map_err(|e| (true, e.into()))?;
        let mut status_line = String::new();
        match conn.read_line(&mut status_line) {
            Ok(0) => return Err((true, anyhow::anyhow!("closed before the status line"))),
            Err(e) => return Err((true, e.into())),
            Ok(_) => {}
        }
        let resp = read_response(conn, &status_line).map_err(|e| (false, e))?;
        let close = resp
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
            || (status_line.starts_with("HTTP/1.0")
                && !resp
                    .header("connection")
                    .is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")));
        if close {
            self.conn = None;
        }
        Ok(resp)
    }
}

fn read_response(conn: &mut BufReader<TcpStream>, status_line: &str) -> anyhow::Result<Resp> {
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        ensure!(conn.read_line(&mut line)? > 0, "closed inside the headers");
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .with_context(|| format!("bad header line {line:?}"))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = find("content-length") {
        body.resize(len.parse().context("bad content-length")?, 0);
        conn.read_exact(&mut body)?;
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            ensure!(
                conn.read_line(&mut size)? > 0,
                "closed inside a chunked body"
            );
            let size = size.trim_end_matches(['\r', '\n']);
            let size = size.split(';').next().unwrap_or("").trim();
            let n = usize::from_str_radix(size, 16)
                .with_context(|| format!("bad chunk size {size:?}"))?;
            if n == 0 {
                loop {
                    let mut t = String::new();
                    if conn.read_line(&mut t)? == 0 || t.trim_end_matches(['\r', '\n']).is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + n, 0);
            conn.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            conn.read_exact(&mut crlf)?;
        }
    } else if !(status == 204 || status == 304 || (100..200).contains(&status)) {
        conn.read_to_end(&mut body)?;
    }
    Ok(Resp {
        status,
        headers,
        body,
    })
}

// ---------------------------------------------------------------------------------------------
// MCP client

/// One MCP client of one server: a session (when the server keeps them) on one connection.
struct Mcp {
    http: Http,
    session: Option<String>,
    next_id: u64,
}

impl Mcp {
    fn new(port: u16) -> Self {
        Self {
            http: Http::new(SocketAddr::from(([127, 0, 0, 1], port))),
            session: None,
            next_id: 1,
        }
    }

    fn post(&mut self, body: &str) -> anyhow::Result<Resp> {
        let mut headers = vec![
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", VERSION),
        ];
        if let Some(s) = &self.session {
            headers.push(("mcp-session-id", s.as_str()));
        }
        self.http.request("POST", PATH, &headers, body.as_bytes())
    }

    /// `initialize`, keeping the `Mcp-Session-Id` the server returns (if any).
    fn initialize(&mut self, client_name: &str) -> anyhow::Result<Resp> {
        let body = json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": VERSION,
                "capabilities": {},
                "clientInfo": {"name": client_name, "version": "1"}
            }
        })
        .to_string();
        let headers = [
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
        ];
        let r = self.http.request("POST", PATH, &headers, body.as_bytes())?;
        ensure!(
            r.status == 200,
            "initialize: HTTP {}: {}",
            r.status,
            r.text()
        );
        self.session = r.header("mcp-session-id").map(str::to_owned);
        Ok(r)
    }

    fn initialized(&mut self) -> anyhow::Result<Resp> {
        let r = self.post(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)?;
        ensure!(
            r.status == 202,
            "notifications/initialized: HTTP {}: {}",
            r.status,
            r.text()
        );
        Ok(r)
    }

    /// Initialize + initialized.
    fn open(&mut self, client_name: &str) -> anyhow::Result<()> {
        self.initialize(client_name)?;
        self.initialized()?;
        Ok(())
    }

    /// One `tools/call echo`, timed from the first byte written to the last byte read; the
    /// answer is checked after the clock stops.
    fn echo(&mut self) -> anyhow::Result<(Duration, Resp)> {
        let id = self.next_id;
        self.next_id += 1;
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"message":"m{id}"}}}}}}"#
        );
        let started = Instant::now();
        let r = self.post(&body)?;
        let took = started.elapsed();
        Ok((took, r))
    }

    /// [`echo`](Self::echo), failing unless the answer is the echoed text.
    fn echo_ok(&mut self) -> anyhow::Result<Duration> {
        let (took, r) = self.echo()?;
        ensure!(
            r.status == 200,
            "tools/call: HTTP {}: {}",
            r.status,
            r.text()
        );
        let v: Value = serde_json::from_slice(&r.body)
            .with_context(|| format!("tools/call: not JSON: {}", r.text()))?;
        let want = format!("m{}", self.next_id - 1);
        ensure!(
            v["result"]["content"][0]["text"] == want.as_str(),
            "tools/call: unexpected answer: {v}"
        );
        Ok(took)
    }

    fn delete(&mut self) -> anyhow::Result<Resp> {
        let mut headers = vec![("mcp-protocol-version", VERSION)];
        if let Some(s) = &self.session {
            headers.push(("mcp-session-id", s.as_str()));
        }
        self.http.request("DELETE", PATH, &headers, b"")
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics

fn median(mut xs: Vec<f64>) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

// ---------------------------------------------------------------------------------------------
// The run

/// One measured mode: its server and client.
struct Mode {
    name: &'static str,
    server: Proc,
    port: u16,
    client: Mcp,
    /// Samples per round.
    rounds: Vec<Vec<Duration>>,
}

/// A GetItem of an existing session straight to moto from the hand-written client (no SDK, no
/// gateway): what one wire round trip to the emulator costs, timed in the same rounds.
struct RawGet {
    http: Http,
    body: String,
    rounds: Vec<Vec<Duration>>,
}

impl RawGet {
    fn new(moto: SocketAddr, session_id: &str, rounds: usize) -> Self {
        let body = json!({
            "TableName": TABLE,
            "Key": {"session_id": {"S": session_id}},
            "ConsistentRead": true
        })
        .to_string();
        Self {
            http: Http::new(moto),
            body,
            rounds: vec![Vec::new(); rounds],
        }
    }

    fn once(&mut self) -> anyhow::Result<Duration> {
        // moto checks neither the signature nor the credentials; it reads the region and the
        // access key (the account) from this header.
        let auth = "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/dynamodb/aws4_request, \
                    SignedHeaders=host;x-amz-target, Signature=00";
        let headers = [
            ("content-type", "application/x-amz-json-1.0"),
            ("x-amz-target", "DynamoDB_20120810.GetItem"),
            ("authorization", auth),
        ];
        let started = Instant::now();
        let r = self
            .http
            .request("POST", "/", &headers, self.body.as_bytes())?;
        let took = started.elapsed();
        ensure!(
            r.status == 200 && r.body.windows(6).any(|w| w == b"\"Item\""),
            "raw GetItem: HTTP {}: {}",
            r.status,
            r.text()
        );
        Ok(took)
    }
}

/// The servers' common arguments.
fn serve_cmd(args: &Args, port: u16, sessions: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(&args.mcp_lambda);
    cmd.args([
        "serve",
        "--lifecycle",
        "reuse",
        "--sessions",
        sessions,
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--path",
        PATH,
        "--log-level",
        &args.log_level,
    ]);
    cmd.args(extra);
    cmd.arg("--");
    cmd.arg(&args.example_server);
    cmd
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse()?;
    let (work, remove_work) = match &args.work_dir {
        Some(d) => (d.clone(), false),
        None => (
            std::env::temp_dir().join(format!("mcp-lambda-bench-sessions.{}", std::process::id())),
            true,
        ),
    };
    std::fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    let result = measure(&args, &work);
    if result.is_ok() && remove_work {
        let _ = std::fs::remove_dir_all(&work);
    } else if result.is_err() {
        eprintln!("sessions: logs are in {}", work.display());
    }
    result
}

/// The 1-minute load average (a noisy neighbour shows here), or "?".
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn measure(args: &Args, work: &Path) -> anyhow::Result<()> {
    let run_started = Instant::now();
    let load_at_start = load_average();
    // The emulator and the proxy.
    let moto_port = free_port()?;
    let mut moto = Proc::spawn(
        "moto_server",
        Command::new(&args.moto).args(["-H", "127.0.0.1", "-p", &moto_port.to_string()]),
        work.join("moto.log"),
    )?;
    moto.wait_listening(moto_port)?;
    let moto_addr = SocketAddr::from(([127, 0, 0, 1], moto_port));
    let proxy = Proxy::start(moto_addr)?;
    eprintln!(
        "sessions: moto on {moto_addr}, counting proxy on {}",
        proxy.addr
    );

    // The table, created through the proxy.
    let before = proxy.ops()?;
    let mut create = Command::new(&args.mcp_lambda);
    create.args(["sessions", "create-table", "--table", TABLE]);
    for (k, v) in aws_env(proxy.addr) {
        create.env(k, v);
    }
    let out = create
        .stdin(Stdio::null())
        .output()
        .context("running mcp-lambda sessions create-table")?;
    ensure!(
        out.status.success(),
        "create-table failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let setup_ops = ops_diff(&before, &proxy.ops()?);
    eprintln!(
        "sessions: create-table: {} ({})",
        String::from_utf8_lossy(&out.stdout).trim(),
        ops_text(&setup_ops)
    );

    // Every server, before anything is measured.
    let key = random_key()?;
    let touch_ttl = format!("{}s", args.touch_ttl);
    type Spec<'a> = (&'static str, &'a str, Vec<(&'a str, String)>, Vec<&'a str>);
    let specs: [Spec<'_>; 5] = [
        ("none", "none", vec![], vec![]),
        ("memory", "memory", vec![], vec![]),
        (
            "token",
            "token",
            vec![("MCP_LAMBDA_SESSION_KEYS", key.clone())],
            vec![],
        ),
        (
            "dynamodb",
            "dynamodb",
            aws_env(moto_addr),
            vec!["--session-table", TABLE],
        ),
        (
            "dynamodb+proxy",
            "dynamodb",
            aws_env(proxy.addr),
            vec!["--session-table", TABLE],
        ),
    ];
    let mut modes = Vec::new();
    for (name, sessions, env, extra) in specs {
        let port = free_port()?;
        let mut cmd = serve_cmd(args, port, sessions, &extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let server = Proc::spawn(
            &format!("mcp-lambda ({name})"),
            &mut cmd,
            work.join(format!("serve-{}.log", name.replace('+', "-"))),
        )?;
        modes.push(Mode {
            name,
            server,
            port,
            client: Mcp::new(port),
            rounds: vec![Vec::new(); args.rounds],
        });
    }
    let touch_port = free_port()?;
    let mut touch_cmd = serve_cmd(
        args,
        touch_port,
        "dynamodb",
        &["--session-table", TABLE, "--session-ttl", &touch_ttl],
    );
    for (k, v) in aws_env(proxy.addr) {
        touch_cmd.env(k, v);
    }
    let mut touch_server = Proc::spawn(
        "mcp-lambda (dynamodb, touch check)",
        &mut touch_cmd,
        work.join("serve-touch.log"),
    )?;
    for m in &mut modes {
        m.server.wait_listening(m.port)?;
    }
    touch_server.wait_listening(touch_port)?;

    // ---- 1. Latency, interleaved.
    let before_latency = proxy.ops()?;
    let latency_started = Instant::now();
    for m in &mut modes {
        m.client.open(&format!("bench-{}", m.name))?;
        ensure!(
            (m.name == "none") == m.client.session.is_none(),
            "{}: unexpected Mcp-Session-Id presence: {:?}",
            m.name,
            m.client.session
        );
    }
    let per_round = args.iterations / args.rounds;
    eprintln!(
        "sessions: warm-up {} and {} rounds × {per_round} tools/call per mode ({} modes)",
        args.warmup,
        args.rounds,
        modes.len()
    );
    let dynamo_session = modes
        .iter()
        .find(|m| m.name == "dynamodb")
        .and_then(|m| m.client.session.clone())
        .context("no dynamodb session")?;
    let mut raw_get = RawGet::new(moto_addr, &dynamo_session, args.rounds);
    for i in 0..args.warmup {
        for m in &mut modes {
            m.client
                .echo_ok()
                .with_context(|| format!("{} warm-up request {i}", m.name))?;
        }
        raw_get.once()?;
    }
    // The raw GetItem takes the last slot of the rotation.
    let count = modes.len() + 1;
    for round in 0..args.rounds {
        for k in 0..count {
            let slot = (round + k) % count;
            let Some(m) = modes.get_mut(slot) else {
                for _ in 0..per_round {
                    let took = raw_get.once()?;
                    raw_get.rounds[round].push(took);
                }
                moto.check_alive()?;
                continue;
            };
            for _ in 0..per_round {
                let took = m
                    .client
                    .echo_ok()
                    .with_context(|| format!("{} round {round}", m.name))?;
                m.rounds[round].push(took);
            }
            m.server.check_alive()?;
        }
    }
    let latency_secs = latency_started.elapsed().as_secs_f64();
    let latency_ops = ops_diff(&before_latency, &proxy.ops()?);

    // ---- 2. DynamoDB requests per MCP request (dynamodb+proxy server, a fresh session).
    let proxied_port = modes
        .iter()
        .find(|m| m.name == "dynamodb+proxy")
        .map(|m| m.port)
        .context("no dynamodb+proxy mode")?;
    let mut rows: Vec<(String, String, Ops)> = Vec::new();
    let mut c = Mcp::new(proxied_port);
    let step = |what: &str,
                rows: &mut Vec<(String, String, Ops)>,
                f: &mut dyn FnMut() -> anyhow::Result<Resp>|
     -> anyhow::Result<Resp> {
        let before = proxy.ops()?;
        let r = f()?;
        rows.push((
            what.to_owned(),
            r.status.to_string(),
            ops_diff(&before, &proxy.ops()?),
        ));
        Ok(r)
    };
    step("initialize", &mut rows, &mut || c.initialize("bench-count"))?;
    step("notifications/initialized", &mut rows, &mut || {
        c.initialized()
    })?;
    let mut per_call: Vec<Ops> = Vec::new();
    for _ in 0..args.count_calls {
        let before = proxy.ops()?;
        c.echo_ok()?;
        per_call.push(ops_diff(&before, &proxy.ops()?));
    }
    let ping = r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#;
    step("ping", &mut rows, &mut || c.post(ping))?;
    step("tools/list", &mut rows, &mut || {
        c.post(r#"{"jsonrpc":"2.0","id":"l","method":"tools/list"}"#)
    })?;
    let del = step("DELETE", &mut rows, &mut || c.delete())?;
    ensure!(
        del.status == 200,
        "DELETE: HTTP {}: {}",
        del.status,
        del.text()
    );
    step("tools/call after DELETE", &mut rows, &mut || {
        c.echo().map(|(_, r)| r)
    })?;
    step("DELETE again", &mut rows, &mut || c.delete())?;
    let mut stranger = Mcp::new(proxied_port);
    stranger.session = Some("0".repeat(64));
    step("ping, unknown session id", &mut rows, &mut || {
        stranger.post(ping)
    })?;
    let mut bad = Mcp::new(proxied_port);
    // Longer than the store's 128-character limit: answered without calling DynamoDB.
    bad.session = Some("a".repeat(200));
    step("ping, malformed session id", &mut rows, &mut || {
        bad.post(ping)
    })?;
    // Calls made with the session in tools/call rows: aggregated.
    let mut call_total = Ops::new();
    for o in &per_call {
        for (k, v) in o {
            *call_total.entry(k.clone()).or_default() += v;
        }
    }
    let call_max: Ops = per_call.iter().fold(Ops::new(), |mut acc, o| {
        for (k, v) in o {
            let e = acc.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
        acc
    });
    let call_min_get = per_call
        .iter()
        .map(|o| o.get("GetItem").copied().unwrap_or(0))
        .min()
        .unwrap_or(0);

    // ---- 3. Touch check.
    let touch_interval = Duration::from_secs(60).min(Duration::from_secs(args.touch_ttl) / 2);
    let mut t = Mcp::new(touch_port);
    t.open("bench-touch")?;
    let before_touch = proxy.ops()?;
    let touch_started = Instant::now();
    let mut with_update: Vec<Duration> = Vec::new();
    let mut without_update: Vec<Duration> = Vec::new();
    let mut touch_calls = 0u64;
    while touch_started.elapsed() < args.touch_run {
        let before = proxy.ops()?;
        let took = t.echo_ok().context("touch check")?;
        touch_calls += 1;
        let d = ops_diff(&before, &proxy.ops()?);
        if d.contains_key("UpdateItem") {
            with_update.push(took);
        } else {
            without_update.push(took);
        }
        thread::sleep(Duration::from_millis(20));
    }
    let touch_elapsed = touch_started.elapsed();
    let touch_ops = ops_diff(&before_touch, &proxy.ops()?);
    let touch_expected =
        (touch_elapsed.as_secs_f64() / touch_interval.as_secs_f64()).floor() as u64;

    // moto logs one line per request: what it served minus what went through the proxy and the
    // raw GetItems is what the directly connected dynamodb server sent.
    thread::sleep(Duration::from_millis(200));
    let moto_requests = std::fs::read_to_string(work.join("moto.log"))
        .context("reading moto's log")?
        .lines()
        .filter(|l| l.contains("\"POST / HTTP/1.1\""))
        .count() as u64;
    let raw_requests = (args.warmup + per_round * args.rounds) as u64;
    let proxied_requests: u64 = proxy.ops()?.values().sum();
    let direct_requests = moto_requests
        .checked_sub(proxied_requests + raw_requests)
        .with_context(|| {
            format!(
                "moto logged {moto_requests} requests, fewer than the proxy and raw client sent"
            )
        })?;
    // initialize (PutItem) + notifications/initialized (GetItem) + one GetItem per tools/call.
    let direct_expected = 2 + raw_requests;

    let raw_all: Vec<Duration> = raw_get.rounds.iter().flatten().copied().collect();
    let raw_get_summary = Summary::of(&raw_all)?;

    for m in &mut modes {
        m.server.check_alive()?;
    }
    touch_server.check_alive()?;
    moto.check_alive()?;

    // ---- Report.
    let tally = proxy.lock()?;
    let connections = tally.connections;
    let total_requests: u64 = tally.ops.values().sum();
    let unframed = tally.unframed;
    let ttfb: BTreeMap<String, Summary> = tally
        .ttfb
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), Summary::of(v).ok()?)))
        .collect();
    drop(tally);

    let mut summaries = Vec::new();
    for m in &modes {
        let all: Vec<Duration> = m.rounds.iter().flatten().copied().collect();
        summaries.push((m.name, Summary::of(&all)?));
    }
    let base = summaries[0].1.clone();
    let round_p50 = |m: &Mode| -> anyhow::Result<Vec<f64>> {
        m.rounds
            .iter()
            .map(|r| Summary::of(r).map(|s| s.p50))
            .collect()
    };
    let base_rounds = round_p50(&modes[0])?;

    let mut out = String::new();
    writeln!(out, "mcp-lambda sessions benchmark — {}", args.build_info)?;
    writeln!(
        out,
        "example server, --lifecycle reuse, tools/call echo over one keep-alive connection; \
         {} timed requests per mode ({} rounds × {per_round}, interleaved) after {} warm-up; \
         latency phase {latency_secs:.1} s",
        per_round * args.rounds,
        args.rounds,
        args.warmup
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<15} {:>6} {:>8} {:>8} {:>8} {:>8} | {:>9} {:>7} {:>7} | {:>22}",
        "sessions",
        "n",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "mean µs",
        "+p50 µs",
        "×p50",
        "×mean",
        "per-round +p50 med [min..max]"
    )?;
    let mut json_modes = Vec::new();
    for (m, (name, s)) in modes.iter().zip(&summaries) {
        let rp = round_p50(m)?;
        let deltas: Vec<f64> = rp.iter().zip(&base_rounds).map(|(a, b)| a - b).collect();
        let (dmin, dmax) = deltas
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &d| {
                (lo.min(d), hi.max(d))
            });
        let dmed = median(deltas.clone());
        writeln!(
            out,
            "{:<15} {:>6} {:>8.0} {:>8.0} {:>8.0} {:>8.0} | {:>+9.0} {:>7.2} {:>7.2} | {:>+8.0} [{:+.0}..{:+.0}]",
            name,
            s.n,
            s.p50,
            s.p90,
            s.p99,
            s.mean,
            s.p50 - base.p50,
            s.p50 / base.p50,
            s.mean / base.mean,
            dmed,
            dmin,
            dmax
        )?;
        json_modes.push(json!({
            "mode": name,
            "summary": s.to_json(),
            "added_p50_us": r1(s.p50 - base.p50),
            "added_mean_us": r1(s.mean - base.mean),
            "ratio_p50": r3(s.p50 / base.p50),
            "ratio_p90": r3(s.p90 / base.p90),
            "ratio_p99": r3(s.p99 / base.p99),
            "ratio_mean": r3(s.mean / base.mean),
            "round_added_p50_us": deltas.iter().map(|d| r1(*d)).collect::<Vec<_>>(),
        }));
    }
    // What the dynamodb store costs beyond one wire round trip to the emulator.
    let raw_rounds: Vec<f64> = raw_get
        .rounds
        .iter()
        .map(|r| Summary::of(r).map(|s| s.p50))
        .collect::<anyhow::Result<_>>()?;
    let dynamo = modes
        .iter()
        .position(|m| m.name == "dynamodb")
        .context("no dynamodb mode")?;
    let dynamo_rounds = round_p50(&modes[dynamo])?;
    let beyond: Vec<f64> = dynamo_rounds
        .iter()
        .zip(&base_rounds)
        .zip(&raw_rounds)
        .map(|((d, b), g)| d - b - g)
        .collect();
    let beyond_med = median(beyond.clone());
    let dynamo_added = summaries[dynamo].1.p50 - base.p50;
    writeln!(
        out,
        "{:<15} {:>6} {:>8.0} {:>8.0} {:>8.0} {:>8.0}   (GetItem straight to moto, hand-written client, no SDK; \
         timed in the same rounds; a new connection each, as moto closes them)",
        "moto GetItem",
        raw_get_summary.n,
        raw_get_summary.p50,
        raw_get_summary.p90,
        raw_get_summary.p99,
        raw_get_summary.mean
    )?;
    writeln!(
        out,
        "dynamodb adds {dynamo_added:.0} µs at p50 = {:.2} × one raw GetItem; beyond the GetItem round trip \
         (SDK, signing, store, gateway): {:+.0} µs (p50s), per-round median {beyond_med:+.0} µs",
        dynamo_added / raw_get_summary.p50,
        dynamo_added - raw_get_summary.p50
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "DynamoDB requests per MCP request (counted by X-Amz-Target at a TCP proxy in front of moto; \
         server: --sessions dynamodb, default touch interval 60 s):"
    )?;
    writeln!(
        out,
        "  {:<32} {:>6}  DynamoDB requests",
        "MCP request", "HTTP"
    )?;
    let mut json_rows = Vec::new();
    let mut push_row = |out: &mut String, what: &str, status: &str, ops: &Ops| {
        let _ = writeln!(out, "  {what:<32} {status:>6}  {}", ops_text(ops));
        json_rows.push(json!({"request": what, "status": status, "ops": ops}));
    };
    for (what, status, ops) in &rows[..2] {
        push_row(&mut out, what, status, ops);
    }
    push_row(
        &mut out,
        &format!("tools/call ×{} (total)", args.count_calls),
        "200",
        &call_total,
    );
    push_row(
        &mut out,
        "tools/call (max of one request)",
        "200",
        &call_max,
    );
    for (what, status, ops) in &rows[2..] {
        push_row(&mut out, what, status, ops);
    }
    writeln!(
        out,
        "  latency phase, dynamodb+proxy: {} tools/call + initialize + initialized over {latency_secs:.1} s → {}",
        args.warmup + per_round * args.rounds,
        ops_text(&latency_ops)
    )?;
    writeln!(
        out,
        "  latency phase, dynamodb (direct, counted from moto's request log): {direct_requests} requests for the same {} \
         (expected {direct_expected})",
        args.warmup + per_round * args.rounds,
    )?;
    writeln!(
        out,
        "  create-table (setup, once): {}",
        ops_text(&setup_ops)
    )?;
    writeln!(
        out,
        "  SDK connections accepted by the proxy: {connections} for {total_requests} DynamoDB requests \
         (2 servers + create-table; the proxy keeps them alive, moto closes its side every time); \
         requests without Content-Length: {unframed}"
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "Touch check (--session-ttl {touch_ttl} → touch interval {:.1} s): {touch_calls} tools/call over {:.1} s → {}; \
         at most {touch_expected} UpdateItem expected",
        touch_interval.as_secs_f64(),
        touch_elapsed.as_secs_f64(),
        ops_text(&touch_ops)
    )?;
    let touch_with = Summary::of(&with_update).ok();
    let touch_without = Summary::of(&without_update).ok();
    if let (Some(w), Some(wo)) = (&touch_with, &touch_without) {
        writeln!(
            out,
            "  p50 of calls that wrote UpdateItem: {:.0} µs (n={}); of the others: {:.0} µs (n={})",
            w.p50, w.n, wo.p50, wo.n
        )?;
    }
    writeln!(out)?;
    writeln!(out, "moto's own time per operation, as the proxy saw it:")?;
    for (op, s) in &ttfb {
        writeln!(
            out,
            "  {op}: request sent → moto's response head p50 {:.0} µs, p90 {:.0} µs (n={})",
            s.p50, s.p90, s.n
        )?;
    }
    let load_at_end = load_average();
    writeln!(
        out,
        "run took {:.1} s in all; 1-minute load average {load_at_start} at the start, {load_at_end} at the end",
        run_started.elapsed().as_secs_f64()
    )?;
    print!("{out}");

    if let Some(path) = &args.json {
        let doc = json!({
            "build": args.build_info,
            "load_average_1m": [load_at_start, load_at_end],
            "protocol_version": VERSION,
            "iterations_per_mode": per_round * args.rounds,
            "rounds": args.rounds,
            "warmup": args.warmup,
            "latency_phase_s": r1(latency_secs),
            "modes": json_modes,
            "dynamodb_requests": {
                "rows": json_rows,
                "tools_call_each": per_call,
                "tools_call_min_getitem": call_min_get,
                "latency_phase_dynamodb_proxy": latency_ops,
                "create_table": setup_ops,
                "latency_phase_dynamodb_direct_total": direct_requests,
                "latency_phase_dynamodb_direct_expected": direct_expected,
                "connections": connections,
                "total_requests": total_requests,
                "unframed": unframed,
            },
            "touch_check": {
                "ttl_s": args.touch_ttl,
                "interval_s": touch_interval.as_secs_f64(),
                "calls": touch_calls,
                "elapsed_s": r1(touch_elapsed.as_secs_f64()),
                "ops": touch_ops,
                "max_expected_updateitem": touch_expected,
                "p50_with_update_us": touch_with.map(|s| r1(s.p50)),
                "p50_without_update_us": touch_without.map(|s| r1(s.p50)),
            },
            "moto_raw_getitem": raw_get_summary.to_json(),
            "dynamodb_beyond_getitem_us": {
                "p50s": r1(dynamo_added - raw_get_summary.p50),
                "per_round": beyond.iter().map(|d| r1(*d)).collect::<Vec<_>>(),
                "per_round_median": r1(beyond_med),
            },
            "moto_ttfb_via_proxy": ttfb.iter().map(|(k, s)| (k.clone(), s.to_json())).collect::<BTreeMap<_, _>>(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("sessions: wrote {}", path.display());
    }
    Ok(())
}
