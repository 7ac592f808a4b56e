//! Processes: a guard that stops what it started, the lines a process writes, ports, and the
//! `/proc` probes the benchmark reads (resident memory, CPU time, child count).
//!
//! Contract: a [`ProcessGuard`] stops its process when dropped — SIGTERM (to the process group
//! when it was started in one of its own), up to 5 s to exit, then SIGKILL — or kills it at once
//! when made with [`ProcessGuard::kill_on_drop`]. [`collect_lines`] keeps reading a pipe until
//! it closes, so a process never blocks on a full pipe. [`free_port`] / [`free_addr`] give a
//! loopback port that was free a moment ago (another process may take it first).

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

/// How long a guarded process gets between SIGTERM and SIGKILL when dropped.
const GRACE: Duration = Duration::from_secs(5);

/// A started process, stopped when dropped.
pub struct ProcessGuard {
    child: Child,
    name: String,
    /// Started as the leader of a process group of its own: signals go to the group.
    group: bool,
    kill_at_once: bool,
}

impl ProcessGuard {
    /// Spawns `cmd` (its stdio as the caller configured it); `name` appears in messages.
    pub fn spawn(name: &str, cmd: &mut Command) -> io::Result<Self> {
        let child = cmd.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("starting {name} ({:?}): {e}", cmd.get_program()),
            )
        })?;
        Ok(Self {
            child,
            name: name.to_owned(),
            group: false,
            kill_at_once: false,
        })
    }

    /// Spawns `cmd` as the leader of a new process group, so stopping it also stops what it
    /// started (servers launched via `npx`/`uvx` start grandchildren).
    pub fn spawn_group(name: &str, cmd: &mut Command) -> io::Result<Self> {
        let mut guard = Self::spawn(name, cmd.process_group(0))?;
        guard.group = true;
        Ok(guard)
    }

    /// When dropped, SIGKILL at once instead of SIGTERM first.
    pub fn kill_on_drop(mut self) -> Self {
        self.kill_at_once = true;
        self
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The child itself (to take its pipes).
    pub fn child(&mut self) -> &mut Child {
        &mut self.child
    }

    /// `Some(status)` once it has exited.
    pub fn exited(&mut self) -> io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Sends `sig` to the process (to its group when it leads one).
    pub fn signal(&self, sig: Signal) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let pid = Pid::from_raw(pid);
            let _ = if self.group {
                killpg(pid, sig)
            } else {
                kill(pid, sig)
            };
        }
    }

    /// Waits up to `within` for the exit; `None` if it is still running.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                return Some(st);
            }
            if start.elapsed() > within {
                return None;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL; the exit status if it could be read.
    pub fn stop(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Ok(Some(st)) = self.child.try_wait() {
            return Some(st);
        }
        self.signal(Signal::SIGTERM);
        match self.wait_exit(grace) {
            Some(st) => {
                if self.group {
                    // The group may still hold the leader's children for a moment.
                    self.signal(Signal::SIGKILL);
                }
                Some(st)
            }
            None => {
                eprintln!("{} ignored SIGTERM for {grace:?}; killing it", self.name);
                self.kill()
            }
        }
    }

    /// SIGKILL (the group too, which may still hold the leader's children) and reap.
    fn kill(&mut self) -> Option<ExitStatus> {
        self.signal(Signal::SIGKILL);
        self.child.wait().ok()
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        if self.kill_at_once {
            self.kill();
        } else {
            self.stop(GRACE);
        }
    }
}

/// The lines a process wrote, shared with the threads that collect them. Keeps every line, or
/// only the last few ([`Log::last`]) for a long-running process; can also append every line to
/// a file ([`Log::also_to`]).
#[derive(Clone, Default)]
pub struct Log {
    lines: Arc<Mutex<VecDeque<String>>>,
    keep: Option<usize>,
    file: Option<Arc<Mutex<std::fs::File>>>,
}

impl Log {
    /// Waits until the log contains `needle` (or panics after `within`, showing the log).
    pub fn wait_for(&self, needle: &str, within: Duration) {
        let start = Instant::now();
        while start.elapsed() < within {
            if self.text().contains(needle) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("log never contained {needle:?}:\n{}", self.text());
    }

    /// A log that keeps every line.
    pub fn new() -> Self {
        Self::default()
    }

    /// A log that keeps only the last `n` lines.
    pub fn last(n: usize) -> Self {
        Self {
            keep: Some(n),
            ..Self::default()
        }
    }

    /// The same log, also appending every line to a new file at `path`.
    pub fn also_to(mut self, path: &std::path::Path) -> io::Result<Self> {
        self.file = Some(Arc::new(Mutex::new(std::fs::File::create(path)?)));
        Ok(self)
    }

    /// The kept lines, in order. A collector that panicked leaves its lines readable.
    pub fn lines(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        lines.iter().cloned().collect()
    }

    /// The kept lines joined by newlines.
    pub fn text(&self) -> String {
        self.lines().join("\n")
    }

    fn push(&self, line: String) {
        if let Some(f) = &self.file {
            let mut f = f.lock().unwrap_or_else(PoisonError::into_inner);
            let _ = writeln!(f, "{line}");
        }
        let mut lines = self.lines.lock().unwrap_or_else(PoisonError::into_inner);
        if self.keep.is_some_and(|n| lines.len() >= n) {
            lines.pop_front();
        }
        lines.push_back(line);
    }
}

/// Collects `stream` line by line into `log` (echoed as `[tag] line` with `E2E_ECHO_LOG`) until
/// it closes; the receiver gets the first line that contains `needle`, after it was logged.
/// The sender is dropped when the stream ends, so a waiter also learns that the process died.
pub fn collect_lines(
    stream: impl Read + Send + 'static,
    tag: &'static str,
    needle: Option<&'static str>,
    log: Log,
) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let echo = std::env::var_os("E2E_ECHO_LOG").is_some();
    std::thread::spawn(move || {
        let mut tx = Some(tx);
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if echo {
                eprintln!("[{tag}] {line}");
            }
            let ready = needle.is_some_and(|n| line.contains(n));
            log.push(line.clone());
            if ready && let Some(tx) = tx.take() {
                let _ = tx.send(line);
            }
        }
    });
    rx
}

