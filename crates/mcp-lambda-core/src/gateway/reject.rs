//! Rejections and failures as values: what went wrong (HTTP status, JSON-RPC code, message, the
//! request's id, optional `data`), turned into bytes only where the answer leaves — an HTTP
//! response in [`Gateway::handle`](super::Gateway::handle), a bare JSON-RPC error in
//! [`Gateway::rpc`](super::Gateway::rpc).
//!
//! Contract: every refusal of the gateway is built by one of the named constructors here, so the
//! same refusal reads the same on every host; the body is always a JSON-RPC error response
//! (standard or MCP codes, never HTTP numbers), with the client's id when it could be read.

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use serde_json::Value;
use serde_json::value::RawValue;

use super::Body;
use crate::jsonrpc::{self, EnvelopeError};
use crate::protocol::SERVED_VERSIONS;

/// A refused request: everything its answer needs, not yet rendered.
#[derive(Debug, Clone)]
pub(crate) struct Rejection {
    /// The HTTP status (hosts without HTTP ignore it).
    pub(crate) status: StatusCode,
    /// The JSON-RPC error code.
    pub(crate) code: i64,
    /// The JSON-RPC error message.
    pub(crate) message: Cow<'static, str>,
    /// The request's id, when it could be read.
    pub(crate) id: Option<Box<RawValue>>,
    /// The error's `data` member.
    pub(crate) data: Option<Value>,
    /// The `Allow` header of a 405.
    pub(crate) allow: Option<&'static str>,
    /// The `Retry-After` header (seconds) of a 503.
    pub(crate) retry_after: Option<u32>,
}

impl Rejection {
    /// A rejection with no id, data or `Allow`.
    pub(crate) fn new(
        status: StatusCode,
        code: i64,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            id: None,
            data: None,
            allow: None,
            retry_after: None,
        }
    }

    /// The same rejection, answering the request with `id`.
    pub(crate) fn with_id(mut self, id: Option<&RawValue>) -> Self {
        self.id = id.map(ToOwned::to_owned);
        self
    }

    /// 403: the `Origin` is not allowed (DNS-rebinding protection). The only 403 the gateway
    /// gives: its answer carries no CORS grant.
    pub(crate) fn forbidden_origin() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            jsonrpc::INVALID_REQUEST,
            "Forbidden: Origin not allowed",
        )
    }

    /// 405 with the endpoint's `Allow` header.
    pub(crate) fn method_not_allowed(allow: &'static str, why: &str) -> Self {
        let mut r = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            jsonrpc::INVALID_REQUEST,
            format!("Method Not Allowed: {why}"),
        );
        r.allow = Some(allow);
        r
    }

    /// 415: the body is not declared `application/json`.
    pub(crate) fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            jsonrpc::INVALID_REQUEST,
            "Unsupported Media Type: Content-Type must be application/json",
        )
    }

    /// 406: the client does not accept what the request would be answered with.
    pub(crate) fn not_acceptable(what: &'static str) -> Self {
        Self::new(StatusCode::NOT_ACCEPTABLE, jsonrpc::INVALID_REQUEST, what)
    }

    /// 413: the body is over the limit. `at_least`: the body was not read whole.
    pub(crate) fn too_large(len: usize, max: usize, at_least: bool) -> Self {
        let message = if at_least {
            format!(
                "Payload Too Large: the body is over the {max}-byte limit (at least {len} bytes)"
            )
        } else {
            format!("Payload Too Large: the body is {len} bytes, the limit is {max}")
        };
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            jsonrpc::INVALID_REQUEST,
            message,
        )
    }

    /// 400: not JSON (-32700) or not JSON-RPC (-32600).
    pub(crate) fn envelope(e: &EnvelopeError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, e.code(), e.to_string())
    }

    /// 400 -32600 with `message`.
    pub(crate) fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, jsonrpc::INVALID_REQUEST, message)
    }

    /// 400 -32602 with `message`.
    pub(crate) fn invalid_params(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, jsonrpc::INVALID_PARAMS, message)
    }

    /// 400 -32020: the routing headers disagree with the body (2026-07-28).
    pub(crate) fn header_mismatch(text: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            jsonrpc::HEADER_MISMATCH,
            format!("Header mismatch: {text}"),
        )
    }

    /// 400 -32022 with `data.supported` / `data.requested`.
    pub(crate) fn unsupported_version(requested: &str) -> Self {
        let mut r = Self::new(
            StatusCode::BAD_REQUEST,
            jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
            "Unsupported protocol version",
        );
        r.data = Some(serde_json::json!({ "supported": SERVED_VERSIONS, "requested": requested }));
        r
    }

    /// 404 -32601 with `message`.
    pub(crate) fn method_not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::NOT_FOUND, jsonrpc::METHOD_NOT_FOUND, message)
    }

    /// 400: a request that needs a session came without `Mcp-Session-Id`.
    pub(crate) fn session_required(initialize_first: bool) -> Self {
        Self::invalid_request(if initialize_first {
            "Bad Request: Mcp-Session-Id header is required (initialize first)"
        } else {
            "Bad Request: Mcp-Session-Id header is required"
        })
    }

    /// 404: the session is unknown, expired, or another principal's.
    pub(crate) fn unknown_session() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            jsonrpc::INVALID_REQUEST,
            "Not Found: unknown or expired session (initialize again)",
        )
    }

    /// 503: the session store failed.
    pub(crate) fn store_unavailable(message: &'static str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            jsonrpc::INTERNAL_ERROR,
            message,
        )
    }

    /// 503: every child process this endpoint may run is busy; retry after a second.
    pub(crate) fn busy(message: String) -> Self {
        let mut r = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            jsonrpc::INTERNAL_ERROR,
            message,
        );
        r.retry_after = Some(1);
        r
    }

    /// 404 for a path that is not the endpoint (hosts' routers).
    pub(crate) fn not_found(endpoint: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            jsonrpc::INVALID_REQUEST,
            format!("Not Found: the MCP endpoint is {endpoint}"),
        )
    }

    /// The JSON-RPC error response.
    pub(crate) fn body(&self) -> Bytes {
        jsonrpc::error_response_with_data(
            self.id.as_deref(),
            self.code,
            &self.message,
            self.data.clone(),
        )
    }

    /// The HTTP answer: the status, `application/json`, the error body (and `Allow`).
    pub(crate) fn into_response(self) -> Response<Body> {
        let body = self.body();
        let mut r = json_response(self.status, body);
        if let Some(allow) = self.allow {
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static(allow));
        }
        if let Some(secs) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        r
    }
}

/// A complete `application/json` answer.
pub(crate) fn json_response(status: StatusCode, body: Bytes) -> Response<Body> {
    let mut r = Response::new(Body::Json(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_rejection_renders_once_with_its_id_and_data() {
        let id = RawValue::from_string("\"q\"".into()).unwrap();
        let r = Rejection::unsupported_version("1900-01-01").with_id(Some(&id));
        let v: Value = serde_json::from_slice(&r.body()).unwrap();
        assert_eq!(v["id"], "q");
        assert_eq!(v["error"]["code"], jsonrpc::UNSUPPORTED_PROTOCOL_VERSION);
        assert_eq!(v["error"]["data"]["requested"], "1900-01-01");
        let answer = Rejection::method_not_allowed("POST", "nope").into_response();
        assert_eq!(answer.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(answer.headers()[header::ALLOW], "POST");
        assert_eq!(answer.headers()[header::CONTENT_TYPE], "application/json");
    }
}
