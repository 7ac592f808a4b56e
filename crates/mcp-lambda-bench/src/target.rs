//! The stdio server being benchmarked and the tool call used as the unit of work.
//!
//! Contract: a [`Target`] names the command (program + args), the tool and its arguments;
//! [`Target::call_request`] builds the `tools/call` line for an id and [`check_call`] rejects any
//! answer that is not a successful tool result, so an error is never timed as if it were work.
//! [`spawn_floor`] is the cheapest a per-request wrapper could be: spawn, handshake(, one call).

use std::time::{Duration, Instant};

use anyhow::bail;
use mcp_lambda_testkit::StdioChild;
use serde_json::{Value, json};

/// The child server and what to call on it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Target {
    /// Short name (`example`, `time`).
    pub(crate) name: String,
    pub(crate) program: String,
    pub(crate) args: Vec<String>,
    pub(crate) tool: String,
    pub(crate) arguments: Value,
}

impl Target {
    /// The bundled native example server; tool `echo`.
    pub(crate) fn example(program: String) -> Self {
        Self {
            name: "example".into(),
            program,
            args: Vec::new(),
            tool: "echo".into(),
            arguments: json!({"message": "hi"}),
        }
    }

    /// PyPI `mcp-server-time`; tool `get_current_time`.
    pub(crate) fn time(program: String) -> Self {
        Self {
            name: "time".into(),
            program,
            args: vec!["--local-timezone".into(), "UTC".into()],
            tool: "get_current_time".into(),
            arguments: json!({"timezone": "UTC"}),
        }
    }

    /// The `tools/call` request with `id`, serialised.
    pub(crate) fn call_request(&self, id: u64) -> Vec<u8> {
        self.request(id, json!({"name": self.tool, "arguments": self.arguments}))
    }

    /// The same `tools/call` as a 2026-07-28 client sends it (the per-request `_meta` envelope).
    pub(crate) fn modern_call_request(&self, id: u64) -> Vec<u8> {
        let meta = json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "mcp-lambda-bench", "version": "1"}
        });
        let params = json!({"name": self.tool, "arguments": self.arguments, "_meta": meta});
        self.request(id, params)
    }

    fn request(&self, id: u64, params: Value) -> Vec<u8> {
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": params});
        msg.to_string().into_bytes()
    }

    /// The command line as one shell-quoted string (for supergateway's `--stdio`).
    pub(crate) fn shell_command(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-=:,+@".contains(&b))
    {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Fails unless `msg` is a successful (non-`isError`) JSON-RPC result.
pub(crate) fn check_call(msg: &Value) -> anyhow::Result<()> {
    if let Some(err) = msg.get("error") {
        bail!("JSON-RPC error: {err}");
    }
    let Some(result) = msg.get("result") else {
        bail!("not a JSON-RPC result: {msg}");
    };
    if result.get("isError") == Some(&Value::Bool(true)) {
        bail!("tool error: {result}");
    }
    Ok(())
}

/// `target`'s server spawned and initialized over stdio, as the bench's client.
pub(crate) fn spawn_child(t: &Target) -> anyhow::Result<StdioChild> {
    let mut child = StdioChild::spawn(&t.program, &t.args)?;
    child.handshake(crate::PROTOCOL_VERSION, "mcp-lambda-bench")?;
    Ok(child)
}

/// A spawn floor: spawn + initialize + `notifications/initialized` (`spawn-init-floor`), and
/// with `call` one `tools/call` (`spawn-floor`), timed from spawn to the last message;
/// stopping the child afterwards is not timed.
pub(crate) fn spawn_floor(t: &Target, call: bool) -> anyhow::Result<Duration> {
    let req = t.call_request(1);
    let start = Instant::now();
    let mut child = spawn_child(t)?;
    let mut took = start.elapsed();
    if call {
        let (msg, done) = child.roundtrip(&req, &json!(1))?;
        took = done - start;
        check_call(&msg)?;
    }
    child.close()?;
    Ok(took)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_call_rejects_errors() {
        assert!(check_call(&json!({"id":1,"result":{"content":[]}})).is_ok());
        assert!(check_call(&json!({"id":1,"error":{"code":-1}})).is_err());
        assert!(check_call(&json!({"id":1,"result":{"isError":true}})).is_err());
        assert!(check_call(&json!({"id":1})).is_err());
    }

    #[test]
    fn shell_command_quotes_only_when_needed() {
        let mut t = Target::time("/x/mcp-server-time".into());
        assert_eq!(t.shell_command(), "/x/mcp-server-time --local-timezone UTC");
        t.args.push("a b".into());
        assert!(t.shell_command().ends_with(" 'a b'"));
    }
}
