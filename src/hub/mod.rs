//! The node-local hub: which connections are on this node and which channels they joined.
//!
//! **Architecture invariant:** the hub never blocks and never awaits. Every operation takes a
//! map shard lock for a bounded, non-async critical section (enqueueing is `try_send`), which
//! is why it uses `dashmap` and plain maps rather than async locks.
//!
//! **Architecture invariant:** the hub knows nothing about other nodes; the adapter does.

pub mod budget;
pub mod cache;
mod channels;
pub mod conn;
pub mod presence;
pub mod users;

use arc_swap::{ArcSwap, ArcSwapOption, Guard};
use dashmap::DashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::config::AppConfig;
use crate::metrics::AppMetrics;
use crate::protocol::close_code::{self, CloseCode};
use crate::protocol::socket_id::SocketId;
use budget::{Budget, BudgetKind};
use cache::Cache;
use channels::Channel;
pub use channels::{ChannelStats, PresenceView, SubscribeError, Subscribed, Unsubscribed};
use conn::ConnHandle;
use users::Users;

/// The hasher of the maps every publish and delivery looks up. Seeded at random per map, as
/// the standard library's SipHash is (channel names come from clients, so a fixed seed would
/// let them force collisions), and cheaper than SipHash on the short keys herald has.
type Hasher = foldhash::fast::RandomState;

/// Everything one app has on this node.
pub struct AppHub {
    /// The app's id, which a reload never changes (it is how a reload recognises the app).
    id: String,
    /// Swapped whole when a reload changes the app (`SIGHUP`); see [`AppHub::config`].
    config: ArcSwap<AppConfig>,
    channels: DashMap<Arc<str>, Channel, Hasher>,
    connections: DashMap<SocketId, ConnHandle, Hasher>,
    pub users: Users,
    pub cache: Cache,
    /// Events the HTTP API may still publish (`max_backend_events_per_second`); `None`
    /// when unlimited.
    pub backend_events: ArcSwapOption<Budget>,
    /// `GET` requests the HTTP API may still answer (`max_read_requests_per_second`); `None`
    /// when unlimited.
    pub read_requests: ArcSwapOption<Budget>,
    /// Set when a reload removed the app: its sockets are closed (4001) and none may join.
    retired: AtomicBool,
    /// True when a cluster adapter decides membership: the hub then leaves member and
    /// subscription-count announcements to the adapter.
    pub cluster_mode: bool,
    pub metrics: AppMetrics,
    /// Channels holding back a `subscription_count` (an upper bound), so the housekeeping
    /// tick walks the channels only when one is.
    counts_pending: AtomicUsize,
}

