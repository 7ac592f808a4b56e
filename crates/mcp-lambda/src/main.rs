//! `mcp-lambda`: serve any stdio MCP server over MCP Streamable HTTP.
//!
//! - On AWS Lambda (`AWS_LAMBDA_RUNTIME_API` set, no subcommand) it is the function's `bootstrap`:
//!   configured by `MCP_LAMBDA_*` variables, it polls the Runtime API and serves every front door
//!   through the same core gateway as the local server.
//! - Elsewhere, `mcp-lambda [serve] [OPTIONS] [-- CMD ARGS...]` runs the local HTTP host.
//!
//! Configuration errors print one line naming the field and exit with status 2.

mod config;
mod dynamo;
mod serve;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use config::{ChildEra, Config, InvokeMode, Lifecycle, LogFormat, Mode, ServeArgs, Sessions};
use mcp_lambda_core::{
    ChildConfig, EraCache, EraPolicy, Gateway, GatewayConfig, MemoryStore, PerRequest, PerSession,
    Reuse, SessionStore, TokenStore, Upstream,
};
use mcp_lambda_runtime::{Handler, HandlerConfig};

#[derive(Parser)]
#[command(
    name = "mcp-lambda",
    version,
    about = "Serve any stdio MCP server over MCP Streamable HTTP, locally or as an AWS Lambda function",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

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
    /// Manage the session store.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Run the bundled example stdio MCP server on stdin/stdout.
    #[command(hide = true)]
    ExampleServer,
}

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

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let on_lambda = std::env::var_os("AWS_LAMBDA_RUNTIME_API").is_some();
    let (args, mode) = match cli.command {
        Some(Command::ExampleServer) => {
            return match mcp_lambda_example_server::run() {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("example-server: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        Some(Command::Sessions {
            command: SessionsCommand::CreateTable { table },
        }) => return dynamo::create_table(table),
        Some(Command::AgentcoreSchema(a)) => return agentcore_schema(*a),
        Some(Command::Serve(a)) => (*a, Mode::Serve),
        Some(Command::Lambda(a)) => (*a, Mode::Lambda),
        None if on_lambda => (cli.serve, Mode::Lambda),
        None => (cli.serve, Mode::Serve),
    };
    let ours: Vec<(String, String)> = std::env::vars().collect();
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("mcp-lambda"));
    let config = match config::resolve(&args, &ours, &exe, mode) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mcp-lambda: error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let (format, level) = log_settings(&args, mode);
    if let Err(e) = init_logging(format, &level) {
        eprintln!("mcp-lambda: error: --log-level (MCP_LAMBDA_LOG_LEVEL): {e}");
        return std::process::ExitCode::from(2);
    }
    // Lambda delivers one invocation at a time per sandbox, and lambda_runtime runs the handler
    // on the thread that polls: a single-threaded runtime avoids a thread hop per step (measured:
    // ~365 → ~225 µs of CPU per warm invocation). The local server serves many clients at once.
    let builder = match mode {
        Mode::Serve => tokio::runtime::Builder::new_multi_thread(),
        Mode::Lambda => tokio::runtime::Builder::new_current_thread(),
    };
    let Some(runtime) = async_runtime(builder) else {
        return std::process::ExitCode::FAILURE;
    };
    let result = match mode {
        Mode::Serve => runtime.block_on(serve_main(config)),
        Mode::Lambda => runtime.block_on(lambda_main(config)),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Log format and level: our flags/variables first; on Lambda, then the function's own
/// logging configuration (`AWS_LAMBDA_LOG_FORMAT`, `AWS_LAMBDA_LOG_LEVEL`).
fn log_settings(args: &ServeArgs, mode: Mode) -> (LogFormat, String) {
    let lambda = mode == Mode::Lambda;
    let format = args.log_format.unwrap_or_else(|| {
        let json = lambda
            && std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
        if json {
            LogFormat::Json
        } else {
            LogFormat::Text
        }
    });
    let level = args.log_level.clone().unwrap_or_else(|| {
        let aws = if lambda {
            std::env::var("AWS_LAMBDA_LOG_LEVEL").ok()
        } else {
            None
        };
        match aws.map(|l| l.to_ascii_lowercase()).as_deref() {
            Some("fatal") => "error".into(),
            Some(l @ ("trace" | "debug" | "info" | "warn" | "error")) => l.into(),
            _ => "info".into(),
        }
    });
    (format, level)
}

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
fn agentcore_schema(args: ServeArgs) -> std::process::ExitCode {
    let ours: Vec<(String, String)> = std::env::vars().collect();
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("mcp-lambda"));
    let config = match config::resolve(&args, &ours, &exe, Mode::Serve) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mcp-lambda: error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // Only problems on stderr: the schema itself goes to stdout.
    let level = std::env::var("MCP_LAMBDA_LOG_LEVEL").unwrap_or_else(|_| "warn".into());
    if let Err(e) = init_logging(LogFormat::Text, &level) {
        eprintln!("mcp-lambda: error: --log-level (MCP_LAMBDA_LOG_LEVEL): {e}");
        return std::process::ExitCode::from(2);
    }
    let Some(runtime) = async_runtime(tokio::runtime::Builder::new_current_thread()) else {
        return std::process::ExitCode::FAILURE;
    };
    match runtime.block_on(agentcore_main(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mcp-lambda agentcore-schema: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn agentcore_main(config: Config) -> anyhow::Result<()> {
    let (gateway, _) = build_gateway(&config, true, false).await?;
    let mut tools: Vec<serde_json::Value> = Vec::new();
    let mut cursor: Option<String> = None;
    let listed = async {
        for page in 0..100 {
            let mut params = serde_json::json!({});
            if let Some(c) = &cursor {
                params["cursor"] = serde_json::Value::from(c.as_str());
            }
            let body = serde_json::json!({"jsonrpc": "2.0", "id": page, "method": "tools/list", "params": params});
            let answer = gateway
                .rpc(body.to_string().as_bytes(), Default::default())
                .await
                .ok_or_else(|| anyhow::anyhow!("the server did not answer tools/list"))?;
            let v: serde_json::Value = serde_json::from_slice(&answer)?;
            if let Some(e) = v.get("error") {
                anyhow::bail!("tools/list failed: {e}");
            }
            let result = &v["result"];
            tools.extend(result["tools"].as_array().cloned().unwrap_or_default());
            cursor = result["nextCursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                return Ok(());
            }
        }
        anyhow::bail!("tools/list did not end within 100 pages")
    }
    .await;
    gateway.upstream().shutdown().await;
    listed?;
    let (definitions, notes) = mcp_lambda_core::agentcore::tool_definitions(&tools);
    for n in notes {
        eprintln!("agentcore-schema: {n}");
    }
    println!("{}", serde_json::to_string_pretty(&definitions)?);
    Ok(())
}

/// The gateway every host serves: upstream by lifecycle, session store by setting.
async fn build_gateway(
    config: &Config,
    allow_loopback_origins: bool,
    on_lambda: bool,
) -> anyhow::Result<(Arc<Gateway>, Option<Arc<Reuse>>)> {
    // Children's notifications that belong to no request, for the sessions' GET streams.
    let (unrelated_tx, unrelated_rx) = tokio::sync::mpsc::unbounded_channel();
    let child = ChildConfig {
        command: config.server.clone(),
        max_message: config.max_message_bytes,
        kill_grace: config.kill_grace,
        // Lambda freezes the sandbox between invocations: a child may die unseen.
        verify_process: on_lambda,
        unrelated: Some(unrelated_tx),
        era: EraCache::new(match config.child_era {
            ChildEra::Auto => EraPolicy::Auto,
            ChildEra::Legacy => EraPolicy::Legacy,
            ChildEra::Modern => EraPolicy::Modern,
        }),
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
    let sessions: Option<Arc<dyn SessionStore>> = match config.sessions {
        Sessions::None => None,
        Sessions::Memory => Some(Arc::new(MemoryStore::new(config.session_ttl))),
        Sessions::Token => Some(Arc::new(
            TokenStore::new(&config.session_keys, config.session_ttl)
                .map_err(|e| anyhow::anyhow!("--session-keys (MCP_LAMBDA_SESSION_KEYS): {e}"))?,
        )),
        Sessions::Dynamodb => Some(dynamo::store(config).await?),
    };
    let gateway = Arc::new(Gateway::new(
        GatewayConfig {
            allowed_origins: config.allow_origin.clone(),
            allow_loopback_origins,
            max_body: config.max_message_bytes,
            request_timeout: config.request_timeout,
            // The local server streams bodies; on Lambda only a RESPONSE_STREAM function does.
            stream_responses: !on_lambda || config.invoke_mode == InvokeMode::ResponseStream,
            // requestState of MRTR rounds: sealed with the session keys when configured, so any
            // instance continues a round.
            state_keys: config.session_keys.clone(),
        },
        upstream,
        sessions,
    ));
    gateway.listen(unrelated_rx);
    Ok((gateway, reuse))
}

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

/// Starts the reuse child ahead of the first request, logging (not failing) on error: a broken
/// server then reports its error on the first request, as it would without prewarm.
async fn prewarm(reuse: &Reuse, versions: &[String], within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    for version in versions {
        let started = std::time::Instant::now();
        match reuse.prewarm(version, deadline).await {
            Ok(pid) => {
                tracing::info!(pid, %version, took = ?started.elapsed(), "prewarmed the MCP server")
            }
            Err(e) => {
                tracing::warn!(error = %e, %version, "prewarm failed; the first request will try again")
            }
        }
    }
}

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
    let (gateway, reuse) = build_gateway(&config, local.ip().is_loopback(), false).await?;
    if let (true, Some(r)) = (config.prewarm, &reuse) {
        prewarm(r, &config.prewarm_versions, config.request_timeout).await;
    }
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
        config.request_timeout + Duration::from_secs(1),
    )
    .await
}

async fn lambda_main(config: Config) -> anyhow::Result<()> {
    // Behind a front door the caller's Origin is a browser's concern of the API in front; the
    // loopback shortcut never applies.
    let (gateway, reuse) = build_gateway(&config, false, true).await?;
    if let (true, Some(r)) = (config.prewarm, &reuse) {
        // INIT phase: Lambda allows 10 s; keep well inside it.
        prewarm(
            r,
            &config.prewarm_versions,
            config.request_timeout.min(Duration::from_secs(8)),
        )
        .await;
    }
    tracing::info!(
        server = %config.server_name,
        command = %command_line(&config),
        lifecycle = ?config.lifecycle,
        sessions = ?config.sessions,
        invoke_mode = ?config.invoke_mode,
        "serving the Lambda Runtime API"
    );
    let handler = Arc::new(Handler::new(
        gateway,
        HandlerConfig {
            path: config.path.clone(),
            margin: config.deadline_margin,
            metrics: config.metrics,
            stream: config.invoke_mode == InvokeMode::ResponseStream,
        },
    ));
    mcp_lambda_runtime::run(handler, Duration::from_millis(450))
        .await
        .map_err(|e| anyhow::anyhow!("Lambda runtime: {e}"))
}
