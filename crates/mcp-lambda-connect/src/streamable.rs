//! Forwarding to an MCP Streamable HTTP endpoint (2025-03-26 … 2026-07-28).
//!
//! Contract, beyond the crate's:
//! - Each message is one `POST` (`Accept: application/json, text/event-stream`); a JSON answer
//!   is written as one line, an SSE answer event by event as the events arrive (progress, logs
//!   and server→client requests before the answer); the client's answers to those requests are
//!   `POST`ed like any message.
//! - Initialize era: the `Mcp-Session-Id` the endpoint gives the `initialize` answer is sent
//!   with every later message, with `MCP-Protocol-Version` set to the negotiated version. When
//!   the endpoint answers 404 to a message that carried the session (the session expired or
//!   the instance that held it is gone), the client's own `initialize` and `initialized` are
//!   replayed once to open a new session — their answers are not written, the client already
//!   has them — and the message is sent again. With a session, a `GET` stream is held open for
//!   the server's own messages (not when the endpoint answers it 405), resumed with
//!   `Last-Event-ID`; an SSE answer cut before its end is resumed the same way. At the end the
//!   session is ended with `DELETE`.
//! - 2026-07-28 requests (those whose `_meta` names the version) carry `MCP-Protocol-Version`,
//!   `Mcp-Method` and `Mcp-Name`, and a `tools/call` the `Mcp-Param-*` headers its tool declares
//!   with `x-mcp-header` (learned from the `tools/list` answers passing through, at most
//!   `MAX_TOOLS` tools); values are base64-sentinel encoded when not plain visible ASCII.
//! - Credentials: `Authorization: Bearer` read per request, SigV4 (service `lambda`; a 401
//!   or 403 drops the cached credentials and tries once more), or OAuth ([`crate::oauth`]: a
//!   401, or a 403 `insufficient_scope`, gets a new token — refreshed, else signed in — and
//!   the message is sent again, at most twice).
//! - Anything from the endpoint is checked before it is written: JSON (object or array), at
//!   most [`MAX_MESSAGE`] bytes per message; an error status with a
//!   JSON-RPC error for the request is written as the answer, any other as a forward error.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::Value;
use tokio::task::AbortHandle;

use mcp_lambda_core::protocol::{
    META_PROTOCOL_VERSION, METHOD_HEADER, NAME_HEADER, SESSION_HEADER, VERSION_HEADER, name_param,
};

use crate::auth::{BearerSource, Signer};
use crate::client::{Http, backoff, read_bounded};
use crate::forward::{Inbound, Kind, Out, answered_ids};
use crate::oauth::{Challenge, OAuth};
use crate::sse::Parser;
use crate::{ConnectError, Failure, MAX_MESSAGE, Options, excerpt};

/// Largest error body read for its message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// Longest session id or protocol version kept from the endpoint.
const MAX_HEADER_VALUE: usize = 512;
/// Consecutive failures after which the `GET` stream is given up.
const GET_FAILURES: u32 = 5;
/// New tokens (refresh, sign-in, step-up) obtained for one message at most.
const SIGN_INS: u32 = 2;
/// Resumptions of one cut SSE answer.
const RESUMES: u32 = 2;

/// Most tools whose input schemas are kept (for `Mcp-Param-*` headers).
const MAX_TOOLS: usize = 10_000;

/// What to take from an answer besides writing it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Capture {
    Nothing,
    /// The session id and the negotiated version (`initialize`).
    Initialize,
    /// The tools' input schemas (a 2026-07-28 `tools/list` page; `first`: no cursor).
    Tools {
        first: bool,
    },
}

/// How requests are authorized.
pub(crate) enum HttpAuth {
    None,
    Bearer(BearerSource),
    SigV4(Signer),
    OAuth(Box<OAuth>),
}

/// The session as the endpoint and the client set it up.
#[derive(Default)]
struct State {
    /// The endpoint's `Mcp-Session-Id`.
    session: Option<String>,
    /// The negotiated protocol version (initialize era).
    version: Option<String>,
    /// The client's `initialize` (replayed after a 404).
    initialize: Option<Bytes>,
    /// The client's `notifications/initialized` (replayed after it).
    initialized: Option<Bytes>,
    /// The session the `GET` stream was started for.
    listening: Option<String>,
    closed: bool,
}

