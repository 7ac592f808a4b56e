//! What is in flight on an upstream's children: requests a client may cancel, and children
//! whose server→client requests a client may answer.
//!
//! Contract: a registration lives exactly as long as the wait it belongs to (the guards
//! [`Registered`] and [`Streaming`] remove it when dropped, also when the client goes away); a
//! cancellation or an answer reaches only what the same session started.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::value::RawValue;

use super::Exchange;
use crate::child::ChildProcess;
use crate::jsonrpc::Message;

/// In-flight requests by (session, client id), so a client's `notifications/cancelled` reaches
/// the right child with the right wire id. Without a session two clients may share an id, so
/// those requests are not registered (a cancel for them is dropped, never misrouted).
///
/// It also knows the children that have a request with a stream in flight: a client's response
/// to a server→client request sent on such a stream is delivered through
/// [`Inflight::deliver`] to the child that asked, for the session that got the question.
#[derive(Default)]
pub(crate) struct Inflight {
    map: Mutex<HashMap<InflightKey, (Arc<ChildProcess>, u64)>>,
    /// Children with streamed requests in flight, by the child's address (no reuse while an
    /// entry holds the child): (child, how many).
    streaming: Mutex<HashMap<usize, (Arc<ChildProcess>, usize)>>,
}

/// (session id, client's raw request id).
type InflightKey = (String, String);

impl Inflight {
    pub(super) fn insert(
        &self,
        session: &str,
        client_id: &str,
        child: Arc<ChildProcess>,
        wire_id: u64,
    ) {
        if let Ok(mut m) = self.map.lock() {
            m.insert((session.to_owned(), client_id.to_owned()), (child, wire_id));
        }
    }

    pub(super) fn remove(&self, session: &str, client_id: &str) {
        if let Ok(mut m) = self.map.lock() {
            m.remove(&(session.to_owned(), client_id.to_owned()));
        }
    }

    pub(super) fn stream_started(&self, child: &Arc<ChildProcess>) {
        if let Ok(mut m) = self.streaming.lock() {
            m.entry(key(child)).or_insert_with(|| (child.clone(), 0)).1 += 1;
        }
    }

    pub(super) fn stream_ended(&self, child: &Arc<ChildProcess>) {
        let k = key(child);
        if let Ok(mut m) = self.streaming.lock()
            && let Some(e) = m.get_mut(&k)
        {
            e.1 -= 1;
            if e.1 == 0 {
                m.remove(&k);
            }
        }
    }

    /// Delivers a client's response to the server→client request it answers, if one of the
    /// children streaming for this upstream asked it of this exchange's session.
    pub(crate) fn deliver(&self, ex: &Exchange, msg: &Message) -> bool {
        let children: Vec<Arc<ChildProcess>> = self
            .streaming
            .lock()
            .map(|m| m.values().map(|(c, _)| c.clone()).collect())
            .unwrap_or_default();
        let session = ex.session_id.as_deref();
        let delivered = children
            .iter()
            .any(|c| c.deliver_client_response(msg, session));
        if !delivered {
            tracing::debug!("client response to no waiting server request; dropped");
        }
        delivered
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

/// Removes an in-flight registration when dropped.
pub(super) struct Registered<'a> {
    pub(super) inflight: &'a Inflight,
    pub(super) session: &'a str,
    pub(super) client_id: &'a str,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.inflight.remove(self.session, self.client_id);
    }
}

/// Removes a streaming child's registration when dropped.
pub(super) struct Streaming<'a> {
    pub(super) inflight: &'a Inflight,
    pub(super) child: &'a Arc<ChildProcess>,
}

impl Drop for Streaming<'_> {
    fn drop(&mut self) {
        self.inflight.stream_ended(self.child);
    }
}

/// A child's key in [`Inflight`]'s streaming table: its address, stable while the entry holds it.
fn key(child: &Arc<ChildProcess>) -> usize {
    Arc::as_ptr(child) as usize
}
