//! `coldstart`: what a cold Lambda instance costs before its first answers, today's runtime
//! (`--baseline`) against this one, in one run. Run it with `scripts/bench-coldstart`; the
//! figures and the SVG it writes go in docs/PERFORMANCE.md ("Cold start").
//!
//! Contract, three parts, each configuration measured `--runs` times, configurations
//! interleaved run by run so load drifts hit all alike; medians reported:
//! 1. **Spawn → `initialize` answered**, the server alone (no mcp-lambda), its packages on a
//!    read-only task root (a private read-only bind mount, `unshare -rm`, as Lambda's
//!    `/var/task`): PyPI mcp-server-time without bytecode, with `PYTHONPYCACHEPREFIX` (cold:
//!    empty; warm: filled by an earlier spawn) and with bytecode compiled for its interpreter
//!    (`compileall --invalidation-mode unchecked-hash`); npm server-everything (Node 22)
//!    without and with a warm `NODE_COMPILE_CACHE`.
//! 2. **Cold instance**: the runtime started against the stand-in Runtime API, then a
//!    2025-06-18 client without sessions (Lambda's default): `initialize`, `tools/list`,
//!    `tools/call`, one invocation each. Instants from process start: first poll (end of
//!    INIT), each answer. Baseline, this build, this build with a snapshot. Servers:
//!    server-everything (initialize era) and mcp-server-time (2026-07-28).
//! 3. **Per-request `tools/call`** with mcp-server-time from the read-only task root without
//!    bytecode, on a warm instance: baseline against this build (compile cache on, as on
//!    Lambda).
//!
//! Every answer is checked (status 200, a result). `--svg FILE` draws part 2's phases per
//! configuration; `--json FILE` writes every median.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use clap::Parser;
use mcp_lambda_bench::stats::{loadavg, median, round1};
use mcp_lambda_testkit::{Function, copy_without_bytecode, function_url_event};
use serde_json::{Value, json};

#[derive(Parser)]
#[command(about = "Cold start: spawn costs, first answers of a cold instance, per-request calls")]
struct Args {
    /// This build's mcp-lambda
    #[arg(long, value_name = "PATH")]
    mcp_lambda: PathBuf,
    /// Today's mcp-lambda (the baseline)
    #[arg(long, value_name = "PATH")]
    baseline: PathBuf,
    /// The Python interpreter mcp-server-time's venv was made from
    #[arg(long, value_name = "PATH")]
    python: PathBuf,
    /// mcp-server-time's site-packages (copied to a scratch task root without bytecode)
    #[arg(long, value_name = "DIR")]
    site_packages: PathBuf,
    /// Node 22
    #[arg(long, value_name = "PATH")]
    node: PathBuf,
    /// server-everything's dist/index.js
    #[arg(long, value_name = "PATH")]
    everything: PathBuf,
    /// Scratch directory
    #[arg(long, value_name = "DIR")]
    scratch: PathBuf,
    /// Runs per configuration
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Write the cold-instance phases as an SVG chart
    #[arg(long, value_name = "FILE")]
    svg: Option<PathBuf>,
    /// Also write the medians as JSON
    #[arg(long, value_name = "FILE")]
    json: Option<PathBuf>,
}

/// A server command line: program, arguments, extra environment, read-only mount (source,
/// mount point) if any.
#[derive(Clone)]
struct Cmd {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    read_only: Option<(PathBuf, PathBuf)>,
}

impl Cmd {
    /// The command, wrapped in `unshare -rm sh -c 'mount --bind -o ro SRC MNT && exec …'`
    /// when it needs the read-only task root.
    fn command(&self, program: &Path, args: &[String]) -> Command {
        let mut c = match &self.read_only {
            Some((src, mnt)) => {
                let mut c = Command::new("unshare");
                c.args([
                    "-rm",
                    "sh",
                    "-c",
                    r#"mount --bind -o ro "$1" "$2" && shift 2 && exec "$@""#,
                    "sh",
                ])
                .arg(src)
                .arg(mnt)
                .arg(program)
                .args(args);
                c
            }
            None => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
        };
        c.env_remove("PYTHONDONTWRITEBYTECODE");
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }
}

