//! Configuration: one typed struct from the command line, `MCP_LAMBDA_*` variables and an
//! `mcpServers` file, validated once at start-up.
//!
//! Contract: every option has a flag and an environment variable (`--request-timeout` ↔
//! `MCP_LAMBDA_REQUEST_TIMEOUT`, ...), because Lambda starts the binary without arguments; the
//! flag wins. The server to run comes from, in order: the words after `--`, `--command` /
//! `MCP_LAMBDA_COMMAND` (a shell-quoted command line), `--config` / `MCP_LAMBDA_CONFIG` (a Claude
//! Desktop / Cursor `mcpServers` file, with `--server` / `MCP_LAMBDA_SERVER` choosing an entry),
//! or, when none is given, the example server bundled in this binary. Any invalid value is
//! reported as one [`ConfigError`] naming the field; `main` prints it and exits with status 2.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use mcp_lambda_core::ServerCommand;
use mcp_lambda_core::command::child_env;
use serde::Deserialize;

/// A configuration mistake, naming the field it is about.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub(crate) struct ConfigError {
    /// The flag / variable / file field.
    pub(crate) field: String,
    /// What is wrong, and what would be right.
    pub(crate) message: String,
}

fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// How children live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Lifecycle {
    /// One long-lived child shared by all clients (default).
    Reuse,
    /// A fresh child for every request.
    PerRequest,
    /// One child per `Mcp-Session-Id`.
    PerSession,
}

/// Which protocol era the wrapped server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ChildEra {
    /// Probe the first child with `server/discover` (default).
    Auto,
    /// Initialize-era server (2025-11-25 and earlier): never probed.
    Legacy,
    /// 2026-07-28 server: never initialized.
    Modern,
}

/// How the Lambda function's URL invokes it (`InvokeMode` of the Function URL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum InvokeMode {
    /// One JSON answer per invocation (default).
    #[value(alias = "BUFFERED")]
    Buffered,
    /// Response streaming: SSE answers flow as they are produced (up to 15 minutes).
    #[value(alias = "RESPONSE_STREAM", alias = "response_stream")]
    ResponseStream,
}

/// Where sessions are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Sessions {
    /// No sessions: no `Mcp-Session-Id` is issued.
    None,
    /// In this process's memory (not shared between instances).
    Memory,
    /// Sealed client-carried tokens (no database; keys in MCP_LAMBDA_SESSION_KEYS).
    Token,
    /// A DynamoDB table (MCP_LAMBDA_SESSION_TABLE), shared by every instance.
    Dynamodb,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// `serve` options (flags and their `MCP_LAMBDA_*` variables).
