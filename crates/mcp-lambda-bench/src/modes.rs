//! The serve modes: a bare stdio child vs `mcp-lambda serve` (lifecycles `reuse` and
//! `per-request`, `--sessions none`) vs npm `supergateway`, and the HTTP client's own floor.
//!
//! Contract: every server and the long-lived bare child are started first, then every mode runs
//! interleaved ([`crate::sched`]). A sample is one request timed from the client's side; every
//! answer is checked to be a successful tool result. What each mode sends is [`HTTP_MODES`] and
//! [`Call`]; the table of docs/PERFORMANCE.md ("Modes") says the same in prose. For HTTP modes
//! the server process's CPU time (all threads, not its MCP child) is summed over the timed
//! samples; each server's RSS is read after the last block. Every process started here is
//! stopped, also when a mode fails (the test kit's process guard).

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use mcp_lambda_testkit::{
    Client, ClientKind, Log, McpSession, Ready, Server, free_addr, json_rpc_from_body, mcp_headers,
    rss_of, wait_childless,
};
use serde_json::json;

use crate::Options;
use crate::report::{Machine, Results};
use crate::sched::{Driver, Job, interleave};
use crate::target::{Target, check_call, spawn_child};

/// Untimed requests before the timed ones in spawn-based modes.
pub(crate) const SPAWN_WARMUP: usize = 3;
/// How long a server may take to start.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// How an HTTP mode asks its server.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Call {
    /// `GET /healthz` with this client: the client + loopback HTTP floor.
    Healthz(ClientKind),
    /// `tools/call` in an initialize-era session (`initialize` + `notifications/initialized`
    /// once, like a real client).
    Session,
    /// As `Session`, but only once the server process has no children left (untimed wait): the
    /// conditions of `spawn-floor`. Back-to-back `per-request` lets the previous child's exit
    /// overlap the next request, as under real load.
    Idle,
    /// As `Session`, accepting only `application/json` (the answer can never stream):
    /// `reuse / reuse-json` is the cost of a stream-capable answer.
    JsonOnly,
    /// `tools/call` as a 2026-07-28 client sends it (no initialize, `_meta` envelope,
    /// `Mcp-Method` / `Mcp-Name` headers): the era-translation path.
    Modern,
}

/// The servers, in start order: (`--lifecycle`, or `supergateway`; what its RSS is reported as).
const SERVERS: [(&str, &str); 3] = [
    ("reuse", "mcp-lambda after reuse"),
    ("per-request", "mcp-lambda after per-request"),
    ("supergateway", "supergateway (node)"),
];

/// The HTTP modes, in the order they are measured: (row, server, how it asks).
const HTTP_MODES: [(&str, &str, Call); 8] = [
    ("healthz-raw", "reuse", Call::Healthz(ClientKind::Raw)),
    ("healthz-ureq", "reuse", Call::Healthz(ClientKind::Ureq)),
    ("reuse", "reuse", Call::Session),
    ("reuse-modern", "reuse", Call::Modern),
    ("reuse-json", "reuse", Call::JsonOnly),
    ("per-request", "per-request", Call::Session),
    ("per-request-idle", "per-request", Call::Idle),
    ("supergateway", "supergateway", Call::Session),
];

/// An HTTP mode's client of its server.
pub(crate) struct Http {
    mcp: McpSession,
    /// The server process, charged with the CPU time.
    pub(crate) pid: u32,
    call: Call,
}

impl Http {
    /// One request, timed from the first byte written to the last byte read.
    pub(crate) fn once(&mut self, t: &Target, id: u64) -> anyhow::Result<Duration> {
        let Http { mcp, pid, call } = self;
        if *call == Call::Idle {
            wait_childless(*pid)?;
        }
        let (method, path, body, mut headers) = match call {
            Call::Healthz(_) => ("GET", "/healthz", Vec::new(), Vec::new()),
            Call::Modern => (
                "POST",
                &*mcp.path,
                t.modern_call_request(id),
                modern_headers(&t.tool),
            ),
            _ => {
                let headers = mcp_headers(&mcp.version, mcp.session.as_deref());
                ("POST", &*mcp.path, t.call_request(id), headers)
            }
        };
        if *call == Call::JsonOnly {
            headers[1].1 = "application/json";
        }
        let start = Instant::now();
        let resp = mcp.http.request(method, path, &headers, &body)?;
        let took = start.elapsed();
        let status = resp.status;
        ensure!(
            status == 200,
            "{path} #{id}: HTTP {status}: {}",
            resp.text()
        );
        if method == "POST" {
            let msg = json_rpc_from_body(&resp, &json!(id)).map_err(anyhow::Error::msg);
            check_call(&msg?).with_context(|| format!("tools/call #{id}"))?;
        }
        Ok(took)
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
        let rows = jobs.iter().map(Job::row).collect::<anyhow::Result<_>>()?;
        for j in jobs {
            if let Driver::Bare(child) = j.work {
                child.close()?;
            }
        }
        Ok((rows, rss))
    });
    let (rows, rss) = result.map_err(|e| {
        let tail = |(what, s): &(&str, Server)| format!("--- {what} (last lines):\n{}", s.log());
        e.context(servers.iter().map(tail).collect::<Vec<_>>().join("\n"))
    })?;
    let machine = machine.done();
    Ok(Results { machine, rows, rss })
}

