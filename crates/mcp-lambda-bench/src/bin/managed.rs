//! `managed`: invocations per second on one Lambda execution environment, sequential (today's
//! runtime: `AWS_LAMBDA_MAX_CONCURRENCY` unset, one invocation at a time) against a Managed
//! Instance (`AWS_LAMBDA_MAX_CONCURRENCY` = the load's concurrency), under the stand-in Runtime
//! API with Function URL events, in one run. Run it with `scripts/bench-managed`; the figures go
//! in docs/PERFORMANCE.md ("Managed Instances").
//!
//! Contract: for each workload and each concurrency C, C client threads each keep one
//! invocation queued at the Runtime API at all times (a closed loop) for `--seconds`, after one
//! untimed round; the sequential and the concurrent runtime take turns (`--rounds` times, the
//! order alternating) so load drifts hit both alike. Every answer is checked (a 200 envelope
//! with the invocation's own echoed text, or the tool's own result) and the run fails on the
//! first wrong, crossed or missing one. All invocations use JSON-RPC id 7. Prints per cell the
//! invocations per second and the p50 / p99 of hand-out → answer, and the ratio concurrent /
//! sequential; `--json FILE` writes them.
//!
//! Workloads: `slow` (the example server's `slow` tool for `--slow-ms`, a tool waiting on I/O as
//! most do), `echo` (the example server's `echo`: the wrapper's own cost per invocation) and,
//! with `--time-server`, `time` (PyPI `mcp-server-time`'s `get_current_time`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use mcp_lambda_bench::stats::{Summary, loadavg, round3};
use mcp_lambda_testkit::{Invocation, LambdaRuntime, MiniRuntimeApi, function_url_event};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Invocations per second: sequential runtime vs a Managed Instance")]
struct Args {
    /// The mcp-lambda binary
    #[arg(long, value_name = "PATH")]
    mcp_lambda: String,
    /// The mcp-lambda binary for the sequential runs [default: --mcp-lambda]
    #[arg(long, value_name = "PATH")]
    baseline: Option<String>,
    /// The bundled example server
    #[arg(long, value_name = "PATH")]
    example_server: String,
    /// `mcp-server-time`, for the `time` workload
    #[arg(long, value_name = "PATH")]
    time_server: Option<String>,
    /// Concurrencies to measure
    #[arg(long, value_delimiter = ',', default_value = "1,8,64")]
    concurrency: Vec<usize>,
    /// Workloads: slow, echo, time
    #[arg(long, value_delimiter = ',', default_value = "slow,echo,time")]
    workloads: Vec<String>,
    /// The `slow` tool's wait
    #[arg(long, default_value_t = 30)]
    slow_ms: u64,
    /// Timed seconds per cell and round
    #[arg(long, default_value_t = 4.0)]
    seconds: f64,
    /// Rounds (sequential and concurrent take turns)
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// Also write the results as JSON
    #[arg(long, value_name = "FILE")]
    json: Option<String>,
}

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    Slow,
    Echo,
    Time,
}

impl Workload {
    fn parse(s: &str) -> anyhow::Result<Self> {
        Ok(match s {
            "slow" => Workload::Slow,
            "echo" => Workload::Echo,
            "time" => Workload::Time,
            other => bail!("unknown workload {other:?} (slow, echo, time)"),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Workload::Slow => "slow",
            Workload::Echo => "echo",
            Workload::Time => "time",
        }
    }
}

/// What one cell measured.
struct Cell {
    answered: usize,
    seconds: f64,
    latency: Vec<Duration>,
}

impl Cell {
    fn per_second(&self) -> f64 {
        self.answered as f64 / self.seconds
    }
}

/// The invocation for request `n` of client `client`, and the text its answer must carry.
fn invocation(w: Workload, slow_ms: u64, client: usize, n: usize) -> (Invocation, Option<String>) {
    let (name, arguments, expect) = match w {
        Workload::Slow => (
            "slow",
            json!({"ms": slow_ms}),
            Some(format!("slept {slow_ms} ms")),
        ),
        Workload::Echo => {
            let m = format!("c{client} n{n}");
            ("echo", json!({"message": m}), Some(m))
        }
        Workload::Time => ("get_current_time", json!({"timezone": "UTC"}), None),
    };
    let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
        "params": {"name": name, "arguments": arguments}})
    .to_string();
    let event = function_url_event(&body, "2025-11-25", &format!("c{client}-{n}"));
    let payload = serde_json::from_slice(&event).unwrap_or(Value::Null);
    let inv = Invocation {
        payload,
        client_context: None,
        deadline_in: Duration::from_secs(60),
    };
    (inv, expect)
}

/// Checks one Function URL answer.
fn check(answer: &Value, expect: Option<&str>) -> anyhow::Result<()> {
    ensure!(answer["statusCode"] == 200, "not a 200: {answer}");
    let body: Value = serde_json::from_str(answer["body"].as_str().unwrap_or_default())
        .with_context(|| format!("body is not JSON: {answer}"))?;
    ensure!(body["id"] == 7, "wrong id: {body}");
    let text = body["result"]["content"][0]["text"]
        .as_str()
        .with_context(|| format!("no text result: {body}"))?;
    if let Some(expect) = expect {
        ensure!(
            text == expect,
            "crossed answer: wanted {expect:?}, got {text:?}"
        );
    }
    ensure!(body["result"]["isError"] != true, "tool error: {body}");
    Ok(())
}

