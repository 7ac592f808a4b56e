//! The gateway: MCP Streamable HTTP of both eras on one endpoint — legacy (2025-03-26,
//! 2025-06-18, 2025-11-25: initialize, optional sessions) and modern (2026-07-28: stateless).
//!
//! Contract: [`Gateway::handle`] takes a whole `http::Request<Bytes>` from any host (the local
//! server, a Lambda front door) and returns the answer as an [`http::Response<Body>`]; it never
//! fails and never panics on client input. A POST is modern when its `MCP-Protocol-Version` is
//! not a legacy version, or when it has none and its `params._meta` carries a protocol version
//! (the compatibility rules of 2026-07-28); modern POSTs follow [`modern`]'s table. Every legacy
//! rule maps to a status and, for POST errors, a JSON-RPC error body:
//!
//! | input | answer |
//! |---|---|
//! | `Origin` not allowed | 403 |
//! | GET | 405 (no server-initiated stream yet) |
//! | DELETE | ends the session (200), 404 unknown, 405 when sessions are off |
//! | other methods | 405 |
//! | POST with Content-Type other than `application/json` | 415 |
//! | POST whose `Accept` does not admit `application/json` | 406 |
//! | body over the limit (6 MiB by default, Lambda's payload limit) | 413 |
//! | unknown `MCP-Protocol-Version` | 400, -32022 with `data.supported` (the modern rules) |
//! | GET / DELETE with a 2026-07-28 `MCP-Protocol-Version` | 405 |
//! | invalid JSON | 400, -32700 |
//! | not JSON-RPC, batch where the version forbids it, initialize inside a batch | 400, -32600 |
//! | missing `Mcp-Session-Id` (sessions on, not initialize) | 400 |
//! | unknown or expired `Mcp-Session-Id` | 404 |
//! | only notifications / responses | 202, empty body |
//! | requests | 200, `application/json`: one response, or an array for a batch |
//! | `server/discover` without the 2026-07-28 envelope | 200 with -32601 (a legacy request; real probes carry `_meta` and get the modern answer) |

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use crate::jsonrpc::{self, Kind, Message, Payload};
use crate::protocol::{self, SESSION_HEADER};
use crate::session::{Session, SessionStore, new_session_id};
use crate::upstream::{Exchange, Stats, Upstream};

/// Lambda's synchronous payload limit, our default request body cap.
pub const DEFAULT_MAX_BODY: usize = 6 * 1024 * 1024;

/// The body of a gateway answer.
#[derive(Debug)]
pub enum Body {
    /// No body (202, 405, ...).
    Empty,
    /// A complete JSON document.
    Json(Bytes),
    /// A `text/event-stream`: each item is one complete SSE event. The stream ends with the
    /// response. (Produced by later features: progress, server→client requests.)
    Stream(mpsc::Receiver<Bytes>),
}

impl Body {
    /// The bytes of a complete body (`None` for a stream).
    pub fn bytes(&self) -> Option<&Bytes> {
        match self {
            Body::Json(b) => Some(b),
            _ => None,
        }
    }
}

/// Settings of the HTTP rules.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Extra allowed `Origin` values (ASCII case-insensitive match, or `*` for any).
    pub allowed_origins: Vec<String>,
    /// Whether loopback origins (`http://localhost:*`, `127.0.0.1`, `[::1]`) are allowed: true
    /// when the listener itself is on loopback.
    pub allow_loopback_origins: bool,
    /// Largest accepted request body.
    pub max_body: usize,
    /// Per-request timeout (a host may pass a tighter deadline).
    pub request_timeout: Duration,
    /// Whether the host can stream a response body as it is produced (the local server, a
    /// streaming Lambda): requests whose client accepts `text/event-stream` may then be
    /// answered with an SSE stream carrying the child's notifications and requests.
    pub stream_responses: bool,
    /// Keys sealing 2026-07-28 `requestState` (the first seals, all open): share them between
    /// instances so any instance continues a round; empty = a key of this process only.
    pub state_keys: Vec<[u8; 32]>,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allow_loopback_origins: true,
            max_body: DEFAULT_MAX_BODY,
            request_timeout: Duration::from_secs(60),
            stream_responses: false,
            state_keys: Vec::new(),
        }
    }
}

