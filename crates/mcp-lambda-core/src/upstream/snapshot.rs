//! Answers before the child is up: a recorded snapshot of what a cold instance is asked first.
//!
//! Contract:
//! - A [`Snapshot`] (JSON, written by `mcp-lambda snapshot`, loaded with `--snapshot`) holds
//!   the server's handshake — its InitializeResult (initialize-era server, asked for
//!   [`LATEST_VERSION`](crate::protocol::LATEST_VERSION)) or its `server/discover` result
//!   (2026-07-28 server) — and the first page of `tools/list`, `prompts/list`,
//!   `resources/list` and `resources/templates/list`, with an optional cache policy for
//!   2026-07-28 answers.
//! - [`Snapshotted`] wraps any upstream. While a part of the snapshot is *fresh* it answers
//!   from it, in either era, without the child: a legacy client's `initialize` (when its
//!   version's [family](crate::protocol::family) is the snapshot's), `server/discover`, and
//!   those lists without a cursor. Everything else goes to the wrapped upstream.
//! - [`Snapshotted::verify`] (once, in the background: after prewarm, or after the first request
//!   the child served) asks the live child the same questions. A difference is logged once as a
//!   warning and that part is stale from then on: the live answers win. A child's
//!   `notifications/{tools,prompts,resources}/list_changed` makes its list stale too
//!   ([`Upstream::lists_changed`]).
//! - 2026-07-28 answers from the snapshot (`server/discover` and the lists) carry its `ttlMs` /
//!   `cacheScope` when it has a policy; otherwise what the live path would give (the modern
//!   child's own values, or `0` / `private` for a translated legacy child).
//! - Only clients the live path would give the recorded answers get them: legacy clients of the
//!   snapshot's version family, clients without behaviour-changing capabilities, requests
//!   without a cursor, lists of one page.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::handshake::{Initialized, answered_as, requested_version, synthesized_params};
use super::{
    Era, Exchange, InitOk, Outcome, Reply, Reuse, Upstream, UpstreamError, empty_object,
    emulated_initialize,
};
use crate::era::{self, ModernMeta, capability_key};
use crate::jsonrpc::{self, Message};
use crate::protocol;

/// The list methods a snapshot records, and the member holding each one's items.
pub(crate) const LIST_METHODS: [(&str, &str); 4] = [
    ("tools/list", "tools"),
    ("prompts/list", "prompts"),
    ("resources/list", "resources"),
    ("resources/templates/list", "resourceTemplates"),
];

/// The snapshot file format this build reads and writes.
pub(crate) const FORMAT: u32 = 1;

/// The largest snapshot file accepted.
pub(crate) const MAX_BYTES: usize = 16 << 20;

/// Which protocol the recorded server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SnapshotEra {
    /// Initialize era: `initialize` is recorded.
    Legacy,
    /// 2026-07-28: `discover` is recorded.
    Modern,
}

/// `cacheScope` of a 2026-07-28 cacheable result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheScope {
    /// Any client may reuse the answer.
    Public,
    /// Only the client that asked may reuse it.
    Private,
}

/// What 2026-07-28 answers from the snapshot say about caching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachePolicy {
    /// `ttlMs`.
    #[serde(rename = "ttlMs")]
    pub ttl_ms: u64,
    /// `cacheScope`.
    #[serde(rename = "cacheScope")]
    pub cache_scope: CacheScope,
}

/// A snapshot file (see the module docs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Snapshot {
    /// The file format: 1 (what this build reads and writes).
    #[serde(rename = "mcpLambdaSnapshot")]
    pub format: u32,
    /// The command it was taken from (informational).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The server's era.
    pub era: SnapshotEra,
    /// Legacy: the InitializeResult.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initialize: Option<Box<RawValue>>,
    /// Modern: the `server/discover` result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discover: Option<Box<RawValue>>,
    /// List method → its first page's result.
    #[serde(default)]
    pub lists: BTreeMap<String, Box<RawValue>>,
    /// Cache policy of 2026-07-28 answers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<CachePolicy>,
}

/// Why a snapshot file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file cannot be read.
    #[error("cannot read it: {0}")]
    Io(String),
    /// Not valid JSON of the snapshot's shape.
    #[error("not a snapshot: {0}")]
    Shape(String),
    /// A part is missing or malformed.
    #[error("{0}")]
    Content(String),
}

