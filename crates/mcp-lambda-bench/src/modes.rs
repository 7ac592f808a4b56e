//! The measured serve modes, interleaved in blocks so that slow drifts in machine load (a
//! shared, noisy host) hit every mode alike and the ratios stay comparable.
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
//! is stopped, also when a mode fails (the test kit's process guard).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use mcp_lambda_bench::stats::loadavg;
use mcp_lambda_testkit::{
    Client, ClientKind, Log, McpSession, Ready, Rss, Server, StdioChild, free_addr,
    json_rpc_from_body, mcp_headers, rss_of, wait_childless,
};
use serde_json::json;

use crate::Options;
use crate::report::{Machine, Row};
use crate::sched::{Job, Work, interleave};
use crate::target::{check_call, spawn_child, spawn_floor};

/// Untimed requests before the timed ones in spawn-based modes.
pub(crate) const SPAWN_WARMUP: usize = 3;
/// How long a server may take to start.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Lines of a server's output kept for error messages.
const TAIL: usize = 40;

/// Everything one run measured.
#[derive(Debug, Default)]
pub(crate) struct Results {
    /// The host and its load before and after the run.
    pub(crate) machine: Machine,
    pub(crate) rows: Vec<Row>,
    /// (what, resident memory).
    pub(crate) rss: Vec<(&'static str, Rss)>,
}

/// How a mode issues one timed request.
pub(crate) enum Driver {
    Bare(StdioChild),
    Spawn,
    Http {
        mcp: McpSession,
        /// The server process, charged with the CPU time.
        pid: u32,
        /// Before each request (untimed), wait until the server process has no children left
        /// (the previous per-request child has fully exited).
        quiesce: bool,
        /// Speak 2026-07-28 (no session, envelope + headers) instead of the initialize era.
        modern: bool,
        /// Accept only `application/json` (no SSE answer possible).
        json_only: bool,
    },
    Healthz(Client, u32),
}

impl Work for Driver {
    fn cpu_pid(&self) -> Option<u32> {
        match self {
            Driver::Http { pid, .. } | Driver::Healthz(_, pid) => Some(*pid),
            Driver::Bare(_) | Driver::Spawn => None,
        }
    }

