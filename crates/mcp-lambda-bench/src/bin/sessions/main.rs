//! `sessions`: what each `--sessions` store costs per MCP request, and how many DynamoDB requests
//! one MCP request makes. Run it with `scripts/bench-sessions`; the "Sessions" section of
//! docs/PERFORMANCE.md ("Method") describes each phase in prose.
//!
//! Contract, phase by phase:
//! 1. [`setup`] starts every process before anything is measured: `moto_server`, the test kit's
//!    counting relay ("the proxy") in front of it, the table (created through the proxy), and
//!    one `mcp-lambda serve --lifecycle reuse` per mode (`none`, `memory`, `token`, `dynamodb`
//!    straight to moto, `dynamodb+proxy`) plus a short `--session-ttl` server for the touch check.
//! 2. [`latency`] times `tools/call echo` in an initialized session per mode over one keep-alive
//!    connection: after a warm-up, `--rounds` rounds in an order rotated every round, with one
//!    more slot for a raw GetItem straight to moto. Every answer is checked.
//! 3. [`count_requests`] reads the proxy's counters around each sequential MCP request;
//!    [`direct_count`] counts the direct `dynamodb` server from moto's request log.
//! 4. [`touch_check`] counts `UpdateItem`s against how many touch intervals (`ttl / 2`) elapsed.
//!
//! Output: a plain-text report on stdout ([`report`]), and with `--json FILE` every figure as
//! JSON. Exit status 0 only when every step succeeded; every process started is stopped
//! whatever happens.

mod report;

use std::fs::File;
use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Parser;
use mcp_lambda_testkit::{
    Client, CountingRelay, Log, McpSession, Moto, Ops, RawClient, Ready, Response, Server, aws_env,
    free_addr, ops_diff,
};
use serde_json::{Value, json};

use crate::report::ops_text;