/// A Streamable HTTP endpoint (see the module docs).
pub struct Streamable {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    http: Http,
    url: Uri,
    host: String,
    auth: HttpAuth,
    state: Mutex<State>,
    renewing: tokio::sync::Mutex<()>,
    listener: Mutex<Option<AbortHandle>>,
    /// Input schemas by tool name, from 2026-07-28 `tools/list` answers.
    schemas: Mutex<std::collections::HashMap<String, Value>>,
    out: Out,
}

/// What to set on one `POST`.
struct Route {
    /// 2026-07-28: (version, method, name).
    modern: Option<(String, String, Option<String>)>,
    /// 2026-07-28 `tools/call`: the `Mcp-Param-*` headers its tool declares.
    params: Vec<(String, String)>,
    idempotent: bool,
    /// The generation of the OAuth token the last attempt carried.
    sent: std::sync::atomic::AtomicU64,
}

impl Route {
    fn of(msg: &Inbound) -> Route {
        let modern = msg.value.get("params").and_then(|p| {
            let version = p
                .get("_meta")?
                .get(META_PROTOCOL_VERSION)?
                .as_str()?
                .to_owned();
            let method = msg.method()?.to_owned();
            let name = name_param(&method)
                .and_then(|f| p.get(f))
                .and_then(Value::as_str)
                .map(str::to_owned);
            Some((version, method, name))
        });
        Route {
            modern,
            params: Vec::new(),
            idempotent: msg.idempotent(),
            sent: Default::default(),
        }
    }
}

/// A header value for `v`: itself when plain visible ASCII, else the 2026-07-28 base64
/// sentinel `=?base64?…?=`.
pub(crate) fn header_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !v.starts_with(' ')
        && !v.ends_with(' ')
        && !v.starts_with("=?base64?");
    if plain {
        v.to_owned()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(v)
        )
    }
}

