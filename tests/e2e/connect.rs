//! `mcp-lambda connect` (issue 16, item 1) end to end: real stdio clients (the Python `mcp`
//! SDK's and the TypeScript SDK's) spawn `connect`, which forwards to `serve`, to `serve --auth
//! oauth` with a bearer token from a real OpenID provider, to a Function URL under `cargo lambda
//! watch` signed with SigV4, and to the same function by Invoke (the emulator's Invoke API).
//! SigV4 is checked by an independent verifier (botocore's signer, `tests/clients/
//! sigv4_verifier.py`) in front of the emulator, which also refuses a tampered and a stale
//! request. Then sessions re-created after a 404, retries after 429, and the errors a desktop
//! client gets when the endpoint is unreachable or refuses it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use mcp_lambda_tests::{
    Emulator, LambdaRuntime, Server, bin, cargo_lambda, fixture_modern_cmd, free_port, node,
    oauth_serve, path_str, python_client, require, root, run,
};
use serde_json::{Value, json};

const KEY: &str = "AKIDCONNECTTEST";
const SECRET: &str = "connect-test-secret";
const TOKEN: &str = "connect-test-session-token";
const REGION: &str = "us-east-1";
const WITHIN: Duration = Duration::from_secs(60);

/// The environment of a `connect` signing with the test credentials (nothing from the
/// machine's own AWS configuration).
fn aws_env() -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ACCESS_KEY_ID", KEY.into()),
        ("AWS_SECRET_ACCESS_KEY", SECRET.into()),
        ("AWS_SESSION_TOKEN", TOKEN.into()),
        ("AWS_REGION", REGION.into()),
        ("AWS_CONFIG_FILE", "/nonexistent".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
    ]
}

/// `mcp-lambda connect ARGS` as a command line for a stdio client.
fn connect_cmd(args: &[&str]) -> Vec<String> {
    let mut v = vec![path_str(&bin("mcp-lambda")), "connect".into()];
    v.extend(args.iter().map(|s| s.to_string()));
    v
}

/// Runs a stdio client script (`py_stdio.py MODE` or `ts_stdio.mjs`) that spawns `cmd` with
/// `env`, calls `tool` with `args`, and returns its JSON line.
fn stdio_client(
    interpreter: &Path,
    script: &str,
    mode: Option<&str>,
    tool: &str,
    args: &Value,
    cmd: &[String],
    env: &[(&str, String)],
) -> Value {
    let clients = root().join("tests/clients");
    let mut c = Command::new(interpreter);
    c.current_dir(&clients).arg(clients.join(script));
    if let Some(m) = mode {
        c.arg(m);
    }
    c.args([tool, &args.to_string()]).arg("--").args(cmd);
    for (k, v) in env {
        c.env(k, v);
    }
    let (ok, out, err) = run(&mut c, Duration::from_secs(90));
    assert!(ok, "{script} {mode:?} failed:\n{out}\n{err}");
    let line = out
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {out}\n{err}"))
}

/// Both real stdio clients, every era they speak, through `cmd`: the tools are listed, `echo`
/// answers, and (`streams`) the `slow` tool's progress reaches the client.
fn real_clients(cmd: &[String], env: &[(&str, String)], streams: bool) {
    let mut ran = 0;
    if let Some(py) = python_client() {
        for mode in ["legacy", "auto"] {
            let v = stdio_client(
                &py,
                "py_stdio.py",
                Some(mode),
                "echo",
                &json!({"message": mode}),
                cmd,
                env,
            );
            assert_eq!(v["result"]["content"][0]["text"], mode, "{v}");
            assert!(
                v["tools"].as_array().unwrap().contains(&json!("slow")),
                "{v}"
            );
            if streams {
                let v = stdio_client(
                    &py,
                    "py_stdio.py",
                    Some(mode),
                    "slow",
                    &json!({"ms": 600}),
                    cmd,
                    env,
                );
                assert!(
                    !v["progress"].as_array().unwrap().is_empty(),
                    "{mode}: no progress: {v}"
                );
            }
            ran += 1;
        }
    }
    if let Some(node) = node() {
        let v = stdio_client(
            &node,
            "ts_stdio.mjs",
            None,
            "echo",
            &json!({"message": "ts"}),
            cmd,
            env,
        );
        assert_eq!(v["result"]["content"][0]["text"], "ts", "{v}");
        if streams {
            let v = stdio_client(
                &node,
                "ts_stdio.mjs",
                None,
                "slow",
                &json!({"ms": 600}),
                cmd,
                env,
            );
            assert!(
                !v["progress"].as_array().unwrap().is_empty(),
                "ts: no progress: {v}"
            );
        }
        ran += 1;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        assert_eq!(ran, 3, "a client is missing");
    }
}

