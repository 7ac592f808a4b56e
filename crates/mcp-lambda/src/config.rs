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
//!
//! Values are checked in two steps: each one on its own while clap parses it (durations, sizes,
//! addresses, origins, ... become typed values there, see [`values`]), then the combinations
//! and mode-dependent defaults in [`resolve`], one small validator per concern.

mod access;
mod compile_cache;
mod server;
mod values;

pub(crate) use access::OAuth;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::builder::{EnumValueParser, TypedValueParser};
use clap::{Args, ValueEnum};
use mcp_lambda_core::{EraPolicy, ServerCommand};
use values::{
    Checked, ChildEra, any_duration, child_count, connection_count, endpoint_path, env_pair,
    listen_addr, message_bytes, origin, positive_duration, served_version, session_count, var_name,
};

/// A configuration mistake, naming the field it is about.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {message}")]
pub(crate) struct ConfigError {
    /// The flag / variable / file field.
    pub(crate) field: String,
    /// What is wrong, and what would be right.
    pub(crate) message: String,
}

/// A [`ConfigError`] about `field`.
fn err(field: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError {
        field: field.into(),
        message: message.into(),
    }
}

/// The [`ConfigError`] behind a clap error, when one of our value parsers ([`Checked`]) raised
/// it: `main` prints that one line instead of clap's multi-line report.
pub(crate) fn config_error(e: &clap::Error) -> Option<&ConfigError> {
    std::error::Error::source(e)?.downcast_ref()
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

/// `serve` options (flags and their `MCP_LAMBDA_*` variables), each value already checked on
/// its own; [`resolve`] checks how they combine.
#[derive(Debug, Clone, Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(
        long,
        env = "MCP_LAMBDA_LISTEN",
        default_value = "127.0.0.1:8080",
        value_parser = Checked(listen_addr)
    )]
    pub(crate) listen: SocketAddr,

    /// URL path of the MCP endpoint.
    #[arg(
        long,
        env = "MCP_LAMBDA_PATH",
        default_value = "/mcp",
        value_parser = Checked(endpoint_path)
    )]
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
    #[arg(
        long,
        env = "MCP_LAMBDA_CHILD_ERA",
        default_value = "auto",
        value_parser = EnumValueParser::<ChildEra>::new().map(|c| c.0)
    )]
    pub(crate) child_era: EraPolicy,

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
    #[arg(
        long,
        env = "MCP_LAMBDA_SESSION_TTL",
        default_value = "1h",
        value_parser = Checked(positive_duration)
    )]
    pub(crate) session_ttl: Duration,

    /// per-session lifecycle: terminate a session's child after this long without requests.
    #[arg(
        long,
        env = "MCP_LAMBDA_IDLE_TIMEOUT",
        default_value = "10m",
        value_parser = Checked(positive_duration)
    )]
    pub(crate) idle_timeout: Duration,

    /// Longest time a request may take before the client gets a timeout error (e.g. 60s).
    #[arg(
        long,
        env = "MCP_LAMBDA_REQUEST_TIMEOUT",
        default_value = "60s",
        value_parser = Checked(positive_duration)
    )]
    pub(crate) request_timeout: Duration,

    /// Longest life of a session's GET stream (e.g. 5m); then it ends and the client reconnects
    /// with Last-Event-ID. On Lambda it also ends before the invocation's deadline.
    #[arg(
        long,
        env = "MCP_LAMBDA_GET_STREAM_MAX",
        default_value = "5m",
        value_parser = Checked(positive_duration)
    )]
    pub(crate) get_stream_max: Duration,

    /// Extra allowed Origin (repeatable, comma-separated in the variable; `*` allows any).
    #[arg(
        long = "allow-origin",
        env = "MCP_LAMBDA_ALLOW_ORIGIN",
        value_delimiter = ',',
        value_parser = Checked(origin)
    )]
    pub(crate) allow_origin: Vec<String>,

    /// Environment variable for the child, K=V (repeatable, comma-separated in the variable).
    #[arg(
        long = "env",
        env = "MCP_LAMBDA_ENV",
        value_delimiter = ',',
        value_parser = Checked(env_pair)
    )]
    pub(crate) env: Vec<(String, String)>,

    /// Name of one of our environment variables to pass to the child (repeatable).
    #[arg(
        long = "pass-env",
        env = "MCP_LAMBDA_PASS_ENV",
        value_delimiter = ',',
        value_parser = Checked(var_name)
    )]
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
    #[arg(
        long,
        env = "MCP_LAMBDA_MAX_MESSAGE_BYTES",
        default_value_t = 6 * 1024 * 1024,
        value_parser = Checked(message_bytes)
    )]
    pub(crate) max_message_bytes: usize,

    /// memory: most sessions kept at once (expired ones are swept when full; one more gets 503).
    #[arg(
        long,
        env = "MCP_LAMBDA_MAX_SESSIONS",
        default_value_t = 10_000,
        value_parser = Checked(session_count)
    )]
    pub(crate) max_sessions: usize,

    /// Most MCP server processes running at once, every lifecycle counted
    /// [default: 32 for serve; on Lambda the function's memory in MB / 128, from 4 to 32].
    #[arg(long, env = "MCP_LAMBDA_MAX_CHILDREN", value_parser = Checked(child_count))]
    pub(crate) max_children: Option<usize>,

    /// serve: a connection must send a whole request head within this time from when the server
    /// starts waiting for it, or it is closed (also ends idle keep-alive connections).
    #[arg(
        long,
        env = "MCP_LAMBDA_HEADER_TIMEOUT",
        default_value = "10s",
        value_parser = Checked(positive_duration)
    )]
    pub(crate) header_timeout: Duration,

    /// serve: a request body must arrive whole within this time, or the answer is 408.
    #[arg(
        long,
        env = "MCP_LAMBDA_BODY_TIMEOUT",
        default_value = "30s",
        value_parser = Checked(positive_duration)
    )]
    pub(crate) body_timeout: Duration,

    /// serve: most connections open at once; more wait to be accepted.
    #[arg(
        long,
        env = "MCP_LAMBDA_MAX_CONNECTIONS",
        default_value_t = 512,
        value_parser = Checked(connection_count)
    )]
    pub(crate) max_connections: usize,

    /// Time between SIGTERM and SIGKILL when stopping a child (e.g. 2s, 300ms)
    /// [default: 2s for serve, 300ms on Lambda, whose shutdown budget is 500 ms].
    #[arg(long, env = "MCP_LAMBDA_KILL_GRACE", value_parser = Checked(positive_duration))]
    pub(crate) kill_grace: Option<Duration>,

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
        default_value = "2026-07-28,2025-11-25",
        value_parser = Checked(served_version)
    )]
    pub(crate) prewarm_versions: Vec<String>,

    /// A snapshot of the server's handshake and lists, written by `mcp-lambda snapshot`:
    /// `initialize`, `server/discover` and the tools/prompts/resources lists are answered from
    /// it before the child is up (checked against the child once it is; a stale part is
    /// logged and answered live).
    #[arg(long, env = "MCP_LAMBDA_SNAPSHOT", value_name = "FILE")]
    pub(crate) snapshot: Option<PathBuf>,

    /// Directory of the children's compiled-code caches (NODE_COMPILE_CACHE, and
    /// PYTHONPYCACHEPREFIX for per-request and per-session children whose package ships no
    /// bytecode for their interpreter), or `off` [default: /tmp/mcp-lambda-cache on Lambda,
    /// off for serve].
    #[arg(long, env = "MCP_LAMBDA_COMPILE_CACHE", value_name = "DIR|off")]
    pub(crate) compile_cache: Option<PathBuf>,

    /// Lambda: time kept back from the invocation's deadline to send the answer.
    #[arg(
        long,
        env = "MCP_LAMBDA_DEADLINE_MARGIN",
        default_value = "500ms",
        value_parser = Checked(any_duration)
    )]
    pub(crate) deadline_margin: Duration,

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

    /// Authorization and tool policy.
    #[command(flatten)]
    pub(crate) access: access::AccessArgs,

    /// The stdio server to run and its arguments.
    #[arg(last = true, value_name = "CMD")]
    pub(crate) cmd: Vec<String>,
}

