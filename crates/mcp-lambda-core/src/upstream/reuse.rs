//! `reuse` lifecycle (default): one long-lived child per protocol version, shared by all clients.
//!
//! Contract:
//! - Concurrent requests are multiplexed over the child by wire-id rewriting; a client's id always
//!   comes back unchanged and two clients using the same id never see each other's answer.
//! - The first client's `initialize` for a version [family](crate::protocol::family) is what the
//!   child sees (asking for the family's newest version); later clients of the family are
//!   answered from the child's stored InitializeResult, with their own version when it is older.
//!   A client of a family no child serves gets a child of its own (one child per family:
//!   2025-06-18 and 2025-11-25 share one, 2025-03-26 has its own).
//! - A dead child is replaced on the next request, transparently: the replacement is initialized
//!   with the session's params, else the first params seen for that version, else synthesized.
//! - A modern (2026-07-28) child is one shared child for every client of both eras. A legacy
//!   child serving modern clients is one per distinct capability set
//!   ([`capability_key`](crate::era::capability_key)), initialized from the first such request's
//!   `_meta`; a legacy child of the newest family initialized with the same capability set
//!   (a prewarmed one: none) serves them too, so a cold start needs one child for both eras.
//! - [`Reuse::prewarm_all`] starts the children asked for at once, not one after another.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::handshake::{asking, synthesized_params};
use super::requested_version;
use super::{
    ChildConfig, Era, Exchange, Inflight, InitOk, Outcome, Ready, Reply, Running, Upstream,
    UpstreamError, dispatch, empty_object, retire,
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
        (Era::Legacy, None) => protocol::family(&ex.protocol_version).to_owned(),
    }
}

/// One shared child per protocol version.
pub struct Reuse {
    cfg: ChildConfig,
    /// Family of the negotiated (or requested-by-header) version → its child; `LATEST+caps` for
    /// modern clients of a legacy child.
    cells: Mutex<HashMap<String, Cell>>,
    /// Version a client asked for in initialize → family of the version its child negotiated.
    learned: Mutex<HashMap<String, String>>,
    /// First client params seen per family (replayed on restart).
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
    /// request does not pay for it: a legacy version prewarms the child its family's clients
    /// share, a modern one the child of modern clients declaring no capabilities (with a modern
    /// child both are the same child). Errors are returned for the caller to log.
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

