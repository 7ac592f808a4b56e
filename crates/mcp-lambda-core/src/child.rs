//! One stdio MCP server process, supervised.
//!
//! Contract:
//! - The child runs in its own process group with an allow-listed environment
//!   ([`crate::command::ServerCommand`]); [`ChildProcess::terminate`] closes its stdin, then sends
//!   SIGTERM to the whole group, then SIGKILL after the grace period, so `npx`/`uvx`
//!   grandchildren die too. Dropping a [`ChildProcess`] without terminating it SIGKILLs the group.
//! - Messages are newline-delimited JSON-RPC. Every request gets a fresh numeric id on the wire
//!   ([`ChildProcess::start`]); the answer is matched by that id, so callers may reuse ids freely.
//! - Every started request ends exactly once: with the child's response, or with a
//!   [`ChildError`] (exit, timeout, output over the cap, unresponsive child).
//! - stdout lines that are not JSON-RPC are logged and skipped; stderr is forwarded to our log
//!   line by line (and its tail kept for the crash report).
//! - While a request started with a [`StreamSink`] is in flight, the child's notifications and
//!   server→client requests are routed to its client ([`streams`] has the rules); `ping` is
//!   answered `{}`; a server→client request no client can take gets a -32601 error at once, so
//!   the child never waits on us.

use std::collections::{HashMap, VecDeque};
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::value::RawValue;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{Instrument, debug, warn};

use crate::command::ServerCommand;
use crate::jsonrpc;

mod io;
pub mod streams;
pub use streams::{Asks, StreamSink};

/// Where a child's unrelated messages go, and the session that owns the child.
type UnrelatedSink = (mpsc::UnboundedSender<Unrelated>, Option<Arc<str>>);

/// A message from a child that belongs to no request (list changes, resource updates, log
/// messages no request took), with the session that owns the child.
#[derive(Debug, Clone)]
pub struct Unrelated {
    /// The session whose child sent it; `None` for a child shared by every session.
    pub session: Option<Arc<str>>,
    /// The JSON-RPC notification.
    pub message: Bytes,
}

/// How long writing a notification may wait for room in a child's stdin.
const NOTIFY_WRITE: Duration = Duration::from_secs(5);

/// How many stderr lines are kept for the report when a child dies.
const STDERR_TAIL: usize = 20;
/// Longest stderr line forwarded to the log; longer lines are cut.
const STDERR_LINE_MAX: usize = 16 * 1024;

/// Why a request to the child did not get the child's answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChildError {
    /// The process could not be started.
    #[error("could not start the MCP server `{program}`: {reason}")]
    Spawn {
        /// The program that failed to start.
        program: String,
        /// The OS error.
        reason: String,
    },
    /// The process exited (or closed its stdout) before answering.
    #[error("the MCP server {0} before answering")]
    Exited(String),
    /// No answer before the deadline.
    #[error("the MCP server did not answer within {0:?}")]
    Timeout(Duration),
    /// The answer was larger than the configured cap.
    #[error("the MCP server's answer was {len} bytes, over the {max}-byte limit")]
    OutputTooLarge {
        /// Size of the line the child wrote.
        len: usize,
        /// The cap.
        max: usize,
    },
    /// The child stopped answering entirely and was restarted.
    #[error("the MCP server stopped responding and was restarted")]
    Unresponsive,
    /// The wrapper is shutting down.
    #[error("the MCP server is shutting down")]
    ShuttingDown,
    /// The child stopped reading its stdin: a message could not be written before the
    /// request's deadline, so the child was stopped (the next request gets a new one).
    #[error("the MCP server stopped reading its input and was restarted")]
    NotReading,
}

impl ChildError {
    /// The JSON-RPC code a client sees for this failure.
    pub fn code(&self) -> i64 {
        match self {
            ChildError::Timeout(_) | ChildError::NotReading => jsonrpc::REQUEST_TIMEOUT,
            _ => jsonrpc::INTERNAL_ERROR,
        }
    }
}

type Reply = Result<Box<RawValue>, ChildError>;

