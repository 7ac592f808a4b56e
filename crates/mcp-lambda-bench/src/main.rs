//! `mcp-lambda-bench`: per-request latency of a bare stdio MCP server vs the same server behind
//! `mcp-lambda serve` (lifecycles `reuse` and `per-request`) vs npm `supergateway`, plus the
//! HTTP client's own floor and the wrappers' resident memory — all in one run, so every ratio
//! compares numbers taken on the same machine at the same time. With `--lambda` it measures
//! `mcp-lambda` as a Lambda custom runtime instead ([`lambda`]: cold start with and without
//! prewarm, first and warm invocations, RSS, binary size) against a stand-in Runtime API.
//!
//! Contract: run by `scripts/bench`, which builds with the `bench-fast` profile and passes the
//! binaries' paths. Every mode times one request from the client's side (write → last response
//! byte read); warm-up requests are not recorded; every answer is checked to be a successful tool
//! result (an error is never timed as work). Prints a table (p50/p90/p99/mean/n in µs), the
//! ratios with PASS/MISS per target, and with `--json FILE` writes the same as JSON. Exits
//! non-zero only when a mode could not be run, never because a target was missed.

mod http;
mod lambda;
mod modes;
mod report;
mod runtime_api;
mod servers;
mod stats;
mod stdio;
mod target;

use anyhow::{Context, bail};

use crate::http::Kind;
use crate::target::Target;

/// The protocol version every client in the benchmark speaks.
pub(crate) const PROTOCOL_VERSION: &str = "2025-06-18";

const USAGE: &str = "\
usage: mcp-lambda-bench --mcp-lambda PATH [--example-server PATH] [--time-server PATH]
                        [--supergateway PATH] [--child example|time] [--iterations N]
                        [--spawn-iterations N] [--warmup N] [--blocks N] [--client raw|ureq]
                        [--modes LIST] [--wrapper-log-level LEVEL] [--peer-log-level LEVEL]
                        [--json FILE]
       mcp-lambda-bench --lambda --mcp-lambda PATH [--example-server PATH] [--time-server PATH]
                        [--child example|time] [--cold-runs N] [--lambda-metrics true|false]
                        [--release-binary PATH] [--build-info TEXT] [--iterations N] [--spawn-iterations N]
                        [--warmup N] [--blocks N] [--wrapper-log-level LEVEL] [--json FILE]

  --iterations N          timed requests per call mode (default 2000)
  --spawn-iterations N    timed requests per spawn mode: spawn-floor, per-request
                          (default 100 for example, 20 for time)
  --warmup N              untimed requests before each call mode (default min(200, N/10), >= 20)
  --blocks N              interleave the modes in N rounds, each doing 1/N of every mode's
                          requests, so load drifts on a shared host hit all modes alike (default 10)
  --client raw|ureq       HTTP client for the MCP modes (default raw; healthz measures both)
  --modes LIST            comma-separated subset of: bare,spawn,reuse,reuse-json,reuse-modern,per-request,
                          per-request-idle,supergateway,healthz (default all)
  --wrapper-log-level L   mcp-lambda --log-level (default info, its own default)
  --peer-log-level L      supergateway --logLevel: debug|info|none (default info, its default)
  --json FILE             also write the results as JSON

  --lambda                measure mcp-lambda as a Lambda custom runtime against a stand-in
                          Runtime API instead of the serve modes (--modes, --client and
                          supergateway do not apply): cold start with prewarm off and on, first
                          invocation, warm reuse (--iterations) and per-request
                          (--spawn-iterations) invocations, RSS, binary sizes
  --cold-runs N           cold starts per prewarm setting and first-event version (default 20)
  --lambda-metrics B      MCP_LAMBDA_METRICS for the runtime: true (Lambda's default) or false
  --release-binary PATH   also report the size of this (stripped release) binary
  --build-info TEXT       what was built (e.g. the commit), printed and kept in the JSON";

/// Parsed command line.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) mcp_lambda: String,
    pub(crate) supergateway: Option<String>,
    pub(crate) target: Target,
    pub(crate) iterations: usize,
    pub(crate) spawn_iterations: usize,
    pub(crate) warmup: usize,
    pub(crate) blocks: usize,
    pub(crate) client: Kind,
    pub(crate) modes: Vec<String>,
    pub(crate) wrapper_log_level: String,
    pub(crate) peer_log_level: String,
    pub(crate) json: Option<String>,
    /// Run the Lambda benchmark instead of the serve modes.
    pub(crate) lambda: bool,
    /// Lambda: cold runs per prewarm setting and first-event version.
    pub(crate) cold_runs: usize,
    /// Lambda: `MCP_LAMBDA_METRICS`.
    pub(crate) lambda_metrics: bool,
    /// A binary whose size is reported (the stripped release build).
    pub(crate) release_binary: Option<String>,
    /// What was built (e.g. the commit), printed and written to the JSON.
    pub(crate) build_info: Option<String>,
}

impl Options {
    /// Whether mode `m` was asked for.
    pub(crate) fn wants(&self, m: &str) -> bool {
        self.modes.iter().any(|x| x == m)
    }
}

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

