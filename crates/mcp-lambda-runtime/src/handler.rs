//! One invocation: classify the event, call the core gateway, answer in the event's shape.
//!
//! Contract: [`Handler::handle`] never fails and never panics on input — a bad request becomes
//! an HTTP status in the front door's envelope, or a JSON-RPC error for direct Invoke — because
//! an `Err` returned to the runtime turns into a bare 502 at API Gateway. No protocol decisions
//! live here: HTTP events go through [`Gateway::handle`], JSON-RPC events through
//! [`Gateway::rpc`]. Each invocation's deadline is the smaller of the configured request timeout
//! and the invocation's remaining time minus `margin`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Response, header};
use lambda_runtime::Context;
use mcp_lambda_core::{Body, Gateway, RequestContext, Stats, gateway, jsonrpc};
use serde_json::{Value, json};

use crate::agentcore;
use crate::deadline::request_deadline;
use crate::event::{HttpEvent, Inbound, Origin, classify, envelope};
use crate::metrics::emf_line;

/// Settings of the Lambda host.
#[derive(Debug, Clone)]
pub struct HandlerConfig {
    /// The MCP endpoint path (after a REST stage prefix is removed).
    pub path: String,
    /// Time kept back from the invocation's deadline to send the answer.
    pub margin: Duration,
    /// Emit one EMF metrics line per invocation (to stderr).
    pub metrics: bool,
    /// The function's Function URL uses `InvokeMode: RESPONSE_STREAM`: HTTP 2.0 (Function URL)
    /// events are answered as a stream (an SSE body flows as it is produced); other events stay
    /// buffered.
    pub stream: bool,
}

/// An invocation's response: one payload, or (response streaming) the HTTP status and headers
/// followed by the body as it is produced.
#[derive(Debug)]
pub enum Reply {
    /// The whole payload.
    Buffered(Value),
    /// Status and headers first, then the body's chunks.
    Streaming(
        lambda_runtime::MetadataPrelude,
        tokio::sync::mpsc::Receiver<Bytes>,
    ),
}

/// The Lambda host.
pub struct Handler {
    gateway: Arc<Gateway>,
    cfg: HandlerConfig,
    function: String,
}

impl Handler {
    /// A host over `gateway`.
    pub fn new(gateway: Arc<Gateway>, cfg: HandlerConfig) -> Self {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
        Self {
            gateway,
            cfg,
            function,
        }
    }

    /// The gateway (for shutdown).
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }

    /// Handles one invocation of a buffered function; the returned value is the payload.
    pub async fn handle(&self, event: Value, ctx: &Context) -> Value {
        match self.invoke(event, ctx).await {
            Reply::Buffered(v) => v,
            // Only a streaming function answers with a stream.
            Reply::Streaming(prelude, mut rx) => {
                let mut body = Vec::new();
                while let Some(chunk) = rx.recv().await {
                    body.extend_from_slice(&chunk);
                }
                json!({
                    "statusCode": prelude.status_code.as_u16(),
                    "body": String::from_utf8_lossy(&body),
                })
            }
        }
    }

    /// Handles one invocation (see [`HandlerConfig::stream`] for when the reply streams).
    pub async fn invoke(&self, event: Value, ctx: &Context) -> Reply {
        let started = Instant::now();
        let stats = Arc::new(Stats::default());
        let tool = ctx
            .client_context
            .as_ref()
            .and_then(|c| c.custom.get("bedrockAgentCoreToolName"))
            .map(String::as_str);
        let rctx = RequestContext {
            deadline: request_deadline(ctx.deadline, self.cfg.margin, SystemTime::now()),
            principal: None,
            request_id: Some(ctx.request_id.clone()).filter(|s| !s.is_empty()),
            stats: Some(stats.clone()),
            // Only a streaming Function URL event streams (see `http`).
            buffered: true,
            ..Default::default()
        };
        let (source, out) = match classify(event, tool) {
            Inbound::Http(h) => {
                let source = match h.origin {
                    Origin::HttpV2 => "http-v2",
                    Origin::RestV1 => "rest-v1",
                    Origin::Alb { .. } => "alb",
                };
                (source, self.http(*h, rctx).await)
            }
            Inbound::Rpc(body) => ("invoke", Reply::Buffered(self.rpc(&body, rctx).await)),
            Inbound::AgentCore { tool, arguments } => (
                "agentcore",
                Reply::Buffered(agentcore::tool_result(
                    self.gateway.call_tool(&tool, arguments, rctx).await,
                )),
            ),
            Inbound::BadHttp { origin, message } => {
                tracing::warn!(request_id = %ctx.request_id, "{message}");
                let (parts, body) = gateway::bad_request(&message).into_parts();
                let r = Response::from_parts(parts, body.collect().await);
                ("bad-http", Reply::Buffered(envelope(origin, r)))
            }
            Inbound::Unknown(why) => {
                tracing::warn!(request_id = %ctx.request_id, "{why}");
                (
                    "unknown",
                    Reply::Buffered(error_value(jsonrpc::INVALID_REQUEST, &why)),
                )
            }
        };
        if self.cfg.metrics {
            eprintln!(
                "{}",
                emf_line(
                    &self.function,
                    &ctx.request_id,
                    source,
                    &stats,
                    started.elapsed()
                )
            );
        }
        out
    }

    async fn http(&self, h: HttpEvent, mut rctx: RequestContext) -> Reply {
        rctx.principal = h.principal;
        rctx.public_base = h.public_base;
        let streaming = self.cfg.stream && matches!(h.origin, Origin::HttpV2);
        rctx.buffered = !streaming;
        let path = h.request.uri().path().trim_end_matches('/');
        let wanted = self.cfg.path.trim_end_matches('/');
        let answer = if path == wanted {
            self.gateway.handle(h.request, rctx).await
        } else if mcp_lambda_core::auth::is_metadata_path(path, wanted) {
            self.gateway
                .protected_resource_metadata(&h.request, &rctx, &self.cfg.path)
                .await
        } else if path == "/healthz" {
            healthz()
        } else {
            gateway::not_found(&self.cfg.path)
        };
        // The gateway's status and headers as they are; only the body's carriage differs.
        let (parts, body) = answer.into_parts();
        if streaming {
            return Reply::Streaming(prelude(&parts), body.into_chunks());
        }
        let response = Response::from_parts(parts, body.collect().await);
        Reply::Buffered(envelope(h.origin, response))
    }

    async fn rpc(&self, body: &[u8], rctx: RequestContext) -> Value {
        match self.gateway.rpc(body, rctx).await {
            Some(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                error_value(jsonrpc::INTERNAL_ERROR, &format!("unreadable answer: {e}"))
            }),
            None => Value::Null,
        }
    }
}

/// The status and headers a streamed Function URL response starts with (cookies travel in
/// `Set-Cookie` headers of the gateway's answer; it sets none).
fn prelude(parts: &http::response::Parts) -> lambda_runtime::MetadataPrelude {
    lambda_runtime::MetadataPrelude {
        status_code: parts.status,
        headers: parts.headers.clone(),
        cookies: Vec::new(),
    }
}

/// `GET /healthz`'s answer.
fn healthz() -> Response<Body> {
    let mut r = Response::new(Body::Json(Bytes::from_static(br#"{"status":"ok"}"#)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn error_value(code: i64, message: &str) -> Value {
    serde_json::from_slice(&jsonrpc::error_response(None, code, message)).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests;
