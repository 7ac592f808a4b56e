//! A stand-in for the AWS Lambda Runtime API, instrumented for the benchmark.
//!
//! Contract: [`RuntimeApi::start`] listens on a loopback port (point `AWS_LAMBDA_RUNTIME_API` at
//! [`RuntimeApi::addr`]) and serves, on any number of keep-alive connections, each on a thread of
//! its own (a pool of threads already waiting in `accept`, grown before it runs out, so no thread
//! is created between a connection's arrival and its timestamps): extension registration (`POST /2020-01-01/extension/register`, answered with an
//! identifier), the extension's `GET /2020-01-01/extension/event/next` (held open and never
//! answered, as Lambda does for an extension subscribed to no events), the runtime's
//! `GET /2018-06-01/runtime/invocation/next` (answered with the next event queued by
//! [`RuntimeApi::queue`], with Lambda's headers and a deadline 60 s ahead),
//! `POST .../invocation/ID/response` and `.../error` (202), and `POST .../init/error` (202).
//!
//! Every step is reported, with the instant it happened, as a [`Note`] on one channel: the
//! instant a request arrived is taken when its head has been read; the instant an event was
//! handed out is taken just before its response is written; the instant an answer arrived is
//! taken when its body has been read whole. The stand-in does no other work on these paths, so
//! `answered − handed` is the runtime's own time for one invocation plus two loopback hops.
//! Dropping the value stops the listener and ends the held and waiting requests.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;

const NEXT: &str = "/2018-06-01/runtime/invocation/next";
const INVOCATION: &str = "/2018-06-01/runtime/invocation/";
const INIT_ERROR: &str = "/2018-06-01/runtime/init/error";
const REGISTER: &str = "/2020-01-01/extension/register";
const EXTENSION_NEXT: &str = "/2020-01-01/extension/event/next";
/// How long each invocation may run, as `Lambda-Runtime-Deadline-Ms` tells the runtime.
const DEADLINE: Duration = Duration::from_secs(60);
/// How often blocked handlers look at the stop flag.
const POLL: Duration = Duration::from_millis(100);
/// Threads waiting in `accept` at start: the runtime opens about four connections.
const ACCEPTORS: usize = 6;

/// Something the runtime did, and when.
#[derive(Debug)]
pub(crate) enum Note {
    /// An extension registered (request head read).
    Registered(Instant),
    /// The runtime asked for the next invocation (request head read).
    Polled(Instant),
    /// Invocation `id` was handed out (just before its response was written).
    Handed { id: String, at: Instant },
    /// The runtime answered invocation `id` (body read whole); `error` for `/error`.
    Answered {
        id: String,
        at: Instant,
        body: Vec<u8>,
        error: bool,
    },
    /// The runtime reported an initialization error.
    InitError(String),
}

struct Shared {
    queue: Mutex<VecDeque<(String, Vec<u8>)>>,
    queued: Condvar,
    stop: AtomicBool,
    notes: mpsc::Sender<Note>,
    /// Acceptor threads started, and how many of them are waiting in `accept`.
    threads: AtomicUsize,
    idle: AtomicUsize,
}

impl Shared {
    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    fn note(&self, n: Note) {
        let _ = self.notes.send(n);
    }
}

/// A running stand-in Runtime API.
pub(crate) struct RuntimeApi {
    /// Where it listens (`127.0.0.1:PORT`).
    pub(crate) addr: SocketAddr,
    shared: Arc<Shared>,
    notes: mpsc::Receiver<Note>,
    next_id: u64,
}

impl RuntimeApi {
    /// Listens on a free loopback port and serves in background threads.
    pub(crate) fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the Runtime API")?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::channel();
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            queued: Condvar::new(),
            stop: AtomicBool::new(false),
            notes: tx,
            threads: AtomicUsize::new(0),
            idle: AtomicUsize::new(0),
        });
        let listener = Arc::new(listener);
        for _ in 0..ACCEPTORS {
            spawn_acceptor(&listener, &shared).context("starting a Runtime API thread")?;
        }
        Ok(Self {
            addr,
            shared,
            notes: rx,
            next_id: 0,
        })
    }

    /// Queues `payload` as the next invocation; returns its request id.
    pub(crate) fn queue(&mut self, payload: Vec<u8>) -> String {
        self.next_id += 1;
        let id = format!("bench-{:08}", self.next_id);
        if let Ok(mut q) = self.shared.queue.lock() {
            q.push_back((id.clone(), payload));
        }
        self.shared.queued.notify_all();
        id
    }

    /// The next note, waiting up to `timeout`.
    pub(crate) fn recv(&self, timeout: Duration) -> Result<Note, mpsc::RecvTimeoutError> {
        self.notes.recv_timeout(timeout)
    }
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.queued.notify_all();
        // Wake every thread waiting in accept so it sees the flag (a thread still serving a
        // connection sees it when that connection ends).
        for _ in 0..self.shared.threads.load(Ordering::SeqCst) {
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
        }
    }
}