fn parse_args(args: impl Iterator<Item = String>) -> anyhow::Result<Options> {
    let mut mcp_lambda = None;
    let mut example = None;
    let mut time = None;
    let mut supergateway = None;
    let mut child = "example".to_owned();
    let mut iterations = 2000usize;
    let mut spawn_iterations = None;
    let mut warmup = None;
    let mut blocks = 10usize;
    let mut client = Kind::Raw;
    let mut modes: Vec<String> = ALL_MODES.iter().map(|s| (*s).to_owned()).collect();
    let mut wrapper_log_level = "info".to_owned();
    let mut peer_log_level = "info".to_owned();
    let mut json = None;
    let mut lambda = false;
    let mut cold_runs = 20usize;
    let mut lambda_metrics = true;
    let mut release_binary = None;
    let mut build_info = None;

    let mut args = args.peekable();
    while let Some(flag) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{flag} needs a value\n\n{USAGE}"))
        };
        match flag.as_str() {
            "--mcp-lambda" => mcp_lambda = Some(value()?),
            "--example-server" => example = Some(value()?),
            "--time-server" => time = Some(value()?),
            "--supergateway" => supergateway = Some(value()?),
            "--child" => child = value()?,
            "--iterations" => iterations = value()?.parse().context("--iterations")?,
            "--spawn-iterations" => {
                spawn_iterations = Some(value()?.parse().context("--spawn-iterations")?)
            }
            "--warmup" => warmup = Some(value()?.parse().context("--warmup")?),
            "--blocks" => blocks = value()?.parse().context("--blocks")?,
            "--client" => {
                client = match value()?.as_str() {
                    "raw" => Kind::Raw,
                    "ureq" => Kind::Ureq,
                    other => bail!("--client: {other:?} is not raw or ureq"),
                }
            }
            "--modes" => {
                modes = value()?
                    .split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect();
                if let Some(bad) = modes.iter().find(|m| !ALL_MODES.contains(&m.as_str())) {
                    bail!(
                        "--modes: unknown mode {bad:?} (known: {})",
                        ALL_MODES.join(",")
                    );
                }
            }
            "--wrapper-log-level" => wrapper_log_level = value()?,
            "--peer-log-level" => peer_log_level = value()?,
            "--json" => json = Some(value()?),
            "--lambda" => lambda = true,
            "--cold-runs" => cold_runs = value()?.parse().context("--cold-runs")?,
            "--lambda-metrics" => {
                lambda_metrics = match value()?.as_str() {
                    "true" | "on" => true,
                    "false" | "off" => false,
                    other => bail!("--lambda-metrics: {other:?} is not true or false"),
                }
            }
            "--release-binary" => release_binary = Some(value()?),
            "--build-info" => build_info = Some(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?}\n\n{USAGE}"),
        }
    }
    let target = match child.as_str() {
        "example" => Target::example(example.context("--child example needs --example-server")?),
        "time" => Target::time(time.context("--child time needs --time-server")?),
        other => bail!("--child: {other:?} is not example or time"),
    };
    if iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    let spawn_iterations = spawn_iterations.unwrap_or(if target.name == "time" { 20 } else { 100 });
    if spawn_iterations == 0 {
        bail!("--spawn-iterations must be at least 1");
    }
    if cold_runs == 0 {
        bail!("--cold-runs must be at least 1");
    }
    let options = Options {
        mcp_lambda: mcp_lambda.context("--mcp-lambda PATH is required")?,
        supergateway,
        target,
        iterations,
        spawn_iterations,
        warmup: warmup.unwrap_or((iterations / 10).clamp(20, 200)),
        blocks: blocks.max(1),
        client,
        modes,
        wrapper_log_level,
        peer_log_level,
        json,
        lambda,
        cold_runs,
        lambda_metrics,
        release_binary,
        build_info,
    };
    if !options.lambda && options.wants("supergateway") && options.supergateway.is_none() {
        bail!("mode supergateway needs --supergateway PATH (or leave it out of --modes)");
    }
    Ok(options)
}

fn main() -> anyhow::Result<()> {
    let options = parse_args(std::env::args().skip(1))?;
    if options.lambda {
        let results = lambda::run(&options)?;
        lambda::print(&options, &results);
        if let Some(path) = &options.json {
            let doc = lambda::to_json(&options, &results);
            std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
                .with_context(|| format!("writing {path}"))?;
            eprintln!("bench: wrote {path}");
        }
        return Ok(());
    }
    let results = modes::run_all(&options)?;
    report::print(&options, &results);
    if let Some(path) = &options.json {
        let doc = report::to_json(&options, &results);
        std::fs::write(path, serde_json::to_string_pretty(&doc)? + "\n")
            .with_context(|| format!("writing {path}"))?;
        eprintln!("bench: wrote {path}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> impl Iterator<Item = String> {
        s.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn defaults_depend_on_the_child() {
        let o = parse_args(args("--mcp-lambda m --example-server e --supergateway s")).unwrap();
        assert_eq!(
            (o.iterations, o.spawn_iterations, o.warmup),
            (2000, 100, 200)
        );
        let o = parse_args(args(
            "--mcp-lambda m --time-server t --child time --modes bare,spawn --iterations 50",
        ))
        .unwrap();
        assert_eq!((o.spawn_iterations, o.warmup), (20, 20));
        assert!(o.wants("spawn") && !o.wants("reuse"));
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert!(parse_args(args("--mcp-lambda m --example-server e --modes nope")).is_err());
        assert!(parse_args(args("--mcp-lambda m --example-server e")).is_err()); // supergateway
        assert!(parse_args(args("--mcp-lambda m --child time --modes bare")).is_err());
        assert!(parse_args(args("--mcp-lambda m --example-server e --iterations 0")).is_err());
        assert!(
            parse_args(args(
                "--mcp-lambda m --example-server e --lambda --cold-runs 0"
            ))
            .is_err()
        );
    }

    #[test]
    fn lambda_options() {
        let o = parse_args(args(
            "--mcp-lambda m --example-server e --lambda --cold-runs 5 --lambda-metrics false --release-binary r",
        ))
        .unwrap();
        assert!(o.lambda && !o.lambda_metrics);
        assert_eq!((o.cold_runs, o.release_binary.as_deref()), (5, Some("r")));
    }
}
