//! Answers that may stream: a request whose client accepts `text/event-stream`, on a host that
//! can stream responses.
//!
//! Contract: the request runs with a [`StreamSink`]; if the child sends nothing for the client
//! before its answer, the answer is plain `application/json` (with the status the caller's
//! `status_of` gives it). Once something arrives first, the answer becomes an SSE stream: each
//! message is one `event: message` with the JSON on one `data:` line, and the final response
//! ends the stream. A client that goes away (the body is dropped) aborts the request, which
//! cancels it at the child.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::Body;
use crate::child::StreamSink;
use crate::jsonrpc::{self, Message};
use crate::upstream::{Exchange, Upstream};

/// What may be sent on the stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allowed {
    /// Server→client requests (legacy clients reading an SSE stream).
    pub(crate) requests: bool,
    /// `notifications/message` (2026-07-28: only with a per-request log level).
    pub(crate) logging: bool,
}

/// Aborts the task when dropped (the client went away).
struct AbortOnDrop(JoinHandle<Bytes>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One SSE event carrying a JSON-RPC message.
fn event(message: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(message.len() + 24);
    out.extend_from_slice(b"event: message\ndata: ");
    // JSON from serde and from children is one line; a raw newline would split the event.
    out.extend(message.iter().map(|b| if *b == b'\n' { b' ' } else { *b }));
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

fn joined(result: Result<Bytes, tokio::task::JoinError>, msg: &Message) -> Bytes {
    result.unwrap_or_else(|e| {
        jsonrpc::error_response(
            msg.id(),
            jsonrpc::INTERNAL_ERROR,
            &format!("the request failed inside the wrapper: {e}"),
        )
    })
}

/// Runs `msg` through `upstream` and answers as JSON or as an SSE stream (see the module docs).
pub(crate) async fn answer(
    upstream: Arc<dyn Upstream>,
    mut ex: Exchange,
    msg: Message,
    allowed: Allowed,
    status_of: fn(&[u8]) -> StatusCode,
) -> Response<Body> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    ex.sink = Some(StreamSink {
        tx,
        requests: allowed.requests,
        logging: allowed.logging,
    });
    let task_msg = msg.clone();
    let mut task = AbortOnDrop(tokio::spawn(async move {
        upstream.request(&ex, &task_msg).await
    }));
    let first = tokio::select! {
        m = rx.recv() => m,
        done = &mut task.0 => {
            // Answered before anything streamed; anything that raced in still goes out first.
            match rx.try_recv() {
                Ok(m) => return stream_with_answer(m, rx, joined(done, &msg)),
                Err(_) => return json(joined(done, &msg), status_of),
            }
        }
    };
    let Some(first) = first else {
        // The sink closed without a message: the request is over.
        let done = (&mut task.0).await;
        return json(joined(done, &msg), status_of);
    };
    let (btx, brx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        let task = task;
        if btx.send(event(&first)).await.is_err() {
            return;
        }
        while let Some(m) = rx.recv().await {
            if btx.send(event(&m)).await.is_err() {
                // The client is gone: dropping `task` aborts the request.
                return;
            }
        }
        let mut task = task;
        let done = (&mut task.0).await;
        let _ = btx.send(event(&joined(done, &msg))).await;
    });
    sse(brx)
}

/// An SSE answer whose request already finished: `first`, the rest of `rx`, then `answer`.
fn stream_with_answer(
    first: Bytes,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    answer: Bytes,
) -> Response<Body> {
    let (btx, brx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        if btx.send(event(&first)).await.is_err() {
            return;
        }
        while let Ok(m) = rx.try_recv() {
            if btx.send(event(&m)).await.is_err() {
                return;
            }
        }
        let _ = btx.send(event(&answer)).await;
    });
    sse(brx)
}

fn sse(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
    let mut r = Response::new(Body::Stream(rx));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

fn json(body: Bytes, status_of: fn(&[u8]) -> StatusCode) -> Response<Body> {
    let status = status_of(&body);
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
    use super::*;

    #[test]
    fn events_are_one_data_line() {
        assert_eq!(
            &event(b"{\"a\":\n1}")[..],
            b"event: message\ndata: {\"a\": 1}\n\n"
        );
    }
}