/// The MCP protocol version the clients speak (the one mcp-lambda prewarms its child with).
const VERSION: &str = "2025-11-25";
const PATH: &str = "/mcp";
const TABLE: &str = "mcp-lambda-bench-sessions";
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// What each session store costs per MCP request, and the DynamoDB requests each MCP request
/// makes. Run it with scripts/bench-sessions.
#[derive(Debug, Parser)]
#[command(name = "sessions", version)]
struct Args {
    /// The mcp-lambda binary
    #[arg(long, value_name = "PATH")]
    mcp_lambda: PathBuf,
    /// The bundled example server
    #[arg(long, value_name = "PATH")]
    example_server: PathBuf,
    /// moto_server (PyPI `moto[server]`)
    #[arg(long, value_name = "PATH")]
    moto: PathBuf,
    /// Timed tools/call requests per mode
    #[arg(long, value_name = "N", default_value_t = 2000)]
    iterations: usize,
    /// Untimed requests per mode first
    #[arg(long, value_name = "N", default_value_t = 200)]
    warmup: usize,
    /// Interleaving rounds (each runs N/K per mode)
    #[arg(long, value_name = "K", default_value_t = 10)]
    rounds: usize,
    /// tools/call requests in the DynamoDB counting phase
    #[arg(long, value_name = "N", default_value_t = 20)]
    count_calls: usize,
    /// --session-ttl of the touch-check server (touch interval = ttl/2)
    #[arg(long, value_name = "SECS", default_value_t = 4)]
    touch_ttl: u64,
    /// How long the touch check drives its session
    #[arg(long, value_name = "SECS", default_value_t = 6.5)]
    touch_run: f64,
    /// mcp-lambda's --log-level
    #[arg(long, value_name = "LEVEL", default_value = "warn")]
    log_level: String,
    /// Where logs go [default: a new directory under $TMPDIR, removed on success]
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
    /// Shown in the report
    #[arg(long, value_name = "TEXT", default_value = "unknown build")]
    build_info: String,
    /// Also write every figure as JSON
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

impl Args {
    fn check(&self) -> anyhow::Result<()> {
        for (p, name) in [
            (&self.mcp_lambda, "--mcp-lambda"),
            (&self.example_server, "--example-server"),
            (&self.moto, "--moto"),
        ] {
            ensure!(
                p.is_file(),
                "{name}: no such file: {} (scripts/bench-sessions passes it)",
                p.display()
            );
        }
        ensure!(self.rounds >= 1, "--rounds must be at least 1");
        ensure!(
            self.iterations >= self.rounds,
            "--iterations must be at least --rounds"
        );
        ensure!(self.count_calls >= 1, "--count-calls must be at least 1");
        ensure!(
            self.touch_ttl >= 2,
            "--touch-ttl must be at least 2 (seconds)"
        );
        ensure!(self.touch_run >= 0.0, "--touch-run must not be negative");
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sessions: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse();
    args.check()?;
    let (work, remove_work) = match &args.work_dir {
        Some(d) => (d.clone(), false),
        None => {
            let dir = format!("mcp-lambda-bench-sessions.{}", std::process::id());
            (std::env::temp_dir().join(dir), true)
        }
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
    let all = mcp_lambda_bench::stats::loadavg();
    all.split_whitespace().next().unwrap_or("?").to_owned()
}

/// Every phase, then the report.
fn measure(args: &Args, work: &Path) -> anyhow::Result<()> {
    let run_started = Instant::now();
    let load_at_start = load_average();
    let mut s = setup(args, work)?;
    let lat = latency(args, &mut s)?;
    let count = count_requests(args, &s)?;
    let touch = touch_check(args, &s)?;
    let direct = direct_count(args, work, &s)?;
    for m in &mut s.modes {
        m.server.check_running()?;
    }
    s.touch_server.check_running()?;
    s.moto.check_alive()?;
    let load = [load_at_start, load_average()];
    let doc = report::report(args, &s, &lat, &count, &touch, &direct, &load, run_started)?;
    if let Some(path) = &args.json {
        mcp_lambda_bench::write_json(path, &doc)?;
        eprintln!("sessions: wrote {}", path.display());
    }
    Ok(())
}

// Processes and clients

/// One MCP client of one server: a session (when the server keeps them) on one connection, and
/// the timed `tools/call echo`.
struct Mcp {
    s: McpSession,
    next_id: u64,
}

impl Mcp {
    fn new(addr: SocketAddr) -> Self {
        let s = McpSession::new(Client::Raw(RawClient::new(addr)), PATH, VERSION);
        Self { s, next_id: 1 }
    }

    /// One `tools/call echo`, timed from the first byte written to the last byte read; the
    /// answer is checked after the clock stops.
    fn echo(&mut self) -> anyhow::Result<(Duration, Response)> {
        let id = self.next_id;
        self.next_id += 1;
        let body = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"echo","arguments":{{"message":"m{id}"}}}}}}"#
        );
        let started = Instant::now();
        let r = self.s.post(body.as_bytes())?;
        Ok((started.elapsed(), r))
    }

    /// [`echo`](Self::echo), failing unless the answer is the echoed text.
    fn echo_ok(&mut self) -> anyhow::Result<Duration> {
        let (took, r) = self.echo()?;
        let status = r.status;
        ensure!(status == 200, "tools/call: HTTP {status}: {}", r.text());
        let v: Value = serde_json::from_slice(&r.body)
            .with_context(|| format!("tools/call: not JSON: {}", r.text()))?;
        let want = format!("m{}", self.next_id - 1);
        let got = &v["result"]["content"][0]["text"];
        ensure!(got == want.as_str(), "tools/call: unexpected answer: {v}");
        Ok(took)
    }
}

/// A GetItem of an existing session straight to moto from the raw client (no SDK, no
/// gateway): what one wire round trip to the emulator costs, timed in the same rounds.
struct RawGet {
    http: RawClient,
    body: String,
    rounds: Vec<Vec<Duration>>,
}

impl RawGet {
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
            .request("POST", "/", &headers, self.body.as_bytes());
        let (took, r) = (started.elapsed(), r?);
        let (status, found) = (r.status, r.body.windows(6).any(|w| w == b"\"Item\""));
        ensure!(
            status == 200 && found,
            "raw GetItem: HTTP {status}: {}",
            r.text()
        );
        Ok(took)
    }
}

