//! The stdin → endpoint → stdout loop (the crate docs state its contract).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

use crate::invoke::Invoke;
use crate::streamable::Streamable;
use crate::{ConnectError, FORWARD_ERROR, Failure, MAX_IN_FLIGHT, MAX_MESSAGE, Options, Target};

/// Lines waiting for stdout.
const OUT_QUEUE: usize = 256;
/// Longest wait for the session's `DELETE` at the end.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// Methods whose repetition changes nothing on the server: retried after a 5xx or a broken
/// connection. (`tools/call` is not: a tool may have acted before the connection broke.)
const IDEMPOTENT: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "prompts/list",
    "prompts/get",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "completion/complete",
    "logging/setLevel",
];

/// What a message read from stdin is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Has a method and an id: needs an answer.
    Request,
    /// Has a method and no id.
    Notification,
    /// Has an id and a result or error: the client's answer to a server request.
    Response,
    /// An array (2025-03-26 batches).
    Batch,
}

/// One message from stdin: the bytes to forward and their parse.
pub(crate) struct Inbound {
    /// Exactly the bytes read (without the line end).
    pub(crate) raw: Bytes,
    /// Their parse.
    pub(crate) value: Value,
}

impl Inbound {
    pub(crate) fn kind(&self) -> Kind {
        match &self.value {
            Value::Array(_) => Kind::Batch,
            v if v.get("method").is_some() && v.get("id").is_some() => Kind::Request,
            v if v.get("method").is_some() => Kind::Notification,
            _ => Kind::Response,
        }
    }

    pub(crate) fn method(&self) -> Option<&str> {
        self.value.get("method").and_then(Value::as_str)
    }

    /// The ids that need an answer (one for a request, each request's in a batch).
    pub(crate) fn request_ids(&self) -> Vec<Value> {
        let one = |v: &Value| {
            (v.get("method").is_some())
                .then(|| v.get("id").cloned())
                .flatten()
        };
        match &self.value {
            Value::Array(items) => items.iter().filter_map(one).collect(),
            v => one(v).into_iter().collect(),
        }
    }

    /// `true` when sending it twice does no harm (see [`IDEMPOTENT`]).
    pub(crate) fn idempotent(&self) -> bool {
        match self.kind() {
            Kind::Request => self.method().is_some_and(|m| IDEMPOTENT.contains(&m)),
            Kind::Batch => false,
            // A repeated notification or answer is dropped or ignored by servers.
            Kind::Notification | Kind::Response => true,
        }
    }
}

/// The stdout side: whole lines, written in the order queued.
#[derive(Clone)]
pub(crate) struct Out {
    tx: mpsc::Sender<Bytes>,
}

impl Out {
    /// Writes one message from the endpoint: `bytes` must be JSON already checked; line ends
    /// in it (only possible as whitespace between tokens) become spaces.
    pub(crate) async fn message(&self, bytes: &[u8]) {
        let mut line: Vec<u8> = bytes
            .iter()
            .map(|&b| if b == b'\n' || b == b'\r' { b' ' } else { b })
            .collect();
        line.push(b'\n');
        // The writer ends only after every sender is gone or the stop marker: a send error
        // means stdout is closed, and there is nobody left to tell.
        let _ = self.tx.send(Bytes::from(line)).await;
    }

    /// Writes a JSON-RPC error answering `id`.
    pub(crate) async fn error(&self, id: &Value, failure: &Failure) {
        let mut error = json!({"code": FORWARD_ERROR, "message": failure.to_string()});
        if let Failure::Status { status, .. } = failure {
            error["data"] = json!({"status": status});
        }
        let msg = json!({"jsonrpc": "2.0", "id": id, "error": error});
        self.message(msg.to_string().as_bytes()).await;
    }

    /// Lets the writer finish what is queued, then stop.
    async fn stop(&self) {
        let _ = self.tx.send(Bytes::new()).await;
    }
}