impl Snapshot {
    /// Reads and checks a snapshot file (at most 16 MiB).
    pub fn read(path: &std::path::Path) -> Result<Snapshot, SnapshotError> {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_BYTES as u64 + 1).read_to_end(&mut bytes))
            .map_err(|e| SnapshotError::Io(e.to_string()))?;
        Self::parse(&bytes)
    }

    /// Reads and checks a snapshot file's bytes.
    pub fn parse(bytes: &[u8]) -> Result<Snapshot, SnapshotError> {
        if bytes.len() > MAX_BYTES {
            return Err(SnapshotError::Content(format!(
                "larger than {} MiB",
                MAX_BYTES >> 20
            )));
        }
        let s: Snapshot =
            serde_json::from_slice(bytes).map_err(|e| SnapshotError::Shape(e.to_string()))?;
        if s.format != FORMAT {
            return Err(SnapshotError::Content(format!(
                "format {} (this build reads {FORMAT}; take the snapshot again)",
                s.format
            )));
        }
        match s.era {
            SnapshotEra::Legacy => {
                let init = s.initialize.as_deref().ok_or_else(|| {
                    SnapshotError::Content("a legacy snapshot needs `initialize`".into())
                })?;
                negotiated_of(init)?;
            }
            SnapshotEra::Modern => {
                let d = s.discover.as_deref().ok_or_else(|| {
                    SnapshotError::Content("a modern snapshot needs `discover`".into())
                })?;
                if !era::is_modern_discover(d) {
                    return Err(SnapshotError::Content(
                        "`discover` is not a 2026-07-28 discover result".into(),
                    ));
                }
            }
        }
        for (method, result) in &s.lists {
            let member = member_of(method).ok_or_else(|| {
                SnapshotError::Content(format!("`lists` has an unknown method {method:?}"))
            })?;
            let ok = serde_json::from_str::<Map<String, Value>>(result.get())
                .ok()
                .is_some_and(|m| m.get(member).is_some_and(Value::is_array));
            if !ok {
                return Err(SnapshotError::Content(format!(
                    "`lists.{method}` is not a result with a `{member}` array"
                )));
            }
        }
        Ok(s)
    }

    /// The file's text (pretty JSON, newline-terminated).
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// The member holding a list method's items.
fn member_of(method: &str) -> Option<&'static str> {
    LIST_METHODS
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, member)| *member)
}

/// The `protocolVersion` of an InitializeResult.
fn negotiated_of(init: &RawValue) -> Result<String, SnapshotError> {
    #[derive(Deserialize)]
    struct R {
        #[serde(rename = "protocolVersion")]
        protocol_version: String,
    }
    serde_json::from_str::<R>(init.get())
        .map(|r| r.protocol_version)
        .map_err(|_| SnapshotError::Content("`initialize` has no string protocolVersion".into()))
}

/// The handshake part of a loaded snapshot.
enum Handshake {
    Legacy(Initialized),
    Modern(Arc<RawValue>),
}

/// One list, ready to send in each era.
struct List {
    legacy: Box<RawValue>,
    modern: Box<RawValue>,
    /// Its items, as recorded (what a live answer is compared with).
    items: Value,
    fresh: AtomicBool,
}

