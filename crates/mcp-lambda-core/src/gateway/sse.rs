//! Answers that may stream: a request whose client accepts `text/event-stream`, on a host that
//! can stream responses.
//!
//! Contract: the request runs with a [`StreamSink`]; if the child sends nothing for the client
//! before its answer, the answer is plain `application/json` (200, or for a 2026-07-28 request
//! the status its error code calls for). Once something arrives first, the answer becomes an SSE stream: each
//! message is one `event: message` with the JSON on one `data:` line, and the final response
//! ends the stream. A client that goes away (the answer or the body is dropped) drops the
//! request, which cancels it at the child. The common JSON answer costs no extra task.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use tokio::sync::mpsc;

use super::mrtr::{OnAsk, Round};
use super::reject::Rejection;
use super::{Body, Outcome, modern};
use crate::child::{Asks, StreamSink};
use crate::jsonrpc::{self, Kind, Message};
use crate::upstream::{Exchange, Reply, Upstream};

/// SSE events between the request's task and the HTTP body: a client that does not read holds
/// at most this many (plus the sink's own bound, [`SINK_BYTES`](crate::child::streams::SINK_BYTES)).
const BODY_EVENTS: usize = 8;

/// How long after a request's deadline a client that stopped reading its stream is waited for.
const STALLED_READER_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// What may be sent on the stream.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Allowed {
    /// Server→client requests (legacy clients reading an SSE stream: those of the capabilities
    /// they declared).
    pub(crate) asks: Asks,
    /// `notifications/message` (2026-07-28: only with a per-request log level).
    pub(crate) logging: bool,
}

