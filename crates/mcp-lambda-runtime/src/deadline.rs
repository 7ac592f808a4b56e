//! The time a request may take inside an invocation.
//!
//! Contract: [`request_deadline`] turns the invocation's deadline (milliseconds since the epoch,
//! from `Lambda-Runtime-Deadline-Ms`) into an `Instant` `margin` earlier, so the client gets a
//! JSON-RPC timeout error before Lambda kills the invocation. Absurd deadlines (in the past, or
//! more than 15 minutes away, as when an emulator sends a relative value) are ignored (`None`):
//! the configured request timeout then applies alone.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::time::Instant;

/// Lambda's longest timeout, plus slack.
const MAX_REMAINING: Duration = Duration::from_secs(15 * 60 + 5);

/// The deadline for work in this invocation, or `None` if `deadline_ms` is not believable.
pub fn request_deadline(deadline_ms: u64, margin: Duration, now: SystemTime) -> Option<Instant> {
    let now_ms = now.duration_since(UNIX_EPOCH).ok()?.as_millis() as u64;
    if deadline_ms <= now_ms {
        return None;
    }
    let remaining = Duration::from_millis(deadline_ms - now_ms);
    if remaining > MAX_REMAINING {
        return None;
    }
    Some(Instant::now() + remaining.saturating_sub(margin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(ms)
    }

    #[test]
    fn remaining_time_minus_margin() {
        let now = 1_700_000_000_000;
        let before = Instant::now();
        let d = request_deadline(now + 3_000, Duration::from_millis(500), at(now)).unwrap();
        let left = d - before;
        assert!(
            left >= Duration::from_millis(2_450) && left < Duration::from_millis(2_600),
            "{left:?}"
        );
    }

    #[test]
    fn margin_larger_than_remaining_means_now() {
        let now = 1_700_000_000_000;
        let d = request_deadline(now + 100, Duration::from_millis(500), at(now)).unwrap();
        assert!(d <= Instant::now());
    }

    #[test]
    fn absurd_deadlines_are_ignored() {
        let now = 1_700_000_000_000;
        // The emulator's relative 600000 lands in 1970.
        assert!(request_deadline(600_000, Duration::ZERO, at(now)).is_none());
        assert!(request_deadline(now - 1, Duration::ZERO, at(now)).is_none());
        assert!(request_deadline(now + 3_600_000, Duration::ZERO, at(now)).is_none());
    }
}
