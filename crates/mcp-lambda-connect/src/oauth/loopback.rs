//! The browser half of the authorization-code flow: the system browser is sent to the
//! authorization URL, and the authorization server sends it back to a listener on
//! `127.0.0.1` (RFC 8252 §7.3: loopback redirect).
//!
//! Contract: [`Loopback::wait`] answers each connection on its own, at most [`MAX_CONNECTIONS`]
//! at once, more waiting in the listen backlog (one request head of at most [`MAX_HEAD`] bytes, read within [`READ_WITHIN`]; an
//! idle connection does not hold up the others) and returns the first redirect to
//! [`CALLBACK_PATH`] whose `state` is the one expected: its `code`, or the authorization error
//! it carries. A redirect with another state is answered 400 and ignored (a page elsewhere on
//! the machine cannot end or steer the flow); other paths are answered 404. The listener is
//! closed when the wait ends or is dropped. [`open_browser`] runs the browser command without
//! a shell, with its stdin and stdout closed (stdout is the MCP channel), and never waits for it.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::Failure;

/// The path of the redirect URI.
pub(crate) const CALLBACK_PATH: &str = "/callback";
/// Largest request head read from the browser.
pub(crate) const MAX_HEAD: usize = 16 * 1024;
/// Connections served at once (a browser may open spares it never uses).
pub(crate) const MAX_CONNECTIONS: usize = 16;
/// Longest wait for one request head.
pub(crate) const READ_WITHIN: Duration = Duration::from_secs(10);

/// What the redirect carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Callback {
    /// The authorization code.
    pub(crate) code: String,
    /// RFC 9207 `iss`, when sent.
    pub(crate) iss: Option<String>,
}

/// A listener for the redirect.
pub(crate) struct Loopback {
    listener: TcpListener,
    port: u16,
}

impl Loopback {
    /// Listens on `127.0.0.1:port` (0: any free port).
    pub(crate) async fn bind(port: u16) -> std::io::Result<Loopback> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let port = listener.local_addr()?.port();
        Ok(Loopback { listener, port })
    }

    /// The redirect URI this listener receives.
    pub(crate) fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}{CALLBACK_PATH}", self.port)
    }

    /// Waits (at most `within`) for the redirect carrying `state` (see the module docs).
    pub(crate) async fn wait(self, state: &str, within: Duration) -> Result<Callback, Failure> {
        let run = async {
            let mut conns = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    // beyond the bound, connections wait in the listen backlog
                    accepted = self.listener.accept(), if conns.len() < MAX_CONNECTIONS => {
                        match accepted {
                            Ok((conn, _)) => {
                                conns.spawn(serve(conn, state.to_owned()));
                            }
                            // out of descriptors or the like: not a busy loop
                            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
                        }
                    }
                    Some(served) = conns.join_next(), if !conns.is_empty() => {
                        if let Ok(Some(done)) = served {
                            return done;
                        }
                    }
                }
            }
        };
        tokio::time::timeout(within, run).await.map_err(|_| {
            Failure::Credentials(format!(
                "nobody signed in within {}s (the authorization page was not completed)",
                within.as_secs()
            ))
        })?
    }
}

/// Answers one connection; `Some` when it was the redirect expected.
async fn serve(mut conn: TcpStream, state: String) -> Option<Result<Callback, Failure>> {
    let head = match tokio::time::timeout(READ_WITHIN, read_head(&mut conn)).await {
        Ok(Some(h)) => h,
        _ => return None,
    };
    let (status, page, done) = judge(&head, &state);
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>mcp-lambda connect</title><p>{page}</p>"
    );
    let resp = format!(
        "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\ncache-control: no-store\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(READ_WITHIN, conn.write_all(resp.as_bytes())).await;
    let _ = conn.shutdown().await;
    done
}

/// Reads up to the end of the request head (None: too long, cut, or not UTF-8).
async fn read_head(conn: &mut TcpStream) -> Option<String> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut chunk).await.ok()?;
        if n == 0 || buf.len() + n > MAX_HEAD {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(buf).ok()
}

/// The status, page text and outcome for one request head.
fn judge(head: &str, state: &str) -> (&'static str, String, Option<Result<Callback, Failure>>) {
    let line = head.lines().next().unwrap_or_default();
    let mut parts = line.split(' ');
    let (method, target) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if method != "GET" || path != CALLBACK_PATH {
        return ("404 Not Found", "Not found.".into(), None);
    }
    let mut got = std::collections::HashMap::new();
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        got.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    if got.get("state").map(String::as_str) != Some(state) {
        return (
            "400 Bad Request",
            "This sign-in answer is not the one mcp-lambda connect is waiting for; ignored.".into(),
            None,
        );
    }
    if let Some(error) = got.get("error") {
        let text = |s: &str| crate::excerpt(s, 200);
        let desc = got
            .get("error_description")
            .map(|d| text(d))
            .unwrap_or_default();
        return (
            "200 OK",
            "Sign-in refused. You can close this window.".into(),
            Some(Err(Failure::Credentials(format!(
                "sign-in refused by the authorization server: {}{}{desc}",
                text(error),
                if desc.is_empty() { "" } else { ": " }
            )))),
        );
    }
    match got.remove("code").filter(|c| !c.is_empty()) {
        Some(code) => (
            "200 OK",
            "Signed in. You can close this window and return to your MCP client.".into(),
            Some(Ok(Callback {
                code,
                iss: got.remove("iss"),
            })),
        ),
        None => (
            "400 Bad Request",
            "No authorization code in this answer.".into(),
            None,
        ),
    }
}