#[derive(Default)]
struct Pending {
    waiting: HashMap<u64, oneshot::Sender<Reply>>,
    /// Set once the child is gone; later requests fail with it at once.
    closed: Option<ChildError>,
    /// Streams of in-flight requests, by wire id.
    streams: HashMap<u64, streams::Stream>,
    /// Server→client requests sent to a client and not answered yet, by outward id.
    routes: HashMap<String, streams::Route>,
}

struct Shared {
    pid: u32,
    pending: Mutex<Pending>,
    next_id: AtomicU64,
    stdin: Mutex<Option<mpsc::Sender<Bytes>>>,
    exit: watch::Receiver<Option<ExitStatus>>,
    stderr_tail: Mutex<VecDeque<String>>,
    /// Where notifications that belong to no request go (the sessions' GET streams), and the
    /// session that owns this child.
    unrelated: Mutex<Option<UnrelatedSink>>,
    /// The host's id of the request that last used this child: its stderr lines carry it.
    tag: Mutex<Option<Arc<str>>>,
    /// The upstream's slot this process takes (released once it has exited).
    slot: Mutex<Option<tokio::sync::OwnedSemaphorePermit>>,
    max_message: usize,
    terminated: AtomicBool,
    /// The child serves several clients at once (`reuse`): no client's `roots/list` answer
    /// may apply to it.
    many: AtomicBool,
}

impl Shared {
    fn fail_all(&self, err: ChildError) {
        let drained: Vec<_> = {
            let Ok(mut p) = self.pending.lock() else {
                return;
            };
            if p.closed.is_none() {
                p.closed = Some(err.clone());
            }
            p.streams.clear();
            p.routes.clear();
            p.waiting.drain().collect()
        };
        for (_, tx) in drained {
            let _ = tx.send(Err(err.clone()));
        }
    }

    /// Queues one complete message for the child's stdin without waiting (a full queue drops
    /// it). Returns whether it was queued.
    fn try_write(&self, message: Bytes) -> bool {
        let mut line = Vec::with_capacity(message.len() + 1);
        line.extend_from_slice(&message);
        line.push(b'\n');
        self.sender()
            .is_some_and(|tx| tx.try_send(Bytes::from(line)).is_ok())
    }

    fn complete(&self, id: u64, reply: Reply) -> bool {
        let tx = self
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.waiting.remove(&id));
        streams::end(self, id);
        match tx {
            Some(tx) => {
                let _ = tx.send(reply);
                true
            }
            None => false,
        }
    }

    fn sender(&self) -> Option<mpsc::Sender<Bytes>> {
        self.stdin.lock().ok().and_then(|s| s.clone())
    }

    fn is_closed(&self) -> bool {
        self.pending
            .lock()
            .map(|p| p.closed.is_some())
            .unwrap_or(true)
    }

    fn signal_group(&self, sig: Option<Signal>) -> bool {
        killpg(Pid::from_raw(self.pid as i32), sig).is_ok()
    }

    /// Gives back the upstream's slot (the process is gone).
    fn release_slot(&self) {
        if let Ok(mut slot) = self.slot.lock() {
            slot.take();
        }
    }

    fn stderr_tail(&self) -> Vec<String> {
        self.stderr_tail
            .lock()
            .map(|t| t.iter().cloned().collect())
            .unwrap_or_default()
    }
}

/// A supervised stdio MCP server process.
pub struct ChildProcess {
    shared: Arc<Shared>,
    grace: Duration,
}

/// A request written to the child, waiting for its answer.
pub struct Ticket {
    /// The id the child sees.
    pub wire_id: u64,
    rx: Option<oneshot::Receiver<Reply>>,
    shared: Arc<Shared>,
    /// Whether dropping the ticket unanswered tells the child (`notifications/cancelled`).
    cancel_on_drop: bool,
    settled: bool,
}

