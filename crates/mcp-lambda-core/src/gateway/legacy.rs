//! The initialize-era ladder (2025-03-26, 2025-06-18, 2025-11-25): a classified
//! [`LegacyPost`] → initialize (and the session it opens), or the session's request(s) → the
//! upstream.
//!
//! Contract, in order:
//! - `initialize` alone: the upstream initializes (or answers from a child it has); with
//!   sessions on (over HTTP) a session is created and its handle returned in `Mcp-Session-Id`
//!   (params over 16 KiB → 400 -32602; a full store → 503 with `Retry-After`; a store that
//!   fails → 503; either way the session's child is released). Inside a batch: 400.
//! - `server/discover` without the 2026-07-28 envelope: 200 with -32601.
//! - Sessions on (over HTTP): `Mcp-Session-Id` is required (400) and must name a live session
//!   of the same principal (404); the session's negotiated version wins over the header's.
//! - A batch where the version forbids it: 400.
//! - One request whose client accepts SSE, on a host that streams: an answer that may become a
//!   stream ([`sse`](super::sse)); anything else: every message forwarded in order, requests
//!   answered (one response, or an array for a batch), 202 when nothing answers. A client's
//!   response answers the server→client request it names.

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::classify::LegacyPost;
use super::reject::Rejection;
use super::{Gateway, Outcome, Step, sse};
use crate::RequestContext;
use crate::child::Asks;
use crate::jsonrpc::{self, Kind, Message, Payload};
use crate::protocol;
use crate::session::{Session, SessionStore, StoreError, new_session_id};
use crate::upstream::{Exchange, requested_version};

/// Largest initialize params a session keeps (every session holds them, to replay them).
pub(crate) const MAX_SESSION_PARAMS: usize = 16 * 1024;

const INIT_IN_BATCH: &str = "initialize must not be part of a JSON-RPC batch";

impl Gateway {
    /// Runs a legacy POST (see the module docs).
    pub(super) async fn legacy(&self, post: LegacyPost, ctx: &RequestContext) -> Step {
        let LegacyPost {
            payload,
            version,
            session,
            stream,
            http,
        } = post;
        let is_batch = matches!(payload, Payload::Batch(_));
        if contains_initialize(&payload) {
            let Payload::Single(msg) = &payload else {
                return Err(Rejection::invalid_request(INIT_IN_BATCH));
            };
            return self.initialize(msg, version, ctx, http).await;
        }
        if let Payload::Single(msg) = &payload
            && msg.method() == Some("server/discover")
            && msg.kind() == Kind::Request
        {
            return Ok(Outcome::ok(discover_not_found(msg)));
        }
        let session = match (&self.sessions, http) {
            (Some(_), true) => {
                let Some(id) = session else {
                    return Err(Rejection::session_required(true));
                };
                Some(self.session(&id, ctx).await?)
            }
            _ => None,
        };
        // The session's GET-stream mailbox lives as long as the session (see `events`).
        let until = session.as_ref().map(|s| self.session_until(s));
        if let (Some(s), Some(until)) = (&session, until) {
            self.events.seen(&s.id, until);
        }
        let version = match (&session, version) {
            // A supported version other than the negotiated one: the spec only requires 400 for
            // invalid or unsupported versions, so the session's version is what counts.
            (Some(s), Some(h)) if s.protocol_version != h => {
                tracing::debug!(header = %h, negotiated = %s.protocol_version, "MCP-Protocol-Version differs from the session's; using the session's");
                s.protocol_version.clone()
            }
            (Some(s), _) => s.protocol_version.clone(),
            (None, Some(h)) => h,
            (None, None) => protocol::DEFAULT_VERSION.to_owned(),
        };
        if is_batch && !protocol::allows_batch(&version) {
            return Err(Rejection::invalid_request(format!(
                "JSON-RPC batches are not supported in protocol version {version}"
            )));
        }
        let mut ex = self.exchange(ctx, version);
        if let Some(s) = &session {
            ex.session_id = Some(s.id.clone());
            ex.init_params = Some(s.init_params.clone());
        }
        let payload = match payload {
            Payload::Single(msg) if msg.kind() == Kind::Request && stream => {
                self.track_subscription(&ex, &msg, until)?;
                // Only what the client declared in its initialize (kept by its session);
                // without sessions that is not known here, and the client answers for itself.
                let asks = ex
                    .init_params
                    .as_deref()
                    .map_or(Asks::ALL, Asks::of_init_params);
                let allowed = sse::Allowed {
                    asks,
                    logging: true,
                };
                return sse::answer(self.upstream.clone(), ex, msg, allowed, true, None, false)
                    .await;
            }
            other => other,
        };
        if is_batch {
            // One child for the whole batch where the lifecycle starts one per request.
            ex.batch = Some(Arc::default());
        }
        Ok(match self.forward_all(&ex, &payload, until).await? {
            None => Outcome::Accepted,
            Some(body) => Outcome::ok(body),
        })
    }