#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "MCP_LAMBDA_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: String,

    /// URL path of the MCP endpoint.
    #[arg(long, env = "MCP_LAMBDA_PATH", default_value = "/mcp")]
    pub(crate) path: String,

    /// How child processes live: reuse, per-request or per-session.
    #[arg(
        long,
        env = "MCP_LAMBDA_LIFECYCLE",
        value_enum,
        default_value = "reuse"
    )]
    pub(crate) lifecycle: Lifecycle,

    /// Protocol era of the wrapped server: auto (probe with server/discover), legacy or modern.
    #[arg(long, env = "MCP_LAMBDA_CHILD_ERA", value_enum, default_value = "auto")]
    pub(crate) child_era: ChildEra,

    /// Session support: none, memory, token or dynamodb [default: memory for serve, none on
    /// Lambda].
    #[arg(long, env = "MCP_LAMBDA_SESSIONS", value_enum)]
    pub(crate) sessions: Option<Sessions>,

    /// Session token keys (token sessions): 32-byte keys as 64 hex characters or base64,
    /// comma-separated, or `file:PATH`; the first seals, all open (rotation).
    #[arg(long, env = "MCP_LAMBDA_SESSION_KEYS", hide_env_values = true)]
    pub(crate) session_keys: Option<String>,

    /// DynamoDB table for sessions (dynamodb sessions); endpoint, region and credentials come
    /// from the AWS SDK's own configuration (e.g. AWS_ENDPOINT_URL_DYNAMODB).
    #[arg(long, env = "MCP_LAMBDA_SESSION_TABLE")]
    pub(crate) session_table: Option<String>,

    /// How long an unused session lives (e.g. 30m, 1h); for token sessions, the token's whole
    /// lifetime (tokens cannot be refreshed or revoked: keep it short).
    #[arg(long, env = "MCP_LAMBDA_SESSION_TTL", default_value = "1h")]
    pub(crate) session_ttl: String,

    /// per-session lifecycle: terminate a session's child after this long without requests.
    #[arg(long, env = "MCP_LAMBDA_IDLE_TIMEOUT", default_value = "10m")]
    pub(crate) idle_timeout: String,

    /// Longest time a request may take before the client gets a timeout error (e.g. 60s).
    #[arg(long, env = "MCP_LAMBDA_REQUEST_TIMEOUT", default_value = "60s")]
    pub(crate) request_timeout: String,

    /// Extra allowed Origin (repeatable, comma-separated in the variable; `*` allows any).
    #[arg(
        long = "allow-origin",
        env = "MCP_LAMBDA_ALLOW_ORIGIN",
        value_delimiter = ','
    )]
    pub(crate) allow_origin: Vec<String>,

    /// Environment variable for the child, K=V (repeatable, comma-separated in the variable).
    #[arg(long = "env", env = "MCP_LAMBDA_ENV", value_delimiter = ',')]
    pub(crate) env: Vec<String>,

    /// Name of one of our environment variables to pass to the child (repeatable).
    #[arg(long = "pass-env", env = "MCP_LAMBDA_PASS_ENV", value_delimiter = ',')]
    pub(crate) pass_env: Vec<String>,

    /// The server's command line, shell-quoted (instead of words after `--`).
    #[arg(long, env = "MCP_LAMBDA_COMMAND")]
    pub(crate) command: Option<String>,

    /// An `mcpServers` JSON file (Claude Desktop / Cursor format).
    #[arg(long, env = "MCP_LAMBDA_CONFIG")]
    pub(crate) config: Option<PathBuf>,

    /// Which entry of the `mcpServers` file to serve (needed when it has several).
    #[arg(long, env = "MCP_LAMBDA_SERVER")]
    pub(crate) server: Option<String>,

    /// Largest request body and largest child message, in bytes.
    #[arg(long, env = "MCP_LAMBDA_MAX_MESSAGE_BYTES", default_value_t = 6 * 1024 * 1024)]
    pub(crate) max_message_bytes: usize,

    /// Time between SIGTERM and SIGKILL when stopping a child (e.g. 2s, 300ms)
    /// [default: 2s for serve, 300ms on Lambda, whose shutdown budget is 500 ms].
    #[arg(long, env = "MCP_LAMBDA_KILL_GRACE")]
    pub(crate) kill_grace: Option<String>,

    /// Start and initialize the `reuse` child before the first request (during Lambda's INIT
    /// phase) [default: true on Lambda, false for serve].
    #[arg(long, env = "MCP_LAMBDA_PREWARM")]
    pub(crate) prewarm: Option<bool>,

    /// Protocol versions to prewarm a child for (comma-separated): `2026-07-28` prewarms the
    /// child of modern clients, a legacy version the child its clients share (a 2026-07-28 MCP
    /// server needs only one for all). Other clients start their own child on first use.
    #[arg(
        long,
        env = "MCP_LAMBDA_PREWARM_VERSIONS",
        value_delimiter = ',',
        default_value = "2026-07-28,2025-11-25"
    )]
    pub(crate) prewarm_versions: Vec<String>,

    /// Lambda: time kept back from the invocation's deadline to send the answer.
    #[arg(long, env = "MCP_LAMBDA_DEADLINE_MARGIN", default_value = "500ms")]
    pub(crate) deadline_margin: String,

    /// Lambda: the Function URL's invoke mode, BUFFERED or RESPONSE_STREAM (progress,
    /// logging and server→client requests need RESPONSE_STREAM).
    #[arg(
        long,
        env = "MCP_LAMBDA_INVOKE_MODE",
        value_enum,
        default_value = "buffered"
    )]
    pub(crate) invoke_mode: InvokeMode,

    /// Lambda: one CloudWatch Embedded Metric Format line per invocation.
    #[arg(long, env = "MCP_LAMBDA_METRICS", default_value_t = true, action = clap::ArgAction::Set)]
    pub(crate) metrics: bool,

    /// Log format: text or json [default: text; on Lambda, AWS_LAMBDA_LOG_FORMAT].
    #[arg(long, env = "MCP_LAMBDA_LOG_FORMAT", value_enum)]
    pub(crate) log_format: Option<LogFormat>,

    /// Log level or filter (error, warn, info, debug, trace, or a tracing filter)
    /// [default: info; on Lambda, AWS_LAMBDA_LOG_LEVEL].
    #[arg(long, env = "MCP_LAMBDA_LOG_LEVEL")]
    pub(crate) log_level: Option<String>,

    /// The stdio server to run and its arguments.
    #[arg(last = true, value_name = "CMD")]
    pub(crate) cmd: Vec<String>,
}

