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
//! - Both protocol eras work in front of both kinds of child ([`era`] has the
//!   rewrites): the first child of a command is probed once with `server/discover` (unless
//!   [`EraPolicy`] says what it speaks) and the answer holds for every later child. A modern
//!   child is never initialized; a legacy child is initialized on a modern client's behalf from
//!   the request's `_meta`. Shared children are keyed by the client's capability set
//!   ([`era::capability_key`]), so one client's capabilities never
//!   change what another client's request does.

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

use crate::child::{ChildError, ChildProcess, StreamSink};
use crate::command::ServerCommand;
use crate::era::{self, ModernMeta};
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
    /// The client's per-request envelope when it speaks the modern (2026-07-28) era; `None` for
    /// legacy clients.
    pub modern: Option<Arc<ModernMeta>>,
    /// Where the child's notifications and server→client requests for this request go, when
    /// the client can receive them (an SSE answer); `None` answers them without the client.
    pub sink: Option<StreamSink>,
}

impl Exchange {
    /// A legacy exchange for `version` with no session, due at `deadline`.
    pub fn legacy(version: &str, deadline: Instant) -> Self {
        Self {
            protocol_version: version.to_owned(),
            session_id: None,
            init_params: None,
            deadline,
            stats: Default::default(),
            modern: None,
            sink: None,
        }
    }
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

/// Which protocol era the server command speaks, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EraPolicy {
    /// Probe the first child with `server/discover`; modern evidence → modern, anything else →
    /// legacy (the stdio backward-compatibility rule of 2026-07-28).
    #[default]
    Auto,
    /// Initialize-era server: never probed.
    Legacy,
    /// 2026-07-28 server: probed once for its discover result, never initialized.
    Modern,
}

/// What one server command is known to speak, shared by all its children. A probed child that
/// is not used at once is kept as a spare for the next start.
#[derive(Debug, Default)]
pub struct EraCache {
    policy: EraPolicy,
    known: Mutex<Option<Era>>,
    spare: Mutex<Option<Arc<ChildProcess>>>,
    probe_lock: tokio::sync::Mutex<()>,
}

/// A command's era, once known.
#[derive(Debug, Clone)]
pub(crate) enum Era {
    /// Initialize handshake.
    Legacy,
    /// Stateless; the child's (latest) `server/discover` result.
    Modern(Arc<RawValue>),
}

impl EraCache {
    /// A cache following `policy`.
    pub fn new(policy: EraPolicy) -> Arc<Self> {
        Arc::new(Self {
            policy,
            ..Default::default()
        })
    }

    fn known(&self) -> Option<Era> {
        if self.policy == EraPolicy::Legacy {
            return Some(Era::Legacy);
        }
        self.known.lock().ok()?.clone()
    }

    fn set(&self, era: Era) {
        if let Ok(mut k) = self.known.lock() {
            *k = Some(era);
        }
    }

    fn take_spare(&self) -> Option<Arc<ChildProcess>> {
        self.spare.lock().ok()?.take()
    }

    /// Terminates the spare child, if any (shutdown).
    pub(crate) async fn shutdown(&self) {
        if let Some(child) = self.take_spare() {
            child.terminate().await;
        }
    }
}

/// How long a `server/discover` probe may take before the child counts as legacy (bounded by
/// the request's deadline). Legacy servers answer -32601 at once; the timeout is for servers
/// that ignore unknown methods.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// A started child, ready for requests.
pub(crate) struct Running {
    pub(crate) child: Arc<ChildProcess>,
    pub(crate) ready: Ready,
}

/// What a started child speaks.
pub(crate) enum Ready {
    /// Initialized (its InitializeResult and the `serverInfo` in it).
    Legacy(Initialized, Option<serde_json::Value>),
    /// Modern: never initialized; its `server/discover` result.
    Modern(Arc<RawValue>),
}

impl Running {
    /// The answer to a legacy client's `initialize`, from this child.
    pub(crate) fn init_response(
        &self,
        client_id: Option<&RawValue>,
        requested: &str,
    ) -> (Bytes, String) {
        match &self.ready {
            Ready::Legacy(init, _) => (
                jsonrpc::result_response(client_id, &init.result),
                init.negotiated.clone(),
            ),
            Ready::Modern(discover) => emulated_initialize(discover, client_id, requested),
        }
    }
}

