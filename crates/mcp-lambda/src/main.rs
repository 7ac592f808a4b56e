//! `mcp-lambda`: serve any stdio MCP server over MCP Streamable HTTP.
//!
//! `mcp-lambda serve [OPTIONS] [-- CMD ARGS...]` (or just `mcp-lambda`, configured by
//! `MCP_LAMBDA_*` variables) runs the local HTTP host. Configuration errors print one line naming
//! the field and exit with status 2.

mod config;
mod serve;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use config::{Config, Lifecycle, LogFormat, ServeArgs, Sessions};
use mcp_lambda_core::gateway::DEFAULT_MAX_BODY;
use mcp_lambda_core::{
    ChildConfig, Gateway, GatewayConfig, MemoryStore, PerRequest, PerSession, Reuse, SessionStore,
    Upstream,
};

#[derive(Parser)]
#[command(
    name = "mcp-lambda",
    version,
    about = "Serve any stdio MCP server over MCP Streamable HTTP",
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
    /// Serve a stdio MCP server over HTTP (the default).
    Serve(Box<ServeArgs>),
    /// Run the bundled example stdio MCP server on stdin/stdout.
    #[command(hide = true)]
    ExampleServer,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::ExampleServer) => {
            return match mcp_lambda_example_server::run() {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("example-server: {e}");
                    std::process::ExitCode::FAILURE
                }
            };
        }
        Some(Command::Serve(a)) => *a,
        None => cli.serve,
    };
    let ours: Vec<(String, String)> = std::env::vars().collect();
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("mcp-lambda"));
    let config = match config::resolve(&args, &ours, &exe) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("mcp-lambda: error: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    if let Err(e) = init_logging(args.log_format, &args.log_level) {
        eprintln!("mcp-lambda: error: --log-level (MCP_LAMBDA_LOG_LEVEL): {e}");
        return std::process::ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("mcp-lambda: error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve_main(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("mcp-lambda: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
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
            .init(),
        LogFormat::Text => builder.with_ansi(false).init(),
    }
    Ok(())
}

async fn serve_main(config: Config) -> anyhow::Result<()> {
    let child = ChildConfig {
        command: config.server.clone(),
        max_message: config.max_message_bytes,
        kill_grace: config.kill_grace,
    };
    let upstream: Arc<dyn Upstream> = match config.lifecycle {
        Lifecycle::Reuse => Arc::new(Reuse::new(child)),
        Lifecycle::PerRequest => Arc::new(PerRequest::new(child)),
        Lifecycle::PerSession => PerSession::new(child, config.idle_timeout),
    };
    let sessions: Option<Arc<dyn SessionStore>> = match config.sessions {
        Sessions::None => None,
        Sessions::Memory => Some(Arc::new(MemoryStore::new(config.session_ttl))),
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "--listen (MCP_LAMBDA_LISTEN): cannot listen on {}: {e}",
                config.listen
            )
        })?;
    let local = listener.local_addr()?;
    let gateway = Arc::new(Gateway::new(
        GatewayConfig {
            allowed_origins: config.allow_origin.clone(),
            allow_loopback_origins: local.ip().is_loopback(),
            max_body: config
                .max_message_bytes
                .max(DEFAULT_MAX_BODY.min(config.max_message_bytes)),
            request_timeout: config.request_timeout,
        },
        upstream,
        sessions,
    ));
    let cmdline = std::iter::once(config.server.program.as_str())
        .chain(config.server.args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    tracing::info!(
        server = %config.server_name,
        command = %cmdline,
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