/// What the host knows about the caller.
#[derive(Debug, Clone, Default)]
pub struct RequestContext {
    /// A deadline tighter than the configured timeout (e.g. Lambda's remaining time).
    pub deadline: Option<Instant>,
    /// The authenticated caller, if any.
    pub principal: Option<String>,
    /// The host's id for this request (Lambda request id), used in logs.
    pub request_id: Option<String>,
    /// Where the upstream records spawn / initialize costs, if the host wants them.
    pub stats: Option<Arc<Stats>>,
}

/// The Streamable HTTP endpoint. Cheap to share (`Arc`).
pub struct Gateway {
    cfg: GatewayConfig,
    upstream: Arc<dyn Upstream>,
    sessions: Option<Arc<dyn SessionStore>>,
    counter: std::sync::atomic::AtomicU64,
    /// The tools' `Mcp-Param-*` annotations (2026-07-28 header validation).
    param_headers: param_headers::ParamHeaders,
    /// Seals 2026-07-28 `requestState` (MRTR rounds).
    state_sealer: Arc<crate::sealed::Sealer>,
    /// The sessions' GET-stream mailboxes.
    events: Arc<events::Events>,
}

type Answer = Response<Body>;

impl Gateway {
    /// A gateway over `upstream`; `sessions: None` turns sessions off.
    pub fn new(
        cfg: GatewayConfig,
        upstream: Arc<dyn Upstream>,
        sessions: Option<Arc<dyn SessionStore>>,
    ) -> Self {
        Self {
            state_sealer: mrtr::sealer(&cfg.state_keys),
            cfg,
            upstream,
            sessions,
            counter: Default::default(),
            param_headers: Default::default(),
            events: Default::default(),
        }
    }

    /// Delivers the children's notifications that belong to no request (what a
    /// [`ChildConfig`](crate::ChildConfig)'s `unrelated` channel carries) to the sessions' GET
    /// streams, until the channel closes.
    pub fn listen(&self, mut unrelated: mpsc::UnboundedReceiver<Bytes>) {
        let events = self.events.clone();
        tokio::spawn(async move {
            while let Some(message) = unrelated.recv().await {
                events.dispatch(&message);
            }
        });
    }

    /// The upstream (for shutdown).
    pub fn upstream(&self) -> &Arc<dyn Upstream> {
        &self.upstream
    }

    /// The log span of one request: the host's request id, or a local counter (`r0`, `r1`, ...).
    fn span(&self, ctx: &RequestContext) -> tracing::Span {
        let rid = ctx.request_id.clone().unwrap_or_else(|| {
            let n = self
                .counter
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            format!("r{n}")
        });
        tracing::info_span!("request", request_id = %rid)
    }

    /// Handles one HTTP request. See the module docs for the rules.
    pub async fn handle(&self, req: Request<Bytes>, ctx: RequestContext) -> Answer {
        let span = self.span(&ctx);
        async move {
            let origin = req.headers().get(header::ORIGIN).cloned();
            if let Some(o) = &origin
                && !self.origin_allowed(o)
            {
                tracing::warn!(origin = ?o, "request from a foreign Origin refused");
                return error(
                    StatusCode::FORBIDDEN,
                    jsonrpc::INVALID_REQUEST,
                    "Forbidden: Origin not allowed",
                );
            }
            let modern_header = matches!(
                modern::version_header(req.headers()),
                modern::VersionHeader::Value(v) if protocol::is_modern(v)
            );
            let mut answer = match *req.method() {
                Method::POST => self.post(req, &ctx).await,
                Method::GET | Method::DELETE if modern_header => method_not_allowed(
                    "POST",
                    "protocol version 2026-07-28 has no GET stream and no sessions",
                ),
                Method::DELETE => self.delete(req, &ctx).await,
                Method::GET if self.get_streams() => self.get(req, &ctx).await,
                Method::OPTIONS if origin.is_some() => preflight(),
                Method::GET => method_not_allowed(
                    self.allow(),
                    "GET: this server offers no server-initiated SSE stream",
                ),
                _ => method_not_allowed(self.allow(), "method not allowed"),
            };
            if let Some(o) = origin {
                cors(answer.headers_mut(), o);
            }
            answer
        }
        .instrument(span)
        .await
    }

    /// Whether sessions get a GET stream here (sessions on, on a host that streams).
    fn get_streams(&self) -> bool {
        self.sessions.is_some() && self.cfg.stream_responses
    }

