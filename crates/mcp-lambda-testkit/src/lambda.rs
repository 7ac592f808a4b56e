//! `mcp-lambda` as a Lambda custom runtime, and the `cargo lambda watch` emulator that can
//! serve it (Runtime API, Function URLs, Invoke API).
//!
//! Contract: [`lambda_env`] is the environment Lambda gives a custom runtime.
//! [`Function`] is the runtime against a stand-in Runtime API of its own, for measurements: it
//! times each invocation from hand-out to answer and fails (with the runtime's last lines)
//! when the runtime exits, reports an init error or does not answer in time.
//! [`LambdaRuntime::start`] starts the real binary against a Runtime API and waits until it
//! logs that it serves it (after prewarm); its stderr is collected. Both processes are stopped
//! when dropped (the runtime with SIGTERM then SIGKILL, the emulator killed at once).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::http::clip;
use crate::paths::{bin, root};
use crate::process::{Log, ProcessGuard, accepts, collect_lines, free_port, run};
use crate::runtime_api::{Event, RuntimeApi, Seen};

/// The environment Lambda gives a custom runtime, pointing at `runtime_api`.
pub fn lambda_env(runtime_api: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", "_"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "s"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "g"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The real `mcp-lambda` binary as a Lambda custom runtime: started with no arguments and
/// `AWS_LAMBDA_RUNTIME_API` set, configured by `MCP_LAMBDA_*` variables. Its stderr (logs and
/// one EMF metrics line per invocation) is collected. Stopped (SIGTERM, then SIGKILL) when
/// dropped.
pub struct LambdaRuntime {
    guard: ProcessGuard,
    log: Log,
}

impl LambdaRuntime {
    /// Starts `mcp-lambda` against `runtime_api` with extra environment `env` (which wins over
    /// the defaults: Lambda's variables, debug logging) and waits until it logs that it serves
    /// the Runtime API (after prewarm).
    pub fn start(runtime_api: &str, env: &[(&str, &str)]) -> LambdaRuntime {
        Self::start_program(&bin("mcp-lambda"), &[], runtime_api, env)
    }

    /// Starts `program args` as the Lambda runtime, for something that ends up exec'ing
    /// `mcp-lambda` (the layer's `AWS_LAMBDA_EXEC_WRAPPER` script, run the way a managed runtime
    /// runs it). Otherwise like [`start`](Self::start): Lambda's variables for `runtime_api`,
    /// debug logging, then `env` (which wins); waits until it serves the Runtime API.
    pub fn start_program(
        program: &Path,
        args: &[String],
        runtime_api: &str,
        env: &[(&str, &str)],
    ) -> LambdaRuntime {
        let mut cmd = Command::new(program);
        cmd.args(args);
        cmd.envs(lambda_env(runtime_api));
        cmd.env(
            "MCP_LAMBDA_LOG_LEVEL",
            "info,mcp_lambda=debug,mcp_lambda_core=debug,mcp_lambda_runtime=debug",
        );
        cmd.envs(env.iter().copied());
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut guard = ProcessGuard::spawn("mcp-lambda (Lambda runtime)", &mut cmd)
            .unwrap_or_else(|e| panic!("{e}"));
        let log = Log::new();
        let ready = collect_lines(
            guard.child().stderr.take().unwrap(),
            "mcp-lambda",
            Some("serving the Lambda Runtime API"),
            log.clone(),
        );
        if ready.recv_timeout(Duration::from_secs(30)).is_err() {
            let status = guard.stop(Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(100));
            panic!(
                "{} did not start mcp-lambda as a Lambda runtime (status {status:?}); log:\n{}",
                program.display(),
                log.text()
            );
        }
        LambdaRuntime { guard, log }
    }

    /// The runtime's process id.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Everything it logged so far.
    pub fn log(&self) -> String {
        self.log.text()
    }

    /// Waits until the log contains `needle` (or panics after `within`).
    pub fn wait_for_log(&self, needle: &str, within: Duration) {
        self.log.wait_for(needle, within);
    }

    /// The EMF metrics lines logged so far, in order, parsed.
    pub fn emf(&self) -> Vec<Value> {
        self.log
            .lines()
            .iter()
            .filter(|l| l.starts_with('{') && l.contains("\"_aws\""))
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad EMF ({e}): {l}")))
            .collect()
    }

    /// Waits until there are more than `seen` EMF lines and returns line number `seen`: the
    /// metrics of the next invocation (the line is written after the answer is handed back).
    pub fn emf_after(&self, seen: usize, within: Duration) -> Value {
        let start = Instant::now();
        loop {
            if let Some(v) = self.emf().into_iter().nth(seen) {
                return v;
            }
            assert!(
                start.elapsed() < within,
                "no EMF line #{seen} within {within:?}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the process to exit (`None` if it is still running after `within`).
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        self.guard.wait_exit(within)
    }
}

/// `cargo lambda watch --only-lambda-apis` on a port of its own: the Runtime API a custom runtime
/// polls (`runtime_api`), Function URLs (`function_url`) and the Invoke API (`invoke`). Killed
/// when dropped. Use one per test: an invocation nobody waits for can linger in its queue.
pub struct Emulator {
    _guard: ProcessGuard,
    exe: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    log: Log,
}

impl Emulator {
    /// Starts the emulator with `exe` (from [`cargo_lambda`](crate::cargo_lambda)) in a Cargo
    /// project directory, as `cargo lambda` expects, and waits until it accepts connections.
    pub fn start(exe: &Path) -> Emulator {
        let mut last = String::new();
        // The port was free when chosen; another test may take it first, so retry with another.
        for _ in 0..3 {
            let port = free_port();
            let mut cmd = Command::new(exe);
            cmd.args(["lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1"])
                .arg("-P")
                .arg(port.to_string())
                .current_dir(root().join("crates/mcp-lambda"))
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut guard = ProcessGuard::spawn("cargo lambda watch", &mut cmd)
                .unwrap_or_else(|e| panic!("{e}"))
                .kill_on_drop();
            let log = Log::new();
            collect_lines(
                guard.child().stdout.take().unwrap(),
                "emulator",
                None,
                log.clone(),
            );
            collect_lines(
                guard.child().stderr.take().unwrap(),
                "emulator",
                None,
                log.clone(),
            );
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(20) {
                if guard.exited().unwrap().is_some() {
                    break;
                }
                // A bare connect may reach another process that took the port: the emulator
                // must also have logged its own address and still be running a moment later
                // (it exits when its bind fails).
                let own = format!("runtime_addr=127.0.0.1:{port}");
                if accepts(([127, 0, 0, 1], port).into()) && log.text().contains(&own) {
                    std::thread::sleep(Duration::from_millis(200));
                    if guard.exited().unwrap().is_some() {
                        break;
                    }
                    return Emulator {
                        _guard: guard,
                        exe: exe.to_path_buf(),
                        port,
                        log,
                    };
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            drop(guard);
            std::thread::sleep(Duration::from_millis(50));
            last = log.text();
        }
        panic!("cargo lambda watch did not start; log:\n{last}");
    }

    /// `AWS_LAMBDA_RUNTIME_API` for a runtime served by this emulator.
    pub fn runtime_api(&self) -> String {
        format!("http://127.0.0.1:{}/.rt", self.port)
    }

    /// The Function URL of the (default) function for `path`, e.g. `/mcp`.
    pub fn function_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/lambda-url/_{path}", self.port)
    }

    /// `cargo lambda invoke _ <args>` against this emulator: (success, stdout, stderr).
    pub fn invoke(&self, args: &[&str], within: Duration) -> (bool, String, String) {
        run(
            Command::new(&self.exe)
                .args(["lambda", "invoke", "_", "-A", "127.0.0.1"])
                .arg("-P")
                .arg(self.port.to_string())
                .args(args)
                .env("NO_COLOR", "1")
                .current_dir(root()),
            within,
        )
    }

    /// Everything the emulator printed so far.
    pub fn log(&self) -> String {
        self.log.text()
    }
}

/// A Lambda function for measurements: a custom runtime (`mcp-lambda`) started against a
/// stand-in [`RuntimeApi`] of its own. Its output is collected only once it has polled for its
/// first invocation, so no thread of ours starts while it boots; both are stopped when dropped
/// (the runtime first).
pub struct Function {
    guard: ProcessGuard,
    api: RuntimeApi,
    started: Instant,
    pipes: Option<(ChildStdout, ChildStderr)>,
    log: Log,
}

impl Function {
    /// Starts the stand-in Runtime API, then `cmd` with Lambda's environment pointing at it
    /// (added to what the caller set) and its output piped.
    pub fn launch(mut cmd: Command) -> io::Result<Function> {
        let api = RuntimeApi::start()?;
        cmd.envs(lambda_env(&api.addr().to_string()));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut guard = ProcessGuard::spawn("mcp-lambda (Lambda mode)", &mut cmd)?;
        let child = guard.child();
        let pipes = child.stdout.take().zip(child.stderr.take());
        Ok(Function {
            guard,
            api,
            started,
            pipes,
            log: Log::last(40),
        })
    }

    /// The runtime's process id.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Just before the runtime was spawned.
    pub fn started(&self) -> Instant {
        self.started
    }

    fn drain(&mut self) {
        if let Some((out, err)) = self.pipes.take() {
            collect_lines(out, "stdout", None, self.log.clone());
            collect_lines(err, "stderr", None, self.log.clone());
        }
    }

    /// An error saying `what` went wrong, with the last lines the runtime wrote.
    fn failure(&mut self, what: String) -> io::Error {
        self.drain();
        std::thread::sleep(Duration::from_millis(100));
        io::Error::other(format!(
            "mcp-lambda (Lambda mode): {what}\n--- last lines:\n{}",
            self.log.text()
        ))
    }

    /// Waits in steps of 100 ms for `f` to find something in what the Runtime API saw, failing
    /// when the runtime exits or `within` passes.
    fn wait<T>(
        &mut self,
        what: &str,
        within: Duration,
        mut f: impl FnMut(&mut Seen) -> Option<T>,
    ) -> io::Result<T> {
        let until = Instant::now() + within;
        loop {
            if let Some(found) = self.api.wait(Duration::from_millis(100), &mut f) {
                return Ok(found);
            }
            if let Some(status) = self.guard.exited()? {
                return Err(self.failure(format!("exited while waiting for {what} ({status})")));
            }
            if Instant::now() > until {
                return Err(self.failure(format!("no {what} within {within:?}")));
            }
        }
    }

    /// Waits for the first `GET /runtime/invocation/next`; returns the instants of the
    /// extension's registration (if seen) and of that poll. Collects output afterwards.
    pub fn first_poll(&mut self, within: Duration) -> io::Result<(Option<Instant>, Instant)> {
        let seen = self.wait("first poll for an invocation", within, |s| {
            match (&s.init_error, s.polled) {
                (Some(e), _) => Some(Err(e.clone())),
                (None, Some(at)) => Some(Ok((s.registered, at))),
                (None, None) => None,
            }
        })?;
        self.drain();
        seen.map_err(|e| self.failure(format!("reported an init error: {}", clip(&e))))
    }

    /// Delivers `payload` as one invocation (deadline 60 s ahead); returns handed-out →
    /// answer-read and the answer. An answer posted to `/error` is an error.
    pub fn invoke(
        &mut self,
        payload: Vec<u8>,
        within: Duration,
    ) -> io::Result<(Duration, Vec<u8>)> {
        let event = Event {
            payload,
            client_context: None,
            deadline_in: Duration::from_secs(60),
        };
        let id = self.api.queue(event);
        let a = self.wait(&format!("answer to invocation {id}"), within, |s| {
            s.take_answer(&id)
        })?;
        if a.error {
            let body = clip(&String::from_utf8_lossy(&a.body));
            return Err(self.failure(format!("invocation {id} failed: {body}")));
        }
        Ok((a.at.saturating_duration_since(a.handed), a.body))
    }
}

/// A Function URL (payload 2.0) event carrying `body` (a JSON-RPC request) as request
/// `request_id`, with `mcp-protocol-version: version`, shaped like
/// `tests/data/function-url-iam.json`.
pub fn function_url_event(body: &str, version: &str, request_id: &str) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default();
    let iam = json!({
        "accessKey": "AKIAEXAMPLE",
        "accountId": "123456789012",
        "callerId": "AIDAEXAMPLE",
        "cognitoIdentity": null,
        "principalOrgId": null,
        "userArn": "arn:aws:iam::123456789012:user/alice",
        "userId": "AIDAEXAMPLE"
    });
    let http = json!({
        "method": "POST",
        "path": "/mcp",
        "protocol": "HTTP/1.1",
        "sourceIp": "203.0.113.7",
        "userAgent": "mcp-lambda-bench"
    });
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/mcp",
        "rawQueryString": "",
        "headers": {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": version,
            "host": "abcdefghij.lambda-url.us-east-1.on.aws",
            "user-agent": "mcp-lambda-bench"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefghij",
            "authorizer": {"iam": iam},
            "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": http,
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "23/Nov/2026:12:00:00 +0000",
            "timeEpoch": now
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_url_event_carries_the_call() {
        let call = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call"}"#;
        let e: Value =
            serde_json::from_slice(&function_url_event(call, "2025-06-18", "r-7")).unwrap();
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["headers"]["mcp-protocol-version"], "2025-06-18");
        assert_eq!(e["requestContext"]["http"]["method"], "POST");
        assert_eq!(e["requestContext"]["requestId"], "r-7");
        assert_eq!(e["body"], call);
    }
}
