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
pub mod inflight;
pub mod metrics;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
pub use handler::{Handler, HandlerConfig, Reply};
use inflight::InFlight;
use lambda_runtime::tower::{Layer, Service};
use lambda_runtime::{
    FunctionResponse, LambdaEvent, LambdaInvocation, StreamResponse, layers::TracingLayer,
    service_fn,
};
use serde_json::Value;

/// Invocations Lambda hands this sandbox at once: `AWS_LAMBDA_MAX_CONCURRENCY` (set on Lambda
/// Managed Instances), else 1. Read exactly as lambda_runtime reads it, so that the Tokio
/// runtime chosen for it and lambda_runtime's runner agree (its sequential runner sets a
/// process-wide variable per invocation, which must not happen on several threads).
pub fn max_concurrency() -> u32 {
    std::env::var("AWS_LAMBDA_MAX_CONCURRENCY")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1)
}

/// Serves invocations with `handler` until the runtime stops.
///
/// - With [`max_concurrency`] above 1 (Lambda Managed Instances) that many invocations are
///   polled and served at once, each with its own deadline and its request id on its log
///   lines; they share the gateway's children. Call it on a multi-threaded Tokio runtime then.
/// - An answer the Runtime API does not take is logged and the next invocation is served; a
///   failed poll starts polling again (more than [`RUNTIME_API_RETRIES`] within
///   [`RUNTIME_API_WINDOW`] end it with the error).
/// - On Lambda's SIGTERM (delivered through a registered no-op extension) the invocations in
///   flight get two thirds of `shutdown_budget` to finish (and no new one may have started for
///   20 ms), then every child's process group is terminated within what is left.
pub async fn run(
    handler: Arc<Handler>,
    shutdown_budget: Duration,
) -> Result<(), lambda_runtime::Error> {
    let in_flight = Arc::new(InFlight::default());
    let on_shutdown = handler.clone();
    let draining = in_flight.clone();
    lambda_runtime::spawn_graceful_shutdown_handler(move || async move {
        let started = tokio::time::Instant::now();
        let left = draining.count();
        if !draining
            .drained(shutdown_budget * 2 / 3, SHUTDOWN_QUIET)
            .await
        {
            tracing::warn!(
                in_flight = draining.count(),
                "Lambda is shutting down with invocations still in flight"
            );
        }
        tracing::info!(
            in_flight_at_sigterm = left,
            "Lambda is shutting down; stopping MCP server processes"
        );
        let rest = shutdown_budget.saturating_sub(started.elapsed());
        let stop = on_shutdown.gateway().upstream().shutdown();
        if tokio::time::timeout(rest, stop).await.is_err() {
            tracing::warn!(?shutdown_budget, "children did not stop in time");
        }
    })
    .await;
    // A failed poll of the Runtime API (a connection the API closed under us, say) ends the
    // sequential runner (and, concurrently, a worker whose event cannot be read); the children
    // and their warm state are still good, so poll again rather than exit (which would lose
    // every later invocation of this sandbox). Give up only when the API keeps failing.
    let mut failures: Vec<tokio::time::Instant> = Vec::new();
    loop {
        let handler = handler.clone();
        let service = service_fn(move |event: LambdaEvent<Value>| {
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
        });
        let runtime = lambda_runtime::Runtime::new(service)
            .layer(TracingLayer::new())
            .layer(KeepServing(in_flight.clone()));
        // With concurrency 1 or unset this is lambda_runtime's sequential runner (`run` would
        // also warn, wrongly, that concurrency is not compiled in when Lambda sets it to 1).
        let served = runtime.run_concurrent().await;
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

/// On SIGTERM, how long no invocation must be in flight before the children are stopped (one
/// handed out just before is counted once lambda_runtime has read it).
const SHUTDOWN_QUIET: Duration = Duration::from_millis(20);

/// Failed Runtime API requests tolerated within [`RUNTIME_API_WINDOW`] before [`run`] gives up.
pub const RUNTIME_API_RETRIES: usize = 5;

/// See [`RUNTIME_API_RETRIES`].
pub const RUNTIME_API_WINDOW: Duration = Duration::from_secs(10);

/// The outermost layer:
/// - an invocation counts as in flight from its hand-out until its answer has been posted
///   (a streamed one: its last chunk);
/// - an invocation whose answer the Runtime API did not take (the connection failed while it
///   was posted) is logged, and the runner goes on to the next one. Without this, that error
///   ends the sequential runner and, on a Managed Instance, one of the concurrent workers for
///   good (lambda_runtime starts no new worker until all have ended).
#[derive(Clone)]
struct KeepServing(Arc<InFlight>);

impl<S> Layer<S> for KeepServing {
    type Service = KeepServingService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        KeepServingService(inner, self.0.clone())
    }
}

/// See [`KeepServing`].
#[derive(Clone)]
struct KeepServingService<S>(S, Arc<InFlight>);

impl<S> Service<LambdaInvocation> for KeepServingService<S>
where
    S: Service<LambdaInvocation, Response = (), Error = lambda_runtime::Error>,
    S::Future: Send + 'static,
{
    type Response = ();
    type Error = lambda_runtime::Error;
    type Future = Pin<Box<dyn Future<Output = Result<(), lambda_runtime::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, invocation: LambdaInvocation) -> Self::Future {
        let request_id = invocation.context.request_id.clone();
        let guard = self.1.enter();
        let answered = self.0.call(invocation);
        Box::pin(async move {
            let _in_flight = guard;
            if let Err(e) = answered.await {
                tracing::warn!(
                    request_id,
                    error = %e,
                    "the Runtime API did not take this invocation's answer; serving the next one"
                );
            }
            Ok(())
        })
    }
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
