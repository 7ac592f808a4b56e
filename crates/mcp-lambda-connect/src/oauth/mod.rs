//! `--oauth`: signing in to an OAuth-protected MCP endpoint as the MCP authorization
//! specification (2025-11-25) describes for a client acting for a user — authorization code
//! with PKCE in the system browser, a loopback redirect, tokens kept per endpoint and refreshed.
//!
//! Contract:
//! - The first request goes without a token (or with the cached one). When the endpoint answers
//!   401, `OAuth::reauthorize` first tries the refresh token (once), then signs in:
//!   Protected Resource Metadata from the challenge's `resource_metadata` (else the well-known
//!   URIs), the first authorization server it names, that server's metadata (RFC 8414, then
//!   OpenID Connect Discovery), a client (`--oauth-client-id`, else the one registered before
//!   with this server, else dynamic registration, RFC 7591, as a public client), then the
//!   browser is sent to the authorization endpoint with PKCE (`S256`), a random `state`, the
//!   scopes (the challenge's, else the resource's `scopes_supported`, plus `offline_access` when
//!   the server offers it, so that a refresh token is issued) and `resource` (RFC 8707); the
//!   code from the redirect is exchanged at the token endpoint with the verifier and the same
//!   `resource`. A 403 `insufficient_scope` signs in again with the scopes asked for added to
//!   those held (step-up).
//! - Refreshes and sign-ins take turns, each in a task of its own (a request that gives up
//!   waiting does not cut one short): requests refused together wait for one sign-in and then
//!   use its token; requests whose token is still good do not wait for it. A sign-in that is
//!   not completed within [`LOGIN_WITHIN`] (the whole of it within [`SIGN_IN_WITHIN`]) fails
//!   the requests waiting for it, and those refused within [`FAILED_FOR`] after, with a
//!   JSON-RPC error naming the reason; a later request tries again. A step-up whose sign-in
//!   still lacks the scope asked for fails the same way (no browser opened again and again).
//! - An access token about to expire (within [`EXPIRY_MARGIN`]) is refreshed before use. Before
//!   refreshing or signing in, the cache file is read again: tokens another process wrote
//!   there (and that are not about to expire) are taken instead.
//! - The scope kept is the one granted (the token answer's `scope`, else the one asked for).
//! - Tokens are kept in the cache (`cache`: one private file per endpoint) and only ever sent to the endpoint, in the
//!   `Authorization` header; they, the code and the verifier are never logged. The
//!   authorization URL (no secret in it) is logged so that it can be opened by hand.

pub(crate) mod cache;
pub(crate) mod discovery;
pub(crate) mod loopback;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bytes::Bytes;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use url::Url;

use crate::auth::MAX_TOKEN;
use crate::client::Http;
use crate::{ConnectError, Failure};
use cache::{Client, Entry, Store};
pub(crate) use discovery::Challenge;
use discovery::{ResourceMetadata, ServerMetadata};
use loopback::Loopback;

/// Longest wait for the user to complete the sign-in page.
pub const LOGIN_WITHIN: Duration = Duration::from_secs(5 * 60);
/// An access token expiring within this is refreshed before use.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(60);
/// A sign-in that failed is reported to the requests that waited for it, and to those refused
/// within this time after, without opening the browser again.
pub const FAILED_FOR: Duration = Duration::from_secs(10);
/// Longest a whole sign-in may take (discovery, registration, the user, the code exchange).
pub const SIGN_IN_WITHIN: Duration = Duration::from_secs(LOGIN_WITHIN.as_secs() + 120);
/// Longest wait for one exchange with the authorization server (metadata, registration, token).
pub const EXCHANGE_WITHIN: Duration = Duration::from_secs(30);
/// Largest answer read from the token or registration endpoint.
const MAX_ANSWER: usize = 64 * 1024;
/// The client name registered.
const CLIENT_NAME: &str = "mcp-lambda connect";