/// The command that opens a URL in the system browser, when none is configured.
fn default_browser() -> Vec<String> {
    if cfg!(target_os = "macos") {
        vec!["open".into()]
    } else if cfg!(windows) {
        vec!["rundll32".into(), "url.dll,FileProtocolHandler".into()]
    } else {
        vec!["xdg-open".into()]
    }
}

/// Opens `url` with `command` (split like a shell would, the URL appended as the last
/// argument; default: the system's opener). Failing to start is only logged: the URL is in the
/// log for the user to open by hand.
pub(crate) fn open_browser(command: Option<&str>, url: &str) {
    let argv = match command {
        Some(c) => match shlex::split(c).filter(|v| !v.is_empty()) {
            Some(v) => v,
            None => {
                tracing::warn!(
                    command = c,
                    "the browser command cannot be split into words"
                );
                return;
            }
        },
        None => default_browser(),
    };
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    match cmd.spawn() {
        Ok(mut child) => {
            // reaped in the background; never waited for here
            std::thread::spawn(move || child.wait());
        }
        Err(e) => {
            tracing::warn!(browser = %argv[0], error = %e, "the browser could not be started")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(target: &str) -> String {
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    }

    #[test]
    fn only_the_expected_redirect_ends_the_wait() {
        let (s, _, done) = judge(
            &get("/callback?code=abc&state=s1&iss=https%3A%2F%2Fa"),
            "s1",
        );
        assert_eq!(s, "200 OK");
        assert_eq!(
            done.unwrap().unwrap(),
            Callback {
                code: "abc".into(),
                iss: Some("https://a".into())
            }
        );
        let (s, _, done) = judge(&get("/callback?code=abc&state=forged"), "s1");
        assert_eq!(s, "400 Bad Request");
        assert!(done.is_none());
        let (_, _, done) = judge(&get("/callback?code=abc"), "s1");
        assert!(done.is_none());
        let (s, _, done) = judge(&get("/favicon.ico"), "s1");
        assert_eq!(s, "404 Not Found");
        assert!(done.is_none());
        let (_, _, done) = judge("POST /callback?code=a&state=s1 HTTP/1.1\r\n\r\n", "s1");
        assert!(done.is_none());
        // The first value counts: a second state cannot be smuggled after a forged one.
        let (_, _, done) = judge(&get("/callback?state=forged&state=s1&code=a"), "s1");
        assert!(done.is_none());
        let (_, page, done) = judge(
            &get("/callback?error=access_denied&error_description=no%3Cscript%3E&state=s1"),
            "s1",
        );
        let e = done.unwrap().unwrap_err().to_string();
        assert!(
            e.contains("access_denied") && e.contains("no<script>"),
            "{e}"
        );
        assert!(
            !page.contains('<'),
            "the page does not echo the error: {page}"
        );
    }

    #[tokio::test]
    async fn the_listener_answers_and_keeps_waiting_until_the_right_redirect() {
        let lb = Loopback::bind(0).await.unwrap();
        let uri = lb.redirect_uri();
        assert!(uri.starts_with("http://127.0.0.1:") && uri.ends_with("/callback"));
        let port: u16 = uri["http://127.0.0.1:".len()..uri.len() - "/callback".len()]
            .parse()
            .unwrap();
        let waiting = tokio::spawn(lb.wait("st", Duration::from_secs(10)));
        let send = |req: String| async move {
            let mut c = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            let _ = c.write_all(req.as_bytes()).await;
            let mut out = String::new();
            let _ = c.read_to_string(&mut out).await;
            out
        };
        assert!(
            send(get("/callback?code=x&state=bad"))
                .await
                .starts_with("HTTP/1.1 400")
        );
        // A head that never ends is dropped at its bound, and an idle connection (a browser's
        // spare) does not hold up the redirect.
        assert_eq!(
            send(format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_HEAD))).await,
            ""
        );
        let _idle = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        assert!(
            send(get("/callback?code=good&state=st"))
                .await
                .starts_with("HTTP/1.1 200")
        );
        let cb = waiting.await.unwrap().unwrap();
        assert_eq!(cb.code, "good");
        let lb = Loopback::bind(0).await.unwrap();
        let e = lb.wait("st", Duration::from_millis(50)).await.unwrap_err();
        assert!(e.to_string().contains("nobody signed in"), "{e}");
    }
}
