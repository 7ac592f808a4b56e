//! The measured modes, run one after another in a fixed order.
//!
//! Contract: each mode returns one latency sample per timed request (warm-ups excluded):
//! - `bare-initialized`: one spawned, initialized child; a `tools/call` round trip on its stdio.
//! - `spawn-floor`: spawn + initialize + `notifications/initialized` + one `tools/call`, timed
//!   from spawn to the call's response; stopping the child afterwards is not timed.
//! - `reuse`, `per-request`: `tools/call` POSTs to `mcp-lambda serve --sessions none` with that
//!   lifecycle, after one `initialize` + `notifications/initialized` like a real client.
//! - `supergateway`: `tools/call` POSTs in a stateful session (initialize → `Mcp-Session-Id`).
//! - `healthz-raw`, `healthz-ureq`: `GET /healthz` on mcp-lambda — the client + loopback floor.
//!
//! A server started for a mode is always stopped, also when the mode fails. RSS of the wrapper
//! process is read right after its last timed request.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use serde_json::json;

use crate::Options;
use crate::http::{self, Client, Kind};
use crate::servers::{Rss, Server};
use crate::stats::Summary;
use crate::stdio::{self, StdioChild};
use crate::target::{Target, check_call};

/// Untimed requests before the timed ones in spawn-based modes.
const SPAWN_WARMUP: usize = 3;

/// One measured mode.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) mode: &'static str,
    pub(crate) summary: Summary,
    /// CPU time the server process (wrapper or peer, not the MCP child) spent per timed
    /// request, in µs; `None` for the bare modes.
    pub(crate) server_cpu_us: Option<f64>,
}

/// Timed samples and, for HTTP modes, the server's CPU time over the timed requests.
struct Measured {
    samples: Vec<Duration>,
    server_cpu: Option<Duration>,
}

impl From<Vec<Duration>> for Measured {
    fn from(samples: Vec<Duration>) -> Self {
        Self {
            samples,
            server_cpu: None,
        }
    }
}

