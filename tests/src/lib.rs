//! End-to-end test support for `tests/e2e/*.rs`: the shared test kit
//! ([`mcp_lambda_testkit`], also used by the benchmark), under the name the tests import.
//!
//! Contract: everything the kit exports is available as `mcp_lambda_tests::NAME`. See the kit
//! for what each part promises: paths and tools, the process guard, the HTTP client, `serve`,
//! the Lambda runtime and emulators (stand-in Runtime API, `cargo lambda watch`, moto) and the
//! real MCP clients.

pub use mcp_lambda_testkit::*;