/// Starts what the modes need (servers into `servers`), in the order they are measured.
/// A bare child left behind on error gets EOF on stdin when dropped and exits.
fn start_modes(o: &Options, servers: &mut Vec<(&'static str, Server)>) -> anyhow::Result<Vec<Job>> {
    let (iterations, warmup, spawns) = (o.iterations, o.warmup, o.spawn_iterations);
    let mut jobs = Vec::new();
    if o.wants("bare") {
        let bare = Driver::Bare(spawn_child(&o.target)?);
        jobs.push(Job::new("bare-initialized", bare, iterations, warmup));
    }
    if o.wants("spawn") {
        jobs.push(Job::new("spawn-floor", Driver::Spawn, spawns, SPAWN_WARMUP));
    }
    for (server, what) in SERVERS {
        let asked = |(row, s, _): &&(&str, &str, Call)| {
            *s == server && o.wants(row.strip_prefix("healthz-").map_or(row, |_| "healthz"))
        };
        let modes: Vec<_> = HTTP_MODES.iter().filter(asked).collect();
        if modes.is_empty() {
            continue;
        }
        let s = if server == "supergateway" {
            eprintln!("bench: starting supergateway (stateful streamableHttp)");
            start_supergateway(o)?
        } else {
            eprintln!("bench: starting mcp-lambda --lifecycle {server}");
            start_mcp_lambda(o, server)?
        };
        servers.push((what, s));
        let s = &servers[servers.len() - 1].1;
        for &(row, _, call) in modes {
            let (total, warm) = match server {
                "per-request" => (spawns, SPAWN_WARMUP),
                _ => (iterations, warmup),
            };
            jobs.push(Job::new(row, http_driver(o, s, call)?, total, warm));
        }
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
    cmd.args(["serve", "--lifecycle", lifecycle, "--sessions", "none"])
        .args(["--listen", &listen, "--log-level", level])
        .arg("--")
        .arg(&o.target.program)
        .args(&o.target.args);
    launch("mcp-lambda", cmd, ready)
}

/// `supergateway --stdio CMD --outputTransport streamableHttp --stateful --port P`.
fn start_supergateway(o: &Options) -> anyhow::Result<Server> {
    let bin = o.supergateway.as_deref().context("--supergateway PATH")?;
    let addr = free_addr()?;
    let mut cmd = Command::new(bin);
    cmd.args(["--stdio", &o.target.shell_command()])
        .args(["--outputTransport", "streamableHttp", "--stateful"])
        .args(["--port", &addr.port().to_string()])
        .args(["--logLevel", &o.peer_log_level]);
    launch("supergateway", cmd, Ready::Accepts(addr))
}

/// Starts server `name` (endpoint `/mcp`), keeping the last 40 lines of its output for errors.
fn launch(name: &str, cmd: Command, ready: Ready) -> anyhow::Result<Server> {
    let log = Log::last(40);
    Ok(Server::launch(
        name,
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

/// A client of `server` asking as `call`. A session client has done `initialize` +
/// `notifications/initialized` (keeping the session id, if any) like a real client; a modern
/// one never initializes and `/healthz` needs no session.
fn http_driver(o: &Options, server: &Server, call: Call) -> anyhow::Result<Driver> {
    let kind = if let Call::Healthz(kind) = call {
        kind
    } else {
        o.client
    };
    let client = Client::new(kind, server.addr());
    let mut mcp = McpSession::new(client, server.path(), crate::PROTOCOL_VERSION);
    if !matches!(call, Call::Healthz(_) | Call::Modern) {
        mcp.open("mcp-lambda-bench")?;
    }
    Ok(Driver::Http(Box::new(Http {
        mcp,
        pid: server.pid(),
        call,
    })))
}
