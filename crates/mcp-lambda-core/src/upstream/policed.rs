//! [`Policed`]: an [`Upstream`] that applies a [`ToolPolicy`] in front of another one.
//!
//! Contract: every request passes through [`Upstream::request`], whatever the era, transport
//! (JSON, SSE, batch member, direct Invoke, AgentCore) or lifecycle, so this is the one place the
//! policy is enforced:
//! - `tools/list`: hidden tools are removed from the page (other members, `nextCursor` and the
//!   id are kept; an error or an unreadable answer passes as it is).
//!   A page that cannot be read is replaced by a -32603 error (it could list hidden tools).
//! - `tools/call`: its exact name must be one the policy shows in the child's `tools/list` as
//!   this upstream last read it (all pages, through the caller's exchange, at most
//!   [`CATALOG_FRESH`] old, at most [`CATALOG_MAX`] names) — so a child that also answers to
//!   other spellings of a name (case, aliases) cannot be reached through them. A hidden or
//!   unlisted tool, or a call without a string `name`, is answered -32602 (`Unknown tool:
//!   NAME`, as the spec answers an unknown tool) without reaching the child; a list that cannot
//!   be read refuses the call (-32603), never lets it through.
//! - A `tools/call` sent as a notification (no id) is dropped: nothing may run a tool unchecked.
//!
//! Everything else (initialize, other notifications, responses, sessions) passes untouched.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::{Exchange, InitOk, Outcome, Reply, Upstream, UpstreamError};
use crate::jsonrpc::{self, Message};
use crate::policy::{Filtered, ToolPolicy};
use crate::tools;

/// How long a read `tools/list` decides calls before it is read again.
pub const CATALOG_FRESH: Duration = Duration::from_secs(60);

/// Most tool names kept (a child listing more has the rest refused).
pub const CATALOG_MAX: usize = 10_000;

/// The tools the policy shows, as last read.
#[derive(Default)]
struct Catalog {
    at: Option<Instant>,
    shown: HashSet<String>,
}

/// An upstream with a tool policy in front (see the module docs).
pub struct Policed {
    inner: Arc<dyn Upstream>,
    policy: ToolPolicy,
    catalog: Mutex<Catalog>,
    /// One catalog read at a time; callers that waited use its result.
    reading: tokio::sync::Mutex<()>,
}

impl Policed {
    /// `inner` behind `policy`.
    pub fn new(inner: Arc<dyn Upstream>, policy: ToolPolicy) -> Self {
        Self {
            inner,
            policy,
            catalog: Mutex::new(Catalog::default()),
            reading: tokio::sync::Mutex::new(()),
        }
    }

    /// Whether the fresh catalog shows `name`; `None` when there is no fresh one.
    fn catalog_says(&self, name: &str) -> Option<bool> {
        let c = self.catalog.lock().ok()?;
        let fresh = c.at.is_some_and(|at| at.elapsed() <= CATALOG_FRESH);
        fresh.then(|| c.shown.contains(name))
    }

    /// Whether `name` may be called, reading the child's list when the catalog is missing or
    /// stale.
    async fn callable(&self, ex: &Exchange, name: &str) -> Result<bool, String> {
        if let Some(known) = self.catalog_says(name) {
            return Ok(known);
        }
        let _one = self.reading.lock().await;
        if let Some(known) = self.catalog_says(name) {
            return Ok(known);
        }
        let names = self.read_catalog(ex).await?;
        let known = names.contains(name);
        if let Ok(mut c) = self.catalog.lock() {
            *c = Catalog {
                at: Some(Instant::now()),
                shown: names,
            };
        }
        Ok(known)
    }

