//! The table, the ratios that matter and the PASS/MISS verdicts — on stdout and as JSON.
//!
//! Contract: ratios are computed only from modes measured in this run; a ratio whose inputs
//! did not run is left out (never guessed). Targets: reuse adds ≤ 500 µs at p50 over the bare
//! initialized child; per-request p50 ≤ 1.03 × spawn-floor p50; supergateway p50 / reuse p50
//! > 1; wrapper RSS ≤ 10 MB (10⁶ bytes) after each lifecycle's run.

use serde_json::{Value, json};

use crate::Options;
use crate::modes::{Machine, Results, Row};
use crate::servers::Rss;
use crate::stats::{round1, round3};

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

/// 1 MB = 10⁶ bytes.
pub(crate) const MB: f64 = 1e6;

fn figures(r: &Results) -> Vec<Figure> {
    let mut out = Vec::new();
    let p50 = |m: &str| r.get(m).map(|s| s.p50);
    if let (Some(reuse), Some(bare)) = (p50("reuse"), p50("bare-initialized")) {
        let added = reuse - bare;
        out.push(Figure {
            key: "reuse_added_p50_us",
            label: "reuse p50 − bare-initialized p50".into(),
            value: added,
            unit: "µs",
            target: Some(("≤ 500 µs", added <= 500.0)),
        });
        out.push(Figure {
            key: "reuse_over_bare_p50",
            label: "reuse p50 / bare-initialized p50".into(),
            value: reuse / bare,
            unit: "×",
            target: None,
        });
    }
    if let (Some(reuse), Some(h), Some(bare)) =
        (p50("reuse"), p50("healthz-raw"), p50("bare-initialized"))
    {
        out.push(Figure {
            key: "reuse_own_work_p50_us",
            label: "≈ wrapper's own work: reuse − healthz − bare (p50s)".into(),
            value: reuse - h - bare,
            unit: "µs",
            target: None,
        });
    }
    if let (Some(sse), Some(json)) = (p50("reuse"), p50("reuse-json")) {
        out.push(Figure {
            key: "reuse_over_reuse_json_p50",
            label: "reuse p50 / reuse-json p50 (cost of a stream-capable answer)".into(),
            value: sse / json,
            unit: "×",
            target: None,
        });
    }
    if let (Some(modern), Some(reuse)) = (p50("reuse-modern"), p50("reuse")) {
        out.push(Figure {
            key: "reuse_modern_over_reuse_p50",
            label: "reuse-modern p50 / reuse p50 (2026-07-28 client, era translation)".into(),
            value: modern / reuse,
            unit: "×",
            target: None,
        });
        out.push(Figure {
            key: "reuse_modern_added_p50_us",
            label: "reuse-modern p50 − reuse p50".into(),
            value: modern - reuse,
            unit: "µs",
            target: None,
        });
    }
    if let (Some(pr), Some(floor)) = (p50("per-request"), p50("spawn-floor")) {
        let ratio = pr / floor;
        out.push(Figure {
            key: "per_request_over_spawn_floor_p50",
            label: "per-request p50 / spawn-floor p50".into(),
            value: ratio,
            unit: "×",
            target: Some(("≤ 1.03", ratio <= 1.03)),
        });
        out.push(Figure {
            key: "per_request_added_p50_us",
            label: "per-request p50 − spawn-floor p50".into(),
            value: pr - floor,
            unit: "µs",
            target: None,
        });
    }
    if let (Some(pr), Some(floor)) = (p50("per-request-idle"), p50("spawn-floor")) {
        let ratio = pr / floor;
        out.push(Figure {
            key: "per_request_idle_over_spawn_floor_p50",
            label: "per-request-idle p50 / spawn-floor p50".into(),
            value: ratio,
            unit: "×",
            target: Some(("≤ 1.03", ratio <= 1.03)),
        });
        out.push(Figure {
            key: "per_request_idle_added_p50_us",
            label: "per-request-idle p50 − spawn-floor p50".into(),
            value: pr - floor,
            unit: "µs",
            target: None,
        });
    }
    if let (Some(sg), Some(reuse)) = (p50("supergateway"), p50("reuse")) {
        let ratio = sg / reuse;
        out.push(Figure {
            key: "supergateway_over_reuse_p50",
            label: "supergateway p50 / reuse p50".into(),
            value: ratio,
            unit: "×",
            target: Some(("> 1 (faster than the peer)", ratio > 1.0)),
        });
    }
    if let (Some(sg), Some(bare)) = (p50("supergateway"), p50("bare-initialized")) {
        out.push(Figure {
            key: "supergateway_added_p50_us",
            label: "supergateway p50 − bare-initialized p50".into(),
            value: sg - bare,
            unit: "µs",
            target: None,
        });
    }
    let cpu = |m: &str| r.rows.iter().find(|x| x.mode == m)?.server_cpu_us;
    if let (Some(sg), Some(reuse)) = (cpu("supergateway"), cpu("reuse")) {
        out.push(Figure {
            key: "supergateway_over_reuse_cpu",
            label: "server CPU per request: supergateway / reuse".into(),
            value: sg / reuse,
            unit: "×",
            target: None,
        });
    }
    for (what, key) in [
        ("mcp-lambda after reuse", "rss_reuse_mb"),
        ("mcp-lambda after per-request", "rss_per_request_mb"),
    ] {
        if let Some(rss) = r.rss_of(what) {
            let mb = rss.current as f64 / MB;
            out.push(Figure {
                key,
                label: format!("RSS {what} (peak {:.1} MB)", rss.peak as f64 / MB),
                value: mb,
                unit: "MB",
                target: Some(("≤ 10 MB", mb <= 10.0)),
            });
        }
    }
    if let Some(rss) = r.rss_of("supergateway (node)") {
        out.push(Figure {
            key: "rss_supergateway_mb",
            label: format!("RSS supergateway node process (peak {:.1} MB)", {
                rss.peak as f64 / MB
            }),
            value: rss.current as f64 / MB,
            unit: "MB",
            target: None,
        });
    }
    out
}