/// Validated settings for `serve`.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Socket address to bind.
    pub(crate) listen: SocketAddr,
    /// Endpoint path.
    pub(crate) path: String,
    /// Child lifecycle.
    pub(crate) lifecycle: Lifecycle,
    /// The wrapped server's protocol era.
    pub(crate) child_era: ChildEra,
    /// Session store.
    pub(crate) sessions: Sessions,
    /// Session idle lifetime.
    pub(crate) session_ttl: Duration,
    /// Token keys (token sessions).
    pub(crate) session_keys: Vec<[u8; 32]>,
    /// DynamoDB table (dynamodb sessions).
    pub(crate) session_table: Option<String>,
    /// per-session child idle timeout.
    pub(crate) idle_timeout: Duration,
    /// Request timeout.
    pub(crate) request_timeout: Duration,
    /// Extra allowed origins.
    pub(crate) allow_origin: Vec<String>,
    /// The child to run.
    pub(crate) server: ServerCommand,
    /// A short name for logs ("example", the mcpServers key, or the program).
    pub(crate) server_name: String,
    /// Body / message cap.
    pub(crate) max_message_bytes: usize,
    /// SIGTERM → SIGKILL grace.
    pub(crate) kill_grace: Duration,
    /// Start the reuse child before the first request.
    pub(crate) prewarm: bool,
    /// Versions to prewarm.
    pub(crate) prewarm_versions: Vec<String>,
    /// Lambda: kept back from the invocation deadline.
    pub(crate) deadline_margin: Duration,
    /// Lambda: EMF line per invocation.
    pub(crate) metrics: bool,
    /// Lambda: the Function URL's invoke mode.
    pub(crate) invoke_mode: InvokeMode,
}

/// One `mcpServers` entry.
#[derive(Debug, Deserialize)]
struct ServerEntry {
    command: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    cwd: Option<PathBuf>,
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ServersFile {
    #[serde(rename = "mcpServers")]
    mcp_servers: Option<BTreeMap<String, serde_json::Value>>,
}

fn duration(field: &str, value: &str) -> Result<Duration, ConfigError> {
    let d = humantime::parse_duration(value.trim()).map_err(|e| {
        err(
            field,
            format!("{value:?} is not a duration ({e}); use e.g. 500ms, 30s, 5m"),
        )
    })?;
    if d.is_zero() {
        return Err(err(field, "must be greater than zero"));
    }
    Ok(d)
}

/// Where the binary runs: the local server, or the Lambda Runtime API loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `serve`: a long-lived HTTP server.
    Serve,
    /// `AWS_LAMBDA_RUNTIME_API` is set: a Lambda custom runtime.
    Lambda,
}

