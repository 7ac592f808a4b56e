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

/// Serves invocations with `handler` until the runtime stops; a failed Runtime API request
/// starts polling again (more than [`RUNTIME_API_RETRIES`] within [`RUNTIME_API_WINDOW`] end it
/// with the error). On Lambda's SIGTERM (delivered
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
    // A failed request to the Runtime API (a connection the API closed under us, say) ends
    // `lambda_runtime::run`; the children and their warm state are still good, so poll again
    // rather than exit (which would lose every later invocation of this sandbox). Give up only
    // when the API keeps failing.
    let mut failures: Vec<tokio::time::Instant> = Vec::new();
    loop {
        let handler = handler.clone();
        let served = lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
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
        .await;
        let e = match served {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        let now = tokio::time::Instant::now();
        failures.retain(|t| now.duration_since(*t) < RUNTIME_API_WINDOW);
        failures.push(now);
        if failures.len() > RUNTIME_API_RETRIES {
            return Err(e);
        }
        tracing::warn!(error = %e, "Lambda Runtime API request failed; polling again");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Failed Runtime API requests tolerated within [`RUNTIME_API_WINDOW`] before [`run`] gives up.
pub const RUNTIME_API_RETRIES: usize = 5;

/// See [`RUNTIME_API_RETRIES`].
pub const RUNTIME_API_WINDOW: Duration = Duration::from_secs(10);

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
