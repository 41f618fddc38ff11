//! A per-connection sliding-window limiter for client events: at most `per_second` events in
//! any one-second span (a fixed window would let twice that through around its boundary).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub struct RateLimiter {
    per_second: u32,
    /// Times of the accepted events within the last second; allocated on first use, so
    /// sockets that never send client events pay nothing.
    recent: VecDeque<Instant>,
}

impl RateLimiter {
    pub fn new(per_second: u32) -> Self {
        RateLimiter { per_second, recent: VecDeque::new() }
    }

    /// Counts one event at `now`; false when `per_second` events were accepted in the last second.
    pub fn allow(&mut self, now: Instant) -> bool {
        while self.recent.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            self.recent.pop_front();
        }
        if self.recent.len() < self.per_second as usize {
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
        let mut l = RateLimiter::new(10);
        let start = Instant::now();
        for i in 0..10 {
            assert!(l.allow(start + Duration::from_millis(900 + i)), "event {i}");
        }
        // A fixed window starting at `start` would reset at 1000 ms and let ten more through.
        assert!(!l.allow(start + Duration::from_millis(1000)));
        assert!(!l.allow(start + Duration::from_millis(1899)));
        assert!(l.allow(start + Duration::from_millis(1900)));
    }
}
