//! HTTP/1.1 for tests and the benchmark: one small codec ([`read_head`], [`read_body`],
//! [`write_message`]) shared by the raw client, the stand-in Runtime API and the bench's
//! counting relay; the raw keep-alive client; and `ureq` for the e2e helpers ([`http`],
//! [`post`]) and as the bench's "general client" alternative.
//!
//! Contract: [`RawClient::request`] sends one request, written with a single `write` on one
//! keep-alive `TcpStream` with `TCP_NODELAY`, and returns the whole response (status,
//! lower-cased headers, body with `Content-Length` or chunked framing undone). It never
//! pipelines, reconnects when the server closed the connection, and retries once on a fresh
//! connection only when a reused one failed before any byte of the answer. [`http`] treats
//! 4xx/5xx as answers, not errors, and panics on transport failures (it is for tests).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;

/// How long the clients wait for an answer.
const TIMEOUT: Duration = Duration::from_secs(120);

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// A message head: the start line and the headers, names lower-cased.
#[derive(Debug, Clone)]
pub struct Head {
    /// The request or status line, without its line ending.
    pub start: String,
    /// (lower-cased name, trimmed value), in order.
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the body is chunked.
    pub fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    /// `Content-Length`, unless the body is chunked or the header absent.
    pub fn content_length(&self) -> io::Result<Option<usize>> {
        if self.chunked() {
            return Ok(None);
        }
        self.header("content-length")
            .map(|v| {
                v.parse()
                    .map_err(|_| invalid(format!("bad content-length {v:?}")))
            })
            .transpose()
    }

    /// Whether the sender closes the connection after this message.
    pub fn closes(&self) -> bool {
        let conn = self.header("connection").map(str::to_ascii_lowercase);
        conn.as_deref() == Some("close")
            || (self.start.starts_with("HTTP/1.0") && conn.as_deref() != Some("keep-alive"))
    }
}

/// Reads one message head; `Ok(None)` on a clean end of stream before its first byte.
pub fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut start = String::new();
    if r.read_line(&mut start)? == 0 {
        return Ok(None);
    }
    let start = start.trim_end_matches(['\r', '\n']).to_owned();
    let mut headers = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            return Ok(Some(Head { start, headers }));
        }
        let (k, v) = l
            .split_once(':')
            .ok_or_else(|| invalid(format!("bad header line {l:?}")))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
}

/// Reads the body that follows `head`: by `Content-Length`, chunked, or — when `to_eof` (a
/// response that may be delimited by the connection's end) — up to the end of the stream.
pub fn read_body(r: &mut impl BufRead, head: &Head, to_eof: bool) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    if let Some(len) = head.content_length()? {
        body.resize(len, 0);
        r.read_exact(&mut body)?;
    } else if head.chunked() {
        let mut line = String::new();
        loop {
            line.clear();
            if r.read_line(&mut line)? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let size = line.trim_end().split(';').next().unwrap_or("").trim();
            let n = usize::from_str_radix(size, 16)
                .map_err(|_| invalid(format!("bad chunk size {size:?}")))?;
            if n == 0 {
                // Trailers (none expected) up to the empty line.
                loop {
                    line.clear();
                    if r.read_line(&mut line)? == 0 || line.trim_end().is_empty() {
                        return Ok(body);
                    }
                }
            }
            let start = body.len();
            body.resize(start + n, 0);
            r.read_exact(&mut body[start..])?;
            r.read_exact(&mut [0u8; 2])?;
        }
    } else if to_eof {
        r.read_to_end(&mut body)?;
    }
    Ok(body)
}

/// Serialises one message into `buf` (cleared first) for a single `write`: `start`, a
/// `content-length` of `body`, then `headers` and `body`.
pub fn write_message(buf: &mut Vec<u8>, start: &str, headers: &[(&str, &str)], body: &[u8]) {
    buf.clear();
    let _ = write!(buf, "{start}\r\ncontent-length: {}\r\n", body.len());
    for (k, v) in headers {
        let _ = write!(buf, "{k}: {v}\r\n");
    }
    buf.extend_from_slice(b"\r\n");
    buf.extend_from_slice(body);
}

/// One HTTP response, read whole.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body, framing undone.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text, cut to 300 characters (for error messages).
    pub fn text(&self) -> String {
        clip(&String::from_utf8_lossy(&self.body))
    }
}

/// Hand-written HTTP/1.1 client: one keep-alive connection, no pipelining.
pub struct RawClient {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    buf: Vec<u8>,
}

