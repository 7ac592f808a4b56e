//! The HTTP servers under test: `mcp-lambda serve` and npm `supergateway`.
//!
//! Contract: [`Server::start_mcp_lambda`] and [`Server::start_supergateway`] start the process,
//! keep draining its stdout/stderr in threads (the last lines are kept for error messages), and
//! return once it accepts connections (or fail after 60 s, or when it exits). [`Server::rss`]
//! reads `VmRSS`/`VmHWM` of that process itself (not its children) from `/proc`.
//! [`Server::stop`] sends SIGTERM, waits up to 5 s, then SIGKILLs.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::target::Target;

const TAIL: usize = 40;
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Resident memory of one process, in bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rss {
    /// `VmRSS`: resident now.
    pub(crate) current: u64,
    /// `VmHWM`: peak resident.
    pub(crate) peak: u64,
    /// `RssAnon`: the anonymous part of `current` (heap, stacks); the rest is mostly the
    /// mapped pages of the executable and its libraries.
    pub(crate) anon: u64,
}

/// A running HTTP server process.
pub(crate) struct Server {
    name: &'static str,
    child: Child,
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    /// The MCP endpoint path.
    pub(crate) path: String,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl Server {
    /// `mcp-lambda serve --lifecycle LIFECYCLE --sessions none --listen 127.0.0.1:0 -- CMD`.
    ///
    /// With a log level that shows info lines the port is read from the "listening on" line;
    /// otherwise a free port is picked first and polled.
    pub(crate) fn start_mcp_lambda(
        bin: &str,
        target: &Target,
        lifecycle: &str,
        log_level: &str,
    ) -> anyhow::Result<Self> {
        let shows_info = ["info", "debug", "trace"]
            .iter()
            .any(|l| log_level.contains(l));
        let listen = if shows_info {
            "127.0.0.1:0".to_owned()
        } else {
            free_port()?.to_string()
        };
        let mut cmd = Command::new(bin);
        cmd.args([
            "serve",
            "--lifecycle",
            lifecycle,
            "--sessions",
            "none",
            "--listen",
            &listen,
            "--log-level",
            log_level,
            "--",
            &target.program,
        ])
        .args(&target.args);
        let announce = |line: &str| {
            let rest = line.split("listening on http://").nth(1)?;
            let hostport = rest.split(['/', ' ']).next()?;
            hostport.parse::<SocketAddr>().ok()
        };
        let known = (!shows_info)
            .then(|| listen.parse::<SocketAddr>().ok())
            .flatten();
        Self::start("mcp-lambda", cmd, "/mcp", known, announce)
    }

    /// `supergateway --stdio CMD --outputTransport streamableHttp --stateful --port P`.
    pub(crate) fn start_supergateway(
        bin: &str,
        target: &Target,
        log_level: &str,
    ) -> anyhow::Result<Self> {
        let addr = free_port()?;
        let mut cmd = Command::new(bin);
        cmd.args([
            "--stdio",
            &target.shell_command(),
            "--outputTransport",
            "streamableHttp",
            "--stateful",
            "--port",
            &addr.port().to_string(),
            "--logLevel",
            log_level,
        ]);
        Self::start("supergateway", cmd, "/mcp", Some(addr), |_| None)
    }

    fn start(
        name: &'static str,
        mut cmd: Command,
        path: &str,
        known: Option<SocketAddr>,
        announce: impl Fn(&str) -> Option<SocketAddr> + Send + Copy + 'static,
    ) -> anyhow::Result<Self> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {name} ({:?})", cmd.get_program()))?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().context("stdout")?;
        let err = child.stderr.take().context("stderr")?;
        drain(out, tail.clone(), tx.clone(), announce);
        drain(err, tail.clone(), tx, announce);

        let mut server = Self {
            name,
            child,
            addr: known.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0))),
            path: path.to_owned(),
            tail,
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = server.child.try_wait()? {
                bail!(
                    "{name} exited during start-up ({status}):\n{}",
                    server.tail()
                );
            }
            if Instant::now() > deadline {
                let tail = server.tail();
                server.stop();
                bail!("{name} did not start listening within {READY_TIMEOUT:?}:\n{tail}");
            }
            match known {
                Some(addr) => {
                    if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                        return Ok(server);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                None => {
                    if let Ok(addr) = rx.recv_timeout(Duration::from_millis(50)) {
                        server.addr = addr;
                        return Ok(server);
                    }
                }
            }
        }
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the server process itself.
    pub(crate) fn rss(&self) -> anyhow::Result<Rss> {
        rss_of(self.pid())
    }

    /// The last lines it wrote (stdout and stderr interleaved).
    pub(crate) fn tail(&self) -> String {
        self.tail
            .lock()
            .map(|t| t.iter().cloned().collect::<Vec<_>>().join("\n"))
            .unwrap_or_default()
    }

    /// SIGTERM, up to 5 s to exit, then SIGKILL.
    pub(crate) fn stop(mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        let _ = kill(pid, Signal::SIGTERM);
        let until = Instant::now() + Duration::from_secs(5);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        eprintln!("bench: {} ignored SIGTERM for 5 s; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Keeps reading `stream` line by line: keeps the last lines in `tail` and reports the first
/// address `announce` finds.
pub(crate) fn drain(
    stream: impl Read + Send + 'static,
    tail: Arc<Mutex<VecDeque<String>>>,
    tx: mpsc::Sender<SocketAddr>,
    announce: impl Fn(&str) -> Option<SocketAddr> + Send + 'static,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        let mut announced = false;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if !announced && let Some(addr) = announce(&line) {
                announced = true;
                let _ = tx.send(addr);
            }
            if let Ok(mut t) = tail.lock() {
                if t.len() == TAIL {
                    t.pop_front();
                }
                t.push_back(line.trim_end().to_owned());
            }
        }
    });
}