/// An upstream answering from a snapshot while it is fresh (see the module docs).
pub struct Snapshotted {
    inner: Arc<dyn Upstream>,
    handshake: Handshake,
    /// Modern `server/discover` answer.
    discover: Box<RawValue>,
    handshake_fresh: AtomicBool,
    lists: Vec<(&'static str, List)>,
    /// Where the snapshot came from (for logs).
    source: String,
    verify_started: AtomicBool,
    /// Notified when the wrapped upstream has answered a request.
    used: tokio::sync::Notify,
    /// The wrapped upstream shares one child among legacy clients of a family (`reuse`).
    shared: bool,
}

impl Snapshotted {
    /// Wraps `inner` with `snap` (checked by [`Snapshot::parse`]); `source` names it in logs.
    /// `shared`: `inner` serves every legacy client of a version family from one child
    /// ([`Reuse`]), so their declared capabilities do not change its answers.
    pub fn new(
        inner: Arc<dyn Upstream>,
        snap: Snapshot,
        source: &str,
        shared: bool,
    ) -> Result<Snapshotted, SnapshotError> {
        let (handshake, discover, server_info) = match snap.era {
            SnapshotEra::Legacy => {
                let init = snap.initialize.unwrap_or_else(|| RawValue::NULL.to_owned());
                let negotiated = negotiated_of(&init)?;
                let init: Arc<RawValue> = Arc::from(init);
                let discover = era::discover_from_initialize(&init);
                let info = era::server_info_of(&init);
                (
                    Handshake::Legacy(Initialized {
                        result: init,
                        negotiated,
                    }),
                    discover,
                    info,
                )
            }
            SnapshotEra::Modern => {
                let d = snap.discover.unwrap_or_else(|| RawValue::NULL.to_owned());
                let d: Arc<RawValue> = Arc::from(d);
                (Handshake::Modern(d.clone()), (*d).to_owned(), None)
            }
        };
        let discover = match snap.cache {
            Some(c) => {
                let mut map: Map<String, Value> = serde_json::from_str(discover.get())
                    .map_err(|e| SnapshotError::Content(format!("discover: {e}")))?;
                with_policy(&mut map, c);
                to_raw(&map)?
            }
            None => discover,
        };
        let mut lists = Vec::new();
        for (method, member) in LIST_METHODS {
            let Some(result) = snap.lists.get(method) else {
                continue;
            };
            let mut map: Map<String, Value> = serde_json::from_str(result.get())
                .map_err(|e| SnapshotError::Content(format!("lists.{method}: {e}")))?;
            let items = map.get(member).cloned().unwrap_or(Value::Null);
            if map.contains_key("nextCursor") {
                // Later pages would come from the child, with its cursors and cache fields:
                // a list of more than one page is answered live.
                tracing::info!(method, snapshot = %source, "the recorded list has more pages; answered by the MCP server");
                continue;
            }
            let legacy = result.to_owned();
            if let Some(c) = snap.cache {
                with_policy(&mut map, c);
            }
            let modern = match snap.era {
                SnapshotEra::Modern => to_raw(&map)?,
                SnapshotEra::Legacy => {
                    let reply = Reply::result(None, &to_raw(&map)?);
                    let reply = era::to_modern_response(reply, method, server_info.as_ref());
                    result_of(&reply.body)?
                }
            };
            lists.push((
                method,
                List {
                    legacy,
                    modern,
                    items,
                    fresh: AtomicBool::new(true),
                },
            ));
        }
        Ok(Snapshotted {
            inner,
            handshake,
            discover,
            handshake_fresh: AtomicBool::new(true),
            lists,
            source: source.to_owned(),
            verify_started: AtomicBool::new(false),
            used: tokio::sync::Notify::new(),
            shared,
        })
    }

    fn list(&self, method: &str) -> Option<&List> {
        self.lists
            .iter()
            .find(|(m, l)| *m == method && l.fresh.load(Ordering::Relaxed))
            .map(|(_, l)| l)
    }

    /// Whether the live path would give this client the recorded answer: a legacy client of
    /// the snapshot's version family, and no behaviour-changing capabilities (the recorded
    /// lists were asked with none; the live path gives such clients children of their own).
    fn same_client(&self, ex: &Exchange) -> bool {
        let caps = match (&ex.modern, &ex.init_params) {
            (Some(m), _) => capability_key(&m.client_capabilities),
            // A shared (`reuse`) child serves every legacy client of its family, whatever they
            // declared.
            (None, _) if self.shared => String::new(),
            (None, Some(params)) => era::capability_key_of_params(params),
            (None, None) => String::new(),
        };
        let family = match (&self.handshake, &ex.modern) {
            (Handshake::Legacy(init), None) => {
                protocol::family(&ex.protocol_version) == protocol::family(&init.negotiated)
            }
            _ => true,
        };
        family && caps.is_empty()
    }

    /// The answer from the snapshot, if it has a fresh one for this request.
    fn answer(&self, ex: &Exchange, msg: &Message) -> Option<Reply> {
        let method = msg.method()?;
        if method == "server/discover" {
            return (ex.modern.is_some() && self.handshake_fresh.load(Ordering::Relaxed))
                .then(|| Reply::result(msg.id(), &self.discover));
        }
        let list = self.list(method)?;
        if has_cursor(msg) || !self.same_client(ex) {
            return None;
        }
        let modern = match (&self.handshake, ex.modern.is_some()) {
            (_, true) => true,
            // A legacy client of a modern child gets the child's result as it is.
            (Handshake::Modern(_), false) => true,
            (Handshake::Legacy(_), false) => false,
        };
        Some(Reply::result(
            msg.id(),
            if modern { &list.modern } else { &list.legacy },
        ))
    }