/// Validates `args` against our own environment `ours`; `self_exe` runs the bundled example.
pub(crate) fn resolve(
    args: &ServeArgs,
    ours: &[(String, String)],
    self_exe: &Path,
    mode: Mode,
) -> Result<Config, ConfigError> {
    let lambda = mode == Mode::Lambda;
    let sessions = args.sessions.unwrap_or(if lambda {
        Sessions::None
    } else {
        Sessions::Memory
    });
    let kill_grace = args
        .kill_grace
        .clone()
        .unwrap_or_else(|| if lambda { "300ms".into() } else { "2s".into() });
    let listen: SocketAddr = args.listen.parse().map_err(|_| {
        err(
            "--listen (MCP_LAMBDA_LISTEN)",
            format!("{:?} is not an address like 127.0.0.1:8080", args.listen),
        )
    })?;
    if !args.path.starts_with('/') || args.path == "/healthz" {
        return Err(err(
            "--path (MCP_LAMBDA_PATH)",
            format!("{:?} must start with / and not be /healthz", args.path),
        ));
    }
    if args.lifecycle == Lifecycle::PerSession && sessions == Sessions::None {
        return Err(err(
            "--lifecycle (MCP_LAMBDA_LIFECYCLE)",
            "per-session needs sessions: use --sessions memory",
        ));
    }
    if args.max_message_bytes < 1024 {
        return Err(err(
            "--max-message-bytes (MCP_LAMBDA_MAX_MESSAGE_BYTES)",
            "must be at least 1024",
        ));
    }
    for o in &args.allow_origin {
        if o != "*" && !(o.starts_with("http://") || o.starts_with("https://")) {
            return Err(err(
                "--allow-origin (MCP_LAMBDA_ALLOW_ORIGIN)",
                format!("{o:?} is not an origin like https://app.example.com (or *)"),
            ));
        }
    }
    let mut explicit = Vec::new();
    for kv in &args.env {
        let Some((k, v)) = kv.split_once('=') else {
            return Err(err("--env (MCP_LAMBDA_ENV)", format!("{kv:?} is not K=V")));
        };
        if k.is_empty() {
            return Err(err(
                "--env (MCP_LAMBDA_ENV)",
                format!("{kv:?} has an empty name"),
            ));
        }
        explicit.push((k.to_owned(), v.to_owned()));
    }
    for name in &args.pass_env {
        if name.is_empty() || name.contains('=') {
            return Err(err(
                "--pass-env (MCP_LAMBDA_PASS_ENV)",
                format!("{name:?} is not a variable name"),
            ));
        }
    }

    let (server_name, program, cmd_args, file_env, cwd) = select_server(args, self_exe)?;
    explicit.splice(0..0, file_env);
    let server = ServerCommand {
        program,
        args: cmd_args,
        env: child_env(ours.iter().cloned(), &args.pass_env, &explicit),
        cwd,
    };
    Ok(Config {
        listen,
        path: args.path.clone(),
        lifecycle: args.lifecycle,
        child_era: args.child_era,
        sessions,
        prewarm: args.prewarm.unwrap_or(lambda) && args.lifecycle == Lifecycle::Reuse,
        prewarm_versions: {
            for v in &args.prewarm_versions {
                if !mcp_lambda_core::protocol::is_supported(v)
                    && !mcp_lambda_core::protocol::is_modern(v)
                {
                    return Err(err(
                        "--prewarm-versions (MCP_LAMBDA_PREWARM_VERSIONS)",
                        format!(
                            "{v:?} is not a protocol version this endpoint serves ({})",
                            mcp_lambda_core::protocol::SERVED_VERSIONS.join(", ")
                        ),
                    ));
                }
            }
            args.prewarm_versions.clone()
        },
        deadline_margin: duration_or_zero(
            "--deadline-margin (MCP_LAMBDA_DEADLINE_MARGIN)",
            &args.deadline_margin,
        )?,
        metrics: args.metrics,
        invoke_mode: args.invoke_mode,
        session_ttl: duration("--session-ttl (MCP_LAMBDA_SESSION_TTL)", &args.session_ttl)?,
        session_keys: match (sessions, &args.session_keys) {
            (Sessions::Token, None) => {
                return Err(err(
                    "--session-keys (MCP_LAMBDA_SESSION_KEYS)",
                    "token sessions need at least one 32-byte key (e.g. `openssl rand -hex 32`)",
                ));
            }
            (_, Some(spec)) => mcp_lambda_core::token::parse_keys(spec)
                .map_err(|e| err("--session-keys (MCP_LAMBDA_SESSION_KEYS)", e.to_string()))?,
            (_, None) => Vec::new(),
        },
        session_table: match (sessions, &args.session_table) {
            (Sessions::Dynamodb, None) => {
                return Err(err(
                    "--session-table (MCP_LAMBDA_SESSION_TABLE)",
                    "dynamodb sessions need a table name",
                ));
            }
            (_, t) => t.clone(),
        },
        idle_timeout: duration(
            "--idle-timeout (MCP_LAMBDA_IDLE_TIMEOUT)",
            &args.idle_timeout,
        )?,
        request_timeout: duration(
            "--request-timeout (MCP_LAMBDA_REQUEST_TIMEOUT)",
            &args.request_timeout,
        )?,
        allow_origin: args.allow_origin.clone(),
        server,
        server_name,
        max_message_bytes: args.max_message_bytes,
        kill_grace: duration("--kill-grace (MCP_LAMBDA_KILL_GRACE)", &kill_grace)?,
    })
}

