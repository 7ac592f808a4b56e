//! mcp-lambda's OAuth 2.1 resource server (MCP authorization, 2025-06-18 and later): the
//! [`Authorizer`] the gateway runs before anything reads a request.
//!
//! Contract of [`ResourceServer`]:
//! - **Where the endpoint is** (its resource URI, the audience tokens must carry): the
//!   configured `--oauth-resource`; else the host's [`RequestContext::public_base`] (on Lambda,
//!   from the event's request context, which AWS fills) plus the endpoint path; else, for a
//!   `serve` on loopback, `http://` + the request's `Host` when it names a loopback address with
//!   the listening port. Never from a `Host` a stranger could choose: a token minted for another
//!   resource must not pass by naming that resource's host.
//! - **Metadata** (RFC 9728): `resource`, `authorization_servers`, `scopes_supported`,
//!   `bearer_methods_supported: ["header"]`, served at the well-known path after the endpoint's
//!   public base (`{base}/.well-known/oauth-protected-resource/mcp`, the RFC's form when there
//!   is no prefix), which is also what the challenges' `resource_metadata` names.
//! - **Refusals**, each with `WWW-Authenticate: Bearer resource_metadata="…"` (and `scope="…"`
//!   when scopes are required): no token → 401; a bad token → 401 `error="invalid_token"`; a
//!   token in the query string, two `Authorization` headers → 400 `error="invalid_request"`; a
//!   valid token without a required scope → 403 `error="insufficient_scope"` naming them; the
//!   issuer's keys unreachable with none cached → 503 (fail closed).
//! - **Grant**: principal `oauth:ISSUER|SUBJECT`, the token's scopes. The token goes nowhere.
//! - A token validated once is remembered (by hash) until its `exp`, at most five minutes
//!   ([`cache`]): the signature is checked once per token, not once per request.

pub mod cache;
pub mod fetch;
pub mod keys;
pub mod token;

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{StatusCode, Uri};
use mcp_lambda_core::RequestContext;
use mcp_lambda_core::auth::{Authorizer, Grant, METADATA_PATH, Refusal};
use serde_json::json;

pub use fetch::{FetchError, Fetcher};
pub use keys::{KeyError, Keys};
pub use token::{Claims, TokenError, validate};

/// What the resource server is told at start-up.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The trusted authorization servers' issuer identifiers (exact strings).
    pub issuers: Vec<String>,
    /// The endpoint's canonical URI, when configured.
    pub resource: Option<String>,
    /// Scopes every request needs.
    pub required_scopes: Vec<String>,
    /// Scopes named in the metadata document (the required ones and any a tool needs).
    pub scopes_supported: Vec<String>,
    /// The endpoint's path on this host (`/mcp`).
    pub endpoint_path: String,
    /// `serve` on a loopback address: its port, for deriving the resource from a loopback
    /// `Host`.
    pub loopback_port: Option<u16>,
}

/// Why the resource server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// No issuer.
    #[error("at least one issuer is needed")]
    NoIssuer,
    /// TLS could not be set up.
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// The OAuth resource server (see the crate docs).
pub struct ResourceServer {
    settings: Settings,
    keys: Keys,
    validated: cache::Validated,
}

impl ResourceServer {
    /// A resource server for `settings`; plain-`http` issuers are fetched only when one is
    /// configured (the binary allows that for loopback issuers only).
    pub fn new(settings: Settings) -> Result<Self, SetupError> {
        if settings.issuers.is_empty() {
            return Err(SetupError::NoIssuer);
        }
        let allow_http = settings.issuers.iter().any(|i| i.starts_with("http://"));
        let keys = Keys::new(&settings.issuers, Fetcher::new(allow_http)?);
        Ok(Self {
            settings,
            keys,
            validated: cache::Validated::default(),
        })
    }

    /// Fetches every issuer's metadata and keys now (start-up; Lambda INIT). Returns what
    /// failed; requests then retry, rate-limited, and fail closed meanwhile.
    pub async fn warm(&self) -> Vec<String> {
        self.keys.warm().await
    }

