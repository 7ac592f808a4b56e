//! `mcp-lambda doctor`: will this server survive Lambda? Found before deploying.
//!
//! Contract: starts the configured server the way the function would (the same command, the
//! same allow-listed environment, the same working directory), probes its era with
//! `server/discover` (as the runtime does), initializes an initialize-era server, lists its
//! tools, prompts and resources (first page each, as its capabilities offer), calls one tool
//! only when asked (`--call TOOL ARGS`), then closes its stdin and stops it. Reported: spawn →
//! first answer, initialize and list times, peak RSS, stderr lines, protocol era, and findings:
//! - **problems**: a command that downloads packages at run time (`npx -y`, `uvx`, `pipx run`,
//!   `npm exec`, `bunx`, `pnpm dlx`); files created or changed in the working directory (only
//!   `/tmp` is writable on Lambda); a tool whose `inputSchema` is not an object schema or not
//!   valid JSON Schema in shape; a failing `--call`; an initialize slower than 10 s (clients give
//!   up);
//! - **warnings**: an interpreter `provided.al2023` lacks (use the layer on a managed runtime, or
//!   the container image); static AWS credentials handed to the server; what Bedrock AgentCore
//!   Gateway would change in a tool's shape (the `agentcore-schema` rules); tool names outside
//!   `[A-Za-z0-9_.-]{1,128}`; stderr output (logged, but noise costs CloudWatch money).
//!
//! - **notes** (exit status unaffected): validation keywords AgentCore Gateway drops.
//!
//! Exit status: 0 nothing found, 1 problems or warnings, 2 the server cannot be started or does
//! not answer. `--json` prints one JSON object instead of the table.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use mcp_lambda_core::ServerCommand;
use serde_json::{Value, json};

/// How long the era probe may take before the server counts as initialize-era (the runtime's).
const PROBE_WITHIN: Duration = Duration::from_secs(5);
/// How long any other answer may take.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);
/// An initialize slower than this loses clients.
const SLOW_INITIALIZE: Duration = Duration::from_secs(10);

/// What `doctor` found: timings, figures and findings.
#[derive(Default)]
struct Report {
    timings: BTreeMap<&'static str, f64>,
    era: Option<&'static str>,
    server: Option<String>,
    tools: usize,
    prompts: Option<usize>,
    resources: Option<usize>,
    peak_rss_kb: Option<u64>,
    stderr_lines: usize,
    problems: Vec<String>,
    warnings: Vec<String>,
    /// Informational: changes that lose nothing a client relies on (exit status unaffected).
    notes: Vec<String>,
    call: Option<Value>,
}

/// Runs the checks on `server` (see the module docs); `call`: a tool and its arguments.
pub(crate) fn run(
    server: &ServerCommand,
    call: Option<(String, Value)>,
    json_out: bool,
) -> ExitCode {
    let mut report = Report::default();
    check_command(server, &mut report);
    let cwd = server
        .cwd
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let before = listing(&cwd);
    let outcome = exercise(server, &cwd, call, &mut report);
    let after = listing(&cwd);
    let written: Vec<&String> = after
        .iter()
        .filter(|(name, at)| before.get(*name) != Some(at))
        .map(|(name, _)| name)
        .collect();
    if !written.is_empty() {
        let names: Vec<&str> = written.iter().map(|s| s.as_str()).collect();
        report.problems.push(format!(
            "wrote to its working directory ({}): on Lambda it is read-only; point the server at /tmp",
            names.join(", ")
        ));
    }
    let status = match outcome {
        Err(why) => {
            report.problems.push(why);
            2
        }
        Ok(()) if report.problems.is_empty() && report.warnings.is_empty() => 0,
        Ok(()) => 1,
    };
    if json_out {
        println!("{}", to_json(&report, status));
    } else {
        print!("{}", to_table(&report, status));
    }
    ExitCode::from(status)
}

