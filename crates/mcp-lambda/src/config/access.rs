//! Who may do what: the tool policy (`--tools`, `--read-only`).
//!
//! Contract: [`AccessArgs`] are flattened into the `serve` / Lambda options; each value is
//! checked on its own by its parser ([`tool_policy`] turns `--tools` into a
//! [`ToolPolicy`] there), and [`access`] combines them with `--read-only`.

use clap::Args;
use mcp_lambda_core::policy::ToolPolicy;

use super::ConfigError;
use super::values::Checked;

/// Access options (flags and their `MCP_LAMBDA_*` variables).
#[derive(Debug, Clone, Args)]
pub(crate) struct AccessArgs {
    /// Tools clients may see and call: comma-separated globs (`*`, `?`), a leading `!` denies
    /// (`get_*,echo`; `!delete_*`) [default: every tool]. Hidden tools are left out of
    /// tools/list and calling one is answered like an unknown tool.
    #[arg(long, env = "MCP_LAMBDA_TOOLS", value_parser = Checked(tool_policy))]
    pub(crate) tools: Option<ToolPolicy>,

    /// Only tools annotated `readOnlyHint: true` by the server are visible and callable.
    #[arg(long, env = "MCP_LAMBDA_READ_ONLY", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub(crate) read_only: bool,
}

/// A `--tools` value.
fn tool_policy(value: &str) -> Result<ToolPolicy, String> {
    ToolPolicy::parse(value, false).map_err(|e| e.to_string())
}

/// The validated access settings.
#[derive(Debug, Clone, Default)]
pub(crate) struct Access {
    /// Which tools are visible.
    pub(crate) tools: ToolPolicy,
}

/// Combines the access options.
pub(crate) fn access(args: &AccessArgs) -> Result<Access, ConfigError> {
    let tools = args
        .tools
        .clone()
        .unwrap_or_default()
        .with_read_only(args.read_only);
    Ok(Access { tools })
}