/// Starts the stdout writer.
fn writer<W: AsyncWrite + Unpin + Send + 'static>(mut w: W) -> (Out, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Bytes>(OUT_QUEUE);
    let task = tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if line.is_empty() {
                break;
            }
            if w.write_all(&line).await.is_err() || w.flush().await.is_err() {
                tracing::warn!("stdout closed: answers are dropped");
                break;
            }
        }
    });
    (Out { tx }, task)
}

/// Where messages go.
pub(crate) enum Link {
    Http(Streamable),
    Invoke(Box<Invoke>),
}

impl Link {
    async fn new(opts: &Options, out: Out) -> Result<Link, ConnectError> {
        Ok(match &opts.target {
            Target::Url(url) => Link::Http(Streamable::new(opts, url.clone(), out).await?),
            Target::Function { .. } => Link::Invoke(Box::new(Invoke::new(opts, out).await?)),
        })
    }

    async fn forward(&self, msg: &Inbound) -> Result<(), Failure> {
        match self {
            Link::Http(s) => s.forward(msg).await,
            Link::Invoke(i) => i.forward(msg).await,
        }
    }

    async fn close(&self) {
        if let Link::Http(s) = self {
            s.close(CLOSE_WITHIN).await;
        }
    }
}

/// One line of stdin.
enum Line {
    Message(Vec<u8>),
    TooLong,
}

/// Reads the next line (without its end), refusing lines over [`MAX_MESSAGE`]; `None` at the
/// end of input.
async fn next_line<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> std::io::Result<Option<Line>> {
    let mut line = Vec::new();
    let mut too_long = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(match (line.is_empty() && !too_long, too_long) {
                (true, _) => None,
                (_, true) => Some(Line::TooLong),
                _ => Some(Line::Message(line)),
            });
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !too_long {
            if line.len() + chunk.len() > MAX_MESSAGE {
                too_long = true;
                line = Vec::new();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = done.unwrap_or(buf.len());
        r.consume(used);
        if done.is_some() {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some(if too_long {
                Line::TooLong
            } else {
                Line::Message(line)
            }));
        }
    }
}

/// Runs `connect` on this process's stdin and stdout until stdin ends.
pub async fn run(opts: Options) -> Result<(), ConnectError> {
    run_on(opts, tokio::io::stdin(), tokio::io::stdout()).await
}

/// [`run`] on any pair of streams.
pub(crate) async fn run_on<R, W>(opts: Options, input: R, output: W) -> Result<(), ConnectError>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (out, written) = writer(output);
    let link = Arc::new(Link::new(&opts, out.clone()).await?);
    tracing::info!(target = %opts.target, "forwarding stdin to the endpoint");
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut running = JoinSet::new();
    let mut input = BufReader::with_capacity(64 * 1024, input);
    loop {
        let raw = match next_line(&mut input).await {
            Ok(Some(Line::Message(raw))) => raw,
            Ok(Some(Line::TooLong)) => {
                let f = Failure::BadAnswer(format!(
                    "Parse error: a message is larger than {MAX_MESSAGE} bytes"
                ));
                parse_error(&out, &f).await;
                continue;
            }
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(error = %e, "stdin failed");
                break;
            }
        };
        while running.try_join_next().is_some() {}
        if raw.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value: Value = match serde_json::from_slice(&raw) {
            Ok(v @ (Value::Object(_) | Value::Array(_))) => v,
            Ok(_) | Err(_) => {
                parse_error(
                    &out,
                    &Failure::BadAnswer("Parse error: not a JSON-RPC message".into()),
                )
                .await;
                continue;
            }
        };
        let msg = Inbound {
            raw: Bytes::from(raw),
            value,
        };
        let deadline = opts.timeout;
        if msg.kind() == Kind::Request && msg.method() != Some("initialize")
            || msg.kind() == Kind::Batch
        {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                break;
            };
            let (link, out) = (link.clone(), out.clone());
            running.spawn(async move {
                exchange(&link, &msg, &out, deadline).await;
                drop(slot);
            });
        } else {
            exchange(&link, &msg, &out, deadline).await;
        }
    }
    // The end of stdin: finish what runs (each request has its own deadline).
    while running.join_next().await.is_some() {}
    link.close().await;
    out.stop().await;
    drop(out);
    let _ = written.await;
    Ok(())
}

