//! Messages the child sends while a request is in flight: notifications (progress, logging) and
//! server→client requests (sampling, elicitation, roots), routed to the client whose request
//! they belong to.
//!
//! Contract:
//! - A request started with a [`StreamSink`] has a stream. Its `progressToken` is replaced on the
//!   wire by the request's wire id (clients sharing a child may use the same token) and restored
//!   on the way back, so `notifications/progress` reaches exactly the client that asked for it.
//! - stdio carries no relation between a log message or a server→client request and a
//!   request, so those are attributed only when the child has exactly one request in flight and
//!   it has a stream. Other notifications (list changes, resource updates) never belong to a
//!   request. Anything else is not guessed: notifications are dropped (logged at debug),
//!   server→client requests answered with an error at once — the child never waits on us.
//! - A server→client request sent to a client gets an unguessable id (`mcpl-…`); the client's
//!   response to that id ([`deliver_client_response`]) goes back to the child with the child's
//!   own id. When the originating request ends first, every request it left unanswered is
//!   answered with an error, so the child never hangs on a client that went away.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, Weak};

use bytes::Bytes;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::mpsc;
use tracing::{debug, info};

use super::{Pending, Shared};
use crate::jsonrpc::{self, Message};

/// Where a request's stream goes: complete JSON-RPC messages for the client.
#[derive(Debug, Clone)]
pub struct StreamSink {
    /// The client's channel.
    pub tx: mpsc::UnboundedSender<Bytes>,
    /// Whether server→client requests may be sent to this client (it reads an SSE stream and
    /// can POST answers).
    pub requests: bool,
    /// Whether `notifications/message` may be sent (2026-07-28: only when the request set a
    /// log level).
    pub logging: bool,
}

/// A request's stream, kept while the request is in flight.
pub(super) struct Stream {
    sink: StreamSink,
    /// The client's own `progressToken` (raw JSON), if it asked for progress.
    progress: Option<String>,
    /// Server→client requests sent on this stream and not answered yet (outward ids).
    outstanding: Vec<String>,
}

/// An outward server→client request id → the child and the child's own id.
struct Route {
    shared: Weak<Shared>,
    child_id: String,
    /// The wire id of the request whose stream carried it.
    wire_id: u64,
}

static ROUTES: LazyLock<Mutex<HashMap<String, Route>>> = LazyLock::new(Default::default);

/// Registers a stream for the request `wire_id`; returns the request to write, with its
/// `progressToken` replaced by the wire id when it has one.
pub(super) fn register(
    pending: &mut Pending,
    wire_id: u64,
    line: Box<RawValue>,
    sink: StreamSink,
) -> Box<RawValue> {
    let (line, progress) = swap_progress_token(line, wire_id);
    pending.streams.insert(
        wire_id,
        Stream {
            sink,
            progress,
            outstanding: Vec::new(),
        },
    );
    line
}

/// Replaces `params._meta.progressToken` with `wire_id`; returns the new line and the old token.
fn swap_progress_token(line: Box<RawValue>, wire_id: u64) -> (Box<RawValue>, Option<String>) {
    if !line.get().contains("\"progressToken\"") {
        return (line, None);
    }
    let Ok(mut v) = serde_json::from_str::<Value>(line.get()) else {
        return (line, None);
    };
    let Some(token) = v
        .pointer_mut("/params/_meta/progressToken")
        .map(|t| std::mem::replace(t, Value::from(wire_id)))
    else {
        return (line, None);
    };
    match RawValue::from_string(v.to_string()) {
        Ok(out) => (out, Some(token.to_string())),
        Err(_) => (line, None),
    }
}

/// Ends the stream of `wire_id` (its request completed, failed or was abandoned) and answers
/// the server→client requests it left open.
pub(super) fn end(shared: &Shared, wire_id: u64) {
    let stream = shared
        .pending
        .lock()
        .ok()
        .and_then(|mut p| p.streams.remove(&wire_id));
    let Some(stream) = stream else { return };
    for outward in stream.outstanding {
        let route = ROUTES.lock().ok().and_then(|mut r| r.remove(&outward));
        if let Some(route) = route {
            let reply = jsonrpc::error_response(
                RawValue::from_string(route.child_id).ok().as_deref(),
                jsonrpc::INTERNAL_ERROR,
                "the client's request ended before it answered this request",
            );
            shared.try_write(reply);
        }
    }
}

/// Drops every route of a child that is gone.
pub(super) fn forget(shared: &Shared) {
    if let Ok(mut r) = ROUTES.lock() {
        r.retain(|_, route| {
            route
                .shared
                .upgrade()
                .is_some_and(|s| !std::ptr::eq(Arc::as_ptr(&s), shared))
        });
    }
}

/// The single in-flight request with a stream, if that is the only request in flight.
fn sole_stream(p: &mut Pending) -> Option<(u64, &mut Stream)> {
    if p.waiting.len() != 1 {
        return None;
    }
    let (&wire_id, _) = p.waiting.iter().next()?;
    p.streams.get_mut(&wire_id).map(|s| (wire_id, s))
}