impl Ticket {
    /// Makes an unanswered drop (the client went away mid-request) a cancellation the child
    /// hears about, as protocol 2026-07-28 requires of a closed response. (Earlier versions say
    /// a disconnect is not a cancellation, so this is opt-in.)
    pub fn cancel_on_drop(&mut self) {
        self.cancel_on_drop = true;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        streams::end(&self.shared, self.wire_id);
        if self.settled {
            return;
        }
        let still_waiting = self
            .shared
            .pending
            .lock()
            .ok()
            .and_then(|mut p| p.waiting.remove(&self.wire_id))
            .is_some();
        if !(still_waiting && self.cancel_on_drop) {
            return;
        }
        let note = serde_json::json!({
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": { "requestId": self.wire_id, "reason": "the client went away" }
        });
        let line = Bytes::from(format!("{note}\n"));
        match self.shared.sender().map(|tx| tx.try_send(line)) {
            Some(Ok(())) => debug!(
                wire_id = self.wire_id,
                "client went away mid-request; cancelled it at the MCP server"
            ),
            _ => debug!(
                wire_id = self.wire_id,
                "client went away mid-request; the cancellation could not be queued"
            ),
        }
    }
}

impl std::fmt::Debug for ChildProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildProcess")
            .field("pid", &self.shared.pid)
            .finish()
    }
}

impl ChildProcess {
    /// Starts `cmd` in its own process group. Output lines over `max_message` bytes fail the
    /// request they answer. `grace` is how long [`terminate`](Self::terminate) waits before
    /// SIGKILL. With `in_request` the child's log lines (its stderr included) carry the current
    /// request's span (per-request children); otherwise they stand alone (shared children, whose
    /// lines belong to no single request).
    pub fn spawn(
        cmd: &ServerCommand,
        max_message: usize,
        grace: Duration,
        in_request: bool,
    ) -> Result<Self, ChildError> {
        let mut command = Command::new(&cmd.program);
        command
            .args(&cmd.args)
            .env_clear()
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        if let Some(dir) = &cmd.cwd {
            command.current_dir(dir);
        }
        let spawn_err = |e: std::io::Error| ChildError::Spawn {
            program: cmd.program.clone(),
            reason: e.to_string(),
        };
        let mut child = command.spawn().map_err(spawn_err)?;
        let pid = child.id().ok_or_else(|| ChildError::Spawn {
            program: cmd.program.clone(),
            reason: "exited at once".into(),
        })?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(spawn_err(std::io::Error::other("stdio pipes missing")));
        };
        let (exit_tx, exit_rx) = watch::channel(None);
        let (stdin_tx, stdin_rx) = mpsc::channel::<Bytes>(256);
        let shared = Arc::new(Shared {
            pid,
            pending: Mutex::new(Pending::default()),
            next_id: AtomicU64::new(1),
            stdin: Mutex::new(Some(stdin_tx)),
            exit: exit_rx,
            stderr_tail: Mutex::new(VecDeque::with_capacity(STDERR_TAIL)),
            unrelated: Mutex::new(None),
            tag: Mutex::new(None),
            slot: Mutex::new(None),
            max_message,
            terminated: AtomicBool::new(false),
            many: AtomicBool::new(false),
        });
        let span = if in_request {
            tracing::info_span!("child", pid)
        } else {
            tracing::info_span!(parent: None, "child", pid)
        };
        debug!(parent: &span, program = %cmd.program, "spawned MCP server");