/// Forwards one message within `deadline`; a request that fails is answered with an error.
async fn exchange(link: &Link, msg: &Inbound, out: &Out, deadline: Duration) {
    let result = match tokio::time::timeout(deadline, link.forward(msg)).await {
        Ok(r) => r,
        Err(_) => Err(Failure::Timeout(deadline)),
    };
    if let Err(f) = result {
        let ids = msg.request_ids();
        if ids.is_empty() {
            tracing::warn!(method = msg.method().unwrap_or("(answer)"), error = %f, "not forwarded");
        }
        for id in ids {
            out.error(&id, &f).await;
        }
    }
}

async fn parse_error(out: &Out, f: &Failure) {
    let msg =
        json!({"jsonrpc": "2.0", "id": null, "error": {"code": -32700, "message": f.to_string()}});
    out.message(msg.to_string().as_bytes()).await;
}

/// The ids a message from the endpoint answers (a response, or each response in a batch).
pub(crate) fn answered_ids(v: &Value) -> Vec<Value> {
    let one = |m: &Value| {
        (m.get("method").is_none() && (m.get("result").is_some() || m.get("error").is_some()))
            .then(|| m.get("id").cloned())
            .flatten()
    };
    match v {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        m => one(m).into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(v: Value) -> Inbound {
        Inbound {
            raw: Bytes::from(v.to_string()),
            value: v,
        }
    }

    #[test]
    fn kinds_and_ids() {
        let r = msg(json!({"jsonrpc":"2.0","id":1,"method":"tools/list"}));
        assert_eq!(r.kind(), Kind::Request);
        assert!(r.idempotent());
        assert_eq!(r.request_ids(), vec![json!(1)]);
        let c = msg(json!({"jsonrpc":"2.0","id":"a","method":"tools/call","params":{}}));
        assert!(!c.idempotent());
        let n = msg(json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        assert_eq!(n.kind(), Kind::Notification);
        assert!(n.request_ids().is_empty());
        let a = msg(json!({"jsonrpc":"2.0","id":5,"result":{}}));
        assert_eq!(a.kind(), Kind::Response);
        assert!(a.request_ids().is_empty());
        let b =
            msg(json!([{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","method":"x"}]));
        assert_eq!(b.kind(), Kind::Batch);
        assert_eq!(b.request_ids(), vec![json!(1)]);
    }

    #[tokio::test]
    async fn lines_are_bounded_and_split() {
        let big = vec![b'x'; MAX_MESSAGE + 10];
        let mut input = b"{\"a\":1}\r\n".to_vec();
        input.extend_from_slice(&big);
        input.extend_from_slice(b"\n{\"b\":2}");
        let mut r = BufReader::with_capacity(1024, &input[..]);
        assert!(
            matches!(next_line(&mut r).await.unwrap(), Some(Line::Message(m)) if m == b"{\"a\":1}")
        );
        assert!(matches!(
            next_line(&mut r).await.unwrap(),
            Some(Line::TooLong)
        ));
        assert!(
            matches!(next_line(&mut r).await.unwrap(), Some(Line::Message(m)) if m == b"{\"b\":2}")
        );
        assert!(next_line(&mut r).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn output_lines_stay_lines() {
        use tokio::io::AsyncReadExt;
        let (w, mut r) = tokio::io::duplex(1024);
        let (out, task) = writer(w);
        out.message(b"{\n  \"a\": 1\r\n}").await;
        out.stop().await;
        task.await.unwrap();
        let mut got = String::new();
        r.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "{   \"a\": 1  }\n");
    }
}