    /// The `Allow` header of this endpoint's 405s.
    fn allow(&self) -> &'static str {
        match (self.get_streams(), self.deletable()) {
            (true, true) => "GET, POST, DELETE",
            (true, false) => "GET, POST",
            (false, true) => "POST, DELETE",
            (false, false) => "POST",
        }
    }

    /// Whether DELETE can end sessions here (sessions on, and not sealed tokens).
    fn deletable(&self) -> bool {
        self.sessions.as_ref().is_some_and(|s| s.can_delete())
    }

    fn origin_allowed(&self, origin: &HeaderValue) -> bool {
        let Ok(o) = origin.to_str() else { return false };
        if self
            .cfg
            .allowed_origins
            .iter()
            .any(|a| a == "*" || a.eq_ignore_ascii_case(o))
        {
            return true;
        }
        self.cfg.allow_loopback_origins && is_loopback_origin(o)
    }

    async fn post(&self, req: Request<Bytes>, ctx: &RequestContext) -> Answer {
        let headers = req.headers();
        if !is_json_content_type(headers) {
            return error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                jsonrpc::INVALID_REQUEST,
                "Unsupported Media Type: Content-Type must be application/json",
            );
        }
        if !accepts_json(headers) {
            return error(
                StatusCode::NOT_ACCEPTABLE,
                jsonrpc::INVALID_REQUEST,
                "Not Acceptable: Accept must include application/json (and text/event-stream)",
            );
        }
        if req.body().len() > self.cfg.max_body {
            return error(
                StatusCode::PAYLOAD_TOO_LARGE,
                jsonrpc::INVALID_REQUEST,
                &format!(
                    "Payload Too Large: the body is {} bytes, the limit is {}",
                    req.body().len(),
                    self.cfg.max_body
                ),
            );
        }
        if modern::is_modern_post(headers, req.body()) {
            return self.post_modern(&req, ctx).await;
        }
        // Not modern: any header present names a legacy version (see `is_modern_post`).
        let header_version = match modern::version_header(headers) {
            modern::VersionHeader::Value(v) => Some(v.to_owned()),
            _ => None,
        };
        let payload = match jsonrpc::parse(req.body()) {
            Ok(p) => p,
            Err(e) => return error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
        };
        let is_batch = matches!(payload, Payload::Batch(_));
        if contains_initialize(&payload) {
            if let Payload::Single(msg) = &payload {
                return self.initialize(msg, header_version, ctx).await;
            }
            return error(
                StatusCode::BAD_REQUEST,
                jsonrpc::INVALID_REQUEST,
                INIT_IN_BATCH,
            );
        }
        if let Payload::Single(msg) = &payload
            && msg.method() == Some("server/discover")
            && msg.kind() == Kind::Request
        {
            return json(StatusCode::OK, discover_not_found(msg), None);
        }
        // Session lookup.
        let session = match &self.sessions {
            None => None,
            Some(store) => {
                let Some(id) = headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()) else {
                    return error(
                        StatusCode::BAD_REQUEST,
                        jsonrpc::INVALID_REQUEST,
                        "Bad Request: Mcp-Session-Id header is required (initialize first)",
                    );
                };
                match self.lookup(store.as_ref(), id, ctx).await {
                    Ok(s) => Some(s),
                    Err(answer) => return answer,
                }
            }
        };
        let version = match (&session, &header_version) {
            // A supported version other than the negotiated one: the spec only requires 400 for
            // invalid or unsupported versions, so the session's version is what counts.
            (Some(s), Some(h)) if &s.protocol_version != h => {
                tracing::debug!(header = %h, negotiated = %s.protocol_version, "MCP-Protocol-Version differs from the session's; using the session's");
                s.protocol_version.clone()
            }
            (Some(s), _) => s.protocol_version.clone(),
            (None, Some(h)) => h.clone(),
            (None, None) => protocol::DEFAULT_VERSION.to_owned(),
        };
        if is_batch && !protocol::allows_batch(&version) {
            return error(
                StatusCode::BAD_REQUEST,
                jsonrpc::INVALID_REQUEST,
                &format!("JSON-RPC batches are not supported in protocol version {version}"),
            );
        }
        let ex = Exchange {
            protocol_version: version,
            session_id: session.as_ref().map(|s| s.id.clone()),
            init_params: session.as_ref().map(|s| s.init_params.clone()),
            deadline: self.deadline(ctx),
            stats: ctx.stats.clone().unwrap_or_default(),
            modern: None,
            sink: None,
        };
        if let Payload::Single(msg) = &payload
            && msg.kind() == Kind::Request
            && self.can_stream(headers)
        {
            self.track_subscription(&ex, msg);
            let allowed = sse::Allowed {
                requests: true,
                logging: true,
            };
            return sse::answer(
                self.upstream.clone(),
                ex,
                msg.clone(),
                allowed,
                true,
                None,
                |_| StatusCode::OK,
            )
            .await;
        }
        match self.forward_all(&ex, &payload).await {
            None => accepted(),
            Some(body) => json(StatusCode::OK, body, None),
        }
    }

    /// A 2026-07-28 POST: one request, validated by [`modern::validate`], answered statelessly.
    async fn post_modern(&self, req: &Request<Bytes>, ctx: &RequestContext) -> Answer {
        let parsed = jsonrpc::parse(req.body());
        // A header naming a version nobody serves is answered first: whatever the body, the
        // client asked for something this endpoint does not speak. (With the request's id when
        // it can be read.)
        let request = match &parsed {
            Ok(Payload::Single(m)) if m.kind() == Kind::Request => Some(m),
            _ => None,
        };
        let header = modern::version_header(req.headers());
        let refused = match header {
            modern::VersionHeader::Duplicated => Some(modern::duplicated_version(request)),
            modern::VersionHeader::Invalid => {
                Some(modern::unsupported_version(request, "(not visible ASCII)"))
            }
            modern::VersionHeader::Value(v) if !protocol::is_modern(v) => {
                Some(modern::unsupported_version(request, v))
            }
            _ => None,
        };
        if let Some(r) = refused {
            return json(r.status, r.body, None);
        }
        let msg = match parsed {
            Ok(Payload::Single(msg)) => msg,
            Ok(Payload::Batch(_)) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    jsonrpc::INVALID_REQUEST,
                    "Bad Request: a protocol 2026-07-28 POST carries one JSON-RPC request or notification, not a batch",
                );
            }
            Err(e) => return error(StatusCode::BAD_REQUEST, e.code(), &e.to_string()),
        };
        match msg.kind() {
            Kind::Request => {}
            Kind::Response => {
                return error(
                    StatusCode::BAD_REQUEST,
                    jsonrpc::INVALID_REQUEST,
                    "Bad Request: clients do not send JSON-RPC responses in protocol 2026-07-28",
                );
            }
            Kind::Notification => {
                let version = match header {
                    modern::VersionHeader::Value(v) => v.to_owned(),
                    _ => modern::meta_version(&msg).unwrap_or_default(),
                };
                if !protocol::is_modern(&version) {
                    let r = modern::unsupported_version(None, &version);
                    return json(r.status, r.body, None);
                }
                // 2026-07-28 defines no client notifications over HTTP (closing the response
                // stream is the cancellation); accepted and dropped.
                tracing::debug!(
                    method = msg.method().unwrap_or(""),
                    "2026-07-28 notification accepted and dropped"
                );
                return accepted();
            }
        }
        let valid = match modern::validate(Some(req.headers()), &msg) {
            Ok(valid) => valid,
            Err(r) => return json(r.status, r.body, None),
        };
        let method = msg.method().unwrap_or_default().to_owned();
        // tools/list and server/discover answers are rewritten after the fact: never streamed.
        let streamable = !matches!(method.as_str(), "tools/list" | "server/discover");
        let stream = streamable && self.can_stream(req.headers());
        if stream || mrtr::supports(&method) {
            let logging = valid.meta.log_level.is_some();
            let capabilities = valid.meta.client_capabilities.clone();
            let (ex, params) = match self
                .modern_exchange(valid, &msg, ctx, Some(req.headers()))
                .await
            {
                Ok(e) => e,
                Err(body) => return json(modern::status_of(&body), body, None),
            };
            let (msg, round) = if mrtr::supports(&method) {
                match mrtr::Round::begin(
                    &self.state_sealer,
                    &msg,
                    params,
                    capabilities,
                    ctx.principal.as_deref(),
                ) {
                    mrtr::Begin::Refuse(body) => {
                        return json(modern::status_of(&body), body, None);
                    }
                    mrtr::Begin::Run(None, round) => (msg, Some(round)),
                    mrtr::Begin::Run(Some(raw), round) => match jsonrpc::parse_message(&raw) {
                        Ok(m) => (m, Some(round)),
                        Err(_) => (msg, Some(round)),
                    },
                }
            } else {
                (msg, None)
            };
            // 2026-07-28 servers send no requests on a stream: a child's become
            // InputRequiredResults (MRTR) where the method allows, else errors to the child.
            let allowed = sse::Allowed {
                requests: false,
                logging,
            };
            return sse::answer(
                self.upstream.clone(),
                ex,
                msg,
                allowed,
                stream,
                round,
                modern::status_of,
            )
            .await;
        }
        let body = self
            .modern_request(valid, &msg, ctx, Some(req.headers()))
            .await;
        json(modern::status_of(&body), body, None)
    }

    /// Records a session's `resources/subscribe` / `unsubscribe` for its GET stream.
    fn track_subscription(&self, ex: &Exchange, msg: &Message) {
        let on = match msg.method() {
            Some("resources/subscribe") => true,
            Some("resources/unsubscribe") => false,
            _ => return,
        };
        let (Some(session), Some(params)) = (&ex.session_id, msg.member("params")) else {
            return;
        };
        #[derive(serde::Deserialize)]
        struct P {
            uri: String,
        }
        if let Ok(p) = serde_json::from_str::<P>(params.get()) {
            self.events.subscribe(session, &p.uri, on);
        }
    }

    /// `true` if this answer may be an SSE stream: the host streams and the client accepts it.
    fn can_stream(&self, headers: &HeaderMap) -> bool {
        self.cfg.stream_responses && accepts_sse(headers)
    }

    /// The exchange of a validated modern request, or its error answer: `subscriptions/listen`
    /// is not offered, and `Mcp-Param-*` headers must agree with the arguments.
    async fn modern_exchange(
        &self,
        valid: modern::Valid,
        msg: &Message,
        ctx: &RequestContext,
        headers: Option<&HeaderMap>,
    ) -> Result<(Exchange, serde_json::Map<String, serde_json::Value>), Bytes> {
        if msg.method() == Some("subscriptions/listen") {
            return Err(jsonrpc::error_response(
                msg.id(),
                jsonrpc::METHOD_NOT_FOUND,
                "Method not found: subscriptions/listen (change notifications are not offered by this endpoint)",
            ));
        }
        let modern::Valid { meta, params } = valid;
        let ex = Exchange {
            protocol_version: meta.protocol_version.clone(),
            session_id: None,
            init_params: None,
            deadline: self.deadline(ctx),
            stats: ctx.stats.clone().unwrap_or_default(),
            modern: Some(Arc::new(meta)),
            sink: None,
        };
        if let (Some("tools/call"), Some(h)) = (msg.method(), headers)
            && let Err(why) = self.check_param_headers(&ex, &params, h).await
        {
            return Err(jsonrpc::error_response(
                msg.id(),
                jsonrpc::HEADER_MISMATCH,
                &format!("Header mismatch: {why}"),
            ));
        }
        Ok((ex, params))
    }

    /// Forwards a validated modern request and returns the whole answer (`headers`: the HTTP
    /// headers, for `Mcp-Param-*`).
    async fn modern_request(
        &self,
        valid: modern::Valid,
        msg: &Message,
        ctx: &RequestContext,
        headers: Option<&HeaderMap>,
    ) -> Bytes {
        let (ex, params) = match self.modern_exchange(valid, msg, ctx, headers).await {
            Ok(e) => e,
            Err(body) => return body,
        };
        let response = self.upstream.request(&ex, msg).await;
        if msg.method() == Some("tools/list") && !params.contains_key("cursor") {
            self.param_headers.learn(&response, true);
        }
        if msg.method() == Some("server/discover") {
            // No change notifications are delivered here (no `subscriptions/listen`): do not
            // let the server's discover promise them.
            return crate::era::discover_for_endpoint(response);
        }
        response
    }

    /// Sends every message to the upstream in order: requests are answered, notifications
    /// forwarded, client responses delivered to the child request they answer (or dropped).
    /// Returns the body — one response, or an array for a batch — or `None` if nothing answers.
    async fn forward_all(&self, ex: &Exchange, payload: &Payload) -> Option<Bytes> {
        let mut responses = Vec::new();
        for msg in payload.messages() {
            match msg.kind() {
                Kind::Request => {
                    self.track_subscription(ex, msg);
                    responses.push(self.upstream.request(ex, msg).await)
                }
                Kind::Notification => self.upstream.notify(ex, msg).await,
                Kind::Response => {
                    // The answer to a server→client request sent on an SSE stream.
                    crate::child::deliver_client_response(msg);
                }
            }
        }
        match (responses.len(), payload) {
            (0, _) => None,
            (_, Payload::Batch(_)) => Some(jsonrpc::batch_body(&responses)),
            (_, Payload::Single(_)) => Some(responses.swap_remove(0)),
        }
    }

    async fn initialize(
        &self,
        msg: &Message,
        header_version: Option<String>,
        ctx: &RequestContext,
    ) -> Answer {
        let session_id = self.sessions.as_ref().map(|_| new_session_id());
        let ex = Exchange {
            protocol_version: header_version
                .unwrap_or_else(|| protocol::DEFAULT_VERSION.to_owned()),
            session_id: session_id.clone(),
            init_params: None,
            deadline: self.deadline(ctx),
            stats: ctx.stats.clone().unwrap_or_default(),
            modern: None,
            sink: None,
        };
        let outcome = self.upstream.initialize(&ex, msg).await;
        let (Some(store), Some(id), Some(negotiated)) =
            (&self.sessions, session_id, outcome.negotiated)
        else {
            return json(StatusCode::OK, outcome.response, None);
        };
        let now = SystemTime::now();
        let params = msg
            .member("params")
            .map(|p| Arc::from(p.get()))
            .unwrap_or_else(|| Arc::from("{}"));
        let session = Session {
            id: id.clone(),
            protocol_version: negotiated,
            init_params: params,
            principal: ctx.principal.clone(),
            created_at: now,
            last_seen: now,
            expires_at: now + store.idle_ttl(),
        };
        let handle = match store.create(&session).await {
            Ok(handle) => handle,
            Err(e) => {
                tracing::error!(error = %e, "could not save the session");
                self.upstream.end_session(&id).await;
                return json(
                    StatusCode::SERVICE_UNAVAILABLE,
                    jsonrpc::error_response(
                        msg.id(),
                        jsonrpc::INTERNAL_ERROR,
                        "the session could not be saved; try again",
                    ),
                    None,
                );
            }
        };
        tracing::info!(session = %&id[..8], version = %session.protocol_version, "session opened");
        json(StatusCode::OK, outcome.response, Some(handle))
    }

    async fn lookup(
        &self,
        store: &dyn SessionStore,
        id: &str,
        ctx: &RequestContext,
    ) -> Result<Session, Answer> {
        match store.get(id).await {
            Ok(Some(s)) if s.principal == ctx.principal => {
                if let Err(e) = store.touch(id, &s, SystemTime::now()).await {
                    // The session is valid; a missed last-seen update only shortens its life.
                    tracing::warn!(error = %e, "could not refresh the session's last-seen time");
                }
                Ok(s)
            }
            Ok(_) => Err(error(
                StatusCode::NOT_FOUND,
                jsonrpc::INVALID_REQUEST,
                "Not Found: unknown or expired session (initialize again)",
            )),
            Err(e) => {
                tracing::error!(error = %e, "session store failed");
                Err(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    jsonrpc::INTERNAL_ERROR,
                    "session store unavailable; try again",
                ))
            }
        }
    }

    /// A session's GET stream: server messages that belong to no request, resumable with
    /// `Last-Event-ID` (see [`events`]).
    async fn get(&self, req: Request<Bytes>, ctx: &RequestContext) -> Answer {
        let Some(store) = &self.sessions else {
            return method_not_allowed(self.allow(), "GET: sessions are off");
        };
        if !accepts_sse(req.headers()) {
            return error(
                StatusCode::NOT_ACCEPTABLE,
                jsonrpc::INVALID_REQUEST,
                "Not Acceptable: a GET stream needs Accept: text/event-stream",
            );
        }
        let id = match session_header(req.headers()) {
            Ok(id) => id,
            Err(answer) => return *answer,
        };
        let session = match self.lookup(store.as_ref(), id, ctx).await {
            Ok(s) => s,
            Err(answer) => return answer,
        };
        let last = req
            .headers()
            .get("last-event-id")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        sse::sse(self.events.open(&session.id, last))
    }

    async fn delete(&self, req: Request<Bytes>, ctx: &RequestContext) -> Answer {
        let Some(store) = &self.sessions else {
            return method_not_allowed(self.allow(), "DELETE: sessions are off");
        };
        let id = match session_header(req.headers()) {
            Ok(id) => id,
            Err(answer) => return *answer,
        };
        if !store.can_delete() {
            return method_not_allowed(
                self.allow(),
                "DELETE: these sessions are sealed tokens and end when they expire",
            );
        }
        let session = match self.lookup(store.as_ref(), id, ctx).await {
            Ok(s) => s,
            Err(answer) => return answer,
        };
        match store.delete(id, &session).await {
            Ok(false) => error(
                StatusCode::NOT_FOUND,
                jsonrpc::INVALID_REQUEST,
                "Not Found: unknown or expired session (initialize again)",
            ),
            Ok(true) => {
                self.upstream.end_session(&session.id).await;
                self.events.end(&session.id);
                tracing::info!(session = %&session.id[..session.id.len().min(8)], "session closed by the client");
                let mut r = Response::new(Body::Empty);
                *r.status_mut() = StatusCode::OK;
                r
            }
            Err(e) => {
                tracing::error!(error = %e, "session store failed");
                error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    jsonrpc::INTERNAL_ERROR,
                    "session store unavailable; try again",
                )
            }
        }
    }

    /// Handles a bare JSON-RPC message (or batch) with no HTTP around it: Lambda direct Invoke
    /// and other in-process callers. No sessions, no HTTP rules; a request whose `params._meta`
    /// carries the 2026-07-28 envelope is served in that era (the envelope rules of [`modern`]
    /// without the header ones, errors as JSON-RPC errors); otherwise the protocol version is the
    /// newest legacy one for a single message and 2025-03-26 for a batch (the only era with
    /// batches).
    /// Returns the response (an array for a batch), or `None` when nothing answers (only
    /// notifications / responses). Parse and shape errors come back as JSON-RPC errors.
    pub async fn rpc(&self, body: &[u8], ctx: RequestContext) -> Option<Bytes> {
        let span = self.span(&ctx);
        async move {
            let payload = match jsonrpc::parse(body) {
                Ok(p) => p,
                Err(e) => return Some(jsonrpc::error_response(None, e.code(), &e.to_string())),
            };
            let is_batch = matches!(payload, Payload::Batch(_));
            let version = if is_batch {
                protocol::DEFAULT_VERSION
            } else {
                protocol::LATEST_VERSION
            };
            if let Payload::Single(msg) = &payload
                && modern::body_has_modern_meta(msg.raw().get().as_bytes())
            {
                if msg.kind() != Kind::Request {
                    return None;
                }
                return Some(match modern::validate(None, msg) {
                    Ok(valid) => self.modern_request(valid, msg, &ctx, None).await,
                    Err(r) => r.body,
                });
            }
            let ex = Exchange {
                protocol_version: version.to_owned(),
                session_id: None,
                init_params: None,
                deadline: self.deadline(&ctx),
                stats: ctx.stats.clone().unwrap_or_default(),
                modern: None,
                sink: None,
            };
            if let Payload::Single(msg) = &payload
                && msg.kind() == Kind::Request
            {
                match msg.method() {
                    Some("initialize") => {
                        return Some(self.upstream.initialize(&ex, msg).await.response);
                    }
                    Some("server/discover") => return Some(discover_not_found(msg)),
                    _ => {}
                }
            }
            if is_batch && contains_initialize(&payload) {
                return Some(jsonrpc::error_response(
                    None,
                    jsonrpc::INVALID_REQUEST,
                    INIT_IN_BATCH,
                ));
            }
            self.forward_all(&ex, &payload).await
        }
        .instrument(span)
        .await
    }

    /// Validates a modern `tools/call`'s `Mcp-Param-*` headers against its arguments, fetching
    /// the child's `tools/list` (same envelope) when the learned one is missing or stale.
    async fn check_param_headers(
        &self,
        ex: &Exchange,
        params: &serde_json::Map<String, serde_json::Value>,
        headers: &HeaderMap,
    ) -> Result<(), String> {
        let Some(tool) = params.get("name").and_then(|n| n.as_str()) else {
            return Ok(());
        };
        let empty = serde_json::Map::new();
        let args = params
            .get("arguments")
            .and_then(|a| a.as_object())
            .unwrap_or(&empty);
        let any_header = headers
            .keys()
            .any(|k| k.as_str().starts_with(protocol::PARAM_HEADER_PREFIX));
        if args.is_empty() && !any_header {
            return Ok(());
        }
        let annotations = match self.param_headers.get(tool) {
            Some(a) => a,
            None => {
                self.fetch_tools(ex).await;
                self.param_headers.get(tool).flatten()
            }
        };
        match annotations {
            Some(a) => param_headers::check(&a, headers, args),
            // Not listed: the child answers for an unknown tool.
            None => Ok(()),
        }
    }

    /// Asks the upstream for every `tools/list` page (bounded) and learns the annotations.
    async fn fetch_tools(&self, ex: &Exchange) {
        let Some(meta) = &ex.modern else { return };
        let envelope = serde_json::json!({
            protocol::META_PROTOCOL_VERSION: meta.protocol_version,
            protocol::META_CLIENT_CAPABILITIES: serde_json::from_str::<serde_json::Value>(meta.client_capabilities.get()).unwrap_or_default(),
            protocol::META_CLIENT_INFO: meta.client_info.as_ref().and_then(|i| serde_json::from_str::<serde_json::Value>(i.get()).ok()).unwrap_or_else(|| serde_json::json!({"name": "mcp-lambda", "version": env!("CARGO_PKG_VERSION")})),
        });
        let mut cursor: Option<String> = None;
        for page in 0..20 {
            let mut params = serde_json::json!({ "_meta": envelope });
            if let Some(c) = &cursor {
                params["cursor"] = serde_json::Value::from(c.as_str());
            }
            let body = serde_json::json!({"jsonrpc": "2.0", "id": format!("mcp-lambda-tools-{page}"), "method": "tools/list", "params": params});
            let Ok(Payload::Single(msg)) = jsonrpc::parse(body.to_string().as_bytes()) else {
                return;
            };
            let response = self.upstream.request(ex, &msg).await;
            cursor = self.param_headers.learn(&response, page == 0);
            if cursor.is_none() {
                return;
            }
        }
        tracing::warn!(
            "tools/list did not end within 20 pages; Mcp-Param headers checked against what was listed"
        );
    }

    fn deadline(&self, ctx: &RequestContext) -> Instant {
        let configured = Instant::now() + self.cfg.request_timeout;
        match ctx.deadline {
            Some(d) if d < configured => d,
            _ => configured,
        }
    }
}