/// A failed try: `early` when nothing of the answer was read (safe to retry).
struct Failed {
    early: bool,
    error: io::Error,
}

impl RawClient {
    /// A client of the server at `addr` (connects on first use).
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            conn: None,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Sends `method path` with `headers` and `body`; returns the whole response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let host = self.addr.to_string();
        let mut all = Vec::with_capacity(headers.len() + 1);
        all.push(("host", host.as_str()));
        all.extend_from_slice(headers);
        write_message(
            &mut self.buf,
            &format!("{method} {path} HTTP/1.1"),
            &all,
            body,
        );
        let reused = self.conn.is_some();
        match self.attempt() {
            Ok(r) => Ok(r),
            // A kept-alive connection the server closed while idle: once more on a new one.
            Err(f) if f.early && reused => {
                self.conn = None;
                self.attempt().map_err(|f| f.error)
            }
            Err(f) => {
                self.conn = None;
                Err(f.error)
            }
        }
    }

    fn attempt(&mut self) -> Result<Response, Failed> {
        let late = |error| Failed {
            early: false,
            error,
        };
        let early = |error| Failed { early: true, error };
        if self.conn.is_none() {
            let s = TcpStream::connect(self.addr).map_err(|e| {
                late(io::Error::new(
                    e.kind(),
                    format!("connect {}: {e}", self.addr),
                ))
            })?;
            s.set_nodelay(true).map_err(late)?;
            s.set_read_timeout(Some(TIMEOUT)).map_err(late)?;
            self.conn = Some(BufReader::with_capacity(64 * 1024, s));
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(late(io::Error::other("no connection")));
        };
        conn.get_mut().write_all(&self.buf).map_err(early)?;
        let head = match read_head(conn) {
            Ok(Some(h)) => h,
            Ok(None) => return Err(early(io::Error::other("closed before the status line"))),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Err(early(e)),
            Err(e) => return Err(late(e)),
        };
        let status: u16 = head
            .start
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| late(invalid(format!("bad status line {:?}", head.start))))?;
        let bodiless = status == 204 || status == 304 || (100..200).contains(&status);
        let body = read_body(conn, &head, !bodiless).map_err(late)?;
        if head.closes() {
            self.conn = None;
        }
        Ok(Response {
            status,
            headers: head.headers,
            body,
        })
    }
}

/// Which client the bench measures with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// [`RawClient`].
    Raw,
    /// A `ureq` 2 agent.
    Ureq,
}

impl ClientKind {
    /// Its name in reports and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Raw => "raw",
            ClientKind::Ureq => "ureq",
        }
    }
}

impl FromStr for ClientKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "raw" => Ok(ClientKind::Raw),
            "ureq" => Ok(ClientKind::Ureq),
            other => Err(format!("{other:?} is not raw or ureq")),
        }
    }
}

/// A keep-alive HTTP client bound to one server: the raw client or a `ureq` agent.
pub enum Client {
    /// See [`RawClient`].
    Raw(RawClient),
    /// A `ureq` agent and the server's base URL.
    Ureq(ureq::Agent, String),
}

impl Client {
    /// A client of `kind` for the server at `addr`.
    pub fn new(kind: ClientKind, addr: SocketAddr) -> Self {
        match kind {
            ClientKind::Raw => Client::Raw(RawClient::new(addr)),
            ClientKind::Ureq => Client::Ureq(agent(), format!("http://{addr}")),
        }
    }

    /// Sends `method path` with `headers` and `body`; returns the whole response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> io::Result<Response> {
        let (agent, base) = match self {
            Client::Raw(c) => return c.request(method, path, headers, body),
            Client::Ureq(agent, base) => (agent, base),
        };
        let mut req = agent.request(method, &format!("{base}{path}"));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let result = if method == "GET" {
            req.call()
        } else {
            req.send_bytes(body)
        };
        let resp = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(io::Error::other(format!("ureq: {e}"))),
        };
        let status = resp.status();
        let headers = resp
            .headers_names()
            .into_iter()
            .filter_map(|n| Some((n.to_ascii_lowercase(), resp.header(&n)?.to_owned())))
            .collect();
        let mut body = Vec::new();
        resp.into_reader().read_to_end(&mut body)?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// The JSON-RPC message with id `id` in a response body: the body itself when it is JSON, or