/// `v` if it is a usable header value from the endpoint (visible ASCII, bounded).
fn token(v: &str) -> Option<String> {
    (!v.is_empty() && v.len() <= MAX_HEADER_VALUE && v.bytes().all(|b| (0x21..0x7f).contains(&b)))
        .then(|| v.to_owned())
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Streamable {
    pub(crate) async fn new(opts: &Options, url: Uri, out: Out) -> Result<Self, ConnectError> {
        let chosen = [opts.bearer.is_some(), opts.sigv4, opts.oauth.is_some()];
        if chosen.iter().filter(|c| **c).count() > 1 {
            return Err(ConnectError::Config(
                "--bearer, --sigv4 and --oauth exclude each other".into(),
            ));
        }
        let auth = match (&opts.bearer, opts.sigv4, &opts.oauth) {
            (_, _, Some(o)) => HttpAuth::OAuth(Box::new(OAuth::new(&url, o.clone())?)),
            (Some(b), _, None) => {
                if let Err(e) = b.token() {
                    tracing::warn!(error = %e, "the bearer token cannot be read yet");
                }
                HttpAuth::Bearer(b.clone())
            }
            (None, true, None) => {
                let region = crate::target::url_region(&url);
                HttpAuth::SigV4(crate::invoke::signer(opts, region).await?)
            }
            (None, false, None) => HttpAuth::None,
        };
        let host = url
            .authority()
            .map(|a| a.as_str().to_owned())
            .ok_or_else(|| ConnectError::Config(format!("{url}: no host")))?;
        Ok(Self {
            inner: std::sync::Arc::new(Inner {
                http: Http::new()?,
                url,
                host,
                auth,
                state: Mutex::new(State::default()),
                renewing: tokio::sync::Mutex::new(()),
                listener: Mutex::new(None),
                schemas: Mutex::new(Default::default()),
                out,
            }),
        })
    }

    /// Forwards one message (see the module docs).
    pub(crate) async fn forward(&self, msg: &Inbound) -> Result<(), Failure> {
        let inner = &self.inner;
        let method = msg.method();
        let is_init = method == Some("initialize");
        if is_init {
            // A new initialize opens a new session: the old one is forgotten.
            let mut st = lock(&inner.state);
            st.initialize = Some(msg.raw.clone());
            st.initialized = None;
            st.session = None;
            st.version = None;
        }
        let mut route = Route::of(msg);
        let capture = match method {
            Some("initialize") => Capture::Initialize,
            Some("tools/list") if route.modern.is_some() => Capture::Tools {
                first: msg.value.pointer("/params/cursor").is_none(),
            },
            _ => Capture::Nothing,
        };
        if route.modern.is_some()
            && method == Some("tools/call")
            && let Some(tool) = msg.value.pointer("/params/name").and_then(Value::as_str)
            && let Some(args) = msg
                .value
                .pointer("/params/arguments")
                .and_then(Value::as_object)
            && let Some(schema) = inner
                .schemas
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(tool)
        {
            route.params = mcp_lambda_core::gateway::client_headers(schema, args);
        }
        let (mut renewed, mut reauthorized, mut signins) = (false, false, 0);
        loop {
            let session = if is_init || route.modern.is_some() {
                None
            } else {
                lock(&inner.state).session.clone()
            };
            let resp = inner
                .post(msg.raw.clone(), &route, session.as_deref())
                .await?;
            let status = resp.status();
            if status == StatusCode::NOT_FOUND && session.is_some() && !renewed {
                renewed = true;
                inner.renew(session).await?;
                Self::listen(inner);
                continue;
            }
            if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN)
                && !reauthorized
                && let HttpAuth::SigV4(s) = &inner.auth
            {
                reauthorized = true;
                s.forget().await;
                continue;
            }
            if let HttpAuth::OAuth(o) = &inner.auth
                && signins < SIGN_INS
            {
                let challenge = Challenge::of(resp.headers());
                let step_up = status == StatusCode::FORBIDDEN
                    && challenge
                        .as_ref()
                        .and_then(|c| c.error.as_deref())
                        .is_some_and(|e| e == "insufficient_scope");
                if status == StatusCode::UNAUTHORIZED || step_up {
                    drop(resp);
                    let used = route.sent.load(std::sync::atomic::Ordering::Relaxed);
                    o.reauthorize(used, challenge, step_up, signins).await?;
                    signins += 1;
                    continue;
                }
            }
            let wanted = msg.request_ids();
            let got = inner.answer(resp, &wanted, true, capture).await?;
            if method == Some("notifications/initialized") {
                lock(&inner.state).initialized = Some(msg.raw.clone());
                Self::listen(inner);
            }
            if msg.kind() == Kind::Response || msg.kind() == Kind::Notification {
                return Ok(());
            }
            return if got.len() >= wanted.len() {
                Ok(())
            } else {
                Err(Failure::BadAnswer(
                    "the endpoint ended its answer stream before answering".into(),
                ))
            };
        }
    }

    /// Starts the `GET` stream for the current session, once per session.
    fn listen(inner: &std::sync::Arc<Inner>) {
        let session = {
            let mut st = lock(&inner.state);
            if st.closed || st.session.is_none() || st.listening == st.session {
                return;
            }
            st.listening = st.session.clone();
            st.session.clone()
        };
        let task = tokio::spawn(Inner::listen(inner.clone(), session));
        let mut l = inner
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = l.replace(task.abort_handle()) {
            old.abort();
        }
    }

    /// Ends the session (`DELETE`, within `within`) and the `GET` stream.
    pub(crate) async fn close(&self, within: Duration) {
        let inner = &self.inner;
        let session = {
            let mut st = lock(&inner.state);
            st.closed = true;
            st.session.take()
        };
        if let Some(l) = inner
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            l.abort();
        }
        let Some(session) = session else { return };
        let version = lock(&inner.state).version.clone();
        let delete = inner.request(
            Method::DELETE,
            Bytes::new(),
            None,
            Some(&session),
            version.as_deref(),
            false,
        );
        match tokio::time::timeout(within, delete).await {
            Ok(Ok(r)) => tracing::debug!(status = %r.status(), "session ended"),
            Ok(Err(e)) => tracing::debug!(error = %e, "session end not delivered"),
            Err(_) => tracing::debug!("session end not answered in time"),
        }
    }
}

impl Inner {
    /// One `POST` of `body`.
    async fn post(
        &self,
        body: Bytes,
        route: &Route,
        session: Option<&str>,
    ) -> Result<http::Response<Incoming>, Failure> {
        let version = match &route.modern {
            Some((v, ..)) => Some(v.clone()),
            None => lock(&self.state).version.clone(),
        };
        self.request(
            Method::POST,
            body,
            Some(route),
            session,
            version.as_deref(),
            route.idempotent,
        )
        .await
    }