/// `--max-children` when not given: 32 for `serve`; on Lambda one per 128 MB of the function's
/// memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`), from 4 to 32 (a Node server takes ~60 MB; 4 leaves
/// room for the two prewarmed children and two more capability sets).
fn default_max_children(mode: Mode, ours: &[(String, String)]) -> usize {
    if mode != Mode::Lambda {
        return 32;
    }
    let memory_mb = ours
        .iter()
        .find(|(k, _)| k == "AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .unwrap_or(128);
    (memory_mb / 128).clamp(4, 32)
}

/// What one connection to `serve` may take (see the flags of the same names).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionLimits {
    /// Time to send a whole request head, from when the server waits for one.
    pub(crate) header_timeout: Duration,
    /// Time to send a whole request body.
    pub(crate) body_timeout: Duration,
    /// Connections open at once.
    pub(crate) max_connections: usize,
}

/// Validated settings for `serve` and Lambda.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Socket address to bind.
    pub(crate) listen: SocketAddr,
    /// Endpoint path.
    pub(crate) path: String,
    /// Child lifecycle.
    pub(crate) lifecycle: Lifecycle,
    /// The wrapped server's protocol era.
    pub(crate) child_era: EraPolicy,
    /// Session store.
    pub(crate) sessions: Sessions,
    /// Session idle lifetime.
    pub(crate) session_ttl: Duration,
    /// Token keys (token sessions; when given, they also seal MRTR request state).
    pub(crate) session_keys: Vec<[u8; 32]>,
    /// DynamoDB table (dynamodb sessions).
    pub(crate) session_table: Option<String>,
    /// per-session child idle timeout.
    pub(crate) idle_timeout: Duration,
    /// Request timeout.
    pub(crate) request_timeout: Duration,
    pub(crate) get_stream_max: Duration,
    /// Extra allowed origins.
    pub(crate) allow_origin: Vec<String>,
    /// The child to run.
    pub(crate) server: ServerCommand,
    /// A short name for logs ("example", the mcpServers key, or the program).
    pub(crate) server_name: String,
    /// The child's variables whose value is a secret reference, resolved at start-up.
    pub(crate) secrets: Vec<(String, String)>,
    /// Body / message cap.
    pub(crate) max_message_bytes: usize,
    /// serve: the connection limits.
    pub(crate) connections: ConnectionLimits,
    /// Most child processes at once.
    pub(crate) max_children: usize,
    /// Most sessions in the memory store.
    pub(crate) max_sessions: usize,
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
    /// Log line format.
    pub(crate) log_format: LogFormat,
    /// Log level or `tracing` filter (checked when logging starts).
    pub(crate) log_level: String,
    /// Authorization and tool policy.
    pub(crate) access: access::Access,
    /// `--snapshot`: the file and what it holds.
    pub(crate) snapshot: Option<(PathBuf, mcp_lambda_core::Snapshot)>,
    /// What the start-up log should say about the child's compiled code.
    pub(crate) compile_note: Option<String>,
}

