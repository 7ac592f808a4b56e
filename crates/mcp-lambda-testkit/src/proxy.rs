//! Loopback HTTP/1.1 proxies for tests and the bench: [`RoundRobin`] spreads one client's
//! requests over several backends (what a load balancer in front of several servers or Lambda
//! environments does); [`CountingRelay`] counts the requests to an AWS JSON API (DynamoDB) by
//! `X-Amz-Target` operation.
//!
//! Contract: [`RoundRobin`]: each exchange is one connection (`Connection: close` both ways);
//! request bodies are read by `Content-Length`, and the response is relayed until the backend
//! closes; it stops accepting when dropped. [`CountingRelay`]: one thread per client connection
//! relays request, then response, in turn (the SDK never pipelines), with the kit's codec. A
//! request is counted when its head has been read, before it is forwarded, so once the answer
//! to a request that caused AWS calls is back, every one of them has been counted. A request
//! without `Content-Length` is counted as unframed and its connection dropped. An upstream that
//! closes every connection (moto's werkzeug) is reconnected per request while the client's side
//! stays alive, like DynamoDB's keep-alive endpoint, so [`Tally::connections`] shows whether the
//! client reuses connections. It also records each operation's time to the response head.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::io::{self, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use crate::http::{Head, read_body, read_head, write_message};

/// Requests per operation (`GetItem`, ...).
pub type Ops = BTreeMap<String, u64>;

/// What the relay saw.
#[derive(Default)]
pub struct Tally {
    /// Requests per operation.
    pub ops: Ops,
    /// Per operation: request forwarded → the emulator's response head read.
    pub ttfb: BTreeMap<String, Vec<Duration>>,
    /// TCP connections accepted from SDK clients.
    pub connections: u64,
    /// Requests without `Content-Length` framing (the connection is then dropped).
    pub unframed: u64,
}

/// A running counting relay.
pub struct CountingRelay {
    /// Where it listens.
    pub addr: SocketAddr,
    tally: Arc<Mutex<Tally>>,
}

impl CountingRelay {
    /// Listens on a loopback port and relays to `upstream`.
    pub fn start(upstream: SocketAddr) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let tally = Arc::new(Mutex::new(Tally::default()));
        let t = tally.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                lock(&t).connections += 1;
                let t = t.clone();
                thread::spawn(move || {
                    if let Err(e) = relay(conn, upstream, &t) {
                        eprintln!("counting relay: {e}");
                    }
                });
            }
        });
        Ok(Self { addr, tally })
    }

    /// The tally so far.
    pub fn tally(&self) -> MutexGuard<'_, Tally> {
        lock(&self.tally)
    }

    /// Requests per operation so far.
    pub fn ops(&self) -> Ops {
        self.tally().ops.clone()
    }
}

