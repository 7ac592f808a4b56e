//! What the two benchmark binaries share: `mcp-lambda-bench` (`scripts/bench`: serve modes and
//! `--lambda`) and `sessions` (`scripts/bench-sessions`: the session stores). Processes, HTTP
//! and the stand-in Runtime API come from the test kit (`mcp-lambda-testkit`).

pub mod stats;

use anyhow::Context;

/// Writes `doc` to `path` as pretty-printed JSON and a final newline (`--json FILE`).
pub fn write_json(
    path: impl AsRef<std::path::Path>,
    doc: &serde_json::Value,
) -> anyhow::Result<()> {
    let path = path.as_ref();
    let text = serde_json::to_string_pretty(doc)? + "\n";
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}
