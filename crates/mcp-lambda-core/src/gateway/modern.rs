//! The 2026-07-28 (modern, stateless) ladder: the rules a modern request passes (checked while
//! it is classified, `classify`) and the run of a request that passed them.
//!
//! Contract — a modern POST is answered, first rule that applies wins:
//!
//! | input | answer |
//! |---|---|
//! | `MCP-Protocol-Version` sent twice | 400, -32020 (with the request's id when it can be read) |
//! | `MCP-Protocol-Version` not visible ASCII, or a version not served | 400, -32022 with `data.supported` / `data.requested` |
//! | invalid JSON | 400, -32700 |
//! | a batch, a response, not JSON-RPC | 400, -32600 |
//! | a notification | 202 if its `MCP-Protocol-Version` is served, else 400 -32022; never forwarded (2026-07-28 defines no client notifications over HTTP) |
//! | a routing header (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`) sent twice | 400, -32020 |
//! | `params._meta` without `protocolVersion` + `clientCapabilities` | 400, -32602 |
//! | `MCP-Protocol-Version` missing or ≠ `_meta` version; `Mcp-Method` ≠ `method`; `Mcp-Name` ≠ `params.name` / `params.uri` (after `=?base64?…?=` decoding) | 400, -32020 |
//! | version not served | 400, -32022 with `data.supported` / `data.requested` |
//! | a method removed in 2026-07-28 (`initialize`, `ping`, `logging/setLevel`, `resources/subscribe`, …) | 404, -32601 |
//! | `subscriptions/listen` | 404, -32601 (change notifications are not offered) |
//! | `tools/call` whose `Mcp-Param-*` headers disagree with its arguments | 400, -32020 |
//! | anything else | forwarded; the answer's status follows its error code (400 for -32700/-32600/-32602/-32020/-32021/-32022, 404 for -32601, else 200); `tools/call`, `prompts/get` and `resources/read` may end in an `InputRequiredResult` (`mrtr`) |
//!
//! `Mcp-Session-Id` and `Last-Event-ID` are ignored and no session id is ever minted.

use std::sync::Arc;

use base64::Engine;
use http::{HeaderMap, StatusCode};
use serde_json::{Map, Value};

use super::classify::ModernPost;
use super::reject::Rejection;
use super::{Gateway, Outcome, Step, mrtr, param_headers, sse};
use crate::RequestContext;
use crate::era::{self, ModernMeta};
use crate::jsonrpc::{self, Message};
use crate::protocol::{self, METHOD_HEADER, NAME_HEADER, VERSION_HEADER};
use crate::tools;
use crate::upstream::Exchange;

/// Most `tools/list` pages one `tools/call` may cost to learn its `Mcp-Param-*` annotations.
const FETCH_PAGES: usize = 20;

/// The `MCP-Protocol-Version` header as sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VersionHeader<'a> {
    /// Not sent.
    Absent,
    /// Sent more than once (a router and this server could read different values).
    Duplicated,
    /// Not visible ASCII.
    Invalid,
    /// One value, surrounding whitespace removed (RFC 9110 §5.5).
    Value(&'a str),
}

/// Reads the `MCP-Protocol-Version` header.
pub(crate) fn version_header(headers: &HeaderMap) -> VersionHeader<'_> {
    let mut all = headers.get_all(VERSION_HEADER).iter();
    match (all.next(), all.next()) {
        (None, _) => VersionHeader::Absent,
        (Some(_), Some(_)) => VersionHeader::Duplicated,
        (Some(v), None) => match v.to_str() {
            Ok(v) => VersionHeader::Value(v.trim()),
            Err(_) => VersionHeader::Invalid,
        },
    }
}

/// Runs the ladder over one request whose `params` were parsed by the caller (`not_object`:
/// they were present but not an object). `headers` is `None` for callers without HTTP (direct
/// Invoke), which skip the header rungs. Returns the envelope and the params.
pub(crate) fn validate(
    headers: Option<&HeaderMap>,
    msg: &Message,
    params: Option<Map<String, Value>>,
    not_object: bool,
) -> Result<(ModernMeta, Map<String, Value>), Rejection> {
    let id = msg.id();
    if let Some(h) = headers
        && let Some(dup) = [VERSION_HEADER, METHOD_HEADER, NAME_HEADER]
            .into_iter()
            .find(|name| h.get_all(*name).iter().count() > 1)
    {
        return Err(Rejection::header_mismatch(&format!(
            "the {dup} header appears more than once"
        ))
        .with_id(id));
    }
    if not_object {
        return Err(Rejection::invalid_params("params must be an object").with_id(id));
    }
    let meta = match ModernMeta::read(params.as_ref()) {
        Ok(Some(m)) => m,
        Ok(None) => {
            return Err(Rejection::invalid_params(format!(
                "params._meta must carry \"{}\" and \"{}\" (protocol version 2026-07-28 sends them on every request)",
                protocol::META_PROTOCOL_VERSION,
                protocol::META_CLIENT_CAPABILITIES
            ))
            .with_id(id));
        }
        Err(e) => return Err(Rejection::invalid_params(e.0).with_id(id)),
    };
    if let Some(h) = headers {
        check_headers(h, msg, params.as_ref(), &meta).map_err(|r| r.with_id(id))?;
    }
    if !protocol::is_modern(&meta.protocol_version) {
        return Err(Rejection::unsupported_version(&meta.protocol_version).with_id(id));
    }
    let method = msg.method().unwrap_or_default();
    if protocol::REMOVED_IN_MODERN.contains(&method) {
        return Err(Rejection::method_not_found(format!(
            "Method not found: {method} is not part of protocol version {}",
            meta.protocol_version
        ))
        .with_id(id));
    }
    Ok((meta, params.unwrap_or_default()))
}

