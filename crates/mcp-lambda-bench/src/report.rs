//! The table, the ratios that matter and the PASS/MISS verdicts — on stdout and as JSON — for
//! the serve modes, and the pieces the Lambda report shares (machine, rows, figure tables).
//!
//! Contract: ratios are computed only from modes measured in this run; a ratio whose inputs
//! did not run is left out (never guessed). Targets: reuse adds ≤ 500 µs at p50 over the bare
//! initialized child; per-request p50 ≤ 1.03 × spawn-floor p50; supergateway p50 / reuse p50
//! > 1; wrapper RSS ≤ 10 MB (10⁶ bytes) after each lifecycle's run.

use mcp_lambda_bench::stats::{Summary, loadavg, round1, round3};
use mcp_lambda_testkit::Rss;
use serde_json::{Map, Value, json};

use crate::Options;
use crate::modes::Results;

/// 1 MB = 10⁶ bytes.
pub(crate) const MB: f64 = 1e6;

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

/// One measured mode.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) mode: &'static str,
    pub(crate) summary: Summary,
    /// CPU time the server process (wrapper or peer, not the MCP child) spent per timed
    /// request, in µs; `None` for the bare modes.
    pub(crate) server_cpu_us: Option<f64>,
}

/// The summary of `mode` in `rows`, if it ran.
pub(crate) fn find<'a>(rows: &'a [Row], mode: &str) -> Option<&'a Summary> {
    rows.iter().find(|r| r.mode == mode).map(|r| &r.summary)
}