    /// [`verify`](Self::verify)s each time the wrapped upstream has answered a request (its
    /// child is up then), until a verification completes.
    pub async fn verify_after_first_use(&self) {
        loop {
            self.used.notified().await;
            if self.verify().await {
                return;
            }
        }
    }

    /// Asks the live child what the snapshot answers and marks every part that differs stale
    /// (one warning each): another handshake (capabilities, server identity, instructions or
    /// negotiated version), other items in a list, or an error where the snapshot has a list.
    /// Returns `false` when the child could not be asked (not started, busy, timed out): the
    /// snapshot stays in use and a later call tries again. Runs to completion once; later calls
    /// return `true` at once.
    pub async fn verify(&self) -> bool {
        if self.verify_started.swap(true, Ordering::SeqCst) {
            return true;
        }
        let done = self.verify_once().await;
        if !done {
            self.verify_started.store(false, Ordering::SeqCst);
        }
        done
    }

    async fn verify_once(&self) -> bool {
        let deadline = tokio::time::Instant::now() + VERIFY_WITHIN;
        // A session of its own (per-session children need one), ended afterwards.
        let mut ex = Exchange::legacy(protocol::LATEST_VERSION, deadline);
        ex.session_id = Some(VERIFY_SESSION.to_owned());
        ex.init_params = Some(synthesized_params(protocol::LATEST_VERSION));
        let done = self.compare(&ex).await;
        self.inner.end_session(VERIFY_SESSION).await;
        if done {
            tracing::debug!(snapshot = %self.source, "snapshot verified against the MCP server");
        }
        done
    }

    async fn compare(&self, ex: &Exchange) -> bool {
        match &self.handshake {
            Handshake::Legacy(snap) => {
                let Ok(msg) = initialize_message(protocol::LATEST_VERSION) else {
                    return false;
                };
                match self.inner.initialize(ex, &msg).await {
                    Ok(live) => {
                        let what = handshake_difference(&snap.result, &live.result).or_else(|| {
                            (live.negotiated != snap.negotiated)
                                .then(|| format!("protocolVersion {}", live.negotiated))
                        });
                        if let Some(what) = what {
                            self.stale(
                                &self.handshake_fresh,
                                &format!("InitializeResult ({what})"),
                            );
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, snapshot = %self.source, "snapshot not verified yet: the MCP server did not initialize");
                        return false;
                    }
                }
            }
            Handshake::Modern(snap) => {
                let mut mex = Exchange::legacy(protocol::LATEST_MODERN_VERSION, ex.deadline);
                mex.modern = Some(Arc::new(ModernMeta {
                    protocol_version: protocol::LATEST_MODERN_VERSION.to_owned(),
                    client_capabilities: Arc::from(empty_object()),
                    client_info: None,
                    log_level: None,
                }));
                let Ok(msg) = request_message("server/discover") else {
                    return false;
                };
                match self
                    .inner
                    .request(&mex, &msg)
                    .await
                    .map(|r| result_of(&r.body))
                {
                    Ok(Ok(live)) => {
                        if let Some(what) = handshake_difference(snap, &live) {
                            self.stale(
                                &self.handshake_fresh,
                                &format!("server/discover result ({what})"),
                            );
                        }
                    }
                    Ok(Err(_)) => {
                        self.stale(&self.handshake_fresh, "server/discover result (an error)")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, snapshot = %self.source, "snapshot not verified yet: the MCP server did not answer server/discover");
                        return false;
                    }
                }
            }
        }
        for (method, list) in &self.lists {
            let member = member_of(method).unwrap_or_default();
            let Ok(msg) = request_message(method) else {
                return false;
            };
            match self.inner.request(ex, &msg).await {
                Ok(reply) => {
                    let items = result_of(&reply.body)
                        .ok()
                        .and_then(|r| serde_json::from_str::<Map<String, Value>>(r.get()).ok())
                        .filter(|m| !m.contains_key("nextCursor"))
                        .and_then(|mut m| m.remove(member));
                    if items.as_ref() != Some(&list.items) {
                        self.stale(&list.fresh, &format!("{method} result"));
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, method, snapshot = %self.source, "snapshot not verified yet: the MCP server did not answer");
                    return false;
                }
            }
        }
        true
    }

