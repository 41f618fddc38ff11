//! A TTL cache for expensive reads (profiles, leaderboards, insights), on moka.
//!
//! moka gives the concurrent map, the size bound, eviction, and per-key serialization of
//! get-or-set: concurrent [`TtlCache::get_or_set`] calls for one key run the factory once and
//! the others get its value. Each entry also carries its own deadline on tokio's clock, which
//! decides validity; that keeps TTL behaviour testable with paused time and lets
//! [`TtlCache::stats`] tell expired entries from valid ones before moka reclaims them.

use moka::future::Cache;
use moka::ops::compute::{CompResult, Op};
use moka::Expiry;
use serde::Serialize;
use std::future::Future;
use std::time::{Duration, Instant as StdInstant};
use tokio::time::Instant;

/// TTLs used by nexora's reads.
pub mod ttl {
    use std::time::Duration;
    pub const SHORT: Duration = Duration::from_secs(5 * 60);
    pub const MEDIUM: Duration = Duration::from_secs(30 * 60);
    pub const LONG: Duration = Duration::from_secs(60 * 60);
    pub const DAY: Duration = Duration::from_secs(24 * 60 * 60);
}

/// Cache key builders; every key nexora uses is spelled here.
pub mod keys {
    pub fn ai_insights(user_id: i64) -> String {
        format!("ai:insights:{user_id}")
    }
    pub const AI_TRENDING_CATEGORIES: &str = "ai:trending:categories";
    pub fn user_profile(user_id: i64) -> String {
        format!("user:profile:{user_id}")
    }
    pub fn guild_profile(guild_id: i64) -> String {
        format!("guild:profile:{guild_id}")
    }
    pub fn leaderboard(kind: &str) -> String {
        format!("leaderboard:{kind}")
    }
}

#[derive(Clone)]
struct Entry<V> {
    value: V,
    ttl: Duration,
    expires_at: Instant,
}

impl<V> Entry<V> {
    fn new(value: V, ttl: Duration) -> Self {
        Entry { value, ttl, expires_at: Instant::now() + ttl }
    }

    fn is_valid(&self) -> bool {
        Instant::now() < self.expires_at
    }
}

/// Lets moka reclaim each entry after its own TTL (on moka's clock).
struct PerEntryTtl;

impl<V> Expiry<String, Entry<V>> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry<V>, _: StdInstant) -> Option<Duration> {
        Some(entry.ttl)
    }

    fn expire_after_update(&self, _: &String, entry: &Entry<V>, _: StdInstant, _: Option<Duration>) -> Option<Duration> {
        Some(entry.ttl)
    }
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct CacheStats {
    pub total: u64,
    pub valid: u64,
    pub expired: u64,
}

/// A cheap-to-clone TTL cache from string keys to `V`.
#[derive(Clone)]
pub struct TtlCache<V: Clone + Send + Sync + 'static> {
    inner: Cache<String, Entry<V>>,
}

