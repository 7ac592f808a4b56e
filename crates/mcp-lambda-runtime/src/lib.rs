//! mcp-lambda on AWS Lambda: the front doors and the Runtime API loop.
//!
//! Every event source — Function URL, API Gateway HTTP API (2.0) and REST (1.0), ALB, direct
//! Invoke, Bedrock AgentCore Gateway — is translated by [`event`] and served by the same core
//! [`mcp_lambda_core::Gateway`] as the local server; [`handler::Handler`] holds no protocol logic.
//! [`run`] polls the Runtime API until Lambda shuts the sandbox down, then terminates the children.

pub mod deadline;
pub mod event;
#[cfg(test)]
mod fixtures;
pub mod handler;
pub mod metrics;

use std::sync::Arc;
use std::time::Duration;

pub use handler::{Handler, HandlerConfig};
use lambda_runtime::{LambdaEvent, service_fn};
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
            Ok::<Value, lambda_runtime::Error>(handler.handle(event.payload, &event.context).await)
        }
    }))
    .await
}
