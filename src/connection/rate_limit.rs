//! A per-connection sliding-window limiter for client events: at most `per_second` events in
//! any one-second span (a fixed window would let twice that through around its boundary).
//! The limit is passed on each call, so a reloaded `max_client_events_per_second` reaches
//! sockets already open.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct RateLimiter {
    /// Times of the accepted events within the last second; allocated on first use, so
    /// sockets that never send client events pay nothing.
    recent: VecDeque<Instant>,
}

impl RateLimiter {
    /// Counts one event at `now`; false when `per_second` events were accepted in the last second.
    pub fn allow(&mut self, now: Instant, per_second: u32) -> bool {
        while self.recent.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            self.recent.pop_front();
        }
        if self.recent.len() < per_second as usize {
            self.recent.push_back(now);
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_in_any_second() {
        let mut l = RateLimiter::default();
        let start = Instant::now();
        for i in 0..10 {
            assert!(l.allow(start + Duration::from_millis(900 + i), 10), "event {i}");
        }
        // A fixed window starting at `start` would reset at 1000 ms and let ten more through.
        assert!(!l.allow(start + Duration::from_millis(1000), 10));
        assert!(!l.allow(start + Duration::from_millis(1899), 10));
        assert!(l.allow(start + Duration::from_millis(1900), 10));
    }

    #[test]
    fn a_lowered_limit_applies_to_what_was_already_counted() {
        let mut l = RateLimiter::default();
        let start = Instant::now();
        for i in 0..5 {
            assert!(l.allow(start + Duration::from_millis(i), 10));
        }
        assert!(!l.allow(start + Duration::from_millis(10), 5), "five in this second already");
        assert!(l.allow(start + Duration::from_millis(10), 6));
    }
}