fn duration_or_zero(field: &str, value: &str) -> Result<Duration, ConfigError> {
    if value.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(value.trim()).map_err(|e| {
        err(
            field,
            format!("{value:?} is not a duration ({e}); use e.g. 500ms, 1s"),
        )
    })
}

type Selected = (
    String,
    String,
    Vec<String>,
    Vec<(String, String)>,
    Option<PathBuf>,
);

fn select_server(args: &ServeArgs, self_exe: &Path) -> Result<Selected, ConfigError> {
    let sources = [
        !args.cmd.is_empty(),
        args.command.is_some(),
        args.config.is_some(),
    ];
    if sources.iter().filter(|s| **s).count() > 1 {
        return Err(err(
            "server",
            "give the server one way only: words after --, --command (MCP_LAMBDA_COMMAND), or --config (MCP_LAMBDA_CONFIG)",
        ));
    }
    if args.server.is_some() && args.config.is_none() {
        return Err(err(
            "--server (MCP_LAMBDA_SERVER)",
            "only makes sense with --config (MCP_LAMBDA_CONFIG)",
        ));
    }
    if let Some((program, rest)) = args.cmd.split_first() {
        return Ok((
            short_name(program),
            program.clone(),
            rest.to_vec(),
            vec![],
            None,
        ));
    }
    if let Some(line) = &args.command {
        let field = "--command (MCP_LAMBDA_COMMAND)";
        let words = shlex::split(line)
            .ok_or_else(|| err(field, format!("{line:?} has unbalanced quotes")))?;
        let Some((program, rest)) = words.split_first() else {
            return Err(err(field, "is empty"));
        };
        return Ok((
            short_name(program),
            program.clone(),
            rest.to_vec(),
            vec![],
            None,
        ));
    }
    if let Some(path) = &args.config {
        return from_file(path, args.server.as_deref());
    }
    Ok((
        "example".into(),
        self_exe.to_string_lossy().into_owned(),
        vec!["example-server".into()],
        vec![],
        None,
    ))
}

fn short_name(program: &str) -> String {
    Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| program.to_owned())
}

