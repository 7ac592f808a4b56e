//! The report of a serve or `--lambda` run: the machine, the table of modes and the figures that
//! matter with PASS/MISS per target — on stdout and as JSON. The serve figures are declared here,
//! the Lambda ones in [`crate::lambda`].
//!
//! Contract: figures are computed only from modes measured in this run; a figure whose inputs
//! did not run is left out (never guessed). Serve targets: reuse adds ≤ 500 µs at p50 over the
//! bare initialized child; per-request p50 ≤ 1.03 × spawn-floor p50; supergateway p50 / reuse
//! p50 > 1; wrapper RSS ≤ 10 MB (10⁶ bytes) after each lifecycle's run.

use mcp_lambda_bench::stats::{Summary, loadavg, round1, round3};
use mcp_lambda_testkit::Rss;
use serde_json::{Value, json};

use crate::{Options, lambda};

/// 1 MB = 10⁶ bytes.
pub(crate) const MB: f64 = 1e6;

/// Where the run happened; load averages show how noisy it was.
#[derive(Debug, Default)]
pub(crate) struct Machine {
    cpus: usize,
    cpu_model: String,
    kernel: String,
    load_before: String,
    load_after: String,
}

impl Machine {
    /// The host now, with its load average as `load_before`.
    pub(crate) fn now() -> Self {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let model = cpuinfo.lines().find_map(|l| l.strip_prefix("model name"));
        let cpu_model = model.map_or("", |v| v.trim_start_matches([' ', '\t', ':']));
        Self {
            cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: cpu_model.to_owned(),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_owned(),
            load_before: loadavg(),
            load_after: String::new(),
        }
    }

