//! A queue of message chunks bounded in count and in bytes, whose sender never waits: what a
//! client that does not read can make the wrapper hold.
//!
//! Contract: [`Sender::send`] either queues the chunk at once or refuses it (`false`): when the
//! receiver is gone, when `max_messages` are queued, or when the chunk would take the queued
//! bytes over `max_bytes` (one chunk larger than `max_bytes` passes when nothing else is
//! queued). Bytes are released as the receiver takes chunks out.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use tokio::sync::mpsc;

/// The sending end. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Sender {
    tx: mpsc::Sender<Bytes>,
    queued: Arc<AtomicUsize>,
    max_bytes: usize,
}

/// The receiving end.
#[derive(Debug)]
pub struct Receiver {
    rx: mpsc::Receiver<Bytes>,
    queued: Arc<AtomicUsize>,
}

/// A queue of at most `max_messages` chunks and `max_bytes` bytes.
pub fn channel(max_messages: usize, max_bytes: usize) -> (Sender, Receiver) {
    let (tx, rx) = mpsc::channel(max_messages.max(1));
    let queued = Arc::new(AtomicUsize::new(0));
    let sender = Sender {
        tx,
        queued: queued.clone(),
        max_bytes,
    };
    (sender, Receiver { rx, queued })
}

impl Sender {
    /// Queues `chunk` without waiting; `false` when refused (see the module docs).
    pub fn send(&self, chunk: Bytes) -> bool {
        let len = chunk.len();
        let before = self.queued.fetch_add(len, Ordering::Relaxed);
        if (before > 0 && before + len > self.max_bytes) || self.tx.try_send(chunk).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Bytes queued and not yet taken out.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }
}

impl Receiver {
    /// The next chunk; `None` once every sender is gone and the queue is empty.
    pub async fn recv(&mut self) -> Option<Bytes> {
        let chunk = self.rx.recv().await?;
        self.queued.fetch_sub(chunk.len(), Ordering::Relaxed);
        Some(chunk)
    }

    /// Whether every sender is gone (what is queued can still be taken).
    pub fn is_closed(&self) -> bool {
        self.rx.is_closed()
    }

    /// The next chunk if one is queued.
    pub fn try_recv(&mut self) -> Option<Bytes> {
        let chunk = self.rx.try_recv().ok()?;
        self.queued.fetch_sub(chunk.len(), Ordering::Relaxed);
        Some(chunk)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_in_bytes_and_count_and_freed_as_read() {
        let (tx, mut rx) = channel(4, 1024);
        let kib = Bytes::from(vec![b'x'; 512]);
        assert!(tx.send(kib.clone()) && tx.send(kib.clone()));
        assert!(!tx.send(Bytes::from_static(b"{}")), "over the byte bound");
        assert_eq!(rx.recv().await.map(|b| b.len()), Some(512));
        assert!(tx.send(kib.clone()), "room again once one was read");
        while rx.try_recv().is_some() {}
        assert_eq!(tx.queued(), 0);
        // Count bound.
        for _ in 0..4 {
            assert!(tx.send(Bytes::from_static(b"x")));
        }
        assert!(!tx.send(Bytes::from_static(b"x")), "over the count bound");
        while rx.try_recv().is_some() {}
        // One chunk larger than the bound passes alone.
        assert!(tx.send(Bytes::from(vec![b'x'; 4096])));
        assert!(!tx.send(Bytes::from_static(b"x")));
        // A receiver that went away takes nothing.
        drop(rx);
        assert!(!tx.send(Bytes::from_static(b"x")) && tx.is_closed());
    }
}