/// Findings from the command line alone.
fn check_command(server: &ServerCommand, report: &mut Report) {
    let program = Path::new(&server.program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(&server.program)
        .to_owned();
    let args: Vec<&str> = server.args.iter().map(String::as_str).collect();
    let has = |a: &str| args.contains(&a);
    let downloads = match program.as_str() {
        "npx" => has("-y") || has("--yes"),
        "uvx" | "bunx" => true,
        "pipx" => has("run"),
        "npm" => has("exec"),
        "pnpm" => has("dlx"),
        "uv" => has("tool") && has("run"),
        _ => false,
    };
    if downloads {
        report.problems.push(format!(
            "`{program}` downloads packages at run time: on every cold start, from inside the function (slow, and it fails without internet access); install the server into the package instead"
        ));
    }
    let interpreter = [
        "python", "node", "npx", "npm", "uv", "uvx", "deno", "bun", "ruby", "java",
    ]
    .into_iter()
    .find(|i| {
        program == *i
            || program.starts_with(&format!("{i}3"))
            || program.starts_with(&format!("{i}."))
    });
    if let Some(i) = interpreter {
        report.warnings.push(format!(
            "`{program}` needs {i}'s runtime, which provided.al2023 lacks: deploy on a managed runtime with the mcp-lambda layer (python3.13, nodejs22.x) or as the container image (docs/PACKAGING.md)"
        ));
    }
    let static_keys: Vec<&str> = server
        .env
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| {
            matches!(
                *k,
                "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" | "AWS_SESSION_TOKEN"
            )
        })
        .collect();
    if !static_keys.is_empty() {
        report.warnings.push(format!(
            "the server is given {}: on Lambda these are the function role's short-lived credentials; grant the role what the server needs instead of passing keys",
            static_keys.join(", ")
        ));
    }
}

/// File names in `dir` (and one level below) with their modification times.
fn listing(dir: &Path) -> BTreeMap<String, Option<SystemTime>> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = dirs.pop() {
        for e in std::fs::read_dir(&d)
            .into_iter()
            .flatten()
            .flatten()
            .take(10_000)
        {
            let path = e.path();
            let meta = e.metadata().ok();
            let name = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .display()
                .to_string();
            if meta.as_ref().is_some_and(|m| m.is_dir()) {
                if depth == 0 {
                    dirs.push((path, 1));
                }
                continue;
            }
            out.insert(name, meta.and_then(|m| m.modified().ok()));
        }
    }
    out
}

/// The running server: its stdin, its answers (one JSON line each) and its stderr line count.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    answers: mpsc::Receiver<Value>,
    stderr: mpsc::Receiver<String>,
    next: u64,
}

impl Session {
    fn start(server: &ServerCommand, cwd: &Path) -> Result<Session, String> {
        let mut child = Command::new(&server.program)
            .args(&server.args)
            .env_clear()
            .envs(server.env.iter().map(|(k, v)| (k, v)))
            .current_dir(cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", server.program))?;
        let stdin = child.stdin.take();
        let (tx, answers) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(Result::ok) {
                    if let Ok(v) = serde_json::from_str::<Value>(&line)
                        && tx.send(v).is_err()
                    {
                        return;
                    }
                }
            });
        }
        let (etx, stderr) = mpsc::channel();
        if let Some(err) = child.stderr.take() {
            std::thread::spawn(move || {
                for line in BufReader::new(err).lines().map_while(Result::ok) {
                    if etx.send(line).is_err() {
                        return;
                    }
                }
            });
        }
        Ok(Session {
            child,
            stdin,
            answers,
            stderr,
            next: 1,
        })
    }

    fn send(&mut self, msg: &Value) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{msg}")
            .and_then(|()| stdin.flush())
            .map_err(|e| format!("the server closed its stdin ({e})"))
    }

    /// Sends a request and waits for its answer (anything else it sends is skipped).
    fn ask(&mut self, method: &str, params: Value, within: Duration) -> Result<Value, String> {
        let id = self.next;
        self.next += 1;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}))?;
        let until = Instant::now() + within;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.answers.recv_timeout(left) {
                Ok(v) if v.get("id") == Some(&json!(id)) => return Ok(v),
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("no answer to {method} within {within:?}"));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map(|s| s.to_string()).unwrap_or_default();
                    return Err(format!(
                        "the server exited ({status}) before answering {method}"
                    ));
                }
            }
        }
    }

    /// Peak resident memory (kB), from /proc.
    fn peak_rss_kb(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// Closes stdin, waits up to 2 s for the server to exit, then kills it; returns the stderr
    /// lines it wrote.
    fn stop(mut self) -> Vec<String> {
        drop(self.stdin.take());
        let until = Instant::now() + Duration::from_secs(2);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(20));
        self.stderr.try_iter().collect()
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e4).round() / 10.0
}

