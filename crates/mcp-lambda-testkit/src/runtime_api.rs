//! A stand-in for the AWS Lambda Runtime API, for the e2e tests (what `cargo lambda watch`
//! cannot show: it passes the client context on base64-encoded where Lambda sends JSON, and a
//! relative deadline where Lambda sends an absolute one) and for the benchmark (it timestamps
//! every step).
//!
//! Contract: [`RuntimeApi::start`] listens on a loopback port (point `AWS_LAMBDA_RUNTIME_API`
//! at [`RuntimeApi::addr`]) and serves, on any number of keep-alive connections, each on a
//! thread of its own (a pool of threads already waiting in `accept`, grown before it runs out,
//! so no thread is created between a connection's arrival and its timestamps; `TCP_NODELAY`,
//! every response written with one `write`):
//! - `POST /2020-01-01/extension/register` (answered with an identifier) and the extension's
//!   `GET /2020-01-01/extension/event/next`, held open and never answered, as Lambda does for
//!   an extension subscribed to no events (lambda_runtime's graceful shutdown registers one);
//! - `GET /2018-06-01/runtime/invocation/next`, answered with the next [`Event`] queued by
//!   [`RuntimeApi::queue`], with Lambda's headers (absolute deadline, client context as JSON);
//! - `POST .../invocation/ID/response` and `.../error`, and `POST .../init/error` (202).
//!
//! What happened is recorded in [`Seen`] with instants: the first registration and the first
//! poll when their heads had been read, an event's hand-out just before its response is
//! written, an answer when its body has been read whole. The stand-in does no other work on
//! these paths, so `answer.at − answer.handed` is the runtime's own time for one invocation
//! plus two loopback hops. Dropping it stops the listener and ends held and waiting requests.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::http::{read_body, read_head, write_message};

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";
const REGISTER: &str = "/2020-01-01/extension/register";
const EXTENSION_NEXT: &str = "/2020-01-01/extension/event/next";
/// How often blocked handlers look at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// Threads waiting in `accept` at start: the runtime opens about four connections.
const ACCEPTORS: usize = 6;