// 1. Set-up

/// One measured mode: its server and client.
struct Mode {
    name: &'static str,
    server: Server,
    client: Mcp,
    /// Samples per round.
    rounds: Vec<Vec<Duration>>,
}

/// Everything started before measuring.
struct Setup {
    moto: Moto,
    proxy: CountingRelay,
    /// DynamoDB requests of `create-table`.
    setup_ops: Ops,
    modes: Vec<Mode>,
    touch_server: Server,
}

impl Setup {
    fn mode(&self, name: &str) -> anyhow::Result<&Mode> {
        let mode = self.modes.iter().find(|m| m.name == name);
        mode.with_context(|| format!("no {name} mode"))
    }
}

/// `mcp-lambda serve --lifecycle reuse --sessions STORE` (with the table for `dynamodb`) and
/// `extra` arguments; [`start_server`] adds `--listen`.
fn serve_cmd(args: &Args, store: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(&args.mcp_lambda);
    cmd.args(["serve", "--lifecycle", "reuse", "--sessions", store])
        .args(["--path", PATH, "--log-level", &args.log_level]);
    if store == "dynamodb" {
        cmd.args(["--session-table", TABLE]);
    }
    cmd.args(extra);
    cmd
}

/// Starts `cmd` listening on a free port, its output in `work/log`; returns once it listens.
fn start_server(
    args: &Args,
    work: &Path,
    name: &str,
    mut cmd: Command,
    log: &str,
) -> anyhow::Result<Server> {
    let addr = free_addr()?;
    cmd.args(["--listen", &addr.to_string(), "--"])
        .arg(&args.example_server);
    let (ready, log) = (
        Ready::Accepts(addr),
        Log::last(20).also_to(&work.join(log))?,
    );
    Ok(Server::launch(name, cmd, ready, PATH, READY_TIMEOUT, log)?)
}