fn from_file(path: &Path, wanted: Option<&str>) -> Result<Selected, ConfigError> {
    let shown = path.display();
    let field = format!("--config {shown}");
    let text =
        std::fs::read_to_string(path).map_err(|e| err(&field, format!("cannot be read: {e}")))?;
    let file: ServersFile =
        serde_json::from_str(&text).map_err(|e| err(&field, format!("is not valid JSON: {e}")))?;
    let servers = file
        .mcp_servers
        .ok_or_else(|| err(&field, "has no \"mcpServers\" object"))?;
    let name = match (wanted, servers.len()) {
        (Some(n), _) => n.to_owned(),
        (None, 1) => servers.keys().next().cloned().unwrap_or_default(),
        (None, 0) => return Err(err(format!("{field}: mcpServers"), "is empty")),
        (None, _) => {
            let names: Vec<_> = servers.keys().cloned().collect();
            return Err(err(
                "--server (MCP_LAMBDA_SERVER)",
                format!(
                    "{shown} defines {} servers ({}); choose one",
                    names.len(),
                    names.join(", ")
                ),
            ));
        }
    };
    let value = servers.get(&name).ok_or_else(|| {
        let names: Vec<_> = servers.keys().cloned().collect();
        err(
            "--server (MCP_LAMBDA_SERVER)",
            format!("{name:?} is not in {shown} (it has: {})", names.join(", ")),
        )
    })?;
    let entry_field = format!("{field}: mcpServers.{name}");
    let entry: ServerEntry =
        serde_json::from_value(value.clone()).map_err(|e| err(&entry_field, e.to_string()))?;
    if let Some(kind) = &entry.kind
        && kind != "stdio"
    {
        return Err(err(
            format!("{entry_field}.type"),
            format!("{kind:?}: only stdio servers can be wrapped"),
        ));
    }
    let Some(command) = entry.command.filter(|c| !c.trim().is_empty()) else {
        let why = if entry.url.is_some() {
            "is missing: this entry is a remote (url) server; only stdio servers can be wrapped"
        } else {
            "is missing"
        };
        return Err(err(format!("{entry_field}.command"), why));
    };
    Ok((
        name,
        command,
        entry.args,
        entry.env.into_iter().collect(),
        entry.cwd,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ServeArgs,
    }

    fn args(argv: &[&str]) -> ServeArgs {
        T::try_parse_from(std::iter::once("x").chain(argv.iter().copied()))
            .unwrap()
            .a
    }

    fn resolve_serve(
        a: &ServeArgs,
        ours: &[(String, String)],
        exe: &Path,
    ) -> Result<Config, ConfigError> {
        resolve(a, ours, exe, Mode::Serve)
    }

    #[test]
    fn lambda_defaults_differ_where_lambda_needs_them() {
        let c = resolve(&args(&[]), &ours(), Path::new("x"), Mode::Lambda).unwrap();
        assert_eq!(c.sessions, Sessions::None);
        assert_eq!(c.kill_grace, Duration::from_millis(300));
        assert!(c.prewarm);
        let c = resolve_serve(&args(&[]), &ours(), Path::new("x")).unwrap();
        assert_eq!(c.sessions, Sessions::Memory);
        assert!(!c.prewarm);
        let c = resolve(
            &args(&["--lifecycle", "per-request"]),
            &ours(),
            Path::new("x"),
            Mode::Lambda,
        )
        .unwrap();
        assert!(!c.prewarm, "prewarm only applies to reuse");
    }

    fn ours() -> Vec<(String, String)> {
        vec![
            ("PATH".into(), "/bin".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "s".into()),
        ]
    }

    #[test]
    fn defaults_serve_the_bundled_example() {
        let c = resolve_serve(&args(&[]), &ours(), Path::new("/x/mcp-lambda")).unwrap();
        assert_eq!(c.server.program, "/x/mcp-lambda");
        assert_eq!(c.server.args, ["example-server"]);
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.lifecycle, Lifecycle::Reuse);
        assert_eq!(c.request_timeout, Duration::from_secs(60));
        assert_eq!(c.server.env, vec![("PATH".to_string(), "/bin".to_string())]);
    }

    #[test]
    fn command_line_after_dashes_and_shell_quoted_command() {
        let c = resolve_serve(
            &args(&["--", "uvx", "mcp-server-time", "--local-timezone", "UTC"]),
            &ours(),
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(c.server.program, "uvx");
        assert_eq!(
            c.server.args,
            ["mcp-server-time", "--local-timezone", "UTC"]
        );
        let c = resolve_serve(
            &args(&["--command", "node 'my server.js' --x=\"a b\""]),
            &ours(),
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(c.server.program, "node");
        assert_eq!(c.server.args, ["my server.js", "--x=a b"]);
        let e = resolve_serve(&args(&["--command", "node 'oops"]), &ours(), Path::new("x"))
            .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("--command (MCP_LAMBDA_COMMAND): "),
            "{e}"
        );
    }

    #[test]
    fn invalid_values_name_their_field() {
        for (argv, field) in [
            (vec!["--listen", "nowhere"], "--listen"),
            (vec!["--request-timeout", "soon"], "--request-timeout"),
            (vec!["--request-timeout", "0s"], "--request-timeout"),
            (vec!["--env", "NOEQUALS"], "--env"),
            (vec!["--allow-origin", "example.com"], "--allow-origin"),
            (
                vec!["--lifecycle", "per-session", "--sessions", "none"],
                "--lifecycle",
            ),
            (vec!["--path", "mcp"], "--path"),
            (
                vec!["--prewarm-versions", "2099-01-01"],
                "--prewarm-versions",
            ),
            (vec!["--server", "a"], "--server"),
            (vec!["--command", "a", "--", "b"], "server"),
        ] {
            let e = resolve_serve(&args(&argv), &ours(), Path::new("x")).unwrap_err();
            assert!(e.field.starts_with(field), "{argv:?}: {e}");
        }
    }

    #[test]
    fn env_and_pass_env_reach_the_child_and_credentials_do_not() {
        let c = resolve_serve(
            &args(&["--env", "A=1", "--env", "B=x=y", "--", "s"]),
            &ours(),
            Path::new("x"),
        )
        .unwrap();
        assert!(c.server.env.contains(&("B".into(), "x=y".into())));
        assert!(
            !c.server
                .env
                .iter()
                .any(|(k, _)| k == "AWS_SECRET_ACCESS_KEY")
        );
        let c = resolve_serve(
            &args(&["--pass-env", "AWS_SECRET_ACCESS_KEY", "--", "s"]),
            &ours(),
            Path::new("x"),
        )
        .unwrap();
        assert!(
            c.server
                .env
                .iter()
                .any(|(k, _)| k == "AWS_SECRET_ACCESS_KEY")
        );
    }

    fn file(json: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("mcpl-cfg-{}-{}", std::process::id(), rand_suffix()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("servers.json");
        std::fs::write(&p, json).unwrap();
        p
    }

    fn rand_suffix() -> u64 {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        N.fetch_add(1, Ordering::Relaxed)
    }

    #[test]
    fn mcp_servers_file() {
        let p = file(
            r#"{"mcpServers":{"time":{"command":"uvx","args":["mcp-server-time"],"env":{"TZ":"UTC"},"disabled":false}}}"#,
        );
        let c = resolve_serve(
            &args(&["--config", p.to_str().unwrap()]),
            &ours(),
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(c.server_name, "time");
        assert_eq!(c.server.program, "uvx");
        assert!(c.server.env.contains(&("TZ".into(), "UTC".into())));

        let p = file(r#"{"mcpServers":{"a":{"command":"x"},"b":{"command":"y"}}}"#);
        let e = resolve_serve(
            &args(&["--config", p.to_str().unwrap()]),
            &ours(),
            Path::new("x"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("defines 2 servers (a, b)"), "{e}");
        let c = resolve_serve(
            &args(&["--config", p.to_str().unwrap(), "--server", "b"]),
            &ours(),
            Path::new("x"),
        )
        .unwrap();
        assert_eq!(c.server.program, "y");
        let e = resolve_serve(
            &args(&["--config", p.to_str().unwrap(), "--server", "zz"]),
            &ours(),
            Path::new("x"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"zz\" is not in"), "{e}");

        let p = file(r#"{"mcpServers":{"r":{"url":"https://x"}}}"#);
        let e = resolve_serve(
            &args(&["--config", p.to_str().unwrap()]),
            &ours(),
            Path::new("x"),
        )
        .unwrap_err();
        assert!(e.field.ends_with("mcpServers.r.command"), "{e}");
        let p = file(r#"{"mcpServers":{"r":{"command":"x","args":"notalist"}}}"#);
        let e = resolve_serve(
            &args(&["--config", p.to_str().unwrap()]),
            &ours(),
            Path::new("x"),
        )
        .unwrap_err();
        assert!(e.field.ends_with("mcpServers.r"), "{e}");
        let p = file("{not json");
        let e = resolve_serve(
            &args(&["--config", p.to_str().unwrap()]),
            &ours(),
            Path::new("x"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("is not valid JSON"), "{e}");
    }
}
