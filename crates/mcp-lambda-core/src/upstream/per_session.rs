//! `per-session` lifecycle: one child per `Mcp-Session-Id`.
//!
//! Contract: the session's child is initialized with the client's own initialize; a child that
//! died (or was reaped) is started again and initialized with the session's stored params. It is
//! terminated on DELETE, at shutdown, or after `idle` without requests (checked by a reaper task
//! that holds only a weak reference, so it ends with the upstream). Modern (2026-07-28) clients
//! have no sessions: each of their requests gets a child of its own, as in `per-request`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::handshake::synthesized_params;
use super::requested_version;
use super::{
    ChildConfig, Exchange, Inflight, InitOk, Outcome, PerRequest, Reply, Running, Upstream,
    UpstreamError, dispatch, retire,
};
use crate::jsonrpc::Message;

#[derive(Default)]
struct Entry {
    child: tokio::sync::Mutex<Option<Arc<Running>>>,
    last_used: Mutex<Option<Instant>>,
    busy: AtomicUsize,
}

/// A child per session.
pub struct PerSession {
    cfg: ChildConfig,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    inflight: Inflight,
    /// Session-less (modern) requests: a child each.
    one_off: PerRequest,
}

impl PerSession {
    /// Creates the upstream and its idle reaper (children unused for `idle` are terminated).
    pub fn new(cfg: ChildConfig, idle: Duration) -> Arc<Self> {
        let me = Arc::new(Self {
            one_off: PerRequest::new(cfg.clone()),
            cfg,
            entries: Mutex::new(HashMap::new()),
            inflight: Inflight::default(),
        });
        let weak = Arc::downgrade(&me);
        tokio::spawn(reap(weak, idle));
        me
    }

    /// Starts `session`'s child. At the cap on processes, first stops the least recently used
    /// idle child of another session (that session survives: its next request starts a child
    /// from its stored params); when every child is busy, [`UpstreamError::Busy`].
    async fn start_evicting(
        &self,
        params: &str,
        ex: &Exchange,
        session: &str,
    ) -> Outcome<Arc<Running>> {
        match self.cfg.start(true, params, ex, Some(session)).await {
            Err(UpstreamError::Busy(n)) => {
                if !self.evict_idle(session).await {
                    return Err(UpstreamError::Busy(n));
                }
                self.cfg.start(true, params, ex, Some(session)).await
            }
            other => other,
        }
    }

    /// Stops the least recently used idle child of a session other than `except`; `false` when
    /// there is none.
    async fn evict_idle(&self, except: &str) -> bool {
        let mut idle: Vec<(Option<Instant>, String, Arc<Entry>)> = match self.entries.lock() {
            Ok(m) => m
                .iter()
                .filter(|(id, e)| id.as_str() != except && e.busy.load(Ordering::SeqCst) == 0)
                .map(|(id, e)| {
                    let used = e.last_used.lock().ok().and_then(|t| *t);
                    (used, id.clone(), e.clone())
                })
                .collect(),
            Err(_) => return false,
        };
        idle.sort_by_key(|(used, _, _)| *used);
        for (_, id, entry) in idle {
            // A child being started or used right now is not idle.
            let Ok(mut guard) = entry.child.try_lock() else {
                continue;
            };
            if entry.busy.load(Ordering::SeqCst) != 0 {
                continue;
            }
            if let Some(run) = guard.take() {
                drop(guard);
                tracing::info!(pid = run.child.pid(), session = %short(&id), "at the cap on MCP server processes: stopping the least recently used idle session's");
                run.child.terminate().await;
                return true;
            }
        }
        false
    }

