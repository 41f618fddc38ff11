//! An app's per-second budgets for the HTTP API: events it may publish
//! (`max_backend_events_per_second`) and read requests it may answer
//! (`max_read_requests_per_second`). Each is a token bucket shared by every worker of this
//! node that refills at the configured rate and holds at most one second's worth, so a caller
//! that was quiet may burst that much. In a cluster the adapter spends a shared one instead.

use std::sync::Mutex;
use std::time::Instant;

/// Which of an app's budgets a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetKind {
    /// Events published through the HTTP API, one per channel of a trigger.
    BackendEvents,
    /// `GET` requests of the HTTP API.
    ReadRequests,
}

impl BudgetKind {
    /// The name of its bucket where it is shared (the Redis key's last part).
    pub fn name(self) -> &'static str {
        match self {
            BudgetKind::BackendEvents => "events",
            BudgetKind::ReadRequests => "reads",
        }
    }
}

pub struct Budget {
    per_second: u32,
    bucket: Mutex<Bucket>,
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Budget {
    /// A full budget of `per_second` events (or requests).
    pub fn new(per_second: u32, now: Instant) -> Self {
        Budget { per_second, bucket: Mutex::new(Bucket { tokens: per_second as f64, at: now }) }
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
        let budget = Budget::new(10, start);
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
        let budget = Budget::new(5, start);
        assert!(!budget.take(6, start));
        assert!(budget.take(5, start));
    }
}
