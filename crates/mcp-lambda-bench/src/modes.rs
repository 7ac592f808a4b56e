//! The measured modes, interleaved in blocks so that slow drifts in machine load (a shared,
//! noisy host) hit every mode alike and the ratios stay comparable.
//!
//! Contract: every server and the long-lived bare child are started first, each mode is warmed
//! up, then `--blocks` rounds run a slice of each mode's timed requests in a fixed order. Each
//! mode yields one latency sample per timed request (warm-ups excluded):
//! - `bare-initialized`: one spawned, initialized child; a `tools/call` round trip on its stdio.
//! - `spawn-floor`: spawn + initialize + `notifications/initialized` + one `tools/call`, timed
//!   from spawn to the call's response; stopping the child afterwards is not timed.
//! - `healthz-raw`, `healthz-ureq`: `GET /healthz` on the reuse mcp-lambda — the client +
//!   loopback HTTP floor, with each client.
//! - `reuse`, `per-request`: `tools/call` POSTs to `mcp-lambda serve --sessions none` with that
//!   lifecycle, after one `initialize` + `notifications/initialized` like a real client.
//! - `reuse-json`: `reuse` with `Accept: application/json` only (the answer can never stream),
//!   on the same server: `reuse / reuse-json` is the cost of a stream-capable answer.
//! - `reuse-modern`: the same `tools/call` as a 2026-07-28 client sends it (no initialize,
//!   `_meta` envelope, `Mcp-Method` / `Mcp-Name` headers) to the same `reuse` server: with the
//!   initialize-era example child this is the era-translation path.
//! - `per-request-idle`: as `per-request`, but each request is sent only once the previous
//!   request's child has fully exited (untimed wait) — the same conditions as `spawn-floor`,
//!   whose child is also stopped before the next spawn. Back-to-back `per-request` instead lets
//!   the previous child's exit overlap the next request, as under real load.
//! - `supergateway`: `tools/call` POSTs in a stateful session (initialize → `Mcp-Session-Id`).
//!
//! For HTTP modes the server process's CPU time (all threads, not its MCP child) is summed over
//! the timed blocks. RSS of each server is read after the last block. Every process started here
//! is stopped, also when a mode fails.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::json;

use crate::Options;
use crate::http::{self, Client, Kind};
use crate::servers::{Rss, Server, cpu_ns_of, wait_childless};
use crate::stats::Summary;
use crate::stdio::{self, StdioChild};
use crate::target::{Target, check_call};

/// Untimed requests before the timed ones in spawn-based modes.
pub(crate) const SPAWN_WARMUP: usize = 3;

/// One measured mode.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) mode: &'static str,
    pub(crate) summary: Summary,
    /// CPU time the server process (wrapper or peer, not the MCP child) spent per timed
    /// request, in µs; `None` for the bare modes.
    pub(crate) server_cpu_us: Option<f64>,
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub(crate) struct Results {
    /// The host and its load (`/proc/loadavg`) before and after the run.
    pub(crate) machine: Machine,
    pub(crate) rows: Vec<Row>,
    /// (what, resident memory).
    pub(crate) rss: Vec<(&'static str, Rss)>,
}

/// Where the run happened; load averages show how noisy it was.
#[derive(Debug, Default)]
pub(crate) struct Machine {
    pub(crate) cpus: usize,
    pub(crate) cpu_model: String,
    pub(crate) kernel: String,
    pub(crate) load_before: String,
    pub(crate) load_after: String,
}

impl Machine {
    /// The host now, with its load average as `load_before`.
    pub(crate) fn now() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpu_model = read("/proc/cpuinfo")
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            .unwrap_or_default();
        Self {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            load_before: loadavg(),
            load_after: String::new(),
        }
    }
}

/// The 1-, 5- and 15-minute load averages.
pub(crate) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

impl Results {
    /// The summary of `mode`, if it ran.
    pub(crate) fn get(&self, mode: &str) -> Option<&Summary> {
        self.rows
            .iter()
            .find(|r| r.mode == mode)
            .map(|r| &r.summary)
    }

