//! `reuse` lifecycle (default): one long-lived child per protocol version, shared by all clients.
//!
//! Contract:
//! - Concurrent requests are multiplexed over the child by wire-id rewriting; a client's id always
//!   comes back unchanged and two clients using the same id never see each other's answer.
//! - The first client's `initialize` for a version is what the child sees; later clients asking for
//!   the same version are answered from the child's stored InitializeResult. A client asking for a
//!   version no child has negotiated gets a child of its own (one child per protocol version).
//! - A dead child is replaced on the next request, transparently: the replacement is initialized
//!   with the session's params, else the first params seen for that version, else synthesized.
//! - A modern (2026-07-28) child is one shared child for every client of both eras. A legacy
//!   child serving modern clients is one per distinct capability set
//!   ([`capability_key`](crate::era::capability_key)), initialized from the first such request's
//!   `_meta`, apart from the children of legacy clients.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::handshake::synthesized_params;
use super::requested_version;
use super::{
    ChildConfig, Era, Exchange, Inflight, InitOk, Outcome, Ready, Reply, Running, Upstream,
    dispatch, empty_object, retire,
};
use crate::era::{ModernMeta, capability_key};
use crate::jsonrpc::Message;
use crate::protocol;

type Slot = Running;

type Cell = Arc<tokio::sync::Mutex<Option<Arc<Slot>>>>;

/// The cell a request's child lives in (see the module docs).
fn key(era: &Era, ex: &Exchange) -> String {
    match (era, &ex.modern) {
        (Era::Modern(_), _) => "modern".into(),
        (Era::Legacy, Some(m)) => format!(
            "{}+{}",
            protocol::LATEST_VERSION,
            capability_key(&m.client_capabilities)
        ),
        (Era::Legacy, None) => ex.protocol_version.clone(),
    }
}

/// One shared child per protocol version.
pub struct Reuse {
    cfg: ChildConfig,
    /// Negotiated (or requested-by-header) version → its child.
    cells: Mutex<HashMap<String, Cell>>,
    /// Version a client asked for in initialize → version its child negotiated.
    learned: Mutex<HashMap<String, String>>,
    /// First client params seen per negotiated version (replayed on restart).
    params: Mutex<HashMap<String, Arc<str>>>,
    /// Serializes client initializes (rare) so one version never gets two children.
    init_lock: tokio::sync::Mutex<()>,
    inflight: Inflight,
}

impl Reuse {
    /// Creates the upstream; the first child starts with the first request (see [`Reuse::prewarm`]).
    pub fn new(cfg: ChildConfig) -> Self {
        Self {
            cfg,
            cells: Mutex::new(HashMap::new()),
            learned: Mutex::new(HashMap::new()),
            params: Mutex::new(HashMap::new()),
            init_lock: tokio::sync::Mutex::new(()),
            inflight: Inflight::default(),
        }
    }

    fn cell(&self, version: &str) -> Cell {
        match self.cells.lock() {
            Ok(mut m) => m.entry(version.to_owned()).or_default().clone(),
            Err(_) => Cell::default(),
        }
    }

    fn alive(&self, slot: &Option<Arc<Slot>>) -> Option<Arc<Slot>> {
        slot.as_ref().filter(|s| self.cfg.usable(&s.child)).cloned()
    }

    /// Starts and initializes the child for `version` now (synthesized params), so the first
    /// request does not pay for it: a legacy version prewarms the child its clients share, a
    /// modern one the child of modern clients declaring no capabilities (with a modern child
    /// both are the same child). Errors are returned for the caller to log.
    pub async fn prewarm(&self, version: &str, deadline: tokio::time::Instant) -> Outcome<u32> {
        let mut ex = Exchange::legacy(version, deadline);
        if protocol::is_modern(version) {
            // The child modern clients that declare no capabilities share.
            ex.modern = Some(Arc::new(ModernMeta {
                protocol_version: version.to_owned(),
                client_capabilities: Arc::from(empty_object()),
                client_info: None,
                log_level: None,
            }));
        }
        self.slot_for(&ex).await.map(|s| s.child.pid())
    }

