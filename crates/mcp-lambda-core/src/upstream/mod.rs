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
mod inflight;
mod per_request;
mod per_session;
mod policed;
mod reuse;
mod snapshot;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::value::RawValue;
use tokio::time::Instant;

use crate::child::{ChildError, ChildProcess, StreamSink, Unrelated};
use crate::command::ServerCommand;
use crate::era::{self, ModernMeta};
use crate::jsonrpc::{self, Message};

pub(crate) use handshake::requested_version;
pub use handshake::synthesized_params;
use handshake::{Initialized, answered_as, initialize_child};
pub(crate) use inflight::Inflight;
use inflight::{Registered, Streaming};
pub use policed::{CATALOG_FRESH, CATALOG_MAX, Policed};

/// Why the upstream has no answer from the MCP server for a request. A value: the gateway
/// renders it, with the client's id, where the answer leaves ([`UpstreamError::response`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// The child failed (spawn, exit, timeout, output over the cap, ...).
    #[error(transparent)]
    Child(#[from] ChildError),
    /// The child could not be initialized.
    #[error("could not initialize the MCP server: {0}")]
    Initialize(ChildError),
    /// The child answered `initialize` with a JSON-RPC error (its raw `error` object, passed
    /// on to the client as it is).
    #[error("the MCP server refused initialize: {0}")]
    InitializeRefused(Arc<str>),
    /// `--child-era modern`, but the server did not answer `server/discover`.
    #[error("the MCP server was configured as 2026-07-28 but did not answer server/discover")]
    NotModern,
    /// The child's answer could not be read.
    #[error("the MCP server's answer could not be read: {0}")]
    Unreadable(String),
    /// The request's params are not what the method needs (-32602).
    #[error("{0}")]
    InvalidParams(&'static str),
    /// The server cannot serve this method (-32601); the message says why.
    #[error("{0}")]
    MethodNotFound(String),
    /// The lifecycle cannot serve this request (-32600); the message says why.
    #[error("{0}")]
    Unservable(&'static str),
    /// The wrapper is set up so that it cannot serve this (-32603); the message says why.
    #[error("{0}")]
    Misconfigured(&'static str),
    /// Every one of the `--max-children` child processes is busy (HTTP 503, `Retry-After`).
    #[error("all {0} MCP server processes this endpoint may run are busy; try again shortly")]
    Busy(usize),
}

impl UpstreamError {
    /// The JSON-RPC error code a client sees.
    pub fn code(&self) -> i64 {
        match self {
            UpstreamError::Child(e) | UpstreamError::Initialize(e) => e.code(),
            UpstreamError::InitializeRefused(raw) => {
                #[derive(serde::Deserialize)]
                struct E {
                    code: i64,
                }
                serde_json::from_str::<E>(raw)
                    .map(|e| e.code)
                    .unwrap_or(jsonrpc::INTERNAL_ERROR)
            }
            UpstreamError::NotModern
            | UpstreamError::Unreadable(_)
            | UpstreamError::Misconfigured(_)
            | UpstreamError::Busy(_) => jsonrpc::INTERNAL_ERROR,
            UpstreamError::InvalidParams(_) => jsonrpc::INVALID_PARAMS,
            UpstreamError::MethodNotFound(_) => jsonrpc::METHOD_NOT_FOUND,
            UpstreamError::Unservable(_) => jsonrpc::INVALID_REQUEST,
        }
    }

    /// The JSON-RPC error response for the request `id`.
    pub fn response(&self, id: Option<&RawValue>) -> Bytes {
        match self {
            UpstreamError::InitializeRefused(error) => Bytes::from(format!(
                "{{\"jsonrpc\":\"2.0\",\"id\":{},\"error\":{error}}}",
                id.map(RawValue::get).unwrap_or("null"),
            )),
            e => jsonrpc::error_response(id, e.code(), &e.to_string()),
        }
    }

    /// [`response`](Self::response) as a [`Reply`].
    pub fn reply(&self, id: Option<&RawValue>) -> Reply {
        Reply {
            body: self.response(id),
            error: Some(self.code()),
        }
    }
}

/// The MCP server's answer to one request, as the client gets it (its own id restored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The JSON-RPC response.
    pub body: Bytes,
    /// Its `error.code`, when it is an error response.
    pub error: Option<i64>,
}

impl Reply {
    /// A result response for `id`.
    pub fn result(id: Option<&RawValue>, result: &RawValue) -> Self {
        Self {
            body: jsonrpc::result_response(id, result),
            error: None,
        }
    }

    /// An error response for `id`.
    pub fn error(id: Option<&RawValue>, code: i64, message: &str) -> Self {
        Self {
            body: jsonrpc::error_response(id, code, message),
            error: Some(code),
        }
    }
}

/// What an upstream call gives: the server's answer, or why there is none.
pub type Outcome<T> = Result<T, UpstreamError>;

/// A client's successful `initialize`: the InitializeResult to answer with and the version it
/// negotiated.
#[derive(Debug, Clone)]
pub struct InitOk {
    /// The raw `result` object.
    pub result: Arc<RawValue>,
    /// The negotiated protocol version.
    pub negotiated: String,
}
pub use per_request::PerRequest;
pub use per_session::PerSession;
pub use reuse::Reuse;
pub use snapshot::{
    CachePolicy, CacheScope, Snapshot, SnapshotEra, SnapshotError, Snapshotted, capture,
};

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
    /// The host's id for this request (Lambda request id): a child serving it tags its stderr
    /// lines with it.
    pub request_id: Option<Arc<str>>,
    /// Set for the members of one HTTP request's batch: a `per-request` upstream runs them all
    /// on one child, kept here and retired when the last clone of the exchange is dropped.
    pub batch: Option<Arc<BatchChild>>,
}

/// The child one HTTP request's batch shares (`per-request`): started by the first member that
/// needs one, retired when dropped (the request is over, answered or abandoned).
#[derive(Default)]
pub struct BatchChild(tokio::sync::Mutex<Option<Arc<Running>>>);

impl std::fmt::Debug for BatchChild {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BatchChild")
    }
}