/// the `data:` of the SSE event carrying that id when it is `text/event-stream`.
pub fn json_rpc_from_body(resp: &Response, id: &Value) -> Result<Value, String> {
    let text = std::str::from_utf8(&resp.body).map_err(|_| "body is not UTF-8".to_owned())?;
    let is_sse = resp
        .header("content-type")
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        return serde_json::from_str(text)
            .map_err(|e| format!("body is not JSON ({e}): {}", clip(text)));
    }
    // Events are separated by blank lines; an event's data is its `data:` lines joined by \n.
    for event in text.split("\n\n") {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if let Ok(msg) = serde_json::from_str::<Value>(&data.join("\n"))
            && msg.get("id") == Some(id)
        {
            return Ok(msg);
        }
    }
    Err(format!("no SSE event answers id {id}: {}", clip(text)))
}

/// The first 300 characters of `s`, for error messages.
pub fn clip(s: &str) -> String {
    s.chars().take(300).collect()
}

/// An HTTP answer, for the e2e helpers.
#[derive(Debug)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// (name, value) as the server sent them.
    pub headers: Vec<(String, String)>,
    /// The body as text.
    pub body: String,
}

impl Resp {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }
}

fn agent() -> ureq::Agent {
    ureq::AgentBuilder::new().timeout(TIMEOUT).build()
}

/// Any HTTP request; 4xx/5xx are answers, not errors. Panics on a transport failure.
pub fn http(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&str>) -> Resp {
    let mut req = agent().request(method, url);
    for (k, v) in headers {
        req = req.set(k, v);
    }
    let result = match body {
        Some(b) => req.send_string(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let headers = resp
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = resp.header(&n).unwrap_or("").to_string();
            (n, v)
        })
        .collect();
    let body = resp.into_string().unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

/// A POST with the headers a Streamable HTTP client sends.
pub fn post(url: &str, extra: &[(&str, &str)], body: &str) -> Resp {
    let mut headers = vec![
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    headers.extend_from_slice(extra);
    http("POST", url, &headers, Some(body))
}

/// Opens a raw `GET /mcp` stream of `session` on the server at `base` (`http://host:port`),
/// resuming after `last_event_id` if given; returns the connection and its lines as they come
/// (the chunked framing's size lines included: a lone `0` ends the stream).
pub fn get_stream(
    base: &str,
    session: &str,
    last_event_id: Option<&str>,
) -> (TcpStream, std::sync::mpsc::Receiver<String>) {
    let addr = base.trim_start_matches("http://").to_string();
    let mut conn = TcpStream::connect(&addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    let resume = last_event_id
        .map(|id| format!("Last-Event-ID: {id}\r\n"))
        .unwrap_or_default();
    write!(
        conn,
        "GET /mcp HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {session}\r\nMCP-Protocol-Version: 2025-11-25\r\n{resume}\r\n"
    )
    .unwrap_or_else(|e| panic!("send a GET: {e}"));
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = BufReader::new(
        conn.try_clone()
            .unwrap_or_else(|e| panic!("clone the connection: {e}")),
    );
    std::thread::spawn(move || {
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (conn, rx)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resp(ct: &str, body: &str) -> Response {
        Response {
            status: 200,
            headers: vec![("content-type".into(), ct.into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn plain_json_body() {
        let r = resp(
            "application/json",
            r#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
        );
        assert_eq!(json_rpc_from_body(&r, &json!(3)).unwrap()["id"], 3);
    }

    #[test]
    fn sse_body_picks_the_event_with_the_id() {
        let body = "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}\n\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{\"ok\":true}}\n\n";
        let r = resp("text/event-stream", body);
        assert_eq!(
            json_rpc_from_body(&r, &json!(7)).unwrap()["result"]["ok"],
            true
        );
        assert!(json_rpc_from_body(&r, &json!(8)).is_err());
    }

    #[test]
    fn reads_chunked_and_counted_bodies() {
        let mut r = &b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x\r\nde\r\n0\r\n\r\nPOST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"[..];
        let head = read_head(&mut r).unwrap().unwrap();
        assert_eq!(head.header("Transfer-Encoding"), Some("chunked"));
        assert_eq!(read_body(&mut r, &head, true).unwrap(), b"abcde");
        let head = read_head(&mut r).unwrap().unwrap();
        assert_eq!(head.start, "POST / HTTP/1.1");
        assert_eq!(read_body(&mut r, &head, false).unwrap(), b"hi");
        assert!(read_head(&mut r).unwrap().is_none());
    }
}