    /// The same host, with its load average now as `load_after`.
    pub(crate) fn done(self) -> Self {
        let load_after = loadavg();
        Self { load_after, ..self }
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

/// Everything one run measured.
#[derive(Debug, Default)]
pub(crate) struct Results {
    /// The host and its load before and after the run.
    pub(crate) machine: Machine,
    pub(crate) rows: Vec<Row>,
    /// (what, resident memory of that process).
    pub(crate) rss: Vec<(&'static str, Rss)>,
}

/// One line of the figure section.
pub(crate) struct Figure {
    pub(crate) key: &'static str,
    pub(crate) label: String,
    pub(crate) value: f64,
    /// `×` for ratios (three decimals); anything else is printed with one decimal.
    pub(crate) unit: &'static str,
    /// (text, passed) when this figure has a target.
    pub(crate) target: Option<(&'static str, bool)>,
}

/// Which statistic of a mode's row a figure reads.
pub(crate) type Stat = fn(&Row) -> Option<f64>;
pub(crate) const P50: Stat = |r| Some(r.summary.p50);
pub(crate) const P90: Stat = |r| Some(r.summary.p90);
pub(crate) const P99: Stat = |r| Some(r.summary.p99);
pub(crate) const MIN: Stat = |r| Some(r.summary.min);
/// The server CPU per timed request.
const CPU: Stat = |r| r.server_cpu_us;

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

/// A target a figure is checked against: (text, the test its value must pass).
pub(crate) type Goal = Option<(&'static str, fn(f64) -> bool)>;

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

#[rustfmt::skip]
const SERVE: &[Spec] = &[
    ("reuse_added_p50_us", "reuse p50 − bare-initialized p50", "reuse", "bare-initialized", P50, Op::Diff, Some(("≤ 500 µs", |v| v <= 500.0))),
    ("reuse_over_bare_p50", "reuse p50 / bare-initialized p50", "reuse", "bare-initialized", P50, Op::Ratio, None),
    ("reuse_own_work_p50_us", "≈ wrapper's own work: reuse − healthz − bare (p50s)", "reuse", "healthz-raw", P50, Op::DiffLess("bare-initialized"), None),
    ("reuse_over_reuse_json_p50", "reuse p50 / reuse-json p50 (cost of a stream-capable answer)", "reuse", "reuse-json", P50, Op::Ratio, None),
    ("reuse_modern_over_reuse_p50", "reuse-modern p50 / reuse p50 (2026-07-28 client, era translation)", "reuse-modern", "reuse", P50, Op::Ratio, None),
    ("reuse_modern_added_p50_us", "reuse-modern p50 − reuse p50", "reuse-modern", "reuse", P50, Op::Diff, None),
    ("per_request_over_spawn_floor_p50", "per-request p50 / spawn-floor p50", "per-request", "spawn-floor", P50, Op::Ratio, Some(("≤ 1.03", |v| v <= 1.03))),
    ("per_request_added_p50_us", "per-request p50 − spawn-floor p50", "per-request", "spawn-floor", P50, Op::Diff, None),
    ("per_request_idle_over_spawn_floor_p50", "per-request-idle p50 / spawn-floor p50", "per-request-idle", "spawn-floor", P50, Op::Ratio, Some(("≤ 1.03", |v| v <= 1.03))),
    ("per_request_idle_added_p50_us", "per-request-idle p50 − spawn-floor p50", "per-request-idle", "spawn-floor", P50, Op::Diff, None),
    ("supergateway_over_reuse_p50", "supergateway p50 / reuse p50", "supergateway", "reuse", P50, Op::Ratio, Some(("> 1 (faster than the peer)", |v| v > 1.0))),
    ("supergateway_added_p50_us", "supergateway p50 − bare-initialized p50", "supergateway", "bare-initialized", P50, Op::Diff, None),
    ("supergateway_over_reuse_cpu", "server CPU per request: supergateway / reuse", "supergateway", "reuse", CPU, Op::Ratio, None),
];

/// The serve RSS readings: (what, JSON key).
const SERVE_RSS: [(&str, &str); 3] = [
    ("mcp-lambda after reuse", "rss_reuse_mb"),
    ("mcp-lambda after per-request", "rss_per_request_mb"),
    ("supergateway (node)", "rss_supergateway_mb"),
];

/// The figures of `specs` whose modes all ran, in order.
pub(crate) fn figures_of(rows: &[Row], specs: &[Spec]) -> Vec<Figure> {
    let stat = |mode, s: Stat| s(rows.iter().find(|r| r.mode == mode)?);
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
        let target = goal.map(|(text, pass)| (text, pass(value)));
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

/// One figure in MB per reading of `keys` (what, JSON key) that was taken, labelled by `label`;
/// mcp-lambda's readings (not supergateway's) are checked against ≤ 10 MB.
pub(crate) fn rss_figures(
    r: &Results,
    keys: &[(&'static str, &'static str)],
    label: impl Fn(&str, &Rss) -> String,
) -> Vec<Figure> {
    let taken = |&(what, key): &(&str, &'static str)| {
        let (_, rss) = r.rss.iter().find(|(w, _)| *w == what)?;
        let value = rss.current as f64 / MB;
        let target = (!what.starts_with("supergateway")).then_some(("≤ 10 MB", value <= 10.0));
        let label = label(what, rss);
        Some(Figure {
            key,
            label,
            value,
            unit: "MB",
            target,
        })
    };
    keys.iter().filter_map(taken).collect()
}

/// Every figure of the run, in order.
fn figures(o: &Options, r: &Results) -> Vec<Figure> {
    if o.lambda {
        return lambda::figures(o, r);
    }
    let mut out = figures_of(&r.rows, SERVE);
    out.extend(rss_figures(r, &SERVE_RSS, |what, rss| {
        let peak = rss.peak as f64 / MB;
        match what {
            "supergateway (node)" => format!("RSS supergateway node process (peak {peak:.1} MB)"),
            _ => format!("RSS {what} (peak {peak:.1} MB)"),
        }
    }));
    out
}

/// Prints the machine, what ran, the table (with a min column for `--lambda`), the Lambda
/// run's RSS and binary sizes, and the figures to stdout.
pub(crate) fn print(o: &Options, r: &Results) {
    let m = &r.machine;
    println!();
    println!(
        "machine: {} CPUs ({}), Linux {}; load average before {} / after {}",
        m.cpus, m.cpu_model, m.kernel, m.load_before, m.load_after
    );
    if let Some(b) = &o.build_info {
        println!("build: {b}");
    }
    if o.lambda {
        lambda::print_header(o);
    } else {
        println!(
            "child: {} (tool {}), HTTP client: {}, mcp-lambda --log-level {}, supergateway --logLevel {}",
            o.target.name,
            o.target.tool,
            o.client.name(),
            o.wrapper_log_level,
            o.peer_log_level
        );
    }
    println!();
    print_rows(&r.rows, o.lambda);
    println!();
    if o.lambda {
        lambda::print_sizes(o, r);
        println!();
    }
    print_figures(&figures(o, r));
}

/// One line per mode: n, (min,) p50, p90, p99, mean and the CPU column.
fn print_rows(rows: &[Row], with_min: bool) {
    let width = rows.iter().map(|r| r.mode.len()).max().unwrap_or(0).max(18);
    let skip = usize::from(!with_min);
    let heads = ["min µs", "p50 µs", "p90 µs", "p99 µs", "mean µs"]
        .iter()
        .skip(skip);
    let heads: String = heads.map(|h| format!(" {h:>10}")).collect();
    let cpu = if with_min {
        "wrapper CPU µs"
    } else {
        "server CPU µs/req"
    };
    println!("{:<width$} {:>6}{heads} {cpu:>17}", "mode", "n");
    for row in rows {
        let s = &row.summary;
        let stats = [s.min, s.p50, s.p90, s.p99, s.mean].into_iter().skip(skip);
        let stats: String = stats.map(|x| format!(" {x:>10.1}")).collect();
        let cpu = row
            .server_cpu_us
            .map_or_else(|| "-".into(), |c| format!("{c:.1}"));
        println!("{:<width$} {:>6}{stats} {cpu:>17}", row.mode, s.n);
    }
}

/// One line per figure, with PASS/MISS when it has a target.
fn print_figures(figs: &[Figure]) {
    let widths = figs.iter().map(|f| f.label.chars().count());
    let width = widths.max().unwrap_or(0).max(58);
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

/// The results as one JSON document: what ran, the modes (µs; CPU under
/// `server_cpu_us_per_request`), RSS (MB), the figures (under `ratios`) and the targets.
pub(crate) fn to_json(o: &Options, r: &Results) -> Value {
    let figs = figures(o, r);
    let row = |row: &Row| {
        let mut v = row.summary.to_json();
        if let (Some(cpu), Some(obj)) = (row.server_cpu_us, v.as_object_mut()) {
            obj.insert("server_cpu_us_per_request".into(), json!(round1(cpu)));
        }
        (row.mode.to_owned(), v)
    };
    let mb = |b: u64| round3(b as f64 / MB);
    let rss = |(what, r): &(&str, Rss)| {
        let v =
            json!({"vm_rss_mb": mb(r.current), "vm_hwm_mb": mb(r.peak), "rss_anon_mb": mb(r.anon)});
        ((*what).to_owned(), v)
    };
    let value = |f: &Figure| match f.unit {
        "×" => round3(f.value),
        _ => round1(f.value),
    };
    let targets = figs.iter().filter_map(|f| {
        let (text, pass) = f.target?;
        Some(json!({"figure": f.key, "target": text, "pass": pass}))
    });
    let m = &r.machine;
    let mut doc = json!({
        "machine": {
            "cpus": m.cpus,
            "cpu_model": m.cpu_model,
            "kernel": m.kernel,
            "loadavg_before": m.load_before,
            "loadavg_after": m.load_after,
        },
        "build": o.build_info,
        "blocks": o.blocks,
        "child": o.target.name,
        "command": o.target.shell_command(),
        "tool": o.target.tool,
        "iterations": o.iterations,
        "spawn_iterations": o.spawn_iterations,
        "warmup": o.warmup,
        "wrapper_log_level": o.wrapper_log_level,
        "modes": r.rows.iter().map(row).collect::<serde_json::Map<_, _>>(),
        "rss": r.rss.iter().map(rss).collect::<serde_json::Map<_, _>>(),
        "ratios": figs.iter().map(|f| (f.key, value(f))).collect::<std::collections::BTreeMap<_, _>>(),
        "targets": targets.collect::<Vec<_>>(),
    });
    let own = if o.lambda {
        lambda::json_keys(o)
    } else {
        json!({"client": o.client.name(), "peer_log_level": o.peer_log_level})
    };
    if let (Some(doc), Value::Object(own)) = (doc.as_object_mut(), own) {
        doc.extend(own);
    }
    doc
}