    /// Sends every message to the upstream in order: requests are answered, notifications
    /// forwarded, client responses delivered to the child request they answer (or dropped).
    /// Returns the body — one response, or an array for a batch — or `None` if nothing answers;
    /// a single request that finds every child busy is refused (503). `until`: the session's
    /// expiry, for its subscriptions.
    async fn forward_all(
        &self,
        ex: &Exchange,
        payload: &Payload,
        until: Option<SystemTime>,
    ) -> Result<Option<Bytes>, Rejection> {
        let mut responses = Vec::new();
        for msg in payload.messages() {
            match msg.kind() {
                Kind::Request => {
                    if let Err(refused) = self.track_subscription(ex, msg, until) {
                        match payload {
                            Payload::Single(_) => return Err(refused),
                            Payload::Batch(_) => responses.push(refused.body()),
                        }
                        continue;
                    }
                    let reply = match self.upstream.request(ex, msg).await {
                        Ok(reply) => reply.body,
                        Err(e) => match super::failed(e, msg.id()) {
                            Ok(reply) => reply.body,
                            Err(busy) if matches!(payload, Payload::Single(_)) => return Err(busy),
                            Err(busy) => busy.body(),
                        },
                    };
                    responses.push(reply);
                }
                Kind::Notification => self.upstream.notify(ex, msg).await,
                Kind::Response => {
                    // The answer to a server→client request sent on an SSE stream.
                    self.upstream.deliver(ex, msg).await;
                }
            }
        }
        Ok(match (responses.len(), payload) {
            (0, _) => None,
            (_, Payload::Batch(_)) => Some(jsonrpc::batch_body(&responses)),
            (_, Payload::Single(_)) => Some(responses.swap_remove(0)),
        })
    }

    /// A client's `initialize`: with sessions on (over HTTP), the session it opens.
    async fn initialize(
        &self,
        msg: &Message,
        version: Option<String>,
        ctx: &RequestContext,
        http: bool,
    ) -> Step {
        let store = self.sessions.as_ref().filter(|_| http);
        // What the session replays is what a child is initialized with (a version nobody
        // serves already replaced), and it must fit the session.
        let kept = store.map(|_| {
            requested_version(msg)
                .map(|(params, _)| params)
                .unwrap_or_else(|_| Arc::from(msg.params().unwrap_or("{}")))
        });
        if kept.as_ref().is_some_and(|p| p.len() > MAX_SESSION_PARAMS) {
            return Err(Rejection::invalid_params(format!(
                "initialize params over {} KiB cannot be kept in a session",
                MAX_SESSION_PARAMS / 1024
            ))
            .with_id(msg.id()));
        }
        let session_id = store.map(|_| new_session_id());
        let mut ex = self.exchange(
            ctx,
            version.unwrap_or_else(|| protocol::DEFAULT_VERSION.to_owned()),
        );
        ex.session_id = session_id.clone();
        let ok = match self.upstream.initialize(&ex, msg).await {
            Ok(ok) => ok,
            Err(e) => return super::failed(e, msg.id()).map(|reply| Outcome::ok(reply.body)),
        };
        let response = jsonrpc::result_response(msg.id(), &ok.result);
        let (Some(store), Some(id), Some(init_params)) = (store, session_id, kept) else {
            return Ok(Outcome::ok(response));
        };
        let now = SystemTime::now();
        let session = Session {
            id: id.clone(),
            protocol_version: ok.negotiated,
            init_params,
            principal: ctx.principal.clone(),
            created_at: now,
            last_seen: now,
            expires_at: now + store.idle_ttl(),
        };
        let handle = match store.create(&session).await {
            Ok(handle) => handle,
            Err(e) => {
                self.upstream.end_session(&id).await;
                if let StoreError::Full(_) = e {
                    tracing::warn!(error = %e, "session refused");
                    return Err(Rejection::busy(e.to_string()).with_id(msg.id()));
                }
                tracing::error!(error = %e, "could not save the session");
                return Err(Rejection::store_unavailable(
                    "the session could not be saved; try again",
                )
                .with_id(msg.id()));
            }
        };
        tracing::info!(session = %&id[..8], version = %session.protocol_version, "session opened");
        Ok(Outcome::Json {
            status: http::StatusCode::OK,
            body: response,
            session: Some(handle),
        })
    }

