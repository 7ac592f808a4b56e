//! The local host: an HTTP/1.1 server (axum's router on hyper's connection) in front of the
//! gateway, fit to face the internet.
//!
//! Contract: `POST|GET|DELETE|OPTIONS <path>` go to the gateway unchanged and its answer is
//! copied out as it is (status, headers, body or stream); `GET /healthz` answers 200 while the
//! server runs; the OAuth protected resource metadata paths go to the gateway's document;
//! anything else is the core's 404. With authorization on, a request whose head fails it is
//! answered before its body is read. Bodies over the limit are refused with the
//! core's 413 before they are read whole. What a connection may take is bounded
//! ([`ConnectionLimits`]): a request head must arrive whole within the header timeout, counted
//! from when the server starts waiting for it (so idle keep-alive connections end too), a body
//! within the body timeout (else 408), and at most `max_connections` are open at once (more
//! wait to be accepted). On SIGINT/SIGTERM the listener stops accepting, in-flight requests
//! finish (bounded by the request timeout), then every child is terminated.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body as AxumBody;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use mcp_lambda_core::{Body, Gateway, RequestContext, auth, gateway};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use crate::config::ConnectionLimits;

#[derive(Clone)]
struct App {
    gateway: Arc<Gateway>,
    max_body: usize,
    body_timeout: Duration,
    path: Arc<str>,
}

/// Serves `gateway` on `listener` at `path` until SIGINT/SIGTERM, then shuts down gracefully
/// (in-flight requests get `drain` to finish).
pub(crate) async fn run(
    listener: TcpListener,
    path: &str,
    gateway: Arc<Gateway>,
    max_body: usize,
    limits: ConnectionLimits,
    drain: Duration,
) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/healthz", get(healthz))
        .route(path, any(mcp))
        .route(auth::METADATA_PATH, any(metadata))
        .route(&format!("{}{path}", auth::METADATA_PATH), any(metadata))
        .fallback(not_found)
        .with_state(App {
            gateway: gateway.clone(),
            max_body,
            body_timeout: limits.body_timeout,
            path: Arc::from(path),
        });
    let service = TowerToHyperService::new(app);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let stop = shutdown_signal();
    tokio::pin!(stop);
    loop {
        // At the limit, new connections wait in the listen backlog until one closes.
        let slot = tokio::select! {
            _ = &mut stop => break,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service.clone()));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection closed");
            }
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            ?drain,
            "in-flight requests did not finish in time; stopping anyway"
        );
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
    // No credentials, no body read: authorized on the head alone, once.
    let mut ctx = RequestContext::default();
    if let Err(refused) = app.gateway.authorize_head(&parts, &mut ctx).await {
        let mut r = copy_out(refused);
        // The body is not read: the connection cannot be reused.
        r.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return r;
    }
    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > app.max_body
    {
        // Bounded in size by `drain` and in time here: a slow sender holds nothing for long.
        let _ = tokio::time::timeout(app.body_timeout, drain(body, app.max_body)).await;
        return too_large(len, app.max_body);
    }
    let read = async {
        let mut stream = body.into_data_stream();
        let mut buf = Vec::new();
        while let Some(chunk) = stream.next().await {
            let Ok(chunk) = chunk else {
                return Err(
                    (StatusCode::BAD_REQUEST, "could not read the request body\n").into_response(),
                );
            };
            if buf.len() + chunk.len() > app.max_body {
                let seen = buf.len() + chunk.len();
                drain(AxumBody::from_stream(stream), app.max_body).await;
                return Err(too_large(seen, app.max_body));
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(buf)
    };
    let buf = match tokio::time::timeout(app.body_timeout, read).await {
        Ok(Ok(buf)) => buf,
        Ok(Err(refused)) => return refused,
        Err(_) => {
            let mut r = copy_out(gateway::slow_body(app.body_timeout));
            // The rest of the body is not read: the connection cannot be reused.
            r.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
            return r;
        }
    };
    let bytes = Bytes::from(buf);
    let answer = app
        .gateway
        .handle(http::Request::from_parts(parts, bytes), ctx)
        .await;
    copy_out(answer)
}

/// `/.well-known/oauth-protected-resource[PATH]`: the gateway's metadata document (404 when
/// authorization is off). The body, if any, is not read.
async fn metadata(State(app): State<App>, req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let req = http::Request::from_parts(parts, Bytes::new());
    copy_out(
        app.gateway
            .protected_resource_metadata(&req, &RequestContext::default(), &app.path)
            .await,
    )
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