/// How to sign in (`--oauth` and the options next to it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthOptions {
    /// A client registered beforehand (a public client, or a Client ID Metadata Document URL);
    /// default: dynamic registration.
    pub client_id: Option<String>,
    /// The loopback port of the redirect URI (0: any free port).
    pub port: u16,
    /// The command that opens the authorization URL (default: the system's).
    pub browser: Option<String>,
    /// Where tokens are kept (default: `$XDG_CACHE_HOME/mcp-lambda/oauth`, else
    /// `$HOME/.cache/mcp-lambda/oauth`).
    pub cache_dir: Option<PathBuf>,
    /// The longest wait for one answer (`--timeout`), to warn when a sign-in cannot fit.
    pub timeout: Duration,
}

/// The tokens held (behind the lock that makes refreshes and sign-ins take turns).
struct Current {
    entry: Option<Entry>,
    /// The access token as last read from or written to the cache file (to tell a newer one
    /// written there by another process).
    disk_token: Option<String>,
    /// The last sign-in that failed: requests refused with the same generation fail with it
    /// for [`FAILED_FOR`] instead of opening the browser again, one after another.
    failed: Option<Failed>,
}

/// A sign-in that failed.
struct Failed {
    generation: u64,
    step_up: bool,
    at: Instant,
    why: Failure,
}

/// What a request needs, readable at once even while a sign-in is under way.
#[derive(Clone, Default)]
struct Snapshot {
    token: Option<String>,
    expires_at: Option<u64>,
    /// Counts the changes of `token`.
    generation: u64,
}

impl Snapshot {
    fn expiring(&self) -> bool {
        self.token.is_some()
            && self
                .expires_at
                .is_some_and(|at| at <= now() + EXPIRY_MARGIN.as_secs())
    }
}

/// OAuth sign-in and tokens for one endpoint (see the module docs).
pub(crate) struct OAuth {
    shared: Arc<Shared>,
}

/// What the sign-in and refresh tasks share.
struct Shared {
    http: Http,
    endpoint: Url,
    /// Plain HTTP is accepted for the authorization server only when the endpoint itself is on
    /// a loopback host (a remote endpoint cannot point the client at local ports).
    local: bool,
    opts: OAuthOptions,
    store: Option<Store>,
    current: tokio::sync::Mutex<Current>,
    snapshot: std::sync::Mutex<Snapshot>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// A random string of `n` bytes, base64url.
fn random(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE `S256` challenge of `verifier` (RFC 7636 §4.2).
fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `t` can be sent in a header as it is.
fn header_safe(t: &str) -> bool {
    !t.is_empty() && t.len() <= MAX_TOKEN && t.bytes().all(|b| b.is_ascii_graphic())
}

/// Scope strings joined, each scope once, in first-seen order.
fn union_scopes<'a>(parts: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let mut seen: Vec<&str> = Vec::new();
    for s in parts.into_iter().flat_map(str::split_whitespace) {
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    (!seen.is_empty()).then(|| seen.join(" "))
}

/// The scopes to ask for (see the module docs).
fn choose_scope(
    challenge: Option<&Challenge>,
    prm: &ResourceMetadata,
    asm: &ServerMetadata,
    held: Option<&str>,
    step_up: bool,
) -> Option<String> {
    let asked = challenge
        .and_then(|c| c.scope.clone())
        .or_else(|| prm.scopes_supported.as_ref().map(|v| v.join(" ")));
    let offline = asm
        .scopes_supported
        .as_ref()
        .is_some_and(|v| v.iter().any(|s| s == "offline_access"))
        .then_some("offline_access");
    let held = held.filter(|_| step_up);
    let wanted = union_scopes(held.into_iter().chain(asked.as_deref()))?;
    union_scopes([wanted.as_str()].into_iter().chain(offline))
}

/// A token endpoint's answer.
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    token_type: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    refresh_token: Option<String>,
    /// The scopes granted, when they differ from those asked for (RFC 6749 §5.1).
    #[serde(default)]
    scope: Option<String>,
}

/// An OAuth error answer.
#[derive(Deserialize)]
struct ErrorAnswer {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
}

/// A registration endpoint's answer.
#[derive(Deserialize)]
struct Registered {
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
}

impl OAuth {
    /// Sign-in for `endpoint`, with the tokens cached for it, if any.
    pub(crate) fn new(endpoint: &http::Uri, opts: OAuthOptions) -> Result<OAuth, ConnectError> {
        let endpoint = Url::parse(&endpoint.to_string())
            .map_err(|e| ConnectError::Config(format!("{endpoint}: {e}")))?;
        let store = opts
            .cache_dir
            .clone()
            .or_else(Store::default_dir)
            .map(Store::new);
        if store.is_none() {
            tracing::warn!("no cache directory (HOME unset): tokens are kept only while running");
        }
        let entry = store
            .as_ref()
            .and_then(|s| s.load(endpoint.as_str()))
            .map(usable);
        if entry.is_some() {
            tracing::debug!("OAuth tokens from the cache");
        }
        if opts.timeout < LOGIN_WITHIN {
            tracing::warn!(
                "--timeout is shorter than the {}s a sign-in may take: a request that needs one fails first (the sign-in completes, and the next request uses its token)",
                LOGIN_WITHIN.as_secs()
            );
        }
        let local = discovery::is_loopback(&endpoint);
        Ok(OAuth {
            shared: Arc::new(Shared {
                http: Http::new()?,
                endpoint,
                local,
                opts,
                store,
                snapshot: std::sync::Mutex::new(Snapshot {
                    token: entry.as_ref().and_then(|e| e.access_token.clone()),
                    expires_at: entry.as_ref().and_then(|e| e.expires_at),
                    generation: 0,
                }),
                current: tokio::sync::Mutex::new(Current {
                    disk_token: entry.as_ref().and_then(|e| e.access_token.clone()),
                    entry,
                    failed: None,
                }),
            }),
        })
    }