    /// The live session `id` of this caller (its last-seen time refreshed), or the rejection:
    /// 404 for an unknown, expired or foreign session, 503 when the store fails.
    pub(super) async fn session(
        &self,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<Session, Rejection> {
        let Some(store) = &self.sessions else {
            return Err(Rejection::unknown_session());
        };
        lookup(store.as_ref(), id, ctx).await
    }

    /// Records a session's `resources/subscribe` / `unsubscribe` for its GET stream, before
    /// the request is forwarded: a subscription over the limits is refused (the child never
    /// sees it) with -32602, or 503 when no more sessions can have a mailbox.
    fn track_subscription(
        &self,
        ex: &Exchange,
        msg: &Message,
        until: Option<SystemTime>,
    ) -> Result<(), Rejection> {
        let on = match msg.method() {
            Some("resources/subscribe") => true,
            Some("resources/unsubscribe") => false,
            _ => return Ok(()),
        };
        let (Some(session), Some(until)) = (&ex.session_id, until) else {
            return Ok(());
        };
        // Exactly what the child will read: an object whose `uri` is a string (an array of
        // params or another `uri` would be tracked as one thing and read as another).
        #[derive(serde::Deserialize)]
        struct P {
            uri: String,
        }
        let parsed = msg
            .params()
            .filter(|p| p.trim_start().starts_with('{'))
            .and_then(|p| serde_json::from_str::<P>(p).ok());
        let Some(p) = parsed else {
            return Err(Rejection::invalid_params(
                "resources/subscribe and resources/unsubscribe take params {\"uri\": string}",
            )
            .with_id(msg.id()));
        };
        self.events
            .subscribe(session, &p.uri, on, until)
            .map_err(|r| super::events::rejection(r).with_id(msg.id()))
    }
}

async fn lookup(
    store: &dyn SessionStore,
    id: &str,
    ctx: &RequestContext,
) -> Result<Session, Rejection> {
    match store.get(id).await {
        Ok(Some(s)) if s.principal == ctx.principal => {
            if let Err(e) = store.touch(id, &s, SystemTime::now()).await {
                // The session is valid; a missed last-seen update only shortens its life.
                tracing::warn!(error = %e, "could not refresh the session's last-seen time");
            }
            Ok(s)
        }
        Ok(_) => Err(Rejection::unknown_session()),
        Err(e) => {
            tracing::error!(error = %e, "session store failed");
            Err(Rejection::store_unavailable(
                "session store unavailable; try again",
            ))
        }
    }
}

/// `true` if any message is an `initialize` request.
fn contains_initialize(payload: &Payload) -> bool {
    payload
        .messages()
        .iter()
        .any(|m| m.method() == Some("initialize") && m.kind() == Kind::Request)
}

/// The answer to a `server/discover` that lacks the 2026-07-28 envelope (a legacy request).
fn discover_not_found(msg: &Message) -> Bytes {
    jsonrpc::error_response(
        msg.id(),
        jsonrpc::METHOD_NOT_FOUND,
        "Method not found: server/discover needs the protocol 2026-07-28 envelope (params._meta and the MCP-Protocol-Version header); initialize-era clients initialize instead",
    )
}
