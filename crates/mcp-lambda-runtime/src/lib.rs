//! mcp-lambda on AWS Lambda: the front doors and the Runtime API loop.
//!
//! Every event source — Function URL, API Gateway HTTP API (2.0) and REST (1.0), ALB, direct
//! Invoke, Bedrock AgentCore Gateway — is translated by [`event`] and served by the same core
//! [`mcp_lambda_core::Gateway`] as the local server; [`handler::Handler`] holds no protocol logic.
//! [`run`] polls the Runtime API until Lambda shuts the sandbox down, then terminates the children.

pub mod agentcore;
pub mod deadline;
pub mod event;
#[cfg(test)]
mod fixtures;
pub mod handler;
pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
pub use handler::{Handler, HandlerConfig, Reply};
use lambda_runtime::{FunctionResponse, LambdaEvent, StreamResponse, service_fn};
use serde_json::Value;

/// Serves invocations with `handler` until the runtime stops. On Lambda's SIGTERM (delivered
/// through a registered no-op extension) every child's process group is terminated within
/// `shutdown_budget`.
pub async fn run(
    handler: Arc<Handler>,
    shutdown_budget: Duration,
) -> Result<(), lambda_runtime::Error> {
    let on_shutdown = handler.clone();
    lambda_runtime::spawn_graceful_shutdown_handler(move || async move {
        tracing::info!("Lambda is shutting down; stopping MCP server processes");
        let stop = on_shutdown.gateway().upstream().shutdown();
        if tokio::time::timeout(shutdown_budget, stop).await.is_err() {
            tracing::warn!(?shutdown_budget, "children did not stop in time");
        }
    })
    .await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let handler = handler.clone();
        async move {
            let reply = match handler.invoke(event.payload, &event.context).await {
                Reply::Buffered(v) => FunctionResponse::BufferedResponse(v),
                Reply::Streaming(metadata_prelude, rx) => {
                    FunctionResponse::StreamingResponse(StreamResponse {
                        metadata_prelude,
                        stream: BodyStream(rx),
                    })
                }
            };
            Ok::<_, lambda_runtime::Error>(reply)
        }
    }))
    .await
}

/// A streamed response body: the gateway's chunks as they come.
struct BodyStream(tokio::sync::mpsc::Receiver<Bytes>);

impl tokio_stream::Stream for BodyStream {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(Ok))
    }
}