/// Where the binary runs: the local server, or the Lambda Runtime API loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// `serve`: a long-lived HTTP server.
    Serve,
    /// `AWS_LAMBDA_RUNTIME_API` is set: a Lambda custom runtime.
    Lambda,
}

/// Validates how `args` combine, with the defaults of `mode`, against our own environment
/// `ours` (what the child may inherit; on Lambda, its logging settings); `self_exe` runs the
/// bundled example. Reads the `mcpServers` file, `file:` session keys and the snapshot file, and
/// looks for the child's Python bytecode; nothing else.
pub(crate) fn resolve(
    args: &ServeArgs,
    ours: &[(String, String)],
    self_exe: &Path,
    mode: Mode,
) -> Result<Config, ConfigError> {
    let sessions = sessions(args, mode)?;
    let server::Child {
        name: server_name,
        command: mut server,
        secrets,
    } = server::server(args, ours, self_exe)?;
    let lambda = mode == Mode::Lambda;
    let cache_dir = match &args.compile_cache {
        Some(d) if d.as_os_str() == "off" => None,
        Some(d) if d.is_absolute() => Some(d.clone()),
        Some(_) => {
            return Err(err(
                "--compile-cache (MCP_LAMBDA_COMPILE_CACHE)",
                "must be an absolute directory or `off`",
            ));
        }
        None => lambda.then(|| PathBuf::from("/tmp/mcp-lambda-cache")),
    };
    let compile_note = cache_dir.and_then(|dir| {
        compile_cache::apply(&mut server, &dir, args.lifecycle != Lifecycle::Reuse)
    });
    let snapshot = match &args.snapshot {
        Some(path) => Some((
            path.clone(),
            mcp_lambda_core::Snapshot::read(path).map_err(|e| {
                err(
                    "--snapshot (MCP_LAMBDA_SNAPSHOT)",
                    format!("{}: {e}", path.display()),
                )
            })?,
        )),
        None => None,
    };
    let (log_format, log_level) = logging(args, ours, mode);
    Ok(Config {
        listen: args.listen,
        path: args.path.clone(),
        lifecycle: args.lifecycle,
        child_era: args.child_era,
        sessions: sessions.store,
        session_ttl: args.session_ttl,
        session_keys: sessions.keys,
        session_table: sessions.table,
        idle_timeout: args.idle_timeout,
        request_timeout: args.request_timeout,
        get_stream_max: args.get_stream_max,
        allow_origin: args.allow_origin.clone(),
        server,
        server_name,
        secrets,
        max_message_bytes: args.max_message_bytes,
        max_sessions: args.max_sessions,
        max_children: args
            .max_children
            .unwrap_or_else(|| default_max_children(mode, ours)),
        connections: ConnectionLimits {
            header_timeout: args.header_timeout,
            body_timeout: args.body_timeout,
            max_connections: args.max_connections,
        },
        kill_grace: args.kill_grace.unwrap_or(if lambda {
            Duration::from_millis(300)
        } else {
            Duration::from_secs(2)
        }),
        prewarm: args.prewarm.unwrap_or(lambda) && args.lifecycle == Lifecycle::Reuse,
        prewarm_versions: args.prewarm_versions.clone(),
        deadline_margin: args.deadline_margin,
        metrics: args.metrics,
        invoke_mode: args.invoke_mode,
        log_format,
        log_level,
        access: access::access(&args.access, mode, args.listen)?,
        snapshot,
        compile_note,
    })
}

