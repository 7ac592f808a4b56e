//! `mcp-lambda doctor` (issue 16, item 2): a healthy server, one run through `npx -y`, one that
//! writes to its working directory, one with a broken tool schema, and a command that does not
//! exist; the exit status and the findings of each.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use mcp_lambda_tests::bin;
use serde_json::Value;

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mcpl-e2e-doctor-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `mcp-lambda doctor --json ARGS` in `cwd` with extra environment; (exit code, report).
fn doctor(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, Value) {
    let out = Command::new(bin("mcp-lambda"))
        .arg("doctor")
        .arg("--json")
        .args(args)
        .current_dir(cwd)
        .envs(env.iter().copied())
        .env_remove("AWS_LAMBDA_RUNTIME_API")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().unwrap(), report)
}

fn mentions(list: &Value, needle: &str) -> bool {
    list.as_array()
        .unwrap()
        .iter()
        .any(|p| p.as_str().unwrap().contains(needle))
}

#[test]
fn a_healthy_server_passes_with_every_timing() {
    let dir = scratch("healthy");
    let (code, r) = doctor(&dir, &["--call", "echo", r#"{"message":"hi"}"#], &[]);
    assert_eq!(code, 0, "{r:#}");
    assert_eq!(r["server"], "mcp-lambda-example-server", "{r}");
    assert_eq!(r["era"], "initialize era", "{r}");
    for t in [
        "spawn_to_first_answer_ms",
        "initialize_ms",
        "ready_ms",
        "tools_list_ms",
        "call_ms",
    ] {
        assert!(r["timings"][t].as_f64().is_some(), "{t}: {r}");
    }
    assert!(r["tools"].as_u64().unwrap() >= 5, "{r}");
    assert!(r["peak_rss_kb"].as_u64().unwrap() > 0, "{r}");
    assert_eq!(r["call"]["result"]["content"][0]["text"], "hi", "{r}");
}

#[test]
fn a_server_run_through_npx_y_is_a_problem() {
    let dir = scratch("npx");
    // An `npx` that runs the example server (no download here), first on PATH.
    let fake = dir.join("bin");
    std::fs::create_dir_all(&fake).unwrap();
    let npx = fake.join("npx");
    std::fs::write(
        &npx,
        format!(
            "#!/bin/sh\nexec {} example-server\n",
            bin("mcp-lambda").display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&npx)
        .status()
        .unwrap();
    let path = format!(
        "{}:{}",
        fake.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (code, r) = doctor(
        &dir,
        &["--", "npx", "-y", "@example/server"],
        &[("PATH", &path)],
    );
    assert_eq!(code, 1, "{r:#}");
    assert!(
        mentions(&r["problems"], "downloads packages at run time"),
        "{r:#}"
    );
    assert!(mentions(&r["warnings"], "provided.al2023"), "{r:#}");
    assert!(r["tools"].as_u64().unwrap() >= 5, "it still ran: {r}");
}

#[test]
fn writing_to_the_working_directory_is_reported() {
    let dir = scratch("writes");
    let example = bin("mcp-lambda-example-server").display().to_string();
    let script = format!("echo state > state.db; exec {example}");
    let (code, r) = doctor(&dir, &["--", "sh", "-c", &script], &[]);
    assert_eq!(code, 1, "{r:#}");
    assert!(mentions(&r["problems"], "state.db"), "{r:#}");
    assert!(mentions(&r["problems"], "read-only"), "{r:#}");
}

#[test]
fn a_broken_tool_schema_is_a_problem() {
    let dir = scratch("schema");
    let fixture = bin("fixture-server").display().to_string();
    let (code, r) = doctor(
        &dir,
        &["--env", "FIXTURE_BROKEN_SCHEMA=1", "--", &fixture],
        &[],
    );
    assert_eq!(code, 1, "{r:#}");
    assert!(
        mentions(&r["problems"], "\"bad tool\": inputSchema"),
        "{r:#}"
    );
    assert!(
        mentions(&r["warnings"], "\"bad tool\": names should be"),
        "{r:#}"
    );
}

#[test]
fn a_command_that_does_not_exist_cannot_start() {
    let dir = scratch("missing");
    let (code, r) = doctor(&dir, &["--", "/nonexistent/mcp-server"], &[]);
    assert_eq!(code, 2, "{r:#}");
    assert!(mentions(&r["problems"], "cannot start"), "{r:#}");
}
