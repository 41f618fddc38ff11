//! A per-connection fixed-window limiter for client events.

use std::time::{Duration, Instant};

pub struct RateLimiter {
    per_second: u32,
    window_start: Instant,
    used: u32,
}

impl RateLimiter {
    pub fn new(per_second: u32) -> Self {
        RateLimiter { per_second, window_start: Instant::now(), used: 0 }
    }

    /// Counts one event at `now`; false when the current one-second window is exhausted.
    pub fn allow(&mut self, now: Instant) -> bool {
        if now.duration_since(self.window_start) >= Duration::from_secs(1) {
            self.window_start = now;
            self.used = 0;
        }
        if self.used < self.per_second {
            self.used += 1;
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
    fn ten_per_second_then_refuse_until_the_window_moves() {
        let mut l = RateLimiter::new(10);
        let start = Instant::now();
        for _ in 0..10 {
            assert!(l.allow(start));
        }
        assert!(!l.allow(start + Duration::from_millis(999)));
        assert!(l.allow(start + Duration::from_millis(1000)));
    }
}