    /// The access token to send now (None: none yet) and its generation, without waiting for
    /// a sign-in under way. A token about to expire is refreshed first, in a task of its own (a
    /// request that gives up waiting does not cut it short and lose a rotated refresh token);
    /// while another refresh or a sign-in is under way, the token is sent as it is.
    pub(crate) async fn bearer(&self) -> (Option<String>, u64) {
        let snap = self.shared.snapshot();
        if !snap.expiring() {
            return (snap.token, snap.generation);
        }
        let shared = self.shared.clone();
        match tokio::spawn(shared.refresh_expiring()).await {
            Ok(s) => (s.token, s.generation),
            Err(_) => (snap.token, snap.generation),
        }
    }

    /// After the endpoint refused the token of generation `used` (`challenge`: what it said):
    /// obtains a new one (see the module docs). `attempt` counts the tries for one request;
    /// only the first may use the refresh token. The work runs in a task of its own, so a
    /// sign-in is completed (and its tokens kept) even when the request waiting for it gives up.
    pub(crate) async fn reauthorize(
        &self,
        used: u64,
        challenge: Option<Challenge>,
        step_up: bool,
        attempt: u32,
    ) -> Result<(), Failure> {
        let shared = self.shared.clone();
        tokio::spawn(shared.reauthorize(used, challenge, step_up, attempt))
            .await
            .map_err(|e| Failure::Credentials(format!("sign-in: {e}")))?
    }
}

/// `e` without tokens that cannot be sent as they are (a damaged cache file).
fn usable(mut e: Entry) -> Entry {
    if e.access_token.as_deref().is_some_and(|t| !header_safe(t)) {
        e.access_token = None;
    }
    if e.refresh_token.as_deref().is_some_and(|t| !header_safe(t)) {
        e.refresh_token = None;
    }
    e
}

/// Whether `held` includes every scope of `asked`.
fn holds(held: Option<&str>, asked: Option<&str>) -> bool {
    let held: Vec<&str> = held.unwrap_or_default().split_whitespace().collect();
    asked
        .unwrap_or_default()
        .split_whitespace()
        .all(|s| held.contains(&s))
}

impl Shared {
    fn snapshot(&self) -> Snapshot {
        self.snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Makes `cur`'s token the one requests read, as a new generation.
    fn publish(&self, cur: &Current) {
        let mut snap = self
            .snapshot
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        snap.token = cur.entry.as_ref().and_then(|e| e.access_token.clone());
        snap.expires_at = cur.entry.as_ref().and_then(|e| e.expires_at);
        snap.generation += 1;
    }

    /// Refreshes a token about to expire, unless a refresh or sign-in is under way.
    async fn refresh_expiring(self: Arc<Self>) -> Snapshot {
        let Ok(mut cur) = self.current.try_lock() else {
            return self.snapshot();
        };
        if !self.snapshot().expiring() || self.adopt_newer(&mut cur) {
            return self.snapshot();
        }
        let refreshed = match cur.entry.as_ref() {
            Some(e) if e.refresh_token.is_some() => self.refresh(e).await,
            _ => Err(Failure::Credentials("no refresh token".into())),
        };
        match refreshed {
            Ok(e) => self.keep(&mut cur, e),
            Err(err) => {
                tracing::info!(error = %err, "the access token expires and was not refreshed");
                if let Some(e) = cur.entry.as_mut() {
                    e.access_token = None;
                }
                self.publish(&cur);
            }
        }
        self.snapshot()
    }

    /// Takes the cache file's tokens when another process wrote newer ones that are not about
    /// to expire.
    fn adopt_newer(&self, cur: &mut Current) -> bool {
        let Some(stored) = self
            .store
            .as_ref()
            .and_then(|s| s.load(self.endpoint.as_str()))
            .map(usable)
        else {
            return false;
        };
        let fresh = stored
            .expires_at
            .is_none_or(|at| at > now() + EXPIRY_MARGIN.as_secs());
        if stored.access_token.is_none() || stored.access_token == cur.disk_token || !fresh {
            return false;
        }
        tracing::debug!("newer tokens in the cache");
        cur.disk_token = stored.access_token.clone();
        cur.entry = Some(stored);
        self.publish(cur);
        true
    }

    async fn reauthorize(
        self: Arc<Self>,
        used: u64,
        challenge: Option<Challenge>,
        step_up: bool,
        attempt: u32,
    ) -> Result<(), Failure> {
        let mut cur = self.current.lock().await;
        let snap = self.snapshot();
        let asked = challenge.as_ref().and_then(|c| c.scope.clone());
        let held = cur.entry.as_ref().and_then(|e| e.scope.clone());
        if snap.generation != used
            && snap.token.is_some()
            && (!step_up || holds(held.as_deref(), asked.as_deref()))
        {
            // another request got a new token meanwhile
            return Ok(());
        }
        // Another process using the same cache may have signed in or refreshed.
        if !step_up && self.adopt_newer(&mut cur) {
            return Ok(());
        }
        if let Some(f) = &cur.failed
            && f.generation == snap.generation
            && f.step_up == step_up
            && f.at.elapsed() < FAILED_FOR
        {
            return Err(f.why.clone());
        }
        if attempt == 0
            && !step_up
            && let Some(e) = cur.entry.as_ref().filter(|e| e.refresh_token.is_some())
        {
            match self.refresh(e).await {
                Ok(e) => {
                    self.keep(&mut cur, e);
                    return Ok(());
                }
                Err(err) => tracing::info!(error = %err, "refreshing failed; signing in"),
            }
        }
        let signed = tokio::time::timeout(
            SIGN_IN_WITHIN,
            self.sign_in(cur.entry.as_ref(), challenge.as_ref(), step_up),
        )
        .await
        .unwrap_or_else(|_| {
            Err(Failure::Credentials(format!(
                "the sign-in did not complete within {}s",
                SIGN_IN_WITHIN.as_secs()
            )))
        });
        let result = match signed {
            Ok(entry) => {
                let granted = entry.scope.clone();
                self.keep(&mut cur, entry);
                if step_up && !holds(granted.as_deref(), asked.as_deref()) {
                    Err(Failure::Credentials(format!(
                        "the authorization server did not grant scope {}",
                        crate::excerpt(asked.as_deref().unwrap_or_default(), 200)
                    )))
                } else {
                    Ok(())
                }
            }
            Err(e) => Err(e),
        };
        cur.failed = result.as_ref().err().map(|why| Failed {
            generation: self.snapshot().generation,
            step_up,
            at: Instant::now(),
            why: why.clone(),
        });
        result
    }

    /// Holds `entry` as the current tokens, writes it to the cache and publishes the token.
    fn keep(&self, cur: &mut Current, entry: Entry) {
        if let Some(store) = &self.store {
            match store.save(&entry) {
                Ok(()) => cur.disk_token = entry.access_token.clone(),
                Err(e) => tracing::warn!(error = %e, "the token cache could not be written"),
            }
        }
        cur.entry = Some(entry);
        self.publish(cur);
    }

    /// Discovery, client, browser, code exchange.
    async fn sign_in(
        &self,
        held: Option<&Entry>,
        challenge: Option<&Challenge>,
        step_up: bool,
    ) -> Result<Entry, Failure> {
        let prm =
            discovery::resource_metadata(&self.http, &self.endpoint, challenge, self.local).await?;
        // The server used before, when still named; else the first.
        let issuer = held
            .map(|e| &e.client.issuer)
            .filter(|i| prm.authorization_servers.contains(i))
            .unwrap_or(&prm.authorization_servers[0])
            .clone();
        let asm = discovery::server_metadata(&self.http, &issuer, self.local).await?;
        let scope = choose_scope(
            challenge,
            &prm,
            &asm,
            held.and_then(|e| e.scope.as_deref()),
            step_up,
        );
        let (lb, client) = self.client(held, &issuer, &asm).await?;

        let verifier = random(32);
        let state = random(16);
        let mut url = Url::parse(&asm.authorization_endpoint)
            .map_err(|e| Failure::Credentials(format!("authorization endpoint: {e}")))?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &client.client_id)
                .append_pair("redirect_uri", &client.redirect_uri)
                .append_pair("code_challenge", &pkce_challenge(&verifier))
                .append_pair("code_challenge_method", "S256")
                .append_pair("state", &state)
                .append_pair("resource", &prm.resource);
            if let Some(s) = &scope {
                q.append_pair("scope", s);
                if s.split_whitespace().any(|s| s == "offline_access") {
                    // OpenID Connect issues a refresh token for offline_access only with consent
                    q.append_pair("prompt", "consent");
                }
            }
        }
        tracing::warn!(
            url = %url,
            "sign in to {} in the browser (opening it; if it does not open, open this URL)",
            self.endpoint
        );
        loopback::open_browser(self.opts.browser.as_deref(), url.as_str());
        let cb = lb.wait(&state, LOGIN_WITHIN).await?;
        match &cb.iss {
            Some(iss) if *iss != asm.issuer => {
                return Err(Failure::Credentials(format!(
                    "the sign-in answer came from issuer {iss}, not {}: refused (mix-up?)",
                    asm.issuer
                )));
            }
            None if asm.authorization_response_iss_parameter_supported => {
                return Err(Failure::Credentials(
                    "the sign-in answer lacks the iss its server promises: refused".into(),
                ));
            }
            _ => {}
        }
        let form = [
            ("grant_type", "authorization_code"),
            ("code", cb.code.as_str()),
            ("redirect_uri", client.redirect_uri.as_str()),
            ("client_id", client.client_id.as_str()),
            ("code_verifier", verifier.as_str()),
            ("resource", prm.resource.as_str()),
        ];
        let t = self
            .token_request(&asm.token_endpoint, &form, &client)
            .await?;
        tracing::info!(endpoint = %self.endpoint, "signed in");
        Ok(Entry {
            endpoint: self.endpoint.to_string(),
            resource: prm.resource,
            client,
            token_endpoint: asm.token_endpoint,
            access_token: Some(t.access_token),
            expires_at: t.expires_in.map(|s| now().saturating_add(s)),
            refresh_token: t.refresh_token,
            scope: t.scope.or(scope),
        })
    }

