//! `per-request` lifecycle: a fresh child for every request — full isolation.
//!
//! Contract: spawn, initialize (the client's own params when this is its initialize, else the
//! session's, else the last ones seen for the version, else synthesized), forward, answer, and
//! terminate the child in the background so the response is not held up. The members of one
//! HTTP request's batch share one child ([`Exchange::batch`]), retired when the request ends. Notifications other
//! than cancellation have no child to go to and are dropped (logged at debug). A modern
//! (2026-07-28) child is never initialized: spawn, forward, answer; a legacy client's
//! `initialize` is then answered from the command's cached discover result without a spawn.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::handshake::synthesized_params;
use super::requested_version;
use super::{ChildConfig, Exchange, Inflight, InitOk, Outcome, Reply, Upstream, dispatch, retire};
use crate::jsonrpc::Message;

/// A child per request.
pub struct PerRequest {
    cfg: ChildConfig,
    /// Last initialize params seen per negotiated version, replayed for later requests.
    params: Mutex<HashMap<String, Arc<str>>>,
    inflight: Inflight,
}

impl PerRequest {
    /// Creates the upstream; nothing is spawned until a request arrives.
    pub fn new(cfg: ChildConfig) -> Self {
        Self {
            cfg,
            params: Mutex::new(HashMap::new()),
            inflight: Inflight::default(),
        }
    }

    fn remembered(&self, version: &str) -> Option<Arc<str>> {
        self.params.lock().ok()?.get(version).cloned()
    }
}

#[async_trait]
impl Upstream for PerRequest {
    async fn initialize(&self, ex: &Exchange, msg: &Message) -> Outcome<InitOk> {
        let (params, requested) = requested_version(msg)?;
        // A modern child is never initialized: the answer comes from its discover result.
        if let Some(outcome) = self.cfg.initialize_without_child(ex, &requested).await {
            return outcome;
        }
        let started = self.cfg.start(false, &params, ex, None).await?;
        retire(started.child.clone());
        let ok = started.init_ok(&requested);
        if let Ok(mut m) = self.params.lock() {
            m.insert(ok.negotiated.clone(), params);
        }
        Ok(ok)
    }

    async fn request(&self, ex: &Exchange, msg: &Message) -> Outcome<Reply> {
        let params = match &ex.modern {
            Some(m) => m.init_params(),
            None => ex
                .init_params
                .clone()
                .or_else(|| self.remembered(&ex.protocol_version))
                .unwrap_or_else(|| synthesized_params(&ex.protocol_version)),
        };
        let Some(batch) = &ex.batch else {
            let started = self
                .cfg
                .start(false, &params, ex, ex.session_id.as_deref())
                .await?;
            let reply = dispatch(&started, &self.inflight, ex, msg).await;
            retire(started.child.clone());
            return reply;
        };
        // A batch's members run one after another on the child the first one started (a new
        // one if it has died meanwhile).
        let mut cell = batch.0.lock().await;
        let started = match cell.as_ref().filter(|r| self.cfg.usable(&r.child)) {
            Some(running) => running.clone(),
            None => {
                let running = self
                    .cfg
                    .start(false, &params, ex, ex.session_id.as_deref())
                    .await?;
                if let Some(dead) = cell.replace(running.clone()) {
                    retire(dead.child.clone());
                }
                running
            }
        };
        drop(cell);
        dispatch(&started, &self.inflight, ex, msg).await
    }

    async fn notify(&self, ex: &Exchange, msg: &Message) {
        if msg.method() == Some("notifications/cancelled") {
            self.inflight.cancel(ex, msg).await;
        } else {
            tracing::debug!(
                method = msg.method().unwrap_or(""),
                "per-request: notification has no child; dropped"
            );
        }
    }

    async fn deliver(&self, ex: &Exchange, msg: &Message) -> bool {
        self.inflight.deliver(ex, msg)
    }

    async fn end_session(&self, _session_id: &str) {}

    async fn shutdown(&self) {
        self.cfg.era.shutdown().await;
    }
}