/// A loopback address with a port that was free a moment ago.
fn free_port() -> anyhow::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(l.local_addr()?)
}

/// How many live processes have `pid` as parent (a scan of `/proc/*/stat`; zombies count
/// until reaped).
pub(crate) fn children_of(pid: u32) -> anyhow::Result<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").context("reading /proc")? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        // A process may exit between listing and reading.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // Fields after the command name (which may contain spaces and parentheses):
        // state, ppid, ...
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse::<u32>().ok());
        if ppid == Some(pid) {
            n += 1;
        }
    }
    Ok(n)
}

/// Waits (up to 5 s) until `pid` has no child processes.
pub(crate) fn wait_childless(pid: u32) -> anyhow::Result<()> {
    let until = Instant::now() + Duration::from_secs(5);
    while children_of(pid)? > 0 {
        if Instant::now() > until {
            bail!("process {pid} still has children after 5 s");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}

/// `VmRSS`, `VmHWM` and `RssAnon` of `pid`.
pub(crate) fn rss_of(pid: u32) -> anyhow::Result<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        let kib: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("bad line {line:?}"))?;
        Ok(kib * 1024)
    };
    Ok(Rss {
        current: field("VmRSS:")?,
        peak: field("VmHWM:")?,
        anon: field("RssAnon:")?,
    })
}

/// CPU time of `pid` so far: the sum over its live threads of the first field of
/// `/proc/PID/task/TID/schedstat` (nanoseconds on the CPU). Threads that already exited are not
/// counted, so take differences over a span in which the thread set is stable.
pub(crate) fn cpu_ns_of(pid: u32) -> anyhow::Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0u64;
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {dir}"))? {
        let path = entry?.path().join("schedstat");
        // A thread may exit between listing and reading.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let ns: u64 = text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .with_context(|| format!("bad {}: {text:?}", path.display()))?;
        total += ns;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_rss() {
        let r = rss_of(std::process::id()).unwrap();
        assert!(r.current > 0 && r.peak >= r.current && r.anon <= r.current);
    }

    #[test]
    fn counts_children() {
        let me = std::process::id();
        let before = children_of(me).unwrap();
        let mut c = Command::new("sleep").arg("5").spawn().unwrap();
        assert!(children_of(me).unwrap() > before);
        c.kill().unwrap();
        c.wait().unwrap();
    }

    #[test]
    fn reads_our_own_cpu_time() {
        let a = cpu_ns_of(std::process::id()).unwrap();
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        assert!(x != 1);
        assert!(cpu_ns_of(std::process::id()).unwrap() >= a);
    }
}