    /// The redirect listener and the client to sign in as: `--oauth-client-id`, else the one
    /// registered with `issuer` before (when its port is free), else a new registration.
    async fn client(
        &self,
        held: Option<&Entry>,
        issuer: &str,
        asm: &ServerMetadata,
    ) -> Result<(Loopback, Client), Failure> {
        let bind = |port: u16| async move {
            Loopback::bind(port).await.map_err(|e| {
                Failure::Credentials(format!(
                    "listening on 127.0.0.1:{port} for the sign-in: {e}"
                ))
            })
        };
        if let Some(id) = &self.opts.client_id {
            let lb = bind(self.opts.port).await?;
            let redirect_uri = lb.redirect_uri();
            return Ok((
                lb,
                Client {
                    issuer: issuer.to_owned(),
                    client_id: id.clone(),
                    client_secret: None,
                    redirect_uri,
                },
            ));
        }
        if let Some(c) = held.map(|e| &e.client).filter(|c| c.issuer == issuer)
            && let Some(port) = Url::parse(&c.redirect_uri).ok().and_then(|u| u.port())
            && (self.opts.port == 0 || self.opts.port == port)
            && let Ok(lb) = Loopback::bind(port).await
        {
            return Ok((lb, c.clone()));
        }
        let Some(registration) = &asm.registration_endpoint else {
            return Err(Failure::Credentials(format!(
                "{issuer} offers no dynamic client registration: register a client for redirect URI http://127.0.0.1:PORT/callback and give --oauth-client-id (and --oauth-port)"
            )));
        };
        let lb = bind(self.opts.port).await?;
        let redirect_uri = lb.redirect_uri();
        let body = serde_json::json!({
            "client_name": CLIENT_NAME,
            "redirect_uris": [redirect_uri],
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
        })
        .to_string();
        let post = ("application/json", Bytes::from(body), None);
        let (status, answer) =
            discovery::exchange(&self.http, registration, Some(post), MAX_ANSWER).await?;
        if !status.is_success() {
            return Err(endpoint_error("client registration", status, &answer));
        }
        let r: Registered = serde_json::from_slice(&answer).map_err(|e| {
            Failure::Credentials(format!("client registration: unexpected answer: {e}"))
        })?;
        if !header_safe(&r.client_id) {
            return Err(Failure::Credentials(
                "client registration: unusable client_id".into(),
            ));
        }
        tracing::info!(issuer, "registered as an OAuth client");
        Ok((
            lb,
            Client {
                issuer: issuer.to_owned(),
                client_id: r.client_id,
                client_secret: r.client_secret,
                redirect_uri,
            },
        ))
    }

