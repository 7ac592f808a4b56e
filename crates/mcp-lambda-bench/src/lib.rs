//! What the two benchmark binaries share: `mcp-lambda-bench` (`scripts/bench`: serve modes and
//! `--lambda`) and `sessions` (`scripts/bench-sessions`: the session stores). Processes, HTTP
//! and the stand-in Runtime API come from the test kit (`mcp-lambda-testkit`).

pub mod stats;
