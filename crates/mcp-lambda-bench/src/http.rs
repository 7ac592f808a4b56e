//! Minimal HTTP/1.1 clients for the benchmark: a raw keep-alive client over one `TcpStream`,
//! and the same interface over a `ureq` 2 agent (to show what a general client adds).
//!
//! Contract: [`Client::request`] sends one request and returns the whole response (status,
//! lower-cased headers, body with `Content-Length` or chunked framing undone). The raw client keeps
//! one connection alive (`TCP_NODELAY`, request written with a single `write`), reconnects when
//! the server closed it, and never pipelines. [`json_rpc_from_body`] extracts the JSON-RPC message
//! from an `application/json` or `text/event-stream` body.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

/// One HTTP response, read whole.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    /// Header names lower-cased.
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lower-case).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Which HTTP client implementation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Hand-written HTTP/1.1 over `TcpStream`.
    Raw,
    /// `ureq` 2 agent.
    Ureq,
}

impl Kind {
    /// Its name in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Raw => "raw",
            Kind::Ureq => "ureq",
        }
    }
}

/// A keep-alive HTTP client bound to one server.
pub(crate) enum Client {
    /// See [`RawClient`].
    Raw(RawClient),
    /// A `ureq` agent and the server's base URL.
    Ureq(ureq::Agent, String),
}

impl Client {
    /// A client of `kind` for the server at `addr`.
    pub(crate) fn new(kind: Kind, addr: SocketAddr) -> Self {
        match kind {
            Kind::Raw => Client::Raw(RawClient::new(addr)),
            Kind::Ureq => Client::Ureq(
                ureq::AgentBuilder::new()
                    .timeout(Duration::from_secs(120))
                    .build(),
                format!("http://{addr}"),
            ),
        }
    }

    /// Sends `method path` with `headers` and `body`; returns the whole response.
    pub(crate) fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<Response> {
        match self {
            Client::Raw(c) => c.request(method, path, headers, body),
            Client::Ureq(agent, base) => {
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
                    Ok(r) => r,
                    Err(ureq::Error::Status(_, r)) => r,
                    Err(e) => return Err(e).context("ureq request"),
                };
                let status = resp.status();
                let headers = resp
                    .headers_names()
                    .into_iter()
                    .filter_map(|n| {
                        let v = resp.header(&n)?.to_owned();
                        Some((n.to_ascii_lowercase(), v))
                    })
                    .collect();
                let mut body = Vec::new();
                resp.into_reader()
                    .read_to_end(&mut body)
                    .context("reading a ureq body")?;
                Ok(Response {
                    status,
                    headers,
                    body,
                })
            }
        }
    }
}

/// Hand-written HTTP/1.1 client: one keep-alive connection, no pipelining.
pub(crate) struct RawClient {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
    buf: Vec<u8>,
}

impl RawClient {
    fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            conn: None,
            buf: Vec::with_capacity(1024),
        }
    }

    fn connect(&self) -> anyhow::Result<BufReader<TcpStream>> {
        let s = TcpStream::connect(self.addr).with_context(|| format!("connect {}", self.addr))?;
        s.set_nodelay(true)?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(BufReader::with_capacity(64 * 1024, s))
    }

    fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> anyhow::Result<Response> {
        self.buf.clear();
        write!(
            self.buf,
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-length: {}\r\n",
            self.addr,
            body.len()
        )?;
        for (k, v) in headers {
            write!(self.buf, "{k}: {v}\r\n")?;
        }
        self.buf.extend_from_slice(b"\r\n");
        self.buf.extend_from_slice(body);

        // A reused connection may have been closed by the server while idle: retry once on a
        // fresh one when nothing at all was read back.
        let reused = self.conn.is_some();
        match self.attempt() {
            Ok(r) => Ok(r),
            Err(Attempt::Early(e)) if reused => {
                self.conn = None;
                self.attempt().map_err(|a| a.into_inner()).context(e)
            }
            Err(a) => {
                self.conn = None;
                Err(a.into_inner())
            }
        }
    }

    fn attempt(&mut self) -> Result<Response, Attempt> {
        if self.conn.is_none() {
            self.conn = Some(self.connect().map_err(Attempt::Late)?);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(Attempt::Late(anyhow::anyhow!("no connection")));
        };
        conn.get_mut()
            .write_all(&self.buf)
            .map_err(|e| Attempt::Early(e.into()))?;
        let mut line = String::new();
        let n = conn
            .read_line(&mut line)
            .map_err(|e| Attempt::Early(e.into()))?;
        if n == 0 {
            return Err(Attempt::Early(anyhow::anyhow!(
                "connection closed before the status line"
            )));
        }
        let resp = read_rest(conn, &line).map_err(Attempt::Late)?;
        let close = resp
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if close {
            self.conn = None;
        }
        Ok(resp)
    }
}