/// The modern envelope of a 2026-07-28 request.
fn modern(params: Value) -> Value {
    let mut p = params;
    p["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "mcp-lambda-doctor", "version": env!("CARGO_PKG_VERSION")}
    });
    p
}

/// Starts, probes, initializes, lists and (if asked) calls; `Err` when the server cannot be
/// started or does not answer.
fn exercise(
    server: &ServerCommand,
    cwd: &Path,
    call: Option<(String, Value)>,
    report: &mut Report,
) -> Result<(), String> {
    let t0 = Instant::now();
    let mut s = Session::start(server, cwd)?;
    let result = converse(&mut s, t0, call, report);
    report.peak_rss_kb = s.peak_rss_kb();
    let stderr = s.stop();
    report.stderr_lines = stderr.len();
    if !stderr.is_empty() {
        report.warnings.push(format!(
            "{} stderr line(s), e.g. {:?}: each becomes a CloudWatch log line",
            stderr.len(),
            stderr[0].chars().take(120).collect::<String>()
        ));
    }
    result
}

fn converse(
    s: &mut Session,
    t0: Instant,
    call: Option<(String, Value)>,
    report: &mut Report,
) -> Result<(), String> {
    // As the runtime probes: no answer within the probe's time means an initialize-era server.
    let discover = match s.ask("server/discover", modern(json!({})), PROBE_WITHIN) {
        Ok(v) => {
            report
                .timings
                .insert("spawn_to_first_answer_ms", ms(t0.elapsed()));
            v
        }
        Err(e) if e.starts_with("no answer") => Value::Null,
        Err(e) => return Err(e),
    };
    let modern_era = discover["result"]["supportedVersions"]
        .as_array()
        .is_some_and(|v| v.iter().any(|x| x == "2026-07-28"));
    let capabilities = if modern_era {
        report.era = Some("2026-07-28");
        report.server = discover["result"]["_meta"]["io.modelcontextprotocol/serverInfo"]["name"]
            .as_str()
            .map(str::to_owned);
        discover["result"]["capabilities"].clone()
    } else {
        report.era = Some("initialize era");
        let t = Instant::now();
        let init = s.ask(
            "initialize",
            json!({"protocolVersion": "2025-11-25", "capabilities": {},
                "clientInfo": {"name": "mcp-lambda-doctor", "version": env!("CARGO_PKG_VERSION")}}),
            ANSWER_WITHIN,
        )?;
        let took = t.elapsed();
        report.timings.insert("initialize_ms", ms(took));
        let result = init
            .get("result")
            .ok_or_else(|| format!("initialize failed: {}", init["error"]))?;
        s.send(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))?;
        report.server = result["serverInfo"]["name"].as_str().map(str::to_owned);
        if took > SLOW_INITIALIZE {
            report.problems.push(format!(
                "initialize took {took:?}: clients time out (and the first invocation pays it)"
            ));
        }
        result["capabilities"].clone()
    };
    report.timings.insert("ready_ms", ms(t0.elapsed()));
    let params = |p: Value| if modern_era { modern(p) } else { p };
    for (method, member, cap) in [
        ("tools/list", "tools", "tools"),
        ("prompts/list", "prompts", "prompts"),
        ("resources/list", "resources", "resources"),
    ] {
        if capabilities.get(cap).is_none() {
            continue;
        }
        let t = Instant::now();
        let a = s.ask(method, params(json!({})), ANSWER_WITHIN)?;
        report.timings.insert(
            match method {
                "tools/list" => "tools_list_ms",
                "prompts/list" => "prompts_list_ms",
                _ => "resources_list_ms",
            },
            ms(t.elapsed()),
        );
        let Some(items) = a["result"][member].as_array() else {
            report
                .problems
                .push(format!("{method} failed: {}", a["error"]));
            continue;
        };
        match member {
            "tools" => {
                report.tools = items.len();
                check_tools(items, report);
            }
            "prompts" => report.prompts = Some(items.len()),
            _ => report.resources = Some(items.len()),
        }
    }
    if let Some((name, arguments)) = call {
        let t = Instant::now();
        let a = s.ask(
            "tools/call",
            params(json!({"name": name, "arguments": arguments})),
            ANSWER_WITHIN,
        )?;
        report.timings.insert("call_ms", ms(t.elapsed()));
        if a.get("error").is_some() || a["result"]["isError"] == true {
            report
                .problems
                .push(format!("tools/call {name} failed: {a}"));
        }
        report.call = Some(a);
    }
    Ok(())
}

