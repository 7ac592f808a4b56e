//! `mcp-lambda-bench`: per-request latency of a bare stdio MCP server vs the same server behind
//! `mcp-lambda serve` (lifecycles `reuse` and `per-request`) vs npm `supergateway`, plus the
//! HTTP client's own floor and the wrappers' resident memory — all in one run, so every ratio
//! compares numbers taken on the same machine at the same time. With `--lambda` it measures
//! `mcp-lambda` as a Lambda custom runtime instead ([`lambda`]: cold start with and without
//! prewarm, first and warm invocations, RSS, binary size) against the test kit's stand-in
//! Runtime API.
//!
//! Contract: run by `scripts/bench`, which builds with the `bench-fast` profile and passes the
//! binaries' paths. Every mode times one request from the client's side (write → last response
//! byte read); warm-up requests are not recorded; every answer is checked to be a successful tool
//! result (an error is never timed as work). Prints a table (p50/p90/p99/mean/n in µs), the
//! ratios with PASS/MISS per target, and with `--json FILE` writes the same as JSON. Exits
//! non-zero only when a mode could not be run, never because a target was missed.

mod lambda;
mod modes;
mod report;
mod sched;
mod target;

use anyhow::{bail, ensure};
use clap::{ArgAction, Parser};
use mcp_lambda_testkit::ClientKind;

use crate::target::Target;

/// The protocol version every client in the benchmark speaks.
const PROTOCOL_VERSION: &str = "2025-06-18";

/// The modes `--modes` can name.
const ALL_MODES: [&str; 9] = [
    "bare",
    "spawn",
    "reuse",
    "reuse-json",
    "reuse-modern",
    "per-request",
    "per-request-idle",
    "supergateway",
    "healthz",
];

/// Per-request latency of a bare stdio MCP server vs mcp-lambda serve vs supergateway (or, with
/// --lambda, mcp-lambda as a Lambda custom runtime). Run it with scripts/bench.
#[derive(Debug, Parser)]
#[command(name = "mcp-lambda-bench", version)]
struct Options {
    /// The mcp-lambda binary
    #[arg(long, value_name = "PATH")]
    mcp_lambda: String,
    /// The bundled example server (for --child example)
    #[arg(long, value_name = "PATH")]
    example_server: Option<String>,
    /// PyPI mcp-server-time (for --child time)
    #[arg(long, value_name = "PATH")]
    time_server: Option<String>,
    /// npm supergateway (for mode supergateway)
    #[arg(long, value_name = "PATH")]
    supergateway: Option<String>,
    /// The stdio server: example (tool echo) or time (tool get_current_time)
    #[arg(long, default_value = "example", value_parser = ["example", "time"])]
    child: String,
    /// Timed requests per call mode
    #[arg(long, value_name = "N", default_value_t = 2000)]
    iterations: usize,
    /// Timed requests per spawn mode: spawn-floor, per-request [default: 100 for example, 20
    /// for time]
    #[arg(long = "spawn-iterations", value_name = "N")]
    spawn_iterations_arg: Option<usize>,
    /// Untimed requests before each call mode [default: min(200, N/10), at least 20]
    #[arg(long = "warmup", value_name = "N")]
    warmup_arg: Option<usize>,
    /// Interleave the modes in N rounds, each doing 1/N of every mode's requests, so load
    /// drifts on a shared host hit all modes alike
    #[arg(long, value_name = "N", default_value_t = 10)]
    blocks: usize,
    /// HTTP client for the MCP modes: raw or ureq (healthz measures both)
    #[arg(long, default_value = "raw", value_name = "raw|ureq")]
    client: ClientKind,
    /// Comma-separated subset of the modes
    #[arg(long, value_delimiter = ',', default_values = ALL_MODES, value_parser = ALL_MODES)]
    modes: Vec<String>,
    /// mcp-lambda --log-level (its own default: info)
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    wrapper_log_level: String,
    /// supergateway --logLevel: debug|info|none (its own default: info)
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    peer_log_level: String,
    /// Also write the results as JSON
    #[arg(long, value_name = "FILE")]
    json: Option<String>,
    /// Measure mcp-lambda as a Lambda custom runtime against a stand-in Runtime API instead of
    /// the serve modes (--modes, --client and supergateway do not apply): cold start with
    /// prewarm off and on, first invocation, warm reuse (--iterations) and per-request
    /// (--spawn-iterations) invocations, RSS, binary sizes
    #[arg(long)]
    lambda: bool,
    /// Cold starts per prewarm setting and first-event version
    #[arg(long, value_name = "N", default_value_t = 20)]
    cold_runs: usize,
    /// MCP_LAMBDA_METRICS for the runtime: true (Lambda's default) or false
    #[arg(long, value_name = "B", default_value = "true", action = ArgAction::Set,
          value_parser = clap::builder::BoolishValueParser::new())]
    lambda_metrics: bool,
    /// Also report the size of this (stripped release) binary
    #[arg(long, value_name = "PATH")]
    release_binary: Option<String>,
    /// What was built (e.g. the commit), printed and kept in the JSON
    #[arg(long, value_name = "TEXT")]
    build_info: Option<String>,
    /// The child and its tool call (from --child).
    #[arg(skip)]
    target: Target,
    /// --spawn-iterations, resolved.
    #[arg(skip)]
    spawn_iterations: usize,
    /// --warmup, resolved.
    #[arg(skip)]
    warmup: usize,
}