impl<V: Clone + Send + Sync + 'static> TtlCache<V> {
    pub fn new(max_entries: u64) -> Self {
        TtlCache { inner: Cache::builder().max_capacity(max_entries).expire_after(PerEntryTtl).build() }
    }

    pub async fn get(&self, key: &str) -> Option<V> {
        let entry = self.inner.get(key).await?;
        if entry.is_valid() {
            Some(entry.value)
        } else {
            self.inner.remove(key).await;
            None
        }
    }

    pub async fn set(&self, key: &str, value: V, ttl: Duration) {
        self.inner.insert(key.to_string(), Entry::new(value, ttl)).await;
    }

    pub async fn has(&self, key: &str) -> bool {
        self.get(key).await.is_some()
    }

    /// Removes a key; returns whether a valid value was there.
    pub async fn delete(&self, key: &str) -> bool {
        self.inner.remove(key).await.is_some_and(|e| e.is_valid())
    }

    pub async fn clear(&self) {
        self.inner.invalidate_all();
        self.inner.run_pending_tasks().await;
    }

    /// The cached value, or the factory's result stored for `ttl`. Calls for one key are
    /// serialized by moka, so concurrent callers of a missing key run the factory once; a
    /// factory error is returned and nothing is stored.
    pub async fn get_or_set<F, Fut, E>(&self, key: &str, ttl: Duration, factory: F) -> Result<V, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
        E: Send + Sync + 'static,
    {
        if let Some(value) = self.get(key).await {
            return Ok(value);
        }
        let result = self
            .inner
            .entry(key.to_string())
            .and_try_compute_with(|existing| async move {
                match existing {
                    Some(entry) if entry.value().is_valid() => Ok(Op::Nop),
                    _ => factory().await.map(|value| Op::Put(Entry::new(value, ttl))),
                }
            })
            .await?;
        match result {
            CompResult::Inserted(e) | CompResult::ReplacedWith(e) | CompResult::Unchanged(e) => Ok(e.into_value().value),
            CompResult::StillNone(_) | CompResult::Removed(_) => unreachable!("the closure only puts or keeps a value"),
        }
    }

    /// Counts entries by validity. moka reclaims expired entries lazily, so `expired` is what
    /// is still held but no longer served.
    pub async fn stats(&self) -> CacheStats {
        self.inner.run_pending_tasks().await;
        let (mut valid, mut expired) = (0, 0);
        for (_, entry) in self.inner.iter() {
            if entry.is_valid() {
                valid += 1;
            } else {
                expired += 1;
            }
        }
        CacheStats { total: valid + expired, valid, expired }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn set_get_has_delete_clear() {
        let cache: TtlCache<String> = TtlCache::new(100);
        assert_eq!(cache.get("a").await, None);
        cache.set("a", "1".into(), ttl::SHORT).await;
        cache.set("b", "2".into(), ttl::SHORT).await;
        assert_eq!(cache.get("a").await.as_deref(), Some("1"));
        assert!(cache.has("b").await);
        assert!(cache.delete("b").await);
        assert!(!cache.has("b").await);
        assert!(!cache.delete("b").await);
        cache.clear().await;
        assert!(!cache.has("a").await);
        assert_eq!(cache.stats().await, CacheStats { total: 0, valid: 0, expired: 0 });
    }

    #[tokio::test(start_paused = true)]
    async fn entries_expire_after_their_ttl_and_stats_count_them() {
        let cache: TtlCache<u32> = TtlCache::new(100);
        cache.set("short", 1, ttl::SHORT).await;
        cache.set("long", 2, ttl::LONG).await;
        assert_eq!(cache.stats().await, CacheStats { total: 2, valid: 2, expired: 0 });

        tokio::time::advance(ttl::SHORT - Duration::from_secs(1)).await;
        assert_eq!(cache.get("short").await, Some(1), "still valid one second before its TTL");

        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(cache.stats().await, CacheStats { total: 2, valid: 1, expired: 1 });
        assert_eq!(cache.get("short").await, None);
        assert_eq!(cache.get("long").await, Some(2));
        assert_eq!(cache.stats().await, CacheStats { total: 1, valid: 1, expired: 0 }, "reading an expired key drops it");

        tokio::time::advance(ttl::LONG).await;
        assert!(!cache.has("long").await);
    }

    #[tokio::test(start_paused = true)]
    async fn get_or_set_caches_until_expiry() {
        let cache: TtlCache<u32> = TtlCache::new(100);
        let calls = AtomicUsize::new(0);
        let factory = || async {
            Ok::<_, String>(calls.fetch_add(1, Ordering::SeqCst) as u32 + 10)
        };
        assert_eq!(cache.get_or_set("k", ttl::SHORT, factory).await, Ok(10));
        assert_eq!(cache.get_or_set("k", ttl::SHORT, factory).await, Ok(10));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        tokio::time::advance(ttl::SHORT).await;
        assert_eq!(cache.get_or_set("k", ttl::SHORT, factory).await, Ok(11), "an expired value is recomputed");
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn get_or_set_errors_are_not_cached() {
        let cache: TtlCache<u32> = TtlCache::new(100);
        let failed = cache.get_or_set("k", ttl::SHORT, || async { Err::<u32, _>("boom".to_string()) }).await;
        assert_eq!(failed, Err("boom".to_string()));
        assert!(!cache.has("k").await);
        assert_eq!(cache.get_or_set("k", ttl::SHORT, || async { Ok::<_, String>(7) }).await, Ok(7));
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_get_or_set_runs_the_factory_once() {
        let cache: TtlCache<u32> = TtlCache::new(100);
        let calls = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, calls) = (cache.clone(), calls.clone());
                tokio::spawn(async move {
                    cache
                        .get_or_set("slow", ttl::MEDIUM, || async move {
                            calls.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            Ok::<_, String>(42)
                        })
                        .await
                })
            })
            .collect();
        for task in tasks {
            assert_eq!(task.await.unwrap(), Ok(42));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn key_builders_and_ttls() {
        assert_eq!(keys::ai_insights(3), "ai:insights:3");
        assert_eq!(keys::AI_TRENDING_CATEGORIES, "ai:trending:categories");
        assert_eq!(keys::user_profile(4), "user:profile:4");
        assert_eq!(keys::guild_profile(5), "guild:profile:5");
        assert_eq!(keys::leaderboard("trust"), "leaderboard:trust");
        assert_eq!(ttl::SHORT.as_secs(), 300);
        assert_eq!(ttl::MEDIUM.as_secs(), 1800);
        assert_eq!(ttl::LONG.as_secs(), 3600);
        assert_eq!(ttl::DAY.as_secs(), 86400);
    }
}
