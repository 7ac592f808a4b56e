//! Unit tests of [`super`]: parsing and validation together, as `main` runs them.

use super::*;
use clap::Parser;

#[derive(Parser)]
struct T {
    #[command(flatten)]
    a: ServeArgs,
}

/// Parses `argv`; a value rejected by its parser comes back as that parser's [`ConfigError`].
fn try_args(argv: &[&str]) -> Result<ServeArgs, ConfigError> {
    T::try_parse_from(std::iter::once("x").chain(argv.iter().copied()))
        .map(|t| t.a)
        .map_err(|e| match config_error(&e) {
            Some(c) => err(c.field.clone(), c.message.clone()),
            None => panic!("clap rejected {argv:?} without a ConfigError: {e}"),
        })
}

fn args(argv: &[&str]) -> ServeArgs {
    try_args(argv).unwrap()
}

fn ours() -> Vec<(String, String)> {
    vec![
        ("PATH".into(), "/bin".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "s".into()),
    ]
}

/// Parses and resolves `argv` for `serve`.
fn try_serve(argv: &[&str]) -> Result<Config, ConfigError> {
    resolve(&try_args(argv)?, &ours(), Path::new("x"), Mode::Serve)
}

fn serve(argv: &[&str]) -> Config {
    try_serve(argv).unwrap()
}

#[test]
fn lambda_defaults_differ_where_lambda_needs_them() {
    let c = resolve(&args(&[]), &ours(), Path::new("x"), Mode::Lambda).unwrap();
    assert_eq!(c.sessions, Sessions::None);
    assert_eq!(c.kill_grace, Duration::from_millis(300));
    assert!(c.prewarm);
    let c = serve(&[]);
    assert_eq!(c.sessions, Sessions::Memory);
    assert_eq!(c.kill_grace, Duration::from_secs(2));
    assert!(!c.prewarm);
    let a = args(&["--lifecycle", "per-request"]);
    let c = resolve(&a, &ours(), Path::new("x"), Mode::Lambda).unwrap();
    assert!(!c.prewarm, "prewarm only applies to reuse");
}

#[test]
fn defaults_serve_the_bundled_example() {
    let c = resolve(&args(&[]), &ours(), Path::new("/x/mcp-lambda"), Mode::Serve).unwrap();
    assert_eq!(c.server.program, "/x/mcp-lambda");
    assert_eq!(c.server.args, ["example-server"]);
    assert_eq!(c.server_name, "example");
    assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.path, "/mcp");
    assert_eq!(c.lifecycle, Lifecycle::Reuse);
    assert_eq!(c.child_era, EraPolicy::Auto);
    assert_eq!(c.request_timeout, Duration::from_secs(60));
    assert_eq!(c.get_stream_max, Duration::from_secs(300));
    assert_eq!(c.session_ttl, Duration::from_secs(3600));
    assert_eq!(c.idle_timeout, Duration::from_secs(600));
    assert_eq!(c.deadline_margin, Duration::from_millis(500));
    assert_eq!(c.max_message_bytes, 6 * 1024 * 1024);
    assert_eq!(c.prewarm_versions, ["2026-07-28", "2025-11-25"]);
    assert_eq!(c.invoke_mode, InvokeMode::Buffered);
    assert!(c.metrics);
    assert_eq!(
        (c.log_format, c.log_level.as_str()),
        (LogFormat::Text, "info")
    );
    assert_eq!(c.server.env, vec![("PATH".to_string(), "/bin".to_string())]);
}

#[test]
fn typed_values_are_parsed_once_by_clap() {
    let c = serve(&[
        "--kill-grace",
        "250ms",
        "--deadline-margin",
        "0",
        "--max-message-bytes",
        "1024",
        "--child-era",
        "modern",
        "--invoke-mode",
        "RESPONSE_STREAM",
    ]);
    assert_eq!(c.kill_grace, Duration::from_millis(250));
    assert_eq!(c.deadline_margin, Duration::ZERO);
    assert_eq!(c.max_message_bytes, 1024);
    assert_eq!(c.child_era, EraPolicy::Modern);
    assert_eq!(c.invoke_mode, InvokeMode::ResponseStream);
    assert_eq!(
        serve(&["--child-era", "legacy"]).child_era,
        EraPolicy::Legacy
    );
}