impl ChildConfig {
    /// A legacy client's `initialize` when the command is modern (answered from its discover
    /// result, no child initialized) or its era cannot be learned (the error); `None` when the
    /// command is legacy and the caller initializes a child.
    pub(crate) async fn initialize_without_child(
        &self,
        ex: &Exchange,
        msg: &Message,
        requested: &str,
    ) -> Option<InitOutcome> {
        match self.era(ex, msg.id()).await {
            Err(response) => Some(InitOutcome::failed(response)),
            Ok(Era::Modern(discover)) => {
                let (response, negotiated) = emulated_initialize(&discover, msg.id(), requested);
                Some(InitOutcome {
                    response,
                    negotiated: Some(negotiated),
                })
            }
            Ok(Era::Legacy) => None,
        }
    }
}

/// A legacy client's InitializeResult emulated from a modern child's discover result.
fn emulated_initialize(
    discover: &RawValue,
    client_id: Option<&RawValue>,
    requested: &str,
) -> (Bytes, String) {
    let version = era::negotiate_legacy(requested);
    let result = era::initialize_from_discover(discover, version);
    (
        jsonrpc::result_response(client_id, &result),
        version.to_owned(),
    )
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
    /// The command's protocol era (shared by all its children; see [`EraCache::new`]).
    pub era: Arc<EraCache>,
    /// Where children send notifications that belong to no request (see
    /// [`Gateway::listen`](crate::Gateway::listen)); `None` drops them.
    pub unrelated: Option<tokio::sync::mpsc::UnboundedSender<Bytes>>,
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

    /// The command's era, probing a fresh child if nobody has yet (that child is kept as the
    /// spare the next [`start`](Self::start) takes). Errors are the client's response.
    pub(crate) async fn era(
        &self,
        ex: &Exchange,
        client_id: Option<&RawValue>,
    ) -> Result<Era, Bytes> {
        if let Some(era) = self.era.known() {
            return Ok(era);
        }
        let _one = self.era.probe_lock.lock().await;
        if let Some(era) = self.era.known() {
            return Ok(era);
        }
        let child = self.spawn(true, ex, client_id)?;
        let era = self.probe(&child, ex, client_id).await?;
        if child.is_alive() {
            if let Ok(mut s) = self.era.spare.lock()
                && let Some(old) = s.replace(child)
            {
                retire(old);
            }
        } else {
            retire(child);
        }
        Ok(era)
    }

    fn spawn(
        &self,
        shared: bool,
        ex: &Exchange,
        client_id: Option<&RawValue>,
    ) -> Result<Arc<ChildProcess>, Bytes> {
        let t = std::time::Instant::now();
        let spawned =
            ChildProcess::spawn(&self.command, self.max_message, self.kill_grace, !shared);
        ex.stats.add_spawn(t.elapsed());
        let child = spawned.map_err(|e| child_error(client_id, &e))?;
        if let Some(tx) = &self.unrelated {
            child.on_unrelated(tx.clone());
        }
        Ok(Arc::new(child))
    }

    /// Sends `server/discover` to a fresh child and records what it showed.
    async fn probe(
        &self,
        child: &ChildProcess,
        ex: &Exchange,
        client_id: Option<&RawValue>,
    ) -> Result<Era, Bytes> {
        let t = std::time::Instant::now();
        let deadline = ex.deadline.min(Instant::now() + PROBE_TIMEOUT);
        let reply = child.request(&era::discover_probe(), deadline).await;
        ex.stats.add_initialize(t.elapsed());
        let result = reply
            .ok()
            .and_then(|raw| jsonrpc::parse_message(&raw).ok())
            .and_then(|m| m.member("result"))
            .filter(|r| era::is_modern_discover(r));
        let era = match result {
            Some(r) => {
                tracing::info!(
                    pid = child.pid(),
                    "MCP server speaks protocol 2026-07-28 (server/discover answered); serving both eras through it"
                );
                Era::Modern(Arc::from(r))
            }
            None if self.era.policy == EraPolicy::Modern => {
                return Err(jsonrpc::error_response(
                    client_id,
                    jsonrpc::INTERNAL_ERROR,
                    "the MCP server was configured as 2026-07-28 but did not answer server/discover",
                ));
            }
            None => {
                tracing::info!(
                    pid = child.pid(),
                    "MCP server speaks the initialize-era protocol (no server/discover); translating for 2026-07-28 clients"
                );
                Era::Legacy
            }
        };
        self.era.set(era.clone());
        Ok(era)
    }

    /// Starts a child (the spare, if one is waiting) and readies it before the exchange's
    /// deadline: a modern child as it is, a legacy one initialized with `params` (raw
    /// initialize params). Time spent is recorded in the exchange's stats. A `shared` child logs
    /// under its pid only; otherwise its lines carry the current request's span. On failure the
    /// child is retired and the error response for `client_id` is returned.
    pub(crate) async fn start(
        &self,
        shared: bool,
        params: &str,
        ex: &Exchange,
        client_id: Option<&RawValue>,
    ) -> Result<Arc<Running>, Bytes> {
        let era = self.era(ex, client_id).await?;
        let child = match self.era.take_spare().filter(|c| self.usable(c)) {
            Some(c) => c,
            None => self.spawn(shared, ex, client_id)?,
        };
        let ready = match era {
            Era::Modern(discover) => Ready::Modern(discover),
            Era::Legacy => {
                let t = std::time::Instant::now();
                let init = initialize_child(&child, params, ex.deadline).await;
                ex.stats.add_initialize(t.elapsed());
                match init {
                    Ok(init) => {
                        let info = era::server_info_of(&init.result);
                        Ready::Legacy(init, info)
                    }
                    Err(f) => {
                        retire(child);
                        return Err(f.response(client_id));
                    }
                }
            }
        };
        Ok(Arc::new(Running { child, ready }))
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

/// Answers a client request with a started child, translating between the client's era and the
/// child's (see [`era`](crate::era)); always one response with the client's id.
pub(crate) async fn dispatch(
    run: &Running,
    inflight: &Inflight,
    ex: &Exchange,
    msg: &Message,
) -> Bytes {
    let id = msg.id();
    let method = msg.method().unwrap_or_default();
    match (&run.ready, ex.modern.is_some()) {
        (Ready::Modern(_), true) | (Ready::Legacy(..), false) => {
            forward(&run.child, inflight, ex, msg.raw(), id).await
        }
        (Ready::Legacy(init, info), true) => {
            if method == "server/discover" {
                return jsonrpc::result_response(id, &era::discover_from_initialize(&init.result));
            }
            let raw = era::to_legacy_request(msg);
            let response = forward(&run.child, inflight, ex, &raw, id).await;
            era::to_modern_response(response, method, info.as_ref())
        }
        (Ready::Modern(_), false) => match method {
            // Removed in 2026-07-28; a legacy client still gets the answer its version promises.
            "ping" | "logging/setLevel" => jsonrpc::result_response(id, &empty_object()),
            "resources/subscribe" | "resources/unsubscribe" => jsonrpc::error_response(
                id,
                jsonrpc::METHOD_NOT_FOUND,
                &format!(
                    "Method not found: {method} (the MCP server speaks protocol 2026-07-28, which has no per-resource subscriptions)"
                ),
            ),
            _ => {
                let raw = era::to_modern_request(msg, ex.init_params.as_deref());
                forward(&run.child, inflight, ex, &raw, id).await
            }
        },
    }
}

pub(crate) fn empty_object() -> Box<RawValue> {
    RawValue::from_string("{}".into()).unwrap_or_else(|_| RawValue::NULL.to_owned())
}

/// Sends a request (`raw`, any id) to `child` and returns the response with `client_id`; every
/// failure becomes a JSON-RPC error response.
pub(crate) async fn forward(
    child: &Arc<ChildProcess>,
    inflight: &Inflight,
    ex: &Exchange,
    raw: &RawValue,
    client_id: Option<&RawValue>,
) -> Bytes {
    let reply = match child.start_streaming(raw, ex.sink.clone()).await {
        Ok(mut ticket) => {
            if ex.modern.is_some() || ex.sink.is_some() {
                // 2026-07-28: a closed response is the client's cancellation; so is a closed SSE
                // stream (nothing could reach the client any more).
                ticket.cancel_on_drop();
            }
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