    fn stale(&self, flag: &AtomicBool, what: &str) {
        if flag.swap(false, Ordering::SeqCst) {
            tracing::warn!(snapshot = %self.source, "snapshot is stale: the MCP server's {what} differs from it; answering from the MCP server from now on (take the snapshot again)");
        }
    }
}

/// The session verification uses (per-session children need one).
const VERIFY_SESSION: &str = "mcp-lambda-snapshot-verification";

/// How long verification may take (a cold child included).
const VERIFY_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

#[async_trait]
impl Upstream for Snapshotted {
    async fn initialize(&self, ex: &Exchange, msg: &Message) -> Outcome<InitOk> {
        if self.handshake_fresh.load(Ordering::Relaxed) {
            let (_, requested) = requested_version(msg)?;
            match &self.handshake {
                Handshake::Legacy(init)
                    if protocol::family(&requested) == protocol::family(&init.negotiated) =>
                {
                    return Ok(answered_as(init, &requested));
                }
                Handshake::Modern(discover) => {
                    return Ok(emulated_initialize(discover, &requested));
                }
                Handshake::Legacy(_) => {}
            }
        }
        self.inner.initialize(ex, msg).await
    }

    async fn request(&self, ex: &Exchange, msg: &Message) -> Outcome<Reply> {
        if let Some(reply) = self.answer(ex, msg) {
            return Ok(reply);
        }
        let reply = self.inner.request(ex, msg).await;
        self.used.notify_one();
        reply
    }

    async fn notify(&self, ex: &Exchange, msg: &Message) {
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
        let lists: &[&str] = match notification {
            "notifications/tools/list_changed" => &["tools/list"],
            "notifications/prompts/list_changed" => &["prompts/list"],
            "notifications/resources/list_changed" => {
                &["resources/list", "resources/templates/list"]
            }
            _ => &[],
        };
        for (method, list) in &self.lists {
            if lists.contains(method) && list.fresh.swap(false, Ordering::SeqCst) {
                tracing::info!(snapshot = %self.source, "{notification}: {method} answered by the MCP server from now on");
            }
        }
        self.inner.lists_changed(notification);
    }
}

/// Records a snapshot from `reuse`'s child (started if needed): its handshake and the lists
/// its capabilities offer. `cache`: the policy to record.
pub async fn capture(
    reuse: &Reuse,
    command: &str,
    cache: Option<CachePolicy>,
    deadline: tokio::time::Instant,
) -> Outcome<Snapshot> {
    let ex = Exchange::legacy(protocol::LATEST_VERSION, deadline);
    let (era, initialize, discover, capabilities) = match reuse.era(&ex).await? {
        Era::Legacy => {
            let ok = reuse
                .initialize(&ex, &initialize_message(protocol::LATEST_VERSION)?)
                .await?;
            let caps = capabilities_of(&ok.result);
            (
                SnapshotEra::Legacy,
                Some((*ok.result).to_owned()),
                None,
                caps,
            )
        }
        Era::Modern(d) => {
            let caps = capabilities_of(&d);
            (SnapshotEra::Modern, None, Some((*d).to_owned()), caps)
        }
    };
    let mut lists = BTreeMap::new();
    for (method, _) in LIST_METHODS {
        let offered = match method {
            "tools/list" => "tools",
            "prompts/list" => "prompts",
            _ => "resources",
        };
        if !capabilities.contains_key(offered) {
            continue;
        }
        let reply = reuse.request(&ex, &request_message(method)?).await?;
        if reply.error.is_some() {
            tracing::warn!(
                method,
                "not recorded: the MCP server answered with an error"
            );
            continue;
        }
        lists.insert(
            method.to_owned(),
            result_of(&reply.body).map_err(|e| UpstreamError::Unreadable(e.to_string()))?,
        );
    }
    Ok(Snapshot {
        format: FORMAT,
        command: Some(command.to_owned()),
        era,
        initialize,
        discover,
        lists,
        cache,
    })
}

fn capabilities_of(result: &RawValue) -> Map<String, Value> {
    serde_json::from_str::<Map<String, Value>>(result.get())
        .ok()
        .and_then(|mut m| m.remove("capabilities"))
        .and_then(|c| match c {
            Value::Object(o) => Some(o),
            _ => None,
        })
        .unwrap_or_default()
}

