//! `mcp-lambda`: serve any stdio MCP server over MCP Streamable HTTP.
//!
//! - On AWS Lambda (`AWS_LAMBDA_RUNTIME_API` set, no subcommand) it is the function's `bootstrap`:
//!   configured by `MCP_LAMBDA_*` variables, it polls the Runtime API and serves every front door
//!   through the same core gateway as the local server.
//! - Elsewhere, `mcp-lambda [serve] [OPTIONS] [-- CMD ARGS...]` runs the local HTTP host.
//!
//! Configuration errors print one line naming the field and exit with status 2.

mod config;
mod doctor;
mod dynamo;
mod secrets;
mod serve;

use std::fmt::Display;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use config::{Config, InvokeMode, Lifecycle, LogFormat, Mode, ServeArgs, Sessions};
use mcp_lambda_core::{
    ChildConfig, ChildSlots, EraCache, Gateway, GatewayConfig, MemoryStore, PerRequest, PerSession,
    Policed, Reuse, SessionStore, Snapshotted, TokenStore, Upstream,
};
use mcp_lambda_runtime::{Handler, HandlerConfig};

/// The command line: a subcommand, or `serve`'s options (the default command).
#[derive(Parser)]
#[command(
    name = "mcp-lambda",
    version,
    about = "Serve any stdio MCP server over MCP Streamable HTTP, locally or as an AWS Lambda function",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    /// The subcommand, if any.
    #[command(subcommand)]
    command: Option<Command>,
    /// Options of `serve` (or of `lambda` on Lambda) when no subcommand is given.
    #[command(flatten)]
    serve: ServeArgs,
}

/// The subcommands.
#[derive(Subcommand)]
enum Command {
    /// Serve a stdio MCP server over HTTP (the default outside Lambda).
    Serve(Box<ServeArgs>),
    /// Run as a Lambda custom runtime (the default when AWS_LAMBDA_RUNTIME_API is set).
    Lambda(Box<ServeArgs>),
    /// Print the server's tools as a Bedrock AgentCore Gateway tool schema (the target's
    /// `inlinePayload`): starts the server, lists its tools, prints the JSON on stdout; what had
    /// to change for AgentCore (unsupported JSON Schema keywords, missing descriptions) is
    /// listed on stderr.
    AgentcoreSchema(Box<ServeArgs>),
    /// Record what a cold instance is asked first — the server's InitializeResult (or
    /// 2026-07-28 discover result) and its tools, prompts, resources and resource templates
    /// lists — into a file to ship with the function (`--snapshot` / MCP_LAMBDA_SNAPSHOT).
    /// Starts the server like `serve` does; JSON on stdout unless `-o`.
    Snapshot(Box<SnapshotArgs>),
    /// Check a server before deploying it: starts it as the function would, initializes it,
    /// lists its tools, prompts and resources, and reports timings, peak memory and what would
    /// break on Lambda (run-time package downloads, writes to the working directory, tool
    /// schemas clients refuse, a missing interpreter). Exit 0 clean, 1 findings, 2 cannot start.
    Doctor(Box<DoctorArgs>),
    /// Be a stdio MCP server that forwards everything to a deployed endpoint: a Streamable
    /// HTTP URL (`--sigv4` for an AWS_IAM Function URL, `--bearer` for a token) or a function
    /// reached by Invoke (`lambda:FUNCTION[:QUALIFIER]` or its ARN). For desktop MCP clients.
    #[cfg(feature = "connect")]
    Connect(Box<ConnectArgs>),
    /// Manage the session store.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Run the bundled example stdio MCP server on stdin/stdout.
    #[command(hide = true)]
    ExampleServer,
}

/// `mcp-lambda snapshot`: where to write, the cache policy to record, and the server.
#[derive(clap::Args)]
struct SnapshotArgs {
    /// Write the snapshot to FILE (default: stdout).
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// `ttlMs` of 2026-07-28 answers from the snapshot (default: what the live path says:
    /// the 2026-07-28 server's own values, else 0).
    #[arg(long, value_name = "MS", requires = "cache_scope")]
    ttl_ms: Option<u64>,
    /// `cacheScope` of 2026-07-28 answers from the snapshot.
    #[arg(long, value_enum, requires = "ttl_ms")]
    cache_scope: Option<Scope>,
    /// The server, as for `serve`.
    #[command(flatten)]
    serve: ServeArgs,
}