impl Drop for BatchChild {
    fn drop(&mut self) {
        if let Some(running) = self.0.get_mut().take() {
            retire(running.child.clone());
        }
    }
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
            request_id: None,
            batch: None,
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

/// A destination for client messages. See the module docs for the contract.
#[async_trait]
pub trait Upstream: Send + Sync {
    /// Handles a client's `initialize` request.
    async fn initialize(&self, ex: &Exchange, msg: &Message) -> Outcome<InitOk>;
    /// Forwards a request; its answer carries the client's id.
    async fn request(&self, ex: &Exchange, msg: &Message) -> Outcome<Reply>;
    /// Forwards (or absorbs) a notification.
    async fn notify(&self, ex: &Exchange, msg: &Message);
    /// Delivers a client's response to the server→client request it answers (sent on one of
    /// this upstream's streams to the same session). Returns `false` when no such request is
    /// waiting.
    async fn deliver(&self, _ex: &Exchange, _msg: &Message) -> bool {
        false
    }
    /// The session ended (DELETE): release what belongs to it.
    async fn end_session(&self, session_id: &str);
    /// Terminates every child (graceful shutdown).
    async fn shutdown(&self);
    /// A child sent `notification` (`notifications/…/list_changed`) outside any request:
    /// whatever this upstream holds of that list is out of date.
    fn lists_changed(&self, _notification: &str) {}
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
    /// The [`capability_key`](era::capability_key) of the params a legacy child was initialized
    /// with (empty for a modern child): which modern clients may share it.
    pub(crate) caps: String,
}

/// What a started child speaks.
pub(crate) enum Ready {
    /// Initialized (its InitializeResult and the `serverInfo` in it).
    Legacy(Initialized, Option<serde_json::Value>),
    /// Modern: never initialized; its `server/discover` result.
    Modern(Arc<RawValue>),
}

impl Running {
    /// The answer to a legacy client's `initialize` asking for `requested`, from this child.
    /// A child of the client's [`family`](crate::protocol::family) that negotiated a newer
    /// version answers with the client's own version (docs/PROTOCOL-ERAS.md, "Legacy versions
    /// that share a child").
    pub(crate) fn init_ok(&self, requested: &str) -> InitOk {
        match &self.ready {
            Ready::Legacy(init, _) => answered_as(init, requested),
            Ready::Modern(discover) => emulated_initialize(discover, requested),
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
        requested: &str,
    ) -> Option<Outcome<InitOk>> {
        match self.era(ex).await {
            Err(e) => Some(Err(e)),
            Ok(Era::Modern(discover)) => Some(Ok(emulated_initialize(&discover, requested))),
            Ok(Era::Legacy) => None,
        }
    }
}

/// A legacy client's InitializeResult emulated from a modern child's discover result.
fn emulated_initialize(discover: &RawValue, requested: &str) -> InitOk {
    let version = era::negotiate_legacy(requested);
    InitOk {
        result: Arc::from(era::initialize_from_discover(discover, version)),
        negotiated: version.to_owned(),
    }
}

/// How many child processes may run at once: one count for every child of one upstream, of
/// every lifecycle (the era probe's spare included). A child holds its slot until its process
/// has exited.
#[derive(Debug, Clone)]
pub struct ChildSlots {
    free: Arc<tokio::sync::Semaphore>,
    max: usize,
}

impl ChildSlots {
    /// At most `max` children (at least one).
    pub fn new(max: usize) -> Self {
        let max = max.max(1);
        Self {
            free: Arc::new(tokio::sync::Semaphore::new(max)),
            max,
        }
    }