/// One SSE event carrying a JSON-RPC message.
pub(crate) fn event(message: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(message.len() + 24);
    out.extend_from_slice(b"event: message\ndata: ");
    // A raw CR or LF would end the `data:` line (and could forge fields or events); inside
    // JSON they can only be whitespace between tokens, so a space is the same JSON.
    out.extend(message.iter().map(|b| match b {
        b'\n' | b'\r' => b' ',
        b => *b,
    }));
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// What to do with one message the child sent for the client.
enum Step {
    /// Send it to the client.
    Pass(Bytes),
    /// Handled here (a server→client request answered from the client's `inputResponses`).
    Consumed,
    /// The request is over: this is the client's answer (an `InputRequiredResult`).
    Final(Bytes),
}

/// Decides what `item` is; a server→client request during an MRTR round is answered here
/// (through the upstream, to the child that asked) or ends the request.
async fn step(
    item: Bytes,
    round: &mut Option<Round>,
    upstream: &dyn Upstream,
    ex: &Option<Exchange>,
) -> Step {
    let (Some(round), Some(ex)) = (round, ex) else {
        return Step::Pass(item);
    };
    let is_request = serde_json::from_slice::<&serde_json::value::RawValue>(&item)
        .ok()
        .and_then(|raw| jsonrpc::parse_message(raw).ok())
        .is_some_and(|m| m.kind() == Kind::Request);
    if !is_request {
        return Step::Pass(item);
    }
    match round.on_request(&item) {
        Some(OnAsk::Answer(reply)) => {
            upstream.deliver(ex, &reply).await;
            Step::Consumed
        }
        Some(OnAsk::Final(answer)) => Step::Final(answer),
        None => Step::Consumed,
    }
}

/// Runs `msg` through `upstream` and answers as JSON or, when `stream` allows, as an SSE stream
/// (see the module docs). With a `round` (2026-07-28 MRTR), the child's server→client requests
/// are answered from the client's `inputResponses` or end the request with an
/// `InputRequiredResult`; without `stream`, notifications are dropped. `modern`: a 2026-07-28
/// request (its JSON status follows its error code).
pub(crate) async fn answer(
    upstream: Arc<dyn Upstream>,
    mut ex: Exchange,
    msg: Message,
    allowed: Allowed,
    stream: bool,
    mut round: Option<Round>,
    modern: bool,
) -> Result<Outcome, Rejection> {
    let (sink, mut rx) = StreamSink::channel(
        // An MRTR round checks the client's declared capabilities itself.
        if round.is_some() {
            Asks::ALL
        } else {
            allowed.asks
        },
        allowed.logging,
        ex.session_id.as_deref().map(Arc::from),
    );
    ex.sink = Some(sink);
    let json = move |reply: Result<Reply, Rejection>| -> Result<Outcome, Rejection> {
        let reply = reply?;
        Ok(Outcome::Json {
            status: if modern {
                modern::status_for(reply.error)
            } else {
                StatusCode::OK
            },
            body: reply.body,
            session: None,
        })
    };
    // A refusal that arrives after the stream began is sent as its JSON-RPC error.
    let body_of = |r: Result<Reply, Rejection>| match r {
        Ok(reply) => reply.body,
        Err(refused) => refused.body(),
    };
    // What the MRTR round needs to answer the child through the upstream.
    let answering = round.is_some().then(|| ex.clone());
    // A client that stops reading the stream holds the request only until its deadline (and a
    // little time to read the timeout answer): then it is treated as gone.
    let reading_until = ex.deadline + STALLED_READER_GRACE;
    // Polled here until the answer or the first message decides JSON vs SSE: no task on the
    // common JSON path. Dropping it (the client went away) cancels the call at the child.
    let caller = upstream.clone();
    let mut call: Pin<Box<dyn Future<Output = Result<Reply, Rejection>> + Send>> =
        Box::pin(async move {
            match caller.request(&ex, &msg).await {
                Ok(reply) => Ok(reply),
                Err(e) => super::failed(e, msg.id()),
            }
        });
    let final_reply = |answer: Bytes| Reply {
        body: answer,
        error: None,
    };
    let first = loop {
        tokio::select! {
            m = rx.recv() => match m {
                None => return json((&mut call).await),
                Some(item) => match step(item, &mut round, upstream.as_ref(), &answering).await {
                    Step::Consumed => {}
                    // Dropping `call` cancels the request at the child.
                    Step::Final(answer) => return json(Ok(final_reply(answer))),
                    Step::Pass(item) if stream => break item,
                    Step::Pass(_) => {}
                },
            },
            answer = &mut call => {
                // Answered before anything streamed; what raced in still goes out first.
                let mut early = Vec::new();
                while let Some(m) = rx.try_recv() {
                    if let Step::Pass(m) = step(m, &mut round, upstream.as_ref(), &answering).await {
                        early.push(m);
                    }
                }
                if stream && !early.is_empty() {
                    return Ok(Outcome::Stream(stream_all(early, body_of(answer))));
                }
                return json(answer);
            }
        }
    };
    let (btx, brx) = mpsc::channel::<Bytes>(BODY_EVENTS);
    tokio::spawn(async move {
        // `false` when the client is gone or has not read in time.
        let put = |e: Bytes| {
            let btx = &btx;
            async move {
                matches!(
                    tokio::time::timeout_at(reading_until, btx.send(e)).await,
                    Ok(Ok(()))
                )
            }
        };
        if !put(event(&first)).await {
            return;
        }
        let answer = loop {
            tokio::select! {
                m = rx.recv() => {
                    let Some(m) = m else { break (&mut call).await };
                    let out = match step(m, &mut round, upstream.as_ref(), &answering).await {
                        Step::Consumed => continue,
                        Step::Final(answer) => {
                            // The request ends here; dropping `call` cancels it at the child.
                            put(event(&answer)).await;
                            return;
                        }
                        Step::Pass(m) => m,
                    };
                    if !put(event(&out)).await {
                        // The client is gone: dropping `call` cancels the request.
                        return;
                    }
                }
                answer = &mut call => break answer,
            }
        };
        // Messages that raced the answer go out before it.
        while let Some(m) = rx.try_recv() {
            if let Step::Pass(m) = step(m, &mut round, upstream.as_ref(), &answering).await
                && !put(event(&m)).await
            {
                return;
            }
        }
        put(event(&body_of(answer))).await;
    });
    Ok(Outcome::Stream(brx))
}

/// An SSE answer whose request already finished: `messages`, then `answer`.
fn stream_all(messages: Vec<Bytes>, answer: Bytes) -> mpsc::Receiver<Bytes> {
    let (btx, brx) = mpsc::channel::<Bytes>(BODY_EVENTS);
    tokio::spawn(async move {
        for m in messages.iter().chain(std::iter::once(&answer)) {
            if btx.send(event(m)).await.is_err() {
                return;
            }
        }
    });
    brx
}

/// The HTTP answer carrying an SSE stream: the only place its headers are set (hosts copy
/// them as they are).
pub(crate) fn sse(rx: mpsc::Receiver<Bytes>) -> Response<Body> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_one_data_line() {
        assert_eq!(
            &event(b"{\"a\":\n1}")[..],
            b"event: message\ndata: {\"a\": 1}\n\n"
        );
        // A bare CR would end the line for an SSE parser and start a forged field.
        assert_eq!(
            &event(b"{\"a\":1}\rdata: {\"forged\":1}")[..],
            b"event: message\ndata: {\"a\":1} data: {\"forged\":1}\n\n"
        );
    }
}
