//! The GET stream of a (legacy) session: server messages that belong to no request — list
//! changes, resource updates, log messages no request took — with event ids and `Last-Event-ID`
//! resumption.
//!
//! Contract:
//! - A session that opened a GET stream, or subscribed to a resource, has a mailbox here. Every
//!   message for it gets the next event id of the session (`1`, `2`, …) and is kept in a bounded
//!   replay buffer, whether or not a stream is connected. A message is escaped once and shared
//!   by every mailbox it goes to.
//! - A message belongs to the child that sent it: a child serving one session (`per-session`,
//!   `per-request`) reaches that session's mailbox only; a child shared by every session
//!   (`reuse`) reaches every mailbox. Within those, `notifications/resources/updated` goes only
//!   to the sessions that subscribed to its `uri` (`resources/subscribe`, until
//!   `resources/unsubscribe`).
//! - A new GET stream replaces the session's previous one (each message goes out on one stream)
//!   and first replays the buffered events after `Last-Event-ID`. A stream whose client does
//!   not read (`LIVE_BYTES` queued) is ended; the client resumes with `Last-Event-ID`.
//! - A session that ends (DELETE) loses its mailbox; so does one that expires: each mailbox
//!   lives until its session's expiry as last seen by a request (`Events::seen`). Expired
//!   mailboxes are swept when a mailbox is added, and at most once a second when a message is
//!   dispatched (a live stream of an expired session ends).
//! - A stream lives at most `--get-stream-max` (and on Lambda ends before the invocation's
//!   deadline): the client reconnects with `Last-Event-ID`.
//! - Bounded: at most `MAX_MAILBOXES` mailboxes — when full, the least recently seen one
//!   with no live stream and no subscription makes room, else one more is refused (503); a
//!   replay buffer of at most `REPLAY` events and `REPLAY_BYTES` bytes; at most
//!   `MAX_SUBSCRIPTIONS` subscribed URIs of at most `MAX_URI` bytes each per session (more
//!   is refused before the request reaches the child).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

use super::reject::Rejection;
use crate::queue;

/// Events kept per session for resumption.
pub(crate) const REPLAY: usize = 256;
/// Bytes of messages kept per session for resumption (a message larger than this goes to a
/// live stream only).
pub(crate) const REPLAY_BYTES: usize = 32 * 1024;
/// Bytes a live stream holds for a client that does not read before it is ended.
pub(crate) const LIVE_BYTES: usize = 1024 * 1024;
/// Sessions with a mailbox (a GET stream or a subscription) at once.
pub(crate) const MAX_MAILBOXES: usize = 4_096;
/// Resources one session may be subscribed to.
pub(crate) const MAX_SUBSCRIPTIONS: usize = 64;
/// Longest subscribed URI, in bytes.
pub(crate) const MAX_URI: usize = 1024;
/// Events between a live stream's queue and the HTTP body.
const BODY_EVENTS: usize = 4;
/// How often dispatching sweeps expired mailboxes, at most.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Why a mailbox or a subscription was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// [`MAX_MAILBOXES`] live sessions already have one, each streaming or subscribed.
    Full,
    /// The session is subscribed to [`MAX_SUBSCRIPTIONS`] resources.
    TooManySubscriptions,
    /// The URI is longer than [`MAX_URI`].
    UriTooLong,
}