        // Exit watcher: owns the process handle.
        let s = shared.clone();
        tokio::spawn(
            async move {
                let status = child.wait().await;
                match status {
                    Ok(st) => {
                        let _ = exit_tx.send(Some(st));
                        if !s.terminated.load(Ordering::Relaxed) {
                            warn!(status = %describe(st), stderr_tail = ?s.stderr_tail(), "MCP server exited");
                        }
                        s.fail_all(ChildError::Exited(describe(st)));
                    }
                    Err(e) => {
                        warn!(error = %e, "could not wait for MCP server");
                        s.fail_all(ChildError::Exited("could not be waited for".into()));
                    }
                }
                // Grandchildren may live on in the group: they must not outlive their parent.
                s.signal_group(Some(Signal::SIGKILL));
                s.release_slot();
            }
            .instrument(span.clone()),
        );
        tokio::spawn(io::write_loop(stdin, stdin_rx).instrument(span.clone()));
        tokio::spawn(io::read_loop(shared.clone(), stdout).instrument(span.clone()));
        tokio::spawn(io::stderr_loop(shared.clone(), stderr).instrument(span));
        Ok(Self { shared, grace })
    }

    /// The child's process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.shared.pid
    }

    /// `true` while the child can take requests, as far as our own bookkeeping knows (cheap).
    pub fn is_alive(&self) -> bool {
        !self.shared.is_closed()
    }

    /// [`is_alive`](Self::is_alive), and the process itself is not gone or a zombie (`/proc`).
    /// Catches a child that died while the sandbox was frozen (Lambda freeze/thaw) before our
    /// exit watcher ran. Costs a file read (~20 µs), so hosts that never freeze skip it.
    pub fn is_running(&self) -> bool {
        self.is_alive() && process_running(self.shared.pid)
    }

    /// Writes `request` (a JSON-RPC request object) with a fresh wire id and returns the ticket
    /// to wait on. The caller's id is not kept: the answer comes back with the wire id.
    /// Writing waits for room in the child's stdin until `deadline` at most (see
    /// [`ChildError::NotReading`]).
    pub async fn start(&self, request: &RawValue, deadline: Instant) -> Result<Ticket, ChildError> {
        self.start_streaming(request, None, deadline).await
    }

    /// [`start`](Self::start), with the request's notifications and server→client requests
    /// routed to `sink` while it is in flight (see [`streams`]).
    /// A request without a sink still has its `progressToken` replaced by its wire id (its
    /// progress then reaches nobody), so a token one client chose can never name another
    /// client's request on a shared child.
    pub async fn start_streaming(
        &self,
        request: &RawValue,
        sink: Option<StreamSink>,
        deadline: Instant,
    ) -> Result<Ticket, ChildError> {
        let wire_id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let mut line = jsonrpc::replace_id(request, &wire_id.to_string())
            .map_err(|e| ChildError::Exited(format!("could not be sent a request ({e})")))?;
        let (tx, rx) = oneshot::channel();
        {
            let mut p = self
                .shared
                .pending
                .lock()
                .map_err(|_| ChildError::ShuttingDown)?;
            if let Some(err) = &p.closed {
                return Err(err.clone());
            }
            p.waiting.insert(wire_id, tx);
            line = match sink {
                Some(sink) => streams::register(&mut p, wire_id, line, sink),
                None => streams::swap_progress_token(line, wire_id).0,
            };
        }
        if let Err(e) = self.send_line(jsonrpc::into_bytes(line), deadline).await {
            self.shared.pending.lock().ok().map(|mut p| {
                p.streams.remove(&wire_id);
                p.waiting.remove(&wire_id)
            });
            return Err(e);
        }
        Ok(Ticket {
            wire_id,
            rx: Some(rx),
            shared: self.shared.clone(),
            cancel_on_drop: false,
            settled: false,
        })
    }

    /// Sends `request` and waits for the answer until `deadline`. On timeout the child is told
    /// (`notifications/cancelled`) and probed; a child that no longer answers `ping` is killed.
    pub async fn request(&self, request: &RawValue, deadline: Instant) -> Reply {
        let ticket = self.start(request, deadline).await?;
        self.wait(ticket, deadline).await
    }

    /// Waits for a started request's answer until `deadline` (see [`request`](Self::request)).
    pub async fn wait(&self, mut ticket: Ticket, deadline: Instant) -> Reply {
        let started = Instant::now();
        let wire_id = ticket.wire_id;
        let Some(rx) = ticket.rx.take() else {
            ticket.settled = true;
            return Err(ChildError::ShuttingDown);
        };
        let outcome = tokio::time::timeout_at(deadline, rx).await;
        // From here on the ticket is settled: a drop no longer cancels.
        ticket.settled = true;
        match outcome {
            Ok(Ok(reply)) => reply,
            Ok(Err(_)) => Err(ChildError::ShuttingDown),
            Err(_) => {
                ticket
                    .shared
                    .pending
                    .lock()
                    .ok()
                    .map(|mut p| p.waiting.remove(&wire_id));
                let waited = started.elapsed();
                warn!(
                    wire_id,
                    ?waited,
                    "MCP server did not answer in time; cancelling"
                );
                self.cancel(wire_id, "timed out").await;
                self.probe_liveness();
                Err(ChildError::Timeout(round(waited)))
            }
        }
    }

    /// Tells the child to stop working on a request (`notifications/cancelled`). Never waits: a
    /// child whose stdin is full does not get it.
    pub async fn cancel(&self, wire_id: u64, reason: &str) {
        let note = serde_json::json!({
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": { "requestId": wire_id, "reason": reason }
        });
        if !self.shared.try_write(Bytes::from(note.to_string())) {
            debug!(
                wire_id,
                "the cancellation could not be queued for the MCP server"
            );
        }
    }

    /// Sends the child's notifications that belong to no request (list changes, resource
    /// updates, log messages nobody else takes) to `tx`, tagged with `owner`: the session this
    /// child serves alone, `None` when it serves every session.
    pub fn on_unrelated(&self, tx: mpsc::UnboundedSender<Unrelated>, owner: Option<Arc<str>>) {
        if let Ok(mut u) = self.shared.unrelated.lock() {
            *u = Some((tx, owner));
        }
    }

    /// Marks the child as serving several clients at once: its `roots/list` requests are then
    /// answered with an error, never sent to one client (see [`streams`]).
    pub fn serve_many(&self) {
        self.shared.many.store(true, Ordering::Relaxed);
    }

    /// Keeps `slot` (a place under the upstream's cap on processes) until the process exits.
    pub fn hold(&self, slot: tokio::sync::OwnedSemaphorePermit) {
        if let Ok(mut s) = self.shared.slot.lock() {
            *s = Some(slot);
        }
        if !self.is_alive() && self.shared.exit.borrow().is_some() {
            self.shared.release_slot();
        }
    }

    /// Tags the child's stderr lines with the host's id of the request using it now (`None`
    /// leaves the tag as it is). On a host serving one request at a time (Lambda) every line
    /// then names the invocation that was running when it was written.
    pub fn attribute(&self, request_id: Option<Arc<str>>) {
        if let (Some(id), Ok(mut t)) = (request_id, self.shared.tag.lock()) {
            *t = Some(id);
        }
    }

    /// Delivers a client's response to the server→client request it answers, if this child
    /// asked it on a stream of `session`'s (see [`streams`]). Returns whether it was delivered.
    pub fn deliver_client_response(&self, msg: &jsonrpc::Message, session: Option<&str>) -> bool {
        streams::deliver_client_response(&self.shared, msg, session)
    }

    /// Writes a notification (or any message that expects no answer) as it is, waiting for room
    /// in the child's stdin 5 s at most (`NOTIFY_WRITE`).
    pub async fn notify(&self, message: &RawValue) -> Result<(), ChildError> {
        let deadline = Instant::now() + NOTIFY_WRITE;
        self.send_line(message.get().as_bytes().to_vec(), deadline)
            .await
    }

    /// Queues one message for the child's stdin; the newline is added here, so the writer
    /// needs one write per message. Waits for room until `deadline`: a child that stops reading
    /// its stdin is stopped then ([`ChildError::NotReading`]), never waited on forever.
    async fn send_line(&self, mut line: Vec<u8>, deadline: Instant) -> Result<(), ChildError> {
        line.push(b'\n');
        let line = Bytes::from(line);
        let closed = || {
            self.shared
                .pending
                .lock()
                .ok()
                .and_then(|p| p.closed.clone())
                .unwrap_or(ChildError::ShuttingDown)
        };
        let Some(tx) = self.shared.sender() else {
            return Err(closed());
        };
        match tokio::time::timeout_at(deadline, tx.send(line)).await {
            Ok(sent) => sent.map_err(|_| closed()),
            Err(_) => {
                warn!("MCP server stopped reading its stdin; stopping it");
                self.shared.fail_all(ChildError::NotReading);
                let shared = self.shared.clone();
                let grace = self.grace;
                tokio::spawn(async move { terminate_group(&shared, grace).await });
                Err(ChildError::NotReading)
            }
        }
    }

    /// After a timeout: if the child does not answer a `ping` soon, it is stuck; kill it so the
    /// next request gets a fresh one.
    fn probe_liveness(&self) {
        let shared = self.shared.clone();
        let grace = self.grace;
        let Some(tx) = shared.sender() else { return };
        tokio::spawn(async move {
            let wire_id = shared.next_id.fetch_add(1, Ordering::Relaxed);
            let (otx, orx) = oneshot::channel();
            match shared.pending.lock() {
                Ok(mut p) if p.closed.is_none() => {
                    p.waiting.insert(wire_id, otx);
                }
                _ => return,
            }
            let ping = format!("{{\"jsonrpc\":\"2.0\",\"id\":{wire_id},\"method\":\"ping\"}}\n");
            let limit = Duration::from_secs(5);
            let asked = tokio::time::timeout(limit, async {
                tx.send(Bytes::from(ping)).await.is_ok() && orx.await.is_ok()
            })
            .await;
            if !matches!(asked, Ok(true)) {
                warn!("MCP server does not answer ping; killing it");
                shared.fail_all(ChildError::Unresponsive);
                terminate_group(&shared, grace).await;
            }
        });
    }

    /// Ends the child: closes stdin, SIGTERMs the process group (at once if the child is gone,
    /// else after half the grace period), SIGKILLs whatever is left after the grace period.
    /// In-flight requests fail with [`ChildError::ShuttingDown`].
    pub async fn terminate(&self) {
        self.shared.fail_all(ChildError::ShuttingDown);
        terminate_group(&self.shared, self.grace).await;
    }
}

