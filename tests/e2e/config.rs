//! Configuration errors are one clear line naming the field, with exit status 2; every option
//! is also read from its `MCP_LAMBDA_*` variable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use mcp_lambda_tests::{Mcp, Server, bin, run};
use serde_json::json;

fn fails_with(args: &[&str], env: &[(&str, &str)], needle: &str) {
    let mut cmd = Command::new(bin("mcp-lambda"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = {
        let mut s = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut s).unwrap();
        s
    };
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(2), "{args:?} {env:?}: {out}");
    let lines: Vec<&str> = out.lines().filter(|l| !l.trim().is_empty()).collect();
    // The first line says what is wrong and names the field; clap may add a usage hint below.
    assert!(
        lines[0].contains("error") && lines[0].contains(needle),
        "{args:?}: expected {needle:?} in the first line of {out}"
    );
    assert!(lines.len() <= 6, "short error, got: {out}");
}

#[test]
fn invalid_flags_and_variables_exit_2_naming_the_field() {
    fails_with(&["serve", "--lifecycle", "sometimes"], &[], "--lifecycle");
    fails_with(
        &["serve"],
        &[("MCP_LAMBDA_LIFECYCLE", "sometimes")],
        "--lifecycle",
    );
    fails_with(
        &["serve", "--request-timeout", "soon"],
        &[],
        "--request-timeout (MCP_LAMBDA_REQUEST_TIMEOUT)",
    );
    fails_with(
        &["serve"],
        &[("MCP_LAMBDA_REQUEST_TIMEOUT", "-1")],
        "MCP_LAMBDA_REQUEST_TIMEOUT",
    );
    // Absurd durations stop start-up instead of overflowing a clock on every request.
    fails_with(
        &["serve", "--session-ttl", "500000000y"],
        &[],
        "--session-ttl (MCP_LAMBDA_SESSION_TTL)",
    );
    fails_with(
        &["serve"],
        &[("MCP_LAMBDA_REQUEST_TIMEOUT", "99999999999h")],
        "--request-timeout (MCP_LAMBDA_REQUEST_TIMEOUT)",
    );
    fails_with(
        &["serve"],
        &[("MCP_LAMBDA_LISTEN", "nowhere")],
        "--listen (MCP_LAMBDA_LISTEN)",
    );
    fails_with(
        &["serve"],
        &[("MCP_LAMBDA_COMMAND", "node 'unclosed")],
        "MCP_LAMBDA_COMMAND",
    );
    fails_with(
        &["serve", "--lifecycle", "per-session", "--sessions", "none"],
        &[],
        "--lifecycle",
    );
    fails_with(
        &["serve", "--config", "/nonexistent/servers.json"],
        &[],
        "--config /nonexistent/servers.json: cannot be read",
    );
    fails_with(&["serve", "--bogus-flag"], &[], "--bogus-flag");
}

#[test]
fn mcp_servers_file_errors_name_the_entry() {
    let dir = std::env::temp_dir().join(format!("mcpl-e2e-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let two = dir.join("two.json");
    std::fs::write(
        &two,
        r#"{"mcpServers":{"a":{"command":"x"},"b":{"command":"y"}}}"#,
    )
    .unwrap();
    fails_with(
        &["serve", "--config", two.to_str().unwrap()],
        &[],
        "--server (MCP_LAMBDA_SERVER)",
    );
    let remote = dir.join("remote.json");
    std::fs::write(
        &remote,
        r#"{"mcpServers":{"r":{"url":"https://example.com/mcp"}}}"#,
    )
    .unwrap();
    fails_with(
        &["serve"],
        &[("MCP_LAMBDA_CONFIG", remote.to_str().unwrap())],
        "mcpServers.r.command",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn server_from_environment_variables_alone() {
    let example = bin("mcp-lambda-example-server")
        .to_string_lossy()
        .into_owned();
    let s = Server::start(
        &[],
        &[
            ("MCP_LAMBDA_COMMAND", &example),
            ("MCP_LAMBDA_LIFECYCLE", "per-request"),
            ("MCP_LAMBDA_PATH", "/custom"),
        ],
    );
    assert!(s.url.ends_with("/custom"), "{}", s.url);
    let mut m = Mcp::connect(&s.url, "2025-06-18", "env-config");
    let p1 = m.call_text("pid", json!({}));
    let p2 = m.call_text("pid", json!({}));
    assert_ne!(p1, p2, "per-request from MCP_LAMBDA_LIFECYCLE");
}

#[test]
fn server_from_an_mcp_servers_file() {
    let example = bin("mcp-lambda-example-server")
        .to_string_lossy()
        .into_owned();
    let dir = std::env::temp_dir().join(format!("mcpl-e2e-config-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("servers.json");
    std::fs::write(
        &file,
        json!({"mcpServers": {
            "other": {"command": "/nonexistent"},
            "example": {"command": example, "args": [], "env": {"GREETING": "from-file"}}
        }})
        .to_string(),
    )
    .unwrap();
    let s = Server::start(
        &["--config", file.to_str().unwrap(), "--server", "example"],
        &[],
    );
    let mut m = Mcp::connect(&s.url, "2025-06-18", "file-config");
    assert_eq!(m.call_text("env", json!({"name": "GREETING"})), "from-file");
    drop(s);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_lists_every_option_with_its_variable() {
    let (ok, out, _) = run(
        Command::new(bin("mcp-lambda")).args(["serve", "--help"]),
        Duration::from_secs(10),
    );
    assert!(ok);
    for v in [
        "MCP_LAMBDA_LISTEN",
        "MCP_LAMBDA_PATH",
        "MCP_LAMBDA_LIFECYCLE",
        "MCP_LAMBDA_SESSIONS",
        "MCP_LAMBDA_REQUEST_TIMEOUT",
        "MCP_LAMBDA_ALLOW_ORIGIN",
        "MCP_LAMBDA_ENV",
        "MCP_LAMBDA_PASS_ENV",
        "MCP_LAMBDA_COMMAND",
        "MCP_LAMBDA_CONFIG",
        "MCP_LAMBDA_SERVER",
    ] {
        assert!(out.contains(v), "--help mentions {v}");
    }
}