    /// New tokens for `e` from its refresh token.
    async fn refresh(&self, e: &Entry) -> Result<Entry, Failure> {
        let Some(rt) = e.refresh_token.as_deref() else {
            return Err(Failure::Credentials("no refresh token".into()));
        };
        let form = [
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", e.client.client_id.as_str()),
            ("resource", e.resource.as_str()),
        ];
        let t = self
            .token_request(&e.token_endpoint, &form, &e.client)
            .await?;
        tracing::debug!("access token refreshed");
        let mut next = e.clone();
        next.access_token = Some(t.access_token);
        next.expires_at = t.expires_in.map(|s| now().saturating_add(s));
        if t.refresh_token.is_some() {
            next.refresh_token = t.refresh_token;
        }
        if t.scope.is_some() {
            next.scope = t.scope;
        }
        Ok(next)
    }

    /// A token request (`form`), authenticated as `client`; the answer checked.
    async fn token_request(
        &self,
        endpoint: &str,
        form: &[(&str, &str)],
        client: &Client,
    ) -> Result<TokenAnswer, Failure> {
        discovery::secure_url("token endpoint", endpoint, self.local)?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let basic = client.client_secret.as_ref().map(|secret| {
            let enc =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", enc(&client.client_id), enc(secret));
            format!("Basic {}", STANDARD.encode(pair))
        });
        let post = (
            "application/x-www-form-urlencoded",
            Bytes::from(body),
            basic,
        );
        let (status, answer) =
            discovery::exchange(&self.http, endpoint, Some(post), MAX_ANSWER).await?;
        if !status.is_success() {
            return Err(endpoint_error("token endpoint", status, &answer));
        }
        let t: TokenAnswer = serde_json::from_slice(&answer)
            .map_err(|e| Failure::Credentials(format!("token endpoint: unexpected answer: {e}")))?;
        if !t.token_type.eq_ignore_ascii_case("bearer") {
            return Err(Failure::Credentials(format!(
                "token endpoint: token type {:?} is not supported (Bearer only)",
                crate::excerpt(&t.token_type, 40)
            )));
        }
        if !header_safe(&t.access_token)
            || t.refresh_token.as_deref().is_some_and(|r| !header_safe(r))
        {
            return Err(Failure::Credentials(
                "token endpoint: a token is empty, too long or not printable ASCII".into(),
            ));
        }
        Ok(t)
    }
}