    fn entry(&self, session: &str) -> Arc<Entry> {
        match self.entries.lock() {
            Ok(mut m) => m.entry(session.to_owned()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }
}

async fn reap(me: Weak<PerSession>, idle: Duration) {
    let every = (idle / 4).clamp(Duration::from_millis(200), Duration::from_secs(30));
    loop {
        tokio::time::sleep(every).await;
        let Some(me) = me.upgrade() else { return };
        let now = Instant::now();
        let idle_entries: Vec<(String, Arc<Entry>)> = match me.entries.lock() {
            Ok(mut m) => {
                let ids: Vec<String> = m
                    .iter()
                    .filter(|(_, e)| {
                        e.busy.load(Ordering::SeqCst) == 0
                            && e.last_used
                                .lock()
                                .ok()
                                .and_then(|t| *t)
                                .is_some_and(|t| now.duration_since(t) >= idle)
                    })
                    .map(|(k, _)| k.clone())
                    .collect();
                ids.into_iter()
                    .filter_map(|k| m.remove(&k).map(|e| (k, e)))
                    .collect()
            }
            Err(_) => return,
        };
        for (session, entry) in idle_entries {
            if let Some(run) = entry.child.lock().await.take() {
                tracing::info!(pid = run.child.pid(), session = %short(&session), "session's MCP server idle; terminating");
                retire(run.child.clone());
            }
        }
    }
}

/// Marks a session's child busy (not reapable) for as long as it lives, and records the last
/// use when dropped — also when the client goes away and the request future is dropped.
struct Busy<'a>(&'a Entry);

impl<'a> Busy<'a> {
    fn new(entry: &'a Entry) -> Self {
        entry.busy.fetch_add(1, Ordering::SeqCst);
        Self(entry)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        if let Ok(mut t) = self.0.last_used.lock() {
            *t = Some(Instant::now());
        }
        self.0.busy.fetch_sub(1, Ordering::SeqCst);
    }
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

#[async_trait]
impl Upstream for PerSession {
    async fn initialize(&self, ex: &Exchange, msg: &Message) -> Outcome<InitOk> {
        let (params, requested) = requested_version(msg)?;
        // A modern child is never initialized: the answer comes from its discover result.
        if let Some(outcome) = self.cfg.initialize_without_child(ex, &requested).await {
            return outcome;
        }
        let Some(session) = &ex.session_id else {
            return Err(UpstreamError::Misconfigured(
                "per-session lifecycle needs sessions",
            ));
        };
        let started = self.start_evicting(&params, ex, session).await?;
        let ok = started.init_ok(&requested);
        let entry = self.entry(session);
        if let Some(old) = entry.child.lock().await.replace(started) {
            retire(old.child.clone());
        }
        if let Ok(mut t) = entry.last_used.lock() {
            *t = Some(Instant::now());
        }
        Ok(ok)
    }

    async fn request(&self, ex: &Exchange, msg: &Message) -> Outcome<Reply> {
        if ex.modern.is_some() {
            return self.one_off.request(ex, msg).await;
        }
        let Some(session) = &ex.session_id else {
            return Err(UpstreamError::Unservable(
                "per-session lifecycle: this request has no session",
            ));
        };
        let entry = self.entry(session);
        let _busy = Busy::new(&entry);
        let run = {
            let mut guard = entry.child.lock().await;
            match guard.as_ref().filter(|r| self.cfg.usable(&r.child)) {
                Some(r) => r.clone(),
                None => {
                    if guard.is_some() {
                        ex.stats.add_restart();
                    }
                    let params = ex
                        .init_params
                        .clone()
                        .unwrap_or_else(|| synthesized_params(&ex.protocol_version));
                    let run = self.start_evicting(&params, ex, session).await?;
                    tracing::info!(pid = run.child.pid(), session = %short(session), "session's MCP server (re)started from stored params");
                    if let Some(old) = guard.replace(run.clone()) {
                        retire(old.child.clone());
                    }
                    run
                }
            }
        };
        dispatch(&run, &self.inflight, ex, msg).await
    }

    async fn notify(&self, ex: &Exchange, msg: &Message) {
        match msg.method() {
            Some("notifications/initialized") => {}
            Some("notifications/cancelled") => self.inflight.cancel(ex, msg).await,
            _ => {
                let Some(session) = &ex.session_id else {
                    return;
                };
                let entry = self.entry(session);
                let run = entry.child.lock().await.clone();
                if let Some(run) = run.filter(|r| self.cfg.usable(&r.child)) {
                    if matches!(run.ready, super::Ready::Modern(_))
                        && msg.method() == Some("notifications/roots/list_changed")
                    {
                        return;
                    }
                    let _ = run.child.notify(msg.raw()).await;
                }
            }
        }
    }

    async fn deliver(&self, ex: &Exchange, msg: &Message) -> bool {
        self.inflight.deliver(ex, msg) || self.one_off.deliver(ex, msg).await
    }

    async fn end_session(&self, session_id: &str) {
        let entry = self
            .entries
            .lock()
            .ok()
            .and_then(|mut m| m.remove(session_id));
        if let Some(entry) = entry
            && let Some(run) = entry.child.lock().await.take()
        {
            run.child.terminate().await;
        }
    }

    async fn shutdown(&self) {
        let all: Vec<Arc<Entry>> = self
            .entries
            .lock()
            .map(|mut m| m.drain().map(|(_, e)| e).collect())
            .unwrap_or_default();
        let mut tasks = tokio::task::JoinSet::new();
        for entry in all {
            if let Some(run) = entry.child.lock().await.take() {
                tasks.spawn(async move { run.child.terminate().await });
            }
        }
        self.one_off.shutdown().await;
        while tasks.join_next().await.is_some() {}
    }
}
