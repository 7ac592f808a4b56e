//! The sessions benchmark's report: a plain-text table on stdout and the same figures as JSON.
//!
//! Contract: every latency figure is relative to the `none` mode of the same run (p50s, and per
//! round); the store's cost beyond the wire is `dynamodb − none − raw GetItem`. Nothing is
//! reported that was not measured in this run.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use mcp_lambda_bench::stats::{Summary, median, round1 as r1, round3 as r3};
use mcp_lambda_testkit::Ops;
use serde_json::{Value, json};

use crate::{Args, Counting, Latency, Setup, Touch, VERSION};

/// The head of the latency table (the widths of its rows).
const HEAD: &str = "sessions             n   p50 µs   p90 µs   p99 µs  mean µs |   +p50 µs    ×p50   ×mean | per-round +p50 med [min..max]";

/// The summary of every sample of `rounds`, and each round's p50.
fn summarise(rounds: &[Vec<Duration>]) -> anyhow::Result<(Summary, Vec<f64>)> {
    let p50s = rounds.iter().map(|r| Summary::of(r).map(|s| s.p50));
    Ok((
        Summary::of(&rounds.concat())?,
        p50s.collect::<anyhow::Result<_>>()?,
    ))
}

/// Prints the report and returns it as a JSON document.
#[allow(clippy::too_many_arguments)]
pub(crate) fn report(
    args: &Args,
    s: &Setup,
    lat: &Latency,
    count: &Counting,
    touch: &Touch,
    &(direct_requests, direct_expected): &(u64, u64),
    load: &[String; 2],
    run_started: Instant,
) -> anyhow::Result<Value> {
    let (per_round, latency_secs) = (lat.per_round, lat.secs);
    println!("mcp-lambda sessions benchmark — {}", args.build_info);
    println!(
        "example server, --lifecycle reuse, tools/call echo over one keep-alive connection; \
         {} timed requests per mode ({} rounds × {per_round}, interleaved) after {} warm-up; \
         latency phase {latency_secs:.1} s",
        per_round * args.rounds,
        args.rounds,
        args.warmup
    );
    println!();
    println!("{HEAD}");

    // ---- Latency per mode, against `none`.
    let (base, base_rounds) = summarise(&s.modes[0].rounds)?;
    let mut json_modes = Vec::new();
    for m in &s.modes {
        let (sm, rp) = summarise(&m.rounds)?;
        let deltas: Vec<f64> = rp.iter().zip(&base_rounds).map(|(a, b)| a - b).collect();
        let dmin = deltas.iter().copied().fold(f64::INFINITY, f64::min);
        let dmax = deltas.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!(
            "{:<15} {:>6} {:>8.0} {:>8.0} {:>8.0} {:>8.0} | {:>+9.0} {:>7.2} {:>7.2} | {:>+8.0} [{:+.0}..{:+.0}]",
            m.name,
            sm.n,
            sm.p50,
            sm.p90,
            sm.p99,
            sm.mean,
            sm.p50 - base.p50,
            sm.p50 / base.p50,
            sm.mean / base.mean,
            median(deltas.clone()),
            dmin,
            dmax
        );
        json_modes.push(json!({
            "mode": m.name,
            "summary": sm.to_json(),
            "added_p50_us": r1(sm.p50 - base.p50),
            "added_mean_us": r1(sm.mean - base.mean),
            "ratio_p50": r3(sm.p50 / base.p50),
            "ratio_p90": r3(sm.p90 / base.p90),
            "ratio_p99": r3(sm.p99 / base.p99),
            "ratio_mean": r3(sm.mean / base.mean),
            "round_added_p50_us": deltas.iter().map(|d| r1(*d)).collect::<Vec<_>>(),
        }));
    }

    // ---- What the dynamodb store costs beyond one wire round trip to the emulator.
    let (raw, raw_rounds) = summarise(&lat.raw_get.rounds)?;
    let (dynamo, dynamo_rounds) = summarise(&s.mode("dynamodb")?.rounds)?;
    let beyond = dynamo_rounds.iter().zip(&base_rounds).zip(&raw_rounds);
    let beyond: Vec<f64> = beyond.map(|((d, b), g)| d - b - g).collect();
    let beyond_med = median(beyond.clone());
    let dynamo_added = dynamo.p50 - base.p50;
    println!(
        "{:<15} {:>6} {:>8.0} {:>8.0} {:>8.0} {:>8.0}   (GetItem straight to moto, hand-written client, no SDK; \
         timed in the same rounds; a new connection each, as moto closes them)",
        "moto GetItem", raw.n, raw.p50, raw.p90, raw.p99, raw.mean
    );
    println!(
        "dynamodb adds {dynamo_added:.0} µs at p50 = {:.2} × one raw GetItem; beyond the GetItem round trip \
         (SDK, signing, store, gateway): {:+.0} µs (p50s), per-round median {beyond_med:+.0} µs",
        dynamo_added / raw.p50,
        dynamo_added - raw.p50
    );
    println!();

    // ---- DynamoDB requests per MCP request.
    let (mut call_total, mut call_max) = (Ops::new(), Ops::new());
    for (k, v) in count.per_call.iter().flatten() {
        *call_total.entry(k.clone()).or_default() += v;
        let e = call_max.entry(k.clone()).or_default();
        *e = (*e).max(*v);
    }
    let get = |o: &Ops| o.get("GetItem").copied().unwrap_or(0);
    let call_min_get = count.per_call.iter().map(get).min().unwrap_or(0);
    println!(
        "DynamoDB requests per MCP request (counted by X-Amz-Target at a TCP proxy in front of moto; \
         server: --sessions dynamodb, default touch interval 60 s):"
    );
    println!("  {:<32} {:>6}  DynamoDB requests", "MCP request", "HTTP");
    let ok = String::from("200");
    let calls = [
        (
            format!("tools/call ×{} (total)", args.count_calls),
            ok.clone(),
            call_total,
        ),
        ("tools/call (max of one request)".into(), ok, call_max),
    ];
    let mut json_rows = Vec::new();
    for (what, status, ops) in count.rows[..2].iter().chain(&calls).chain(&count.rows[2..]) {
        println!("  {what:<32} {status:>6}  {}", ops_text(ops));
        json_rows.push(json!({"request": what, "status": status, "ops": ops}));
    }
    let phase_calls = args.warmup + per_round * args.rounds;
    println!(
        "  latency phase, dynamodb+proxy: {phase_calls} tools/call + initialize + initialized over {latency_secs:.1} s → {}",
        ops_text(&lat.ops)
    );
    println!(
        "  latency phase, dynamodb (direct, counted from moto's request log): {direct_requests} requests for the same {phase_calls} \
         (expected {direct_expected})",
    );
    println!("  create-table (setup, once): {}", ops_text(&s.setup_ops));
    let (connections, total_requests, unframed, ttfb) = {
        let t = s.proxy.tally();
        let ttfb = t
            .ttfb
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), Summary::of(v).ok()?)));
        let ttfb: BTreeMap<String, Summary> = ttfb.collect();
        (t.connections, t.ops.values().sum::<u64>(), t.unframed, ttfb)
    };
    println!(
        "  SDK connections accepted by the proxy: {connections} for {total_requests} DynamoDB requests \
         (2 servers + create-table; the proxy keeps them alive, moto closes its side every time); \
         requests without Content-Length: {unframed}"
    );
    println!();

    // ---- Touch check.
    println!(
        "Touch check (--session-ttl {} → touch interval {:.1} s): {} tools/call over {:.1} s → {}; \
         at most {} UpdateItem expected",
        args.touch_ttl,
        touch.interval.as_secs_f64(),
        touch.by_update.concat().len(),
        touch.elapsed.as_secs_f64(),
        ops_text(&touch.ops),
        touch.expected()
    );
    let [touch_without, touch_with] = touch.by_update.each_ref().map(|d| Summary::of(d).ok());
    if let (Some(w), Some(wo)) = (&touch_with, &touch_without) {
        println!(
            "  p50 of calls that wrote UpdateItem: {:.0} µs (n={}); of the others: {:.0} µs (n={})",
            w.p50, w.n, wo.p50, wo.n
        );
    }
    println!();
    println!("moto's own time per operation, as the proxy saw it:");
    for (op, t) in &ttfb {
        println!(
            "  {op}: request sent → moto's response head p50 {:.0} µs, p90 {:.0} µs (n={})",
            t.p50, t.p90, t.n
        );
    }
    let [load_at_start, load_at_end] = load;
    println!(
        "run took {:.1} s in all; 1-minute load average {load_at_start} at the start, {load_at_end} at the end",
        run_started.elapsed().as_secs_f64()
    );

    let doc = json!({
        "build": args.build_info,
        "load_average_1m": load,
        "protocol_version": VERSION,
        "iterations_per_mode": per_round * args.rounds,
        "rounds": args.rounds,
        "warmup": args.warmup,
        "latency_phase_s": r1(latency_secs),
        "modes": json_modes,
        "dynamodb_requests": {
            "rows": json_rows,
            "tools_call_each": count.per_call,
            "tools_call_min_getitem": call_min_get,
            "latency_phase_dynamodb_proxy": lat.ops,
            "create_table": s.setup_ops,
            "latency_phase_dynamodb_direct_total": direct_requests,
            "latency_phase_dynamodb_direct_expected": direct_expected,
            "connections": connections,
            "total_requests": total_requests,
            "unframed": unframed,
        },
        "touch_check": {
            "ttl_s": args.touch_ttl,
            "interval_s": touch.interval.as_secs_f64(),
            "calls": touch.by_update.concat().len(),
            "elapsed_s": r1(touch.elapsed.as_secs_f64()),
            "ops": touch.ops,
            "max_expected_updateitem": touch.expected(),
            "p50_with_update_us": touch_with.map(|s| r1(s.p50)),
            "p50_without_update_us": touch_without.map(|s| r1(s.p50)),
        },
        "moto_raw_getitem": raw.to_json(),
        "dynamodb_beyond_getitem_us": {
            "p50s": r1(dynamo_added - raw.p50),
            "per_round": beyond.iter().map(|d| r1(*d)).collect::<Vec<_>>(),
            "per_round_median": r1(beyond_med),
        },
        "moto_ttfb_via_proxy": ttfb.iter().map(|(k, s)| (k.clone(), s.to_json())).collect::<BTreeMap<_, _>>(),
    });
    Ok(doc)
}

/// `3 GetItem, 1 PutItem`, or `none`.
pub(crate) fn ops_text(ops: &Ops) -> String {
    let parts: Vec<String> = ops.iter().map(|(k, v)| format!("{v} {k}")).collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}