/// Routes a notification from the child. Returns whether a client got it.
pub(super) fn notification(shared: &Shared, msg: &Message) -> bool {
    let method = msg.method().unwrap_or_default();
    let Ok(mut p) = shared.pending.lock() else {
        return false;
    };
    if method == "notifications/progress" {
        let Some((wire_id, raw)) = progress_target(msg) else {
            return false;
        };
        let Some(stream) = p.streams.get(&wire_id) else {
            return false;
        };
        let Some(token) = &stream.progress else {
            return false;
        };
        let out = restore_token(&raw, token);
        return stream.sink.tx.send(out).is_ok();
    }
    // Only log messages belong to a request; list changes, resource updates and the like do
    // not, whatever is in flight (they are for the session's GET stream).
    if method != "notifications/message" {
        return false;
    }
    match sole_stream(&mut p) {
        Some((_, s)) if s.sink.logging => s
            .sink
            .tx
            .send(Bytes::copy_from_slice(msg.raw().get().as_bytes()))
            .is_ok(),
        _ => false,
    }
}

/// The wire id a progress notification's token names, and its params.
fn progress_target(msg: &Message) -> Option<(u64, Value)> {
    let v: Value = serde_json::from_str(msg.raw().get()).ok()?;
    let id = v.pointer("/params/progressToken")?.as_u64()?;
    Some((id, v))
}

fn restore_token(v: &Value, token: &str) -> Bytes {
    let mut v = v.clone();
    if let (Some(slot), Ok(original)) = (
        v.pointer_mut("/params/progressToken"),
        serde_json::from_str::<Value>(token),
    ) {
        *slot = original;
    }
    Bytes::from(v.to_string())
}

/// Routes a server→client request to the client of the sole in-flight request, if it can take
/// one. Returns `false` when nobody can (the caller answers the child with an error).
pub(super) fn request(shared: &Arc<Shared>, msg: &Message) -> bool {
    let Some(child_id) = msg.id().map(|i| i.get().to_owned()) else {
        return false;
    };
    let outward = format!(
        "mcpl-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    );
    let Ok(line) = jsonrpc::replace_id(msg.raw(), &format!("\"{outward}\"")) else {
        return false;
    };
    let Ok(mut p) = shared.pending.lock() else {
        return false;
    };
    let Some((wire_id, stream)) = sole_stream(&mut p) else {
        return false;
    };
    if !stream.sink.requests {
        return false;
    }
    if let Ok(mut r) = ROUTES.lock() {
        r.insert(
            outward.clone(),
            Route {
                shared: Arc::downgrade(shared),
                child_id,
                wire_id,
            },
        );
    }
    stream.outstanding.push(outward.clone());
    let sent = stream
        .sink
        .tx
        .send(Bytes::from(jsonrpc::into_bytes(line)))
        .is_ok();
    if !sent {
        stream.outstanding.retain(|o| o != &outward);
        if let Ok(mut r) = ROUTES.lock() {
            r.remove(&outward);
        }
    } else {
        info!(
            method = msg.method().unwrap_or(""),
            id = %outward,
            "MCP server's request sent to the client"
        );
    }
    sent
}

/// Delivers a client's JSON-RPC response to the server→client request it answers. Returns
/// `false` when no such request is waiting (unknown, already answered, or its stream ended).
pub fn deliver_client_response(msg: &Message) -> bool {
    let Some(outward) = msg
        .id()
        .and_then(|i| serde_json::from_str::<String>(i.get()).ok())
    else {
        return false;
    };
    let route = ROUTES.lock().ok().and_then(|mut r| r.remove(&outward));
    let Some(route) = route else {
        debug!(id = %outward, "client response to no waiting server request; dropped");
        return false;
    };
    let Some(shared) = route.shared.upgrade() else {
        return false;
    };
    if let Ok(mut p) = shared.pending.lock()
        && let Some(s) = p.streams.get_mut(&route.wire_id)
    {
        s.outstanding.retain(|o| o != &outward);
    }
    match jsonrpc::replace_id(msg.raw(), &route.child_id) {
        Ok(line) => shared.try_write(Bytes::from(jsonrpc::into_bytes(line))),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_tokens_are_swapped_and_restored() {
        let line = RawValue::from_string(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"t","_meta":{"progressToken":"client-token"}}}"#.into(),
        )
        .unwrap();
        let (out, token) = swap_progress_token(line, 42);
        let v: Value = serde_json::from_str(out.get()).unwrap();
        assert_eq!(v["params"]["_meta"]["progressToken"], 42);
        assert_eq!(token.as_deref(), Some("\"client-token\""));
        let note = serde_json::json!({"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":42,"progress":1}});
        let back: Value =
            serde_json::from_slice(&restore_token(&note, token.as_deref().unwrap())).unwrap();
        assert_eq!(back["params"]["progressToken"], "client-token");
        assert_eq!(back["params"]["progress"], 1);
    }

    #[test]
    fn requests_without_a_token_are_untouched() {
        let text = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let (out, token) = swap_progress_token(RawValue::from_string(text.into()).unwrap(), 7);
        assert_eq!(out.get(), text);
        assert!(token.is_none());
    }
}