/// Starts one more thread that accepts and serves connections, one at a time.
fn spawn_acceptor(listener: &Arc<TcpListener>, s: &Arc<Shared>) -> std::io::Result<()> {
    let (listener, s) = (listener.clone(), s.clone());
    s.threads.fetch_add(1, Ordering::SeqCst);
    s.idle.fetch_add(1, Ordering::SeqCst);
    std::thread::Builder::new()
        .name("runtime-api".into())
        .spawn(move || {
            loop {
                if s.stopped() {
                    return;
                }
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

/// One request as read from a connection.
struct Request {
    method: String,
    path: String,
    body: Vec<u8>,
    /// When its head had been read.
    arrived: Instant,
}

/// Reads one request; `None` when the connection closed or broke.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let (mut length, mut chunked) = (0usize, false);
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let v = v.trim();
            if k.trim().eq_ignore_ascii_case("content-length") {
                length = v.parse().ok()?;
            } else if k.trim().eq_ignore_ascii_case("transfer-encoding")
                && v.eq_ignore_ascii_case("chunked")
            {
                chunked = true;
            }
        }
    }
    let arrived = Instant::now();
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            if r.read_line(&mut size).ok()? == 0 {
                return None;
            }
            let n = usize::from_str_radix(size.trim().split(';').next()?.trim(), 16).ok()?;
            let start = body.len();
            body.resize(start + n, 0);
            r.read_exact(&mut body[start..]).ok()?;
            let mut crlf = [0u8; 2];
            r.read_exact(&mut crlf).ok()?;
            if n == 0 {
                break;
            }
        }
    } else {
        body.resize(length, 0);
        r.read_exact(&mut body).ok()?;
    }
    Some(Request {
        method,
        path,
        body,
        arrived,
    })
}

/// Writes one response in a single `write`.
fn reply(out: &mut TcpStream, status: &str, headers: &[(&str, &str)], body: &[u8]) -> bool {
    let mut text = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        text.push_str(k);
        text.push_str(": ");
        text.push_str(v);
        text.push_str("\r\n");
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    out.write_all(&bytes).is_ok()
}