#[test]
fn command_line_after_dashes_and_shell_quoted_command() {
    let c = serve(&["--", "uvx", "mcp-server-time", "--local-timezone", "UTC"]);
    assert_eq!(c.server.program, "uvx");
    assert_eq!(
        c.server.args,
        ["mcp-server-time", "--local-timezone", "UTC"]
    );
    let c = serve(&["--command", "node 'my server.js' --x=\"a b\""]);
    assert_eq!(c.server.program, "node");
    assert_eq!(c.server.args, ["my server.js", "--x=a b"]);
    let e = try_serve(&["--command", "node 'oops"]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("--command (MCP_LAMBDA_COMMAND): "),
        "{e}"
    );
    let e = try_serve(&["--command", ""]).unwrap_err();
    assert_eq!(e.to_string(), "--command (MCP_LAMBDA_COMMAND): is empty");
}

#[test]
fn invalid_values_name_their_field() {
    for (argv, field) in [
        (vec!["--listen", "nowhere"], "--listen (MCP_LAMBDA_LISTEN)"),
        (
            vec!["--request-timeout", "soon"],
            "--request-timeout (MCP_LAMBDA_REQUEST_TIMEOUT)",
        ),
        (vec!["--request-timeout", "0s"], "--request-timeout"),
        (
            vec!["--session-ttl", "500000000y"],
            "--session-ttl (MCP_LAMBDA_SESSION_TTL)",
        ),
        (vec!["--idle-timeout", "11y"], "--idle-timeout"),
        (
            vec!["--kill-grace", "0"],
            "--kill-grace (MCP_LAMBDA_KILL_GRACE)",
        ),
        (vec!["--deadline-margin", "x"], "--deadline-margin"),
        (vec!["--max-message-bytes", "1023"], "--max-message-bytes"),
        (vec!["--max-message-bytes", "6MB"], "--max-message-bytes"),
        (vec!["--env", "NOEQUALS"], "--env (MCP_LAMBDA_ENV)"),
        (vec!["--env", "=1"], "--env"),
        (vec!["--pass-env", "A=B"], "--pass-env"),
        (vec!["--allow-origin", "example.com"], "--allow-origin"),
        (
            vec!["--lifecycle", "per-session", "--sessions", "none"],
            "--lifecycle",
        ),
        (vec!["--sessions", "token"], "--session-keys"),
        (vec!["--sessions", "dynamodb"], "--session-table"),
        (vec!["--path", "mcp"], "--path (MCP_LAMBDA_PATH)"),
        (vec!["--path", "/healthz"], "--path"),
        (
            vec!["--prewarm-versions", "2099-01-01"],
            "--prewarm-versions",
        ),
        (vec!["--server", "a"], "--server"),
        (vec!["--command", "a", "--", "b"], "server"),
        (vec!["--tools", "a,,b"], "--tools (MCP_LAMBDA_TOOLS)"),
        (
            vec!["--auth", "oauth"],
            "--oauth-issuer (MCP_LAMBDA_OAUTH_ISSUER)",
        ),
        (
            vec!["--oauth-issuer", "http://as.example.com"],
            "--oauth-issuer",
        ),
        (
            vec!["--oauth-issuer", "https://as.example.com?x=1"],
            "--oauth-issuer",
        ),
        (
            vec!["--oauth-issuer", "https://as.example.com"],
            "--auth (MCP_LAMBDA_AUTH)",
        ),
        (
            vec![
                "--auth",
                "oauth",
                "--oauth-issuer",
                "https://as.example.com",
                "--listen",
                "0.0.0.0:8080",
            ],
            "--oauth-resource (MCP_LAMBDA_OAUTH_RESOURCE)",
        ),
        (
            vec!["--oauth-resource", "https://x.example.com/mcp#f"],
            "--oauth-resource",
        ),
        (
            vec!["--oauth-scopes", "a\"b"],
            "--oauth-scopes (MCP_LAMBDA_OAUTH_SCOPES)",
        ),
        (vec!["--tools", "!"], "--tools"),
        (vec!["--tools", "get x"], "--tools"),
    ] {
        let e = try_serve(&argv).unwrap_err();
        assert!(e.field.starts_with(field), "{argv:?}: {e}");
    }
}