/// Everything one run measured.
#[derive(Debug, Default)]
pub(crate) struct Results {
    pub(crate) rows: Vec<Row>,
    /// (what, resident memory).
    pub(crate) rss: Vec<(&'static str, Rss)>,
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

    fn push(&mut self, mode: &'static str, m: impl Into<Measured>) -> anyhow::Result<()> {
        let m = m.into();
        let summary = Summary::of(&m.samples).with_context(|| format!("mode {mode}"))?;
        let server_cpu_us = m
            .server_cpu
            .map(|c| c.as_secs_f64() * 1e6 / m.samples.len() as f64);
        eprintln!(
            "bench:   {mode}: p50 {:.1} µs, mean {:.1} µs (n={}){}",
            summary.p50,
            summary.mean,
            summary.n,
            server_cpu_us
                .map(|c| format!(", server CPU {c:.1} µs/request"))
                .unwrap_or_default()
        );
        self.rows.push(Row {
            mode,
            summary,
            server_cpu_us,
        });
        Ok(())
    }
}

/// Runs every mode `o` asks for.
pub(crate) fn run_all(o: &Options) -> anyhow::Result<Results> {
    let mut res = Results::default();
    let t = &o.target;
    eprintln!(
        "bench: child {} ({} {}), tool {}, {} call iterations, {} spawn iterations, client {}",
        t.name,
        t.program,
        t.args.join(" "),
        t.tool,
        o.iterations,
        o.spawn_iterations,
        o.client.name()
    );
    if o.wants("bare") {
        eprintln!("bench: bare-initialized");
        res.push(
            "bare-initialized",
            bare_initialized(t, o.iterations, o.warmup)?,
        )?;
    }
    if o.wants("spawn") {
        eprintln!("bench: spawn-floor");
        res.push("spawn-floor", spawn_floor(t, o.spawn_iterations)?)?;
    }
    if o.wants("reuse") || o.wants("healthz") {
        eprintln!("bench: mcp-lambda --lifecycle reuse");
        let server = Server::start_mcp_lambda(&o.mcp_lambda, t, "reuse", &o.wrapper_log_level)?;
        let outcome = (|| -> anyhow::Result<()> {
            if o.wants("healthz") {
                for kind in [Kind::Raw, Kind::Ureq] {
                    let samples = healthz(kind, &server, o.iterations, o.warmup)?;
                    let mode = match kind {
                        Kind::Raw => "healthz-raw",
                        Kind::Ureq => "healthz-ureq",
                    };
                    res.push(mode, samples)?;
                }
            }
            if o.wants("reuse") {
                res.push(
                    "reuse",
                    http_calls(o.client, &server, t, o.iterations, o.warmup)?,
                )?;
                res.rss.push(("mcp-lambda after reuse", server.rss()?));
            }
            Ok(())
        })();
        finish(server, outcome)?;
    }
    if o.wants("per-request") {
        eprintln!("bench: mcp-lambda --lifecycle per-request");
        let server =
            Server::start_mcp_lambda(&o.mcp_lambda, t, "per-request", &o.wrapper_log_level)?;
        let outcome = (|| -> anyhow::Result<()> {
            let samples = http_calls(o.client, &server, t, o.spawn_iterations, SPAWN_WARMUP)?;
            res.rss
                .push(("mcp-lambda after per-request", server.rss()?));
            res.push("per-request", samples)
        })();
        finish(server, outcome)?;
    }
    if o.wants("supergateway") {
        let bin = o.supergateway.as_deref().context("--supergateway PATH")?;
        eprintln!("bench: supergateway (stateful streamableHttp)");
        let server = Server::start_supergateway(bin, t, &o.peer_log_level)?;
        let outcome = (|| -> anyhow::Result<()> {
            let samples = http_calls(o.client, &server, t, o.iterations, o.warmup)?;
            res.rss.push(("supergateway (node)", server.rss()?));
            res.push("supergateway", samples)
        })();
        finish(server, outcome)?;
    }
    Ok(res)
}

/// Stops `server`; on failure adds its last output lines to the error.
fn finish(server: Server, outcome: anyhow::Result<()>) -> anyhow::Result<()> {
    let tail = server.tail();
    server.stop();
    outcome.with_context(|| format!("server output (last lines):\n{tail}"))
}

/// Mode 1: round trips on an already initialized bare child.
fn bare_initialized(t: &Target, n: usize, warmup: usize) -> anyhow::Result<Vec<Duration>> {
    let mut child = StdioChild::spawn(t)?;
    child.handshake()?;
    let mut samples = Vec::with_capacity(n);
    for i in 0..warmup + n {
        let id = i as u64 + 1;
        let req = t.call_request(id);
        let start = Instant::now();
        let (msg, done) = child.roundtrip(&req, &json!(id))?;
        let took = done - start;
        check_call(&msg)?;
        if i >= warmup {
            samples.push(took);
        }
    }
    child.close()?;
    Ok(samples)
}

/// Mode 2: spawn + handshake + one call, per sample.
fn spawn_floor(t: &Target, n: usize) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(n);
    let req = t.call_request(1);
    for i in 0..SPAWN_WARMUP + n {
        let start = Instant::now();
        let mut child = StdioChild::spawn(t)?;
        child.handshake()?;
        let (msg, done) = child.roundtrip(&req, &json!(1))?;
        let took = done - start;
        child.close()?;
        check_call(&msg)?;
        if i >= SPAWN_WARMUP {
            samples.push(took);
        }
    }
    Ok(samples)
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

/// Modes 3–5: `initialize` + `notifications/initialized`, then `warmup + n` `tools/call` POSTs.
fn http_calls(
    kind: Kind,
    server: &Server,
    t: &Target,
    n: usize,
    warmup: usize,
) -> anyhow::Result<Measured> {
    let mut client = Client::new(kind, server.addr);
    let path = server.path.as_str();

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
    let headers = mcp_headers(session.as_deref());
    let note = client.request(
        "POST",
        path,
        &headers,
        br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )?;
    ensure!(
        note.status == 202 || note.status == 200,
        "notifications/initialized: HTTP {}",
        note.status
    );

    let mut samples = Vec::with_capacity(n);
    let mut cpu_start = 0;
    for i in 0..warmup + n {
        let id = i as u64 + 1;
        let body = t.call_request(id);
        if i == warmup {
            cpu_start = server.cpu_ns()?;
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
        if i >= warmup {
            samples.push(took);
        }
    }
    let cpu = server.cpu_ns()?.saturating_sub(cpu_start);
    Ok(Measured {
        samples,
        server_cpu: Some(Duration::from_nanos(cpu)),
    })
}

/// Mode 6: `GET /healthz`.
fn healthz(kind: Kind, server: &Server, n: usize, warmup: usize) -> anyhow::Result<Measured> {
    let mut client = Client::new(kind, server.addr);
    let mut samples = Vec::with_capacity(n);
    let mut cpu_start = 0;
    for i in 0..warmup + n {
        if i == warmup {
            cpu_start = server.cpu_ns()?;
        }
        let start = Instant::now();
        let resp = client.request("GET", "/healthz", &[], b"")?;
        let took = start.elapsed();
        ensure!(resp.status == 200, "GET /healthz: HTTP {}", resp.status);
        if i >= warmup {
            samples.push(took);
        }
    }
    let cpu = server.cpu_ns()?.saturating_sub(cpu_start);
    Ok(Measured {
        samples,
        server_cpu: Some(Duration::from_nanos(cpu)),
    })
}