/// One line of the ratio section.
pub(crate) struct Figure {
    pub(crate) key: &'static str,
    pub(crate) label: String,
    pub(crate) value: f64,
    /// `×` for ratios (three decimals); anything else is printed with one decimal.
    pub(crate) unit: &'static str,
    /// (text, passed) when this figure has a target.
    pub(crate) target: Option<(&'static str, bool)>,
}

impl Figure {
    /// A figure without a target.
    pub(crate) fn new(
        key: &'static str,
        label: impl Into<String>,
        value: f64,
        unit: &'static str,
    ) -> Self {
        let label = label.into();
        Self {
            key,
            label,
            value,
            unit,
            target: None,
        }
    }
}

/// Which statistic of a mode a figure reads.
#[derive(Clone, Copy)]
pub(crate) enum Stat {
    P50,
    P90,
    P99,
    Min,
}

/// How a figure combines statistic `a` of one mode with `b` of another (and `c` of a third).
#[derive(Clone, Copy)]
pub(crate) enum Op {
    /// `a / b`, unit ×.
    Ratio,
    /// `a − b`, in µs.
    Diff,
    /// `a − b`, in ms.
    DiffMs,
    /// `a + b`, in ms.
    SumMs,
    /// `(a − b) / c`, unit ×.
    DiffOver(&'static str),
    /// `a − b − c`, in µs.
    DiffLess(&'static str),
}

/// A target a figure is checked against: (text, bound, whether the value must stay at or
/// below the bound rather than above it).
pub(crate) type Goal = Option<(&'static str, f64, bool)>;

/// A figure computed from two (or three) modes: (JSON key, label, mode a, mode b, statistic,
/// operation, target).
pub(crate) type Spec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    Stat,
    Op,
    Goal,
);

/// The figures of `specs` whose modes all ran, in order.
pub(crate) fn figures_of(rows: &[Row], specs: &[Spec]) -> Vec<Figure> {
    let stat = |mode, s| {
        let x = find(rows, mode)?;
        Some(match s {
            Stat::P50 => x.p50,
            Stat::P90 => x.p90,
            Stat::P99 => x.p99,
            Stat::Min => x.min,
        })
    };
    let figure = |&(key, label, a, b, s, op, goal): &Spec| {
        let (a, b) = (stat(a, s)?, stat(b, s)?);
        let (value, unit) = match op {
            Op::Ratio => (a / b, "×"),
            Op::Diff => (a - b, "µs"),
            Op::DiffMs => ((a - b) / 1e3, "ms"),
            Op::SumMs => ((a + b) / 1e3, "ms"),
            Op::DiffOver(c) => ((a - b) / stat(c, s)?, "×"),
            Op::DiffLess(c) => (a - b - stat(c, s)?, "µs"),
        };
        let target = goal.map(|(text, bound, at_most)| {
            (
                text,
                if at_most {
                    value <= bound
                } else {
                    value > bound
                },
            )
        });
        Some(Figure {
            key,
            label: label.into(),
            value,
            unit,
            target,
        })
    };
    specs.iter().filter_map(figure).collect()
}

/// An RSS figure in MB, checked against ≤ 10 MB when `target`.
pub(crate) fn rss_figure(key: &'static str, label: String, rss: &Rss, target: bool) -> Figure {
    let mb = rss.current as f64 / MB;
    let target = target.then_some(("≤ 10 MB", mb <= 10.0));
    Figure {
        key,
        label,
        value: mb,
        unit: "MB",
        target,
    }
}

#[rustfmt::skip]
const SERVE: &[Spec] = &[
    ("reuse_added_p50_us", "reuse p50 − bare-initialized p50", "reuse", "bare-initialized", Stat::P50, Op::Diff, Some(("≤ 500 µs", 500.0, true))),
    ("reuse_over_bare_p50", "reuse p50 / bare-initialized p50", "reuse", "bare-initialized", Stat::P50, Op::Ratio, None),
    ("reuse_own_work_p50_us", "≈ wrapper's own work: reuse − healthz − bare (p50s)", "reuse", "healthz-raw", Stat::P50, Op::DiffLess("bare-initialized"), None),
    ("reuse_over_reuse_json_p50", "reuse p50 / reuse-json p50 (cost of a stream-capable answer)", "reuse", "reuse-json", Stat::P50, Op::Ratio, None),
    ("reuse_modern_over_reuse_p50", "reuse-modern p50 / reuse p50 (2026-07-28 client, era translation)", "reuse-modern", "reuse", Stat::P50, Op::Ratio, None),
    ("reuse_modern_added_p50_us", "reuse-modern p50 − reuse p50", "reuse-modern", "reuse", Stat::P50, Op::Diff, None),
    ("per_request_over_spawn_floor_p50", "per-request p50 / spawn-floor p50", "per-request", "spawn-floor", Stat::P50, Op::Ratio, Some(("≤ 1.03", 1.03, true))),
    ("per_request_added_p50_us", "per-request p50 − spawn-floor p50", "per-request", "spawn-floor", Stat::P50, Op::Diff, None),
    ("per_request_idle_over_spawn_floor_p50", "per-request-idle p50 / spawn-floor p50", "per-request-idle", "spawn-floor", Stat::P50, Op::Ratio, Some(("≤ 1.03", 1.03, true))),
    ("per_request_idle_added_p50_us", "per-request-idle p50 − spawn-floor p50", "per-request-idle", "spawn-floor", Stat::P50, Op::Diff, None),
    ("supergateway_over_reuse_p50", "supergateway p50 / reuse p50", "supergateway", "reuse", Stat::P50, Op::Ratio, Some(("> 1 (faster than the peer)", 1.0, false))),
    ("supergateway_added_p50_us", "supergateway p50 − bare-initialized p50", "supergateway", "bare-initialized", Stat::P50, Op::Diff, None),
];

fn figures(r: &Results) -> Vec<Figure> {
    let mut out = figures_of(&r.rows, SERVE);
    let cpu = |m: &str| r.rows.iter().find(|x| x.mode == m)?.server_cpu_us;
    if let (Some(sg), Some(reuse)) = (cpu("supergateway"), cpu("reuse")) {
        let label = "server CPU per request: supergateway / reuse";
        out.push(Figure::new(
            "supergateway_over_reuse_cpu",
            label,
            sg / reuse,
            "×",
        ));
    }
    for (what, key) in [
        ("mcp-lambda after reuse", "rss_reuse_mb"),
        ("mcp-lambda after per-request", "rss_per_request_mb"),
        ("supergateway (node)", "rss_supergateway_mb"),
    ] {
        if let Some((_, rss)) = r.rss.iter().find(|(w, _)| *w == what) {
            let peak = rss.peak as f64 / MB;
            let ours = key != "rss_supergateway_mb";
            let label = if ours {
                format!("RSS {what} (peak {peak:.1} MB)")
            } else {
                format!("RSS supergateway node process (peak {peak:.1} MB)")
            };
            out.push(rss_figure(key, label, rss, ours));
        }
    }
    out
}

/// Prints the table and the ratios to stdout.
pub(crate) fn print(o: &Options, r: &Results) {
    print_machine(&r.machine, o.build_info.as_deref());
    println!(
        "child: {} (tool {}), HTTP client: {}, mcp-lambda --log-level {}, supergateway --logLevel {}",
        o.target.name,
        o.target.tool,
        o.client.name(),
        o.wrapper_log_level,
        o.peer_log_level
    );
    println!();
    print_rows(&r.rows, "server CPU µs/req", false);
    println!();
    print_figures(&figures(r));
}

/// The machine and its load after a blank line, then what was built.
pub(crate) fn print_machine(m: &Machine, build: Option<&str>) {
    println!();
    println!(
        "machine: {} CPUs ({}), Linux {}; load average before {} / after {}",
        m.cpus, m.cpu_model, m.kernel, m.load_before, m.load_after
    );
    if let Some(b) = build {
        println!("build: {b}");
    }
}

/// One line per mode: n, (min,) p50, p90, p99, mean and the CPU column headed `cpu_label`.
pub(crate) fn print_rows(rows: &[Row], cpu_label: &str, with_min: bool) {
    let width = rows.iter().map(|r| r.mode.len()).max().unwrap_or(0).max(18);
    let min_head = if with_min {
        format!(" {:>10}", "min µs")
    } else {
        String::new()
    };
    println!(
        "{:<width$} {:>6}{min_head} {:>10} {:>10} {:>10} {:>10} {:>17}",
        "mode", "n", "p50 µs", "p90 µs", "p99 µs", "mean µs", cpu_label
    );
    for row in rows {
        let s = &row.summary;
        let cpu = row
            .server_cpu_us
            .map_or_else(|| "-".into(), |c| format!("{c:.1}"));
        let min = if with_min {
            format!(" {:>10.1}", s.min)
        } else {
            String::new()
        };
        println!(
            "{:<width$} {:>6}{min} {:>10.1} {:>10.1} {:>10.1} {:>10.1} {:>17}",
            row.mode, s.n, s.p50, s.p90, s.p99, s.mean, cpu
        );
    }
}

/// One line per figure, with PASS/MISS when it has a target.
pub(crate) fn print_figures(figs: &[Figure]) {
    let width = figs
        .iter()
        .map(|f| f.label.chars().count())
        .max()
        .unwrap_or(0)
        .max(58);
    for f in figs {
        let value = match f.unit {
            "×" => format!("{:.3}×", f.value),
            unit => format!("{:.1} {unit}", f.value),
        };
        let verdict = match f.target {
            Some((text, true)) => format!("PASS (target {text})"),
            Some((text, false)) => format!("MISS (target {text})"),
            None => String::new(),
        };
        let pad = width - f.label.chars().count();
        println!("{}{:pad$} {:>14}  {verdict}", f.label, "", value);
    }
}

/// The rows as a JSON object keyed by mode (µs; CPU under `server_cpu_us_per_request`).
pub(crate) fn rows_to_json(rows: &[Row]) -> Map<String, Value> {
    let row = |row: &Row| {
        let mut v = row.summary.to_json();
        if let (Some(cpu), Some(obj)) = (row.server_cpu_us, v.as_object_mut()) {
            obj.insert("server_cpu_us_per_request".into(), json!(round1(cpu)));
        }
        (row.mode.to_owned(), v)
    };
    rows.iter().map(row).collect()
}

/// The figures as (`ratios` object, `targets` list).
pub(crate) fn figures_to_json(figs: &[Figure]) -> (Map<String, Value>, Vec<Value>) {
    let value = |f: &Figure| {
        if f.unit == "×" {
            round3(f.value)
        } else {
            round1(f.value)
        }
    };
    let ratios = figs
        .iter()
        .map(|f| (f.key.to_owned(), json!(value(f))))
        .collect();
    let targets = figs
        .iter()
        .filter_map(|f| {
            let (text, pass) = f.target?;
            Some(json!({"figure": f.key, "target": text, "pass": pass}))
        })
        .collect();
    (ratios, targets)
}

/// Resident memory readings as a JSON object keyed by what was measured (MB).
pub(crate) fn rss_to_json(rss: &[(&'static str, Rss)]) -> Map<String, Value> {
    let mb = |b: u64| round3(b as f64 / MB);
    rss.iter()
        .map(|(what, r)| {
            let v = json!({"vm_rss_mb": mb(r.current), "vm_hwm_mb": mb(r.peak), "rss_anon_mb": mb(r.anon)});
            ((*what).to_owned(), v)
        })
        .collect()
}

/// The machine as JSON.
pub(crate) fn machine_to_json(m: &Machine) -> Value {
    json!({
        "cpus": m.cpus,
        "cpu_model": m.cpu_model,
        "kernel": m.kernel,
        "loadavg_before": m.load_before,
        "loadavg_after": m.load_after,
    })
}

/// The results as one JSON document.
pub(crate) fn to_json(o: &Options, r: &Results) -> Value {
    let (ratios, targets) = figures_to_json(&figures(r));
    json!({
        "machine": machine_to_json(&r.machine),
        "build": o.build_info,
        "blocks": o.blocks,
        "child": o.target.name,
        "command": o.target.shell_command(),
        "tool": o.target.tool,
        "client": o.client.name(),
        "iterations": o.iterations,
        "spawn_iterations": o.spawn_iterations,
        "warmup": o.warmup,
        "wrapper_log_level": o.wrapper_log_level,
        "peer_log_level": o.peer_log_level,
        "modes": rows_to_json(&r.rows),
        "rss": rss_to_json(&r.rss),
        "ratios": ratios,
        "targets": targets,
    })
}