const INIT_IN_BATCH: &str = "initialize must not be part of a JSON-RPC batch";

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

fn is_json_content_type(h: &HeaderMap) -> bool {
    h.get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// The media ranges `Accept` admits (lowercase), without those refused with `q=0`
/// (RFC 9110 §12.4.2).
fn accepted_media(h: &HeaderMap) -> impl Iterator<Item = String> + '_ {
    h.get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|item| {
            let mut parts = item.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (!refused).then_some(media)
        })
}

fn accepts_sse(h: &HeaderMap) -> bool {
    accepted_media(h).any(|m| m == "text/event-stream")
}

fn accepts_json(h: &HeaderMap) -> bool {
    accepted_media(h).any(|m| matches!(m.as_str(), "application/json" | "application/*" | "*/*"))
}

/// `true` for `http(s)://localhost`, `127.x.x.x` and `[::1]` origins, any port.
pub fn is_loopback_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"))
    else {
        return false;
    };
    let host = if let Some(v6) = rest.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, tail)) if tail.is_empty() || tail.starts_with(':') => h,
            _ => return false,
        }
    } else {
        match rest.split_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            Some(_) => return false,
            None => rest,
        }
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn json(status: StatusCode, body: Bytes, session: Option<String>) -> Answer {
    let mut r = Response::new(Body::Json(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(id) = session.and_then(|s| HeaderValue::from_str(&s).ok()) {
        r.headers_mut().insert(SESSION_HEADER, id);
    }
    r
}

fn error(status: StatusCode, code: i64, message: &str) -> Answer {
    json(status, jsonrpc::error_response(None, code, message), None)
}

fn accepted() -> Answer {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = StatusCode::ACCEPTED;
    r
}

fn method_not_allowed(allow: &'static str, why: &str) -> Answer {
    let mut r = error(
        StatusCode::METHOD_NOT_ALLOWED,
        jsonrpc::INVALID_REQUEST,
        &format!("Method Not Allowed: {why}"),
    );
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// The `Mcp-Session-Id` of a GET or DELETE, or the 400 for its absence.
fn session_header(h: &HeaderMap) -> Result<&str, Box<Answer>> {
    h.get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| {
            Box::new(error(
                StatusCode::BAD_REQUEST,
                jsonrpc::INVALID_REQUEST,
                "Bad Request: Mcp-Session-Id header is required",
            ))
        })
}

fn preflight() -> Answer {
    let mut r = Response::new(Body::Empty);
    *r.status_mut() = StatusCode::NO_CONTENT;
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("content-type, accept, authorization, mcp-session-id, mcp-protocol-version, last-event-id, mcp-method, mcp-name"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("600"),
    );
    r
}

fn cors(h: &mut HeaderMap, origin: HeaderValue) {
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("mcp-session-id, mcp-protocol-version"),
    );
}

pub mod events;
pub mod modern;
mod mrtr;
mod param_headers;
mod sse;

#[cfg(test)]
mod tests;