/// What differs between two handshakes (InitializeResult or discover result), ignoring the
/// protocol version and the cache and result-type fields: `None` when they agree.
fn handshake_difference(snap: &RawValue, live: &RawValue) -> Option<String> {
    let read = |r: &RawValue| serde_json::from_str::<Map<String, Value>>(r.get()).ok();
    let (Some(a), Some(b)) = (read(snap), read(live)) else {
        return Some("unreadable".into());
    };
    let mut differs: Vec<&str> = ["capabilities", "serverInfo", "instructions"]
        .into_iter()
        .filter(|k| a.get(*k) != b.get(*k))
        .collect();
    if a.get("_meta")
        .and_then(|m| m.get(protocol::META_SERVER_INFO))
        != b.get("_meta")
            .and_then(|m| m.get(protocol::META_SERVER_INFO))
    {
        differs.push("serverInfo");
    }
    (!differs.is_empty()).then(|| differs.join(", "))
}

fn has_cursor(msg: &Message) -> bool {
    #[derive(Deserialize)]
    struct P<'a> {
        #[serde(borrow)]
        cursor: Option<&'a RawValue>,
    }
    msg.params()
        .and_then(|p| serde_json::from_str::<P<'_>>(p).ok())
        .is_some_and(|p| p.cursor.is_some())
}

fn initialize_message(version: &str) -> Outcome<Message> {
    message(format!(
        r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{}}}"#,
        synthesized_params(version)
    ))
}