    /// Sends one request, signed or with the bearer token, retried as `client` says.
    async fn request(
        &self,
        method: Method,
        body: Bytes,
        route: Option<&Route>,
        session: Option<&str>,
        version: Option<&str>,
        idempotent: bool,
    ) -> Result<http::Response<Incoming>, Failure> {
        self.request_with(method, body, route, session, version, None, idempotent)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn request_with(
        &self,
        method: Method,
        body: Bytes,
        route: Option<&Route>,
        session: Option<&str>,
        version: Option<&str>,
        last_event: Option<&str>,
        idempotent: bool,
    ) -> Result<http::Response<Incoming>, Failure> {
        let build = || {
            let (method, body) = (method.clone(), body.clone());
            async move {
                let mut b = Request::builder()
                    .method(method.clone())
                    .uri(self.url.clone())
                    .header(header::HOST, &self.host);
                if method == Method::POST {
                    b = b
                        .header(header::CONTENT_TYPE, "application/json")
                        .header(header::ACCEPT, "application/json, text/event-stream");
                } else if method == Method::GET {
                    b = b.header(header::ACCEPT, "text/event-stream");
                }
                if let Some(s) = session {
                    b = b.header(SESSION_HEADER, s);
                }
                if let Some(v) = version {
                    b = b.header(VERSION_HEADER, header_value(v));
                }
                if let Some(id) = last_event {
                    b = b.header("last-event-id", header_value(id));
                }
                if let Some((_, m, name)) = route.and_then(|r| r.modern.as_ref()) {
                    b = b.header(METHOD_HEADER, header_value(m));
                    if let Some(n) = name {
                        b = b.header(NAME_HEADER, header_value(n));
                    }
                }
                for (h, v) in route.map(|r| r.params.as_slice()).unwrap_or_default() {
                    b = b.header(h.as_str(), header_value(v));
                }
                match &self.auth {
                    HttpAuth::Bearer(src) => {
                        let t = src.token()?;
                        b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
                    }
                    HttpAuth::OAuth(o) => {
                        let (token, generation) = o.bearer().await;
                        if let Some(r) = route {
                            r.sent
                                .store(generation, std::sync::atomic::Ordering::Relaxed);
                        }
                        if let Some(t) = token {
                            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
                        }
                    }
                    _ => {}
                }
                let mut req = b
                    .body(Full::new(body.clone()))
                    .map_err(|e| Failure::BadAnswer(format!("request: {e}")))?;
                if let HttpAuth::SigV4(s) = &self.auth {
                    s.sign(&mut req, &body).await?;
                }
                Ok(req)
            }
        };
        self.http.send(idempotent, build).await
    }

    /// Reads one answer: writes what it carries (when `write`), returns the ids answered among
    /// `wanted`, and takes what `capture` asks for.
    async fn answer(
        &self,
        resp: http::Response<Incoming>,
        wanted: &[Value],
        write: bool,
        capture: Capture,
    ) -> Result<Vec<Value>, Failure> {
        let is_init = capture == Capture::Initialize;
        let status = resp.status();
        let session = resp
            .headers()
            .get(SESSION_HEADER)
            .and_then(|v| v.to_str().ok())
            .and_then(token);
        let kind = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        if !status.is_success() {
            let body = read_bounded(resp.into_body(), MAX_ERROR_BODY)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&body);
            if let Ok(v) = serde_json::from_slice::<Value>(&body)
                && v.get("error").is_some()
                && !wanted.is_empty()
                && answered_ids(&v).iter().all(|id| wanted.contains(id))
                && !answered_ids(&v).is_empty()
            {
                if write {
                    self.out.message(&body).await;
                }
                return Ok(answered_ids(&v));
            }
            return Err(Failure::Status {
                status: status.as_u16(),
                detail: excerpt(&text, 300),
            });
        }
        if is_init && let Some(s) = &session {
            lock(&self.state).session = Some(s.clone());
        }
        if status == StatusCode::ACCEPTED || status == StatusCode::NO_CONTENT {
            return Ok(Vec::new());
        }
        let mut got = Vec::new();
        if kind.starts_with("text/event-stream") {
            let mut parser = Parser::new(MAX_MESSAGE);
            let mut body = resp.into_body();
            let mut resumes = 0;
            loop {
                let ended = self
                    .events(&mut body, &mut parser, wanted, &mut got, write, capture)
                    .await?;
                if got.len() >= wanted.len() || !ended {
                    break;
                }
                // Cut before the answer: resume from the last event, if the endpoint gave ids.
                let (Some(last), Some(s)) = (
                    parser.last_id().map(str::to_owned),
                    lock(&self.state).session.clone(),
                ) else {
                    break;
                };
                if resumes >= RESUMES {
                    break;
                }
                resumes += 1;
                tracing::info!(last_event = %last, "answer stream cut: resuming");
                let version = lock(&self.state).version.clone();
                let r = self
                    .request_with(
                        Method::GET,
                        Bytes::new(),
                        None,
                        Some(&s),
                        version.as_deref(),
                        Some(&last),
                        true,
                    )
                    .await?;
                if !r.status().is_success() {
                    break;
                }
                body = r.into_body();
            }
        } else if kind.starts_with("application/json") {
            let bytes = read_bounded(resp.into_body(), MAX_MESSAGE).await?;
            self.message(&bytes, wanted, &mut got, write, capture)
                .await?;
        } else {
            return Err(Failure::BadAnswer(format!(
                "the endpoint answered with content type {:?}, not JSON or an event stream",
                excerpt(&kind, 80)
            )));
        }
        Ok(got)
    }