    /// The live child for the exchange, started (and initialized, if legacy) if needed.
    async fn slot_for(&self, ex: &Exchange) -> Outcome<Arc<Slot>> {
        let era = self.cfg.era(ex).await?;
        let key = key(&era, ex);
        let cell = self.cell(&key);
        let mut guard = cell.lock().await;
        if let Some(slot) = self.alive(&guard) {
            return Ok(slot);
        }
        if let Some(old) = guard.take() {
            ex.stats.add_restart();
            tracing::warn!(pid = old.child.pid(), key = %key, "MCP server is gone; starting a new one");
        }
        let params = match &ex.modern {
            Some(m) => m.init_params(),
            None => ex
                .init_params
                .clone()
                .or_else(|| self.params.lock().ok()?.get(&ex.protocol_version).cloned())
                .unwrap_or_else(|| synthesized_params(&ex.protocol_version)),
        };
        let slot = self.cfg.start(true, &params, ex, None).await?;
        match &slot.ready {
            Ready::Legacy(init, _) => {
                tracing::info!(pid = slot.child.pid(), version = %init.negotiated, key = %key, "MCP server started and initialized")
            }
            Ready::Modern(_) => {
                tracing::info!(pid = slot.child.pid(), "MCP server started (2026-07-28)")
            }
        }
        *guard = Some(slot.clone());
        Ok(slot)
    }
}

#[async_trait]
impl Upstream for Reuse {
    async fn initialize(&self, ex: &Exchange, msg: &Message) -> Outcome<InitOk> {
        let (params, requested) = requested_version(msg)?;
        let _serial = self.init_lock.lock().await;
        // A modern child is never initialized: the answer comes from its discover result.
        if let Some(outcome) = self.cfg.initialize_without_child(ex, &requested).await {
            return outcome;
        }
        // A live child already asked for this version (by an earlier client, or on a client's
        // behalf for a request that came without initialize) answers from its InitializeResult.
        let key = self
            .learned
            .lock()
            .ok()
            .and_then(|m| m.get(&requested).cloned())
            .unwrap_or_else(|| requested.clone());
        let existing = self.alive(&*self.cell(&key).lock().await);
        if let Some(slot) = existing {
            return Ok(slot.init_ok(&requested));
        }
        // No child has answered this version yet: this client's own initialize is what a new
        // child sees.
        let started = self.cfg.start(true, &params, ex, None).await?;
        let negotiated = started.init_ok(&requested).negotiated;
        let cell = self.cell(&negotiated);
        let mut guard = cell.lock().await;
        let ok = match self.alive(&guard) {
            // Another child already serves this version (it was asked for by another name):
            // keep it and let this one go.
            Some(existing) => {
                retire(started.child.clone());
                existing.init_ok(&requested)
            }
            None => {
                tracing::info!(pid = started.child.pid(), version = %negotiated, "MCP server started and initialized by a client");
                let ok = started.init_ok(&requested);
                *guard = Some(started);
                ok
            }
        };
        drop(guard);
        if let Ok(mut m) = self.learned.lock() {
            m.insert(requested, negotiated.clone());
        }
        if let Ok(mut m) = self.params.lock() {
            m.entry(negotiated).or_insert(params);
        }
        Ok(ok)
    }

    async fn request(&self, ex: &Exchange, msg: &Message) -> Outcome<Reply> {
        let slot = self.slot_for(ex).await?;
        dispatch(&slot, &self.inflight, ex, msg).await
    }

    async fn notify(&self, ex: &Exchange, msg: &Message) {
        match msg.method() {
            // The wrapper completed the handshake itself when it initialized the child.
            Some("notifications/initialized") => {}
            Some("notifications/cancelled") => self.inflight.cancel(ex, msg).await,
            _ => {
                let Ok(era) = self.cfg.era(ex).await else {
                    return;
                };
                if msg.method() == Some("notifications/roots/list_changed") {
                    // The child serves every client: one client's roots must not become
                    // everyone's (its `roots/list` is never sent to a client either). Removed
                    // in 2026-07-28 anyway: a modern server asks for roots per request.
                    tracing::debug!(
                        ?era,
                        "a client's roots change not forwarded to the shared MCP server"
                    );
                    return;
                }
                let cell = self.cell(&key(&era, ex));
                let slot = self.alive(&*cell.lock().await);
                match slot {
                    Some(slot) => {
                        if let Err(e) = slot.child.notify(msg.raw()).await {
                            tracing::debug!(error = %e, "notification not delivered");
                        }
                    }
                    None => tracing::debug!("no running MCP server for this notification; dropped"),
                }
            }
        }
    }

    async fn deliver(&self, ex: &Exchange, msg: &Message) -> bool {
        self.inflight.deliver(ex, msg)
    }

    async fn end_session(&self, _session_id: &str) {}

    async fn shutdown(&self) {
        let cells: Vec<Cell> = self
            .cells
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        let mut tasks = tokio::task::JoinSet::new();
        for cell in cells {
            if let Some(slot) = cell.lock().await.take() {
                tasks.spawn(async move { slot.child.terminate().await });
            }
        }
        tasks.spawn({
            let era = self.cfg.era.clone();
            async move { era.shutdown().await }
        });
        while tasks.join_next().await.is_some() {}
    }
}