    /// The limit.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot, or [`UpstreamError::Busy`] when all are taken.
    fn take(&self) -> Outcome<tokio::sync::OwnedSemaphorePermit> {
        self.free
            .clone()
            .try_acquire_owned()
            .map_err(|_| UpstreamError::Busy(self.max))
    }
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
    /// Where children send notifications that belong to no request, tagged with the session
    /// that owns the child (see [`Gateway::listen`](crate::Gateway::listen)); `None` drops them.
    pub unrelated: Option<tokio::sync::mpsc::UnboundedSender<Unrelated>>,
    /// The cap on child processes (see [`ChildSlots`]).
    pub slots: ChildSlots,
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
    /// spare the next [`start`](Self::start) takes).
    pub(crate) async fn era(&self, ex: &Exchange) -> Outcome<Era> {
        if let Some(era) = self.era.known() {
            return Ok(era);
        }
        let _one = self.era.probe_lock.lock().await;
        if let Some(era) = self.era.known() {
            return Ok(era);
        }
        let child = self.spawn(true, ex, None)?;
        let era = self.probe(&child, ex).await?;
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

    /// Starts a child. `owner`: the session it belongs to (its messages that belong to no
    /// request go to that session only); `None` for a child shared by every session.
    fn spawn(
        &self,
        shared: bool,
        ex: &Exchange,
        owner: Option<&str>,
    ) -> Outcome<Arc<ChildProcess>> {
        let slot = self.slots.take()?;
        let t = std::time::Instant::now();
        let spawned =
            ChildProcess::spawn(&self.command, self.max_message, self.kill_grace, !shared);
        ex.stats.add_spawn(t.elapsed());
        let child = spawned?;
        child.hold(slot);
        if let Some(tx) = &self.unrelated {
            child.on_unrelated(tx.clone(), owner.map(Arc::from));
        }
        Ok(Arc::new(child))
    }

    /// Sends `server/discover` to a fresh child and records what it showed.
    async fn probe(&self, child: &ChildProcess, ex: &Exchange) -> Outcome<Era> {
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
            None if self.era.policy == EraPolicy::Modern => return Err(UpstreamError::NotModern),
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

    /// Starts a child (the spare, if one is waiting) and readies it
    /// before the exchange's deadline: a modern child as it is, a legacy one initialized with
    /// `params` (raw initialize params). Time spent is recorded in the exchange's stats. A
    /// `shared` child logs under its pid only; otherwise its lines carry the current request's
    /// span. `owner`: see [`spawn`](Self::spawn). On failure the child is retired.
    pub(crate) async fn start(
        &self,
        shared: bool,
        params: &str,
        ex: &Exchange,
        owner: Option<&str>,
    ) -> Outcome<Arc<Running>> {
        let era = self.era(ex).await?;
        let child = match self.era.take_spare().filter(|c| self.usable(c)) {
            Some(c) => {
                // The spare was started for nobody: it belongs to `owner` from now on.
                if let Some(tx) = &self.unrelated {
                    c.on_unrelated(tx.clone(), owner.map(Arc::from));
                }
                c
            }
            None => self.spawn(shared, ex, owner)?,
        };
        child.attribute(ex.request_id.clone());
        if shared && owner.is_none() {
            child.serve_many();
        }
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
                    Err(e) => {
                        retire(child);
                        return Err(e);
                    }
                }
            }
        };
        let caps = match ready {
            Ready::Legacy(..) => era::capability_key_of_params(params),
            Ready::Modern(_) => String::new(),
        };
        Ok(Arc::new(Running { child, ready, caps }))
    }
}

/// Answers a client request with a started child, translating between the client's era and the
/// child's (see [`era`](crate::era)); the answer carries the client's id.
pub(crate) async fn dispatch(
    run: &Running,
    inflight: &Inflight,
    ex: &Exchange,
    msg: &Message,
) -> Outcome<Reply> {
    let id = msg.id();
    let method = msg.method().unwrap_or_default();
    run.child.attribute(ex.request_id.clone());
    match (&run.ready, ex.modern.is_some()) {
        (Ready::Modern(_), true) | (Ready::Legacy(..), false) => {
            forward(&run.child, inflight, ex, msg.raw(), id).await
        }
        (Ready::Legacy(init, info), true) => {
            if method == "server/discover" {
                return Ok(Reply::result(
                    id,
                    &era::discover_from_initialize(&init.result),
                ));
            }
            let raw = era::to_legacy_request(msg);
            let reply = forward(&run.child, inflight, ex, &raw, id).await?;
            Ok(era::to_modern_response(reply, method, info.as_ref()))
        }
        (Ready::Modern(_), false) => match method {
            // Removed in 2026-07-28; a legacy client still gets the answer its version promises.
            "ping" | "logging/setLevel" => Ok(Reply::result(id, &empty_object())),
            "resources/subscribe" | "resources/unsubscribe" => {
                Err(UpstreamError::MethodNotFound(format!(
                    "Method not found: {method} (the MCP server speaks protocol 2026-07-28, which has no per-resource subscriptions)"
                )))
            }
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

/// Sends a request (`raw`, any id) to `child` and returns the child's answer with `client_id`.
pub(crate) async fn forward(
    child: &Arc<ChildProcess>,
    inflight: &Inflight,
    ex: &Exchange,
    raw: &RawValue,
    client_id: Option<&RawValue>,
) -> Outcome<Reply> {
    let mut ticket = child
        .start_streaming(raw, ex.sink.clone(), ex.deadline)
        .await?;
    if ex.modern.is_some() || ex.sink.is_some() {
        // 2026-07-28: a closed response is the client's cancellation; so is a closed SSE
        // stream (nothing could reach the client any more).
        ticket.cancel_on_drop();
    }
    let key = ex.session_id.as_deref().zip(client_id.map(RawValue::get));
    // Registered for the wait only; the guards also unregister when the client goes away and
    // this future is dropped mid-wait.
    let _registered = key.map(|(s, id)| {
        inflight.insert(s, id, child.clone(), ticket.wire_id);
        Registered {
            inflight,
            session: s,
            client_id: id,
        }
    });
    let _streaming = ex.sink.is_some().then(|| {
        inflight.stream_started(child);
        Streaming { inflight, child }
    });
    let raw = child.wait(ticket, ex.deadline).await?;
    respond(client_id, &raw)
}

/// Turns a child's response into the client's (client id restored).
pub(crate) fn respond(client_id: Option<&RawValue>, raw: &RawValue) -> Outcome<Reply> {
    let id = client_id.map(RawValue::get).unwrap_or("null");
    let (out, error) =
        jsonrpc::rewrite_id(raw, id).map_err(|e| UpstreamError::Unreadable(e.to_string()))?;
    Ok(Reply {
        body: Bytes::from(jsonrpc::into_bytes(out)),
        error,
    })
}

/// Terminates a child in the background (the caller's response is not held up).
pub(crate) fn retire(child: Arc<ChildProcess>) {
    tokio::spawn(async move { child.terminate().await });
}