impl AppHub {
    pub fn new(config: AppConfig, cluster_mode: bool) -> Self {
        let cache = Cache::new(Duration::from_secs(config.cache_ttl));
        let id = config.id.clone();
        let metrics = AppMetrics::for_app(&id);
        let backend_events = ArcSwapOption::new(budget(config.max_backend_events_per_second));
        let read_requests = ArcSwapOption::new(budget(config.max_read_requests_per_second));
        AppHub {
            id,
            config: ArcSwap::from_pointee(config),
            channels: DashMap::with_hasher(Hasher::default()),
            connections: DashMap::with_hasher(Hasher::default()),
            users: Users::default(),
            cache,
            backend_events,
            read_requests,
            retired: AtomicBool::new(false),
            cluster_mode,
            metrics,
            counts_pending: AtomicUsize::new(0),
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// The app's settings as they are now. Cheap (no reference count is touched); read it
    /// where it is needed rather than keeping it, so a reload reaches every socket.
    pub fn config(&self) -> Guard<Arc<AppConfig>> {
        self.config.load()
    }

    /// Applies a reloaded configuration of this app (same id); false when nothing changed.
    /// Sockets and subscriptions stay; limits read per use take effect at once.
    pub fn update(&self, config: AppConfig) -> bool {
        let current = self.config.load_full();
        if *current == config {
            return false;
        }
        if current.max_backend_events_per_second != config.max_backend_events_per_second {
            self.backend_events.store(budget(config.max_backend_events_per_second));
        }
        if current.max_read_requests_per_second != config.max_read_requests_per_second {
            self.read_requests.store(budget(config.max_read_requests_per_second));
        }
        if current.cache_ttl != config.cache_ttl {
            self.cache.set_ttl(Duration::from_secs(config.cache_ttl));
        }
        self.config.store(Arc::new(config));
        true
    }

    /// Marks the app as removed by a reload; [`AppHub::refusal`] then turns every socket away.
    pub fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
    }

    /// The close code a socket of this app must get now, if the app may not hold sockets:
    /// removed (4001) or disabled (4003). Checked after a socket registers, so one admitted
    /// just before a reload cannot outlive the reload's sweep.
    pub fn refusal(&self) -> Option<CloseCode> {
        if self.retired.load(Ordering::SeqCst) {
            Some(close_code::APP_NOT_FOUND)
        } else if !self.config.load().enabled {
            Some(close_code::APP_DISABLED)
        } else {
            None
        }
    }

    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Registers a connection; false when the socket id is already taken on this node.
    pub fn add_connection(&self, conn: ConnHandle) -> bool {
        match self.connections.entry(conn.socket_id) {
            dashmap::mapref::entry::Entry::Occupied(_) => false,
            dashmap::mapref::entry::Entry::Vacant(v) => {
                v.insert(conn);
                self.metrics.connections.inc();
                self.metrics.connections_opened.inc();
                true
            }
        }
    }

    pub fn remove_connection(&self, socket_id: &SocketId) {
        if self.connections.remove(socket_id).is_some() {
            self.metrics.connections.dec();
        }
    }

    pub fn connection(&self, socket_id: &SocketId) -> Option<ConnHandle> {
        self.connections.get(socket_id).map(|c| c.clone())
    }

    /// The budget of `kind`, if the app limits it.
    pub fn budget(&self, kind: BudgetKind) -> Option<Arc<Budget>> {
        match kind {
            BudgetKind::BackendEvents => self.backend_events.load_full(),
            BudgetKind::ReadRequests => self.read_requests.load_full(),
        }
    }

    /// Every connection of this app on this node (for shutdown and reloads).
    pub fn connections(&self) -> Vec<ConnHandle> {
        self.connections.iter().map(|c| c.value().clone()).collect()
    }
}

/// A full budget of `per_second`, or none for 0 (unlimited).
fn budget(per_second: u32) -> Option<Arc<Budget>> {
    (per_second > 0).then(|| Arc::new(Budget::new(per_second, std::time::Instant::now())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ws::Frame;
    use presence::Member;
    use serde_json::Value;

    fn member(id: &str) -> Member {
        Member { key: id.into(), user_id: Value::String(id.into()), user_info: Value::Null }
    }

    fn hub(max_members: usize) -> AppHub {
        AppHub::new(AppConfig { max_presence_members: max_members, ..crate::config::Config::dev_app() }, false)
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_back_subscription_count_goes_out_on_the_tick_after_five_seconds() {
        let hub = AppHub::new(AppConfig { subscription_count: true, ..crate::config::Config::dev_app() }, false);
        let mut inboxes = Vec::new();
        for _ in 0..=channels::COUNT_IMMEDIATE_LIMIT + 1 {
            let (conn, inbox) = ConnHandle::new(SocketId::random(), 4096);
            hub.subscribe("big", &conn, None, PresenceView::Local).unwrap();
            inboxes.push((conn, inbox));
        }
        assert!(hub.flush_subscription_counts().is_empty(), "held back: the last count went out just now");
        tokio::time::advance(std::time::Duration::from_secs(5)).await;
        assert_eq!(hub.flush_subscription_counts(), vec![("big".to_string(), channels::COUNT_IMMEDIATE_LIMIT + 2)]);
        assert!(hub.flush_subscription_counts().is_empty(), "sent once");
        tokio::time::advance(std::time::Duration::from_secs(5)).await;
        assert!(hub.flush_subscription_counts().is_empty(), "nothing new to announce");
    }

    #[test]
    fn presence_limit_counts_users_not_sockets() {
        let hub = hub(1);
        let (a1, in1) = ConnHandle::new(SocketId::random(), 8);
        let (a2, _in2) = ConnHandle::new(SocketId::random(), 8);
        let (b, _inb) = ConnHandle::new(SocketId::random(), 8);
        let s = hub.subscribe("presence-x", &a1, Some(member("a")), PresenceView::Local).unwrap();
        assert!(s.occupied && s.member_added.is_some());
        let s = hub.subscribe("presence-x", &a2, Some(member("a")), PresenceView::Local).unwrap();
        assert!(!s.occupied && s.member_added.is_none());
        assert_eq!(hub.subscribe("presence-x", &b, Some(member("b")), PresenceView::Local).unwrap_err(), SubscribeError::PresenceFull { limit: 1 });
        assert!(in1.pop_text().unwrap().contains("subscription_succeeded"));
        assert!(in1.pop_text().is_none(), "a second socket of the same user is not announced");
        assert!(hub.unsubscribe("presence-x", &a1.socket_id).unwrap().member_removed.is_none());
        let u = hub.unsubscribe("presence-x", &a2.socket_id).unwrap();
        assert!(u.vacated && u.member_removed.is_some());
        assert!(hub.channels("").is_empty());
    }

    #[test]
    fn broadcast_skips_the_excluded_socket_and_a_full_queue_closes_the_connection() {
        let hub = hub(100);
        let (a, ina) = ConnHandle::new(SocketId::random(), 2);
        let (b, inb) = ConnHandle::new(SocketId::random(), 8);
        hub.subscribe("c", &a, None, PresenceView::Local).unwrap();
        hub.subscribe("c", &b, None, PresenceView::Local).unwrap();
        let frame = Frame::text("x");
        assert_eq!(hub.broadcast("c", &frame, Some(&b.socket_id)), 1);
        assert_eq!(hub.broadcast("c", &frame, None), 1, "a's queue of 2 is full");
        let (mut queued_a, mut queued_b) = (Default::default(), Default::default());
        assert!(ina.try_take(&mut queued_a) && inb.try_take(&mut queued_b));
        // a: subscription_succeeded and the first event, then full; b: subscription_succeeded
        // and the second event only (it was excepted from the first).
        assert_eq!((queued_a.len(), queued_b.len()), (2, 2));
        let code = futures_util::FutureExt::now_or_never(ina.closed()).expect("close requested");
        assert_eq!(code.code, 4100);
    }
}
