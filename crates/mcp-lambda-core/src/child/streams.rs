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
//! - A server→client request sent to a client gets an unguessable id (`mcpl-…`), kept in this
//!   child's own route table with the session whose stream carried it. The client's response to
//!   that id (`deliver_client_response`), from that same session, goes back to the child with
//!   the child's own id; another session's is refused. When the originating request ends first,
//!   every request it left unanswered is answered with an error, so the child never hangs on a
//!   client that went away.

use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;
use serde_json::value::RawValue;

use tracing::info;

use super::{Pending, Shared};
use crate::jsonrpc::{self, Message};
use crate::queue;

/// Messages one request's stream holds before the client reads them.
pub const SINK_CAPACITY: usize = 1024;

/// Which server→client requests a client may be sent: those of the capabilities it declared
/// (`sampling`, `elicitation`, `roots`, and `tasks` for `tasks/get|result|list|cancel` on
/// task-augmented requests, 2025-11-25). Any other method (and `ping`, which the wrapper
/// answers itself) never reaches a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Asks {
    /// `sampling/createMessage`.
    pub sampling: bool,
    /// `elicitation/create`.
    pub elicitation: bool,
    /// `roots/list`.
    pub roots: bool,
    /// `tasks/get`, `tasks/result`, `tasks/list`, `tasks/cancel`.
    pub tasks: bool,
}

impl Asks {
    /// No server→client request at all.
    pub const NONE: Asks = Asks {
        sampling: false,
        elicitation: false,
        roots: false,
        tasks: false,
    };
    /// Every capability (a client whose declaration is not known here, or one whose requests
    /// are checked elsewhere).
    pub const ALL: Asks = Asks {
        sampling: true,
        elicitation: true,
        roots: true,
        tasks: true,
    };

    /// What a client's `capabilities` object (raw JSON) declares; nothing if it is not one.
    pub fn declared(capabilities: &str) -> Asks {
        let Ok(Value::Object(c)) = serde_json::from_str::<Value>(capabilities) else {
            return Asks::NONE;
        };
        let has = |k: &str| c.get(k).is_some_and(Value::is_object);
        Asks {
            sampling: has("sampling"),
            elicitation: has("elicitation"),
            roots: has("roots"),
            tasks: has("tasks"),
        }
    }

    /// What the client's initialize `params` (raw JSON) declare.
    pub fn of_init_params(params: &str) -> Asks {
        crate::era::capabilities_in(params).map_or(Asks::NONE, |c| Asks::declared(c.get()))
    }

    /// Whether a server→client request for `method` may be sent.
    pub fn allows(&self, method: &str) -> bool {
        match method {
            "sampling/createMessage" => self.sampling,
            "elicitation/create" => self.elicitation,
            "roots/list" => self.roots,
            "tasks/get" | "tasks/result" | "tasks/list" | "tasks/cancel" => self.tasks,
            _ => false,
        }
    }
}

/// Bytes one request's stream holds before the client reads them (one message larger than
/// this still passes when nothing else is queued).
pub const SINK_BYTES: usize = 8 * 1024 * 1024;

/// Where a request's stream goes: complete JSON-RPC messages for the client.
#[derive(Debug, Clone)]
pub struct StreamSink {
    /// The client's queue ([`SINK_CAPACITY`] messages, [`SINK_BYTES`] bytes), never waited
    /// on: a full one drops a notification and refuses a server→client request (the child gets
    /// an error at once), so a child that floods a slow client holds a bounded amount of memory.
    tx: queue::Sender,
    /// The server→client requests that may be sent to this client (it reads an SSE stream,
    /// can POST answers, and declared the capability); [`Asks::NONE`] for none.
    pub asks: Asks,
    /// Whether `notifications/message` may be sent (2026-07-28: only when the request set a
    /// log level).
    pub logging: bool,
    /// The session of the client reading the stream (`None` without sessions): only it may
    /// answer the server→client requests sent on it.
    pub session: Option<Arc<str>>,
}

impl StreamSink {
    /// A sink and the receiver the client's stream reads.
    pub fn channel(
        asks: Asks,
        logging: bool,
        session: Option<Arc<str>>,
    ) -> (StreamSink, queue::Receiver) {
        let (tx, rx) = queue::channel(SINK_CAPACITY, SINK_BYTES);
        let sink = StreamSink {
            tx,
            asks,
            logging,
            session,
        };
        (sink, rx)
    }

    /// Queues `message` for the client without waiting; `false` when the client is gone or
    /// its queue is full (in messages or bytes).
    pub fn send(&self, message: Bytes) -> bool {
        self.tx.send(message)
    }
}

