//! Tools through the gateway, for hosts that speak in tools rather than JSON-RPC (AgentCore
//! Gateway targets, `agentcore-schema`) and for the gateway's own `Mcp-Param-*` checks: one
//! `tools/list` pager and one `tools/call`.
//!
//! Contract: [`pages`] asks for page after page until a page has no `nextCursor`, at most
//! [`MAX_PAGES`]; [`Gateway::list_tools`] and [`Gateway::call_tool`] run through
//! [`Gateway::rpc`] — the same path as any request — so what they get is what a client would.

use std::future::Future;

use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::gateway::{Gateway, RequestContext};
use crate::protocol;

/// Most `tools/list` pages [`Gateway::list_tools`] follows.
pub const MAX_PAGES: usize = 100;

/// Why the tools could not be listed or called.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ToolsError {
    /// Nothing came back.
    #[error("the server did not answer {0}")]
    NoAnswer(&'static str),
    /// The answer is not a JSON-RPC response.
    #[error("the server's answer to {method} could not be read: {why}")]
    Unreadable {
        /// The method asked.
        method: &'static str,
        /// What was wrong.
        why: String,
    },
    /// A JSON-RPC error (its `error` object).
    #[error("{method} failed: {error}")]
    Failed {
        /// The method asked.
        method: &'static str,
        /// The JSON-RPC error object.
        error: Value,
    },
    /// `nextCursor` never ended.
    #[error("tools/list did not end within {0} pages")]
    TooManyPages(usize),
}

impl ToolsError {
    /// The JSON-RPC error object this failure reads as (code, message, data).
    pub fn to_error_object(&self) -> Value {
        match self {
            ToolsError::Failed { error, .. } => error.clone(),
            other => json!({
                "code": crate::jsonrpc::INTERNAL_ERROR,
                "message": other.to_string(),
            }),
        }
    }
}

/// Pages through `tools/list`: `send(cursor)` asks for one page and gives the response,
/// `on_page(response)` takes it and returns its `nextCursor`. Stops at the first page without
/// a cursor; fails after `max_pages` pages or on the first error.
pub async fn pages<S, F>(
    max_pages: usize,
    mut send: S,
    mut on_page: impl FnMut(&[u8]) -> Option<String>,
) -> Result<(), ToolsError>
where
    S: FnMut(Option<String>) -> F,
    F: Future<Output = Result<Bytes, ToolsError>>,
{
    let mut cursor = None;
    for _ in 0..max_pages {
        let page = send(cursor.take()).await?;
        match on_page(&page) {
            Some(next) => cursor = Some(next),
            None => return Ok(()),
        }
    }
    Err(ToolsError::TooManyPages(max_pages))
}

/// A `tools/list` request for the page after `cursor`, with `params` as the base.
pub(crate) fn list_request(
    id: &str,
    mut params: Map<String, Value>,
    cursor: Option<String>,
) -> Bytes {
    if let Some(c) = cursor {
        params.insert("cursor".into(), Value::from(c));
    }
    let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list", "params": params});
    Bytes::from(body.to_string())
}

/// Sends the wrapper's own `tools/list` for the page after `cursor` through `upstream` on
/// `ex` (its child; `params` from [`list_params`]), giving the answer's bytes.
pub(crate) async fn list_page(
    upstream: &dyn crate::upstream::Upstream,
    ex: &crate::upstream::Exchange,
    id: &str,
    params: Map<String, Value>,
    cursor: Option<String>,
) -> Result<Bytes, ToolsError> {
    let request = list_request(id, params, cursor);
    let msg = match crate::jsonrpc::parse(&request) {
        Ok(crate::jsonrpc::Payload::Single(m)) => m,
        _ => return Err(ToolsError::NoAnswer("tools/list")),
    };
    match upstream.request(ex, &msg).await {
        Ok(reply) => Ok(reply.body),
        Err(e) => Err(ToolsError::Failed {
            method: "tools/list",
            error: json!({"code": e.code(), "message": e.to_string()}),
        }),
    }
}