/// `rx` until `deadline`, when the stream ends (the client reconnects with `Last-Event-ID`;
/// what it missed is in the replay buffer). Also ends when either side goes away.
pub(crate) fn ending_at(
    mut rx: queue::Receiver,
    deadline: tokio::time::Instant,
) -> mpsc::Receiver<Bytes> {
    let (tx, out) = mpsc::channel(BODY_EVENTS);
    tokio::spawn(async move {
        let _ = tokio::time::timeout_at(deadline, async {
            while let Some(event) = rx.recv().await {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        })
        .await;
    });
    out
}

/// The client's answer to a refusal.
pub(crate) fn rejection(refused: Refused) -> Rejection {
    match refused {
        Refused::Full => Rejection::busy(format!(
            "{MAX_MAILBOXES} sessions have a stream or subscriptions open, the most this endpoint keeps; try again later"
        )),
        Refused::TooManySubscriptions => Rejection::invalid_params(format!(
            "a session may subscribe to at most {MAX_SUBSCRIPTIONS} resources; unsubscribe from one first"
        )),
        Refused::UriTooLong => {
            Rejection::invalid_params(format!("a subscribed uri may be at most {MAX_URI} bytes"))
        }
    }
}

/// One SSE event: `payload` (already escaped) under event id `id`.
fn render(id: u64, payload: &[u8]) -> Bytes {
    let mut event = format!("id: {id}\nevent: message\ndata: ").into_bytes();
    event.extend_from_slice(payload);
    event.extend_from_slice(b"\n\n");
    Bytes::from(event)
}

struct Mailbox {
    live: Option<queue::Sender>,
    /// Event ids and their payloads (shared with the other mailboxes that got them).
    buffer: VecDeque<(u64, Bytes)>,
    /// Bytes of payload in `buffer`.
    buffered: usize,
    next: u64,
    subscriptions: HashSet<String>,
    /// The session's expiry as last seen: the mailbox goes with it.
    until: SystemTime,
}

impl Mailbox {
    fn post(&mut self, payload: &Bytes) {
        self.next += 1;
        if payload.len() <= REPLAY_BYTES {
            while self.buffer.len() >= REPLAY || self.buffered + payload.len() > REPLAY_BYTES {
                let Some((_, old)) = self.buffer.pop_front() else {
                    break;
                };
                self.buffered -= old.len();
            }
            self.buffered += payload.len();
            self.buffer.push_back((self.next, payload.clone()));
        }
        if let Some(tx) = &self.live
            && !tx.send(render(self.next, payload))
        {
            // Gone or not reading: the stream ends; the buffer keeps the event for the next GET.
            self.live = None;
        }
    }

    /// Neither streaming nor subscribed: the mailbox may make room for another.
    fn idle(&self) -> bool {
        self.live.as_ref().is_none_or(queue::Sender::is_closed) && self.subscriptions.is_empty()
    }
}

/// Every session's mailbox.
pub(crate) struct Events {
    boxes: Mutex<Boxes>,
}

struct Boxes {
    map: HashMap<String, Mailbox>,
    swept: Instant,
}

impl Default for Events {
    fn default() -> Self {
        Self {
            boxes: Mutex::new(Boxes {
                map: HashMap::new(),
                swept: Instant::now(),
            }),
        }
    }
}

impl Boxes {
    fn sweep(&mut self) {
        let now = SystemTime::now();
        self.map.retain(|_, m| m.until > now);
        self.swept = Instant::now();
    }

    /// The session's mailbox (made if it has none: expired ones are swept first, and when
    /// full the least recently seen idle one makes room), kept at least `until`.
    fn mailbox(&mut self, session: &str, until: SystemTime) -> Result<&mut Mailbox, Refused> {
        if !self.map.contains_key(session) {
            self.sweep();
            if self.map.len() >= MAX_MAILBOXES {
                let oldest_idle = self
                    .map
                    .iter()
                    .filter(|(_, m)| m.idle())
                    .min_by_key(|(_, m)| m.until)
                    .map(|(id, _)| id.clone());
                match oldest_idle {
                    Some(id) => {
                        self.map.remove(&id);
                    }
                    None => return Err(Refused::Full),
                }
            }
        }
        let mailbox = self
            .map
            .entry(session.to_owned())
            .or_insert_with(|| Mailbox {
                live: None,
                buffer: VecDeque::new(),
                buffered: 0,
                next: 0,
                subscriptions: HashSet::new(),
                until,
            });
        mailbox.until = mailbox.until.max(until);
        Ok(mailbox)
    }
}

impl Events {
    /// Delivers one message from a child (see the module docs for who gets it): the child of
    /// one `session` reaches that session's mailbox only; a shared child (`None`), every one.
    pub(crate) fn dispatch(&self, session: Option<&str>, message: &[u8]) {
        let uri = serde_json::from_slice::<Value>(message).ok().and_then(|v| {
            (v.get("method")?.as_str()? == "notifications/resources/updated")
                .then(|| v.pointer("/params/uri")?.as_str().map(str::to_owned))
                .flatten()
        });
        // CR and LF end SSE lines; in JSON they are only whitespace between tokens.
        let payload: Bytes = message
            .iter()
            .map(|b| match b {
                b'\n' | b'\r' => b' ',
                b => *b,
            })
            .collect::<Vec<u8>>()
            .into();
        let Ok(mut boxes) = self.boxes.lock() else {
            return;
        };
        if boxes.swept.elapsed() >= SWEEP_EVERY {
            boxes.sweep();
        }
        let boxes = boxes
            .map
            .iter_mut()
            .filter(|(id, _)| session.is_none_or(|s| s == id.as_str()))
            .map(|(_, mailbox)| mailbox);
        for mailbox in boxes {
            if uri
                .as_ref()
                .is_none_or(|u| mailbox.subscriptions.contains(u))
            {
                mailbox.post(&payload);
            }
        }
    }

    /// Opens the GET stream of a session that lives `until`: the buffered events after
    /// `last_event_id`, then live.
    pub(crate) fn open(
        &self,
        session: &str,
        last_event_id: Option<u64>,
        until: SystemTime,
    ) -> Result<queue::Receiver, Refused> {
        let (tx, rx) = queue::channel(REPLAY + 64, LIVE_BYTES);
        let mut boxes = self.boxes.lock().map_err(|_| Refused::Full)?;
        let mailbox = boxes.mailbox(session, until)?;
        for (id, payload) in &mailbox.buffer {
            if last_event_id.is_none_or(|last| *id > last) {
                tx.send(render(*id, payload));
            }
        }
        mailbox.live = Some(tx);
        Ok(rx)
    }

    /// Records a session's `resources/subscribe` (`on`) or `resources/unsubscribe`; the session
    /// lives `until`. Checked before the request reaches the child: a refusal means the child
    /// never sees it.
    pub(crate) fn subscribe(
        &self,
        session: &str,
        uri: &str,
        on: bool,
        until: SystemTime,
    ) -> Result<(), Refused> {
        let mut boxes = self.boxes.lock().map_err(|_| Refused::Full)?;
        if !on {
            if let Some(mailbox) = boxes.map.get_mut(session) {
                mailbox.subscriptions.remove(uri);
            }
            return Ok(());
        }
        if uri.len() > MAX_URI {
            return Err(Refused::UriTooLong);
        }
        let mailbox = boxes.mailbox(session, until)?;
        if !mailbox.subscriptions.contains(uri) {
            if mailbox.subscriptions.len() >= MAX_SUBSCRIPTIONS {
                return Err(Refused::TooManySubscriptions);
            }
            mailbox.subscriptions.insert(uri.to_owned());
        }
        Ok(())
    }

    /// A request of `session` was seen: its mailbox, if any, lives at least `until`.
    pub(crate) fn seen(&self, session: &str, until: SystemTime) {
        if let Ok(mut boxes) = self.boxes.lock()
            && let Some(mailbox) = boxes.map.get_mut(session)
        {
            mailbox.until = mailbox.until.max(until);
        }
    }

    /// Forgets a session.
    pub(crate) fn end(&self, session: &str) {
        if let Ok(mut boxes) = self.boxes.lock() {
            boxes.map.remove(session);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHANGED: &[u8] = br#"{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}"#;

    fn updated(uri: &str) -> Vec<u8> {
        format!(r#"{{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{{"uri":"{uri}"}}}}"#)
            .into_bytes()
    }

    fn later() -> SystemTime {
        SystemTime::now() + std::time::Duration::from_secs(60)
    }

    fn drain(rx: &mut queue::Receiver) -> Vec<String> {
        let mut out = Vec::new();
        while let Some(e) = rx.try_recv() {
            out.push(String::from_utf8(e.to_vec()).unwrap());
        }
        out
    }

    #[test]
    fn events_carry_ids_and_replay_after_last_event_id() {
        let e = Events::default();
        let mut rx = e.open("s1", None, later()).unwrap();
        e.dispatch(None, CHANGED);
        let got = drain(&mut rx);
        assert_eq!(got.len(), 1);
        assert!(
            got[0].starts_with("id: 1\nevent: message\ndata: {"),
            "{got:?}"
        );
        // Reconnect after having seen event 1; two more arrived meanwhile.
        drop(rx);
        e.dispatch(None, CHANGED);
        e.dispatch(None, CHANGED);
        let mut rx = e.open("s1", Some(1), later()).unwrap();
        let got = drain(&mut rx);
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got[0].starts_with("id: 2\n") && got[1].starts_with("id: 3\n"));
        // Sessions without a mailbox get nothing; ended sessions lose theirs.
        e.end("s1");
        e.dispatch(None, CHANGED);
        assert!(drain(&mut rx).is_empty());
    }

    #[test]
    fn resource_updates_go_to_subscribers_only() {
        let e = Events::default();
        let mut a = e.open("a", None, later()).unwrap();
        let mut b = e.open("b", None, later()).unwrap();
        e.subscribe("a", "test://x", true, later()).unwrap();
        e.dispatch(None, &updated("test://x"));
        assert_eq!(drain(&mut a).len(), 1);
        assert!(drain(&mut b).is_empty());
        e.subscribe("a", "test://x", false, later()).unwrap();
        e.dispatch(None, &updated("test://x"));
        assert!(drain(&mut a).is_empty());
    }

    #[test]
    fn a_sessions_own_child_reaches_that_session_only() {
        let e = Events::default();
        let mut a = e.open("a", None, later()).unwrap();
        let mut b = e.open("b", None, later()).unwrap();
        e.dispatch(Some("a"), CHANGED);
        assert_eq!(drain(&mut a).len(), 1);
        assert!(drain(&mut b).is_empty(), "b's stream saw a's child");
        e.dispatch(None, CHANGED);
        assert_eq!((drain(&mut a).len(), drain(&mut b).len()), (1, 1));
    }

    #[test]
    fn the_replay_buffer_is_bounded() {
        let e = Events::default();
        drop(e.open("s", None, later()).unwrap());
        for _ in 0..REPLAY + 10 {
            e.dispatch(None, CHANGED);
        }
        let mut rx = e.open("s", Some(0), later()).unwrap();
        let got = drain(&mut rx);
        assert_eq!(got.len(), REPLAY);
        assert!(got[0].starts_with("id: 11\n"), "{}", got[0]);
    }

    #[test]
    fn expired_sessions_lose_their_mailbox_and_stream() {
        let e = Events::default();
        let past = SystemTime::now() - std::time::Duration::from_secs(1);
        let mut gone = e.open("gone", None, past).unwrap();
        e.subscribe("gone2", "test://x", true, past).unwrap();
        let mut kept = e.open("kept", None, later()).unwrap();
        e.dispatch(None, CHANGED);
        assert_eq!(drain(&mut kept).len(), 1);
        assert!(drain(&mut gone).is_empty());
        // The mailbox was swept, so its sender is gone: the stream has ended.
        assert!(gone.try_recv().is_none() && gone.is_closed());
        assert_eq!(e.boxes.lock().unwrap().map.len(), 1);
        // A request extends the session's mailbox.
        let soon = SystemTime::now() + std::time::Duration::from_millis(1);
        let mut s = e.open("s", None, soon).unwrap();
        e.seen("s", later());
        std::thread::sleep(std::time::Duration::from_millis(5));
        e.dispatch(None, CHANGED);
        assert_eq!(drain(&mut s).len(), 1);
    }

    #[test]
    fn mailboxes_and_subscriptions_are_bounded() {
        let e = Events::default();
        for i in 0..MAX_MAILBOXES {
            e.subscribe(&format!("s{i}"), "test://x", true, later())
                .unwrap();
        }
        assert_eq!(e.open("one-more", None, later()).err(), Some(Refused::Full));
        assert_eq!(
            e.subscribe("one-more", "test://x", true, later()),
            Err(Refused::Full)
        );
        // An existing session still subscribes, up to its own limit.
        for i in 1..MAX_SUBSCRIPTIONS {
            e.subscribe("s0", &format!("test://{i}"), true, later())
                .unwrap();
        }
        assert_eq!(
            e.subscribe("s0", "test://too-many", true, later()),
            Err(Refused::TooManySubscriptions)
        );
        e.subscribe("s0", "test://x", true, later()).unwrap(); // already there
        let long = format!("test://{}", "x".repeat(MAX_URI));
        assert_eq!(
            e.subscribe("s1", &long, true, later()),
            Err(Refused::UriTooLong)
        );
    }

    #[test]
    fn the_replay_buffer_is_bounded_in_bytes() {
        let e = Events::default();
        drop(e.open("s", None, later()).unwrap());
        let big = format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"data":"{}"}}}}"#,
            "x".repeat(10_000)
        );
        for _ in 0..20 {
            e.dispatch(None, big.as_bytes());
        }
        let huge = big.replace("xxxx", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        e.dispatch(None, huge.as_bytes()); // over the budget alone: live only
        let got = drain(&mut e.open("s", Some(0), later()).unwrap());
        let bytes: usize = got.iter().map(String::len).sum();
        let fit = REPLAY_BYTES / got[0].len();
        assert!(
            bytes <= REPLAY_BYTES && got.len() == fit,
            "{} events, {bytes} bytes",
            got.len()
        );
        assert!(
            got[fit - 1].starts_with("id: 20\n"),
            "{}",
            &got[fit - 1][..10]
        );
    }

    /// Sessions that opened a GET stream once keep a mailbox until they expire: when the table
    /// is full, the least recently seen one with no stream and no subscription makes room.
    #[test]
    fn idle_mailboxes_make_room_for_new_sessions() {
        let e = Events::default();
        let base = later();
        for i in 0..MAX_MAILBOXES {
            let until = base + std::time::Duration::from_secs(i as u64);
            drop(e.open(&format!("s{i}"), None, until).unwrap());
        }
        // s0 is streaming again: it is not idle, so s1 (the next oldest) makes room.
        let _s0 = e.open("s0", None, base).unwrap();
        let _new = e.open("new", None, later()).unwrap();
        let boxes = e.boxes.lock().unwrap();
        assert_eq!(boxes.map.len(), MAX_MAILBOXES);
        assert!(boxes.map.contains_key("s0") && boxes.map.contains_key("new"));
        assert!(!boxes.map.contains_key("s1"));
    }

    /// A stream whose client does not read is ended once it holds `LIVE_BYTES`; the events stay
    /// in the replay buffer for the next GET.
    #[test]
    fn a_stream_that_is_not_read_is_ended() {
        let e = Events::default();
        let mut rx = e.open("s", None, later()).unwrap();
        let big = format!(
            r#"{{"jsonrpc":"2.0","method":"notifications/message","params":{{"data":"{}"}}}}"#,
            "x".repeat(100_000)
        );
        for _ in 0..(LIVE_BYTES / 100_000) + 2 {
            e.dispatch(None, big.as_bytes());
        }
        e.dispatch(None, CHANGED);
        let got = drain(&mut rx);
        assert!(
            got.len() <= LIVE_BYTES / 100_000 + 1,
            "{} events",
            got.len()
        );
        assert!(rx.is_closed(), "the stream was not ended");
        let again = drain(&mut e.open("s", Some(0), later()).unwrap());
        assert!(again.last().unwrap().contains("list_changed"), "{again:?}");
    }
}