    /// Reads SSE events from `body` until the wanted answers are in (`Ok(false)`) or the stream
    /// ends (`Ok(true)`).
    async fn events(
        &self,
        body: &mut Incoming,
        parser: &mut Parser,
        wanted: &[Value],
        got: &mut Vec<Value>,
        write: bool,
        capture: Capture,
    ) -> Result<bool, Failure> {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Failure::Unreachable(format!("answer stream: {e}")))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let events = parser
                .push(&data)
                .map_err(|e| Failure::BadAnswer(e.to_string()))?;
            for e in events {
                self.message(e.data.as_bytes(), wanted, got, write, capture)
                    .await?;
            }
            if !wanted.is_empty() && got.len() >= wanted.len() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One message from the endpoint: checked, written, its answered ids noted.
    async fn message(
        &self,
        bytes: &[u8],
        wanted: &[Value],
        got: &mut Vec<Value>,
        write: bool,
        capture: Capture,
    ) -> Result<(), Failure> {
        let v: Value = match serde_json::from_slice(bytes) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => v,
            _ => {
                tracing::warn!(
                    message = %excerpt(&String::from_utf8_lossy(bytes), 200),
                    "the endpoint sent something that is not JSON-RPC: dropped"
                );
                return Ok(());
            }
        };
        let mut ours = false;
        for id in answered_ids(&v) {
            if wanted.contains(&id) && !got.contains(&id) {
                got.push(id);
                ours = true;
            }
        }
        if let (Capture::Tools { first }, true) = (capture, ours) {
            self.learn_tools(&v, first);
        }
        if capture == Capture::Initialize
            && let Some(version) = v
                .pointer("/result/protocolVersion")
                .and_then(Value::as_str)
                .and_then(token)
        {
            lock(&self.state).version = Some(version);
        }
        if write {
            self.out.message(bytes).await;
        }
        Ok(())
    }

    /// Keeps the input schemas of a `tools/list` page (at most [`MAX_TOOLS`]).
    fn learn_tools(&self, answer: &Value, first: bool) {
        let Some(tools) = answer.pointer("/result/tools").and_then(Value::as_array) else {
            return;
        };
        let mut schemas = self.schemas.lock().unwrap_or_else(PoisonError::into_inner);
        if first {
            schemas.clear();
        }
        for t in tools {
            if let (Some(name), Some(schema)) = (t["name"].as_str(), t.get("inputSchema"))
                && (schemas.len() < MAX_TOOLS || schemas.contains_key(name))
            {
                schemas.insert(name.to_owned(), schema.clone());
            }
        }
    }

    /// Opens a new session by replaying the client's handshake (`stale`: the session that
    /// expired; nothing is done when another request already replaced it).
    async fn renew(&self, stale: Option<String>) -> Result<(), Failure> {
        let _one = self.renewing.lock().await;
        let (init, initialized) = {
            let mut st = lock(&self.state);
            if st.session != stale {
                return Ok(());
            }
            st.session = None;
            st.version = None;
            (st.initialize.clone(), st.initialized.clone())
        };
        let init = init.ok_or_else(|| {
            Failure::BadAnswer("the endpoint ended the session (404) before any initialize".into())
        })?;
        tracing::info!("the endpoint ended the session: initializing a new one");
        let parsed: Value = serde_json::from_slice(&init).unwrap_or(Value::Null);
        let id = parsed.get("id").cloned().into_iter().collect::<Vec<_>>();
        let route = Route {
            modern: None,
            params: Vec::new(),
            idempotent: true,
            sent: Default::default(),
        };
        let resp = self.post(init, &route, None).await?;
        let got = self.answer(resp, &id, false, Capture::Initialize).await?;
        if got.is_empty() {
            return Err(Failure::BadAnswer(
                "the endpoint did not answer the replayed initialize".into(),
            ));
        }
        if let Some(n) = initialized {
            let session = lock(&self.state).session.clone();
            let resp = self.post(n, &route, session.as_deref()).await?;
            self.answer(resp, &[], false, Capture::Nothing).await?;
        }
        Ok(())
    }

    /// Holds the `GET` stream of `session` open (see the module docs).
    async fn listen(self: std::sync::Arc<Self>, session: Option<String>) {
        let Some(session) = session else { return };
        let mut failures = 0;
        let mut parser = Parser::new(MAX_MESSAGE);
        loop {
            if lock(&self.state).closed || lock(&self.state).session.as_deref() != Some(&session) {
                return;
            }
            let version = lock(&self.state).version.clone();
            let last = parser.last_id().map(str::to_owned);
            let route = Route {
                modern: None,
                params: Vec::new(),
                idempotent: true,
                sent: Default::default(),
            };
            let resp = self
                .request_with(
                    Method::GET,
                    Bytes::new(),
                    Some(&route),
                    Some(&session),
                    version.as_deref(),
                    last.as_deref(),
                    true,
                )
                .await;
            match resp {
                Ok(r) if r.status().is_success() => {
                    failures = 0;
                    let mut body = r.into_body();
                    let mut got = Vec::new();
                    if let Err(e) = self
                        .events(
                            &mut body,
                            &mut parser,
                            &[],
                            &mut got,
                            true,
                            Capture::Nothing,
                        )
                        .await
                    {
                        tracing::debug!(error = %e, "GET stream broke");
                        parser = Parser::new(MAX_MESSAGE);
                    }
                }
                Ok(r) if matches!(r.status().as_u16(), 404 | 405 | 400) => {
                    tracing::debug!(status = %r.status(), "no GET stream");
                    return;
                }
                Ok(r) => {
                    failures += 1;
                    tracing::debug!(status = %r.status(), "GET stream refused");
                    if r.status() == StatusCode::UNAUTHORIZED
                        && let HttpAuth::OAuth(o) = &self.auth
                    {
                        // a new token (or the sign-in under way) before the next try
                        let challenge = Challenge::of(r.headers());
                        drop(r);
                        let used = route.sent.load(std::sync::atomic::Ordering::Relaxed);
                        if let Err(e) = o.reauthorize(used, challenge, false, 0).await {
                            tracing::debug!(error = %e, "GET stream not reauthorized");
                        }
                    }
                }
                Err(e) => {
                    failures += 1;
                    tracing::debug!(error = %e, "GET stream failed");
                }
            }
            if failures >= GET_FAILURES {
                tracing::warn!(
                    "the GET stream failed {GET_FAILURES} times: server messages outside answers are not received"
                );
                return;
            }
            tokio::time::sleep(backoff(failures)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values() {
        assert_eq!(header_value("get_weather"), "get_weather");
        assert_eq!(header_value("file:///a b"), "file:///a b");
        assert_eq!(header_value("naïve"), "=?base64?bmHDr3Zl?=");
        assert_eq!(header_value(" x"), "=?base64?IHg=?=");
        assert_eq!(token("abc-123"), Some("abc-123".into()));
        assert_eq!(token("a b"), None);
        assert_eq!(token(&"x".repeat(MAX_HEADER_VALUE + 1)), None);
    }
}
