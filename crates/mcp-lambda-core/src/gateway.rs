//! The gateway: MCP Streamable HTTP of both eras on one endpoint — legacy (2025-03-26,
//! 2025-06-18, 2025-11-25: initialize, optional sessions) and modern (2026-07-28: stateless).
//!
//! Contract: [`Gateway::handle`] takes a whole `http::Request<Bytes>` from any host (the local
//! server, a Lambda front door) and returns the answer as an [`http::Response<Body>`];
//! [`Gateway::rpc`] takes a bare JSON-RPC body from a host without HTTP (direct Invoke,
//! AgentCore) and returns the JSON-RPC answer. Neither fails nor panics on client input.
//!
//! One path for every request: **classify** (`classify`: the only reader of the raw request —
//! routing headers, era, the one parse of the body — giving a typed call or a typed
//! `Rejection`) → the era's **ladder** (`legacy` or [`modern`]) → the
//! [`Upstream`] → the child. Rejections and upstream failures stay values until `handle` or
//! `rpc` renders them. The rules, first one that applies wins:
//!
//! | input | answer |
//! |---|---|
//! | `Origin` not allowed | 403 (no CORS grant) |
//! | POST | the rows below |
//! | GET / DELETE with a 2026-07-28 `MCP-Protocol-Version` | 405 |
//! | DELETE | ends the session (200), 404 unknown, 405 when sessions are off or sealed tokens |
//! | GET | a session's SSE stream where sessions are on and the host streams; else 405 |
//! | OPTIONS with an `Origin` | 204 CORS preflight |
//! | other methods | 405 (`Allow` lists what this endpoint offers) |
//! | POST with Content-Type other than `application/json` | 415 |
//! | POST whose `Accept` does not admit `application/json` | 406 |
//! | body over the limit (6 MiB by default, Lambda's payload limit) | 413 |
//! | a legacy `MCP-Protocol-Version`, or none and no protocol version in `params._meta` | the legacy rows below |
//! | anything else (a 2026-07-28 or unknown `MCP-Protocol-Version`, or a `_meta` envelope without the header) | [`modern`]'s table (unknown versions: 400, -32022 with `data.supported`) |
//! | invalid JSON | 400, -32700 |
//! | not JSON-RPC (duplicate envelope members included), batch where the version forbids it, initialize inside a batch | 400, -32600 |
//! | `initialize` | the child's InitializeResult (and `Mcp-Session-Id` with sessions on) |
//! | `server/discover` without the 2026-07-28 envelope | 200 with -32601 (a legacy request; real probes carry `_meta` and get the modern answer) |
//! | missing `Mcp-Session-Id` (sessions on) | 400 |
//! | unknown or expired `Mcp-Session-Id` | 404 |
//! | only notifications / responses | 202, empty body |
//! | requests | 200, `application/json`: one response, or an array for a batch; an SSE stream when the client accepts one and the child sends something for it first |
//!
//! Without HTTP ([`Gateway::rpc`]) the same path runs minus the HTTP rows and sessions: a modern
//! `tools/call`, `prompts/get` or `resources/read` may end in an `InputRequiredResult` there too.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use crate::child::Unrelated;
use crate::session::{Session, SessionStore};
use crate::upstream::{Exchange, Stats, Upstream};
use classify::{Call, Post};
use reject::Rejection;

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
    /// response (or, for a session's GET stream, when the client goes away).
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

    /// The body as a channel of chunks, for a host that streams (a complete body is one chunk).
    pub fn into_chunks(self) -> mpsc::Receiver<Bytes> {
        match self {
            Body::Stream(rx) => rx,
            Body::Json(b) => {
                let (tx, rx) = mpsc::channel(1);
                let _ = tx.try_send(b);
                rx
            }
            Body::Empty => mpsc::channel(1).1,
        }
    }

    /// The whole body, for a host that answers in one piece (a stream is read to its end: the
    /// SSE events one after the other).
    pub async fn collect(self) -> Bytes {
        match self {
            Body::Empty => Bytes::new(),
            Body::Json(b) => b,
            Body::Stream(mut rx) => {
                let mut all = Vec::new();
                while let Some(event) = rx.recv().await {
                    all.extend_from_slice(&event);
                }
                Bytes::from(all)
            }
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
    /// Longest life of a session's GET stream (also ended by the host's deadline, if any): the
    /// client reconnects with `Last-Event-ID`.
    pub get_stream_max: Duration,
    /// Whether the host can stream a response body as it is produced (the local server, a
    /// streaming Lambda): requests whose client accepts `text/event-stream` may then be
    /// answered with an SSE stream carrying the child's notifications and requests.
    pub stream_responses: bool,
    /// Keys sealing 2026-07-28 `requestState` (the first seals, all open): share them between
    /// instances so any instance continues a round; empty = a key of this process only.
    pub state_keys: Vec<[u8; 32]>,
    /// Scopes particular tools need, checked for requests an
    /// [`Authorizer`](crate::auth::Authorizer) granted (403 `insufficient_scope` without them).
    pub tool_scopes: crate::policy::ToolScopes,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            allowed_origins: Vec::new(),
            allow_loopback_origins: true,
            max_body: DEFAULT_MAX_BODY,
            request_timeout: Duration::from_secs(60),
            get_stream_max: Duration::from_secs(300),
            stream_responses: false,
            state_keys: Vec::new(),
            tool_scopes: Default::default(),
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
    /// The host's id for this request (Lambda request id), used in logs — the gateway's and
    /// those of the child serving it.
    pub request_id: Option<String>,
    /// Where the upstream records spawn / initialize costs, if the host wants them.
    pub stats: Option<Arc<Stats>>,
    /// The host buffers this answer (a Lambda event source that cannot stream): a GET stream
    /// is refused with 405 instead of never ending.
    pub buffered: bool,
    /// Where the endpoint is publicly reachable, scheme, host and any path prefix the front
    /// door removed (`https://abc.lambda-url.us-east-1.on.aws`,
    /// `https://id.execute-api.eu-west-1.amazonaws.com/prod`), when the host knows it from a
    /// source the client cannot forge: what an OAuth resource URI is derived from.
    pub public_base: Option<String>,
    /// The scopes the caller's credentials carry, once an [`Authorizer`](crate::auth::Authorizer)
    /// granted the request (`None` without one).
    pub scopes: Option<Arc<[String]>>,
    /// The authorizer already granted this request (set by
    /// [`Gateway::authorize_head`], never by a host itself): `handle` does not check it again.
    pub authorized: bool,
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
    /// Who may call the endpoint, when authorization is on.
    auth: Option<Arc<dyn crate::auth::Authorizer>>,
}

/// What running a request produced, before the host's rendering.
pub(crate) enum Outcome {
    /// A complete JSON answer (and the session it opened, for `Mcp-Session-Id`).
    Json {
        /// The HTTP status.
        status: StatusCode,
        /// The JSON-RPC response (or batch).
        body: Bytes,
        /// A session handle to return.
        session: Option<String>,
    },
    /// An SSE stream.
    Stream(mpsc::Receiver<Bytes>),
    /// Nothing to answer (202).
    Accepted,
    /// Done, no body (200: a session ended).
    Done,
    /// A CORS preflight (204).
    Preflight,
}

impl Outcome {
    /// A 200 JSON answer.
    pub(crate) fn ok(body: Bytes) -> Self {
        Outcome::Json {
            status: StatusCode::OK,
            body,
            session: None,
        }
    }
}

/// A step of the request path: its outcome, or why the request is refused.
pub(crate) type Step = Result<Outcome, Rejection>;

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
            auth: None,
        }
    }

    /// This gateway with every HTTP request authorized by `auth` first (see [`crate::auth`]).
    pub fn with_authorizer(mut self, auth: Arc<dyn crate::auth::Authorizer>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// The answer at a protected resource metadata path ([`crate::auth::is_metadata_path`]):
    /// the document (any `Origin` may read it), a 204 CORS preflight, 405 for other methods,
    /// or 404 when authorization is off.
    pub async fn protected_resource_metadata(
        &self,
        req: &Request<Bytes>,
        ctx: &RequestContext,
        endpoint: &str,
    ) -> Response<Body> {
        let Some(auth) = &self.auth else {
            return not_found(endpoint);
        };
        let mut answer = match *req.method() {
            http::Method::GET | http::Method::HEAD => match auth.metadata(req.headers(), ctx) {
                Ok(doc) => reject::json_response(StatusCode::OK, doc),
                Err(refusal) => refusal.into_response(),
            },
            http::Method::OPTIONS => preflight(),
            _ => Rejection::method_not_allowed("GET", "the metadata document is read with GET")
                .into_response(),
        };
        let h = answer.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        );
        if answer.status() == StatusCode::OK {
            answer.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
        }
        answer
    }

    /// The 403 for a granted POST that calls a tool whose scopes (`--tool-scope`) its token
    /// lacks; `None` when it may go on (no rules, no grant, or every scope held).
    fn check_tool_scopes(
        &self,
        call: &Call,
        headers: Option<&HeaderMap>,
        ctx: &RequestContext,
    ) -> Option<crate::auth::Refusal> {
        let (auth, held, headers) = (self.auth.as_ref()?, ctx.scopes.as_ref()?, headers?);
        let mut needed: Vec<String> = Vec::new();
        let mut missing = false;
        for tool in classify::called_tools(call) {
            for s in self.cfg.tool_scopes.needed(&tool) {
                missing |= !held.contains(&s);
                if !needed.contains(&s) {
                    needed.push(s);
                }
            }
        }
        missing.then(|| auth.insufficient_scope(headers, ctx, &needed))
    }

    /// For a host that reads the body itself: authorizes a request on its head alone, before
    /// the body is read (a stranger then costs nothing). `Err` is the refusal to send; `Ok`
    /// records the grant in `ctx`, and [`handle`](Self::handle) with that context does not
    /// authorize the request again.
    pub async fn authorize_head(
        &self,
        parts: &http::request::Parts,
        ctx: &mut RequestContext,
    ) -> Result<(), Response<Body>> {
        let mut refused = match self
            .authorize(&parts.method, &parts.headers, &parts.uri, ctx)
            .await
        {
            Ok(()) => return Ok(()),
            Err(r) => r,
        };
        if let Some(o) = parts.headers.get(header::ORIGIN) {
            cors(refused.headers_mut(), o.clone());
        }
        Err(refused)
    }

    /// Runs the authorizer on a request that is not a preflight and whose `Origin` (if any) is
    /// allowed, unless `ctx` already carries its grant: `Err` is the refusal's answer.
    async fn authorize(
        &self,
        method: &http::Method,
        headers: &HeaderMap,
        uri: &http::Uri,
        ctx: &mut RequestContext,
    ) -> Result<(), Response<Body>> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        if ctx.authorized || method == http::Method::OPTIONS {
            return Ok(());
        }
        if let Some(o) = headers.get(header::ORIGIN)
            && !self.origin_allowed(o)
        {
            // Refused with 403 by the rules, before any credential is looked at.
            return Ok(());
        }
        match auth.authorize(headers, uri, ctx).await {
            Ok(grant) => {
                ctx.principal = Some(grant.principal);
                ctx.scopes = Some(grant.scopes);
                ctx.authorized = true;
                Ok(())
            }
            Err(refusal) => {
                tracing::debug!(status = refusal.status.as_u16(), reason = %refusal.message, "request not authorized");
                Err(refusal.into_response())
            }
        }
    }

    /// The method of a `notifications/…/list_changed` message, if it is one.
    fn list_changed(message: &[u8]) -> Option<&'static str> {
        const METHODS: [&str; 3] = [
            "notifications/tools/list_changed",
            "notifications/prompts/list_changed",
            "notifications/resources/list_changed",
        ];
        #[derive(serde::Deserialize)]
        struct M<'a> {
            #[serde(borrow)]
            method: Option<std::borrow::Cow<'a, str>>,
        }
        let m: M<'_> = serde_json::from_slice(message).ok()?;
        let method = m.method?;
        METHODS.into_iter().find(|k| *k == method)
    }

    /// Delivers the children's notifications that belong to no request (what a
    /// [`ChildConfig`](crate::ChildConfig)'s `unrelated` channel carries) to the GET streams of
    /// the sessions they belong to — the owning session's only, for a child of one session —
    /// until the channel closes.
    pub fn listen(&self, mut unrelated: mpsc::UnboundedReceiver<Unrelated>) {
        let events = self.events.clone();
        let upstream = self.upstream.clone();
        tokio::spawn(async move {
            while let Some(u) = unrelated.recv().await {
                if let Some(method) = Self::list_changed(&u.message) {
                    upstream.lists_changed(method);
                }
                events.dispatch(u.session.as_deref(), &u.message);
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
    pub async fn handle(&self, req: Request<Bytes>, mut ctx: RequestContext) -> Response<Body> {
        let span = self.span(&ctx);
        async move {
            let origin = req.headers().get(header::ORIGIN).cloned();
            if let Err(mut refused) = self
                .authorize(req.method(), req.headers(), req.uri(), &mut ctx)
                .await
            {
                if let Some(o) = origin {
                    cors(refused.headers_mut(), o);
                }
                return refused;
            }
            let headers = (!self.cfg.tool_scopes.is_empty()).then(|| req.headers().clone());
            let step = match self.classify(req) {
                Ok(call) => {
                    let call = if ctx.buffered { call.buffered() } else { call };
                    if let Some(refused) = self.check_tool_scopes(&call, headers.as_ref(), &ctx) {
                        let mut refused = refused.into_response();
                        if let Some(o) = origin {
                            cors(refused.headers_mut(), o);
                        }
                        return refused;
                    }
                    self.run(call, &ctx).await
                }
                Err(r) => Err(r),
            };
            // A foreign Origin's refusal grants it nothing.
            let foreign = matches!(&step, Err(r) if r.status == StatusCode::FORBIDDEN);
            let mut answer = render(step);
            if let Some(o) = origin.filter(|_| !foreign) {
                cors(answer.headers_mut(), o);
            }
            answer
        }
        .instrument(span)
        .await
    }

    /// Handles a bare JSON-RPC message (or batch) with no HTTP around it: Lambda direct Invoke
    /// and other in-process callers. Same path as [`handle`](Self::handle) minus the HTTP rules
    /// and sessions (see `classify` for the era and version). Returns the response (an array
    /// for a batch), or `None` when nothing answers (only notifications / responses); refusals
    /// come back as JSON-RPC errors.
    pub async fn rpc(&self, body: &[u8], ctx: RequestContext) -> Option<Bytes> {
        let span = self.span(&ctx);
        async move {
            let step = match self.classify_rpc(body) {
                Ok(post) => self.post(post, &ctx).await,
                Err(r) => Err(r),
            };
            match step {
                Ok(Outcome::Json { body, .. }) => Some(body),
                Ok(_) => None,
                Err(r) => Some(r.body()),
            }
        }
        .instrument(span)
        .await
    }

    async fn run(&self, call: Call, ctx: &RequestContext) -> Step {
        match call {
            Call::Preflight => Ok(Outcome::Preflight),
            Call::Get { .. } if ctx.buffered => Err(Rejection::method_not_allowed(
                if self.deletable() {
                    "POST, DELETE"
                } else {
                    "POST"
                },
                "GET: this front door cannot stream (only a RESPONSE_STREAM Function URL carries a GET stream)",
            )),
            Call::Get {
                session,
                last_event_id,
            } => self.get(&session, last_event_id, ctx).await,
            Call::Delete { session } => self.delete(&session, ctx).await,
            Call::Post(post) => self.post(*post, ctx).await,
        }
    }

    async fn post(&self, post: Post, ctx: &RequestContext) -> Step {
        match post {
            Post::Legacy(p) => self.legacy(p, ctx).await,
            Post::Modern(p) => self.modern(p, ctx).await,
            Post::Dropped => Ok(Outcome::Accepted),
        }
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

    /// `true` if this answer may be an SSE stream: the host streams and the client accepts it.
    fn can_stream(&self, headers: &HeaderMap) -> bool {
        self.cfg.stream_responses && accepts_sse(headers)
    }

    /// A session's GET stream: server messages that belong to no request, resumable with
    /// `Last-Event-ID` (see [`events`]).
    async fn get(&self, id: &str, last_event_id: Option<u64>, ctx: &RequestContext) -> Step {
        let session = self.session(id, ctx).await?;
        let until = self.session_until(&session);
        let rx = self
            .events
            .open(&session.id, last_event_id, until)
            .map_err(events::rejection)?;
        let mut ends = Instant::now() + self.cfg.get_stream_max;
        if let Some(d) = ctx.deadline {
            ends = ends.min(d);
        }
        Ok(Outcome::Stream(events::ending_at(rx, ends)))
    }

    /// When `session`, used now, expires (what its GET-stream mailbox lives for).
    fn session_until(&self, session: &Session) -> SystemTime {
        let now = SystemTime::now();
        self.sessions
            .as_ref()
            .map_or(now, |s| s.expires_after_use(session, now))
    }

    async fn delete(&self, id: &str, ctx: &RequestContext) -> Step {
        let session = self.session(id, ctx).await?;
        let Some(store) = &self.sessions else {
            return Err(Rejection::unknown_session());
        };
        match store.delete(id, &session).await {
            Ok(false) => Err(Rejection::unknown_session()),
            Ok(true) => {
                self.upstream.end_session(&session.id).await;
                self.events.end(&session.id);
                tracing::info!(session = %&session.id[..session.id.len().min(8)], "session closed by the client");
                Ok(Outcome::Done)
            }
            Err(e) => {
                tracing::error!(error = %e, "session store failed");
                Err(Rejection::store_unavailable(
                    "session store unavailable; try again",
                ))
            }
        }
    }

    /// The exchange of a request: its version, session and deadline.
    fn exchange(&self, ctx: &RequestContext, protocol_version: String) -> Exchange {
        Exchange {
            protocol_version,
            session_id: None,
            init_params: None,
            deadline: self.deadline(ctx),
            stats: ctx.stats.clone().unwrap_or_default(),
            modern: None,
            sink: None,
            request_id: ctx.request_id.as_deref().map(Arc::from),
            batch: None,
        }
    }

    fn deadline(&self, ctx: &RequestContext) -> Instant {
        let configured = Instant::now() + self.cfg.request_timeout;
        match ctx.deadline {
            Some(d) if d < configured => d,
            _ => configured,
        }
    }
}

/// An upstream failure as the client's answer: its JSON-RPC error — or, when every child
/// process is busy, the 503 refusal (with `Retry-After`).
pub(crate) fn failed(
    e: crate::upstream::UpstreamError,
    id: Option<&serde_json::value::RawValue>,
) -> Result<crate::upstream::Reply, Rejection> {
    match e {
        crate::upstream::UpstreamError::Busy(_) => Err(Rejection::busy(e.to_string()).with_id(id)),
        e => Ok(e.reply(id)),
    }
}

/// Renders a step as the HTTP answer (the only place an answer becomes a response).
fn render(step: Step) -> Response<Body> {
    let empty = |status: StatusCode| {
        let mut r = Response::new(Body::Empty);
        *r.status_mut() = status;
        r
    };
    match step {
        Err(rejection) => rejection.into_response(),
        Ok(Outcome::Json {
            status,
            body,
            session,
        }) => {
            let mut r = reject::json_response(status, body);
            if let Some(id) = session.and_then(|s| HeaderValue::from_str(&s).ok()) {
                r.headers_mut().insert(crate::protocol::SESSION_HEADER, id);
            }
            r
        }
        Ok(Outcome::Stream(rx)) => sse::sse(rx),
        Ok(Outcome::Accepted) => empty(StatusCode::ACCEPTED),
        Ok(Outcome::Done) => empty(StatusCode::OK),
        Ok(Outcome::Preflight) => preflight(),
    }
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

fn preflight() -> Response<Body> {
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
        HeaderValue::from_static("mcp-session-id, mcp-protocol-version, www-authenticate"),
    );
}

/// The answer for a path that is not the MCP endpoint, the same on every host.
pub fn not_found(endpoint: &str) -> Response<Body> {
    Rejection::not_found(endpoint).into_response()
}

/// The answer for an HTTP request a host could not read (a malformed Lambda event, ...), the
/// same on every host: 400 with a JSON-RPC -32600 naming what was wrong.
pub fn bad_request(message: &str) -> Response<Body> {
    Rejection::invalid_request(message.to_owned()).into_response()
}

/// The answer for a request body that did not arrive within `limit` (408), the same on every
/// host.
pub fn slow_body(limit: Duration) -> Response<Body> {
    Rejection::new(
        StatusCode::REQUEST_TIMEOUT,
        crate::jsonrpc::INVALID_REQUEST,
        format!("Request Timeout: the body did not arrive within {limit:?}"),
    )
    .into_response()
}

/// The answer for a body over `max` bytes that was not read whole (at least `seen` bytes), the
/// same on every host.
pub fn too_large(seen: usize, max: usize) -> Response<Body> {
    Rejection::too_large(seen, max, true).into_response()
}

mod classify;
pub mod events;
mod legacy;
pub mod modern;
pub(crate) mod mrtr;
mod param_headers;
pub use param_headers::client_headers;
mod reject;
pub(crate) mod sse;

#[cfg(test)]
mod tests;
