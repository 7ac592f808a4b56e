//! `soak`: a fault soak of `mcp-lambda serve`. Many clients for minutes while the wrapped server
//! is killed at random: every request must get exactly one answer (a result or a JSON-RPC
//! error), no answer may reach the wrong client, and the wrapper's memory must stay flat. Run it
//! with `scripts/soak`; the figures go in docs/PERFORMANCE.md ("Fault soak").
//!
//! Contract:
//! - One `mcp-lambda serve` per lifecycle (`--lifecycles`, default `reuse,per-session`) around
//!   the bundled example server, memory sessions, `--request-timeout 10s`, `--max-children`
//!   clients + 8 (so `per-session` keeps a child per client).
//! - `--clients` threads, each with its own session and keep-alive connection, send requests
//!   back to back for `--seconds`: three in four `tools/call echo` with a message naming the
//!   client and the request, one in four `tools/call slow` (50 ms) with a `progressToken` of the
//!   client's own, answered as SSE with progress.
//! - Every answer is checked: exactly one JSON-RPC response, with the request's id; an echo
//!   result carries the request's own message; every progress notification carries the
//!   client's own token. A mismatch is *misrouted*; a request with no HTTP answer (the
//!   connection failed or timed out) is *lost*; an HTTP status other than 200 is counted by
//!   status (503 with `Retry-After` is an answer).
//! - A killer thread sends SIGKILL to a random child of the server every 1–5 s (uniform;
//!   `--kill-min-ms` / `--kill-max-ms`; `--no-kills` for the same load without faults).
//! - The server's RSS is sampled every second; reported: after the first 10 s, the peak, the end.
//! - Exit status 1 when any request was misrouted or lost, or the server died.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, ensure};
use clap::Parser;
use mcp_lambda_testkit::{
    Client, ClientKind, Log, McpSession, Ready, Response, Server, child_pids, free_addr, rss_of,
    signal,
};
use serde_json::{Value, json};

const VERSION: &str = "2025-11-25";
const PATH: &str = "/mcp";

/// A fault soak: many clients while the MCP server is killed at random. Run it with scripts/soak.
#[derive(Debug, Parser)]
#[command(name = "soak", version)]
struct Args {
    /// The mcp-lambda binary
    #[arg(long, value_name = "PATH")]
    mcp_lambda: PathBuf,
    /// The bundled example server
    #[arg(long, value_name = "PATH")]
    example_server: PathBuf,
    /// Concurrent clients
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// How long each lifecycle is soaked, in seconds
    #[arg(long, default_value_t = 180)]
    seconds: u64,
    /// The lifecycles to soak, comma-separated
    #[arg(long, default_value = "reuse,per-session", value_delimiter = ',')]
    lifecycles: Vec<String>,
    /// Shortest wait between kills, in milliseconds
    #[arg(long, default_value_t = 1000)]
    kill_min_ms: u64,
    /// Longest wait between kills, in milliseconds
    #[arg(long, default_value_t = 5000)]
    kill_max_ms: u64,
    /// Kill nothing (the same load as a baseline)
    #[arg(long)]
    no_kills: bool,
    /// Run each lifecycle first without faults (the same load), and report the ratios
    #[arg(long)]
    baseline: bool,
    /// Write the figures as JSON here too
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// What every client saw, summed.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    results: AtomicU64,
    misrouted: AtomicU64,
    lost: AtomicU64,
    progress: AtomicU64,
    /// JSON-RPC error codes and non-200 statuses (`http 503`), with counts.
    errors: Mutex<BTreeMap<String, u64>>,
    /// Examples of what went wrong (at most 5).
    examples: Mutex<Vec<String>>,
}

impl Tally {
    fn error(&self, what: String) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(what).or_default() += 1;
        }
    }

    fn bad(&self, counter: &AtomicU64, example: String) {
        counter.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut e) = self.examples.lock()
            && e.len() < 5
        {
            e.push(example);
        }
    }
}

/// A small xorshift generator (the choices need no quality, only variety).
struct Rng(u64);

