//! A running HTTP server under test: `mcp-lambda serve` (or a peer such as supergateway).
//!
//! Contract: [`Server::launch`] starts the command with stdout and stderr collected into a
//! [`Log`], and returns once it is ready — it logged its `listening on http://...` line
//! ([`Ready::Announced`]) or accepts connections on the address it was given
//! ([`Ready::Accepts`]) — or fails (with the log) when it exits first or `within` passes.
//! Dropping a server stops it (SIGTERM, then SIGKILL after 5 s). [`Server::start`] is the
//! panicking e2e form: `mcp-lambda serve --listen 127.0.0.1:0` at debug level.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io;
use std::net::SocketAddr;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::paths::bin;
use crate::process::{Log, ProcessGuard, accepts, collect_lines};

/// What mcp-lambda logs (at info level) once it listens, followed by its URL.
const LISTENING: &str = "listening on http://";

/// How a server shows it is ready.
#[derive(Debug, Clone, Copy)]
pub enum Ready {
    /// It logs `listening on http://HOST:PORT/PATH` (mcp-lambda at info level or more).
    Announced,
    /// It accepts TCP connections on this address (polled).
    Accepts(SocketAddr),
}

/// A running server.
pub struct Server {
    guard: ProcessGuard,
    /// The MCP endpoint, e.g. `http://127.0.0.1:PORT/mcp`.
    pub url: String,
    /// Scheme, host and port, e.g. `http://127.0.0.1:PORT`.
    pub base: String,
    addr: SocketAddr,
    log: Log,
}

impl Server {
    /// Starts `mcp-lambda serve --listen 127.0.0.1:0 <args>` with extra environment `env`.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::try_start(args, env).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Like [`start`](Self::start) but returns the startup failure (with the log) instead.
    pub fn try_start(args: &[&str], env: &[(&str, &str)]) -> Result<Server, String> {
        Self::try_start_on("127.0.0.1:0", args, env)
    }

    /// Like [`start`](Self::start), listening on `listen` (for a URL that must be known first,
    /// e.g. an OAuth resource an authorization server is told about).
    pub fn start_on(listen: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
        Self::try_start_on(listen, args, env).unwrap_or_else(|e| panic!("{e}"))
    }

    fn try_start_on(listen: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Server, String> {
        let mut cmd = Command::new(bin("mcp-lambda"));
        cmd.args(["serve", "--listen", listen]).args(args);
        cmd.env("MCP_LAMBDA_LOG_LEVEL", "debug");
        cmd.envs(env.iter().copied());
        Self::launch(
            "mcp-lambda",
            cmd,
            Ready::Announced,
            "/mcp",
            Duration::from_secs(30),
            Log::new(),
        )
        .map_err(|e| e.to_string())
    }

    /// Starts `cmd` as server `name` and waits (up to `within`) until it is `ready`; its MCP
    /// endpoint is `path` unless it announces its URL. Output goes to `log`.
    pub fn launch(
        name: &str,
        mut cmd: Command,
        ready: Ready,
        path: &str,
        within: Duration,
        log: Log,
    ) -> io::Result<Server> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut guard = ProcessGuard::spawn(name, &mut cmd)?;
        let (out, err) = (guard.child().stdout.take(), guard.child().stderr.take());
        let announced = err.map(|e| collect_lines(e, "mcp-lambda", Some(LISTENING), log.clone()));
        if let Some(out) = out {
            collect_lines(out, "stdout", None, log.clone());
        }
        let fail = |guard: &mut ProcessGuard, what: String| {
            let status = guard.stop(Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(100));
            io::Error::other(format!(
                "{name} {what} (status {status:?}); log:\n{}",
                log.text()
            ))
        };
        let deadline = Instant::now() + within;
        let url = match ready {
            Ready::Announced => {
                let Some(rx) = announced else {
                    return Err(fail(&mut guard, "has no stderr".into()));
                };
                match rx.recv_timeout(within) {
                    Ok(line) => {
                        let i = line.find(LISTENING).unwrap_or(0) + "listening on ".len();
                        line[i..].split_whitespace().next().unwrap_or("").to_owned()
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        return Err(fail(&mut guard, "did not start".into()));
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        return Err(fail(&mut guard, "exited during start-up".into()));
                    }
                }
            }
            Ready::Accepts(addr) => loop {
                if let Some(st) = guard.exited()? {
                    return Err(fail(&mut guard, format!("exited during start-up ({st})")));
                }
                if accepts(addr) {
                    break format!("http://{addr}{path}");
                }
                if Instant::now() > deadline {
                    return Err(fail(
                        &mut guard,
                        format!("did not listen within {within:?}"),
                    ));
                }
                std::thread::sleep(Duration::from_millis(20));
            },
        };
        let rest = url.strip_prefix("http://").unwrap_or(&url);
        let hostport = rest.split('/').next().unwrap_or(rest);
        let addr = hostport
            .parse()
            .map_err(|_| fail(&mut guard, format!("announced an odd URL {url:?}")))?;
        Ok(Server {
            guard,
            base: format!("http://{hostport}"),
            url,
            addr,
            log,
        })
    }

    /// Fails, with its last lines, if the server has exited.
    pub fn check_running(&mut self) -> io::Result<()> {
        match self.guard.exited()? {
            Some(st) => Err(io::Error::other(format!(
                "{} exited ({st}); last lines:\n{}",
                self.guard.name(),
                self.log.text()
            ))),
            None => Ok(()),
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The path of its MCP endpoint (`/mcp`).
    pub fn path(&self) -> &str {
        &self.url[self.base.len()..]
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.guard.pid()
    }

    /// Everything the server logged so far (or its last lines, with a short [`Log`]).
    pub fn log(&self) -> String {
        self.log.text()
    }

    /// Waits until the log contains `needle` (or panics after `within`).
    pub fn wait_for_log(&self, needle: &str, within: Duration) {
        self.log.wait_for(needle, within);
    }

    /// Sends SIGTERM and waits for the exit status (panics after `within`).
    pub fn stop(mut self, within: Duration) -> ExitStatus {
        self.guard.signal(Signal::SIGTERM);
        match self.guard.wait_exit(within) {
            Some(st) => st,
            None => panic!("mcp-lambda did not stop within {within:?}:\n{}", self.log()),
        }
    }
}

/// `mcp-lambda serve <opts> -- <cmd>`.
pub fn serve(opts: &[&str], cmd: &[String]) -> Server {
    let mut args: Vec<&str> = opts.to_vec();
    args.push("--");
    args.extend(cmd.iter().map(String::as_str));
    Server::start(&args, &[])
}