/// Prints the table and the ratios to stdout.
pub(crate) fn print(o: &Options, r: &Results) {
    print_machine(&r.machine);
    if let Some(b) = &o.build_info {
        println!("build: {b}");
    }
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

/// The machine and its load, after a blank line.
pub(crate) fn print_machine(m: &Machine) {
    println!();
    println!(
        "machine: {} CPUs ({}), Linux {}; load average before {} / after {}",
        m.cpus, m.cpu_model, m.kernel, m.load_before, m.load_after
    );
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
            .map(|c| format!("{c:.1}"))
            .unwrap_or_else(|| "-".into());
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
pub(crate) fn rows_to_json(rows: &[Row]) -> serde_json::Map<String, Value> {
    rows.iter()
        .map(|row| {
            let mut v = row.summary.to_json();
            if let (Some(cpu), Some(obj)) = (row.server_cpu_us, v.as_object_mut()) {
                obj.insert("server_cpu_us_per_request".into(), json!(round1(cpu)));
            }
            (row.mode.to_owned(), v)
        })
        .collect()
}

/// The figures as (`ratios` object, `targets` list).
pub(crate) fn figures_to_json(figs: &[Figure]) -> (serde_json::Map<String, Value>, Vec<Value>) {
    let ratios = figs
        .iter()
        .map(|f| {
            let v = if f.unit == "×" {
                round3(f.value)
            } else {
                round1(f.value)
            };
            (f.key.to_owned(), json!(v))
        })
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
pub(crate) fn rss_to_json(rss: &[(&'static str, Rss)]) -> serde_json::Map<String, Value> {
    rss.iter()
        .map(|(what, rss)| {
            (
                (*what).to_owned(),
                json!({
                    "vm_rss_mb": round3(rss.current as f64 / MB),
                    "vm_hwm_mb": round3(rss.peak as f64 / MB),
                    "rss_anon_mb": round3(rss.anon as f64 / MB),
                }),
            )
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
    let modes = rows_to_json(&r.rows);
    let rss = rss_to_json(&r.rss);
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
        "modes": modes,
        "rss": rss,
        "ratios": ratios,
        "targets": targets,
    })
}