    fn once(&mut self, o: &Options, id: u64, _timed: bool) -> anyhow::Result<Duration> {
        let t = &o.target;
        match self {
            Driver::Bare(child) => {
                let req = t.call_request(id);
                let start = Instant::now();
                let (msg, done) = child.roundtrip(&req, &json!(id))?;
                check_call(&msg)?;
                Ok(done - start)
            }
            Driver::Spawn => spawn_floor(t),
            Driver::Http {
                mcp,
                pid,
                quiesce,
                modern,
                json_only,
            } => {
                if *quiesce {
                    wait_childless(*pid)?;
                }
                let (body, mut headers) = if *modern {
                    (t.modern_call_request(id), modern_headers(&t.tool))
                } else {
                    (
                        t.call_request(id),
                        mcp_headers(&mcp.version, mcp.session.as_deref()),
                    )
                };
                if *json_only {
                    headers[1].1 = "application/json";
                }
                let start = Instant::now();
                let resp = mcp.http.request("POST", &mcp.path, &headers, &body)?;
                let took = start.elapsed();
                ensure!(
                    resp.status == 200,
                    "tools/call #{id}: HTTP {}: {}",
                    resp.status,
                    resp.text()
                );
                let msg = json_rpc_from_body(&resp, &json!(id)).map_err(anyhow::Error::msg);
                check_call(&msg?).with_context(|| format!("tools/call #{id}"))?;
                Ok(took)
            }
            Driver::Healthz(client, _) => {
                let start = Instant::now();
                let resp = client.request("GET", "/healthz", &[], b"")?;
                let took = start.elapsed();
                ensure!(resp.status == 200, "GET /healthz: HTTP {}", resp.status);
                Ok(took)
            }
        }
    }
}

/// Runs every mode `o` asks for.
pub(crate) fn run_all(o: &Options) -> anyhow::Result<Results> {
    let t = &o.target;
    let (name, program, args, tool) = (&t.name, &t.program, t.args.join(" "), &t.tool);
    let (n, spawns, blocks, client) = (o.iterations, o.spawn_iterations, o.blocks, o.client.name());
    eprintln!(
        "bench: child {name} ({program} {args}), tool {tool}, {n} call / {spawns} spawn iterations in {blocks} interleaved blocks, client {client}"
    );
    let machine = Machine::now();
    // Started servers, stopped when dropped (also on early error returns).
    let mut servers: Vec<(&'static str, Server)> = Vec::new();
    let result = start_modes(o, &mut servers).and_then(|mut jobs| {
        interleave(o, &mut jobs)?;
        let rss = servers
            .iter()
            .map(|(what, s)| Ok((*what, rss_of(s.pid())?)));
        let rss = rss.collect::<anyhow::Result<_>>()?;
        let rows = jobs.iter().map(|j| {
            Ok(Row {
                mode: j.name,
                summary: j.summary()?,
                server_cpu_us: j.cpu_us(),
            })
        });
        let rows = rows.collect::<anyhow::Result<_>>()?;
        for j in jobs {
            if let Driver::Bare(child) = j.work {
                child.close()?;
            }
        }
        Ok(Results {
            machine: Machine::default(),
            rows,
            rss,
        })
    });
    let mut res = result.map_err(|e| {
        let tails = servers
            .iter()
            .map(|(what, s)| format!("--- {what} (last lines):\n{}", s.log()));
        e.context(tails.collect::<Vec<_>>().join("\n"))
    })?;
    res.machine = Machine {
        load_after: loadavg(),
        ..machine
    };
    Ok(res)
}

/// Starts what the modes need (servers into `servers`), in the order they are measured.
/// A bare child left behind on error gets EOF on stdin when dropped and exits.
fn start_modes(
    o: &Options,
    servers: &mut Vec<(&'static str, Server)>,
) -> anyhow::Result<Vec<Job<Driver>>> {
    let (iterations, warmup, spawns) = (o.iterations, o.warmup, o.spawn_iterations);
    let mut jobs = Vec::new();
    if o.wants("bare") {
        jobs.push(Job::new(
            "bare-initialized",
            Driver::Bare(spawn_child(&o.target)?),
            iterations,
            warmup,
        ));
    }
    if o.wants("spawn") {
        jobs.push(Job::new("spawn-floor", Driver::Spawn, spawns, SPAWN_WARMUP));
    }
    if ["reuse", "reuse-modern", "reuse-json", "healthz"]
        .iter()
        .any(|m| o.wants(m))
    {
        eprintln!("bench: starting mcp-lambda --lifecycle reuse");
        servers.push(("mcp-lambda after reuse", start_mcp_lambda(o, "reuse")?));
        let s = &servers[servers.len() - 1].1;
        if o.wants("healthz") {
            for (name, kind) in [
                ("healthz-raw", ClientKind::Raw),
                ("healthz-ureq", ClientKind::Ureq),
            ] {
                let driver = Driver::Healthz(Client::new(kind, s.addr()), s.pid());
                jobs.push(Job::new(name, driver, iterations, warmup));
            }
        }
        for (name, modern, json_only) in [
            ("reuse", false, false),
            ("reuse-modern", true, false),
            ("reuse-json", false, true),
        ] {
            if o.wants(name) {
                let driver = http_driver(o, s, false, modern, json_only)?;
                jobs.push(Job::new(name, driver, iterations, warmup));
            }
        }
    }
    if o.wants("per-request") || o.wants("per-request-idle") {
        eprintln!("bench: starting mcp-lambda --lifecycle per-request");
        servers.push((
            "mcp-lambda after per-request",
            start_mcp_lambda(o, "per-request")?,
        ));
        let s = &servers[servers.len() - 1].1;
        for (name, quiesce) in [("per-request", false), ("per-request-idle", true)] {
            if o.wants(name) {
                let driver = http_driver(o, s, quiesce, false, false)?;
                jobs.push(Job::new(name, driver, spawns, SPAWN_WARMUP));
            }
        }
    }
    if o.wants("supergateway") {
        eprintln!("bench: starting supergateway (stateful streamableHttp)");
        servers.push(("supergateway (node)", start_supergateway(o)?));
        let s = &servers[servers.len() - 1].1;
        jobs.push(Job::new(
            "supergateway",
            http_driver(o, s, false, false, false)?,
            iterations,
            warmup,
        ));
    }
    Ok(jobs)
}
/// `mcp-lambda serve --lifecycle LIFECYCLE --sessions none --listen ... -- CMD`. With a log
/// level that shows info lines the port is read from its "listening on" line; otherwise a free
/// port is picked first and polled.
fn start_mcp_lambda(o: &Options, lifecycle: &str) -> anyhow::Result<Server> {
    let level = &o.wrapper_log_level;
    let shows_info = ["info", "debug", "trace"].iter().any(|l| level.contains(l));
    let (listen, ready) = if shows_info {
        ("127.0.0.1:0".to_owned(), Ready::Announced)
    } else {
        let addr = free_addr()?;
        (addr.to_string(), Ready::Accepts(addr))
    };
    let mut cmd = Command::new(&o.mcp_lambda);
    cmd.args([
        "serve",
        "--lifecycle",
        lifecycle,
        "--sessions",
        "none",
        "--listen",
        &listen,
    ])
    .args(["--log-level", level, "--", &o.target.program])
    .args(&o.target.args);
    let log = Log::last(TAIL);
    Ok(Server::launch(
        "mcp-lambda",
        cmd,
        ready,
        "/mcp",
        READY_TIMEOUT,
        log,
    )?)
}

/// `supergateway --stdio CMD --outputTransport streamableHttp --stateful --port P`.
fn start_supergateway(o: &Options) -> anyhow::Result<Server> {
    let bin = o.supergateway.as_deref().context("--supergateway PATH")?;
    let addr = free_addr()?;
    let mut cmd = Command::new(bin);
    cmd.args([
        "--stdio",
        &o.target.shell_command(),
        "--outputTransport",
        "streamableHttp",
    ])
    .args(["--stateful", "--port", &addr.port().to_string()])
    .args(["--logLevel", &o.peer_log_level]);
    let (ready, log) = (Ready::Accepts(addr), Log::last(TAIL));
    Ok(Server::launch(
        "supergateway",
        cmd,
        ready,
        "/mcp",
        READY_TIMEOUT,
        log,
    )?)
}

/// The headers of a 2026-07-28 `tools/call` of `tool`.
fn modern_headers(tool: &str) -> Vec<(&'static str, &str)> {
    vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "tools/call"),
        ("mcp-name", tool),
    ]
}

/// A client of `server`. An initialize-era client has done `initialize` +
/// `notifications/initialized` (keeping the session id, if any) like a real client; a modern
/// one never initializes.
fn http_driver(
    o: &Options,
    server: &Server,
    quiesce: bool,
    modern: bool,
    json_only: bool,
) -> anyhow::Result<Driver> {
    let client = Client::new(o.client, server.addr());
    let mut mcp = McpSession::new(client, server.path(), crate::PROTOCOL_VERSION);
    if !modern {
        mcp.open("mcp-lambda-bench")?;
    }
    Ok(Driver::Http {
        mcp,
        pid: server.pid(),
        quiesce,
        modern,
        json_only,
    })
}