/// One invocation to hand out.
#[derive(Debug, Clone)]
pub struct Event {
    /// The event, as sent.
    pub payload: Vec<u8>,
    /// `Lambda-Runtime-Client-Context` (JSON text), if any.
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Deadline-Ms` is set this far after hand-out, in epoch milliseconds.
    pub deadline_in: Duration,
}

/// The runtime's answer to one invocation.
#[derive(Debug)]
pub struct Answer {
    /// Just before the event was written to the runtime.
    pub handed: Instant,
    /// When the answer's body had been read.
    pub at: Instant,
    /// The answer as posted.
    pub body: Vec<u8>,
    /// Posted to `/error` rather than `/response`.
    pub error: bool,
}

/// What the runtime has done so far.
#[derive(Debug, Default)]
pub struct Seen {
    /// The first extension registration (request head read).
    pub registered: Option<Instant>,
    /// The first `GET .../invocation/next` (request head read).
    pub polled: Option<Instant>,
    /// The body of an `init/error` report.
    pub init_error: Option<String>,
    handed: HashMap<String, Instant>,
    answers: HashMap<String, (Instant, Vec<u8>, bool)>,
}

impl Seen {
    /// Takes the answer to invocation `id` once it is there.
    pub fn take_answer(&mut self, id: &str) -> Option<Answer> {
        let handed = *self.handed.get(id)?;
        let (at, body, error) = self.answers.remove(id)?;
        self.handed.remove(id);
        Some(Answer {
            handed,
            at,
            body,
            error,
        })
    }
}

struct Shared {
    queue: Mutex<VecDeque<(String, Event)>>,
    queued: Condvar,
    seen: Mutex<Seen>,
    changed: Condvar,
    stop: AtomicBool,
    /// Polls of `/next` still to be answered by closing the connection (a fault).
    drop_polls: AtomicUsize,
    /// Acceptor threads started, and how many of them are waiting in `accept`.
    threads: AtomicUsize,
    idle: AtomicUsize,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The queue; a handler that panicked leaves it usable.
    fn queue(&self) -> MutexGuard<'_, VecDeque<(String, Event)>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn record(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.seen.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.notify_all();
    }
}

/// A running stand-in Runtime API.
pub struct RuntimeApi {
    addr: SocketAddr,
    shared: Arc<Shared>,
    next_id: AtomicU64,
}

impl RuntimeApi {
    /// Listens on a free loopback port and serves in background threads.
    pub fn start() -> io::Result<Self> {
        let listener = Arc::new(TcpListener::bind("127.0.0.1:0")?);
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            queue: Mutex::default(),
            queued: Condvar::new(),
            seen: Mutex::default(),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            drop_polls: AtomicUsize::new(0),
            threads: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
        });
        for _ in 0..ACCEPTORS {
            spawn_acceptor(&listener, &shared)?;
        }
        Ok(Self {
            addr,
            shared,
            next_id: AtomicU64::new(0),
        })
    }

    /// Where it listens (`127.0.0.1:PORT`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Queues `event` as the next invocation; returns its request id.
    pub fn queue(&self, event: Event) -> String {
        let n = self.next_id.fetch_add(1, Ordering::SeqCst) + 1;
        self.queue_as(format!("invocation-{n:08}"), event)
    }

    /// Queues `event` as the next invocation with request id `id`; returns the id.
    pub fn queue_as(&self, id: String, event: Event) -> String {
        self.shared.queue().push_back((id.clone(), event));
        self.shared.queued.notify_all();
        id
    }

    /// Waits up to `timeout` until `f` finds what it looks for in what was seen.
    pub fn wait<T>(
        &self,
        timeout: Duration,
        mut f: impl FnMut(&mut Seen) -> Option<T>,
    ) -> Option<T> {
        let until = Instant::now() + timeout;
        let mut seen = self
            .shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(found) = f(&mut seen) {
                return Some(found);
            }
            let left = until.checked_duration_since(Instant::now())?;
            seen = self
                .shared
                .changed
                .wait_timeout(seen, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.queued.notify_all();
        // Wake every thread waiting in accept so it sees the flag (a thread still serving a
        // connection sees it when that connection ends).
        for _ in 0..self.shared.threads.load(Ordering::SeqCst) {
            let _ = TcpStream::connect_timeout(&self.addr, POLL);
        }
    }
}

/// Starts one more thread that accepts and serves connections, one at a time.
fn spawn_acceptor(listener: &Arc<TcpListener>, s: &Arc<Shared>) -> io::Result<()> {
    let (listener, s) = (listener.clone(), s.clone());
    s.threads.fetch_add(1, Ordering::SeqCst);
    s.idle.fetch_add(1, Ordering::SeqCst);
    std::thread::Builder::new()
        .name("runtime-api".into())
        .spawn(move || {
            while !s.stopped() {
                let conn = listener.accept();
                if s.stopped() {
                    return;
                }
                let Ok((stream, _)) = conn else { continue };
                // Keep one thread waiting in accept: grow the pool before serving.
                if s.idle.fetch_sub(1, Ordering::SeqCst) == 1 {
                    let _ = spawn_acceptor(&listener, &s);
                }
                serve_connection(stream, &s);
                s.idle.fetch_add(1, Ordering::SeqCst);
            }
        })
        .map(|_| ())
}

/// Serves one keep-alive connection of the runtime or its extension.
fn serve_connection(stream: TcpStream, s: &Shared) {
    let _ = stream.set_nodelay(true);
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut r = BufReader::with_capacity(64 * 1024, stream);
    let mut buf = Vec::with_capacity(4096);
    let mut reply = |status: &str, headers: &[(&str, &str)], body: &[u8]| {
        write_message(&mut buf, &format!("HTTP/1.1 {status}"), headers, body);
        out.write_all(&buf).is_ok()
    };
    const ACCEPTED: &[u8] = br#"{"status":"OK"}"#;
    while let Ok(Some(head)) = read_head(&mut r) {
        let arrived = Instant::now();
        let Ok(body) = read_body(&mut r, &head, false) else {
            return;
        };
        let mut start = head.start.split_whitespace();
        let ok = match (start.next().unwrap_or(""), start.next().unwrap_or("")) {
            ("POST", REGISTER) => {
                s.record(|seen| {
                    seen.registered.get_or_insert(arrived);
                });
                let headers = [
                    ("lambda-extension-identifier", "stand-in-extension"),
                    ("content-type", "application/json"),
                ];
                let info = br#"{"functionName":"_","functionVersion":"1","handler":"bootstrap"}"#;
                reply("200 OK", &headers, info)
            }
            ("GET", EXTENSION_NEXT) => {
                // Subscribed to no events: Lambda never answers. Hold until the peer goes away.
                hold(&mut r, s);
                return;
            }
            ("GET", NEXT) => {
                s.record(|seen| {
                    seen.polled.get_or_insert(arrived);
                });
                let drop_it = s
                    .drop_polls
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if drop_it {
                    // The fault: the connection closes with the poll unanswered.
                    return;
                }
                let Some((id, event)) = next_event(s) else {
                    return;
                };
                let deadline = (SystemTime::now() + event.deadline_in)
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or_default()
                    .to_string();
                let mut headers = vec![
                    ("lambda-runtime-aws-request-id", id.as_str()),
                    ("lambda-runtime-deadline-ms", deadline.as_str()),
                    (
                        "lambda-runtime-invoked-function-arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:_",
                    ),
                    (
                        "lambda-runtime-trace-id",
                        "Root=1-00000000-000000000000000000000000;Sampled=0",
                    ),
                    ("content-type", "application/json"),
                ];
                if let Some(cc) = &event.client_context {
                    headers.push(("lambda-runtime-client-context", cc));
                }
                let handed = Instant::now();
                let ok = reply("200 OK", &headers, &event.payload);
                s.record(|seen| {
                    seen.handed.insert(id, handed);
                });
                ok
            }
            ("POST", INIT_ERROR) => {
                let text = String::from_utf8_lossy(&body).into_owned();
                eprintln!("[stand-in runtime api] init error: {text}");
                s.record(|seen| seen.init_error = Some(text));
                reply("202 Accepted", &[], ACCEPTED)
            }
            ("POST", p) if p.starts_with(INVOCATION) => {
                let at = Instant::now();
                let rest = &p[INVOCATION.len()..];
                let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
                let error = kind == "error";
                s.record(|seen| {
                    seen.answers.insert(id.to_owned(), (at, body, error));
                });
                reply("202 Accepted", &[], ACCEPTED)
            }
            _ => reply("404 Not Found", &[], b"{}"),
        };
        if !ok {
            return;
        }
    }
}

/// The next queued event; `None` once the stand-in stops.
fn next_event(s: &Shared) -> Option<(String, Event)> {
    let mut q = s.queue();
    loop {
        if s.stopped() {
            return None;
        }
        if let Some(next) = q.pop_front() {
            return Some(next);
        }
        q = s
            .queued
            .wait_timeout(q, POLL)
            .unwrap_or_else(PoisonError::into_inner)
            .0;
    }
}

/// Keeps a request open until the peer closes the connection or the stand-in stops.
fn hold(r: &mut BufReader<TcpStream>, s: &Shared) {
    if r.get_ref().set_read_timeout(Some(POLL)).is_err() {
        return;
    }
    let mut buf = [0u8; 512];
    while !s.stopped() {
        match r.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

/// One invocation as Lambda's Runtime API delivers it (the e2e form of [`Event`]).
#[derive(Debug, Clone)]
pub struct Invocation {
    /// The event.
    pub payload: Value,
    /// `Lambda-Runtime-Client-Context`, sent as JSON as Lambda does (AgentCore Gateway puts the
    /// tool name there).
    pub client_context: Option<Value>,
    /// `Lambda-Runtime-Deadline-Ms` is set this far after delivery, in epoch milliseconds.
    pub deadline_in: Duration,
}

/// The stand-in Runtime API with the e2e tests' panicking interface. Point
/// `AWS_LAMBDA_RUNTIME_API` at [`addr`](Self::addr).
pub struct MiniRuntimeApi {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    api: RuntimeApi,
    /// Request ids are `mini-0`, `mini-1`, ...
    next: AtomicU64,
}

impl MiniRuntimeApi {
    /// Starts it; panics if it cannot listen.
    pub fn start() -> MiniRuntimeApi {
        let api = RuntimeApi::start().unwrap_or_else(|e| panic!("stand-in Runtime API: {e}"));
        let addr = api.addr().to_string();
        MiniRuntimeApi {
            addr,
            api,
            next: AtomicU64::new(0),
        }
    }

    /// The next `n` new polls of `/next` are answered by closing their connection (a Runtime
    /// API fault; a poll already waiting is not affected).
    pub fn drop_next_polls(&self, n: usize) {
        self.api.shared.drop_polls.store(n, Ordering::SeqCst);
    }

    /// Delivers `inv` to the runtime and waits for its answer: `Ok(response)` or `Err(body)` of
    /// an invocation error. Panics after `within`.
    pub fn invoke(&self, inv: Invocation, within: Duration) -> Result<Value, String> {
        let body = self.invoke_raw(inv, within)?;
        let body = String::from_utf8_lossy(&body).into_owned();
        Ok(serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {body}")))
    }

    /// Like [`invoke`](Self::invoke), but the answer's bytes as posted (a streamed answer:
    /// the JSON prelude, eight NUL bytes, then the body).
    pub fn invoke_raw(&self, inv: Invocation, within: Duration) -> Result<Vec<u8>, String> {
        let answer = self.deliver(inv, within);
        if answer.error {
            return Err(String::from_utf8_lossy(&answer.body).into_owned());
        }
        Ok(answer.body)
    }

    /// Delivers `inv` and returns its [`Answer`], with the instants the stand-in handed the
    /// event out and read the answer (so a test can tell what the runtime served side by side).
    /// Panics after `within`.
    pub fn deliver(&self, inv: Invocation, within: Duration) -> Answer {
        let event = Event {
            payload: inv.payload.to_string().into_bytes(),
            client_context: inv.client_context.map(|c| c.to_string()),
            deadline_in: inv.deadline_in,
        };
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        let id = self.api.queue_as(format!("mini-{n}"), event);
        self.api
            .wait(within, |seen| seen.take_answer(&id))
            .unwrap_or_else(|| panic!("invocation {id} not answered within {within:?}"))
    }

    /// How many invocations have been handed out so far.
    pub fn handed_out(&self) -> usize {
        self.api
            .wait(Duration::ZERO, |seen| Some(seen.handed.len()))
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::RawClient;

    #[test]
    fn serves_one_invocation_and_records_each_step() {
        let api = RuntimeApi::start().unwrap();
        let mut c = RawClient::new(api.addr());
        let reg = c
            .request("POST", REGISTER, &[], br#"{"events":[]}"#)
            .unwrap();
        assert_eq!(reg.status, 200);
        assert!(reg.header("lambda-extension-identifier").is_some());
        let event = Event {
            payload: br#"{"hello":1}"#.to_vec(),
            client_context: Some(r#"{"custom":{}}"#.into()),
            deadline_in: Duration::from_secs(60),
        };
        let id = api.queue(event);
        let next = c.request("GET", NEXT, &[], b"").unwrap();
        assert_eq!(
            next.header("lambda-runtime-aws-request-id"),
            Some(id.as_str())
        );
        assert!(next.header("lambda-runtime-deadline-ms").is_some());
        assert_eq!(
            next.header("lambda-runtime-client-context"),
            Some(r#"{"custom":{}}"#)
        );
        assert_eq!(next.body, br#"{"hello":1}"#);
        // Same keep-alive connection for the answer.
        let path = format!("{INVOCATION}{id}/response");
        let done = c.request("POST", &path, &[], br#"{"ok":true}"#).unwrap();
        assert_eq!(done.status, 202);
        let a = api
            .wait(Duration::from_secs(5), |s| s.take_answer(&id))
            .unwrap();
        assert_eq!(
            (a.body.as_slice(), a.error),
            (&br#"{"ok":true}"#[..], false)
        );
        assert!(a.at >= a.handed);
        let seen = api.wait(Duration::from_secs(1), |s| Some((s.registered, s.polled)));
        assert!(matches!(seen, Some((Some(_), Some(_)))));
    }

    #[test]
    fn extension_next_is_held_until_the_peer_leaves() {
        let api = RuntimeApi::start().unwrap();
        let mut conn = TcpStream::connect(api.addr()).unwrap();
        conn.write_all(format!("GET {EXTENSION_NEXT} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .unwrap();
        conn.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let e = conn.read(&mut [0u8; 16]).unwrap_err();
        assert!(matches!(
            e.kind(),
            ErrorKind::WouldBlock | ErrorKind::TimedOut
        ));
    }
}
