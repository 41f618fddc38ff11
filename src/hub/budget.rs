//! An app's budget of events published through the HTTP API (`max_backend_events_per_second`),
//! shared by every worker of this node: a token bucket that refills at the configured rate and
//! holds at most one second's worth, so a publisher that was quiet may burst that much.

use std::sync::Mutex;
use std::time::Instant;

pub struct EventBudget {
    per_second: u32,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl EventBudget {
    /// A full budget of `per_second` events.
    pub fn new(per_second: u32, now: Instant) -> Self {
        EventBudget { per_second, bucket: Mutex::new(Bucket { tokens: per_second as f64, at: now }) }
    }

    pub fn per_second(&self) -> u32 {
        self.per_second
    }

    /// Takes `events` at `now`; false, taking nothing, when fewer are left. A request is
    /// published whole or not at all.
    pub fn take(&self, events: usize, now: Instant) -> bool {
        // Held for a few arithmetic operations; a poisoned lock only means a panic elsewhere
        // mid-update of two numbers, which are still usable.
        let mut bucket = self.bucket.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_second as f64;
        bucket.tokens = (bucket.tokens + refill).min(self.per_second as f64);
        bucket.at = bucket.at.max(now);
        if bucket.tokens >= events as f64 {
            bucket.tokens -= events as f64;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_second_s_worth_then_the_refill_rate() {
        let start = Instant::now();
        let budget = EventBudget::new(10, start);
        assert!(budget.take(6, start));
        assert!(budget.take(4, start));
        assert!(!budget.take(1, start), "the burst is one second's worth");
        assert!(!budget.take(2, start + Duration::from_millis(150)), "1.5 events refilled");
        assert!(budget.take(1, start + Duration::from_millis(150)));
        // A long quiet spell refills to one second's worth, not more.
        assert!(!budget.take(11, start + Duration::from_secs(60)));
        assert!(budget.take(10, start + Duration::from_secs(60)));
    }

    #[test]
    fn a_refused_request_takes_nothing() {
        let start = Instant::now();
        let budget = EventBudget::new(5, start);
        assert!(!budget.take(6, start));
        assert!(budget.take(5, start));
    }
}
