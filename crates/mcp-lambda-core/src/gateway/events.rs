//! The GET stream of a (legacy) session: server messages that belong to no request — list
//! changes, resource updates, log messages no request took — with event ids and `Last-Event-ID`
//! resumption.
//!
//! Contract:
//! - A session that opened a GET stream, or subscribed to a resource, has a mailbox here. Every
//!   message for it gets the next event id of the session (`1`, `2`, …) and is kept in a bounded
//!   replay buffer (256 events), whether or not a stream is connected.
//! - A message belongs to the child that sent it: a child serving one session (`per-session`,
//!   `per-request`) reaches that session's mailbox only; a child shared by every session
//!   (`reuse`) reaches every mailbox. Within those, `notifications/resources/updated` goes only
//!   to the sessions that subscribed to its `uri` (`resources/subscribe`, until
//!   `resources/unsubscribe`).
//! - A new GET stream replaces the session's previous one (each message goes out on one stream)
//!   and first replays the buffered events after `Last-Event-ID`.
//! - A session that ends (DELETE) loses its mailbox.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Mutex;

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::mpsc;

/// Events kept per session for resumption.
pub(crate) const REPLAY: usize = 256;

#[derive(Default)]
struct Mailbox {
    live: Option<mpsc::Sender<Bytes>>,
    buffer: VecDeque<(u64, Bytes)>,
    next: u64,
    subscriptions: HashSet<String>,
}

impl Mailbox {
    fn post(&mut self, message: &[u8]) {
        self.next += 1;
        let mut event = format!("id: {}\nevent: message\ndata: ", self.next).into_bytes();
        // CR and LF end SSE lines; in JSON they are only whitespace between tokens.
        event.extend(message.iter().map(|b| match b {
            b'\n' | b'\r' => b' ',
            b => *b,
        }));
        event.extend_from_slice(b"\n\n");
        let event = Bytes::from(event);
        if self.buffer.len() == REPLAY {
            self.buffer.pop_front();
        }
        self.buffer.push_back((self.next, event.clone()));
        if let Some(tx) = &self.live
            && tx.try_send(event).is_err()
        {
            // Gone or not reading: the buffer keeps the event for the next GET.
            self.live = None;
        }
    }
}

/// Every session's mailbox.
#[derive(Default)]
pub(crate) struct Events {
    boxes: Mutex<HashMap<String, Mailbox>>,
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
        let Ok(mut boxes) = self.boxes.lock() else {
            return;
        };
        let boxes = boxes
            .iter_mut()
            .filter(|(id, _)| session.is_none_or(|s| s == id.as_str()))
            .map(|(_, mailbox)| mailbox);
        for mailbox in boxes {
            if uri
                .as_ref()
                .is_none_or(|u| mailbox.subscriptions.contains(u))
            {
                mailbox.post(message);
            }
        }
    }

    /// Opens the session's GET stream: the buffered events after `last_event_id`, then live.
    pub(crate) fn open(&self, session: &str, last_event_id: Option<u64>) -> mpsc::Receiver<Bytes> {
        let (tx, rx) = mpsc::channel(REPLAY + 64);
        if let Ok(mut boxes) = self.boxes.lock() {
            let mailbox = boxes.entry(session.to_owned()).or_default();
            for (id, event) in &mailbox.buffer {
                if last_event_id.is_none_or(|last| *id > last) {
                    let _ = tx.try_send(event.clone());
                }
            }
            mailbox.live = Some(tx);
        }
        rx
    }

    /// Records a session's `resources/subscribe` (`true`) or `resources/unsubscribe`.
    pub(crate) fn subscribe(&self, session: &str, uri: &str, on: bool) {
        if let Ok(mut boxes) = self.boxes.lock() {
            let mailbox = boxes.entry(session.to_owned()).or_default();
            if on {
                mailbox.subscriptions.insert(uri.to_owned());
            } else {
                mailbox.subscriptions.remove(uri);
            }
        }
    }

    /// Forgets a session.
    pub(crate) fn end(&self, session: &str) {
        if let Ok(mut boxes) = self.boxes.lock() {
            boxes.remove(session);
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

    fn drain(rx: &mut mpsc::Receiver<Bytes>) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(e) = rx.try_recv() {
            out.push(String::from_utf8(e.to_vec()).unwrap());
        }
        out
    }

    #[test]
    fn events_carry_ids_and_replay_after_last_event_id() {
        let e = Events::default();
        let mut rx = e.open("s1", None);
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
        let mut rx = e.open("s1", Some(1));
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
        let mut a = e.open("a", None);
        let mut b = e.open("b", None);
        e.subscribe("a", "test://x", true);
        e.dispatch(None, &updated("test://x"));
        assert_eq!(drain(&mut a).len(), 1);
        assert!(drain(&mut b).is_empty());
        e.subscribe("a", "test://x", false);
        e.dispatch(None, &updated("test://x"));
        assert!(drain(&mut a).is_empty());
    }

    #[test]
    fn a_sessions_own_child_reaches_that_session_only() {
        let e = Events::default();
        let mut a = e.open("a", None);
        let mut b = e.open("b", None);
        e.dispatch(Some("a"), CHANGED);
        assert_eq!(drain(&mut a).len(), 1);
        assert!(drain(&mut b).is_empty(), "b's stream saw a's child");
        e.dispatch(None, CHANGED);
        assert_eq!((drain(&mut a).len(), drain(&mut b).len()), (1, 1));
    }

    #[test]
    fn the_replay_buffer_is_bounded() {
        let e = Events::default();
        drop(e.open("s", None));
        for _ in 0..REPLAY + 10 {
            e.dispatch(None, CHANGED);
        }
        let mut rx = e.open("s", Some(0));
        let got = drain(&mut rx);
        assert_eq!(got.len(), REPLAY);
        assert!(got[0].starts_with("id: 11\n"), "{}", got[0]);
    }
}