/// The `params` a `tools/list` of the wrapper's own must carry through `ex`: empty for a legacy
/// exchange; for a modern one, the client's `_meta` envelope (version, capabilities, info).
pub(crate) fn list_params(ex: &crate::upstream::Exchange) -> Map<String, Value> {
    let mut base = Map::new();
    let Some(meta) = &ex.modern else {
        return base;
    };
    let client_info = meta
        .client_info
        .as_ref()
        .and_then(|i| serde_json::from_str::<Value>(i.get()).ok())
        .unwrap_or_else(|| json!({"name": "mcp-lambda", "version": env!("CARGO_PKG_VERSION")}));
    base.insert(
        "_meta".into(),
        json!({
            protocol::META_PROTOCOL_VERSION: meta.protocol_version,
            protocol::META_CLIENT_CAPABILITIES: serde_json::from_str::<Value>(meta.client_capabilities.get()).unwrap_or_default(),
            protocol::META_CLIENT_INFO: client_info,
        }),
    );
    base
}

/// The `result` of a JSON-RPC answer, or why there is none.
fn result_of(method: &'static str, answer: Option<Bytes>) -> Result<Value, ToolsError> {
    let answer = answer.ok_or(ToolsError::NoAnswer(method))?;
    let mut v: Map<String, Value> =
        serde_json::from_slice(&answer).map_err(|e| ToolsError::Unreadable {
            method,
            why: e.to_string(),
        })?;
    if let Some(error) = v.remove("error") {
        return Err(ToolsError::Failed { method, error });
    }
    v.remove("result").ok_or_else(|| ToolsError::Unreadable {
        method,
        why: "neither result nor error".into(),
    })
}

impl Gateway {
    /// Every tool the server lists (all pages), as a client sees them.
    pub async fn list_tools(&self, ctx: &RequestContext) -> Result<Vec<Value>, ToolsError> {
        let mut tools = Vec::new();
        let mut failed = None;
        pages(
            MAX_PAGES,
            |cursor| async move {
                let request = list_request("mcp-lambda-tools", Map::new(), cursor);
                Ok(self.rpc(&request, ctx.clone()).await.unwrap_or_default())
            },
            |page| {
                let answer = (!page.is_empty()).then(|| Bytes::copy_from_slice(page));
                match result_of("tools/list", answer) {
                    Ok(mut result) => {
                        if let Some(Value::Array(t)) = result.get_mut("tools").map(Value::take) {
                            tools.extend(t);
                        }
                        result
                            .get("nextCursor")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    }
                    Err(e) => {
                        failed = Some(e);
                        None
                    }
                }
            },
        )
        .await?;
        match failed {
            Some(e) => Err(e),
            None => Ok(tools),
        }
    }

    /// Calls the tool `name` with `arguments` (`null` → `{}`): its `CallToolResult`, or why
    /// there is none (a JSON-RPC error, the server gone, ...).
    pub async fn call_tool(
        &self,
        name: &str,
        arguments: Value,
        ctx: RequestContext,
    ) -> Result<Value, ToolsError> {
        let arguments = if arguments.is_null() {
            json!({})
        } else {
            arguments
        };
        let call = json!({
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": { "name": name, "arguments": arguments }
        });
        result_of(
            "tools/call",
            self.rpc(call.to_string().as_bytes(), ctx).await,
        )
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn pages_follow_cursors_and_stop_at_the_limit() {
        let mut asked = Vec::new();
        let r = pages(
            MAX_PAGES,
            |c: Option<String>| {
                asked.push(c.clone());
                async move { Ok(Bytes::from(c.unwrap_or_default())) }
            },
            |page| match page {
                b"" => Some("a".into()),
                b"a" => Some("b".into()),
                _ => None,
            },
        )
        .await;
        assert_eq!(r, Ok(()));
        assert_eq!(asked, [None, Some("a".into()), Some("b".into())]);
        let endless = pages(
            MAX_PAGES,
            |_| async { Ok(Bytes::new()) },
            |_| Some("again".into()),
        )
        .await;
        assert_eq!(endless, Err(ToolsError::TooManyPages(MAX_PAGES)));
    }

    #[test]
    fn results_and_errors_are_told_apart() {
        let ok = result_of(
            "tools/list",
            Some(Bytes::from(
                r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}"#,
            )),
        );
        assert_eq!(ok.unwrap(), json!({"tools": []}));
        let err = result_of(
            "tools/call",
            Some(Bytes::from(
                r#"{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"m"}}"#,
            )),
        );
        assert_eq!(err.unwrap_err().to_error_object()["code"], -32601);
        assert_eq!(
            result_of("tools/call", None),
            Err(ToolsError::NoAnswer("tools/call"))
        );
    }
}
