//! The test kit of mcp-lambda, shared by the end-to-end tests (`tests/`, re-exported as
//! `mcp_lambda_tests`) and the benchmark (`crates/mcp-lambda-bench`): start the real
//! `mcp-lambda` binary around real stdio servers, talk to it over real HTTP, stand in for the
//! Lambda Runtime API, and find the real third-party peers `scripts/install-tools` installed.
//!
//! Contract:
//! - Every process started here is owned by a [`ProcessGuard`] and stopped when dropped
//!   (SIGTERM, then SIGKILL after 5 s; the emulators are killed at once).
//! - [`Server::start`] runs `mcp-lambda serve --listen 127.0.0.1:0 ...`, waits until it logs its
//!   URL, and stops it when dropped; [`Server::launch`] is the fallible form the bench uses.
//! - [`require`] finds an outside tool; when it is missing the test fails under `CI=true` and
//!   is skipped (with a message) otherwise — never silently.
//! - Binaries are taken from the target directory the caller was built into ([`bin`]): run
//!   `cargo build --workspace --bins` first (the README's test command does).
//! - The e2e helpers panic on failure (that is how a test fails); everything the bench uses
//!   ([`RawClient`], [`ProcessGuard`], [`Server::launch`], [`RuntimeApi`], the `/proc` probes)
//!   returns `std::io::Result` instead.

mod clients;
mod http;
mod lambda;
mod moto;
mod oauth;
mod paths;
mod process;
mod proxy;
mod runtime_api;
mod serve;

pub use clients::{
    CLIENT_TIMEOUT, INITIALIZED, Mcp, McpSession, StdioChild, initialize_request, mcp_headers,
    modern_meta, modern_post, py_client, py_oauth, py_stream, ts_client, ts_oauth, ts_stream,
};
pub use http::{
    Client, ClientKind, Head, RawClient, Resp, Response, clip, get_stream, http,
    json_rpc_from_body, post, read_body, read_head, write_message,
};
pub use lambda::{Emulator, Function, LambdaRuntime, function_url_event, lambda_env};
pub use moto::{Moto, aws_env};
pub use oauth::{AuthServer, oauth_serve};
pub use paths::{
    bin, cargo_lambda, cdk_modules, checkov, conformance_dir, conformance_module,
    copy_without_bytecode, everything_cmd, example_cmd, fixture_cmd, fixture_modern_cmd,
    iac_python, mcp_server_time, node, node_module, node22, on_path, path_str, python_client,
    require, root, time_cmd,
};
pub use process::{
    Log, ProcessGuard, Rss, accepts, alive, child_pids, children_of, collect_lines, cpu_ns_of,
    free_addr, free_port, rss_of, run, signal, wait_childless, wait_gone,
};
pub use proxy::{CountingRelay, Ops, RoundRobin, Tally, ops_diff};
pub use runtime_api::{Answer, Event, Invocation, MiniRuntimeApi, RuntimeApi, Seen};
pub use serve::{Ready, Server, serve};