fn check_headers(
    h: &HeaderMap,
    msg: &Message,
    params: Option<&Map<String, Value>>,
    meta: &ModernMeta,
) -> Result<(), Rejection> {
    // Field values exclude surrounding whitespace (RFC 9110 §5.5).
    let header = |name: &str| h.get(name).map(|v| v.to_str().map(str::trim));
    match header(VERSION_HEADER) {
        None => {
            return Err(Rejection::header_mismatch(
                "the MCP-Protocol-Version header is required and must equal params._meta's protocol version",
            ));
        }
        Some(Ok(v)) if v == meta.protocol_version => {}
        Some(Ok(v)) => {
            return Err(Rejection::header_mismatch(&format!(
                "MCP-Protocol-Version header value '{v}' does not match body value '{}'",
                meta.protocol_version
            )));
        }
        Some(Err(_)) => {
            return Err(Rejection::header_mismatch(
                "MCP-Protocol-Version header is not visible ASCII",
            ));
        }
    }
    let method = msg.method().unwrap_or_default();
    match header(METHOD_HEADER) {
        None => {
            return Err(Rejection::header_mismatch(
                "the Mcp-Method header is required",
            ));
        }
        Some(Ok(v)) if v == method => {}
        Some(Ok(v)) => {
            return Err(Rejection::header_mismatch(&format!(
                "Mcp-Method header value '{v}' does not match body value '{method}'"
            )));
        }
        Some(Err(_)) => {
            return Err(Rejection::header_mismatch(
                "Mcp-Method header is not visible ASCII",
            ));
        }
    }
    if let Some(field) = protocol::name_param(method) {
        let body = params.and_then(|p| p.get(field)).and_then(Value::as_str);
        match (header(NAME_HEADER), body) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(Rejection::header_mismatch(&format!(
                    "the Mcp-Name header is required for {method}"
                )));
            }
            (Some(Err(_)), _) => {
                return Err(Rejection::header_mismatch(
                    "Mcp-Name header contains invalid characters",
                ));
            }
            (Some(Ok(v)), body) => match decode_header_value(v) {
                None => {
                    return Err(Rejection::header_mismatch(
                        "Mcp-Name header carries a malformed base64 value",
                    ));
                }
                Some(decoded) if Some(decoded.as_str()) == body => {}
                Some(decoded) => {
                    return Err(Rejection::header_mismatch(&format!(
                        "Mcp-Name header value '{decoded}' does not match body value '{}'",
                        body.unwrap_or("(absent)")
                    )));
                }
            },
        }
    }
    Ok(())
}