/// Runs a command with a timeout and returns (status success, stdout, stderr); panics if it
/// cannot start or does not finish within `within`.
pub fn run(cmd: &mut Command, within: Duration) -> (bool, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let read_all = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_string(&mut s);
            }
            s
        })
    };
    let o = read_all(child.stdout.take().map(|p| Box::new(p) as _));
    let e = read_all(child.stderr.take().map(|p| Box::new(p) as _));
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(e) => panic!("waiting for {cmd:?}: {e}"),
        }
        if start.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {within:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let joined = |h: std::thread::JoinHandle<String>| h.join().unwrap_or_default();
    (status.success(), joined(o), joined(e))
}

/// Sends a signal by name (`TERM`, `KILL`, `INT`, ... with or without `SIG`; `0` tests that
/// the process exists). `false` if the name is unknown or the signal could not be sent.
pub fn signal(pid: u32, sig: &str) -> bool {
    use nix::sys::signal::{Signal, kill};
    let target = nix::unistd::Pid::from_raw(pid as i32);
    if sig == "0" {
        return kill(target, None).is_ok();
    }
    let name = if sig.starts_with("SIG") {
        sig.to_owned()
    } else {
        format!("SIG{sig}")
    };
    name.parse::<Signal>()
        .is_ok_and(|s| kill(target, s).is_ok())
}

/// `true` while a process with this pid exists (and is not a zombie).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits until `pid` is gone; `false` if it is still there after `within`.
pub fn wait_gone(pid: u32, within: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < within {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    !alive(pid)
}

/// A loopback address whose port was free a moment ago.
pub fn free_addr() -> io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// A TCP port on 127.0.0.1 that was free a moment ago; panics if none can be bound.
pub fn free_port() -> u16 {
    match free_addr() {
        Ok(a) => a.port(),
        Err(e) => panic!("no free loopback port: {e}"),
    }
}

/// Whether something accepts TCP connections on `addr` (connects only, sends nothing: an HTTP
/// request to an emulator would be queued as an invocation).
pub fn accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

/// Resident memory of one process, in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Rss {
    /// `VmRSS`: resident now.
    pub current: u64,
    /// `VmHWM`: peak resident.
    pub peak: u64,
    /// `RssAnon`: the anonymous part of `current` (heap, stacks); the rest is mostly the
    /// mapped pages of the executable and its libraries.
    pub anon: u64,
}

fn bad_data(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// `VmRSS`, `VmHWM` and `RssAnon` of `pid` (that process only, not its children).
pub fn rss_of(pid: u32) -> io::Result<Rss> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .map(|kib| kib * 1024)
            .ok_or_else(|| bad_data(format!("no {name} in /proc/{pid}/status")))
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
pub fn cpu_ns_of(pid: u32) -> io::Result<u64> {
    let mut total = 0u64;
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let path = entry?.path().join("schedstat");
        // A thread may exit between listing and reading.
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        total += text
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| bad_data(format!("bad {}: {text:?}", path.display())))?;
    }
    Ok(total)
}

/// How many live processes have `pid` as parent (a scan of `/proc/*/stat`; zombies count
/// until reaped).
pub fn children_of(pid: u32) -> io::Result<usize> {
    child_pids(pid).map(|c| c.len())
}

/// The processes whose parent is `pid` (a scan of `/proc/*/stat`; zombies count until reaped).
pub fn child_pids(pid: u32) -> io::Result<Vec<u32>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc")? {
        let entry = entry?;
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        // A process may exit between listing and reading.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the command name (which may contain spaces and parentheses): state, ppid, ...
        let ppid = stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().nth(1)?.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    Ok(out)
}

/// Waits (up to 5 s) until `pid` has no child processes.
pub fn wait_childless(pid: u32) -> io::Result<()> {
    let until = Instant::now() + Duration::from_secs(5);
    while children_of(pid)? > 0 {
        if Instant::now() > until {
            return Err(io::Error::other(format!(
                "process {pid} still has children after 5 s"
            )));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_rss_and_cpu_time() {
        let r = rss_of(std::process::id()).unwrap();
        assert!(r.current > 0 && r.peak >= r.current && r.anon <= r.current);
        assert!(cpu_ns_of(std::process::id()).unwrap() > 0);
    }

    #[test]
    fn counts_children_and_stops_them() {
        let me = std::process::id();
        let before = children_of(me).unwrap();
        let mut g = ProcessGuard::spawn("sleep", Command::new("sleep").arg("30")).unwrap();
        assert!(children_of(me).unwrap() > before);
        let pid = g.pid();
        assert!(g.stop(Duration::from_secs(5)).is_some());
        assert!(!alive(pid));
    }

    #[test]
    fn a_short_log_keeps_the_last_lines() {
        let log = Log::last(2);
        let rx = collect_lines(&b"a\nready b\nc\n"[..], "t", Some("ready"), log.clone());
        assert_eq!(rx.recv().unwrap(), "ready b");
        let start = Instant::now();
        while log.lines().last().map(String::as_str) != Some("c") {
            assert!(start.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(log.lines(), ["ready b", "c"]);
    }
}