/// Spawns `cmd` and returns spawn → its answer to `initialize`.
fn spawn_to_initialize(cmd: &Cmd) -> anyhow::Result<Duration> {
    use std::io::{BufRead, BufReader, Write};
    let t0 = Instant::now();
    let mut child = cmd
        .command(&cmd.program, &cmd.args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("spawning the server")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin.write_all(br#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}
"#)?;
    stdin.flush()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().context("stdout")?).read_line(&mut line)?;
    let took = t0.elapsed();
    // Closing stdin lets the server exit on its own, as mcp-lambda stops a child (stdin first,
    // then signals): Node writes its compile cache at exit.
    drop(stdin);
    let until = Instant::now() + Duration::from_secs(2);
    while child.try_wait()?.is_none() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    let _ = child.wait();
    ensure!(line.contains("\"result\""), "no initialize result: {line}");
    Ok(took)
}

/// `MCP_LAMBDA_ENV` for the server's variables.
fn env_list(server: &Cmd) -> String {
    server
        .env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One Function URL event (sessionless 2025-06-18 client).
fn event(body: &Value, header: bool) -> Vec<u8> {
    let raw = function_url_event(&body.to_string(), "2025-06-18", "bench");
    if header {
        return raw;
    }
    let mut v: Value = serde_json::from_slice(&raw).unwrap_or(Value::Null);
    if let Some(h) = v["headers"].as_object_mut() {
        h.remove("mcp-protocol-version");
    }
    v.to_string().into_bytes()
}

/// The JSON-RPC answer of a Function URL envelope; fails unless it is a 200 with a result.
fn checked(body: &[u8]) -> anyhow::Result<Value> {
    let env: Value = serde_json::from_slice(body)?;
    ensure!(env["statusCode"] == 200, "status: {env}");
    let a: Value = serde_json::from_str(env["body"].as_str().unwrap_or("null"))?;
    ensure!(
        a.get("result").is_some() && a["result"]["isError"] != true,
        "no result: {a}"
    );
    Ok(a)
}

/// Instants (ms after process start) of one cold instance: first poll, initialize, tools/list,
/// tools/call answered.
fn cold_instance(
    runtime: &Path,
    server: &Cmd,
    snapshot: Option<&Path>,
    call: &Value,
) -> anyhow::Result<[f64; 4]> {
    let mut command = Command::new(runtime);
    let line = std::iter::once(server.program.display().to_string())
        .chain(server.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    command
        .env("MCP_LAMBDA_COMMAND", line)
        .env("MCP_LAMBDA_LOG_LEVEL", "warn")
        .env("MCP_LAMBDA_METRICS", "false");
    if !server.env.is_empty() {
        command.env("MCP_LAMBDA_ENV", env_list(server));
    }
    if let Some(s) = snapshot {
        command.env("MCP_LAMBDA_SNAPSHOT", s);
    }
    let mut f = Function::launch(command)?;
    let (_, polled) = f.first_poll(Duration::from_secs(30))?;
    let t0 = f.started();
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"}}});
    let (_, a) = f.invoke(event(&init, false), Duration::from_secs(60))?;
    checked(&a)?;
    let t_init = t0.elapsed();
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let (_, a) = f.invoke(event(&list, true), Duration::from_secs(60))?;
    checked(&a)?;
    let t_list = t0.elapsed();
    let (_, a) = f.invoke(event(call, true), Duration::from_secs(60))?;
    checked(&a)?;
    let t_call = t0.elapsed();
    Ok([
        ms(polled.saturating_duration_since(t0)),
        ms(t_init),
        ms(t_list),
        ms(t_call),
    ])
}

/// Median per-request `tools/call` (handed out → answered) on a warm instance of `runtime`.
fn per_request_calls(runtime: &Path, server: &Cmd, call: &Value, n: usize) -> anyhow::Result<f64> {
    let line = std::iter::once(server.program.display().to_string())
        .chain(server.args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let mut command = server.command(runtime, &[]);
    command
        .env("MCP_LAMBDA_COMMAND", line)
        .env("MCP_LAMBDA_LIFECYCLE", "per-request")
        .env("MCP_LAMBDA_LOG_LEVEL", "warn")
        .env("MCP_LAMBDA_METRICS", "false");
    if !server.env.is_empty() {
        command.env("MCP_LAMBDA_ENV", env_list(server));
    }
    let mut f = Function::launch(command)?;
    f.first_poll(Duration::from_secs(30))?;
    let mut took = Vec::new();
    for i in 0..=n {
        let (d, a) = f.invoke(event(call, true), Duration::from_secs(60))?;
        checked(&a)?;
        if i > 0 {
            took.push(ms(d));
        }
    }
    Ok(median(took))
}

fn copy_tree(from: &Path, to: &Path, compile: Option<&Path>) -> anyhow::Result<()> {
    if to.exists() {
        std::fs::remove_dir_all(to)?;
    }
    copy_without_bytecode(from, to)?;
    if let Some(python) = compile {
        ensure!(
            Command::new(python)
                .args([
                    "-m",
                    "compileall",
                    "-q",
                    "-j",
                    "0",
                    "--invalidation-mode",
                    "unchecked-hash"
                ])
                .arg(to)
                .status()?
                .success(),
            "compileall"
        );
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let a = Args::parse();
    std::fs::create_dir_all(&a.scratch)?;
    let scratch = std::fs::canonicalize(&a.scratch)?;
    let plain = scratch.join("task-plain");
    let compiled = scratch.join("task-compiled");
    let mnt = scratch.join("mnt");
    std::fs::create_dir_all(&mnt)?;
    copy_tree(&a.site_packages, &plain, None)?;
    copy_tree(&a.site_packages, &compiled, Some(&a.python))?;
    eprintln!(
        "bench: coldstart, {} runs per configuration, load {}",
        a.runs,
        loadavg()
    );

    let time = |task: &Path, env: &[(&str, String)]| {
        let mut e: Vec<(String, String)> = vec![("PYTHONPATH".into(), mnt.display().to_string())];
        e.extend(env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        Cmd {
            program: a.python.clone(),
            args: ["-m", "mcp_server_time", "--local-timezone", "UTC"]
                .map(String::from)
                .to_vec(),
            env: e,
            read_only: Some((task.to_path_buf(), mnt.clone())),
        }
    };
    let everything = |env: &[(&str, String)]| Cmd {
        program: a.node.clone(),
        args: vec![a.everything.display().to_string(), "stdio".into()],
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        read_only: None,
    };

    // ---- part 1: spawn → initialize, the server alone
    let prefix_warm = scratch.join("pycache-warm");
    let node_cache = scratch.join("node-cache");
    let spawn_configs: Vec<(&str, Cmd)> = vec![
        (
            "mcp-server-time, no bytecode (today on Lambda)",
            time(&plain, &[]),
        ),
        (
            "mcp-server-time, PYTHONPYCACHEPREFIX warm",
            time(
                &plain,
                &[("PYTHONPYCACHEPREFIX", prefix_warm.display().to_string())],
            ),
        ),
        (
            "mcp-server-time, bytecode shipped (compileall)",
            time(&compiled, &[]),
        ),
        ("server-everything, no compile cache", everything(&[])),
        (
            "server-everything, NODE_COMPILE_CACHE warm",
            everything(&[("NODE_COMPILE_CACHE", node_cache.display().to_string())]),
        ),
    ];
    for (_, c) in &spawn_configs {
        spawn_to_initialize(c)?; // warms the caches (and the page cache)
    }
    let mut spawn_samples: Vec<Vec<f64>> = vec![Vec::new(); spawn_configs.len() + 1];
    for run in 0..a.runs {
        for (i, (_, c)) in spawn_configs.iter().enumerate() {
            spawn_samples[i].push(ms(spawn_to_initialize(c)?));
        }
        // The first spawn with an empty prefix (what the first child of an instance pays).
        let cold = scratch.join(format!("pycache-cold-{run}"));
        let c = time(
            &plain,
            &[("PYTHONPYCACHEPREFIX", cold.display().to_string())],
        );
        spawn_samples[spawn_configs.len()].push(ms(spawn_to_initialize(&c)?));
    }
    let mut names: Vec<&str> = spawn_configs.iter().map(|(n, _)| *n).collect();
    names.push("mcp-server-time, PYTHONPYCACHEPREFIX cold (first spawn)");
    println!(
        "\n## spawn → initialize answered (read-only task root), median of {} ms",
        a.runs
    );
    let mut spawn_json = serde_json::Map::new();
    for (n, s) in names.iter().zip(&spawn_samples) {
        let m = round1(median(s.clone()));
        println!("| {n} | {m} |");
        spawn_json.insert((*n).into(), json!(m));
    }

    // ---- part 2: cold instance
    let time_direct = Cmd {
        program: a.python.clone(),
        args: ["-m", "mcp_server_time", "--local-timezone", "UTC"]
            .map(String::from)
            .to_vec(),
        env: vec![("PYTHONPATH".into(), compiled.display().to_string())],
        read_only: None,
    };
    let ev = everything(&[]);
    let servers: [(&str, &Cmd, Value); 2] = [
        (
            "server-everything",
            &ev,
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"message": "hi"}}}),
        ),
        (
            "mcp-server-time",
            &time_direct,
            json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                "params": {"name": "get_current_time", "arguments": {"timezone": "UTC"}}}),
        ),
    ];
    let mut cold_rows: Vec<(String, [f64; 4])> = Vec::new();
    for (name, server, call) in &servers {
        let snap = scratch.join(format!("{name}.snapshot.json"));
        // The child's environment is an allow-list: `--env` names what it needs.
        let mut take = Command::new(&a.mcp_lambda);
        take.arg("snapshot").arg("-o").arg(&snap);
        for (k, v) in &server.env {
            take.arg("--env").arg(format!("{k}={v}"));
        }
        take.arg("--").arg(&server.program).args(&server.args);
        take.env_remove("AWS_LAMBDA_RUNTIME_API");
        ensure!(take.status()?.success(), "mcp-lambda snapshot of {name}");
        let configs: [(&str, &Path, Option<&Path>); 3] = [
            ("today", &a.baseline, None),
            ("this build", &a.mcp_lambda, None),
            ("this build + snapshot", &a.mcp_lambda, Some(&snap)),
        ];
        let mut samples: Vec<Vec<[f64; 4]>> = vec![Vec::new(); configs.len()];
        for _ in 0..a.runs {
            for (i, (_, bin, snapshot)) in configs.iter().enumerate() {
                samples[i].push(cold_instance(bin, server, *snapshot, call)?);
            }
        }
        println!(
            "\n## cold instance, {name}: ms after process start (median of {})",
            a.runs
        );
        println!("| configuration | first poll | initialize | tools/list | tools/call |");
        for ((label, _, _), s) in configs.iter().zip(&samples) {
            let col = |j: usize| round1(median(s.iter().map(|r| r[j]).collect()));
            let row = [col(0), col(1), col(2), col(3)];
            println!(
                "| {label} | {} | {} | {} | {} |",
                row[0], row[1], row[2], row[3]
            );
            cold_rows.push((format!("{name}: {label}"), row));
        }
    }

    // ---- part 3: per-request tools/call, Python child from a read-only task root
    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "get_current_time", "arguments": {"timezone": "UTC"}}});
    let pr_server = time(&plain, &[]);
    let mut base = Vec::new();
    let mut ours = Vec::new();
    for _ in 0..a.runs.div_ceil(2) {
        base.push(per_request_calls(&a.baseline, &pr_server, &call, 4)?);
        ours.push(per_request_calls(&a.mcp_lambda, &pr_server, &call, 4)?);
    }
    let (base, ours) = (round1(median(base)), round1(median(ours)));
    println!("\n## per-request tools/call, mcp-server-time from a read-only task root (median ms)");
    println!("| today | this build | ratio |");
    println!("| {base} | {ours} | {:.2} |", ours / base);

    if let Some(path) = &a.svg {
        std::fs::write(path, svg(&cold_rows))?;
        eprintln!("bench: wrote {}", path.display());
    }
    if let Some(path) = &a.json {
        let cold: serde_json::Map<String, Value> = cold_rows
            .iter()
            .map(|(n, r)| (n.clone(), json!({"first_poll": r[0], "initialize": r[1], "tools_list": r[2], "tools_call": r[3]})))
            .collect();
        let out = json!({"spawn_to_initialize_ms": spawn_json, "cold_instance_ms": cold,
            "per_request_call_ms": {"today": base, "this_build": ours}, "runs": a.runs});
        std::fs::write(path, serde_json::to_string_pretty(&out)?)?;
    }
    if a.runs == 0 {
        bail!("--runs 0 measures nothing");
    }
    Ok(())
}

