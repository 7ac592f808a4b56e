//! The local host: an HTTP/1.1 server (axum) in front of the gateway.
//!
//! Contract: `POST|GET|DELETE|OPTIONS <path>` go to the gateway unchanged and its answer is
//! copied out as it is (status, headers, body or stream); `GET /healthz` answers 200 while the
//! server runs; anything else is the core's 404. Bodies over the limit are refused with the
//! core's 413 before they are read whole. On SIGINT/SIGTERM the listener stops accepting, in-flight
//! requests finish (bounded by the request timeout), then every child is terminated.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use mcp_lambda_core::{Body, Gateway, RequestContext, gateway};
use tokio::net::TcpListener;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

#[derive(Clone)]
struct App {
    gateway: Arc<Gateway>,
    max_body: usize,
    path: Arc<str>,
}

/// Serves `gateway` on `listener` at `path` until SIGINT/SIGTERM, then shuts down gracefully.
pub(crate) async fn run(
    listener: TcpListener,
    path: &str,
    gateway: Arc<Gateway>,
    max_body: usize,
    drain: Duration,
) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route(path, any(mcp))
        .fallback(not_found)
        .with_state(App {
            gateway: gateway.clone(),
            max_body,
            path: Arc::from(path),
        });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let mut stopping = stop_rx.clone();
    tokio::select! {
        r = server.into_future() => r.context("HTTP server failed")?,
        _ = async {
            let _ = stopping.wait_for(|s| *s).await;
            tokio::time::sleep(drain).await;
        } => tracing::warn!(?drain, "in-flight requests did not finish in time; stopping anyway"),
    }
    tracing::info!("stopping MCP server processes");
    gateway.upstream().shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}

async fn healthz() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        "{\"status\":\"ok\"}",
    )
}

async fn not_found(State(app): State<App>) -> Response {
    copy_out(gateway::not_found(&app.path))
}

async fn mcp(State(app): State<App>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > app.max_body
    {
        drain(body, app.max_body).await;
        return too_large(len, app.max_body);
    }
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let Ok(chunk) = chunk else {
            return (StatusCode::BAD_REQUEST, "could not read the request body\n").into_response();
        };
        if buf.len() + chunk.len() > app.max_body {
            let seen = buf.len() + chunk.len();
            drain(AxumBody::from_stream(stream), app.max_body).await;
            return too_large(seen, app.max_body);
        }
        buf.extend_from_slice(&chunk);
    }
    let bytes = Bytes::from(buf);
    let answer = app
        .gateway
        .handle(
            http::Request::from_parts(parts, bytes),
            RequestContext::default(),
        )
        .await;
    copy_out(answer)
}

/// The gateway's answer as axum's: status and headers as they are, the body or stream copied.
fn copy_out(answer: http::Response<Body>) -> Response {
    let (parts, body) = answer.into_parts();
    let body = match body {
        Body::Empty => AxumBody::empty(),
        Body::Json(b) => AxumBody::from(b),
        Body::Stream(rx) => {
            AxumBody::from_stream(ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>))
        }
    };
    Response::from_parts(parts, body)
}

/// Reads and discards what is left of an over-limit body (up to a bound), so the client, still
/// sending, gets our 413 rather than a reset connection.
async fn drain(body: AxumBody, max: usize) {
    let bound = max.saturating_mul(4).max(16 * 1024 * 1024);
    let mut seen = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        seen += chunk.len();
        if seen > bound {
            break;
        }
    }
}

fn too_large(len: usize, max: usize) -> Response {
    let mut r = copy_out(gateway::too_large(len, max));
    // The rest of the body is not read: the connection cannot be reused.
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}