impl Options {
    /// Parses `args`, resolves the defaults that depend on other options, and checks them.
    fn parse_from_args(args: impl IntoIterator<Item = String>) -> anyhow::Result<Self> {
        let mut o = Self::try_parse_from(args).unwrap_or_else(|e| e.exit());
        o.target = match (
            o.child.as_str(),
            o.time_server.clone(),
            o.example_server.clone(),
        ) {
            ("time", Some(path), _) => Target::time(path),
            ("example", _, Some(path)) => Target::example(path),
            (child, ..) => bail!("--child {child} needs --{child}-server"),
        };
        let default_spawns = if o.child == "time" { 20 } else { 100 };
        o.spawn_iterations = o.spawn_iterations_arg.unwrap_or(default_spawns);
        o.warmup = o.warmup_arg.unwrap_or((o.iterations / 10).clamp(20, 200));
        o.blocks = o.blocks.max(1);
        ensure!(o.iterations > 0, "--iterations must be at least 1");
        ensure!(
            o.spawn_iterations > 0,
            "--spawn-iterations must be at least 1"
        );
        ensure!(o.cold_runs > 0, "--cold-runs must be at least 1");
        ensure!(
            o.lambda || !o.wants("supergateway") || o.supergateway.is_some(),
            "mode supergateway needs --supergateway PATH (or leave it out of --modes)"
        );
        Ok(o)
    }

    /// Whether mode `m` was asked for.
    fn wants(&self, m: &str) -> bool {
        self.modes.iter().any(|x| x == m)
    }
}

fn main() -> anyhow::Result<()> {
    let o = Options::parse_from_args(std::env::args())?;
    let run = if o.lambda {
        lambda::run
    } else {
        modes::run_all
    };
    let results = run(&o)?;
    report::print(&o, &results);
    if let Some(path) = &o.json {
        mcp_lambda_bench::write_json(path, &report::to_json(&o, &results))?;
        eprintln!("bench: wrote {path}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> anyhow::Result<Options> {
        let args = std::iter::once("bench").chain(s.split_whitespace());
        Options::parse_from_args(args.map(str::to_owned))
    }

    #[test]
    fn defaults_depend_on_the_child() {
        let o = parse("--mcp-lambda m --example-server e --supergateway s").unwrap();
        assert_eq!(
            (o.iterations, o.spawn_iterations, o.warmup, o.modes.len()),
            (2000, 100, 200, 9)
        );
        let o =
            parse("--mcp-lambda m --time-server t --child time --modes bare,spawn --iterations 50");
        let o = o.unwrap();
        assert_eq!((o.spawn_iterations, o.warmup), (20, 20));
        assert!(o.wants("spawn") && !o.wants("reuse"));
    }

    #[test]
    fn bad_arguments_are_refused() {
        for bad in [
            ["--modes", "nope"],
            ["--client", "curl"],
            ["--lambda-metrics", "maybe"],
        ] {
            assert!(Options::try_parse_from(["b", "--mcp-lambda", "m", bad[0], bad[1]]).is_err());
        }
        assert!(parse("--mcp-lambda m --example-server e").is_err()); // supergateway
        assert!(parse("--mcp-lambda m --child time --modes bare").is_err());
        assert!(parse("--mcp-lambda m --example-server e --iterations 0 --modes bare").is_err());
        assert!(parse("--mcp-lambda m --example-server e --lambda --cold-runs 0").is_err());
    }

    #[test]
    fn lambda_options() {
        let o =
            parse("--mcp-lambda m --example-server e --lambda --cold-runs 5 --lambda-metrics off");
        let o = o.unwrap();
        assert_eq!((o.lambda, o.lambda_metrics, o.cold_runs), (true, false, 5));
    }
}