/// `mcp-lambda doctor`: output form, an optional call, and the server.
#[derive(clap::Args)]
struct DoctorArgs {
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Also call TOOL with ARGS (a JSON object).
    #[arg(long, num_args = 2, value_names = ["TOOL", "ARGS"])]
    call: Option<Vec<String>>,
    /// The server, as for `serve`.
    #[command(flatten)]
    serve: ServeArgs,
}

/// `mcp-lambda connect`: the target and how requests are authorized.
#[cfg(feature = "connect")]
#[derive(clap::Args)]
struct ConnectArgs {
    /// Where to forward: an MCP endpoint URL (https://…/mcp), `lambda:FUNCTION[:QUALIFIER]` or
    /// a Lambda function ARN.
    #[arg(env = "MCP_LAMBDA_CONNECT_TARGET", value_name = "TARGET")]
    target: String,
    /// Sign requests with AWS SigV4 (service lambda): for a Function URL with auth type
    /// AWS_IAM. Credentials from the AWS SDK's chain (environment, profile, SSO, roles).
    #[arg(long, env = "MCP_LAMBDA_CONNECT_SIGV4", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    sigv4: bool,
    /// Send `Authorization: Bearer` with the token read from env:NAME or file:PATH (a file is
    /// read again for every request, so a refreshed token is used).
    #[arg(long, env = "MCP_LAMBDA_CONNECT_BEARER", value_name = "SOURCE")]
    bearer: Option<String>,
    /// Sign in with OAuth when the endpoint asks (401): authorization code with PKCE in the
    /// browser, tokens kept per endpoint and refreshed.
    #[arg(long, env = "MCP_LAMBDA_CONNECT_OAUTH", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    oauth: bool,
    /// With --oauth: a client registered beforehand (its redirect URI
    /// `http://127.0.0.1:PORT/callback`) [default: dynamic registration].
    #[arg(long, env = "MCP_LAMBDA_CONNECT_OAUTH_CLIENT_ID", value_name = "ID")]
    oauth_client_id: Option<String>,
    /// With --oauth: the port of the loopback redirect URI (0: any free port).
    #[arg(long, env = "MCP_LAMBDA_CONNECT_OAUTH_PORT", default_value_t = 0)]
    oauth_port: u16,
    /// With --oauth: where tokens are kept [default: $XDG_CACHE_HOME/mcp-lambda/oauth, else
    /// ~/.cache/mcp-lambda/oauth].
    #[arg(long, env = "MCP_LAMBDA_CONNECT_OAUTH_CACHE", value_name = "DIR")]
    oauth_cache: Option<PathBuf>,
    /// With --oauth: the command that opens the sign-in URL, which is appended as its last
    /// argument [default: open on macOS, xdg-open elsewhere].
    #[arg(long, env = "MCP_LAMBDA_CONNECT_BROWSER", value_name = "COMMAND")]
    browser: Option<String>,
    /// AWS region [default: a Function URL's or an ARN's, then AWS_REGION / the profile's].
    #[arg(long, env = "MCP_LAMBDA_CONNECT_REGION")]
    region: Option<String>,
    /// AWS profile [default: AWS_PROFILE, then default].
    #[arg(long, env = "MCP_LAMBDA_CONNECT_PROFILE")]
    profile: Option<String>,
    /// Longest wait for one answer (e.g. 90s, 15m).
    #[arg(long, env = "MCP_LAMBDA_CONNECT_TIMEOUT", default_value = "15m", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Log level or filter; logs go to stderr.
    #[arg(long, env = "MCP_LAMBDA_LOG_LEVEL", default_value = "info")]
    log_level: String,
}

/// `--cache-scope`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Scope {
    /// Any client may reuse the lists.
    Public,
    /// Only the asking client may.
    Private,
}

/// `mcp-lambda sessions ...`.
#[derive(Subcommand)]
enum SessionsCommand {
    /// Create the DynamoDB session table (on-demand, TTL on `expires_at`); does nothing if it
    /// exists. Endpoint, region and credentials come from the AWS SDK's configuration (e.g.
    /// AWS_ENDPOINT_URL_DYNAMODB for a local server). In the cloud the table comes from IaC.
    CreateTable {
        /// The table name.
        #[arg(long, env = "MCP_LAMBDA_SESSION_TABLE")]
        table: String,
    },
}

