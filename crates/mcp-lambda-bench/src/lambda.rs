//! The Lambda benchmark (`--lambda`): `mcp-lambda` as a Lambda custom runtime against the test
//! kit's stand-in Runtime API ([`Function`]), with the bare child's floors measured in the
//! same run.
//!
//! Contract: every sample is one of these, and every mode runs interleaved in `--blocks` rounds
//! like the serve benchmark, so load drifts hit every mode alike:
//! - `exec-floor`: `mcp-lambda --version`, from spawn to exit (process start of this binary).
//! - `spawn-init-floor`: the bare child spawned, sent `initialize` and
//!   `notifications/initialized`, timed from spawn to the initialize response.
//! - `spawn-floor`, `bare-initialized`: as in the serve benchmark ([`crate::modes`]).
//! - `cold-start off|on`: a fresh `mcp-lambda` (lifecycle `reuse`, `MCP_LAMBDA_PREWARM` false or
//!   true) and a fresh stand-in per run, timed from spawn to the runtime's first
//!   `GET /runtime/invocation/next`; `to-register off|on` is spawn to the extension's
//!   registration in the same runs. Runs alternate the version of the first event (below).
//! - `first-call off|on VERSION`: in the same runs, the first invocation: a Function URL
//!   (payload 2.0) event carrying a `tools/call` with `mcp-protocol-version: VERSION`, timed
//!   from handing the event out on `/next` to the `/response` POST read whole. VERSION is the
//!   version `mcp-lambda` prewarms for, or the fixture's (`tests/data/function-url-iam.json`).
//! - `warm reuse`, `warm per-request`: one long-lived runtime per lifecycle (prewarm on), the
//!   same event shape (fixture version), many invocations, timed the same way.
//!
//! Every answer is checked to be a 200 Function URL response whose body is a successful tool
//! result for the request's id. The wrapper's CPU (all threads of the `mcp-lambda` process, not
//! its child) is reported per warm invocation, per cold start (spawn to first poll) and per first
//! invocation. RSS is read from the warm runtimes after the last block, and from each cold
//! runtime after its first invocation (median). Every process started here is stopped
//! (SIGTERM, then SIGKILL after 5 s), also when a mode fails.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use mcp_lambda_bench::stats::{Summary, loadavg};
use mcp_lambda_testkit::{Function, Rss, clip, cpu_ns_of, function_url_event, rss_of};
use serde_json::{Value, json};

use crate::Options;
use crate::modes::{Driver, SPAWN_WARMUP};
use crate::report::{self, Figure, MB, Machine, Op, Row, Spec, Stat, figures_of, rss_figure};
use crate::sched::{Job, Work, interleave};
use crate::target::{Target, check_call, spawn_child};

/// The protocol version `mcp-lambda` prewarms its reuse child for (its latest).
const PREWARMED_VERSION: &str = "2025-11-25";
/// The version the Function URL fixture (and every other client of the bench) sends.
const FIXTURE_VERSION: &str = crate::PROTOCOL_VERSION;
/// First-event versions, alternated over the cold runs.
const VERSIONS: [&str; 2] = [PREWARMED_VERSION, FIXTURE_VERSION];
/// Row names of the first invocations, by [prewarm][version index].
const FIRST_CALL: [[&str; 2]; 2] = [
    ["first-call off 2025-11-25", "first-call off 2025-06-18"],
    ["first-call on 2025-11-25", "first-call on 2025-06-18"],
];
const COLD_START: [&str; 2] = ["cold-start off", "cold-start on"];
const TO_REGISTER: [&str; 2] = ["to-register off", "to-register on"];
const RSS_FIRST_CALL: [&str; 2] = [
    "after first call, prewarm off (median)",
    "after first call, prewarm on (median)",
];

const START_TIMEOUT: Duration = Duration::from_secs(60);
const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);

