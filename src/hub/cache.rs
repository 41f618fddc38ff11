//! The last event of each cache channel, kept for new subscribers for a bounded time.

use crate::protocol::ws::Frame;
use dashmap::{DashMap, DashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
// tokio's clock, so tests can pause and advance time instead of sleeping.
use tokio::time::Instant;

struct Cached {
    /// The event's `data` string, for the HTTP API's `info=cache`.
    data: String,
    /// The frame exactly as subscribers received it, replayed verbatim.
    frame: Frame,
    stored: Instant,
}

pub struct Cache {
    /// Milliseconds; an atomic so a configuration reload can change it in place.
    ttl_ms: AtomicU64,
    entries: DashMap<String, Cached>,
    /// Channels whose emptiness was already reported (`cache_miss` webhook de-duplication).
    miss_reported: DashSet<String>,
}

impl Cache {
    pub fn new(ttl: Duration) -> Self {
        Cache { ttl_ms: AtomicU64::new(ttl.as_millis() as u64), entries: DashMap::new(), miss_reported: DashSet::new() }
    }

    fn ttl(&self) -> Duration {
        Duration::from_millis(self.ttl_ms.load(Ordering::Relaxed))
    }

    /// Applies a reloaded `cache_ttl`; entries already stored expire by the new one.
    pub fn set_ttl(&self, ttl: Duration) {
        self.ttl_ms.store(ttl.as_millis() as u64, Ordering::Relaxed);
    }

    pub fn store(&self, channel: &str, data: &str, frame: Frame) {
        self.entries.insert(channel.to_string(), Cached { data: data.to_string(), frame, stored: Instant::now() });
        self.miss_reported.remove(channel);
    }

    /// The cached frame if it has not expired.
    pub fn frame(&self, channel: &str) -> Option<Frame> {
        let entry = self.entries.get(channel)?;
        (entry.stored.elapsed() < self.ttl()).then(|| entry.frame.clone())
    }

    /// `(data, remaining ttl in seconds)` for the HTTP API.
    pub fn info(&self, channel: &str) -> Option<(String, u64)> {
        let entry = self.entries.get(channel)?;
        let (age, ttl) = (entry.stored.elapsed(), self.ttl());
        (age < ttl).then(|| (entry.data.clone(), (ttl - age).as_secs_f64().ceil() as u64))
    }

    /// True the first time a miss is seen on `channel` since it was last filled.
    pub fn first_miss(&self, channel: &str) -> bool {
        self.miss_reported.insert(channel.to_string())
    }

    /// Drops expired entries (called periodically so memory stays bounded).
    pub fn sweep(&self) {
        let ttl = self.ttl();
        self.entries.retain(|_, c| c.stored.elapsed() < ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn stores_expires_and_reports_a_miss_once() {
        let cache = Cache::new(Duration::from_millis(50));
        assert!(cache.frame("cache-a").is_none());
        assert!(cache.first_miss("cache-a"));
        assert!(!cache.first_miss("cache-a"));
        cache.store("cache-a", "d", Frame::text("frame"));
        assert_eq!(cache.frame("cache-a").map(|f| f.text_payload().to_string()).as_deref(), Some("frame"));
        assert_eq!(cache.info("cache-a").map(|i| i.0), Some("d".to_string()));
        assert!(cache.first_miss("cache-a"), "a store resets the miss de-duplication");
        tokio::time::advance(Duration::from_millis(60)).await;
        assert!(cache.frame("cache-a").is_none());
        cache.sweep();
        assert!(cache.entries.is_empty());
    }
}
