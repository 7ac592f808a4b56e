//! Upstream: where a client's JSON-RPC message goes — a stdio child, in one of three lifecycles.
//!
//! Contract for every [`Upstream`]:
//! - [`Upstream::request`] returns exactly one JSON-RPC response carrying the client's own id,
//!   whatever happens below (child crash, timeout, spawn failure → a JSON-RPC error).
//! - A child never receives two `initialize` requests. When the wrapper initializes a child on a
//!   client's behalf it replays the client's own initialize params when known (the session's, or
//!   the first ones seen for that protocol version), else synthesizes them for the version.
//! - `notifications/initialized` is sent by the wrapper right after it initializes a child; the
//!   client's own copy is absorbed. `notifications/cancelled` is translated to the child's wire id
//!   when the request can be told apart (same session).

mod handshake;
mod per_request;
mod per_session;
mod reuse;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::child::{ChildError, ChildProcess};
use crate::command::ServerCommand;
use crate::jsonrpc::{self, Message};

pub use handshake::synthesized_params;
use handshake::{Initialized, initialize_child};
pub use per_request::PerRequest;
pub use per_session::PerSession;
pub use reuse::Reuse;

/// What the gateway knows about a message beyond its bytes.
#[derive(Debug, Clone)]
pub struct Exchange {
    /// The protocol version this request speaks (negotiated in the session, or the header's).
    pub protocol_version: String,
    /// The session, when sessions are on.
    pub session_id: Option<String>,
    /// The client's own initialize params (raw JSON), when known.
    pub init_params: Option<Arc<str>>,
    /// When the client must have its answer.
    pub deadline: Instant,
    /// Where the upstream records what this request cost (spawn, initialize, restarts).
    pub stats: Arc<Stats>,
}

/// What one request cost below the gateway, for metrics. Filled by the upstream.
#[derive(Debug, Default)]
pub struct Stats {
    spawn_us: AtomicU64,
    initialize_us: AtomicU64,
    restarts: AtomicU64,
}

impl Stats {
    /// Time spent starting child processes for this request.
    pub fn spawn(&self) -> Duration {
        Duration::from_micros(self.spawn_us.load(Ordering::Relaxed))
    }
    /// Time spent initializing children for this request.
    pub fn initialize(&self) -> Duration {
        Duration::from_micros(self.initialize_us.load(Ordering::Relaxed))
    }
    /// Dead children replaced while serving this request.
    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }
    pub(crate) fn add_spawn(&self, d: Duration) {
        self.spawn_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
    pub(crate) fn add_initialize(&self, d: Duration) {
        self.initialize_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
    pub(crate) fn add_restart(&self) {
        self.restarts.fetch_add(1, Ordering::Relaxed);
    }
}

/// The answer to a client's `initialize`.
#[derive(Debug, Clone)]
pub struct InitOutcome {
    /// The JSON-RPC response for the client (its id).
    pub response: Bytes,
    /// The negotiated version, if initialize succeeded.
    pub negotiated: Option<String>,
}

/// A destination for client messages. See the module docs for the contract.
#[async_trait]
pub trait Upstream: Send + Sync {
    /// Handles a client's `initialize` request.
    async fn initialize(&self, ex: &Exchange, msg: &Message) -> InitOutcome;
    /// Forwards a request; always returns one response with the client's id.
    async fn request(&self, ex: &Exchange, msg: &Message) -> Bytes;
    /// Forwards (or absorbs) a notification.
    async fn notify(&self, ex: &Exchange, msg: &Message);
    /// The session ended (DELETE): release what belongs to it.
    async fn end_session(&self, session_id: &str);
    /// Terminates every child (graceful shutdown).
    async fn shutdown(&self);
}

/// How to start children.
#[derive(Debug, Clone)]
pub struct ChildConfig {
    /// The server command and its environment.
    pub command: ServerCommand,
    /// Largest message accepted from the child, in bytes.
    pub max_message: usize,
    /// SIGTERM → SIGKILL grace period.
    pub kill_grace: Duration,
    /// Check the process itself (`/proc`) before each use, not only our bookkeeping: needed
    /// where the host can be frozen (Lambda), costly (~20 µs a request) where it cannot.
    pub verify_process: bool,
}

impl ChildConfig {
    /// Whether `child` can take a request now (see [`ChildConfig::verify_process`]).
    pub(crate) fn usable(&self, child: &ChildProcess) -> bool {
        if self.verify_process {
            child.is_running()
        } else {
            child.is_alive()
        }
    }

    /// Starts a child and initializes it with `params` (raw initialize params) before the
    /// exchange's deadline, recording the time spent in the exchange's stats. A `shared` child
    /// logs under its pid only; otherwise its lines carry the current request's span. On failure
    /// the child is retired and the error response for `client_id` is returned.
    pub(crate) async fn start(
        &self,
        shared: bool,
        params: &str,
        ex: &Exchange,
        client_id: Option<&RawValue>,
    ) -> Result<(Arc<ChildProcess>, Initialized), Bytes> {
        let t = std::time::Instant::now();
        let spawned =
            ChildProcess::spawn(&self.command, self.max_message, self.kill_grace, !shared);
        ex.stats.add_spawn(t.elapsed());
        let child = Arc::new(spawned.map_err(|e| child_error(client_id, &e))?);
        let t = std::time::Instant::now();
        let init = initialize_child(&child, params, ex.deadline).await;
        ex.stats.add_initialize(t.elapsed());
        match init {
            Ok(init) => Ok((child, init)),
            Err(f) => {
                retire(child);
                Err(f.response(client_id))
            }
        }
    }
}

impl InitOutcome {
    /// An initialize that failed with `response`.
    pub(crate) fn failed(response: Bytes) -> Self {
        Self {
            response,
            negotiated: None,
        }
    }
}

/// In-flight requests by (session, client id), so a client's `notifications/cancelled` reaches
/// the right child with the right wire id. Without a session two clients may share an id, so
/// those requests are not registered (a cancel for them is dropped, never misrouted).
#[derive(Default)]
pub(crate) struct Inflight {
    map: Mutex<HashMap<InflightKey, (Arc<ChildProcess>, u64)>>,
}

/// (session id, client's raw request id).
type InflightKey = (String, String);

impl Inflight {
    fn insert(&self, session: &str, client_id: &str, child: Arc<ChildProcess>, wire_id: u64) {
        if let Ok(mut m) = self.map.lock() {
            m.insert((session.to_owned(), client_id.to_owned()), (child, wire_id));
        }
    }

    fn remove(&self, session: &str, client_id: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(&(session.to_owned(), client_id.to_owned()));
        }
    }

    /// Forwards a client's `notifications/cancelled` if it names a known in-flight request.
    pub(crate) async fn cancel(&self, ex: &Exchange, msg: &Message) {
        let Some(session) = &ex.session_id else {
            tracing::debug!("cancellation without a session cannot be attributed; dropped");
            return;
        };
        let (request_id, reason) = cancel_target(msg);
        let Some(request_id) = request_id else { return };
        let target = self
            .map
            .lock()
            .ok()
            .and_then(|m| m.get(&(session.clone(), request_id.clone())).cloned());
        match target {
            Some((child, wire_id)) => child.cancel(wire_id, &reason).await,
            None => tracing::debug!(
                request_id,
                "cancellation for a request not in flight; dropped"
            ),
        }
    }
}