    /// The endpoint's resource URI and its metadata URL for a request (see the crate docs).
    fn locate(&self, headers: &HeaderMap, ctx: &RequestContext) -> Option<(String, String)> {
        let path = self.settings.endpoint_path.trim_end_matches('/');
        if let Some(r) = &self.settings.resource {
            return Some((r.clone(), metadata_url_for(r, path)));
        }
        if let Some(base) = &ctx.public_base {
            let base = base.trim_end_matches('/');
            return Some((
                format!("{base}{path}"),
                format!("{base}{METADATA_PATH}{path}"),
            ));
        }
        let port = self.settings.loopback_port?;
        let host = headers.get(header::HOST)?.to_str().ok()?;
        // `[::1]:8080`, `localhost:8080`, or no port (80).
        let (name, host_port) = match host.rsplit_once(':') {
            Some((n, p)) if !p.contains(']') => (n, p.parse::<u16>().ok()?),
            _ => (host, 80),
        };
        let loopback = matches!(name, "localhost" | "127.0.0.1" | "[::1]");
        if !loopback || host_port != port {
            return None;
        }
        Some((
            format!("http://{host}{path}"),
            format!("http://{host}{METADATA_PATH}{path}"),
        ))
    }

    /// A refusal with the challenge for `metadata_url`.
    fn refuse(
        &self,
        status: StatusCode,
        metadata_url: &str,
        error: Option<(&str, &str)>,
    ) -> Refusal {
        let mut challenge = format!("Bearer resource_metadata=\"{metadata_url}\"");
        let scope = if status == StatusCode::FORBIDDEN {
            None
        } else {
            Some(self.settings.required_scopes.join(" ")).filter(|s| !s.is_empty())
        };
        if let Some(s) = scope {
            challenge.push_str(&format!(", scope=\"{}\"", quoted(&s)));
        }
        let message = match error {
            Some((code, description)) => {
                challenge.push_str(&format!(
                    ", error=\"{code}\", error_description=\"{}\"",
                    quoted(description)
                ));
                format!("Unauthorized: {description}")
            }
            None => "Unauthorized: this endpoint needs an OAuth bearer token (Authorization: Bearer ...)".into(),
        };
        Refusal {
            status,
            challenge: Some(challenge),
            message,
            retry_after: None,
        }
    }
}

