//! The child's three pipes: one writer task for stdin (one write per message), the stdout
//! reader that completes requests and routes what the child sends on its own, and the stderr
//! forwarder.
//!
//! Contract: stdout lines that are not JSON-RPC are logged and skipped; a line over the size cap
//! fails the request it answers (or, answering nothing known, the child); stderr lines are
//! logged under `mcp_lambda::child_stderr`, tagged with the request that last used the child,
//! and the last [`STDERR_TAIL`](super::STDERR_TAIL) are kept for the crash report.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use nix::sys::signal::Signal;
use serde_json::value::RawValue;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio::process::ChildStdin;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{
    ChildError, STDERR_LINE_MAX, STDERR_TAIL, Shared, Unrelated, describe, preview, streams,
};
use crate::framing::{EDGE, Line, LineReader};
use crate::jsonrpc::{self, Kind};

pub(super) async fn write_loop(mut stdin: ChildStdin, mut rx: mpsc::Receiver<Bytes>) {
    while let Some(line) = rx.recv().await {
        let ok = async {
            stdin.write_all(&line).await?;
            stdin.flush().await
        }
        .await;
        if let Err(e) = ok {
            debug!(error = %e, "MCP server's stdin closed");
            break;
        }
    }
    // Dropping stdin closes it: the child sees EOF.
}

pub(super) async fn read_loop(shared: Arc<Shared>, stdout: tokio::process::ChildStdout) {
    let mut reader = LineReader::new(
        BufReader::with_capacity(64 * 1024, stdout),
        shared.max_message,
    );
    loop {
        match reader.next_line().await {
            Ok(Some(Line::Complete(line))) => handle_line(&shared, &line).await,
            Ok(Some(Line::TooLong { head, tail, len })) => {
                let err = ChildError::OutputTooLarge {
                    len,
                    max: shared.max_message,
                };
                let owner = find_wire_id(&shared, &tail).or_else(|| find_wire_id(&shared, &head));
                match owner {
                    Some(id) => {
                        warn!(len, wire_id = id, "MCP server answer over the size limit");
                        shared.complete(id, Err(err));
                    }
                    None => {
                        warn!(
                            len,
                            "MCP server wrote an over-long line that answers no known request; restarting it"
                        );
                        shared.fail_all(err);
                        shared.signal_group(Some(Signal::SIGKILL));
                    }
                }
            }
            Ok(None) => break,
            Err(e) => {
                warn!(error = %e, "reading MCP server stdout failed");
                break;
            }
        }
    }
    // stdout closed: the child is exiting. Give the exit watcher a moment to report the status.
    let mut exit = shared.exit.clone();
    let status = tokio::time::timeout(Duration::from_secs(2), exit.wait_for(|s| s.is_some()))
        .await
        .ok()
        .and_then(|s| s.ok().and_then(|s| *s));
    let reason = match status {
        Some(st) => describe(st),
        None => "closed its stdout".to_string(),
    };
    shared.fail_all(ChildError::Exited(reason));
}

/// Finds `"id":N` for a pending wire id N in a fragment of an over-long line.
fn find_wire_id(shared: &Shared, fragment: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(fragment);
    let pending = shared.pending.lock().ok()?;
    let mut rest = text.as_ref();
    while let Some(i) = rest.find("\"id\"") {
        let after = rest[i + 4..].trim_start();
        if let Some(after) = after.strip_prefix(':') {
            let digits: String = after
                .trim_start()
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            if let Ok(id) = digits.parse::<u64>()
                && pending.waiting.contains_key(&id)
            {
                return Some(id);
            }
        }
        rest = &rest[i + 4..];
    }
    None
}

async fn handle_line(shared: &Arc<Shared>, line: &[u8]) {
    if line.iter().all(u8::is_ascii_whitespace) {
        return;
    }
    let parsed = serde_json::from_slice::<&RawValue>(line)
        .map_err(|e| e.to_string())
        .and_then(|raw| {
            if raw.get().starts_with('[') {
                serde_json::from_str::<Vec<&RawValue>>(raw.get()).map_err(|e| e.to_string())
            } else {
                Ok(vec![raw])
            }
        });
    let items = match parsed {
        Ok(items) => items,
        Err(_) => {
            warn!(line = %preview(line), "MCP server wrote a non-JSON line to stdout; skipped");
            return;
        }
    };
    for raw in items {
        let msg = match jsonrpc::parse_message(raw) {
            Ok(m) => m,
            Err(e) => {
                warn!(error = %e, line = %preview(line), "MCP server wrote a non-JSON-RPC message; skipped");
                continue;
            }
        };
        match msg.kind() {
            Kind::Response => {
                let id = msg.id().and_then(|i| i.get().parse::<u64>().ok());
                let delivered = id.is_some_and(|id| shared.complete(id, Ok(raw.to_owned())));
                if !delivered {
                    debug!(id = ?msg.id().map(RawValue::get), "late or unknown answer from MCP server dropped");
                }
            }
            Kind::Request => {
                if msg.method() == Some("ping") || !streams::request(shared, &msg) {
                    answer_server_request(shared, &msg).await;
                }
            }
            Kind::Notification => {
                if streams::notification(shared, &msg) {
                    continue;
                }
                let unrelated = msg.method() != Some("notifications/progress")
                    && shared
                        .unrelated
                        .lock()
                        .ok()
                        .and_then(|u| u.clone())
                        .is_some_and(|(tx, session)| {
                            tx.send(Unrelated {
                                session,
                                message: Bytes::copy_from_slice(raw.get().as_bytes()),
                            })
                            .is_ok()
                        });
                if !unrelated {
                    debug!(
                        method = msg.method().unwrap_or(""),
                        "notification from MCP server (no stream to carry it)"
                    );
                }
            }
        }
    }
}

async fn answer_server_request(shared: &Shared, msg: &jsonrpc::Message) {
    let method = msg.method().unwrap_or("");
    let reply = if method == "ping" {
        match RawValue::from_string("{}".into()) {
            Ok(empty) => jsonrpc::result_response(msg.id(), &empty),
            Err(_) => return,
        }
    } else {
        info!(
            method,
            "MCP server asked the client for something this transport cannot carry; answered with an error"
        );
        jsonrpc::error_response(
            msg.id(),
            jsonrpc::METHOD_NOT_FOUND,
            &format!(
                "{method} is not available: no client can answer it here (it reads no SSE stream, did not declare the capability, or shares this server with other clients)"
            ),
        )
    };
    // Never waits: the read loop must not block on a child's full stdin.
    if !shared.try_write(reply) {
        debug!("the answer to the MCP server's request could not be queued");
    }
}

pub(super) async fn stderr_loop(shared: Arc<Shared>, stderr: tokio::process::ChildStderr) {
    let mut reader = LineReader::new(BufReader::new(stderr), STDERR_LINE_MAX);
    while let Ok(Some(line)) = reader.next_line().await {
        let text = match line {
            Line::Complete(l) => String::from_utf8_lossy(&l).into_owned(),
            Line::TooLong { head, len, .. } => format!(
                "{}… ({len} bytes, cut)",
                String::from_utf8_lossy(&head[..head.len().min(EDGE)])
            ),
        };
        let tag = shared.tag.lock().ok().and_then(|t| t.clone());
        match tag {
            Some(request_id) => {
                info!(target: "mcp_lambda::child_stderr", %request_id, "{text}")
            }
            None => info!(target: "mcp_lambda::child_stderr", "{text}"),
        }
        if let Ok(mut tail) = shared.stderr_tail.lock() {
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(text);
        }
    }
}