fn request_message(method: &str) -> Outcome<Message> {
    message(format!(r#"{{"jsonrpc":"2.0","id":0,"method":"{method}"}}"#))
}

fn message(raw: String) -> Outcome<Message> {
    RawValue::from_string(raw)
        .ok()
        .and_then(|r| jsonrpc::parse_message(&r).ok())
        .ok_or_else(|| UpstreamError::Unreadable("cannot build a request".into()))
}

/// Puts the policy's `ttlMs` and `cacheScope` in a result.
fn with_policy(map: &mut Map<String, Value>, c: CachePolicy) {
    map.insert("ttlMs".into(), Value::from(c.ttl_ms));
    let scope = match c.cache_scope {
        CacheScope::Public => "public",
        CacheScope::Private => "private",
    };
    map.insert("cacheScope".into(), Value::from(scope));
}

fn to_raw(map: &Map<String, Value>) -> Result<Box<RawValue>, SnapshotError> {
    serde_json::value::to_raw_value(map).map_err(|e| SnapshotError::Content(e.to_string()))
}

/// The `result` of a JSON-RPC response's bytes.
fn result_of(body: &[u8]) -> Result<Box<RawValue>, SnapshotError> {
    #[derive(Deserialize)]
    struct R {
        result: Box<RawValue>,
    }
    serde_json::from_slice::<R>(body)
        .map(|r| r.result)
        .map_err(|_| SnapshotError::Content("the answer has no result".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::atomic::AtomicUsize;

    use serde_json::json;

    use super::*;

    /// A live server whose tool list is `tools`; counts what reaches it.
    struct Live {
        tools: Value,
        asked: AtomicUsize,
        /// Not started yet: every question fails.
        down: AtomicBool,
        negotiated: &'static str,
    }

    #[async_trait]
    impl Upstream for Live {
        async fn initialize(&self, _: &Exchange, _: &Message) -> Outcome<InitOk> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(UpstreamError::Busy(1));
            }
            let mut init = init_result();
            init.insert("protocolVersion".into(), self.negotiated.into());
            Ok(InitOk {
                result: Arc::from(to_raw(&init).unwrap()),
                negotiated: self.negotiated.into(),
            })
        }
        async fn request(&self, _: &Exchange, msg: &Message) -> Outcome<Reply> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(UpstreamError::Busy(1));
            }
            let r = serde_json::value::to_raw_value(&json!({"tools": self.tools})).unwrap();
            Ok(Reply::result(msg.id(), &r))
        }
        async fn notify(&self, _: &Exchange, _: &Message) {}
        async fn end_session(&self, _: &str) {}
        async fn shutdown(&self) {}
    }

    fn init_result() -> Map<String, Value> {
        json!({"protocolVersion": "2025-11-25", "capabilities": {"tools": {"listChanged": true}},
            "serverInfo": {"name": "s", "version": "1"}})
        .as_object()
        .unwrap()
        .clone()
    }

    fn snapshot(tools: Value, cache: Option<CachePolicy>) -> Snapshot {
        let text = json!({"mcpLambdaSnapshot": 1, "era": "legacy", "initialize": init_result(),
            "lists": {"tools/list": {"tools": tools}}, "cache": cache});
        Snapshot::parse(text.to_string().as_bytes()).unwrap()
    }

    fn wrapped(
        live: Value,
        recorded: Value,
        cache: Option<CachePolicy>,
    ) -> (Arc<Live>, Snapshotted) {
        let inner = Arc::new(Live {
            tools: live,
            asked: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            negotiated: "2025-11-25",
        });
        let s = Snapshotted::new(inner.clone(), snapshot(recorded, cache), "test", true).unwrap();
        (inner, s)
    }

    fn msg(v: Value) -> Message {
        jsonrpc::parse_message(&serde_json::value::to_raw_value(&v).unwrap()).unwrap()
    }

    fn ex(modern: bool) -> Exchange {
        let mut ex = Exchange::legacy(
            protocol::LATEST_VERSION,
            tokio::time::Instant::now() + std::time::Duration::from_secs(5),
        );
        if modern {
            ex.modern = Some(Arc::new(ModernMeta {
                protocol_version: protocol::LATEST_MODERN_VERSION.into(),
                client_capabilities: Arc::from(empty_object()),
                client_info: None,
                log_level: None,
            }));
        }
        ex
    }

    fn body(r: &Reply) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    #[tokio::test]
    async fn answers_both_eras_from_the_snapshot_without_the_child() {
        let tools = json!([{"name": "t", "inputSchema": {"type": "object"}}]);
        let policy = CachePolicy {
            ttl_ms: 60_000,
            cache_scope: CacheScope::Public,
        };
        let (live, s) = wrapped(tools.clone(), tools.clone(), Some(policy));
        let list = msg(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}));
        let legacy = body(&s.request(&ex(false), &list).await.unwrap());
        assert_eq!(
            legacy,
            json!({"jsonrpc": "2.0", "id": 9, "result": {"tools": tools}})
        );
        let modern = body(&s.request(&ex(true), &list).await.unwrap());
        assert_eq!(modern["result"]["ttlMs"], 60_000);
        assert_eq!(modern["result"]["cacheScope"], "public");
        assert_eq!(modern["result"]["resultType"], "complete");
        assert_eq!(
            modern["result"]["_meta"][protocol::META_SERVER_INFO]["name"],
            "s"
        );
        let init = msg(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}}),
        );
        let ok = s.initialize(&ex(false), &init).await.unwrap();
        assert_eq!(ok.negotiated, "2025-06-18");
        assert_eq!(
            live.asked.load(Ordering::SeqCst),
            0,
            "nothing reached the child"
        );
        // A 2025-03-26 client is another family: the child answers.
        let old = msg(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}}),
        );
        s.initialize(&ex(false), &old).await.unwrap();
        // So does a page after the first.
        let page2 = msg(
            json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {"cursor": "x"}}),
        );
        s.request(&ex(false), &page2).await.unwrap();
        assert_eq!(live.asked.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn verification_and_list_changed_hand_the_list_to_the_child() {
        let same = json!([{"name": "t"}]);
        let (live, s) = wrapped(same.clone(), same.clone(), None);
        s.verify().await;
        let list = msg(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}));
        let asked = live.asked.load(Ordering::SeqCst);
        s.request(&ex(false), &list).await.unwrap();
        assert_eq!(
            live.asked.load(Ordering::SeqCst),
            asked,
            "verified: still answered from it"
        );
        s.lists_changed("notifications/prompts/list_changed");
        s.request(&ex(false), &list).await.unwrap();
        assert_eq!(
            live.asked.load(Ordering::SeqCst),
            asked,
            "another list changed"
        );
        s.lists_changed("notifications/tools/list_changed");
        s.request(&ex(false), &list).await.unwrap();
        assert_eq!(
            live.asked.load(Ordering::SeqCst),
            asked + 1,
            "the child answers now"
        );

        let (live, s) = wrapped(json!([{"name": "new"}]), same, None);
        s.verify().await;
        let before = live.asked.load(Ordering::SeqCst);
        let r = body(&s.request(&ex(false), &list).await.unwrap());
        assert_eq!(r["result"]["tools"][0]["name"], "new");
        assert_eq!(live.asked.load(Ordering::SeqCst), before + 1);
    }

    #[tokio::test]
    async fn only_clients_the_live_path_would_answer_alike_get_the_snapshot() {
        let tools = json!([{"name": "t"}]);
        let (live, s) = wrapped(tools.clone(), tools.clone(), None);
        let list = msg(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}));
        // Another version family: its own child.
        let mut old = ex(false);
        old.protocol_version = "2025-03-26".into();
        s.request(&old, &list).await.unwrap();
        assert_eq!(live.asked.load(Ordering::SeqCst), 1);
        // A modern client declaring sampling: a child initialized with it.
        let mut sampling = ex(true);
        if let Some(m) = sampling.modern.as_mut() {
            Arc::make_mut(m).client_capabilities =
                Arc::from(RawValue::from_string(r#"{"sampling":{}}"#.into()).unwrap());
        }
        s.request(&sampling, &list).await.unwrap();
        assert_eq!(live.asked.load(Ordering::SeqCst), 2);
        // A legacy session declaring roots shares the reuse child anyway (shared = true).
        let mut rooted = ex(false);
        rooted.init_params = Some(Arc::from(
            r#"{"protocolVersion":"2025-11-25","capabilities":{"roots":{}}}"#,
        ));
        s.request(&rooted, &list).await.unwrap();
        assert_eq!(live.asked.load(Ordering::SeqCst), 2);
        // Not with children per session or request.
        let inner = Arc::new(Live {
            tools: tools.clone(),
            asked: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            negotiated: "2025-11-25",
        });
        let own = Snapshotted::new(inner.clone(), snapshot(tools, None), "t", false).unwrap();
        own.request(&rooted, &list).await.unwrap();
        assert_eq!(inner.asked.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn paged_lists_are_answered_live() {
        let text = json!({"mcpLambdaSnapshot": 1, "era": "legacy", "initialize": init_result(),
            "lists": {"tools/list": {"tools": [{"name": "a"}], "nextCursor": "2"}}});
        let snap = Snapshot::parse(text.to_string().as_bytes()).unwrap();
        let inner = Arc::new(Live {
            tools: json!([{"name": "a"}]),
            asked: AtomicUsize::new(0),
            down: AtomicBool::new(false),
            negotiated: "2025-11-25",
        });
        let s = Snapshotted::new(inner.clone(), snap, "t", true).unwrap();
        let list = msg(json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list"}));
        s.request(&ex(false), &list).await.unwrap();
        assert_eq!(inner.asked.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn verification_waits_for_the_child_and_notices_a_new_version() {
        let tools = json!([{"name": "t"}]);
        let inner = Arc::new(Live {
            tools: tools.clone(),
            asked: AtomicUsize::new(0),
            down: AtomicBool::new(true),
            negotiated: "2025-06-18",
        });
        let s = Snapshotted::new(inner.clone(), snapshot(tools, None), "t", true).unwrap();
        // Not up: not verified, the snapshot stays in use, a later call tries again.
        assert!(!s.verify().await);
        assert!(s.handshake_fresh.load(Ordering::SeqCst));
        inner.down.store(false, Ordering::SeqCst);
        assert!(s.verify().await);
        // The server now negotiates 2025-06-18 where the snapshot says 2025-11-25.
        assert!(!s.handshake_fresh.load(Ordering::SeqCst));
        let init = msg(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "c", "version": "1"}}}),
        );
        assert_eq!(
            s.initialize(&ex(false), &init).await.unwrap().negotiated,
            "2025-06-18"
        );
        assert!(
            s.verify().await,
            "ran to completion once: later calls return at once"
        );
    }

    #[test]
    fn malformed_snapshots_are_refused_with_the_reason() {
        let bad = |v: Value| {
            Snapshot::parse(v.to_string().as_bytes())
                .unwrap_err()
                .to_string()
        };
        assert!(bad(json!({"mcpLambdaSnapshot": 2, "era": "legacy"})).contains("format 2"));
        assert!(bad(json!({"mcpLambdaSnapshot": 1, "era": "modern"})).contains("needs `discover`"));
        assert!(
            bad(
                json!({"mcpLambdaSnapshot": 1, "era": "legacy", "initialize": init_result(),
                "lists": {"tools/call": {}}})
            )
            .contains("unknown method")
        );
        assert!(
            bad(
                json!({"mcpLambdaSnapshot": 1, "era": "legacy", "initialize": init_result(),
                "lists": {"tools/list": {"tools": {}}}})
            )
            .contains("`tools` array")
        );
        assert!(
            bad(json!({"mcpLambdaSnapshot": 1, "era": "legacy", "extra": 1}))
                .contains("not a snapshot")
        );
    }
}