/// The failure for an error answer of `what`: its OAuth `error` and description when it has
/// them.
fn endpoint_error(what: &str, status: http::StatusCode, body: &[u8]) -> Failure {
    let detail = match serde_json::from_slice::<ErrorAnswer>(body) {
        Ok(e) => format!(
            "{}{}",
            crate::excerpt(&e.error, 80),
            e.error_description
                .map(|d| format!(": {}", crate::excerpt(&d, 200)))
                .unwrap_or_default()
        ),
        Err(_) => crate::excerpt(&String::from_utf8_lossy(body), 200),
    };
    Failure::Credentials(format!("{what}: HTTP {status}: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v = random(32);
        assert_eq!(v.len(), 43);
        assert_ne!(v, random(32));
    }

    fn prm(scopes: Option<&[&str]>) -> ResourceMetadata {
        ResourceMetadata {
            resource: "https://m.example/mcp".into(),
            authorization_servers: vec!["https://as.example".into()],
            scopes_supported: scopes.map(|v| v.iter().map(|s| s.to_string()).collect()),
        }
    }

    fn asm(scopes: Option<&[&str]>) -> ServerMetadata {
        ServerMetadata {
            issuer: "https://as.example".into(),
            authorization_endpoint: "https://as.example/auth".into(),
            token_endpoint: "https://as.example/token".into(),
            registration_endpoint: None,
            scopes_supported: scopes.map(|v| v.iter().map(|s| s.to_string()).collect()),
            code_challenge_methods_supported: Some(vec!["S256".into()]),
            authorization_response_iss_parameter_supported: false,
        }
    }

    #[test]
    fn scopes_follow_the_selection_strategy() {
        let ch = |s: &str| Challenge {
            scope: Some(s.into()),
            ..Default::default()
        };
        // The challenge's scope wins over scopes_supported.
        assert_eq!(
            choose_scope(
                Some(&ch("a")),
                &prm(Some(&["a", "b"])),
                &asm(None),
                None,
                false
            ),
            Some("a".into())
        );
        assert_eq!(
            choose_scope(None, &prm(Some(&["a", "b"])), &asm(None), None, false),
            Some("a b".into())
        );
        assert_eq!(
            choose_scope(None, &prm(None), &asm(None), None, false),
            None
        );
        // offline_access when the server offers it.
        assert_eq!(
            choose_scope(
                Some(&ch("a")),
                &prm(None),
                &asm(Some(&["offline_access", "a"])),
                None,
                false
            ),
            Some("a offline_access".into())
        );
        // Step-up keeps what is held.
        assert_eq!(
            choose_scope(Some(&ch("b c")), &prm(None), &asm(None), Some("a b"), true),
            Some("a b c".into())
        );
        assert_eq!(
            choose_scope(Some(&ch("b")), &prm(None), &asm(None), Some("a"), false),
            Some("b".into())
        );
    }

    #[test]
    fn error_answers_are_reported_shortly() {
        let e = endpoint_error(
            "token endpoint",
            http::StatusCode::BAD_REQUEST,
            br#"{"error":"invalid_grant","error_description":"grant request is invalid"}"#,
        );
        assert_eq!(
            e.to_string(),
            "token endpoint: HTTP 400 Bad Request: invalid_grant: grant request is invalid"
        );
        let e = endpoint_error("x", http::StatusCode::BAD_GATEWAY, &[b'z'; 5000]);
        assert!(e.to_string().len() < 300);
    }
}