async fn terminate_group(shared: &Shared, grace: Duration) {
    if shared.terminated.swap(true, Ordering::SeqCst) {
        return;
    }
    if let Ok(mut s) = shared.stdin.lock() {
        s.take();
    }
    let start = Instant::now();
    let mut exit = shared.exit.clone();
    let _ = tokio::time::timeout(grace / 2, exit.wait_for(|s| s.is_some())).await;
    shared.signal_group(Some(Signal::SIGTERM));
    // Wait for the whole group to be gone, not just the direct child.
    while start.elapsed() < grace {
        if !shared.signal_group(None) {
            debug!(took = ?start.elapsed(), "MCP server process group ended");
            shared.release_slot();
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if shared.signal_group(Some(Signal::SIGKILL)) {
        warn!(
            ?grace,
            "MCP server ignored SIGTERM; sent SIGKILL to its process group"
        );
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if !self.shared.terminated.swap(true, Ordering::SeqCst) {
            self.shared.fail_all(ChildError::ShuttingDown);
            self.shared.signal_group(Some(Signal::SIGKILL));
        }
    }
}

/// `false` if `/proc` shows the process gone or a zombie; `true` otherwise (also when `/proc` is
/// unavailable, leaving the decision to the exit watcher).
fn process_running(pid: u32) -> bool {
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the last ')' (the command name may contain parentheses).
            let after = stat
                .iter()
                .rposition(|&b| b == b')')
                .map(|i| &stat[i + 1..]);
            !matches!(
                after.and_then(|a| a.iter().find(|b| !b.is_ascii_whitespace())),
                Some(b'Z' | b'X')
            )
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) => true,
    }
}

/// Describes an exit status the way a user reads it.
pub fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        format!("exited with status {code}")
    } else if let Some(sig) = status.signal() {
        match Signal::try_from(sig) {
            Ok(s) => format!("was killed by signal {s} ({sig})"),
            Err(_) => format!("was killed by signal {sig}"),
        }
    } else {
        "exited".to_string()
    }
}

fn preview(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(&line[..line.len().min(200)]);
    if line.len() > 200 {
        format!("{s}…")
    } else {
        s.into_owned()
    }
}

fn round(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}