    /// The RSS recorded as `what`, if any.
    pub(crate) fn rss_of(&self, what: &str) -> Option<Rss> {
        self.rss.iter().find(|(w, _)| *w == what).map(|(_, r)| *r)
    }
}

/// How a mode issues one timed request.
enum Driver {
    Bare {
        child: StdioChild,
        next_id: u64,
    },
    Spawn,
    Http {
        client: Client,
        path: String,
        session: Option<String>,
        next_id: u64,
        /// Before each request (untimed), wait until this server process has no children
        /// left (the previous per-request child has fully exited).
        quiesce: Option<u32>,
        /// Speak 2026-07-28 (no session, envelope + headers) instead of the initialize era.
        modern: bool,
        /// Accept only `application/json` (no SSE answer possible).
        json_only: bool,
    },
    Healthz {
        client: Client,
    },
}

/// A mode being measured.
struct Mode {
    name: &'static str,
    driver: Driver,
    /// Timed requests still to do.
    total: usize,
    warmup: usize,
    /// The server process whose CPU time is charged to this mode.
    server_pid: Option<u32>,
    samples: Vec<Duration>,
    cpu_ns: u64,
}

impl Mode {
    fn new(name: &'static str, driver: Driver, total: usize, warmup: usize) -> Self {
        Self {
            name,
            driver,
            total,
            warmup,
            server_pid: None,
            samples: Vec::with_capacity(total),
            cpu_ns: 0,
        }
    }

    fn on(mut self, server: &Server) -> Self {
        self.server_pid = Some(server.pid());
        self
    }

    /// Runs `count` requests; records them unless `timed` is false.
    fn run(&mut self, t: &Target, count: usize, timed: bool) -> anyhow::Result<()> {
        let cpu_before = match (timed, self.server_pid) {
            (true, Some(pid)) => Some(cpu_ns_of(pid)?),
            _ => None,
        };
        for _ in 0..count {
            let took = self
                .once(t)
                .with_context(|| format!("mode {}", self.name))?;
            if timed {
                self.samples.push(took);
            }
        }
        if let (Some(before), Some(pid)) = (cpu_before, self.server_pid) {
            self.cpu_ns += cpu_ns_of(pid)?.saturating_sub(before);
        }
        Ok(())
    }

    /// One request; returns its latency.
    fn once(&mut self, t: &Target) -> anyhow::Result<Duration> {
        match &mut self.driver {
            Driver::Bare { child, next_id } => {
                *next_id += 1;
                let id = *next_id;
                let req = t.call_request(id);
                let start = Instant::now();
                let (msg, done) = child.roundtrip(&req, &json!(id))?;
                let took = done - start;
                check_call(&msg)?;
                Ok(took)
            }
            Driver::Spawn => stdio::spawn_floor(t),
            Driver::Http {
                client,
                path,
                session,
                next_id,
                quiesce,
                modern,
                json_only,
            } => {
                if let Some(pid) = quiesce {
                    wait_childless(*pid)?;
                }
                *next_id += 1;
                let id = *next_id;
                let (body, mut headers) = if *modern {
                    (t.modern_call_request(id), modern_headers(&t.tool))
                } else {
                    (t.call_request(id), mcp_headers(session.as_deref()))
                };
                if *json_only {
                    for h in headers.iter_mut().filter(|(k, _)| *k == "accept") {
                        h.1 = "application/json";
                    }
                }
                let start = Instant::now();
                let resp = client.request("POST", path, &headers, &body)?;
                let took = start.elapsed();
                if resp.status != 200 {
                    bail!(
                        "tools/call #{id}: HTTP {}: {}",
                        resp.status,
                        http::clip(&String::from_utf8_lossy(&resp.body))
                    );
                }
                let msg = http::json_rpc_from_body(&resp, &json!(id))
                    .with_context(|| format!("tools/call #{id}"))?;
                check_call(&msg).with_context(|| format!("tools/call #{id}"))?;
                Ok(took)
            }
            Driver::Healthz { client } => {
                let start = Instant::now();
                let resp = client.request("GET", "/healthz", &[], b"")?;
                let took = start.elapsed();
                ensure!(resp.status == 200, "GET /healthz: HTTP {}", resp.status);
                Ok(took)
            }
        }
    }