enum Attempt {
    /// Failed before any response byte: safe to retry on a new connection.
    Early(anyhow::Error),
    /// Failed mid-response.
    Late(anyhow::Error),
}

impl Attempt {
    fn into_inner(self) -> anyhow::Error {
        match self {
            Attempt::Early(e) | Attempt::Late(e) => e,
        }
    }
}

fn read_rest(conn: &mut BufReader<TcpStream>, status_line: &str) -> anyhow::Result<Response> {
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if conn.read_line(&mut line)? == 0 {
            bail!("connection closed in the headers");
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let (k, v) = line
            .split_once(':')
            .with_context(|| format!("bad header line {line:?}"))?;
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if let Some(len) = find("content-length") {
        let len: usize = len.parse().context("bad content-length")?;
        body.resize(len, 0);
        conn.read_exact(&mut body)?;
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            if conn.read_line(&mut size)? == 0 {
                bail!("connection closed in a chunked body");
            }
            let size = size.trim_end_matches(['\r', '\n']);
            let size = size.split(';').next().unwrap_or("");
            let n = usize::from_str_radix(size.trim(), 16)
                .with_context(|| format!("bad chunk size {size:?}"))?;
            if n == 0 {
                // Trailers (none expected) up to the empty line.
                loop {
                    let mut t = String::new();
                    if conn.read_line(&mut t)? == 0 || t.trim_end_matches(['\r', '\n']).is_empty() {
                        break;
                    }
                }
                break;
            }
            let start = body.len();
            body.resize(start + n, 0);
            conn.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            conn.read_exact(&mut crlf)?;
        }
    } else if status == 204 || status == 304 || (100..200).contains(&status) {
        // No body.
    } else {
        conn.read_to_end(&mut body)?;
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// The JSON-RPC message with id `id` in a response body: the body itself when it is JSON, or
/// the `data:` of the SSE event carrying that id when it is `text/event-stream`.
pub(crate) fn json_rpc_from_body(resp: &Response, id: &Value) -> anyhow::Result<Value> {
    let text = std::str::from_utf8(&resp.body).context("body is not UTF-8")?;
    let is_sse = resp
        .header("content-type")
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if !is_sse {
        return serde_json::from_str(text)
            .with_context(|| format!("body is not JSON: {}", clip(text)));
    }
    // Events are separated by blank lines; an event's data is its `data:` lines joined by \n.
    for event in text.split("\n\n") {
        let data: Vec<&str> = event
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .map(|d| d.strip_prefix(' ').unwrap_or(d))
            .collect();
        if data.is_empty() {
            continue;
        }
        let Ok(msg) = serde_json::from_str::<Value>(&data.join("\n")) else {
            continue;
        };
        if msg.get("id") == Some(id) {
            return Ok(msg);
        }
    }
    bail!("no SSE event answers id {id}: {}", clip(text))
}

/// The first 300 characters of `s`, for error messages.
pub(crate) fn clip(s: &str) -> String {
    s.chars().take(300).collect()
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
        let m = json_rpc_from_body(&r, &json!(7)).unwrap();
        assert_eq!(m["result"]["ok"], true);
        assert!(json_rpc_from_body(&r, &json!(8)).is_err());
    }
}
