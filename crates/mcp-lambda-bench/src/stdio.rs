//! A bare stdio MCP client: the baseline the wrapper is compared with.
//!
//! Contract: [`StdioChild::spawn`] starts the server with piped stdin/stdout (stderr discarded)
//! and nothing else between us and it. [`StdioChild::handshake`] sends `initialize` and
//! `notifications/initialized` exactly as a wrapper must; [`StdioChild::roundtrip`] writes one
//! request line and reads lines until the response with that id (anything else the server
//! writes, e.g. notifications, is skipped). [`StdioChild::close`] closes stdin, waits up to 5 s
//! for exit, then kills.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::target::Target;

/// A running bare child.
pub(crate) struct StdioChild {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    line: String,
}

impl StdioChild {
    /// Spawns `target`'s command.
    pub(crate) fn spawn(target: &Target) -> anyhow::Result<Self> {
        let mut child = Command::new(&target.program)
            .args(&target.args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("spawning {}", target.program))?;
        let stdin = child.stdin.take().context("child stdin")?;
        let stdout = child.stdout.take().context("child stdout")?;
        Ok(Self {
            child,
            stdin: Some(stdin),
            stdout: BufReader::with_capacity(64 * 1024, stdout),
            line: String::new(),
        })
    }

    /// `initialize` (id 0) then `notifications/initialized`.
    pub(crate) fn handshake(&mut self) -> anyhow::Result<()> {
        let init = initialize_request(0);
        self.roundtrip(init.as_bytes(), &json!(0))?;
        self.send(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)?;
        Ok(())
    }

    /// Writes `line` (no trailing newline) plus `\n`.
    fn send(&mut self, line: &[u8]) -> anyhow::Result<()> {
        let stdin = self.stdin.as_mut().context("stdin already closed")?;
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line);
        buf.push(b'\n');
        stdin.write_all(&buf).context("writing to the child")?;
        stdin.flush()?;
        Ok(())
    }

    /// Sends `request` and reads lines until the response whose id is `id`; returns it and the
    /// instant its line had been read (before it was parsed, so parsing is not timed).
    pub(crate) fn roundtrip(
        &mut self,
        request: &[u8],
        id: &Value,
    ) -> anyhow::Result<(Value, Instant)> {
        self.send(request)?;
        loop {
            self.line.clear();
            if self.stdout.read_line(&mut self.line)? == 0 {
                bail!("the child closed stdout");
            }
            let read = Instant::now();
            let Ok(msg) = serde_json::from_str::<Value>(&self.line) else {
                continue;
            };
            if msg.get("id") == Some(id) && msg.get("method").is_none() {
                return Ok((msg, read));
            }
        }
    }

    /// Closes stdin, waits up to 5 s for the child to exit, then kills it.
    pub(crate) fn close(mut self) -> anyhow::Result<()> {
        drop(self.stdin.take());
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = self.child.kill();
        self.child.wait()?;
        Ok(())
    }
}

/// The spawn floor: spawn + initialize + `notifications/initialized` + one `tools/call`, timed
/// from spawn to the call's response; stopping the child afterwards is not timed.
pub(crate) fn spawn_floor(t: &Target) -> anyhow::Result<Duration> {
    let req = t.call_request(1);
    let start = Instant::now();
    let mut child = StdioChild::spawn(t)?;
    child.handshake()?;
    let (msg, done) = child.roundtrip(&req, &json!(1))?;
    let took = done - start;
    child.close()?;
    crate::target::check_call(&msg)?;
    Ok(took)
}

/// An `initialize` request for protocol 2025-06-18 with id `id`.
pub(crate) fn initialize_request(id: u64) -> String {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "method": "initialize",
        "params": {
            "protocolVersion": crate::PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "mcp-lambda-bench", "version": env!("CARGO_PKG_VERSION")},
        },
    })
    .to_string()
}
