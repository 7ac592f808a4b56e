//! `mcp-lambda-example-server`: the example stdio MCP server as a standalone binary.
//!
//! Contract: serves newline-delimited JSON-RPC 2.0 on stdin/stdout (see the library
//! documentation), logs only to stderr, and exits with status 0 when stdin reaches EOF
//! (status 1 if reading stdin fails).

use std::process::ExitCode;

fn main() -> ExitCode {
    match mcp_lambda_example_server::run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mcp-lambda-example-server: {err}");
            ExitCode::FAILURE
        }
    }
}