/// Schema, name and AgentCore findings for a `tools/list` page.
fn check_tools(tools: &[Value], report: &mut Report) {
    for tool in tools {
        let name = tool["name"].as_str().unwrap_or("(no name)");
        let name_ok = (1..=128).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !name_ok {
            report.warnings.push(format!(
                "tool {name:?}: names should be 1–128 characters of A-Z a-z 0-9 _ - . (clients refuse others)"
            ));
        }
        let schema = &tool["inputSchema"];
        if schema.get("type").and_then(Value::as_str) != Some("object") {
            report.problems.push(format!(
                "tool {name:?}: inputSchema must be a JSON Schema object with \"type\": \"object\" (MCP clients refuse the tool), got {schema}"
            ));
            continue;
        }
        if let Err(why) = schema_shape(schema, 0) {
            report.problems.push(format!(
                "tool {name:?}: inputSchema is not valid JSON Schema: {why}"
            ));
        }
    }
    let (_, notes) = mcp_lambda_runtime::agentcore::tool_definitions(tools);
    for n in notes {
        // Dropped validation keywords (`additionalProperties`, `$schema`, …) cost nothing but
        // strictness: a note. Changed shapes (unions cut, refs unresolved, names refused): a
        // warning.
        let to = if n.contains(": dropped ") {
            &mut report.notes
        } else {
            &mut report.warnings
        };
        to.push(format!("AgentCore Gateway: {n}"));
    }
}

/// The JSON Schema 2020-12 meta-schema's shape rules for the keywords clients rely on.
fn schema_shape(schema: &Value, depth: usize) -> Result<(), String> {
    const TYPES: [&str; 7] = [
        "null", "boolean", "object", "array", "number", "string", "integer",
    ];
    if depth > 32 {
        return Err("nested deeper than 32 levels".into());
    }
    let obj = match schema {
        Value::Bool(_) => return Ok(()),
        Value::Object(o) => o,
        other => {
            return Err(format!(
                "a schema must be an object or a boolean, got {other}"
            ));
        }
    };
    match obj.get("type") {
        None => {}
        Some(Value::String(t)) if TYPES.contains(&t.as_str()) => {}
        Some(Value::Array(ts))
            if ts
                .iter()
                .all(|t| t.as_str().is_some_and(|t| TYPES.contains(&t))) => {}
        Some(t) => return Err(format!("\"type\" {t} is not one of {TYPES:?}")),
    }
    if let Some(p) = obj.get("properties") {
        let p = p.as_object().ok_or("\"properties\" must be an object")?;
        for (k, v) in p {
            schema_shape(v, depth + 1).map_err(|e| format!("properties.{k}: {e}"))?;
        }
    }
    if let Some(r) = obj.get("required") {
        let r = r.as_array().ok_or("\"required\" must be an array")?;
        if !r.iter().all(Value::is_string) {
            return Err("\"required\" must list strings".into());
        }
    }
    for key in ["items", "additionalProperties", "not", "if", "then", "else"] {
        if let Some(v) = obj.get(key) {
            schema_shape(v, depth + 1).map_err(|e| format!("{key}: {e}"))?;
        }
    }
    for key in ["anyOf", "oneOf", "allOf", "prefixItems"] {
        if let Some(v) = obj.get(key) {
            let list = v.as_array().ok_or(format!("\"{key}\" must be an array"))?;
            for s in list {
                schema_shape(s, depth + 1).map_err(|e| format!("{key}: {e}"))?;
            }
        }
    }
    if let Some(e) = obj.get("enum")
        && !e.is_array()
    {
        return Err("\"enum\" must be an array".into());
    }
    Ok(())
}

