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

    /// Waits until no invocation is being served and none has started for `quiet` (an event
    /// handed out just before is counted only once its runner calls the service): `true`, or
    /// `false` if some still are after `within`.
    pub async fn drained(&self, within: Duration, quiet: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let idle = self.idle.notified();
            tokio::pin!(idle);
            // Registered before the count is read, so a guard dropped in between still wakes us.
            idle.as_mut().enable();
            if self.count() == 0 {
                let calm = (tokio::time::Instant::now() + quiet).min(deadline);
                tokio::time::sleep_until(calm).await;
                if self.count() == 0 || calm >= deadline {
                    return self.count() == 0;
                }
                continue;
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
        let quiet = Duration::from_millis(5);
        let f = Arc::new(InFlight::default());
        assert!(f.drained(Duration::from_millis(50), quiet).await);
        let (a, b) = (f.enter(), f.enter());
        assert_eq!(f.count(), 2);
        assert!(!f.drained(Duration::from_millis(20), quiet).await);
        let waiter = tokio::spawn({
            let f = f.clone();
            async move { f.drained(Duration::from_secs(5), quiet).await }
        });
        drop(a);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!waiter.is_finished(), "one guard is still held");
        drop(b);
        assert!(waiter.await.unwrap());
        assert_eq!(f.count(), 0);
    }

    #[tokio::test]
    async fn an_invocation_starting_in_the_quiet_time_is_waited_for() {
        let f = Arc::new(InFlight::default());
        let waiter = tokio::spawn({
            let f = f.clone();
            async move {
                f.drained(Duration::from_secs(5), Duration::from_millis(50))
                    .await
            }
        });
        tokio::time::sleep(Duration::from_millis(10)).await;
        let late = f.enter();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(
            !waiter.is_finished(),
            "the late invocation is still in flight"
        );
        drop(late);
        assert!(waiter.await.unwrap());
    }
}