/// Everything one `--lambda` run measured.
#[derive(Debug, Default)]
pub(crate) struct LambdaResults {
    machine: Machine,
    rows: Vec<Row>,
    /// (what, resident memory of the `mcp-lambda` process).
    rss: Vec<(&'static str, Rss)>,
    /// (what, path, bytes) of the binaries whose size is reported.
    binaries: Vec<(&'static str, String, Option<u64>)>,
}

/// `mcp-lambda` (no arguments) as a Lambda custom runtime with `lifecycle` and prewarm on or
/// off, against a stand-in Runtime API of its own; none of our `MCP_LAMBDA_*`/`AWS_*`
/// variables leak in.
fn spawn_runtime(o: &Options, lifecycle: &str, prewarm: bool) -> anyhow::Result<Function> {
    let mut cmd = Command::new(&o.mcp_lambda);
    for (k, _) in std::env::vars() {
        if k.starts_with("MCP_LAMBDA_") || k.starts_with("AWS_") {
            cmd.env_remove(k);
        }
    }
    cmd.envs([
        ("MCP_LAMBDA_COMMAND", o.target.shell_command().as_str()),
        ("MCP_LAMBDA_LIFECYCLE", lifecycle),
        ("MCP_LAMBDA_PREWARM", if prewarm { "true" } else { "false" }),
        (
            "MCP_LAMBDA_METRICS",
            if o.lambda_metrics { "true" } else { "false" },
        ),
        ("MCP_LAMBDA_LOG_LEVEL", o.wrapper_log_level.as_str()),
    ]);
    Ok(Function::launch(cmd)?)
}

/// The Function URL event of `tools/call` #`id` with `mcp-protocol-version: version`.
fn event(t: &Target, id: u64, version: &str) -> Vec<u8> {
    let body = String::from_utf8_lossy(&t.call_request(id)).into_owned();
    function_url_event(&body, version, &format!("bench-{id}"))
}

/// Fails unless `answer` is a 200 Function URL response carrying a successful tool result for
/// `id`.
pub(crate) fn check_url_answer(answer: &[u8], id: u64) -> anyhow::Result<()> {
    let text = clip(&String::from_utf8_lossy(answer));
    let v: Value = serde_json::from_slice(answer).with_context(|| format!("not JSON: {text}"))?;
    ensure!(
        v["statusCode"] == 200,
        "Function URL answer is not 200: {text}"
    );
    ensure!(
        v["isBase64Encoded"] != true,
        "unexpected base64 body: {text}"
    );
    let body = v["body"]
        .as_str()
        .with_context(|| format!("no body: {text}"))?;
    let msg: Value =
        serde_json::from_str(body).with_context(|| format!("body not JSON: {text}"))?;
    ensure!(msg["id"] == id, "answer for another id: {}", clip(body));
    check_call(&msg)
}

/// One cold run: a fresh runtime, its first poll, its first invocation.
struct ColdSample {
    to_register: Option<Duration>,
    to_poll: Duration,
    /// Wrapper CPU from spawn to the first poll.
    cpu_to_poll_ns: u64,
    first: Duration,
    /// Wrapper CPU during the first invocation.
    first_cpu_ns: u64,
    rss: Rss,
}

fn cold_run(o: &Options, prewarm: bool, version: &str) -> anyhow::Result<ColdSample> {
    let mut f = spawn_runtime(o, "reuse", prewarm)?;
    let (registered, polled) = f.first_poll(START_TIMEOUT)?;
    let cpu_to_poll_ns = cpu_ns_of(f.pid())?;
    let (first, answer) = f.invoke(event(&o.target, 1, version), INVOKE_TIMEOUT)?;
    let first_cpu_ns = cpu_ns_of(f.pid())?.saturating_sub(cpu_to_poll_ns);
    check_url_answer(&answer, 1)?;
    Ok(ColdSample {
        to_register: registered.map(|r| r.saturating_duration_since(f.started())),
        to_poll: polled.saturating_duration_since(f.started()),
        cpu_to_poll_ns,
        first,
        first_cpu_ns,
        rss: rss_of(f.pid())?,
    })
}

/// The extra figures of a cold mode, by first-event version index.
#[derive(Default)]
struct ColdExtra {
    cpu_to_poll_ns: u64,
    to_register: Vec<Duration>,
    first: [Vec<Duration>; 2],
    first_cpu_ns: [u64; 2],
    rss: Vec<Rss>,
}

/// How a mode takes one sample.
enum Sampler {
    /// `bare-initialized` and `spawn-floor`, as in the serve modes.
    Floor(Driver),
    SpawnInit,
    ExecFloor,
    Cold(bool, Box<ColdExtra>),
    Warm(Box<Function>),
}

impl Work for Sampler {
    fn cpu_pid(&self) -> Option<u32> {
        match self {
            Sampler::Warm(f) => Some(f.pid()),
            _ => None,
        }
    }

    fn once(&mut self, o: &Options, id: u64, timed: bool) -> anyhow::Result<Duration> {
        let t = &o.target;
        match self {
            Sampler::Floor(d) => d.once(o, id, timed),
            Sampler::SpawnInit => {
                let start = Instant::now();
                let child = spawn_child(t)?;
                let took = start.elapsed();
                child.close()?;
                Ok(took)
            }
            Sampler::ExecFloor => {
                let mut cmd = Command::new(&o.mcp_lambda);
                cmd.arg("--version")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                let start = Instant::now();
                let status = cmd.status().context("mcp-lambda --version")?;
                let took = start.elapsed();
                ensure!(status.success(), "mcp-lambda --version: {status}");
                Ok(took)
            }
            Sampler::Cold(prewarm, c) => {
                // Runs alternate the first event's version.
                let v = (id as usize - 1) % VERSIONS.len();
                let s = cold_run(o, *prewarm, VERSIONS[v])?;
                if timed {
                    c.cpu_to_poll_ns += s.cpu_to_poll_ns;
                    c.to_register.extend(s.to_register);
                    c.first[v].push(s.first);
                    c.first_cpu_ns[v] += s.first_cpu_ns;
                    c.rss.push(s.rss);
                }
                Ok(s.to_poll)
            }
            Sampler::Warm(f) => {
                let (took, answer) = f.invoke(event(t, id, FIXTURE_VERSION), INVOKE_TIMEOUT)?;
                check_url_answer(&answer, id).with_context(|| format!("invocation #{id}"))?;
                Ok(took)
            }
        }
    }
}

/// The rows a job yields: its own, and for a cold job the registration and first-call rows.
fn rows(j: &Job<Sampler>) -> anyhow::Result<Vec<Row>> {
    let per = |ns: u64, n: usize| Some(ns as f64 / 1e3 / n.max(1) as f64);
    let mut rows = vec![Row {
        mode: j.name,
        summary: j.summary()?,
        server_cpu_us: j.cpu_us(),
    }];
    if let Sampler::Cold(prewarm, c) = &j.work {
        let p = usize::from(*prewarm);
        rows[0].server_cpu_us = per(c.cpu_to_poll_ns, j.samples.len());
        if !c.to_register.is_empty() {
            let summary = Summary::of(&c.to_register)?;
            rows.push(Row {
                mode: TO_REGISTER[p],
                summary,
                server_cpu_us: None,
            });
        }
        for (v, samples) in c.first.iter().enumerate() {
            let mode = FIRST_CALL[p][v];
            let summary = Summary::of(samples).with_context(|| format!("mode {mode}"))?;
            rows.push(Row {
                mode,
                summary,
                server_cpu_us: per(c.first_cpu_ns[v], samples.len()),
            });
        }
    }
    Ok(rows)
}

/// The median current and anonymous RSS, and the largest peak, of `rss`.
fn median_rss(rss: &[Rss]) -> Option<Rss> {
    let median = |f: fn(&Rss) -> u64| {
        let mut v: Vec<u64> = rss.iter().map(f).collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied()
    };
    Some(Rss {
        current: median(|r| r.current)?,
        peak: rss.iter().map(|r| r.peak).max()?,
        anon: median(|r| r.anon)?,
    })
}

/// Runs the Lambda benchmark.
pub(crate) fn run(o: &Options) -> anyhow::Result<LambdaResults> {
    let t = &o.target;
    let (name, program, args, tool) = (&t.name, &t.program, t.args.join(" "), &t.tool);
    let (n, spawns, cold, blocks) = (o.iterations, o.spawn_iterations, o.cold_runs, o.blocks);
    eprintln!(
        "bench: Lambda mode; child {name} ({program} {args}), tool {tool}; {n} warm reuse / {spawns} per-request invocations, {cold} cold runs per prewarm setting and event version, {blocks} interleaved blocks"
    );
    let machine = Machine::now();
    // The warm runtimes and the bare child are stopped when `jobs` is dropped, whatever happens.
    let mut jobs = start_jobs(o)?;
    interleave(o, &mut jobs)?;
    let mut res = LambdaResults {
        rss: collect_rss(&jobs)?,
        ..LambdaResults::default()
    };
    for j in &jobs {
        res.rows.extend(rows(j)?);
    }
    let measured = [
        ("measured build", Some(&o.mcp_lambda)),
        ("release build", o.release_binary.as_ref()),
    ];
    for (what, path) in measured {
        if let Some(path) = path {
            let size = std::fs::metadata(path).ok().map(|m| m.len());
            res.binaries.push((what, path.clone(), size));
        }
    }
    drop(jobs);
    res.machine = Machine {
        load_after: loadavg(),
        ..machine
    };
    Ok(res)
}

/// Phase 1: every mode, with the bare child and the two warm runtimes started (baselines
/// first, then cold, then warm: the order of the rows).
fn start_jobs(o: &Options) -> anyhow::Result<Vec<Job<Sampler>>> {
    let (spawns, cold_total) = (o.spawn_iterations, o.cold_runs * VERSIONS.len());
    let bare = Sampler::Floor(Driver::Bare(spawn_child(&o.target)?));
    let mut jobs = vec![
        Job::new("bare-initialized", bare, o.iterations, o.warmup),
        Job::new("spawn-init-floor", Sampler::SpawnInit, spawns, SPAWN_WARMUP),
        Job::new(
            "spawn-floor",
            Sampler::Floor(Driver::Spawn),
            spawns,
            SPAWN_WARMUP,
        ),
        Job::new("exec-floor", Sampler::ExecFloor, cold_total, SPAWN_WARMUP),
    ];
    for prewarm in [false, true] {
        let work = Sampler::Cold(prewarm, Box::default());
        jobs.push(Job::new(
            COLD_START[usize::from(prewarm)],
            work,
            cold_total,
            VERSIONS.len(),
        ));
    }
    for (name, lifecycle, total, warmup) in [
        ("warm reuse", "reuse", o.iterations, o.warmup),
        ("warm per-request", "per-request", spawns, SPAWN_WARMUP),
    ] {
        eprintln!("bench: starting mcp-lambda as a Lambda runtime, lifecycle {lifecycle}");
        let mut f = spawn_runtime(o, lifecycle, true)?;
        f.first_poll(START_TIMEOUT)?;
        jobs.push(Job::new(name, Sampler::Warm(Box::new(f)), total, warmup));
    }
    Ok(jobs)
}

/// Phase 3: resident memory of the warm runtimes now, and the cold runs' medians.
fn collect_rss(jobs: &[Job<Sampler>]) -> anyhow::Result<Vec<(&'static str, Rss)>> {
    let mut rss = Vec::new();
    for j in jobs {
        if let Sampler::Warm(f) = &j.work {
            rss.push((j.name, rss_of(f.pid())?));
        }
    }
    for j in jobs {
        if let Sampler::Cold(prewarm, c) = &j.work
            && let Some(r) = median_rss(&c.rss)
        {
            rss.push((RSS_FIRST_CALL[usize::from(*prewarm)], r));
        }
    }
    Ok(rss)
}

// Prewarm's cost, at the p50 and at the minimum: on a shared machine the p50 of 20–40 cold runs
// can absorb scheduler stalls of several ms; the fastest run shows the structure.
#[rustfmt::skip]
const FIGURES: &[Spec] = &[
    ("cold_off_minus_exec_floor_ms", "cold-start off p50 − exec-floor p50", "cold-start off", "exec-floor", Stat::P50, Op::DiffMs, None),
    ("cold_off_over_exec_floor", "cold-start off p50 / exec-floor p50", "cold-start off", "exec-floor", Stat::P50, Op::Ratio, None),
    ("prewarm_cost_ms", "prewarm's cost: cold-start on p50 − off p50", "cold-start on", "cold-start off", Stat::P50, Op::DiffMs, None),
    ("prewarm_cost_over_spawn_init_floor", "(cold-start on − off) / spawn-init-floor (p50s)", "cold-start on", "cold-start off", Stat::P50, Op::DiffOver("spawn-init-floor"), None),
    ("cold_off_minus_exec_floor_min_ms", "cold-start off min − exec-floor min", "cold-start off", "exec-floor", Stat::Min, Op::DiffMs, None),
    ("prewarm_cost_min_ms", "prewarm's cost at the minimum: cold-start on min − off min", "cold-start on", "cold-start off", Stat::Min, Op::DiffMs, None),
    ("prewarm_cost_over_spawn_init_floor_min", "(cold-start on − off) / spawn-init-floor (mins)", "cold-start on", "cold-start off", Stat::Min, Op::DiffOver("spawn-init-floor"), None),
    ("first_call_off_over_spawn_floor", "first-call off (06-18) p50 / spawn-floor p50", "first-call off 2025-06-18", "spawn-floor", Stat::P50, Op::Ratio, None),
    ("first_call_off_minus_spawn_floor_us", "first-call off (06-18) p50 − spawn-floor p50", "first-call off 2025-06-18", "spawn-floor", Stat::P50, Op::Diff, None),
    ("first_call_off_latest_over_fixture", "first-call off: 11-25 p50 / 06-18 p50", "first-call off 2025-11-25", "first-call off 2025-06-18", Stat::P50, Op::Ratio, None),
    ("first_call_on_prewarmed_over_warm_reuse", "first-call on, prewarmed version (11-25) p50 / warm reuse p50", "first-call on 2025-11-25", "warm reuse", Stat::P50, Op::Ratio, None),
    ("first_call_on_prewarmed_minus_bare_us", "first-call on, prewarmed version (11-25) p50 − bare-initialized p50", "first-call on 2025-11-25", "bare-initialized", Stat::P50, Op::Diff, None),
    ("first_call_on_other_over_off", "first-call on, other version (06-18) p50 / first-call off (06-18) p50", "first-call on 2025-06-18", "first-call off 2025-06-18", Stat::P50, Op::Ratio, None),
    ("cold_path_off_ms", "cold start + first call, prewarm off (06-18), p50s", "cold-start off", "first-call off 2025-06-18", Stat::P50, Op::SumMs, None),
    ("cold_path_on_prewarmed_ms", "cold start + first call, prewarm on, 11-25, p50s", "cold-start on", "first-call on 2025-11-25", Stat::P50, Op::SumMs, None),
    ("cold_path_on_other_ms", "cold start + first call, prewarm on, 06-18, p50s", "cold-start on", "first-call on 2025-06-18", Stat::P50, Op::SumMs, None),
    ("warm_reuse_added_p50_us", "warm reuse p50 − bare-initialized p50", "warm reuse", "bare-initialized", Stat::P50, Op::Diff, Some(("≤ 500 µs (serve's)", 500.0, true))),
    ("warm_reuse_added_p90_us", "warm reuse p90 − bare-initialized p90", "warm reuse", "bare-initialized", Stat::P90, Op::Diff, None),
    ("warm_reuse_added_p99_us", "warm reuse p99 − bare-initialized p99", "warm reuse", "bare-initialized", Stat::P99, Op::Diff, None),
    ("warm_reuse_over_bare_p50", "warm reuse p50 / bare-initialized p50", "warm reuse", "bare-initialized", Stat::P50, Op::Ratio, None),
    ("warm_per_request_over_spawn_floor_p50", "warm per-request p50 / spawn-floor p50", "warm per-request", "spawn-floor", Stat::P50, Op::Ratio, Some(("≤ 1.03 (serve's)", 1.03, true))),
    ("warm_per_request_over_spawn_floor_p90", "warm per-request p90 / spawn-floor p90", "warm per-request", "spawn-floor", Stat::P90, Op::Ratio, None),
    ("warm_per_request_over_spawn_floor_p99", "warm per-request p99 / spawn-floor p99", "warm per-request", "spawn-floor", Stat::P99, Op::Ratio, None),
    ("warm_per_request_added_p50_us", "warm per-request p50 − spawn-floor p50", "warm per-request", "spawn-floor", Stat::P50, Op::Diff, None),
];

fn figures(r: &LambdaResults) -> Vec<Figure> {
    let mut out = figures_of(&r.rows, FIGURES);
    let keys = [
        "rss_warm_reuse_mb",
        "rss_warm_per_request_mb",
        "rss_first_call_off_mb",
        "rss_first_call_on_mb",
    ];
    let whats = [
        "warm reuse",
        "warm per-request",
        RSS_FIRST_CALL[0],
        RSS_FIRST_CALL[1],
    ];
    for (what, key) in whats.into_iter().zip(keys) {
        if let Some((_, rss)) = r.rss.iter().find(|(w, _)| *w == what) {
            let (peak, anon) = (rss.peak as f64 / MB, rss.anon as f64 / MB);
            let label =
                format!("RSS of mcp-lambda, {what} (peak {peak:.1}, anonymous {anon:.1} MB)");
            out.push(rss_figure(key, label, rss, true));
        }
    }
    for (what, _, size) in &r.binaries {
        let key = if *what == "release build" {
            "binary_release_mb"
        } else {
            "binary_measured_mb"
        };
        if let Some(size) = size {
            out.push(Figure::new(
                key,
                format!("size of the {what}"),
                *size as f64 / MB,
                "MB",
            ));
        }
    }
    out
}

/// Prints the table and the figures to stdout.
pub(crate) fn print(o: &Options, r: &LambdaResults) {
    report::print_machine(&r.machine, o.build_info.as_deref());
    println!(
        "Lambda mode: child {} (tool {}), MCP_LAMBDA_LOG_LEVEL={}, MCP_LAMBDA_METRICS={}, event: Function URL (payload 2.0)",
        o.target.name, o.target.tool, o.wrapper_log_level, o.lambda_metrics
    );
    println!(
        "cold rows: spawn → first /next (cold-start) or extension register (to-register), n = runs; CPU = wrapper CPU to first poll"
    );
    println!(
        "first-call / warm rows: event handed out on /next → /response read; CPU = wrapper CPU per invocation"
    );
    println!();
    report::print_rows(&r.rows, "wrapper CPU µs", true);
    println!();
    for (what, rss) in &r.rss {
        let (mb, peak, anon) = (
            rss.current as f64 / MB,
            rss.peak as f64 / MB,
            rss.anon as f64 / MB,
        );
        println!(
            "RSS of mcp-lambda, {what}: {mb:.2} MB (peak {peak:.2} MB; anonymous {anon:.2} MB)"
        );
    }
    for (what, path, size) in &r.binaries {
        match size {
            Some(s) => println!("{what} {path}: {s} bytes ({:.2} MB)", *s as f64 / MB),
            None => println!(
                "{what} {path}: missing (build it with `cargo build --release -p mcp-lambda`)"
            ),
        }
    }
    println!();
    report::print_figures(&figures(r));
}

/// The results as one JSON document.
pub(crate) fn to_json(o: &Options, r: &LambdaResults) -> Value {
    let (ratios, targets) = report::figures_to_json(&figures(r));
    let binaries: Vec<Value> = r
        .binaries
        .iter()
        .map(|(what, path, bytes)| json!({"what": what, "path": path, "bytes": bytes}))
        .collect();
    json!({
        "machine": report::machine_to_json(&r.machine),
        "mode": "lambda",
        "build": o.build_info,
        "blocks": o.blocks,
        "child": o.target.name,
        "command": o.target.shell_command(),
        "tool": o.target.tool,
        "event": "function-url payload 2.0",
        "iterations": o.iterations,
        "spawn_iterations": o.spawn_iterations,
        "cold_runs_per_setting_and_version": o.cold_runs,
        "warmup": o.warmup,
        "wrapper_log_level": o.wrapper_log_level,
        "metrics": o.lambda_metrics,
        "modes": report::rows_to_json(&r.rows),
        "rss": report::rss_to_json(&r.rss),
        "binaries": binaries,
        "ratios": ratios,
        "targets": targets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_carry_the_call() {
        let e: Value =
            serde_json::from_slice(&event(&Target::example("x".into()), 7, "v")).unwrap();
        let body: Value = serde_json::from_str(e["body"].as_str().unwrap()).unwrap();
        assert_eq!(
            (body["id"].as_u64(), body["params"]["name"].as_str()),
            (Some(7), Some("echo"))
        );
    }

    #[test]
    fn url_answers_are_checked() {
        let ok = json!({"statusCode":200,"headers":{},"isBase64Encoded":false,
            "body": r#"{"jsonrpc":"2.0","id":3,"result":{"content":[]}}"#});
        assert!(check_url_answer(ok.to_string().as_bytes(), 3).is_ok());
        assert!(check_url_answer(ok.to_string().as_bytes(), 4).is_err());
        let bad = json!({"statusCode":400,"body":"{}"});
        assert!(check_url_answer(bad.to_string().as_bytes(), 3).is_err());
        let err = json!({"statusCode":200,
            "body": r#"{"jsonrpc":"2.0","id":3,"error":{"code":-32603,"message":"x"}}"#});
        assert!(check_url_answer(err.to_string().as_bytes(), 3).is_err());
    }

    #[test]
    fn median_rss_takes_the_middle_and_the_largest_peak() {
        let r = |c, p| Rss {
            current: c,
            peak: p,
            anon: c / 2,
        };
        let m = median_rss(&[r(30, 90), r(10, 40), r(20, 50)]).unwrap();
        assert_eq!((m.current, m.peak, m.anon), (20, 90, 10));
        assert!(median_rss(&[]).is_none());
    }
}