fn to_json(r: &Report, status: u8) -> Value {
    json!({
        "status": status,
        "era": r.era,
        "server": r.server,
        "timings": r.timings,
        "tools": r.tools,
        "prompts": r.prompts,
        "resources": r.resources,
        "peak_rss_kb": r.peak_rss_kb,
        "stderr_lines": r.stderr_lines,
        "problems": r.problems,
        "warnings": r.warnings,
        "notes": r.notes,
        "call": r.call,
    })
}

fn to_table(r: &Report, status: u8) -> String {
    let mut out = String::new();
    let mut row = |k: &str, v: String| out.push_str(&format!("{k:<24} {v}\n"));
    row("server", r.server.clone().unwrap_or_else(|| "?".into()));
    row("protocol", r.era.unwrap_or("?").into());
    for (k, v) in &r.timings {
        row(k, format!("{v} ms"));
    }
    row("tools", r.tools.to_string());
    if let Some(p) = r.prompts {
        row("prompts", p.to_string());
    }
    if let Some(p) = r.resources {
        row("resources", p.to_string());
    }
    if let Some(kb) = r.peak_rss_kb {
        row("peak RSS", format!("{:.1} MB", kb as f64 / 1024.0));
    }
    row("stderr lines", r.stderr_lines.to_string());
    for p in &r.problems {
        out.push_str(&format!("problem: {p}\n"));
    }
    for w in &r.warnings {
        out.push_str(&format!("warning: {w}\n"));
    }
    for n in &r.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out.push_str(match status {
        0 => "ok: nothing found\n",
        1 => "found problems or warnings (exit 1)\n",
        _ => "the server could not be started or did not answer (exit 2)\n",
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_shapes() {
        assert!(
            schema_shape(
                &json!({"type": "object", "properties": {"a": {"type": "string"}}}),
                0
            )
            .is_ok()
        );
        assert!(
            schema_shape(
                &json!({"type": "object", "properties": {"a": {"type": "text"}}}),
                0
            )
            .is_err()
        );
        assert!(schema_shape(&json!({"type": "object", "required": "a"}), 0).is_err());
        assert!(schema_shape(&json!({"anyOf": [true, {"type": ["string", "null"]}]}), 0).is_ok());
        assert!(schema_shape(&json!({"properties": []}), 0).is_err());
    }

    #[test]
    fn commands_that_download_at_run_time_are_problems() {
        let cmd = |p: &str, a: &[&str]| ServerCommand {
            program: p.into(),
            args: a.iter().map(|s| (*s).to_owned()).collect(),
            env: vec![],
            cwd: None,
        };
        let mut r = Report::default();
        check_command(&cmd("npx", &["-y", "@x/server"]), &mut r);
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert!(r.warnings.iter().any(|w| w.contains("provided.al2023")));
        let mut r = Report::default();
        check_command(&cmd("/usr/bin/python3.13", &["-m", "x"]), &mut r);
        assert!(r.problems.is_empty());
        assert_eq!(r.warnings.len(), 1);
        let mut r = Report::default();
        check_command(&cmd("/var/task/server", &[]), &mut r);
        assert!(r.problems.is_empty() && r.warnings.is_empty());
    }
}