/// The tally, also after a relay thread panicked (its counts so far stay valid).
fn lock(t: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    t.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `head`'s headers without those named in `drop`.
fn headers_but<'a>(head: &'a Head, drop: &[&str]) -> Vec<(&'a str, &'a str)> {
    head.headers
        .iter()
        .filter(|(k, _)| !drop.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn relay(client: TcpStream, upstream: SocketAddr, tally: &Mutex<Tally>) -> io::Result<()> {
    client.set_nodelay(true)?;
    let mut to_client = client.try_clone()?;
    let mut from_client = BufReader::with_capacity(64 * 1024, client);
    let mut server: Option<BufReader<TcpStream>> = None;
    let mut buf = Vec::with_capacity(8192);
    while let Some(req) = read_head(&mut from_client)? {
        let target = req.header("x-amz-target").unwrap_or("(no X-Amz-Target)");
        let op = target.rsplit('.').next().unwrap_or(target).to_owned();
        *lock(tally).ops.entry(op.clone()).or_default() += 1;
        if req.content_length()?.is_none() {
            lock(tally).unframed += 1;
            let msg = format!("{op}: request without Content-Length (chunked?): not supported");
            return Err(io::Error::other(msg));
        }
        let body = read_body(&mut from_client, &req, false)?;
        write_message(
            &mut buf,
            &req.start,
            &headers_but(&req, &["content-length"]),
            &body,
        );

        // The emulator closes every connection after one response: reconnect as needed.
        let conn = match &mut server {
            Some(c) => c,
            None => {
                let s = TcpStream::connect(upstream)?;
                s.set_nodelay(true)?;
                s.set_read_timeout(Some(Duration::from_secs(60)))?;
                server.insert(BufReader::with_capacity(64 * 1024, s))
            }
        };
        let sent = Instant::now();
        conn.get_mut().write_all(&buf)?;
        let Some(resp) = read_head(conn)? else {
            return Err(io::Error::other("the upstream closed without answering"));
        };
        let ttfb = sent.elapsed();
        let close = resp.closes();
        if !(close || resp.chunked() || resp.content_length()?.is_some()) {
            let msg = format!("{op}: response without Content-Length on a kept-alive connection");
            return Err(io::Error::other(msg));
        }
        let body = read_body(conn, &resp, true)?;
        // The client side stays alive whatever the emulator does.
        let drop = ["connection", "content-length", "transfer-encoding"];
        write_message(&mut buf, &resp.start, &headers_but(&resp, &drop), &body);
        if close {
            server = None;
        }
        lock(tally).ttfb.entry(op).or_default().push(ttfb);
        to_client.write_all(&buf)?;
    }
    Ok(())
}

/// `after - before`, operation by operation (zeros left out).
pub fn ops_diff(before: &Ops, after: &Ops) -> Ops {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d > 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// A tiny HTTP/1.1 reverse proxy on loopback that sends each request to the next backend in
/// turn (round robin), so one client session alternates between instances. Each exchange is
/// one connection (`Connection: close` both ways); bodies are read by `Content-Length`, and the
/// response is relayed until the backend closes. Stops when dropped.
pub struct RoundRobin {
    /// The proxy's MCP endpoint.
    pub url: String,
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// How many exchanges it has relayed (or started to).
    pub served: Arc<std::sync::atomic::AtomicUsize>,
}

impl RoundRobin {
    /// Proxies `http://127.0.0.1:PORT<path>` to `backends` (base URLs like `http://127.0.0.1:1234`).
    pub fn start(backends: Vec<String>, path: &str) -> RoundRobin {
        use std::io::{Read, Write};
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let served = Arc::new(AtomicUsize::new(0));
        let (s, n) = (stop.clone(), served.clone());
        let hosts: Vec<String> = backends
            .iter()
            .map(|b| b.trim_start_matches("http://").to_string())
            .collect();
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let (mut client, _) = match listener.accept() {
                    Ok(c) => c,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                };
                let _ = client.set_nonblocking(false);
                let host = hosts[n.fetch_add(1, Ordering::Relaxed) % hosts.len()].clone();
                std::thread::spawn(move || {
                    let _ = client.set_read_timeout(Some(Duration::from_secs(60)));
                    // Read the head.
                    let mut buf = Vec::new();
                    let mut byte = [0u8; 1];
                    while !buf.ends_with(b"\r\n\r\n") {
                        match client.read(&mut byte) {
                            Ok(1) => buf.push(byte[0]),
                            _ => return,
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let len: usize = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse().ok())?
                        })
                        .unwrap_or(0);
                    let mut body = vec![0u8; len];
                    if client.read_exact(&mut body).is_err() {
                        return;
                    }
                    let mut lines: Vec<String> = head
                        .trim_end()
                        .lines()
                        .filter(|l| {
                            let k = l.split(':').next().unwrap_or("").to_ascii_lowercase();
                            k != "connection" && k != "host" && k != "keep-alive"
                        })
                        .map(str::to_string)
                        .collect();
                    lines.push(format!("Host: {host}"));
                    lines.push("Connection: close".into());
                    let Ok(mut upstream) = std::net::TcpStream::connect(&host) else {
                        return;
                    };
                    let mut out = lines.join("\r\n").into_bytes();
                    out.extend_from_slice(b"\r\n\r\n");
                    out.extend_from_slice(&body);
                    if upstream.write_all(&out).is_err() {
                        return;
                    }
                    // Relay the response; the client sees Connection: close from the backend
                    // or simply the end of the stream.
                    let mut resp = Vec::new();
                    let _ = upstream.read_to_end(&mut resp);
                    let _ = client.write_all(&resp);
                    let _ = client.shutdown(std::net::Shutdown::Both);
                });
            }
        });
        RoundRobin {
            url: format!("http://127.0.0.1:{port}{path}"),
            stop,
            served,
        }
    }
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