    fn row(&self) -> anyhow::Result<Row> {
        let summary = Summary::of(&self.samples).with_context(|| format!("mode {}", self.name))?;
        let server_cpu_us = self
            .server_pid
            .map(|_| self.cpu_ns as f64 / 1e3 / self.samples.len() as f64);
        Ok(Row {
            mode: self.name,
            summary,
            server_cpu_us,
        })
    }
}

/// Started servers, stopped on drop (also on early error returns).
#[derive(Default)]
struct Servers(Vec<(&'static str, Server)>);

impl Servers {
    fn add(&mut self, what: &'static str, s: Server) -> &Server {
        self.0.push((what, s));
        &self.0[self.0.len() - 1].1
    }

    fn tails(&self) -> String {
        self.0
            .iter()
            .map(|(what, s)| format!("--- {what} (last lines):\n{}", s.tail()))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for (_, s) in self.0.drain(..) {
            s.stop();
        }
    }
}

/// Runs every mode `o` asks for.
pub(crate) fn run_all(o: &Options) -> anyhow::Result<Results> {
    let t = &o.target;
    eprintln!(
        "bench: child {} ({} {}), tool {}, {} call / {} spawn iterations in {} interleaved blocks, client {}",
        t.name,
        t.program,
        t.args.join(" "),
        t.tool,
        o.iterations,
        o.spawn_iterations,
        o.blocks,
        o.client.name()
    );
    let machine = Machine::now();
    let mut servers = Servers::default();
    let mut res = run_modes(o, &mut servers).with_context(|| servers.tails())?;
    res.machine = Machine {
        load_after: loadavg(),
        ..machine
    };
    Ok(res)
}

/// Starts what the modes need (into `servers`), warms up, runs the interleaved blocks.
/// A bare child left behind on error gets EOF on stdin when dropped and exits.
fn run_modes(o: &Options, servers: &mut Servers) -> anyhow::Result<Results> {
    let t = &o.target;
    let mut modes: Vec<Mode> = Vec::new();

    if o.wants("bare") {
        let mut child = StdioChild::spawn(t)?;
        child.handshake()?;
        modes.push(Mode::new(
            "bare-initialized",
            Driver::Bare { child, next_id: 0 },
            o.iterations,
            o.warmup,
        ));
    }
    if o.wants("spawn") {
        modes.push(Mode::new(
            "spawn-floor",
            Driver::Spawn,
            o.spawn_iterations,
            SPAWN_WARMUP,
        ));
    }
    if o.wants("reuse") || o.wants("reuse-modern") || o.wants("reuse-json") || o.wants("healthz") {
        eprintln!("bench: starting mcp-lambda --lifecycle reuse");
        let s = servers.add(
            "mcp-lambda after reuse",
            Server::start_mcp_lambda(&o.mcp_lambda, t, "reuse", &o.wrapper_log_level)?,
        );
        if o.wants("healthz") {
            for (name, kind) in [("healthz-raw", Kind::Raw), ("healthz-ureq", Kind::Ureq)] {
                let client = Client::new(kind, s.addr);
                modes.push(
                    Mode::new(name, Driver::Healthz { client }, o.iterations, o.warmup).on(s),
                );
            }
        }
        if o.wants("reuse") {
            let driver = http_driver(o.client, s.addr, &s.path)?;
            modes.push(Mode::new("reuse", driver, o.iterations, o.warmup).on(s));
        }
        if o.wants("reuse-modern") {
            let driver = Driver::Http {
                client: Client::new(o.client, s.addr),
                path: s.path.clone(),
                session: None,
                next_id: 0,
                quiesce: None,
                modern: true,
                json_only: false,
            };
            modes.push(Mode::new("reuse-modern", driver, o.iterations, o.warmup).on(s));
        }
        if o.wants("reuse-json") {
            let mut driver = http_driver(o.client, s.addr, &s.path)?;
            if let Driver::Http { json_only, .. } = &mut driver {
                *json_only = true;
            }
            modes.push(Mode::new("reuse-json", driver, o.iterations, o.warmup).on(s));
        }
    }
    if o.wants("per-request") || o.wants("per-request-idle") {
        eprintln!("bench: starting mcp-lambda --lifecycle per-request");
        let s = servers.add(
            "mcp-lambda after per-request",
            Server::start_mcp_lambda(&o.mcp_lambda, t, "per-request", &o.wrapper_log_level)?,
        );
        if o.wants("per-request") {
            let driver = http_driver(o.client, s.addr, &s.path)?;
            modes.push(Mode::new("per-request", driver, o.spawn_iterations, SPAWN_WARMUP).on(s));
        }
        if o.wants("per-request-idle") {
            let mut driver = http_driver(o.client, s.addr, &s.path)?;
            if let Driver::Http { quiesce, .. } = &mut driver {
                *quiesce = Some(s.pid());
            }
            let mode = Mode::new("per-request-idle", driver, o.spawn_iterations, SPAWN_WARMUP);
            modes.push(mode.on(s));
        }
    }
    if o.wants("supergateway") {
        let bin = o.supergateway.as_deref().context("--supergateway PATH")?;
        eprintln!("bench: starting supergateway (stateful streamableHttp)");
        let s = servers.add(
            "supergateway (node)",
            Server::start_supergateway(bin, t, &o.peer_log_level)?,
        );
        let driver = http_driver(o.client, s.addr, &s.path)?;
        modes.push(Mode::new("supergateway", driver, o.iterations, o.warmup).on(s));
    }

    eprintln!("bench: warming up");
    for m in &mut modes {
        let w = m.warmup;
        m.run(t, w, false)?;
    }
    let blocks = o.blocks.max(1);
    for b in 0..blocks {
        for m in &mut modes {
            // Spread `total` over the blocks; earlier blocks take the remainder.
            let count = m.total / blocks + usize::from(b < m.total % blocks);
            m.run(t, count, true)?;
        }
        eprint!("\rbench: block {}/{blocks}", b + 1);
    }
    eprintln!();

    let mut res = Results::default();
    for (what, s) in &servers.0 {
        res.rss.push((what, s.rss()?));
    }
    for m in &modes {
        res.rows.push(m.row()?);
    }
    for m in modes {
        if let Driver::Bare { child, .. } = m.driver {
            child.close()?;
        }
    }
    Ok(res)
}

fn mcp_headers(session: Option<&str>) -> Vec<(&str, &str)> {
    let mut h = vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", crate::PROTOCOL_VERSION),
    ];
    if let Some(s) = session {
        h.push(("mcp-session-id", s));
    }
    h
}

/// The headers of a 2026-07-28 `tools/call` of `tool`.
fn modern_headers(tool: &str) -> Vec<(&str, &str)> {
    vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", tool),
    ]
}

/// A client that has done `initialize` + `notifications/initialized` on `addr` + `path`.
fn http_driver(kind: Kind, addr: SocketAddr, path: &str) -> anyhow::Result<Driver> {
    let mut client = Client::new(kind, addr);
    let init = client.request(
        "POST",
        path,
        &mcp_headers(None)[..2],
        stdio::initialize_request(0).as_bytes(),
    )?;
    ensure!(
        init.status == 200,
        "initialize: HTTP {}: {}",
        init.status,
        http::clip(&String::from_utf8_lossy(&init.body))
    );
    let msg = http::json_rpc_from_body(&init, &json!(0))?;
    ensure!(msg.get("result").is_some(), "initialize failed: {msg}");
    let session = init.header("mcp-session-id").map(str::to_owned);
    let note = client.request(
        "POST",
        path,
        &mcp_headers(session.as_deref()),
        br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )?;
    ensure!(
        note.status == 202 || note.status == 200,
        "notifications/initialized: HTTP {}",
        note.status
    );
    Ok(Driver::Http {
        client,
        path: path.to_owned(),
        session,
        next_id: 0,
        quiesce: None,
        modern: false,
        json_only: false,
    })
}