#[test]
fn the_one_line_error_keeps_its_text() {
    let e = try_serve(&["--request-timeout", "soon"]).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "--request-timeout (MCP_LAMBDA_REQUEST_TIMEOUT): \"soon\" is not a duration ("
        ),
        "{e}"
    );
    let e = try_serve(&["--listen", "nowhere"]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "--listen (MCP_LAMBDA_LISTEN): \"nowhere\" is not an address like 127.0.0.1:8080"
    );
}

#[test]
fn env_and_pass_env_reach_the_child_and_credentials_do_not() {
    let c = serve(&["--env", "A=1", "--env", "B=x=y", "--", "s"]);
    assert!(c.server.env.contains(&("B".into(), "x=y".into())));
    let has_secret = |c: &Config| {
        c.server
            .env
            .iter()
            .any(|(k, _)| k == "AWS_SECRET_ACCESS_KEY")
    };
    assert!(!has_secret(&c));
    assert!(has_secret(&serve(&[
        "--pass-env",
        "AWS_SECRET_ACCESS_KEY",
        "--",
        "s"
    ])));
}

#[test]
fn lambda_logging_follows_the_function_configuration() {
    let mut env = ours();
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
    env.push(("AWS_LAMBDA_LOG_LEVEL".into(), "FATAL".into()));
    let c = resolve(&args(&[]), &env, Path::new("x"), Mode::Lambda).unwrap();
    assert_eq!(
        (c.log_format, c.log_level.as_str()),
        (LogFormat::Json, "error")
    );
    let c = resolve(&args(&[]), &env, Path::new("x"), Mode::Serve).unwrap();
    assert_eq!(
        (c.log_format, c.log_level.as_str()),
        (LogFormat::Text, "info")
    );
    let a = args(&["--log-format", "text", "--log-level", "debug"]);
    let c = resolve(&a, &env, Path::new("x"), Mode::Lambda).unwrap();
    assert_eq!(
        (c.log_format, c.log_level.as_str()),
        (LogFormat::Text, "debug")
    );
}

/// A file holding `json`, removed when the returned guard drops.
fn file(json: &str) -> TempFile {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let p = std::env::temp_dir().join(format!("mcpl-cfg-{}-{n}.json", std::process::id()));
    std::fs::write(&p, json).unwrap();
    TempFile(p.to_string_lossy().into_owned())
}

struct TempFile(String);

impl std::ops::Deref for TempFile {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn mcp_servers_file() {
    let p = file(
        r#"{"mcpServers":{"time":{"command":"uvx","args":["mcp-server-time"],"env":{"TZ":"UTC"},"disabled":false}}}"#,
    );
    let c = serve(&["--config", &p, "--env", "TZ=Europe/Paris"]);
    assert_eq!(c.server_name, "time");
    assert_eq!(c.server.program, "uvx");
    assert!(
        c.server.env.contains(&("TZ".into(), "Europe/Paris".into())),
        "--env wins over the entry's env"
    );
    assert!(
        serve(&["--config", &p])
            .server
            .env
            .contains(&("TZ".into(), "UTC".into()))
    );