/// `connect` driven line by line: what a desktop client does, without an SDK in between.
struct Raw {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    err: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Raw {
    fn start(args: &[&str], env: &[(&str, String)]) -> Raw {
        let mut c = Command::new(bin("mcp-lambda"));
        c.arg("connect").args(args).arg("--log-level").arg("debug");
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
        let err = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let e = err.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut e = e.lock().unwrap();
                e.push_str(&l);
                e.push('\n');
            }
        });
        Raw {
            stdin: child.stdin.take(),
            child,
            lines,
            err,
        }
    }

    fn send(&mut self, msg: &Value) {
        let s = self.stdin.as_mut().unwrap();
        writeln!(s, "{msg}").unwrap();
        s.flush().unwrap();
    }

    fn send_raw(&mut self, line: &[u8]) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(line).unwrap();
        s.write_all(b"\n").unwrap();
        s.flush().unwrap();
    }

    /// The next line on stdout, as JSON.
    fn next(&self) -> Value {
        let line = self.lines.recv_timeout(WITHIN).unwrap_or_else(|_| {
            panic!(
                "no line from connect; stderr:\n{}",
                self.err.lock().unwrap()
            )
        });
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// The answer to request `id` (skipping other messages).
    fn answer(&self, id: i64) -> Value {
        loop {
            let v = self.next();
            if v["id"] == json!(id) && v.get("method").is_none() {
                return v;
            }
        }
    }

    fn initialize(&mut self, version: &str) -> Value {
        self.send(
            &json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{
            "protocolVersion": version, "capabilities": {},
            "clientInfo": {"name": "raw", "version": "1"}}}),
        );
        let v = self.answer(1);
        self.send(&json!({"jsonrpc":"2.0","method":"notifications/initialized"}));
        v
    }

    fn stderr(&self) -> String {
        self.err.lock().unwrap().clone()
    }

    /// Closes stdin and waits for the exit status.
    fn finish(mut self) -> std::process::ExitStatus {
        drop(self.stdin.take());
        for _ in 0..200 {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        panic!(
            "connect did not exit at the end of stdin; stderr:\n{}",
            self.stderr()
        );
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SigV4 verifier (botocore) in front of `upstream`; its port and its log.
struct Verifier {
    child: Child,
    port: u16,
    log: std::sync::Arc<std::sync::Mutex<String>>,
    record: PathBuf,
}

impl Verifier {
    fn start(upstream: &str, clock_offset: i64) -> Option<Verifier> {
        let py = require(
            root().join(".tools/venv-moto/bin/python"),
            "Python with botocore (moto venv)",
        )?;
        let record = std::env::temp_dir().join(format!(
            "mcpl-sigv4-{}-{}.jsonl",
            std::process::id(),
            free_port()
        ));
        let mut child = Command::new(py)
            .arg(root().join("tests/clients/sigv4_verifier.py"))
            .args([
                "--upstream",
                upstream,
                "--region",
                REGION,
                "--service",
                "lambda",
            ])
            .args([
                "--access-key",
                KEY,
                "--secret-key",
                SECRET,
                "--session-token",
                TOKEN,
            ])
            .args(["--clock-offset", &clock_offset.to_string()])
            .arg("--record")
            .arg(&record)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let port: u16 = first
            .trim()
            .strip_prefix("LISTENING ")
            .unwrap_or_else(|| panic!("verifier did not start: {first:?}"))
            .parse()
            .unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let l = log.clone();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut l = l.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        Some(Verifier {
            child,
            port,
            log,
            record,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until the log contains `needle` (it is written after the answer).
    fn wait_log(&self, needle: &str) -> String {
        for _ in 0..200 {
            let l = self.log();
            if l.contains(needle) {
                return l;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the verifier never logged {needle:?}:\n{}", self.log());
    }

    fn recorded(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.record)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.record);
    }
}

/// Sends a recorded request again (optionally with another body) to `port`: the status.
fn replay(port: u16, rec: &Value, body: Option<&str>) -> u16 {
    let mut req = ureq::request(
        rec["method"].as_str().unwrap(),
        &format!("http://127.0.0.1:{port}{}", rec["path"].as_str().unwrap()),
    );
    for (k, v) in rec["headers"].as_object().unwrap() {
        if !matches!(
            k.to_ascii_lowercase().as_str(),
            "content-length" | "connection"
        ) {
            req = req.set(k, v.as_str().unwrap());
        }
    }
    let body = body.unwrap_or(rec["body"].as_str().unwrap());
    match req.send_string(body) {
        Ok(r) => r.status(),
        Err(ureq::Error::Status(s, _)) => s,
        Err(e) => panic!("{e}"),
    }
}

fn example() -> String {
    path_str(&bin("mcp-lambda-example-server"))
}

#[test]
fn real_stdio_clients_reach_serve_through_connect() {
    let s = Server::start(&["--", &example()], &[]);
    real_clients(&connect_cmd(&[&s.url]), &[], true);
}

#[test]
fn a_bearer_token_reaches_an_oauth_protected_server() {
    let Some((auth, s, resource)) = oauth_serve(&[], &[]) else {
        return;
    };
    let token = auth.client_credentials(&resource, "mcp:tools");
    let dir = std::env::temp_dir().join(format!("mcpl-connect-bearer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, format!("{token}\n")).unwrap();
    let from_file = format!("file:{}", file.display());
    real_clients(&connect_cmd(&[&s.url, "--bearer", &from_file]), &[], true);
    // From a variable too; and a wrong token is a clear error for the request, not a hang.
    real_clients(
        &connect_cmd(&[&s.url, "--bearer", "env:MY_MCP_TOKEN"]),
        &[("MY_MCP_TOKEN", token.clone())],
        false,
    );
    std::fs::write(&file, "not-a-token").unwrap();
    let mut raw = Raw::start(&[&s.url, "--bearer", &from_file], &[]);
    let v = raw.initialize("2025-06-18");
    assert_eq!(v["error"]["code"], -32603, "{v}");
    assert_eq!(v["error"]["data"]["status"], 401, "{v}");
    assert!(raw.finish().success());
    // A literal token on the command line is refused (exit 2).
    let (ok, _, err) = run(
        Command::new(bin("mcp-lambda")).args(["connect", &s.url, "--bearer", &token]),
        WITHIN,
    );
    assert!(!ok && err.contains("env:NAME or file:PATH"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `cargo lambda watch` with the function, and a verifier in front of it.
fn emulated(clock_offset: i64) -> Option<(Emulator, LambdaRuntime, Verifier)> {
    let cl = cargo_lambda()?;
    let emu = Emulator::start(&cl);
    let f = LambdaRuntime::start(&emu.runtime_api(), &[("MCP_LAMBDA_COMMAND", &example())]);
    let v = Verifier::start(&format!("http://127.0.0.1:{}", emu.port), clock_offset)?;
    Some((emu, f, v))
}

#[test]
fn sigv4_signed_function_url_verified_by_botocore() {
    let Some((_emu, _f, v)) = emulated(0) else {
        return;
    };
    let url = v.url("/lambda-url/_/mcp");
    let env = aws_env();
    real_clients(
        &connect_cmd(&[&url, "--sigv4", "--region", REGION]),
        &env,
        false,
    );
    let log = v.wait_log("VERIFIED POST /lambda-url/_/mcp");
    assert!(!log.contains("REFUSED"), "{log}");
    // Every request was signed with the session token and the body's hash.
    let recs = v.recorded();
    assert!(recs.len() >= 6, "{recs:?}");
    let rec = recs
        .iter()
        .find(|r| r["body"].as_str().unwrap().contains("tools/call"))
        .unwrap();
    assert_eq!(rec["headers"]["x-amz-security-token"], TOKEN, "{rec}");
    // The same request replayed: accepted; with another body, or to a verifier whose clock is
    // an hour later, refused.
    assert_eq!(replay(v.port, rec, None), 200);
    let tampered = rec["body"].as_str().unwrap().replace("echo", "pid");
    assert_eq!(replay(v.port, rec, Some(&tampered)), 403);
    v.wait_log("REFUSED");
    let later = Verifier::start(&format!("http://127.0.0.1:{}", _emu.port), 3600).unwrap();
    assert_eq!(replay(later.port, rec, None), 403);
    let refused = later.wait_log("REFUSED");
    assert!(
        refused.to_lowercase().contains("expired") || refused.contains("stale"),
        "{refused}"
    );
    // Wrong credentials: the request is answered with the refusal.
    let mut wrong = aws_env();
    wrong[1].1 = "not-the-secret".into();
    let mut raw = Raw::start(&[&url, "--sigv4", "--region", REGION], &wrong);
    let a = raw.initialize("2025-06-18");
    assert_eq!(a["error"]["data"]["status"], 403, "{a}");
    assert!(raw.finish().success());
}

/// A function whose Function URL streams (`RESPONSE_STREAM`): a streaming tool's progress
/// reaches the desktop client through `connect` as it happens (a buffered Function URL answers
/// JSON only, so there the client gets the result without progress).
#[test]
fn progress_from_a_streaming_function_reaches_the_stdio_client() {
    let Some(cl) = cargo_lambda() else {
        return;
    };
    let emu = Emulator::start(&cl);
    let _f = LambdaRuntime::start(
        &emu.runtime_api(),
        &[
            ("MCP_LAMBDA_COMMAND", &example()),
            ("MCP_LAMBDA_INVOKE_MODE", "RESPONSE_STREAM"),
        ],
    );
    let url = emu.function_url("/mcp");
    real_clients(
        &connect_cmd(&[&url, "--sigv4", "--region", REGION]),
        &aws_env(),
        true,
    );
}

#[test]
fn direct_invoke_through_the_lambda_api() {
    let Some((_emu, _f, v)) = emulated(0) else {
        return;
    };
    let mut env = aws_env();
    env.push(("AWS_ENDPOINT_URL_LAMBDA", v.url("")));
    real_clients(&connect_cmd(&["lambda:_"]), &env, false);
    let log = v.wait_log("VERIFIED POST /2015-03-31/functions/_/invocations");
    assert!(!log.contains("REFUSED"), "{log}");
    // A function that does not exist: the Lambda API's refusal, named.
    let mut raw = Raw::start(&["lambda:no-such-function"], &env);
    let a = raw.initialize("2025-06-18");
    assert_eq!(a["error"]["code"], -32603, "{a}");
    assert!(raw.finish().success());
}

#[test]
fn an_expired_session_is_opened_again_by_replaying_initialize() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let args = ["--sessions", "memory", "--", &example()];
    let s = Server::start_on(&listen, &args, &[]);
    let url = s.url.clone();
    let mut raw = Raw::start(&[&url], &[]);
    let init = raw.initialize("2025-06-18");
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18", "{init}");
    raw.send(&json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"one"}}}));
    assert_eq!(raw.answer(2)["result"]["content"][0]["text"], "one");
    // The server restarts: its sessions are gone, the next request gets 404.
    drop(s);
    let s = Server::start_on(&listen, &args, &[]);
    raw.send(&json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"message":"two"}}}));
    let a = raw.answer(3);
    assert_eq!(
        a["result"]["content"][0]["text"],
        "two",
        "{a}\n{}",
        raw.stderr()
    );
    assert!(
        raw.stderr().contains("initializing a new one"),
        "{}",
        raw.stderr()
    );
    assert!(raw.finish().success());
    // The session was ended with DELETE at the end of stdin.
    s.wait_for_log("session closed by the client", Duration::from_secs(10));
}

#[test]
fn throttling_is_retried_and_an_unreachable_endpoint_is_a_clear_error() {
    // An endpoint that throttles twice, then answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let s2 = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut len = 0usize;
            loop {
                let mut l = String::new();
                if reader.read_line(&mut l).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = l.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
                if l == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0; len];
            std::io::Read::read_exact(&mut reader, &mut body).unwrap();
            let n = s2.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let resp = if n < 2 {
                "HTTP/1.1 429 Too Many Requests\r\nretry-after: 0\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_string()
            } else {
                let req: Value = serde_json::from_slice(&body).unwrap();
                let answer = json!({"jsonrpc":"2.0","id":req["id"],"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"flaky","version":"1"}}}).to_string();
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                    answer.len()
                )
            };
            let _ = conn.write_all(resp.as_bytes());
        }
    });
    let mut raw = Raw::start(&[&format!("http://127.0.0.1:{port}/mcp")], &[]);
    raw.send(&json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}));
    let a = raw.answer(1);
    assert_eq!(a["result"]["serverInfo"]["name"], "flaky", "{a}");
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 3);
    // Not JSON, and too long for nothing: parse errors with id null; the process goes on.
    raw.send_raw(b"{not json");
    let e = raw.next();
    assert_eq!(e["error"]["code"], -32700, "{e}");
    assert!(raw.finish().success());

    // Nothing listens: every request is answered with an error naming the problem.
    let closed = free_port();
    let mut raw = Raw::start(&[&format!("http://127.0.0.1:{closed}/mcp")], &[]);
    raw.send(&json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}));
    raw.send(&json!({"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"echo","arguments":{}}}));
    let a = raw.answer(1);
    assert_eq!(a["error"]["code"], -32603, "{a}");
    assert!(
        a["error"]["message"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{a}"
    );
    let b = raw.next();
    assert_eq!(b["id"], "x", "{b}");
    assert!(raw.finish().success());
    // A target that is no target: exit 2 with the accepted forms.
    let (ok, _, err) = run(
        Command::new(bin("mcp-lambda")).args(["connect", "my-function"]),
        WITHIN,
    );
    assert!(!ok && err.contains("lambda:FUNCTION"), "{err}");
}

#[test]
fn modern_tool_calls_carry_the_param_headers_their_tool_declares() {
    // The conformance fixture's `test_custom_headers` declares `x-mcp-header` on two
    // parameters: the gateway refuses a 2026-07-28 call whose Mcp-Param-* headers are missing.
    let (Some(fixture), Some(py)) = (fixture_modern_cmd(), python_client()) else {
        return;
    };
    let mut args = vec!["--"];
    args.extend(fixture.iter().map(String::as_str));
    let s = Server::start(&args, &[]);
    let v = stdio_client(
        &py,
        "py_stdio.py",
        Some("2026-07-28"),
        "test_custom_headers",
        &json!({"region": "eu-west-1", "priority": 3}),
        &connect_cmd(&[&s.url]),
        &[],
    );
    assert_eq!(v["protocolVersion"], "2026-07-28", "{v}");
    let text = v["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("eu-west-1"), "{v}");
}

/// A scratch directory for one OAuth test: `cache/` for tokens, `browser.jsonl` for what the
/// stand-in browser (`tests/oauth/browser.mjs`) saw.
struct OAuthScratch {
    dir: PathBuf,
    browser: String,
}

impl OAuthScratch {
    fn new(name: &str) -> OAuthScratch {
        let dir = std::env::temp_dir().join(format!("mcpl-oauth-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let browser = format!(
            "{} {}",
            path_str(&node().expect("node runs the authorization server")),
            path_str(&root().join("tests/oauth/browser.mjs"))
        );
        OAuthScratch { dir, browser }
    }

    fn cache(&self) -> String {
        path_str(&self.dir.join("cache"))
    }

    fn log(&self) -> PathBuf {
        self.dir.join("browser.jsonl")
    }

    /// `connect URL --oauth` with this cache and browser.
    fn args<'a>(&'a self, url: &'a str, cache: &'a str) -> Vec<&'a str> {
        vec![
            url,
            "--oauth",
            "--oauth-cache",
            cache,
            "--browser",
            &self.browser,
        ]
    }

    /// One `connect --oauth` run that initializes (asserting an answer) and ends; its log.
    fn initialize(&self, url: &str, env: &[(&str, String)]) -> String {
        let cache = self.cache();
        let mut raw = Raw::start(&self.args(url, &cache), env);
        let a = raw.initialize("2025-06-18");
        assert!(a.get("result").is_some(), "{a}\n{}", raw.stderr());
        let log = raw.stderr();
        assert!(raw.finish().success());
        log
    }

    /// What the browser was asked to open, one entry per sign-in, once there are `n` (the
    /// browser writes its entry after its last request was answered, so it may lag connect).
    fn visits(&self, n: usize) -> Vec<Value> {
        let read = || -> Vec<Value> {
            std::fs::read_to_string(self.log())
                .unwrap_or_default()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while read().len() < n && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // and no more than n: a second visit would have been written by now
        std::thread::sleep(Duration::from_millis(200));
        read()
    }

    /// The one cache file and its content.
    fn entry(&self) -> (PathBuf, Value) {
        let files: Vec<_> = std::fs::read_dir(self.dir.join("cache"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(files.len(), 1, "{files:?}");
        let v = serde_json::from_slice(&std::fs::read(&files[0]).unwrap()).unwrap();
        (files[0].clone(), v)
    }
}

impl Drop for OAuthScratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn oauth_signs_in_once_in_the_browser_then_reuses_and_refreshes_its_tokens() {
    let Some((_auth, s, resource)) = oauth_serve(&[], &[]) else {
        return;
    };
    let t = OAuthScratch::new("signin");
    let cache = t.cache();
    let env = [("BROWSER_LOG", path_str(&t.log()))];
    // Three stdio clients in turn (Python in both eras, TypeScript): the first run signs in.
    real_clients(&connect_cmd(&t.args(&s.url, &cache)), &env, false);
    let visits = t.visits(1);
    assert_eq!(
        visits.len(),
        1,
        "one sign-in, then the cached token: {visits:?}"
    );
    let v = &visits[0];
    assert_eq!(v["deliveries"], json!([200]), "{v}");
    let p = &v["params"];
    assert_eq!(p["response_type"], "code", "{v}");
    assert_eq!(p["code_challenge_method"], "S256", "{v}");
    assert_eq!(p["code_challenge"].as_str().unwrap().len(), 43, "{v}");
    assert_eq!(p["resource"], resource.as_str(), "{v}");
    assert_eq!(p["scope"], "mcp:tools offline_access", "{v}");
    assert!(p["state"].as_str().unwrap().len() >= 22, "{v}");
    assert!(
        p["redirect_uri"]
            .as_str()
            .unwrap()
            .starts_with("http://127.0.0.1:"),
        "{v}"
    );
    // The tokens are kept privately, for this endpoint.
    let (file, entry) = t.entry();
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    assert_eq!(entry["endpoint"], s.url.as_str());
    assert_eq!(entry["resource"], resource.as_str());
    let first = entry["access_token"].as_str().unwrap().to_owned();
    let refresh = entry["refresh_token"].as_str().unwrap().to_owned();

    // A token the server no longer takes: 401, refreshed without the browser, request sent again.
    let mut revoked = entry.clone();
    revoked["access_token"] = json!("revoked-token");
    std::fs::write(&file, revoked.to_string()).unwrap();
    let mut raw = Raw::start(&t.args(&s.url, &cache), &env);
    let a = raw.initialize("2025-06-18");
    assert_eq!(
        a["result"]["serverInfo"]["name"], "mcp-lambda-example-server",
        "{a}"
    );
    raw.send(&json!({"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"message":"after refresh"}}}));
    assert_eq!(
        raw.answer(2)["result"]["content"][0]["text"],
        "after refresh"
    );
    let log = raw.stderr();
    assert!(raw.finish().success());
    assert_eq!(t.visits(1).len(), 1, "refreshing needs no browser");
    let (_, entry) = t.entry();
    let second = entry["access_token"].as_str().unwrap().to_owned();
    assert!(second != first && second != "revoked-token", "{entry}");
    // Secrets never reach the log.
    for secret in [&first, &second, &refresh] {
        assert!(!log.contains(secret.as_str()), "a token was logged:\n{log}");
    }
    assert!(!log.contains("eyJ"), "{log}");
    // A token about to expire is refreshed before it is sent.
    let mut expiring = entry.clone();
    expiring["expires_at"] = json!(1);
    std::fs::write(&file, expiring.to_string()).unwrap();
    t.initialize(&s.url, &env);
    let (_, entry) = t.entry();
    assert_ne!(entry["access_token"], second.as_str(), "{entry}");
    assert!(entry["expires_at"].as_u64().unwrap() > 1);
    assert_eq!(t.visits(1).len(), 1);
    // After a long idle spell: the token expired and the refresh token is dead. Refreshing
    // fails, and the user signs in again (the stale file does not stand in the way).
    let mut stale = entry.clone();
    stale["expires_at"] = json!(1);
    stale["refresh_token"] = json!("dead-refresh-token");
    std::fs::write(&file, stale.to_string()).unwrap();
    t.initialize(&s.url, &env);
    assert_eq!(t.visits(2).len(), 2, "signed in again");
    assert_ne!(t.entry().1["refresh_token"], "dead-refresh-token");
    assert!(!s.log().contains("eyJ"), "a token was logged by serve");
}

#[test]
fn oauth_sign_in_ignores_a_forged_redirect_and_reports_a_refusal() {
    let Some((_auth, s, _)) = oauth_serve(&[], &[]) else {
        return;
    };
    // Another page delivers a redirect with a state of its own first: answered 400 and
    // ignored; the real one completes the sign-in.
    let t = OAuthScratch::new("forged");
    let env = [
        ("BROWSER_LOG", path_str(&t.log())),
        ("BROWSER_MODE", "forged-state-first".to_string()),
    ];
    let log = t.initialize(&s.url, &env);
    let visits = t.visits(1);
    assert_eq!(visits[0]["deliveries"], json!([400, 200]));
    // The sign-in's secrets never reach the log: the code, the tokens.
    let (_, entry) = t.entry();
    for secret in [
        &visits[0]["code"],
        &entry["access_token"],
        &entry["refresh_token"],
    ] {
        let secret = secret.as_str().unwrap();
        assert!(secret.len() > 10 && !log.contains(secret), "logged:\n{log}");
    }
    assert!(
        log.contains("sign in to"),
        "the URL to open by hand is logged: {log}"
    );

    // The user refuses: the request gets an error saying so, and connect goes on.
    let t = OAuthScratch::new("deny");
    let cache = t.cache();
    let env = [
        ("BROWSER_LOG", path_str(&t.log())),
        ("BROWSER_MODE", "deny".to_string()),
    ];
    let mut raw = Raw::start(&t.args(&s.url, &cache), &env);
    let a = raw.initialize("2025-06-18");
    assert_eq!(a["error"]["code"], -32603, "{a}");
    let msg = a["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("access_denied") && msg.contains("the user said no"),
        "{a}"
    );
    assert!(raw.finish().success());
    assert_eq!(t.visits(1).len(), 1);
    assert!(
        !t.dir.join("cache").exists(),
        "nothing kept after a refusal"
    );

    // Options that need --oauth, and two kinds of credentials at once: exit 2.
    for args in [
        vec!["connect", &s.url, "--browser", "x"],
        vec!["connect", &s.url, "--oauth", "--sigv4"],
        vec!["connect", "lambda:f", "--oauth"],
    ] {
        let (ok, _, err) = run(Command::new(bin("mcp-lambda")).args(&args), WITHIN);
        assert!(!ok && err.contains("--oauth"), "{args:?}: {err}");
    }
}

#[test]
fn oauth_steps_up_when_a_tool_needs_another_scope() {
    // `echo` needs files:read besides mcp:tools: its call is answered 403 insufficient_scope.
    let Some((_auth, s, _)) = oauth_serve(&[], &["--tool-scope", "echo=files:read"]) else {
        return;
    };
    let t = OAuthScratch::new("stepup");
    let cache = t.cache();
    let env = [("BROWSER_LOG", path_str(&t.log()))];
    let mut raw = Raw::start(&t.args(&s.url, &cache), &env);
    let a = raw.initialize("2025-06-18");
    assert!(a.get("result").is_some(), "{a}");
    raw.send(&json!({"jsonrpc":"2.0","id":2,"method":"tools/list"}));
    assert!(raw.answer(2).get("result").is_some());
    assert_eq!(t.visits(1).len(), 1);
    raw.send(&json!({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"message":"stepped up"}}}));
    let a = raw.answer(3);
    assert_eq!(
        a["result"]["content"][0]["text"],
        "stepped up",
        "{a}\n{}",
        raw.stderr()
    );
    assert!(raw.finish().success());
    let visits = t.visits(2);
    assert_eq!(visits.len(), 2, "{visits:?}");
    assert_eq!(visits[0]["params"]["scope"], "mcp:tools offline_access");
    let words = |v: &Value| {
        let mut w: Vec<String> = v.as_str().unwrap().split(' ').map(String::from).collect();
        w.sort();
        w
    };
    // The scopes held (granted: the provider names only the resource's) are kept and the one
    // asked for added.
    assert_eq!(
        words(&visits[1]["params"]["scope"]),
        ["files:read", "mcp:tools", "offline_access"]
    );
    let entry = t.entry().1;
    assert!(
        words(&entry["scope"]).contains(&"files:read".to_string()),
        "{entry}"
    );
}

#[test]
fn concurrent_refusals_share_one_sign_in() {
    let Some((_auth, s, _)) = oauth_serve(&[], &[]) else {
        return;
    };
    let t = OAuthScratch::new("concurrent");
    let cache = t.cache();
    let env = [("BROWSER_LOG", path_str(&t.log()))];
    let mut raw = Raw::start(&t.args(&s.url, &cache), &env);
    // 2026-07-28 requests need no handshake and are forwarded at once: all four are refused
    // (no token yet), and one sign-in serves them all.
    for id in 1..=4 {
        raw.send(
            &json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":{
            "name":"echo","arguments":{"message": format!("m{id}")},
            "_meta": mcp_lambda_tests::modern_meta(json!({}), "concurrent")}}),
        );
    }
    // (answered in any order)
    let mut texts: Vec<String> = (0..4)
        .map(|_| {
            let a = raw.next();
            a["result"]["content"][0]["text"]
                .as_str()
                .unwrap_or_else(|| panic!("{a}\n{}", raw.stderr()))
                .to_owned()
        })
        .collect();
    texts.sort();
    assert_eq!(texts, ["m1", "m2", "m3", "m4"]);
    assert!(raw.finish().success());
    assert_eq!(t.visits(1).len(), 1, "one sign-in for all");
}