/// A request's stream, kept while the request is in flight.
pub(super) struct Stream {
    sink: StreamSink,
    /// The client's own `progressToken` (raw JSON), if it asked for progress.
    progress: Option<String>,
    /// Server→client requests sent on this stream and not answered yet (outward ids).
    outstanding: Vec<String>,
}

/// Where the answer to an outward server→client request goes.
pub(super) struct Route {
    /// The child's own id for its request (raw JSON).
    child_id: String,
    /// The wire id of the request whose stream carried it.
    wire_id: u64,
    /// The session that got the question.
    session: Option<Arc<str>>,
}

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
pub(super) fn swap_progress_token(
    line: Box<RawValue>,
    wire_id: u64,
) -> (Box<RawValue>, Option<String>) {
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
    let open: Vec<Route> = {
        let Ok(mut p) = shared.pending.lock() else {
            return;
        };
        let Some(stream) = p.streams.remove(&wire_id) else {
            return;
        };
        stream
            .outstanding
            .iter()
            .filter_map(|o| p.routes.remove(o))
            .collect()
    };
    for route in open {
        let reply = jsonrpc::error_response(
            RawValue::from_string(route.child_id).ok().as_deref(),
            jsonrpc::INTERNAL_ERROR,
            "the client's request ended before it answered this request",
        );
        shared.try_write(reply);
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
        return stream.sink.send(out);
    }
    // Only log messages belong to a request; list changes, resource updates and the like do
    // not, whatever is in flight (they are for the session's GET stream).
    if method != "notifications/message" {
        return false;
    }
    match sole_stream(&mut p) {
        Some((_, s)) if s.sink.logging => s
            .sink
            .send(Bytes::copy_from_slice(msg.raw().get().as_bytes())),
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
    let method = msg.method().unwrap_or_default();
    // A child serving several clients has one set of roots for all of them: no single client
    // may set it (its answer would widen or narrow every other client's).
    if method == "roots/list" && shared.many.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    let Some((wire_id, stream)) = sole_stream(&mut p) else {
        return false;
    };
    if !stream.sink.asks.allows(method) {
        return false;
    }
    let sent = stream.sink.send(Bytes::from(jsonrpc::into_bytes(line)));
    if sent {
        stream.outstanding.push(outward.clone());
        let session = stream.sink.session.clone();
        p.routes.insert(
            outward.clone(),
            Route {
                child_id,
                wire_id,
                session,
            },
        );
        drop(p);
        info!(
            method = msg.method().unwrap_or(""),
            id = %outward,
            "MCP server's request sent to the client"
        );
    }
    sent
}

/// Delivers a client's JSON-RPC response to the server→client request of this child it
/// answers, when `session` is the one that got the question. Returns `false` when no such
/// request is waiting (unknown, already answered, its stream ended, or another session's).
pub(super) fn deliver_client_response(
    shared: &Shared,
    msg: &Message,
    session: Option<&str>,
) -> bool {
    let Some(outward) = msg
        .id()
        .and_then(|i| serde_json::from_str::<String>(i.get()).ok())
    else {
        return false;
    };
    let route = {
        let Ok(mut p) = shared.pending.lock() else {
            return false;
        };
        let mine = p
            .routes
            .get(&outward)
            .is_some_and(|r| r.session.as_deref() == session);
        if !mine {
            return false;
        }
        let Some(route) = p.routes.remove(&outward) else {
            return false;
        };
        if let Some(s) = p.streams.get_mut(&route.wire_id) {
            s.outstanding.retain(|o| o != &outward);
        }
        route
    };
    match jsonrpc::replace_id(msg.raw(), &route.child_id) {
        Ok(line) => shared.try_write(Bytes::from(jsonrpc::into_bytes(line))),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_is_asked_only_what_it_declared() {
        let asks = Asks::of_init_params(
            r#"{"protocolVersion":"2025-11-25","capabilities":{"sampling":{},"roots":{"listChanged":true}}}"#,
        );
        assert!(asks.allows("sampling/createMessage") && asks.allows("roots/list"));
        assert!(!asks.allows("elicitation/create") && !asks.allows("tasks/get"));
        assert!(Asks::declared(r#"{"tasks":{"requests":{}}}"#).allows("tasks/result"));
        // Unknown methods, `ping` (answered by the wrapper) and non-object declarations: never.
        assert!(!Asks::ALL.allows("ping") && !Asks::ALL.allows("x/custom"));
        assert_eq!(
            Asks::declared(r#"{"sampling":true,"elicitation":null}"#),
            Asks::NONE
        );
        assert_eq!(Asks::of_init_params("{}"), Asks::NONE);
        assert_eq!(Asks::of_init_params("not json"), Asks::NONE);
    }

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