    let p = file(r#"{"mcpServers":{"a":{"command":"x"},"b":{"command":"y"}}}"#);
    let e = try_serve(&["--config", &p]).unwrap_err();
    assert!(e.to_string().contains("defines 2 servers (a, b)"), "{e}");
    assert_eq!(
        serve(&["--config", &p, "--server", "b"]).server.program,
        "y"
    );
    let e = try_serve(&["--config", &p, "--server", "zz"]).unwrap_err();
    assert!(e.to_string().contains("\"zz\" is not in"), "{e}");

    let p = file(r#"{"mcpServers":{"r":{"url":"https://x"}}}"#);
    let e = try_serve(&["--config", &p]).unwrap_err();
    assert!(e.field.ends_with("mcpServers.r.command"), "{e}");
    let p = file(r#"{"mcpServers":{"r":{"command":"x","args":"notalist"}}}"#);
    let e = try_serve(&["--config", &p]).unwrap_err();
    assert!(e.field.ends_with("mcpServers.r"), "{e}");
    let p = file(r#"{"mcpServers":{"r":{"command":"x","type":"sse"}}}"#);
    let e = try_serve(&["--config", &p]).unwrap_err();
    assert!(e.field.ends_with("mcpServers.r.type"), "{e}");
    let p = file("{not json");
    let e = try_serve(&["--config", &p]).unwrap_err();
    assert!(e.to_string().contains("is not valid JSON"), "{e}");
}

#[test]
fn the_child_cap_follows_the_host() {
    let memory = |mb: &str| vec![("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_owned(), mb.to_owned())];
    assert_eq!(default_max_children(Mode::Serve, &memory("128")), 32);
    assert_eq!(default_max_children(Mode::Lambda, &memory("1024")), 8);
    assert_eq!(default_max_children(Mode::Lambda, &memory("128")), 4);
    assert_eq!(default_max_children(Mode::Lambda, &memory("10240")), 32);
    assert_eq!(default_max_children(Mode::Lambda, &[]), 4);
    assert_eq!(serve(&["--max-children", "3"]).max_children, 3);
    assert!(try_serve(&["--max-children", "0"]).is_err());
}

#[test]
fn oauth_settings_combine() {
    let c = serve(&[
        "--auth",
        "oauth",
        "--oauth-issuer",
        "https://as.example.com,http://127.0.0.1:9000",
        "--oauth-scopes",
        "mcp:tools, files:read",
    ]);
    let o = c.access.oauth.unwrap();
    assert_eq!(
        o.issuers,
        ["https://as.example.com", "http://127.0.0.1:9000"]
    );
    assert_eq!(o.scopes, ["mcp:tools", "files:read"]);
    assert_eq!(o.resource, None);
    assert_eq!(o.loopback_port, Some(8080));
    // A public listener needs the resource, and then derives nothing from Host.
    let c = serve(&[
        "--auth",
        "oauth",
        "--oauth-issuer",
        "https://as.example.com",
        "--listen",
        "0.0.0.0:8080",
        "--oauth-resource",
        "https://mcp.example.com/mcp",
    ]);
    let o = c.access.oauth.unwrap();
    assert_eq!(o.resource.as_deref(), Some("https://mcp.example.com/mcp"));
    assert_eq!(o.loopback_port, None);
    assert!(serve(&[]).access.oauth.is_none());
}

/// The flags and variables are a contract with users: every one is in README's options table
/// (or the Lambda table), flag and variable on the same row.
#[test]
fn every_option_is_in_the_readme() {
    use clap::CommandFactory;
    let readme = include_str!("../../../../README.md");
    let rows: Vec<&str> = readme.lines().filter(|l| l.starts_with("| `--")).collect();
    let mut missing = Vec::new();
    for arg in T::command().get_arguments() {
        let (Some(flag), Some(env)) = (arg.get_long(), arg.get_env()) else {
            continue;
        };
        let env = env.to_string_lossy();
        let flag = format!("`--{flag}");
        if !rows
            .iter()
            .any(|r| r.contains(&flag) && r.contains(env.as_ref()))
        {
            missing.push(format!("{flag}` / {env}"));
        }
    }
    assert!(missing.is_empty(), "not in README's tables: {missing:?}");
}