/// A configuration error: one line naming the field, exit status 2.
fn config_failure(e: impl Display) -> ExitCode {
    eprintln!("mcp-lambda: error: {e}");
    ExitCode::from(2)
}

/// Parses the command line, validates the configuration and runs the chosen host.
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // A value our parsers rejected is one line naming the field; anything else (unknown
        // flag, bad enum value, --help, --version) is clap's own report and exit status.
        Err(e) => match config::config_error(&e) {
            Some(c) => return config_failure(c),
            None => e.exit(),
        },
    };
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let (args, mode) = match cli.command {
        Some(Command::ExampleServer) => {
            return match mcp_lambda_example_server::run() {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("example-server: {e}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::Sessions {
            command: SessionsCommand::CreateTable { table },
        }) => return dynamo::create_table(table),
        Some(Command::AgentcoreSchema(a)) => return agentcore_schema(*a),
        Some(Command::Snapshot(a)) => return snapshot(*a),
        Some(Command::Doctor(a)) => return doctor(*a),
        #[cfg(feature = "connect")]
        Some(Command::Connect(a)) => return connect(*a),
        Some(Command::Serve(a)) => (*a, Mode::Serve),
        Some(Command::Lambda(a)) => (*a, Mode::Lambda),
        None if on_lambda => (cli.serve, Mode::Lambda),
        None => (cli.serve, Mode::Serve),
    };
    // Secrets stay in the wrapper: a non-dumpable process's memory and /proc environ cannot be
    // read by other processes of the same user — the MCP server it starts included (the
    // server's own process is dumpable again: execve resets it).
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        eprintln!("mcp-lambda: warning: could not make the process non-dumpable: {e}");
    }
    let ours: Vec<(String, String)> = std::env::vars().collect();
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("mcp-lambda"));
    let config = match config::resolve(&args, &ours, &exe, mode) {
        Ok(c) => c,
        Err(e) => return config_failure(e),
    };
    if let Err(e) = init_logging(config.log_format, &config.log_level) {
        return config_failure(format_args!("--log-level (MCP_LAMBDA_LOG_LEVEL): {e}"));
    }
    if std::env::args().any(|a| a == "--session-keys" || a.starts_with("--session-keys=")) {
        tracing::warn!(
            "--session-keys on the command line is visible to every user of this machine (ps, /proc/PID/cmdline): pass MCP_LAMBDA_SESSION_KEYS or file:PATH instead"
        );
    }
    // Lambda delivers one invocation at a time per sandbox, and lambda_runtime runs the handler
    // on the thread that polls: a single-threaded runtime avoids a thread hop per step (measured:
    // ~365 → ~225 µs of CPU per warm invocation). A Managed Instance (`AWS_LAMBDA_MAX_CONCURRENCY`
    // above 1) hands out many at once, on several vCPUs; so does the local server.
    let builder = match mode {
        Mode::Lambda if mcp_lambda_runtime::max_concurrency() == 1 => {
            tokio::runtime::Builder::new_current_thread()
        }
        Mode::Serve | Mode::Lambda => tokio::runtime::Builder::new_multi_thread(),
    };
    let Some(runtime) = async_runtime(builder) else {
        return ExitCode::FAILURE;
    };
    let result = match mode {
        Mode::Serve => runtime.block_on(serve_main(config)),
        Mode::Lambda => runtime.block_on(lambda_main(config)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Installs the global `tracing` subscriber, to stderr; fails on an invalid filter.
fn init_logging(format: LogFormat, level: &str) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(level)?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
    Ok(())
}

/// `mcp-lambda agentcore-schema`: see [`Command::AgentcoreSchema`].
fn agentcore_schema(args: ServeArgs) -> ExitCode {
    let ours: Vec<(String, String)> = std::env::vars().collect();
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("mcp-lambda"));
    let config = match config::resolve(&args, &ours, &exe, Mode::Serve) {
        Ok(c) => c,
        Err(e) => return config_failure(e),
    };
    // Only problems on stderr (text, warn unless told otherwise): the schema goes to stdout.
    let level = args.log_level.as_deref().unwrap_or("warn");
    if let Err(e) = init_logging(LogFormat::Text, level) {
        return config_failure(format_args!("--log-level (MCP_LAMBDA_LOG_LEVEL): {e}"));
    }
    let Some(runtime) = async_runtime(tokio::runtime::Builder::new_current_thread()) else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(agentcore_main(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp-lambda agentcore-schema: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Lists the server's tools through the gateway (every page) and prints them for AgentCore.
async fn agentcore_main(config: Config) -> anyhow::Result<()> {
    // A local one-shot client of its own gateway: no browser, so no Origin to refuse.
    let (gateway, _, _) = build_gateway(&config, Host::Serve { loopback: true }).await?;
    let listed = gateway.list_tools(&Default::default()).await;
    gateway.upstream().shutdown().await;
    let tools = listed?;
    let (definitions, notes) = mcp_lambda_runtime::agentcore::tool_definitions(&tools);
    for n in notes {
        eprintln!("agentcore-schema: {n}");
    }
    println!("{}", serde_json::to_string_pretty(&definitions)?);
    Ok(())
}

/// `mcp-lambda doctor`: resolves the server like `serve`, then runs the checks.
fn doctor(args: DoctorArgs) -> ExitCode {
    let ours: Vec<(String, String)> = std::env::vars().collect();
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("mcp-lambda"));
    let config = match config::resolve(&args.serve, &ours, &exe, Mode::Serve) {
        Ok(c) => c,
        Err(e) => return config_failure(e),
    };
    let call = match args.call.as_deref() {
        Some([tool, arguments]) => match serde_json::from_str::<serde_json::Value>(arguments) {
            Ok(v) if v.is_object() => Some((tool.clone(), v)),
            _ => return config_failure("--call: ARGS must be a JSON object"),
        },
        _ => None,
    };
    if !config.secrets.is_empty() {
        eprintln!(
            "doctor: {} variable(s) with secret references are passed unresolved",
            config.secrets.len()
        );
    }
    doctor::run(&config.server, call, args.json)
}

/// `mcp-lambda connect`: see [`Command::Connect`].
#[cfg(feature = "connect")]
fn connect(args: ConnectArgs) -> ExitCode {
    use mcp_lambda_connect::{BearerSource, OAuthOptions, Options, Target};
    if let Err(e) = init_logging(LogFormat::Text, &args.log_level) {
        return config_failure(format_args!("--log-level (MCP_LAMBDA_LOG_LEVEL): {e}"));
    }
    let target = match Target::parse(&args.target) {
        Ok(t) => t,
        Err(e) => return config_failure(e),
    };
    let bearer = match args.bearer.as_deref().map(BearerSource::parse).transpose() {
        Ok(b) => b,
        Err(e) => return config_failure(e),
    };
    let oauth_only = args.oauth_client_id.is_some()
        || args.oauth_port != 0
        || args.oauth_cache.is_some()
        || args.browser.is_some();
    if oauth_only && !args.oauth {
        return config_failure(
            "--oauth-client-id, --oauth-port, --oauth-cache and --browser need --oauth",
        );
    }
    let oauth = args.oauth.then_some(OAuthOptions {
        client_id: args.oauth_client_id,
        port: args.oauth_port,
        browser: args.browser,
        cache_dir: args.oauth_cache,
        timeout: args.timeout,
    });
    let opts = Options {
        target,
        sigv4: args.sigv4,
        bearer,
        oauth,
        region: args.region,
        profile: args.profile,
        timeout: args.timeout,
    };
    let Some(runtime) = async_runtime(tokio::runtime::Builder::new_multi_thread()) else {
        return ExitCode::FAILURE;
    };
    match runtime.block_on(mcp_lambda_connect::run(opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => config_failure(e),
    }
}

/// `mcp-lambda snapshot`: starts the server, records its snapshot, writes it.
fn snapshot(args: SnapshotArgs) -> ExitCode {
    let ours: Vec<(String, String)> = std::env::vars().collect();
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("mcp-lambda"));
    let mut serve = args.serve;
    // The snapshot is of the server itself: no older snapshot, no tool policy, one child.
    serve.snapshot = None;
    serve.lifecycle = Lifecycle::Reuse;
    let config = match config::resolve(&serve, &ours, &exe, Mode::Serve) {
        Ok(c) => c,
        Err(e) => return config_failure(e),
    };
    let level = serve.log_level.as_deref().unwrap_or("warn");
    if let Err(e) = init_logging(LogFormat::Text, level) {
        return config_failure(format_args!("--log-level (MCP_LAMBDA_LOG_LEVEL): {e}"));
    }
    let cache = match (args.ttl_ms, args.cache_scope) {
        (Some(ttl_ms), Some(scope)) => Some(mcp_lambda_core::CachePolicy {
            ttl_ms,
            cache_scope: match scope {
                Scope::Public => mcp_lambda_core::CacheScope::Public,
                Scope::Private => mcp_lambda_core::CacheScope::Private,
            },
        }),
        _ => None,
    };
    let Some(runtime) = async_runtime(tokio::runtime::Builder::new_current_thread()) else {
        return ExitCode::FAILURE;
    };
    let taken = runtime.block_on(async {
        let (gateway, reuse, _) = build_gateway(&config, Host::Serve { loopback: true }).await?;
        let reuse = reuse.ok_or_else(|| anyhow::anyhow!("no reuse upstream"))?;
        let deadline = tokio::time::Instant::now() + config.request_timeout;
        let taken = mcp_lambda_core::capture(&reuse, &command_line(&config), cache, deadline).await;
        gateway.upstream().shutdown().await;
        taken.map_err(|e| anyhow::anyhow!("the MCP server: {e}"))
    });
    let text = match taken {
        Ok(s) => s.to_json(),
        Err(e) => {
            eprintln!("mcp-lambda snapshot: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let written = match &args.output {
        Some(path) => {
            std::fs::write(path, &text).map_err(|e| format!("cannot write {}: {e}", path.display()))
        }
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(text.as_bytes())
                .map_err(|e| format!("cannot write to stdout: {e}"))
        }
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp-lambda snapshot: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Where a gateway is served from: what only the host knows, as opposed to the [`Config`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Host {
    /// A long-lived local process (`serve`, `agentcore-schema`): response bodies stream.
    Serve {
        /// Bound to a loopback address: Origins on loopback hosts are allowed too.
        loopback: bool,
    },
    /// A Lambda sandbox: frozen between invocations, behind a front door (never loopback).
    Lambda {
        /// The Function URL streams responses (`RESPONSE_STREAM`); otherwise they are buffered.
        streaming: bool,
    },
}

impl Host {
    /// Whether Origins on loopback hosts are allowed without `--allow-origin`.
    fn allow_loopback_origins(self) -> bool {
        matches!(self, Host::Serve { loopback: true })
    }

    /// Whether a child must be checked before use: Lambda freezes the sandbox between
    /// invocations, so a child may die unseen.
    fn verify_process(self) -> bool {
        matches!(self, Host::Lambda { .. })
    }

    /// Whether responses may stream (SSE bodies as they are produced).
    fn stream_responses(self) -> bool {
        match self {
            Host::Serve { .. } => true,
            Host::Lambda { streaming } => streaming,
        }
    }
}

/// The gateway every host serves: upstream by lifecycle, session store by setting, HTTP rules
/// by `host`. Fails only when the session store cannot be set up.
async fn build_gateway(
    config: &Config,
    host: Host,
) -> anyhow::Result<(Arc<Gateway>, Option<Arc<Reuse>>, Option<Arc<Snapshotted>>)> {
    // Children's notifications that belong to no request, for the sessions' GET streams.
    let (unrelated_tx, unrelated_rx) = tokio::sync::mpsc::unbounded_channel();
    let child = ChildConfig {
        command: secrets::resolved(&config.server, &config.secrets).await?,
        max_message: config.max_message_bytes,
        kill_grace: config.kill_grace,
        verify_process: host.verify_process(),
        unrelated: Some(unrelated_tx),
        era: EraCache::new(config.child_era),
        slots: ChildSlots::new(config.max_children),
    };
    let mut reuse = None;
    let upstream: Arc<dyn Upstream> = match config.lifecycle {
        Lifecycle::Reuse => {
            let r = Arc::new(Reuse::new(child));
            reuse = Some(r.clone());
            r
        }
        Lifecycle::PerRequest => Arc::new(PerRequest::new(child)),
        Lifecycle::PerSession => PerSession::new(child, config.idle_timeout),
    };
    let snapshot = match &config.snapshot {
        Some((path, snap)) => Some(Arc::new(
            Snapshotted::new(
                upstream.clone(),
                snap.clone(),
                &path.display().to_string(),
                config.lifecycle == Lifecycle::Reuse,
            )
            .map_err(|e| anyhow::anyhow!("--snapshot (MCP_LAMBDA_SNAPSHOT): {e}"))?,
        )),
        None => None,
    };
    let upstream: Arc<dyn Upstream> = match &snapshot {
        Some(s) => s.clone(),
        None => upstream,
    };
    let upstream: Arc<dyn Upstream> = if config.access.tools.is_open() {
        upstream
    } else {
        Arc::new(Policed::new(upstream, config.access.tools.clone()))
    };
    let sessions: Option<Arc<dyn SessionStore>> = match config.sessions {
        Sessions::None => None,
        Sessions::Memory => Some(Arc::new(MemoryStore::with_limit(
            config.session_ttl,
            config.max_sessions,
        ))),
        Sessions::Token => Some(Arc::new(
            TokenStore::new(&config.session_keys, config.session_ttl)
                .map_err(|e| anyhow::anyhow!("--session-keys (MCP_LAMBDA_SESSION_KEYS): {e}"))?,
        )),
        Sessions::Dynamodb => Some(dynamo::store(config).await?),
    };
    let gateway = Gateway::new(
        GatewayConfig {
            allowed_origins: config.allow_origin.clone(),
            allow_loopback_origins: host.allow_loopback_origins(),
            max_body: config.max_message_bytes,
            request_timeout: config.request_timeout,
            get_stream_max: config.get_stream_max,
            stream_responses: host.stream_responses(),
            // requestState of MRTR rounds: sealed with the session keys when configured, so any
            // instance continues a round.
            state_keys: config.session_keys.clone(),
            tool_scopes: config.access.tool_scopes.clone(),
        },
        upstream,
        sessions,
    );
    let gateway = match &config.access.oauth {
        Some(oauth) => gateway.with_authorizer(resource_server(config, oauth).await?),
        None => gateway,
    };
    let gateway = Arc::new(gateway);
    gateway.listen(unrelated_rx);
    Ok((gateway, reuse, snapshot))
}

/// The OAuth resource server of `--auth oauth`, its issuers' keys fetched now (Lambda: during
/// INIT). An issuer that cannot be reached is logged, not fatal: requests fail closed (503)
/// until its keys can be fetched.
async fn resource_server(
    config: &Config,
    oauth: &config::OAuth,
) -> anyhow::Result<Arc<mcp_lambda_oauth::ResourceServer>> {
    let settings = mcp_lambda_oauth::Settings {
        issuers: oauth.issuers.clone(),
        resource: oauth.resource.clone(),
        required_scopes: oauth.scopes.clone(),
        scopes_supported: {
            let mut all = oauth.scopes.clone();
            for s in config.access.tool_scopes.all() {
                if !all.contains(&s) {
                    all.push(s);
                }
            }
            all
        },
        endpoint_path: config.path.clone(),
        loopback_port: oauth.loopback_port,
    };
    let rs = mcp_lambda_oauth::ResourceServer::new(settings)
        .map_err(|e| anyhow::anyhow!("--auth oauth: {e}"))?;
    // Bounded: Lambda's INIT has 10 s, and requests fetch what is missing (rate-limited).
    match tokio::time::timeout(Duration::from_secs(5), rs.warm()).await {
        Ok(failures) => {
            for failure in failures {
                tracing::warn!(error = %failure, "OAuth issuer keys not fetched at start-up; requests get 503 until they are");
            }
        }
        Err(_) => tracing::warn!(
            "OAuth issuer keys not fetched at start-up within 5 s; requests get 503 until they are"
        ),
    }
    tracing::info!(issuers = ?oauth.issuers, resource = ?oauth.resource, "OAuth resource server on");
    Ok(Arc::new(rs))
}

/// The child's command line, for logs.
fn command_line(config: &Config) -> String {
    std::iter::once(config.server.program.as_str())
        .chain(config.server.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Builds the tokio runtime, or says why it could not (start-up failure).
fn async_runtime(mut builder: tokio::runtime::Builder) -> Option<tokio::runtime::Runtime> {
    match builder.enable_all().build() {
        Ok(r) => Some(r),
        Err(e) => {
            eprintln!("mcp-lambda: error: cannot start the async runtime: {e}");
            None
        }
    }
}

/// Starts the reuse children ahead of the first request, all at once, logging (not failing) on
/// error: a broken server then reports its error on the first request, as it would without
/// prewarm.
async fn prewarm(reuse: &Arc<Reuse>, versions: &[String], within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    let started = std::time::Instant::now();
    for (version, outcome) in reuse.prewarm_all(versions, deadline).await {
        match outcome {
            Ok(pid) => {
                tracing::info!(pid, %version, took = ?started.elapsed(), "prewarmed the MCP server")
            }
            Err(e) => {
                tracing::warn!(error = %e, %version, "prewarm failed; the first request will try again")
            }
        }
    }
}

/// Prewarm (if on) and the snapshot's verification. Without a snapshot, prewarm is awaited.
/// With one, the first answers need no child: prewarm runs in the background unless `wait`,
/// and the snapshot is verified right after it (or, without prewarm, once the child has served
/// a request).
async fn warm(
    config: &Config,
    reuse: Option<Arc<Reuse>>,
    snapshot: Option<Arc<Snapshotted>>,
    within: Duration,
    wait: bool,
) {
    if let Some(note) = &config.compile_note {
        tracing::warn!("{note}");
    }
    let reuse = reuse.filter(|_| config.prewarm);
    let versions = config.prewarm_versions.clone();
    let warmed = reuse.is_some();
    let prewarmed = async move {
        if let Some(r) = &reuse {
            prewarm(r, &versions, within).await;
        }
    };
    let verified = async move {
        if let Some(s) = snapshot {
            // After prewarm the child is up; otherwise (or if it could not be asked) once it
            // has served a request.
            if !(warmed && s.verify().await) {
                s.verify_after_first_use().await
            }
        }
    };
    if wait || config.snapshot.is_none() {
        prewarmed.await;
        tokio::spawn(verified);
    } else {
        tokio::spawn(async move {
            prewarmed.await;
            verified.await
        });
    }
}

/// `serve`: binds `--listen`, prewarms if asked, serves until the process is stopped.
async fn serve_main(config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "--listen (MCP_LAMBDA_LISTEN): cannot listen on {}: {e}",
                config.listen
            )
        })?;
    let local = listener.local_addr()?;
    let host = Host::Serve {
        loopback: local.ip().is_loopback(),
    };
    // `--listen 127.0.0.1:0`: the port a loopback Host must name is the one bound.
    let mut config = config;
    if let Some(o) = config.access.oauth.as_mut()
        && o.loopback_port.is_some()
    {
        o.loopback_port = Some(local.port());
    }
    let (gateway, reuse, snapshot) = build_gateway(&config, host).await?;
    warm(&config, reuse, snapshot, config.request_timeout, false).await;
    tracing::info!(
        server = %config.server_name,
        command = %command_line(&config),
        lifecycle = ?config.lifecycle,
        sessions = ?config.sessions,
        "listening on http://{local}{}",
        config.path
    );
    serve::run(
        listener,
        &config.path,
        gateway,
        config.max_message_bytes,
        config.connections,
        config.request_timeout + Duration::from_secs(1),
    )
    .await
}

/// Lambda: builds the gateway during INIT, prewarms if asked, then polls the Runtime API.
async fn lambda_main(config: Config) -> anyhow::Result<()> {
    // Behind a front door the caller's Origin is a browser's concern of the API in front; the
    // loopback shortcut never applies.
    let streaming = config.invoke_mode == InvokeMode::ResponseStream;
    let (gateway, reuse, snapshot) = build_gateway(&config, Host::Lambda { streaming }).await?;
    // Provisioned concurrency and Managed Instances initialize before any traffic: there,
    // INIT waits for the child even with a snapshot.
    let before_traffic = std::env::var("AWS_LAMBDA_INITIALIZATION_TYPE")
        .is_ok_and(|t| !t.is_empty() && t != "on-demand");
    // INIT phase: Lambda allows 10 s; keep well inside it.
    let within = config.request_timeout.min(Duration::from_secs(8));
    warm(&config, reuse, snapshot, within, before_traffic).await;
    tracing::info!(
        server = %config.server_name,
        command = %command_line(&config),
        lifecycle = ?config.lifecycle,
        sessions = ?config.sessions,
        invoke_mode = ?config.invoke_mode,
        concurrency = mcp_lambda_runtime::max_concurrency(),
        "serving the Lambda Runtime API"
    );
    let handler = Arc::new(Handler::new(
        gateway,
        HandlerConfig {
            path: config.path.clone(),
            margin: config.deadline_margin,
            metrics: config.metrics,
            stream: streaming,
        },
    ));
    mcp_lambda_runtime::run(handler, Duration::from_millis(450))
        .await
        .map_err(|e| anyhow::anyhow!("Lambda runtime: {e}"))
}