    /// Every tool of the child's `tools/list` the policy shows, all pages, through `ex` (its
    /// child and envelope, none of its stream).
    async fn read_catalog(&self, ex: &Exchange) -> Result<HashSet<String>, String> {
        let mut ex = ex.clone();
        ex.sink = None;
        let ex = &ex;
        let base = tools::list_params(ex);
        let mut names = HashSet::new();
        let mut failed = None;
        let listed = tools::pages(
            tools::MAX_PAGES,
            |cursor| {
                tools::list_page(
                    self.inner.as_ref(),
                    ex,
                    "mcp-lambda-policy",
                    base.clone(),
                    cursor,
                )
            },
            |page| match read_page(page) {
                Ok(Page { tools, next }) => {
                    for t in tools.iter().filter(|t| self.policy.shows(t)) {
                        if let Some(n) = t.get("name").and_then(Value::as_str)
                            && names.len() < CATALOG_MAX
                        {
                            names.insert(n.to_owned());
                        }
                    }
                    next
                }
                Err(why) => {
                    failed = Some(why);
                    None
                }
            },
        )
        .await;
        if let Err(e) = listed {
            return Err(e.to_string());
        }
        match failed {
            Some(why) => Err(why),
            None => Ok(names),
        }
    }

    /// The answer to a `tools/call`, when the policy refuses it.
    async fn refuse_call(&self, ex: &Exchange, msg: &Message) -> Option<Reply> {
        #[derive(serde::Deserialize)]
        struct Called {
            name: Option<Value>,
        }
        let name = msg
            .params()
            .and_then(|p| serde_json::from_str::<Called>(p).ok())
            .and_then(|c| c.name);
        let Some(Value::String(name)) = name else {
            return Some(Reply::error(
                msg.id(),
                jsonrpc::INVALID_PARAMS,
                "Invalid params: tools/call needs a string \"name\"",
            ));
        };
        let unknown = || {
            Some(Reply::error(
                msg.id(),
                jsonrpc::INVALID_PARAMS,
                &format!("Unknown tool: {name}"),
            ))
        };
        if !self.policy.allows_name(&name) {
            return unknown();
        }
        match self.callable(ex, &name).await {
            Ok(true) => {}
            Ok(false) => return unknown(),
            Err(why) => {
                tracing::warn!(tool = %name, error = %why, "tools/list for the tool policy failed");
                return Some(Reply::error(
                    msg.id(),
                    jsonrpc::INTERNAL_ERROR,
                    &format!(
                        "the tool list needed to apply the tool policy could not be read: {why}"
                    ),
                ));
            }
        }
        None
    }
}

/// One `tools/list` page: its tools and `nextCursor`.
struct Page {
    tools: Vec<Map<String, Value>>,
    next: Option<String>,
}

