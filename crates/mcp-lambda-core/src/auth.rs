//! Authorization at the edge: the hook an OAuth resource server (crate `mcp-lambda-oauth`)
//! plugs into the gateway, so identity is established once, before routing, on every host.
//!
//! Contract: with an [`Authorizer`] set ([`Gateway::with_authorizer`](crate::Gateway::with_authorizer)),
//! every HTTP request to the endpoint except a CORS preflight (and a foreign `Origin`, which is
//! refused 403 first) is authorized before it is read: a [`Grant`] becomes the request's
//! principal and scopes, a [`Refusal`] is the answer (401 / 403 / 400 / 503 with its
//! `WWW-Authenticate` challenge and a JSON-RPC error body). Credentials stop here: nothing of the
//! `Authorization` header reaches an upstream. The protected resource metadata document (RFC
//! 9728) is served by [`Gateway::protected_resource_metadata`](crate::Gateway::protected_resource_metadata)
//! at the paths [`is_metadata_path`] names.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderValue};
use http::{StatusCode, Uri};

use crate::gateway::{Body, RequestContext};
use crate::jsonrpc;

/// The well-known path of RFC 9728 Protected Resource Metadata.
pub const METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// Who the caller is and what it may do, as its credentials say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The principal sessions and MRTR state bind to (e.g. `oauth:ISSUER|SUBJECT`).
    pub principal: String,
    /// The scopes the credentials carry.
    pub scopes: Arc<[String]>,
}

/// A request the authorizer refused: everything its answer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 401 (no or bad credentials), 403 (insufficient scope), 400 (malformed), 503 (the
    /// authorization server cannot be reached and nothing cached decides).
    pub status: StatusCode,
    /// The `WWW-Authenticate` header value, when the status calls for one.
    pub challenge: Option<String>,
    /// What was wrong (the JSON-RPC error message of the body; never the token).
    pub message: String,
    /// `Retry-After` seconds (503).
    pub retry_after: Option<u32>,
}

impl Refusal {
    /// The HTTP answer: the status, the challenge, and a JSON-RPC error body (-32600 for
    /// refusals of the client's credentials, -32603 for a 5xx).
    pub fn into_response(self) -> http::Response<Body> {
        let code = if self.status.is_server_error() {
            jsonrpc::INTERNAL_ERROR
        } else {
            jsonrpc::INVALID_REQUEST
        };
        let body = jsonrpc::error_response(None, code, &self.message);
        let mut r = http::Response::new(Body::Json(body));
        *r.status_mut() = self.status;
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        if let Some(v) = self
            .challenge
            .as_deref()
            .and_then(|c| HeaderValue::from_str(c).ok())
        {
            h.insert(header::WWW_AUTHENTICATE, v);
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

/// Decides who may call the endpoint (see the module docs).
#[async_trait]
pub trait Authorizer: Send + Sync {
    /// Checks the credentials of one request to the endpoint (its headers and URI; the host's
    /// context says where the endpoint is publicly reachable).
    async fn authorize(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        ctx: &RequestContext,
    ) -> Result<Grant, Refusal>;

    /// The RFC 9728 metadata document (JSON) of the endpoint as this request reached it.
    fn metadata(&self, headers: &HeaderMap, ctx: &RequestContext) -> Result<Bytes, Refusal>;

    /// The 403 `insufficient_scope` answer for a granted request that needs `needed` (all the
    /// scopes to ask for) to do what it asks (a tool with its own scopes).
    fn insufficient_scope(
        &self,
        headers: &HeaderMap,
        ctx: &RequestContext,
        needed: &[String],
    ) -> Refusal;
}

/// Whether `path` is one of the protected resource metadata paths of the endpoint at
/// `endpoint`: the well-known path itself, or it followed by the endpoint's path (RFC 9728 §3.1
/// inserts the resource's path after the well-known one).
pub fn is_metadata_path(path: &str, endpoint: &str) -> bool {
    let path = path.trim_end_matches('/');
    match path.strip_prefix(METADATA_PATH) {
        Some("") => true,
        Some(rest) => rest == endpoint.trim_end_matches('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_paths() {
        assert!(is_metadata_path(
            "/.well-known/oauth-protected-resource",
            "/mcp"
        ));
        assert!(is_metadata_path(
            "/.well-known/oauth-protected-resource/mcp",
            "/mcp"
        ));
        assert!(is_metadata_path(
            "/.well-known/oauth-protected-resource/mcp/",
            "/mcp"
        ));
        assert!(!is_metadata_path(
            "/.well-known/oauth-protected-resource/other",
            "/mcp"
        ));
        assert!(!is_metadata_path(
            "/.well-known/oauth-protected-resourcex",
            "/mcp"
        ));
        assert!(!is_metadata_path("/mcp", "/mcp"));
    }

    #[test]
    fn refusals_carry_their_challenge() {
        let r = Refusal {
            status: StatusCode::UNAUTHORIZED,
            challenge: Some(
                r#"Bearer resource_metadata="https://x/.well-known/oauth-protected-resource/mcp""#
                    .into(),
            ),
            message: "Unauthorized: no bearer token".into(),
            retry_after: None,
        }
        .into_response();
        assert_eq!(r.status(), 401);
        assert!(
            r.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap_or_default()
                .starts_with("Bearer resource_metadata=")
        );
    }
}