/// Serves one keep-alive connection of the runtime or its extension.
fn serve_connection(stream: TcpStream, s: &Shared) {
    let _ = stream.set_nodelay(true);
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut r = BufReader::with_capacity(64 * 1024, stream);
    while let Some(req) = read_request(&mut r) {
        let ok = match (req.method.as_str(), req.path.as_str()) {
            ("POST", REGISTER) => {
                s.note(Note::Registered(req.arrived));
                reply(
                    &mut out,
                    "200 OK",
                    &[
                        ("lambda-extension-identifier", "bench-extension-id"),
                        ("content-type", "application/json"),
                    ],
                    br#"{"functionName":"_","functionVersion":"1","handler":"bootstrap"}"#,
                )
            }
            ("GET", EXTENSION_NEXT) => {
                // Subscribed to no events: Lambda never answers. Hold until the peer goes away.
                hold(&mut r, s);
                return;
            }
            ("GET", NEXT) => {
                s.note(Note::Polled(req.arrived));
                let Some((id, payload)) = next_event(s) else {
                    return;
                };
                let deadline = (SystemTime::now() + DEADLINE)
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or_default()
                    .to_string();
                let headers = [
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
                let at = Instant::now();
                let ok = reply(&mut out, "200 OK", &headers, &payload);
                s.note(Note::Handed { id, at });
                ok
            }
            ("POST", INIT_ERROR) => {
                s.note(Note::InitError(
                    String::from_utf8_lossy(&req.body).into_owned(),
                ));
                reply(&mut out, "202 Accepted", &[], br#"{"status":"OK"}"#)
            }
            ("POST", p) if p.starts_with(INVOCATION) => {
                let at = Instant::now();
                let rest = &p[INVOCATION.len()..];
                let (id, kind) = rest.split_once('/').unwrap_or((rest, ""));
                s.note(Note::Answered {
                    id: id.to_owned(),
                    at,
                    body: req.body,
                    error: kind == "error",
                });
                reply(&mut out, "202 Accepted", &[], br#"{"status":"OK"}"#)
            }
            _ => reply(&mut out, "404 Not Found", &[], b"{}"),
        };
        if !ok {
            return;
        }
    }
}

/// The next queued event; `None` once the stand-in stops.
fn next_event(s: &Shared) -> Option<(String, Vec<u8>)> {
    let mut q = s.queue.lock().ok()?;
    loop {
        if s.stopped() {
            return None;
        }
        if let Some(next) = q.pop_front() {
            return Some(next);
        }
        q = s.queued.wait_timeout(q, POLL).ok()?.0;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends one request on `conn` and returns (status line, body).
    fn call(conn: &mut BufReader<TcpStream>, method: &str, path: &str, body: &str) -> String {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        );
        conn.get_mut().write_all(req.as_bytes()).unwrap();
        let mut status = String::new();
        conn.read_line(&mut status).unwrap();
        let mut length = 0;
        let mut headers = String::new();
        loop {
            let mut h = String::new();
            conn.read_line(&mut h).unwrap();
            if h.trim_end().is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().unwrap();
            }
            headers.push_str(&h);
        }
        let mut b = vec![0; length];
        conn.read_exact(&mut b).unwrap();
        format!("{}{headers}\n{}", status, String::from_utf8(b).unwrap())
    }

    #[test]
    fn serves_one_invocation_and_reports_each_step() {
        let mut api = RuntimeApi::start().unwrap();
        let mut conn = BufReader::new(TcpStream::connect(api.addr).unwrap());
        let reg = call(&mut conn, "POST", REGISTER, r#"{"events":[]}"#);
        assert!(reg.starts_with("HTTP/1.1 200"), "{reg}");
        assert!(reg.contains("lambda-extension-identifier"));
        assert!(matches!(
            api.recv(Duration::from_secs(5)).unwrap(),
            Note::Registered(_)
        ));

        let id = api.queue(br#"{"hello":1}"#.to_vec());
        let next = call(&mut conn, "GET", NEXT, "");
        assert!(next.contains(&format!("lambda-runtime-aws-request-id: {id}")));
        assert!(next.contains("lambda-runtime-deadline-ms: "));
        assert!(next.ends_with(r#"{"hello":1}"#), "{next}");
        // Same keep-alive connection for the answer.
        let path = format!("{INVOCATION}{id}/response");
        let done = call(&mut conn, "POST", &path, r#"{"ok":true}"#);
        assert!(done.starts_with("HTTP/1.1 202"), "{done}");

        let mut handed = None;
        let mut answered = None;
        while handed.is_none() || answered.is_none() {
            match api.recv(Duration::from_secs(5)).unwrap() {
                Note::Polled(_) => {}
                Note::Handed { id: h, at } => {
                    assert_eq!(h, id);
                    handed = Some(at);
                }
                Note::Answered {
                    id: a,
                    at,
                    body,
                    error,
                } => {
                    assert_eq!(
                        (a.as_str(), body.as_slice(), error),
                        (id.as_str(), &br#"{"ok":true}"#[..], false)
                    );
                    answered = Some(at);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(answered.unwrap() >= handed.unwrap());
    }

    #[test]
    fn extension_next_is_held_until_the_peer_leaves() {
        let api = RuntimeApi::start().unwrap();
        let mut conn = TcpStream::connect(api.addr).unwrap();
        conn.write_all(format!("GET {EXTENSION_NEXT} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
            .unwrap();
        conn.set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = [0u8; 16];
        let e = conn.read(&mut buf).unwrap_err();
        assert!(matches!(
            e.kind(),
            ErrorKind::WouldBlock | ErrorKind::TimedOut
        ));
    }
}