#[async_trait]
impl Authorizer for ResourceServer {
    async fn authorize(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        ctx: &RequestContext,
    ) -> Result<Grant, Refusal> {
        let Some((resource, metadata_url)) = self.locate(headers, ctx) else {
            return Err(unlocated());
        };
        let bad_request = |why: &str| {
            self.refuse(
                StatusCode::BAD_REQUEST,
                &metadata_url,
                Some(("invalid_request", why)),
            )
        };
        if uri.query().is_some_and(|q| {
            q.split('&')
                .any(|p| p.split('=').next() == Some("access_token"))
        }) {
            return Err(bad_request(
                "access tokens are accepted only in the Authorization header",
            ));
        }
        let mut values = headers.get_all(header::AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(match headers.get(header::AUTHORIZATION) {
                None => self.refuse(StatusCode::UNAUTHORIZED, &metadata_url, None),
                Some(_) => bad_request("more than one Authorization header"),
            });
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim());
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return Err(self.refuse(StatusCode::UNAUTHORIZED, &metadata_url, None));
        };
        let cached = self.validated.get(&resource, token);
        let claims = match cached {
            Some(c) => Ok(c),
            None => validate(token, &resource, &self.keys).await.inspect(|c| {
                self.validated.put(&resource, token, c);
            }),
        };
        let claims = match claims {
            Ok(c) => c,
            Err(TokenError::Key(KeyError::Unavailable(why))) => {
                // Per request, so at debug: the fetch failure itself is logged once per attempt.
                tracing::debug!(error = %why, "token not checked: no keys");
                return Err(Refusal {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    challenge: None,
                    message: "the authorization server's signing keys cannot be fetched; try again"
                        .into(),
                    retry_after: Some(5),
                });
            }
            Err(e) => {
                return Err(self.refuse(
                    StatusCode::UNAUTHORIZED,
                    &metadata_url,
                    Some(("invalid_token", &e.to_string())),
                ));
            }
        };
        let missing: Vec<&str> = self
            .settings
            .required_scopes
            .iter()
            .filter(|s| !claims.scopes.contains(s))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let needed = self.settings.required_scopes.join(" ");
            let mut r = self.refuse(
                StatusCode::FORBIDDEN,
                &metadata_url,
                Some((
                    "insufficient_scope",
                    &format!("the token lacks scope {}", missing.join(" ")),
                )),
            );
            if let Some(c) = &mut r.challenge {
                c.push_str(&format!(", scope=\"{}\"", quoted(&needed)));
            }
            return Err(r);
        }
        Ok(Grant {
            principal: format!("oauth:{}|{}", claims.issuer, claims.subject),
            scopes: Arc::from(claims.scopes),
        })
    }

    fn insufficient_scope(
        &self,
        headers: &HeaderMap,
        ctx: &RequestContext,
        needed: &[String],
    ) -> Refusal {
        let Some((_, metadata_url)) = self.locate(headers, ctx) else {
            return Refusal {
                status: StatusCode::FORBIDDEN,
                challenge: None,
                message: format!("Forbidden: the token lacks scope {}", needed.join(" ")),
                retry_after: None,
            };
        };
        // Ask for everything this call needs: the scopes of every request and the tool's.
        let mut all = self.settings.required_scopes.clone();
        for s in needed {
            if !all.contains(s) {
                all.push(s.clone());
            }
        }
        let mut r = self.refuse(
            StatusCode::FORBIDDEN,
            &metadata_url,
            Some((
                "insufficient_scope",
                &format!("this tool needs scope {}", needed.join(" ")),
            )),
        );
        if let Some(c) = &mut r.challenge {
            c.push_str(&format!(", scope=\"{}\"", quoted(&all.join(" "))));
        }
        r
    }

    fn metadata(&self, headers: &HeaderMap, ctx: &RequestContext) -> Result<Bytes, Refusal> {
        let Some((resource, _)) = self.locate(headers, ctx) else {
            return Err(unlocated());
        };
        let doc = json!({
            "resource": resource,
            "authorization_servers": self.settings.issuers,
            "scopes_supported": self.settings.scopes_supported,
            "bearer_methods_supported": ["header"],
        });
        Ok(Bytes::from(doc.to_string()))
    }
}

/// The metadata URL of a configured resource URI. When its path ends with the endpoint's path
/// (`https://d/prod/mcp` for `/mcp`), what comes before is the public base the front door
/// removes (an API Gateway stage, a proxy prefix), so the document is served under it:
/// `https://d/prod/.well-known/oauth-protected-resource/mcp` — a URL that reaches this
/// endpoint. Else the well-known path is inserted between the origin and the path (RFC 9728
/// §3.1). Both are the same when there is no prefix.
fn metadata_url_for(resource: &str, endpoint_path: &str) -> String {
    let trimmed = resource.trim_end_matches('/');
    let Some(start) = trimmed.find("://").map(|i| i + 3) else {
        return format!("{trimmed}{METADATA_PATH}");
    };
    let (origin, path) = match trimmed[start..].find('/') {
        Some(slash) => trimmed.split_at(start + slash),
        None => (trimmed, ""),
    };
    let endpoint = endpoint_path.trim_end_matches('/');
    match path.strip_suffix(endpoint) {
        Some(prefix) if !endpoint.is_empty() => {
            format!("{origin}{prefix}{METADATA_PATH}{endpoint}")
        }
        _ => format!("{origin}{METADATA_PATH}{path}"),
    }
}

/// The answer when the endpoint's resource URI cannot be known (a configuration gap, 500).
fn unlocated() -> Refusal {
    Refusal {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        challenge: None,
        message: "this endpoint's resource URI cannot be determined: set --oauth-resource (MCP_LAMBDA_OAUTH_RESOURCE)".into(),
        retry_after: None,
    }
}

/// `s` fit for a quoted-string of a challenge: printable ASCII without `"` and `\`.
fn quoted(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '"' | '\\' => '\'',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests;
