//! `oauth`: what bearer-token validation adds per request. Two `mcp-lambda serve` around the
//! bundled example server, one with `--auth none` and one with `--auth oauth` (keys fetched at
//! start-up from a real authorization server, npm `oidc-provider`, so every timed request is
//! the cached-keys path: parse, RS256 signature check, claims), measured in one run with
//! interleaved blocks so load drifts hit both alike. Run it with `scripts/bench-oauth`; the
//! figures go in docs/PERFORMANCE.md ("OAuth").
//!
//! Contract: `--iterations` timed `tools/call echo` per server over one keep-alive connection
//! each (sessions off, as on Lambda), after `--warmup` untimed ones; every answer must be 200
//! with the echoed text, or the run fails. Prints p50/p90/p99/mean per server and the ratio
//! `oauth / none`; `--json FILE` writes them.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::Parser;
use mcp_lambda_bench::stats::{Summary, loadavg, round3};
use mcp_lambda_testkit::{AuthServer, Log, RawClient, Ready, Server, free_port};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "What OAuth token validation adds per request (cached keys)")]
struct Args {
    /// The mcp-lambda binary
    #[arg(long, value_name = "PATH")]
    mcp_lambda: String,
    /// The bundled example server
    #[arg(long, value_name = "PATH")]
    example_server: String,
    /// Timed requests per server
    #[arg(long, default_value_t = 4000)]
    iterations: usize,
    /// Untimed requests per server first
    #[arg(long, default_value_t = 300)]
    warmup: usize,
    /// Interleaved rounds
    #[arg(long, default_value_t = 10)]
    blocks: usize,
    /// Also write the results as JSON
    #[arg(long, value_name = "FILE")]
    json: Option<String>,
}

fn start(args: &Args, listen: &str, extra: &[&str]) -> anyhow::Result<Server> {
    let mut cmd = Command::new(&args.mcp_lambda);
    cmd.args([
        "serve",
        "--listen",
        listen,
        "--sessions",
        "none",
        "--log-level",
        "warn",
    ])
    .args(extra)
    .arg("--")
    .arg(&args.example_server);
    Server::launch(
        "mcp-lambda",
        cmd,
        Ready::Accepts(listen.parse()?),
        "/mcp",
        Duration::from_secs(30),
        Log::last(200),
    )
    .context("starting mcp-lambda")
}

/// One timed `tools/call echo`.
fn call(c: &mut RawClient, token: Option<&str>, i: usize) -> anyhow::Result<Duration> {
    let body = json!({"jsonrpc": "2.0", "id": i, "method": "tools/call",
        "params": {"name": "echo", "arguments": {"message": format!("m{i}")}}})
    .to_string();
    let bearer = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2025-06-18"),
    ];
    if let Some(b) = &bearer {
        headers.push(("authorization", b));
    }
    let t = Instant::now();
    let r = c.request("POST", "/mcp", &headers, body.as_bytes())?;
    let took = t.elapsed();
    ensure!(r.status == 200, "status {}: {}", r.status, r.text());
    ensure!(
        r.text().contains(&format!("m{i}")),
        "wrong answer: {}",
        r.text()
    );
    Ok(took)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let auth = AuthServer::start(&[&resource], "mcp:tools")
        .context("oidc-provider (run scripts/install-tools)")?;
    let none_port = free_port();
    let none = start(&args, &format!("127.0.0.1:{none_port}"), &[])?;
    let oauth = start(
        &args,
        &format!("127.0.0.1:{port}"),
        &[
            "--auth",
            "oauth",
            "--oauth-issuer",
            &auth.issuer,
            "--oauth-scopes",
            "mcp:tools",
        ],
    )?;
    let token = auth.client_credentials(&resource, "mcp:tools");
    let mut a = RawClient::new(none.addr());
    let mut b = RawClient::new(oauth.addr());
    for i in 0..args.warmup {
        call(&mut a, None, i)?;
        call(&mut b, Some(&token), i)?;
    }
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    let per_block = args.iterations.div_ceil(args.blocks.max(1));
    for block in 0..args.blocks.max(1) {
        for i in 0..per_block {
            // Alternate who goes first, so neither always follows the other.
            if (block + i) % 2 == 0 {
                sa.push(call(&mut a, None, i)?);
                sb.push(call(&mut b, Some(&token), i)?);
            } else {
                sb.push(call(&mut b, Some(&token), i)?);
                sa.push(call(&mut a, None, i)?);
            }
        }
    }
    let (ra, rb) = (Summary::of(&sa)?, Summary::of(&sb)?);
    println!("load average: {}", loadavg());
    for (name, r) in [("--auth none ", &ra), ("--auth oauth", &rb)] {
        println!(
            "{name}  n={}  p50 {:.1} us  p90 {:.1} us  p99 {:.1} us  mean {:.1} us",
            r.n, r.p50, r.p90, r.p99, r.mean
        );
    }
    let ratio = |x: f64, y: f64| round3(y / x);
    println!(
        "oauth / none: p50 {:.3}x (+{:.1} us), mean {:.3}x (+{:.1} us)",
        ratio(ra.p50, rb.p50),
        rb.p50 - ra.p50,
        ratio(ra.mean, rb.mean),
        rb.mean - ra.mean
    );
    if let Some(path) = &args.json {
        let v: Value = json!({
            "none": ra.to_json(),
            "oauth": rb.to_json(),
            "ratio_p50": ratio(ra.p50, rb.p50),
            "ratio_mean": ratio(ra.mean, rb.mean),
            "load": loadavg(),
        });
        std::fs::write(path, serde_json::to_string_pretty(&v)?)?;
    }
    drop((none, oauth));
    Ok(())
}