/// 32 random bytes as 64 hex characters (a `--session-keys` key).
fn random_key() -> anyhow::Result<String> {
    let mut bytes = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .context("reading /dev/urandom")?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn setup(args: &Args, work: &Path) -> anyhow::Result<Setup> {
    // The emulator and the proxy.
    let moto = Moto::launch(&args.moto, Some(&work.join("moto.log"))).context("starting moto")?;
    let proxy = CountingRelay::start(moto.addr)?;
    eprintln!(
        "sessions: moto on {}, counting proxy on {}",
        moto.addr, proxy.addr
    );
    let via_proxy = aws_env(&format!("http://{}", proxy.addr));

    // The table, created through the proxy.
    let before = proxy.ops();
    let out = Command::new(&args.mcp_lambda)
        .args(["sessions", "create-table", "--table", TABLE])
        .envs(via_proxy.clone())
        .stdin(Stdio::null())
        .output()
        .context("running mcp-lambda sessions create-table")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let status = out.status;
    ensure!(status.success(), "create-table failed ({status}): {stderr}");
    let setup_ops = ops_diff(&before, &proxy.ops());
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!(
        "sessions: create-table: {} ({})",
        stdout.trim(),
        ops_text(&setup_ops)
    );

    // Every server, before anything is measured: (mode, its environment); the mode names the
    // store, but for `+proxy`.
    let specs = [
        ("none", vec![]),
        ("memory", vec![]),
        ("token", vec![("MCP_LAMBDA_SESSION_KEYS", random_key()?)]),
        ("dynamodb", moto.env()),
        ("dynamodb+proxy", via_proxy.clone()),
    ];
    let mut modes = Vec::new();
    for (name, env) in specs {
        let mut cmd = serve_cmd(args, name.trim_end_matches("+proxy"), &[]);
        cmd.envs(env);
        let log = format!("serve-{}.log", name.replace('+', "-"));
        let server = start_server(args, work, &format!("mcp-lambda ({name})"), cmd, &log)?;
        let (client, rounds) = (Mcp::new(server.addr()), vec![Vec::new(); args.rounds]);
        modes.push(Mode {
            name,
            server,
            client,
            rounds,
        });
    }
    let ttl = format!("{}s", args.touch_ttl);
    let mut cmd = serve_cmd(args, "dynamodb", &["--session-ttl", &ttl]);
    cmd.envs(via_proxy);
    let name = "mcp-lambda (dynamodb, touch check)";
    let touch_server = start_server(args, work, name, cmd, "serve-touch.log")?;
    Ok(Setup {
        moto,
        proxy,
        setup_ops,
        modes,
        touch_server,
    })
}

// 2. Latency

/// What the latency phase measured (the per-mode samples stay in [`Mode::rounds`]).
struct Latency {
    per_round: usize,
    raw_get: RawGet,
    secs: f64,
    /// DynamoDB requests through the proxy during the phase.
    ops: Ops,
}

fn latency(args: &Args, s: &mut Setup) -> anyhow::Result<Latency> {
    let before = s.proxy.ops();
    let started = Instant::now();
    for m in &mut s.modes {
        let c = &mut m.client.s;
        c.open(&format!("bench-{}", m.name))?;
        let (name, session) = (m.name, &c.session);
        let ok = (name == "none") == session.is_none();
        ensure!(ok, "{name}: Mcp-Session-Id {session:?} unexpected");
    }
    let per_round = args.iterations / args.rounds;
    let (warmup, rounds, n) = (args.warmup, args.rounds, s.modes.len());
    eprintln!(
        "sessions: warm-up {warmup} and {rounds} rounds × {per_round} tools/call per mode ({n} modes)"
    );
    let session = s.mode("dynamodb")?.client.s.session.clone();
    let key = json!({"session_id": {"S": session.context("no dynamodb session")?}});
    let body = json!({"TableName": TABLE, "Key": key, "ConsistentRead": true});
    let (http, body) = (RawClient::new(s.moto.addr), body.to_string());
    let mut raw_get = RawGet {
        http,
        body,
        rounds: vec![Vec::new(); rounds],
    };
    for i in 0..warmup {
        for m in &mut s.modes {
            let warm = m.client.echo_ok();
            warm.with_context(|| format!("{} warm-up request {i}", m.name))?;
        }
        raw_get.once()?;
    }
    // Each round rotates the order; the raw GetItem takes the last slot of the rotation.
    for round in 0..rounds {
        for k in 0..=n {
            let Some(m) = s.modes.get_mut((round + k) % (n + 1)) else {
                for _ in 0..per_round {
                    let took = raw_get.once()?;
                    raw_get.rounds[round].push(took);
                }
                s.moto.check_alive()?;
                continue;
            };
            for _ in 0..per_round {
                let took = m.client.echo_ok();
                let took = took.with_context(|| format!("{} round {round}", m.name))?;
                m.rounds[round].push(took);
            }
            m.server.check_running()?;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let ops = ops_diff(&before, &s.proxy.ops());
    Ok(Latency {
        per_round,
        raw_get,
        secs,
        ops,
    })
}

// 3. DynamoDB requests per MCP request

/// DynamoDB requests per MCP request on a fresh session of the `dynamodb+proxy` server.
struct Counting {
    /// (MCP request, HTTP status, DynamoDB requests): the first two rows are `initialize` and
    /// `notifications/initialized`, the rest follow the `tools/call` rows.
    rows: Vec<(String, String, Ops)>,
    /// Each counted `tools/call`'s requests.
    per_call: Vec<Ops>,
}

fn count_requests(args: &Args, s: &Setup) -> anyhow::Result<Counting> {
    let proxy = &s.proxy;
    let addr = s.mode("dynamodb+proxy")?.server.addr();
    let mut rows: Vec<(String, String, Ops)> = Vec::new();
    let mut step = |what: &str, f: &mut dyn FnMut() -> anyhow::Result<Response>| {
        let before = proxy.ops();
        let r = f()?;
        let ops = ops_diff(&before, &proxy.ops());
        rows.push((what.to_owned(), r.status.to_string(), ops));
        Ok::<_, anyhow::Error>(r)
    };
    let mut c = Mcp::new(addr);
    step("initialize", &mut || Ok(c.s.initialize("bench-count")?))?;
    step("notifications/initialized", &mut || {
        Ok(c.s.initialized()?)
    })?;
    let mut per_call = Vec::new();
    for _ in 0..args.count_calls {
        let before = proxy.ops();
        c.echo_ok()?;
        per_call.push(ops_diff(&before, &proxy.ops()));
    }
    let ping = r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#;
    let list = r#"{"jsonrpc":"2.0","id":"l","method":"tools/list"}"#;
    step("ping", &mut || Ok(c.s.post(ping.as_bytes())?))?;
    step("tools/list", &mut || Ok(c.s.post(list.as_bytes())?))?;
    let del = step("DELETE", &mut || Ok(c.s.delete()?))?;
    let status = del.status;
    ensure!(status == 200, "DELETE: HTTP {status}: {}", del.text());
    step("tools/call after DELETE", &mut || c.echo().map(|(_, r)| r))?;
    step("DELETE again", &mut || Ok(c.s.delete()?))?;
    // An unknown id, then one longer than the store's 128-character limit (answered without
    // calling DynamoDB).
    for (what, id) in [("unknown", "0".repeat(64)), ("malformed", "a".repeat(200))] {
        let mut stranger = Mcp::new(addr);
        stranger.s.session = Some(id);
        let what = format!("ping, {what} session id");
        step(&what, &mut || Ok(stranger.s.post(ping.as_bytes())?))?;
    }
    Ok(Counting { rows, per_call })
}

/// The directly connected `dynamodb` server's DynamoDB requests, counted from moto's log: moto
/// logs one line per request, so what it served minus what went through the proxy and the raw
/// GetItems is what that server sent. Returns (counted, expected).
fn direct_count(args: &Args, work: &Path, s: &Setup) -> anyhow::Result<(u64, u64)> {
    std::thread::sleep(Duration::from_millis(200));
    let log = std::fs::read_to_string(work.join("moto.log")).context("reading moto's log")?;
    let posts = log.lines().filter(|l| l.contains("\"POST / HTTP/1.1\""));
    let moto_requests = posts.count() as u64;
    let raw_requests = (args.warmup + args.iterations / args.rounds * args.rounds) as u64;
    let sent = raw_requests + s.proxy.ops().values().sum::<u64>();
    let direct = moto_requests.checked_sub(sent).with_context(|| {
        format!("moto logged {moto_requests} requests, fewer than the proxy and raw client sent")
    })?;
    // initialize (PutItem) + notifications/initialized (GetItem) + one GetItem per tools/call.
    Ok((direct, 2 + raw_requests))
}

// 4. Touch check

/// What the touch check saw.
struct Touch {
    interval: Duration,
    elapsed: Duration,
    ops: Ops,
    /// Latencies of the calls that wrote no `UpdateItem` (`[0]`), and of those that did.
    by_update: [Vec<Duration>; 2],
}

impl Touch {
    /// ⌊elapsed / interval⌋: the most UpdateItems there may be.
    fn expected(&self) -> u64 {
        (self.elapsed.as_secs_f64() / self.interval.as_secs_f64()).floor() as u64
    }
}

fn touch_check(args: &Args, s: &Setup) -> anyhow::Result<Touch> {
    let interval = Duration::from_secs(60).min(Duration::from_secs(args.touch_ttl) / 2);
    let mut t = Mcp::new(s.touch_server.addr());
    t.s.open("bench-touch")?;
    let before = s.proxy.ops();
    let started = Instant::now();
    let mut by_update = [Vec::new(), Vec::new()];
    while started.elapsed() < Duration::from_secs_f64(args.touch_run) {
        let b = s.proxy.ops();
        let took = t.echo_ok().context("touch check")?;
        let updated = ops_diff(&b, &s.proxy.ops()).contains_key("UpdateItem");
        by_update[usize::from(updated)].push(took);
        std::thread::sleep(Duration::from_millis(20));
    }
    let (elapsed, ops) = (started.elapsed(), ops_diff(&before, &s.proxy.ops()));
    Ok(Touch {
        interval,
        elapsed,
        ops,
        by_update,
    })
}