/// The session settings [`sessions`] accepts.
struct SessionSettings {
    /// Where sessions are kept.
    store: Sessions,
    /// Parsed `--session-keys` (empty when not given).
    keys: Vec<[u8; 32]>,
    /// `--session-table`.
    table: Option<String>,
}

/// Sessions: the mode's default store, and what the chosen store and lifecycle need (keys for
/// tokens, a table for DynamoDB, some store for per-session children).
fn sessions(args: &ServeArgs, mode: Mode) -> Result<SessionSettings, ConfigError> {
    let store = args.sessions.unwrap_or(match mode {
        Mode::Lambda => Sessions::None,
        Mode::Serve => Sessions::Memory,
    });
    if args.lifecycle == Lifecycle::PerSession && store == Sessions::None {
        return Err(err(
            "--lifecycle (MCP_LAMBDA_LIFECYCLE)",
            "per-session needs sessions: use --sessions memory",
        ));
    }
    let keys_field = "--session-keys (MCP_LAMBDA_SESSION_KEYS)";
    let keys = match &args.session_keys {
        Some(spec) => {
            mcp_lambda_core::token::parse_keys(spec).map_err(|e| err(keys_field, e.to_string()))?
        }
        None if store == Sessions::Token => {
            return Err(err(
                keys_field,
                "token sessions need at least one 32-byte key (e.g. `openssl rand -hex 32`)",
            ));
        }
        None => Vec::new(),
    };
    if store == Sessions::Dynamodb && args.session_table.is_none() {
        return Err(err(
            "--session-table (MCP_LAMBDA_SESSION_TABLE)",
            "dynamodb sessions need a table name",
        ));
    }
    Ok(SessionSettings {
        store,
        keys,
        table: args.session_table.clone(),
    })
}

/// Logging: our flags/variables first; on Lambda, then the function's own logging
/// configuration (`AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL` in `ours`); else text, info.
fn logging(args: &ServeArgs, ours: &[(String, String)], mode: Mode) -> (LogFormat, String) {
    let aws = |name: &str| match mode {
        Mode::Lambda => ours
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_ascii_lowercase()),
        Mode::Serve => None,
    };
    let format = args
        .log_format
        .unwrap_or_else(|| match aws("AWS_LAMBDA_LOG_FORMAT") {
            Some(f) if f == "json" => LogFormat::Json,
            _ => LogFormat::Text,
        });
    let level =
        args.log_level
            .clone()
            .unwrap_or_else(|| match aws("AWS_LAMBDA_LOG_LEVEL").as_deref() {
                Some("fatal") => "error".into(),
                Some(l @ ("trace" | "debug" | "info" | "warn" | "error")) => l.into(),
                _ => "info".into(),
            });
    (format, level)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