impl Rng {
    fn seeded(salt: u64) -> Rng {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        Rng((now ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The JSON-RPC messages of an answer: one JSON body, or the `data:` lines of an SSE body.
fn messages(r: &Response) -> Vec<Value> {
    let text = String::from_utf8_lossy(&r.body);
    if r.header("content-type")
        .is_some_and(|c| c.starts_with("text/event-stream"))
    {
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap_or(Value::Null))
            .collect()
    } else {
        vec![serde_json::from_str(&text).unwrap_or(Value::Null)]
    }
}

/// Checks one answer to request `id` of client `me` (see the module docs).
fn check(tally: &Tally, me: usize, id: u64, echo: Option<&str>, token: &str, r: &Response) {
    if r.status != 200 {
        tally.error(format!("http {}", r.status));
        return;
    }
    let msgs = messages(r);
    let responses: Vec<&Value> = msgs
        .iter()
        .filter(|m| m.get("result").is_some() || m.get("error").is_some())
        .collect();
    for m in msgs
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
    {
        tally.progress.fetch_add(1, Ordering::Relaxed);
        if m["params"]["progressToken"] != token {
            tally.bad(
                &tally.misrouted,
                format!("client {me}: progress of another request: {m}"),
            );
            return;
        }
    }
    let [answer] = responses.as_slice() else {
        tally.bad(
            &tally.misrouted,
            format!("client {me} request {id}: {} responses", responses.len()),
        );
        return;
    };
    if answer["id"] != id {
        tally.bad(
            &tally.misrouted,
            format!("client {me} request {id}: answer {answer}"),
        );
        return;
    }
    if let Some(code) = answer["error"]["code"].as_i64() {
        tally.error(format!("json-rpc {code}"));
        return;
    }
    if let Some(message) = echo
        && answer["result"]["content"][0]["text"] != message
    {
        tally.bad(
            &tally.misrouted,
            format!("client {me} request {id}: {answer}"),
        );
        return;
    }
    tally.results.fetch_add(1, Ordering::Relaxed);
}

/// One client: a session, then requests back to back until `stop`.
fn client(me: usize, addr: SocketAddr, stop: &AtomicBool, tally: &Tally) {
    let mut s = McpSession::new(Client::new(ClientKind::Raw, addr), PATH, VERSION);
    while s.open(&format!("soak-{me}")).is_err() {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut rng = Rng::seeded(me as u64);
    let mut id = 0u64;
    while !stop.load(Ordering::Relaxed) {
        id += 1;
        let token = format!("c{me}-r{id}");
        let (body, echo) = if rng.below(4) == 0 {
            let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
                "name": "slow", "arguments": {"ms": 50}, "_meta": {"progressToken": token}}});
            (body, None)
        } else {
            let message = format!("client {me} request {id}");
            let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {
                "name": "echo", "arguments": {"message": message}}});
            (body, Some(message))
        };
        tally.requests.fetch_add(1, Ordering::Relaxed);
        match s.post(body.to_string().as_bytes()) {
            Ok(r) => check(tally, me, id, echo.as_deref(), &token, &r),
            Err(e) => tally.bad(&tally.lost, format!("client {me} request {id}: {e}")),
        }
    }
}

/// What one lifecycle's soak measured.
struct Soaked {
    lifecycle: String,
    faults: bool,
    seconds: f64,
    kills: u64,
    rss_mib: (f64, f64, f64),
    tally: Tally,
    server_alive: bool,
}