/// Runs `concurrency` closed-loop clients against a fresh runtime for `seconds`.
fn cell(
    args: &Args,
    binary: &str,
    command: &str,
    w: Workload,
    concurrency: usize,
    concurrent: bool,
) -> anyhow::Result<Cell> {
    let api = Arc::new(MiniRuntimeApi::start());
    let max = concurrency.to_string();
    let mut env = vec![
        ("MCP_LAMBDA_COMMAND", command),
        ("MCP_LAMBDA_LOG_LEVEL", "info"),
        ("MCP_LAMBDA_REQUEST_TIMEOUT", "30s"),
    ];
    if concurrent {
        env.push(("AWS_LAMBDA_MAX_CONCURRENCY", &max));
    }
    let runtime = LambdaRuntime::start_program(std::path::Path::new(binary), &[], &api.addr, &env);
    let run = |seconds: f64, round: usize| -> anyhow::Result<Cell> {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let clients: Vec<_> = (0..concurrency)
            .map(|client| {
                let (api, stop) = (api.clone(), stop.clone());
                let slow_ms = args.slow_ms;
                std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let mut latency = Vec::new();
                    let mut n = round * 1_000_000;
                    while !stop.load(Ordering::Relaxed) {
                        let (inv, expect) = invocation(w, slow_ms, client, n);
                        let t = Instant::now();
                        let answer = api
                            .invoke(inv, Duration::from_secs(60))
                            .map_err(|e| anyhow::anyhow!("invocation error: {e}"))?;
                        latency.push(t.elapsed());
                        check(&answer, expect.as_deref())?;
                        n += 1;
                    }
                    Ok(latency)
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs_f64(seconds));
        stop.store(true, Ordering::Relaxed);
        let mut latency = Vec::new();
        for c in clients {
            let l = c
                .join()
                .map_err(|_| anyhow::anyhow!("client thread panicked"))??;
            latency.extend(l);
        }
        Ok(Cell {
            answered: latency.len(),
            seconds: started.elapsed().as_secs_f64(),
            latency,
        })
    };
    // One untimed round: children started, caches warm.
    run(0.5, 0).with_context(|| runtime.log())?;
    run(args.seconds, 1).with_context(|| runtime.log())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let baseline = args
        .baseline
        .clone()
        .unwrap_or_else(|| args.mcp_lambda.clone());
    let mut results = Vec::new();
    println!(
        "# managed: {} s per cell, {} round(s), load {:?}",
        args.seconds,
        args.rounds,
        loadavg()
    );
    println!("workload  C   sequential/s  p50 ms  p99 ms   concurrent/s  p50 ms  p99 ms   ratio");
    for w in &args.workloads {
        let w = Workload::parse(w)?;
        let command = match w {
            Workload::Slow | Workload::Echo => args.example_server.clone(),
            Workload::Time => match &args.time_server {
                Some(t) => format!("{t} --local-timezone UTC"),
                None => {
                    eprintln!("managed: no --time-server, skipping the time workload");
                    continue;
                }
            },
        };
        for &c in &args.concurrency {
            let (mut seq, mut con) = (Vec::new(), Vec::new());
            for round in 0..args.rounds {
                // Alternate which goes first.
                let order = if round % 2 == 0 {
                    [false, true]
                } else {
                    [true, false]
                };
                for concurrent in order {
                    let binary = if concurrent {
                        &args.mcp_lambda
                    } else {
                        &baseline
                    };
                    let r = cell(&args, binary, &command, w, c, concurrent)?;
                    if concurrent { con.push(r) } else { seq.push(r) }
                }
            }
            let merge = |cells: Vec<Cell>| -> anyhow::Result<(f64, Summary)> {
                let per_second =
                    cells.iter().map(Cell::per_second).sum::<f64>() / cells.len().max(1) as f64;
                let latency: Vec<Duration> = cells.into_iter().flat_map(|c| c.latency).collect();
                Ok((per_second, Summary::of(&latency)?))
            };
            let (s, sl) = merge(seq)?;
            let (k, kl) = merge(con)?;
            let ms = |us: f64| us / 1e3;
            println!(
                "{:<8} {:>3}   {:>12.1}  {:>6.2}  {:>6.2}   {:>12.1}  {:>6.2}  {:>6.2}   {:>5.2}x",
                w.name(),
                c,
                s,
                ms(sl.p50),
                ms(sl.p99),
                k,
                ms(kl.p50),
                ms(kl.p99),
                k / s
            );
            results.push(json!({
                "workload": w.name(), "concurrency": c,
                "sequential": {"per_second": round3(s), "p50_ms": round3(ms(sl.p50)), "p99_ms": round3(ms(sl.p99))},
                "concurrent": {"per_second": round3(k), "p50_ms": round3(ms(kl.p50)), "p99_ms": round3(ms(kl.p99))},
                "ratio": round3(k / s),
            }));
        }
    }
    if let Some(path) = &args.json {
        std::fs::write(
            path,
            serde_json::to_string_pretty(&json!({"results": results}))?,
        )?;
    }
    Ok(())
}