/// Decodes a header value that may use the `=?base64?…?=` sentinel (2026-07-28 "Value
/// Encoding"). `None` for a malformed sentinel (bad base64, non-canonical, not UTF-8), so a
/// corrupt header never matches a body value by accident.
pub(crate) fn decode_header_value(v: &str) -> Option<String> {
    let Some(payload) = v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    else {
        return Some(v.to_owned());
    };
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine.decode(payload).ok()?;
    if engine.encode(&bytes) != payload {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// The HTTP status of a modern answer, from its JSON-RPC error code (200 for results and for
/// errors the spec gives no status).
pub(crate) fn status_for(error: Option<i64>) -> StatusCode {
    match error {
        Some(
            jsonrpc::PARSE_ERROR
            | jsonrpc::INVALID_REQUEST
            | jsonrpc::INVALID_PARAMS
            | jsonrpc::HEADER_MISMATCH
            | jsonrpc::MISSING_REQUIRED_CLIENT_CAPABILITY
            | jsonrpc::UNSUPPORTED_PROTOCOL_VERSION,
        ) => StatusCode::BAD_REQUEST,
        Some(jsonrpc::METHOD_NOT_FOUND) => StatusCode::NOT_FOUND,
        _ => StatusCode::OK,
    }
}

impl Gateway {
    /// Runs a modern request that passed the ladder (see the module docs).
    pub(super) async fn modern(&self, post: ModernPost, ctx: &RequestContext) -> Step {
        let ModernPost {
            msg,
            meta,
            params,
            headers,
            stream,
        } = post;
        let method = msg.method().unwrap_or_default().to_owned();
        if method == "subscriptions/listen" {
            return Err(Rejection::method_not_found(
                "Method not found: subscriptions/listen (change notifications are not offered by this endpoint)",
            )
            .with_id(msg.id()));
        }
        let logging = meta.log_level.is_some();
        let capabilities = meta.client_capabilities.clone();
        let mut ex = self.exchange(ctx, meta.protocol_version.clone());
        ex.modern = Some(Arc::new(meta));
        if let Some(h) = &headers
            && let Err(why) = self.check_param_headers(&ex, &params, h).await
        {
            return Err(Rejection::header_mismatch(&why).with_id(msg.id()));
        }
        // tools/list and server/discover answers are rewritten after the fact: never streamed.
        let streamable = !matches!(method.as_str(), "tools/list" | "server/discover");
        let stream = streamable && stream;
        if stream || mrtr::supports(&method) {
            let (msg, round) = if mrtr::supports(&method) {
                match mrtr::Round::begin(
                    &self.state_sealer,
                    &msg,
                    params,
                    capabilities,
                    ctx.principal.as_deref(),
                ) {
                    mrtr::Begin::Refuse(r) => return Err(r),
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
                asks: crate::child::Asks::NONE,
                logging,
            };
            return sse::answer(self.upstream.clone(), ex, msg, allowed, stream, round, true).await;
        }
        let reply = match self.upstream.request(&ex, &msg).await {
            Ok(reply) => reply,
            Err(e) => super::failed(e, msg.id())?,
        };
        if method == "tools/list" && !params.contains_key("cursor") {
            self.param_headers.learn(&reply.body, true);
        }
        // No change notifications are delivered here (no `subscriptions/listen`): do not let
        // the server's discover promise them.
        let reply = if method == "server/discover" {
            era::discover_for_endpoint(reply)
        } else {
            reply
        };
        Ok(Outcome::Json {
            status: status_for(reply.error),
            body: reply.body,
            session: None,
        })
    }

    /// Validates a modern `tools/call`'s `Mcp-Param-*` headers against its arguments, fetching
    /// the child's `tools/list` (same envelope) when the learned one is missing or stale.
    async fn check_param_headers(
        &self,
        ex: &Exchange,
        params: &Map<String, Value>,
        headers: &HeaderMap,
    ) -> Result<(), String> {
        let Some(tool) = params.get("name").and_then(|n| n.as_str()) else {
            return Ok(());
        };
        let empty = Map::new();
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

    /// Learns the annotations from every `tools/list` page of the child (with the request's
    /// envelope), through the one pager ([`tools::pages`]).
    async fn fetch_tools(&self, ex: &Exchange) {
        if ex.modern.is_none() {
            return;
        }
        let base = tools::list_params(ex);
        let mut first = true;
        let listed = tools::pages(
            FETCH_PAGES,
            |cursor| {
                tools::list_page(
                    self.upstream.as_ref(),
                    ex,
                    "mcp-lambda-tools",
                    base.clone(),
                    cursor,
                )
            },
            |page| {
                let next = self.param_headers.learn(page, first);
                first = false;
                next
            },
        )
        .await;
        if let Err(e) = listed {
            tracing::warn!(error = %e, "Mcp-Param headers checked against what tools/list gave");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_decode() {
        assert_eq!(
            decode_header_value("get_weather").as_deref(),
            Some("get_weather")
        );
        assert_eq!(
            decode_header_value("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(decode_header_value("=?base64?!!!?="), None);
        // Non-canonical: trailing bits set.
        assert_eq!(decode_header_value("=?base64?SGVsbG9=?="), None);
        assert_eq!(decode_header_value("=?base64??=").as_deref(), Some(""));
    }

    #[test]
    fn statuses_follow_error_codes() {
        assert_eq!(status_for(Some(-32601)), StatusCode::NOT_FOUND);
        assert_eq!(status_for(Some(-32602)), StatusCode::BAD_REQUEST);
        assert_eq!(status_for(Some(-32022)), StatusCode::BAD_REQUEST);
        assert_eq!(status_for(Some(-32603)), StatusCode::OK);
        assert_eq!(status_for(Some(-32001)), StatusCode::OK);
        assert_eq!(status_for(None), StatusCode::OK);
    }
}
