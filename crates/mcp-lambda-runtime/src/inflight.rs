//! Invocations in flight, so that a shutdown can let them finish first.
//!
//! Contract: [`InFlight::enter`] counts an invocation until its [`Guard`] is dropped;
//! [`InFlight::drained`] waits until none is left, or gives up at its deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// The count of invocations being served.
#[derive(Debug, Default)]
pub struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// One invocation being served; dropping it ends it.
#[derive(Debug)]
pub struct Guard(Arc<InFlight>);

impl InFlight {
    /// Counts one more invocation until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> Guard {
        self.count.fetch_add(1, Ordering::SeqCst);
        Guard(self.clone())
    }

    /// Invocations being served now.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits until no invocation is being served: `true`, or `false` if some still are after
    /// `within`.
    pub async fn drained(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            // Registered before the count is read, so a guard dropped in between still wakes us.
            idle.as_mut().enable();
            if self.count() == 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return self.count() == 0;
            }
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.count.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn drained_waits_for_the_last_guard() {
        let f = Arc::new(InFlight::default());
        assert!(f.drained(Duration::from_millis(1)).await);
        let (a, b) = (f.enter(), f.enter());
        assert_eq!(f.count(), 2);
        assert!(!f.drained(Duration::from_millis(20)).await);
        let waiter = tokio::spawn({
            let f = f.clone();
            async move { f.drained(Duration::from_secs(5)).await }
        });
        drop(a);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished(), "one guard is still held");
        drop(b);
        assert!(waiter.await.unwrap());
        assert_eq!(f.count(), 0);
    }
}
