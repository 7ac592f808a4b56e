//! The Lambda benchmark (`--lambda`): `mcp-lambda` as a Lambda custom runtime against the test
//! kit's stand-in Runtime API ([`Function`]), with the bare child's floors measured in the
//! same run and every mode interleaved like the serve benchmark. docs/PERFORMANCE.md ("Lambda",
//! "Method") describes each mode.
//!
//! Contract: `exec-floor` is `mcp-lambda --version`, spawn to exit; `spawn-init-floor` the bare
//! child from spawn to its initialize response. A cold run (`cold-start off|on`, prewarm false
//! or true) is a fresh runtime timed from spawn to its first `GET /runtime/invocation/next`
//! (`to-register`: to the extension's registration), then its first invocation
//! (`first-call off|on VERSION`, runs alternating the event's protocol version). `warm reuse`
//! and `warm per-request` are one long-lived runtime per lifecycle. An invocation is a Function
//! URL event carrying a `tools/call`, timed from its hand-out on `/next` to the `/response` read
//! whole, and its answer must be a 200 whose body is a successful tool result for that id. The
//! wrapper's CPU (all threads, not its child) is reported per warm invocation, per cold start
//! and per first invocation; RSS of the warm runtimes after the last block and of each cold
//! runtime after its first invocation (median). Every process started here is stopped.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use mcp_lambda_bench::stats::Summary;
use mcp_lambda_testkit::{Function, Rss, clip, cpu_ns_of, function_url_event, rss_of};
use serde_json::{Value, json};

use crate::Options;
use crate::modes::SPAWN_WARMUP;
use crate::report::{
    Figure, MB, MIN, Machine, Op, P50, P90, P99, Results, Row, Spec, figures_of, rss_figures,
};
use crate::sched::{Driver, Job, interleave};
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
/// The RSS readings: (what, JSON key).
const RSS_KEYS: [(&str, &str); 4] = [
    ("warm reuse", "rss_warm_reuse_mb"),
    ("warm per-request", "rss_warm_per_request_mb"),
    (RSS_FIRST_CALL[0], "rss_first_call_off_mb"),
    (RSS_FIRST_CALL[1], "rss_first_call_on_mb"),
];

const START_TIMEOUT: Duration = Duration::from_secs(60);
const INVOKE_TIMEOUT: Duration = Duration::from_secs(120);

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
        ("MCP_LAMBDA_PREWARM", prewarm.to_string().as_str()),
        ("MCP_LAMBDA_METRICS", o.lambda_metrics.to_string().as_str()),
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
    let ok = v["statusCode"] == 200 && v["isBase64Encoded"] != true;
    let body = v["body"].as_str().filter(|_| ok);
    let body = body.with_context(|| format!("not a 200 answer with a text body: {text}"))?;
    let msg: Value =
        serde_json::from_str(body).with_context(|| format!("body not JSON: {text}"))?;
    ensure!(msg["id"] == id, "answer for another id: {}", clip(body));
    check_call(&msg)
}

/// A cold mode (prewarm on or off): what its timed runs saw besides spawn → first poll, by
/// first-event version index.
#[derive(Default)]
pub(crate) struct Cold {
    prewarm: bool,
    /// Wrapper CPU from spawn to the first poll, summed.
    cpu_to_poll_ns: u64,
    to_register: Vec<Duration>,
    first: [Vec<Duration>; 2],
    /// Wrapper CPU during the first invocations, summed.
    first_cpu_ns: [u64; 2],
    rss: Vec<Rss>,
}

impl Cold {
    /// One cold run (run `id` alternates the first event's version): a fresh runtime, its first
    /// poll, its first invocation; returns spawn → first poll.
    pub(crate) fn once(&mut self, o: &Options, id: u64, timed: bool) -> anyhow::Result<Duration> {
        let v = (id as usize - 1) % VERSIONS.len();
        let mut f = spawn_runtime(o, "reuse", self.prewarm)?;
        let (registered, polled) = f.first_poll(START_TIMEOUT)?;
        let cpu_to_poll_ns = cpu_ns_of(f.pid())?;
        let (first, answer) = f.invoke(event(&o.target, 1, VERSIONS[v]), INVOKE_TIMEOUT)?;
        let first_cpu_ns = cpu_ns_of(f.pid())?.saturating_sub(cpu_to_poll_ns);
        check_url_answer(&answer, 1)?;
        if timed {
            self.cpu_to_poll_ns += cpu_to_poll_ns;
            let registered = registered.map(|r| r.saturating_duration_since(f.started()));
            self.to_register.extend(registered);
            self.first[v].push(first);
            self.first_cpu_ns[v] += first_cpu_ns;
            self.rss.push(rss_of(f.pid())?);
        }
        Ok(polled.saturating_duration_since(f.started()))
    }
}