/// A `tools/list` page, or why the answer is not one.
fn read_page(page: &[u8]) -> Result<Page, String> {
    let mut v: Map<String, Value> =
        serde_json::from_slice(page).map_err(|e| format!("unreadable tools/list answer: {e}"))?;
    if let Some(error) = v.remove("error") {
        return Err(format!("tools/list failed: {error}"));
    }
    let mut result = match v.remove("result") {
        Some(Value::Object(r)) => r,
        _ => return Err("tools/list answer without a result".into()),
    };
    let tools = match result.remove("tools") {
        Some(Value::Array(t)) => t
            .into_iter()
            .filter_map(|t| match t {
                Value::Object(o) => Some(o),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let next = match result.remove("nextCursor") {
        Some(Value::String(c)) => Some(c),
        _ => None,
    };
    Ok(Page { tools, next })
}

#[async_trait]
impl Upstream for Policed {
    async fn initialize(&self, ex: &Exchange, msg: &Message) -> Outcome<InitOk> {
        self.inner.initialize(ex, msg).await
    }

    async fn request(&self, ex: &Exchange, msg: &Message) -> Result<Reply, UpstreamError> {
        match msg.method() {
            Some("tools/call") => {
                if let Some(refused) = self.refuse_call(ex, msg).await {
                    return Ok(refused);
                }
                self.inner.request(ex, msg).await
            }
            Some("tools/list") => {
                let reply = self.inner.request(ex, msg).await?;
                Ok(match self.policy.filter_list(&reply.body) {
                    Filtered::Changed(body) => Reply {
                        body: Bytes::from(body),
                        error: reply.error,
                    },
                    Filtered::Unchanged => reply,
                    Filtered::Unreadable => Reply::error(
                        msg.id(),
                        jsonrpc::INTERNAL_ERROR,
                        "the server's tools/list answer could not be read to apply the tool policy",
                    ),
                })
            }
            _ => self.inner.request(ex, msg).await,
        }
    }

    async fn notify(&self, ex: &Exchange, msg: &Message) {
        if msg.method() == Some("tools/call") {
            tracing::debug!("a tools/call without an id dropped (the tool policy answers calls)");
            return;
        }
        self.inner.notify(ex, msg).await
    }

    async fn deliver(&self, ex: &Exchange, msg: &Message) -> bool {
        self.inner.deliver(ex, msg).await
    }

    async fn end_session(&self, session_id: &str) {
        self.inner.end_session(session_id).await
    }

    async fn shutdown(&self) {
        self.inner.shutdown().await
    }

    fn lists_changed(&self, notification: &str) {
        // A new tool list: the next call reads it again instead of trusting the last (≤ 60 s).
        if notification == "notifications/tools/list_changed"
            && let Ok(mut c) = self.catalog.lock()
        {
            c.at = None;
        }
        self.inner.lists_changed(notification)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::json;

    use super::*;

    /// Two pages of tools (`a` read-only, `b` not; `c` read-only on page 2), or a failing list;
    /// counts lists and calls.
    #[derive(Default)]
    struct Child {
        lists: AtomicUsize,
        calls: AtomicUsize,
        broken: bool,
    }

    #[async_trait]
    impl Upstream for Child {
        async fn initialize(&self, _: &Exchange, _: &Message) -> Outcome<InitOk> {
            Err(UpstreamError::Child(crate::ChildError::Exited(
                "test".into(),
            )))
        }
        async fn request(&self, _: &Exchange, msg: &Message) -> Outcome<Reply> {
            let id = msg.id();
            if msg.method() == Some("tools/call") {
                self.calls.fetch_add(1, Ordering::Relaxed);
                let r = serde_json::value::to_raw_value(&json!({"content": []})).unwrap();
                return Ok(Reply::result(id, &r));
            }
            self.lists.fetch_add(1, Ordering::Relaxed);
            if self.broken {
                return Ok(Reply::error(id, -32603, "boom"));
            }
            let second = msg.params().is_some_and(|p| p.contains("cursor"));
            let page = if second {
                json!({"tools": [{"name": "c", "annotations": {"readOnlyHint": true}}]})
            } else {
                json!({"tools": [
                    {"name": "a", "annotations": {"readOnlyHint": true}},
                    {"name": "b", "annotations": {"readOnlyHint": false}}],
                    "nextCursor": "2"})
            };
            let r = serde_json::value::to_raw_value(&page).unwrap();
            Ok(Reply::result(id, &r))
        }
        async fn notify(&self, _: &Exchange, m: &Message) {
            if m.method() == Some("tools/call") {
                self.calls.fetch_add(1, Ordering::Relaxed);
            }
        }
        async fn end_session(&self, _: &str) {}
        async fn shutdown(&self) {}
    }

    fn call(name: &str) -> Message {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
            "params": {"name": name, "arguments": {}}});
        match jsonrpc::parse(body.to_string().as_bytes()).unwrap() {
            jsonrpc::Payload::Single(m) => m,
            _ => unreachable!(),
        }
    }

    fn ex() -> Exchange {
        Exchange::legacy("2025-06-18", Instant::now() + Duration::from_secs(5))
    }

    async fn answer(p: &Policed, name: &str) -> Value {
        let r = p.request(&ex(), &call(name)).await.unwrap();
        serde_json::from_slice(&r.body).unwrap()
    }

    #[tokio::test]
    async fn read_only_reads_every_page_once_and_refuses_the_rest() {
        let child = Arc::new(Child::default());
        let p = Policed::new(child.clone(), ToolPolicy::default().with_read_only(true));
        assert!(answer(&p, "a").await.get("result").is_some());
        assert!(answer(&p, "c").await.get("result").is_some());
        let b = answer(&p, "b").await;
        assert_eq!(
            b["error"],
            json!({"code": -32602, "message": "Unknown tool: b"})
        );
        assert_eq!(b["id"], 7);
        let unknown = answer(&p, "zzz").await;
        assert_eq!(unknown["error"]["message"], "Unknown tool: zzz");
        // Both pages, once, for every call above; only the allowed calls reached the child.
        assert_eq!(child.lists.load(Ordering::Relaxed), 2);
        assert_eq!(child.calls.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn a_tool_list_change_makes_the_next_call_read_the_list_again() {
        let child = Arc::new(Child::default());
        let p = Policed::new(child.clone(), ToolPolicy::default().with_read_only(true));
        assert!(answer(&p, "a").await.get("result").is_some());
        assert_eq!(child.lists.load(Ordering::Relaxed), 2);
        p.lists_changed("notifications/prompts/list_changed");
        assert!(answer(&p, "a").await.get("result").is_some());
        assert_eq!(
            child.lists.load(Ordering::Relaxed),
            2,
            "another list changed"
        );
        p.lists_changed("notifications/tools/list_changed");
        assert!(answer(&p, "a").await.get("result").is_some());
        assert_eq!(
            child.lists.load(Ordering::Relaxed),
            4,
            "both pages read again"
        );
    }

    #[tokio::test]
    async fn a_call_without_an_id_never_reaches_the_child() {
        let child = Arc::new(Child::default());
        let p = Policed::new(child.clone(), ToolPolicy::parse("a", false).unwrap());
        let n = jsonrpc::parse(br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"b"}}"#)
            .unwrap();
        let jsonrpc::Payload::Single(n) = n else {
            unreachable!()
        };
        p.notify(&ex(), &n).await;
        assert_eq!(child.calls.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn an_unreadable_list_refuses_the_call() {
        let child = Arc::new(Child {
            broken: true,
            ..Default::default()
        });
        let p = Policed::new(child.clone(), ToolPolicy::default().with_read_only(true));
        let v = answer(&p, "a").await;
        assert_eq!(v["error"]["code"], -32603, "{v}");
        assert_eq!(child.calls.load(Ordering::Relaxed), 0);
    }

    #[tokio::test]
    async fn lists_are_filtered_and_calls_need_a_shown_name() {
        let child = Arc::new(Child::default());
        let p = Policed::new(child.clone(), ToolPolicy::parse("!b", false).unwrap());
        let list = jsonrpc::parse(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#).unwrap();
        let jsonrpc::Payload::Single(list) = list else {
            unreachable!()
        };
        let r = p.request(&ex(), &list).await.unwrap();
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["result"]["tools"].as_array().unwrap().len(), 1, "{v}");
        assert_eq!(v["result"]["nextCursor"], "2");
        // A denied name is refused without reading anything.
        assert_eq!(answer(&p, "b").await["error"]["code"], -32602);
        assert_eq!(child.lists.load(Ordering::Relaxed), 1);
        // An allowed name must be one the child lists, exactly (both pages read once).
        assert!(answer(&p, "a").await.get("result").is_some());
        assert!(answer(&p, "c").await.get("result").is_some());
        assert_eq!(answer(&p, "A").await["error"]["message"], "Unknown tool: A");
        assert_eq!(answer(&p, "unlisted").await["error"]["code"], -32602);
        assert_eq!(child.lists.load(Ordering::Relaxed), 3);
        assert_eq!(child.calls.load(Ordering::Relaxed), 2);
    }
}