fn cancel_target(msg: &Message) -> (Option<String>, String) {
    #[derive(serde::Deserialize)]
    struct P<'a> {
        #[serde(rename = "requestId", borrow)]
        request_id: Option<&'a RawValue>,
        reason: Option<String>,
    }
    let params = msg.member("params");
    let parsed = params
        .as_ref()
        .and_then(|p| serde_json::from_str::<P<'_>>(p.get()).ok());
    match parsed {
        Some(p) => (
            p.request_id.map(|r| r.get().to_owned()),
            p.reason.unwrap_or_else(|| "cancelled by the client".into()),
        ),
        None => (None, String::new()),
    }
}

/// Sends a client request to `child` and returns the response with the client's id; every
/// failure becomes a JSON-RPC error response.
pub(crate) async fn forward(
    child: &Arc<ChildProcess>,
    inflight: &Inflight,
    ex: &Exchange,
    msg: &Message,
) -> Bytes {
    let client_id = msg.id();
    let reply = match child.start(msg.raw()).await {
        Ok(ticket) => {
            let key = ex.session_id.as_deref().zip(client_id.map(RawValue::get));
            // Registered for the wait only; the guard also unregisters when the client goes
            // away and this future is dropped mid-wait.
            let _registered = key.map(|(s, id)| {
                inflight.insert(s, id, child.clone(), ticket.wire_id);
                Registered {
                    inflight,
                    session: s,
                    client_id: id,
                }
            });
            child.wait(ticket, ex.deadline).await
        }
        Err(e) => Err(e),
    };
    respond(client_id, reply)
}

/// Removes an in-flight registration when dropped.
struct Registered<'a> {
    inflight: &'a Inflight,
    session: &'a str,
    client_id: &'a str,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.inflight.remove(self.session, self.client_id);
    }
}

/// Turns a child's reply into the client's response (client id restored).
pub(crate) fn respond(
    client_id: Option<&RawValue>,
    reply: Result<Box<RawValue>, ChildError>,
) -> Bytes {
    match reply {
        Ok(raw) => {
            let id = client_id.map(RawValue::get).unwrap_or("null");
            match jsonrpc::replace_id(&raw, id) {
                Ok(out) => Bytes::from(jsonrpc::into_bytes(out)),
                Err(e) => jsonrpc::error_response(
                    client_id,
                    jsonrpc::INTERNAL_ERROR,
                    &format!("the MCP server's answer could not be read: {e}"),
                ),
            }
        }
        Err(e) => child_error(client_id, &e),
    }
}

/// A JSON-RPC error response for a child failure.
pub(crate) fn child_error(client_id: Option<&RawValue>, e: &ChildError) -> Bytes {
    jsonrpc::error_response(client_id, e.code(), &e.to_string())
}

/// Terminates a child in the background (the caller's response is not held up).
pub(crate) fn retire(child: Arc<ChildProcess>) {
    tokio::spawn(async move { child.terminate().await });
}