    /// [`prewarm`](Self::prewarm)s every version in `versions` at once, starting each distinct
    /// child once: the command's era is learned first (the probed child is the first one
    /// started), then the children start in parallel. A modern child serves every version; with
    /// a legacy child, modern clients without capabilities share the child of the newest legacy
    /// family when that one is prewarmed too. Returns each version's outcome, in order.
    pub async fn prewarm_all(
        self: &Arc<Self>,
        versions: &[String],
        deadline: tokio::time::Instant,
    ) -> Vec<(String, Outcome<u32>)> {
        let probe = Exchange::legacy(protocol::LATEST_VERSION, deadline);
        let era = match self.cfg.era(&probe).await {
            Ok(era) => era,
            Err(e) => {
                return versions
                    .iter()
                    .map(|v| (v.clone(), Err(e.clone())))
                    .collect();
            }
        };
        let newest_family = versions
            .iter()
            .any(|v| !protocol::is_modern(v) && protocol::family(v) == protocol::LATEST_VERSION);
        let cell_of = |v: &str| match (&era, protocol::is_modern(v)) {
            (Era::Modern(_), _) => "modern".to_owned(),
            (Era::Legacy, true) if newest_family => protocol::LATEST_VERSION.to_owned(),
            (Era::Legacy, true) => format!("{}+", protocol::LATEST_VERSION),
            (Era::Legacy, false) => protocol::family(v).to_owned(),
        };
        // One version per child to start; a legacy one where a legacy and a modern version
        // share the child (it is initialized as the legacy family's, with no capabilities).
        let mut cells: Vec<String> = Vec::new();
        let mut work: Vec<String> = Vec::new();
        for v in versions {
            let cell = cell_of(v);
            match cells.iter().position(|c| *c == cell) {
                Some(i) if protocol::is_modern(&work[i]) && !protocol::is_modern(v) => {
                    work[i] = v.clone()
                }
                Some(_) => {}
                None => {
                    cells.push(cell);
                    work.push(v.clone());
                }
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for (i, v) in work.iter().enumerate() {
            let (me, v) = (self.clone(), v.clone());
            tasks.spawn(async move { (i, me.prewarm(&v, deadline).await) });
        }
        let mut firsts =
            vec![Err(UpstreamError::Unreadable("prewarm did not finish".into())); work.len()];
        while let Some(done) = tasks.join_next().await {
            if let Ok((i, outcome)) = done
                && let Some(slot) = firsts.get_mut(i)
            {
                *slot = outcome;
            }
        }
        versions
            .iter()
            .map(|v| {
                let cell = cell_of(v);
                let outcome = cells
                    .iter()
                    .position(|c| *c == cell)
                    .and_then(|i| firsts.get(i).cloned())
                    .unwrap_or(Err(UpstreamError::Unreadable("not prewarmed".into())));
                (v.clone(), outcome)
            })
            .collect()
    }

    /// The command's era (probing a first child if nobody has yet).
    pub(crate) async fn era(&self, ex: &Exchange) -> Outcome<Era> {
        self.cfg.era(ex).await
    }

    /// The live child for the exchange, started (and initialized, if legacy) if needed.
    async fn slot_for(&self, ex: &Exchange) -> Outcome<Arc<Slot>> {
        let era = self.cfg.era(ex).await?;
        if let (Era::Legacy, Some(m)) = (&era, &ex.modern) {
            // The newest family's child serves modern clients with the capability set it was
            // initialized with. Clients without capabilities wait for it if it is being started
            // (prewarm starts it with none); others only look.
            let caps = capability_key(&m.client_capabilities);
            let family = self.cell(protocol::LATEST_VERSION);
            let shared = if caps.is_empty() {
                self.alive(&*family.lock().await)
            } else {
                family.try_lock().ok().and_then(|g| self.alive(&g))
            };
            if let Some(slot) = shared.filter(|s| s.caps == caps) {
                return Ok(slot);
            }
        }
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
            None => {
                let family = protocol::family(&ex.protocol_version);
                ex.init_params
                    .as_deref()
                    .and_then(|p| asking(p, family))
                    .or_else(|| self.params.lock().ok()?.get(family).cloned())
                    .unwrap_or_else(|| synthesized_params(family))
            }
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
        // A live child of this version's family (started by an earlier client, on a client's
        // behalf for a request that came without initialize, or by prewarm) answers from its
        // InitializeResult.
        let key = self
            .learned
            .lock()
            .ok()
            .and_then(|m| m.get(&requested).cloned())
            .unwrap_or_else(|| protocol::family(&requested).to_owned());
        let existing = self.alive(&*self.cell(&key).lock().await);
        if let Some(slot) = existing {
            return Ok(slot.init_ok(&requested));
        }
        // No child serves this family yet: this client's own initialize, asking for the
        // family's newest version, is what a new child sees.
        let params = asking(&params, protocol::family(&requested)).unwrap_or(params);
        let started = self.cfg.start(true, &params, ex, None).await?;
        let family = protocol::family(&started.init_ok(&requested).negotiated).to_owned();
        let cell = self.cell(&family);
        let mut guard = cell.lock().await;
        let ok = match self.alive(&guard) {
            // Another child already serves this family (it was asked for by another name):
            // keep it and let this one go.
            Some(existing) => {
                retire(started.child.clone());
                existing.init_ok(&requested)
            }
            None => {
                tracing::info!(pid = started.child.pid(), version = %family, "MCP server started and initialized by a client");
                let ok = started.init_ok(&requested);
                *guard = Some(started);
                ok
            }
        };
        drop(guard);
        if let Ok(mut m) = self.learned.lock() {
            m.insert(requested, family.clone());
        }
        if let Ok(mut m) = self.params.lock() {
            m.entry(family).or_insert(params);
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