/// `exec-floor`: `mcp-lambda --version`, from spawn to exit.
pub(crate) fn exec_floor(o: &Options) -> anyhow::Result<Duration> {
    let mut cmd = Command::new(&o.mcp_lambda);
    cmd.arg("--version").stdout(Stdio::null());
    cmd.stdin(Stdio::null()).stderr(Stdio::null());
    let start = Instant::now();
    let status = cmd.status().context("mcp-lambda --version")?;
    let took = start.elapsed();
    ensure!(status.success(), "mcp-lambda --version: {status}");
    Ok(took)
}

/// Invocation `id` of warm runtime `f`, checked.
pub(crate) fn invoke(t: &Target, f: &mut Function, id: u64) -> anyhow::Result<Duration> {
    let (took, answer) = f.invoke(event(t, id, FIXTURE_VERSION), INVOKE_TIMEOUT)?;
    check_url_answer(&answer, id).with_context(|| format!("invocation #{id}"))?;
    Ok(took)
}

/// The rows a job yields: its own, and for a cold job the registration and first-call rows.
fn rows_of(j: &Job) -> anyhow::Result<Vec<Row>> {
    let per = |ns: u64, n: usize| Some(ns as f64 / 1e3 / n.max(1) as f64);
    let mut rows = vec![j.row()?];
    if let Driver::Cold(c) = &j.work {
        let p = usize::from(c.prewarm);
        rows[0].server_cpu_us = per(c.cpu_to_poll_ns, j.samples.len());
        let registered =
            (!c.to_register.is_empty()).then_some((TO_REGISTER[p], &c.to_register, None));
        let first_cpu = |v: usize| per(c.first_cpu_ns[v], c.first[v].len());
        let first = (0..2).map(|v| (FIRST_CALL[p][v], &c.first[v], first_cpu(v)));
        for (mode, samples, server_cpu_us) in registered.into_iter().chain(first) {
            let summary = Summary::of(samples).with_context(|| format!("mode {mode}"))?;
            rows.push(Row {
                mode,
                summary,
                server_cpu_us,
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
pub(crate) fn run(o: &Options) -> anyhow::Result<Results> {
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
    // Resident memory of the warm runtimes now, then the cold runs' medians.
    let mut rss = Vec::new();
    for j in &jobs {
        if let Driver::Warm(f) = &j.work {
            rss.push((j.name, rss_of(f.pid())?));
        }
    }
    for j in &jobs {
        if let Driver::Cold(c) = &j.work
            && let Some(r) = median_rss(&c.rss)
        {
            rss.push((RSS_FIRST_CALL[usize::from(c.prewarm)], r));
        }
    }
    let rows: Vec<Vec<Row>> = jobs.iter().map(rows_of).collect::<anyhow::Result<_>>()?;
    drop(jobs);
    let (machine, rows) = (machine.done(), rows.concat());
    Ok(Results { machine, rows, rss })
}

/// Every mode, with the bare child and the two warm runtimes started (baselines first, then
/// cold, then warm: the order of the rows).
fn start_jobs(o: &Options) -> anyhow::Result<Vec<Job>> {
    let (spawns, cold_total) = (o.spawn_iterations, o.cold_runs * VERSIONS.len());
    let bare = Driver::Bare(spawn_child(&o.target)?);
    let mut jobs = vec![
        Job::new("bare-initialized", bare, o.iterations, o.warmup),
        Job::new("spawn-init-floor", Driver::SpawnInit, spawns, SPAWN_WARMUP),
        Job::new("spawn-floor", Driver::Spawn, spawns, SPAWN_WARMUP),
        Job::new("exec-floor", Driver::ExecFloor, cold_total, SPAWN_WARMUP),
    ];
    for (prewarm, name) in [false, true].into_iter().zip(COLD_START) {
        let work = Driver::Cold(Box::new(Cold {
            prewarm,
            ..Cold::default()
        }));
        jobs.push(Job::new(name, work, cold_total, VERSIONS.len()));
    }
    for (name, lifecycle, total, warmup) in [
        ("warm reuse", "reuse", o.iterations, o.warmup),
        ("warm per-request", "per-request", spawns, SPAWN_WARMUP),
    ] {
        eprintln!("bench: starting mcp-lambda as a Lambda runtime, lifecycle {lifecycle}");
        let mut f = spawn_runtime(o, lifecycle, true)?;
        f.first_poll(START_TIMEOUT)?;
        jobs.push(Job::new(name, Driver::Warm(Box::new(f)), total, warmup));
    }
    Ok(jobs)
}

// Prewarm's cost, at the p50 and at the minimum: on a shared machine the p50 of 20–40 cold runs
// can absorb scheduler stalls of several ms; the fastest run shows the structure.
#[rustfmt::skip]
const FIGURES: &[Spec] = &[
    ("cold_off_minus_exec_floor_ms", "cold-start off p50 − exec-floor p50", "cold-start off", "exec-floor", P50, Op::DiffMs, None),
    ("cold_off_over_exec_floor", "cold-start off p50 / exec-floor p50", "cold-start off", "exec-floor", P50, Op::Ratio, None),
    ("prewarm_cost_ms", "prewarm's cost: cold-start on p50 − off p50", "cold-start on", "cold-start off", P50, Op::DiffMs, None),
    ("prewarm_cost_over_spawn_init_floor", "(cold-start on − off) / spawn-init-floor (p50s)", "cold-start on", "cold-start off", P50, Op::DiffOver("spawn-init-floor"), None),
    ("cold_off_minus_exec_floor_min_ms", "cold-start off min − exec-floor min", "cold-start off", "exec-floor", MIN, Op::DiffMs, None),
    ("prewarm_cost_min_ms", "prewarm's cost at the minimum: cold-start on min − off min", "cold-start on", "cold-start off", MIN, Op::DiffMs, None),
    ("prewarm_cost_over_spawn_init_floor_min", "(cold-start on − off) / spawn-init-floor (mins)", "cold-start on", "cold-start off", MIN, Op::DiffOver("spawn-init-floor"), None),
    ("first_call_off_over_spawn_floor", "first-call off (06-18) p50 / spawn-floor p50", "first-call off 2025-06-18", "spawn-floor", P50, Op::Ratio, None),
    ("first_call_off_minus_spawn_floor_us", "first-call off (06-18) p50 − spawn-floor p50", "first-call off 2025-06-18", "spawn-floor", P50, Op::Diff, None),
    ("first_call_off_latest_over_fixture", "first-call off: 11-25 p50 / 06-18 p50", "first-call off 2025-11-25", "first-call off 2025-06-18", P50, Op::Ratio, None),
    ("first_call_on_prewarmed_over_warm_reuse", "first-call on, prewarmed version (11-25) p50 / warm reuse p50", "first-call on 2025-11-25", "warm reuse", P50, Op::Ratio, None),
    ("first_call_on_prewarmed_minus_bare_us", "first-call on, prewarmed version (11-25) p50 − bare-initialized p50", "first-call on 2025-11-25", "bare-initialized", P50, Op::Diff, None),
    ("first_call_on_other_over_off", "first-call on, other version (06-18) p50 / first-call off (06-18) p50", "first-call on 2025-06-18", "first-call off 2025-06-18", P50, Op::Ratio, None),
    ("cold_path_off_ms", "cold start + first call, prewarm off (06-18), p50s", "cold-start off", "first-call off 2025-06-18", P50, Op::SumMs, None),
    ("cold_path_on_prewarmed_ms", "cold start + first call, prewarm on, 11-25, p50s", "cold-start on", "first-call on 2025-11-25", P50, Op::SumMs, None),
    ("cold_path_on_other_ms", "cold start + first call, prewarm on, 06-18, p50s", "cold-start on", "first-call on 2025-06-18", P50, Op::SumMs, None),
    ("warm_reuse_added_p50_us", "warm reuse p50 − bare-initialized p50", "warm reuse", "bare-initialized", P50, Op::Diff, Some(("≤ 500 µs (serve's)", |v| v <= 500.0))),
    ("warm_reuse_added_p90_us", "warm reuse p90 − bare-initialized p90", "warm reuse", "bare-initialized", P90, Op::Diff, None),
    ("warm_reuse_added_p99_us", "warm reuse p99 − bare-initialized p99", "warm reuse", "bare-initialized", P99, Op::Diff, None),
    ("warm_reuse_over_bare_p50", "warm reuse p50 / bare-initialized p50", "warm reuse", "bare-initialized", P50, Op::Ratio, None),
    ("warm_per_request_over_spawn_floor_p50", "warm per-request p50 / spawn-floor p50", "warm per-request", "spawn-floor", P50, Op::Ratio, Some(("≤ 1.03 (serve's)", |v| v <= 1.03))),
    ("warm_per_request_over_spawn_floor_p90", "warm per-request p90 / spawn-floor p90", "warm per-request", "spawn-floor", P90, Op::Ratio, None),
    ("warm_per_request_over_spawn_floor_p99", "warm per-request p99 / spawn-floor p99", "warm per-request", "spawn-floor", P99, Op::Ratio, None),
    ("warm_per_request_added_p50_us", "warm per-request p50 − spawn-floor p50", "warm per-request", "spawn-floor", P50, Op::Diff, None),
];

/// The binaries whose size is reported: (what, JSON key, path, bytes if it exists).
fn binaries(o: &Options) -> Vec<(&'static str, &'static str, &String, Option<u64>)> {
    let measured = [
        ("measured build", "binary_measured_mb", Some(&o.mcp_lambda)),
        (
            "release build",
            "binary_release_mb",
            o.release_binary.as_ref(),
        ),
    ];
    let size = |path: &String| std::fs::metadata(path).ok().map(|m| m.len());
    let measured = measured
        .into_iter()
        .filter_map(|(what, key, path)| Some((what, key, path?)));
    measured
        .map(|(what, key, path)| (what, key, path, size(path)))
        .collect()
}

/// The Lambda figures: mode pairs ([`FIGURES`]), RSS and binary sizes.
pub(crate) fn figures(o: &Options, r: &Results) -> Vec<Figure> {
    let mut out = figures_of(&r.rows, FIGURES);
    out.extend(rss_figures(r, &RSS_KEYS, |what, rss| {
        let (peak, anon) = (rss.peak as f64 / MB, rss.anon as f64 / MB);
        format!("RSS of mcp-lambda, {what} (peak {peak:.1}, anonymous {anon:.1} MB)")
    }));
    for (what, key, _, size) in binaries(o) {
        if let Some(size) = size {
            let (label, value) = (format!("size of the {what}"), size as f64 / MB);
            out.push(Figure {
                key,
                label,
                value,
                unit: "MB",
                target: None,
            });
        }
    }
    out
}

/// The lines above the table: what ran and what the rows time.
pub(crate) fn print_header(o: &Options) {
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
}

/// The lines below the table: the RSS readings and the binaries' sizes.
pub(crate) fn print_sizes(o: &Options, r: &Results) {
    for (what, rss) in &r.rss {
        let mb = |b: u64| b as f64 / MB;
        let (now, peak, anon) = (mb(rss.current), mb(rss.peak), mb(rss.anon));
        println!(
            "RSS of mcp-lambda, {what}: {now:.2} MB (peak {peak:.2} MB; anonymous {anon:.2} MB)"
        );
    }
    for (what, _, path, size) in binaries(o) {
        match size {
            Some(s) => println!("{what} {path}: {s} bytes ({:.2} MB)", s as f64 / MB),
            None => println!(
                "{what} {path}: missing (build it with `cargo build --release -p mcp-lambda`)"
            ),
        }
    }
}

/// The JSON keys only a Lambda run has.
pub(crate) fn json_keys(o: &Options) -> Value {
    let binaries = binaries(o).into_iter();
    let binaries =
        binaries.map(|(what, _, path, bytes)| json!({"what": what, "path": path, "bytes": bytes}));
    json!({
        "mode": "lambda",
        "event": "function-url payload 2.0",
        "cold_runs_per_setting_and_version": o.cold_runs,
        "metrics": o.lambda_metrics,
        "binaries": binaries.collect::<Vec<_>>(),
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