/// Horizontal bars, one per configuration: process start → first poll → initialize answered
/// → tools/list answered → tools/call answered, to scale.
fn svg(rows: &[(String, [f64; 4])]) -> String {
    const COLORS: [&str; 4] = ["#8da0cb", "#66c2a5", "#fc8d62", "#e78ac3"];
    const PHASES: [&str; 4] = [
        "start → first poll (INIT)",
        "→ initialize answered",
        "→ tools/list answered",
        "→ tools/call answered",
    ];
    let label_w = 330.0;
    let plot_w = 620.0;
    let bar_h = 22.0;
    let top = 50.0;
    let max = rows.iter().map(|(_, r)| r[3]).fold(1.0_f64, f64::max);
    let scale = plot_w / max;
    let height = top + rows.len() as f64 * (bar_h + 10.0) + 60.0;
    let mut s = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="12">
<text x="10" y="20" font-size="14" font-weight="bold">Cold instance: ms from process start to each answer (median)</text>
"#,
        w = label_w + plot_w + 80.0
    );
    for (i, (name, r)) in rows.iter().enumerate() {
        let y = top + i as f64 * (bar_h + 10.0);
        s.push_str(&format!(
            r#"<text x="{x}" y="{ty}" text-anchor="end">{name}</text>
"#,
            x = label_w - 8.0,
            ty = y + bar_h * 0.7,
            name = name.replace('&', "&amp;").replace('<', "&lt;")
        ));
        let mut from = 0.0;
        for (j, to) in r.iter().enumerate() {
            let width = ((to - from) * scale).max(0.5);
            s.push_str(&format!(
                r#"<rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{bar_h}" fill="{c}"><title>{p}: {to} ms</title></rect>
"#,
                x = label_w + from * scale,
                c = COLORS[j],
                p = PHASES[j],
            ));
            from = from.max(*to);
        }
        s.push_str(&format!(
            r#"<text x="{x:.1}" y="{ty:.1}">{t} ms</text>
"#,
            x = label_w + from * scale + 4.0,
            ty = y + bar_h * 0.7,
            t = r[3].round()
        ));
    }
    let ly = top + rows.len() as f64 * (bar_h + 10.0) + 20.0;
    for (j, p) in PHASES.iter().enumerate() {
        let x = 10.0 + j as f64 * 230.0;
        s.push_str(&format!(
            r#"<rect x="{x}" y="{ly}" width="12" height="12" fill="{c}"/><text x="{tx}" y="{ty}">{p}</text>
"#,
            c = COLORS[j],
            tx = x + 16.0,
            ty = ly + 10.0
        ));
    }
    s.push_str("</svg>\n");
    s
}