fn soak(args: &Args, lifecycle: &str, no_kills: bool) -> anyhow::Result<Soaked> {
    let addr = free_addr()?;
    let mut cmd = Command::new(&args.mcp_lambda);
    let max_children = (args.clients + 8).to_string();
    cmd.args([
        "serve",
        "--listen",
        &addr.to_string(),
        "--lifecycle",
        lifecycle,
        "--sessions",
        "memory",
        "--request-timeout",
        "10s",
        "--max-children",
        &max_children,
        "--log-level",
        "error",
        "--",
    ])
    .arg(&args.example_server);
    let server = Server::launch(
        "mcp-lambda",
        cmd,
        Ready::Accepts(addr),
        PATH,
        Duration::from_secs(30),
        Log::last(20),
    )?;
    let pid = server.pid();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let started = Instant::now();
    let clients: Vec<_> = (0..args.clients)
        .map(|me| {
            let (stop, tally) = (stop.clone(), tally.clone());
            std::thread::spawn(move || client(me, addr, &stop, &tally))
        })
        .collect();
    let kills = Arc::new(AtomicU64::new(0));
    let killer = {
        let (stop, kills) = (stop.clone(), kills.clone());
        let (min, spread) = (
            args.kill_min_ms,
            args.kill_max_ms.saturating_sub(args.kill_min_ms) + 1,
        );
        std::thread::spawn(move || {
            let mut rng = Rng::seeded(u64::from(pid));
            while !stop.load(Ordering::Relaxed) {
                let wait = Duration::from_millis(min + rng.below(spread));
                let until = Instant::now() + wait;
                while Instant::now() < until && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(10).min(wait));
                }
                let children = child_pids(pid).unwrap_or_default();
                if no_kills || children.is_empty() || stop.load(Ordering::Relaxed) {
                    continue;
                }
                let victim = children[rng.below(children.len() as u64) as usize];
                if signal(victim, "KILL") {
                    kills.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let (mut settled, mut peak, mut last) = (0.0, 0.0f64, 0.0);
    let end = started + Duration::from_secs(args.seconds);
    let mut progress_at = started;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_secs(1));
        let Ok(rss) = rss_of(pid) else { break };
        last = mib(rss.current);
        peak = peak.max(last);
        if settled == 0.0 && started.elapsed() >= Duration::from_secs(10) {
            settled = last;
        }
        if progress_at.elapsed() >= Duration::from_secs(30) {
            progress_at = Instant::now();
            eprintln!(
                "soak {lifecycle}: {:>4.0} s, {} requests, {} kills, RSS {last:.1} MiB",
                started.elapsed().as_secs_f64(),
                tally.requests.load(Ordering::Relaxed),
                kills.load(Ordering::Relaxed)
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        let _ = c.join();
    }
    let _ = killer.join();
    let seconds = started.elapsed().as_secs_f64();
    let server_alive = rss_of(pid).is_ok();
    drop(server);
    let tally = Arc::try_unwrap(tally).unwrap_or_default();
    Ok(Soaked {
        lifecycle: lifecycle.to_owned(),
        faults: !no_kills,
        seconds,
        kills: kills.load(Ordering::Relaxed),
        rss_mib: (settled, peak, last),
        tally,
        server_alive,
    })
}

fn report(s: &Soaked) -> Value {
    let t = &s.tally;
    let requests = t.requests.load(Ordering::Relaxed);
    let errors = t.errors.lock().map(|e| e.clone()).unwrap_or_default();
    let examples = t.examples.lock().map(|e| e.clone()).unwrap_or_default();
    println!(
        "{:<12} {:<10} {:>4.0} s  {:>9} requests ({:>7.0}/s)  {:>9} results  {:>6} errors {:?}  {} misrouted  {} lost  {:>5} progress  {:>4} kills  RSS {:.1} → peak {:.1} → end {:.1} MiB{}",
        s.lifecycle,
        if s.faults { "faults" } else { "no faults" },
        s.seconds,
        requests,
        requests as f64 / s.seconds,
        t.results.load(Ordering::Relaxed),
        errors.values().sum::<u64>(),
        errors,
        t.misrouted.load(Ordering::Relaxed),
        t.lost.load(Ordering::Relaxed),
        t.progress.load(Ordering::Relaxed),
        s.kills,
        s.rss_mib.0,
        s.rss_mib.1,
        s.rss_mib.2,
        if s.server_alive { "" } else { "  SERVER DIED" },
    );
    for e in &examples {
        println!("    {e}");
    }
    json!({
        "lifecycle": s.lifecycle, "faults": s.faults, "seconds": s.seconds, "requests": requests,
        "results": t.results.load(Ordering::Relaxed), "errors": errors,
        "misrouted": t.misrouted.load(Ordering::Relaxed), "lost": t.lost.load(Ordering::Relaxed),
        "progress_notifications": t.progress.load(Ordering::Relaxed), "kills": s.kills,
        "rss_mib": {"after_10s": s.rss_mib.0, "peak": s.rss_mib.1, "end": s.rss_mib.2},
        "server_alive": s.server_alive, "examples": examples,
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(
        args.clients > 0 && args.seconds > 0,
        "--clients and --seconds must be > 0"
    );
    println!(
        "soak: {} clients, {} s per lifecycle, {}",
        args.clients,
        args.seconds,
        if args.no_kills {
            "nothing killed".to_owned()
        } else {
            format!(
                "an MCP server process killed every {}-{} ms",
                args.kill_min_ms, args.kill_max_ms
            )
        }
    );
    let mut all = Vec::new();
    let mut failed = false;
    for lifecycle in &args.lifecycles {
        let mut runs = Vec::new();
        if args.baseline && !args.no_kills {
            runs.push(
                soak(&args, lifecycle, true).with_context(|| format!("soaking {lifecycle}"))?,
            );
        }
        runs.push(
            soak(&args, lifecycle, args.no_kills)
                .with_context(|| format!("soaking {lifecycle}"))?,
        );
        for s in &runs {
            failed |= s.tally.misrouted.load(Ordering::Relaxed) > 0
                || s.tally.lost.load(Ordering::Relaxed) > 0
                || !s.server_alive;
            all.push(report(s));
        }
        if let [calm, faulty] = runs.as_slice() {
            let rate = |s: &Soaked| s.tally.requests.load(Ordering::Relaxed) as f64 / s.seconds;
            println!(
                "{:<12} with faults / without: throughput {:.3}x, RSS at the end {:.3}x, peak RSS {:.3}x",
                lifecycle,
                rate(faulty) / rate(calm),
                faulty.rss_mib.2 / calm.rss_mib.2,
                faulty.rss_mib.1 / calm.rss_mib.1,
            );
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_string_pretty(&all)?)?;
    }
    ensure!(
        !failed,
        "requests were misrouted or lost, or the server died"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn answer(content_type: &str, body: &str) -> Response {
        Response {
            status: 200,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    fn counts(t: &Tally) -> (u64, u64) {
        (
            t.results.load(Ordering::Relaxed),
            t.misrouted.load(Ordering::Relaxed),
        )
    }

    /// The checker can fail: each way an answer can belong to someone else is caught.
    #[test]
    fn misrouted_answers_are_caught() {
        let ok = r#"{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"m7"}]}}"#;
        let t = Tally::default();
        check(
            &t,
            1,
            7,
            Some("m7"),
            "c1-r7",
            &answer("application/json", ok),
        );
        assert_eq!(counts(&t), (1, 0));
        let cases = [
            // Another request's id.
            ("application/json", ok.replace(":7,", ":8,"), Some("m7")),
            // Another request's echo.
            ("application/json", ok.to_owned(), Some("m8")),
            // Two answers on one stream.
            (
                "text/event-stream",
                format!("data: {ok}\n\ndata: {ok}\n\n"),
                None,
            ),
            // Someone else's progress before the answer.
            (
                "text/event-stream",
                format!(
                    "data: {}\n\ndata: {ok}\n\n",
                    r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"c2-r7","progress":1}}"#
                ),
                None,
            ),
        ];
        for (ct, body, echo) in cases {
            let t = Tally::default();
            check(&t, 1, 7, echo, "c1-r7", &answer(ct, &body));
            assert_eq!(counts(&t), (0, 1), "{body}");
        }
        // An error answer and a 503 are answers, not misroutes.
        let t = Tally::default();
        let err = r#"{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"exited"}}"#;
        check(
            &t,
            1,
            7,
            Some("m7"),
            "c1-r7",
            &answer("application/json", err),
        );
        let mut busy = answer("application/json", err);
        busy.status = 503;
        check(&t, 1, 7, Some("m7"), "c1-r7", &busy);
        assert_eq!(counts(&t), (0, 0));
        let errors = t.errors.lock().unwrap().clone();
        assert_eq!(errors.get("json-rpc -32603"), Some(&1));
        assert_eq!(errors.get("http 503"), Some(&1));
    }
}
