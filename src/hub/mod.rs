//! The node-local hub: which connections are on this node and which channels they joined.
//!
//! **Architecture invariant:** the hub never blocks and never awaits. Every operation takes a
//! map shard lock for a bounded, non-async critical section (enqueueing is `try_send`), which
//! is why it uses `dashmap` and plain maps rather than async locks.
//!
//! **Architecture invariant:** the hub knows nothing about other nodes; the adapter does.

pub mod conn;
pub mod presence;

use bytestring::ByteString;
use dashmap::DashMap;
use std::collections::HashMap;
use std::sync::Arc;

use crate::config::AppConfig;
use crate::protocol::outbound;
use crate::protocol::socket_id::SocketId;
use conn::ConnHandle;
use presence::{Member, Roster};

/// Everything one app has on this node.
pub struct AppHub {
    pub config: Arc<AppConfig>,
    channels: DashMap<Arc<str>, Channel>,
    connections: DashMap<SocketId, ConnHandle>,
}

#[derive(Default)]
struct Channel {
    subscribers: HashMap<SocketId, Subscriber>,
    /// Present only on presence channels.
    roster: Option<Roster>,
}

struct Subscriber {
    conn: ConnHandle,
    /// The roster key of this socket's member, on presence channels.
    member: Option<String>,
}

/// What a subscription changed, for the caller's webhooks and replies.
#[derive(Debug, Default)]
pub struct Subscribed {
    /// The channel had no subscriber on this node before.
    pub occupied: bool,
    /// A presence member that was not in the channel before.
    pub member_added: Option<Member>,
    pub subscription_count: usize,
}

/// What an unsubscription changed.
#[derive(Debug, Default)]
pub struct Unsubscribed {
    pub vacated: bool,
    pub member_removed: Option<Member>,
    pub subscription_count: usize,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SubscribeError {
    PresenceFull { limit: usize },
}

/// A snapshot of one channel for the HTTP API.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChannelStats {
    pub subscription_count: usize,
    pub user_count: Option<usize>,
}

impl AppHub {
    pub fn new(config: AppConfig) -> Self {
        AppHub { config: Arc::new(config), channels: DashMap::new(), connections: DashMap::new() }
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
                true
            }
        }
    }

    pub fn remove_connection(&self, socket_id: &SocketId) {
        self.connections.remove(socket_id);
    }

    pub fn connection(&self, socket_id: &SocketId) -> Option<ConnHandle> {
        self.connections.get(socket_id).map(|c| c.clone())
    }

    /// Every connection of this app on this node (for shutdown and termination).
    pub fn connections(&self) -> Vec<ConnHandle> {
        self.connections.iter().map(|c| c.value().clone()).collect()
    }

    /// Adds `conn` to `channel` and sends it `subscription_succeeded` (and the roster on
    /// presence channels). On presence channels a new member is announced to the others.
    /// Both happen under the channel lock, so no event published afterwards can overtake them.
    /// Subscribing twice is idempotent: the confirmation is sent again.
    pub fn subscribe(&self, channel: &str, conn: &ConnHandle, member: Option<Member>) -> Result<Subscribed, SubscribeError> {
        let mut entry = self.channels.entry(Arc::from(channel)).or_insert_with(|| Channel {
            subscribers: HashMap::new(),
            roster: member.as_ref().map(|_| Roster::default()),
        });
        let ch = entry.value_mut();
        let mut out = Subscribed { occupied: ch.subscribers.is_empty(), ..Default::default() };
        let already = ch.subscribers.contains_key(&conn.socket_id);

        match (member, ch.roster.as_mut()) {
            (Some(member), Some(roster)) if !already => {
                if !roster.contains(&member.key) && roster.len() >= self.config.max_presence_members {
                    let limit = self.config.max_presence_members;
                    if ch.subscribers.is_empty() {
                        drop(entry);
                        self.channels.remove_if(channel, |_, c| c.subscribers.is_empty());
                    }
                    return Err(SubscribeError::PresenceFull { limit });
                }
                let key = member.key.clone();
                if roster.join(member.clone()) {
                    let frame = outbound::member_added(channel, &member.user_id, &member.user_info);
                    for sub in ch.subscribers.values() {
                        sub.conn.send(frame.clone());
                    }
                    out.member_added = Some(member);
                }
                ch.subscribers.insert(conn.socket_id, Subscriber { conn: conn.clone(), member: Some(key) });
                conn.send(outbound::subscription_succeeded(channel, &roster.subscription_data()));
            }
            (_, Some(roster)) => {
                conn.send(outbound::subscription_succeeded(channel, &roster.subscription_data()));
            }
            (_, None) => {
                ch.subscribers.entry(conn.socket_id).or_insert_with(|| Subscriber { conn: conn.clone(), member: None });
                conn.send(outbound::subscription_succeeded_empty(channel));
            }
        }
        out.subscription_count = ch.subscribers.len();
        Ok(out)
    }

    /// Removes `socket_id` from `channel`; announces a departed presence member to the rest.
    pub fn unsubscribe(&self, channel: &str, socket_id: &SocketId) -> Option<Unsubscribed> {
        let mut entry = self.channels.get_mut(channel)?;
        let ch = entry.value_mut();
        let sub = ch.subscribers.remove(socket_id)?;
        let mut out = Unsubscribed { subscription_count: ch.subscribers.len(), ..Default::default() };
        if let (Some(key), Some(roster)) = (sub.member, ch.roster.as_mut()) {
            if let Some(member) = roster.leave(&key) {
                let frame = outbound::member_removed(channel, &member.user_id);
                for other in ch.subscribers.values() {
                    other.conn.send(frame.clone());
                }
                out.member_removed = Some(member);
            }
        }
        if ch.subscribers.is_empty() {
            out.vacated = true;
            drop(entry);
            self.channels.remove_if(channel, |_, c| c.subscribers.is_empty());
        }
        Some(out)
    }

    /// Enqueues `frame` to every subscriber of `channel` on this node except `except`.
    /// Returns how many connections it was queued for.
    pub fn broadcast(&self, channel: &str, frame: &ByteString, except: Option<&SocketId>) -> usize {
        let Some(ch) = self.channels.get(channel) else { return 0 };
        let mut sent = 0;
        for (id, sub) in &ch.subscribers {
            if Some(id) != except && sub.conn.send(frame.clone()) {
                sent += 1;
            }
        }
        sent
    }

    /// True when `socket_id` is subscribed to `channel`; on presence channels also returns
    /// the socket's member id (for the `user_id` of relayed client events).
    pub fn subscription(&self, channel: &str, socket_id: &SocketId) -> Option<Option<String>> {
        let ch = self.channels.get(channel)?;
        ch.subscribers.get(socket_id).map(|s| s.member.clone())
    }

    pub fn channel_stats(&self, channel: &str) -> Option<ChannelStats> {
        let ch = self.channels.get(channel)?;
        Some(ChannelStats { subscription_count: ch.subscribers.len(), user_count: ch.roster.as_ref().map(Roster::len) })
    }

    /// All occupied channels whose name starts with `prefix`.
    pub fn channels(&self, prefix: &str) -> Vec<(String, ChannelStats)> {
        self.channels
            .iter()
            .filter(|e| e.key().starts_with(prefix) && !e.value().subscribers.is_empty())
            .map(|e| {
                let ch = e.value();
                (
                    e.key().to_string(),
                    ChannelStats { subscription_count: ch.subscribers.len(), user_count: ch.roster.as_ref().map(Roster::len) },
                )
            })
            .collect()
    }

    /// The user ids of a presence channel's members.
    pub fn presence_users(&self, channel: &str) -> Vec<String> {
        match self.channels.get(channel) {
            Some(ch) => ch.roster.as_ref().map(|r| r.user_ids().map(str::to_owned).collect()).unwrap_or_default(),
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn member(id: &str) -> Member {
        Member { key: id.into(), user_id: Value::String(id.into()), user_info: Value::Null }
    }

    fn hub(max_members: usize) -> AppHub {
        AppHub::new(AppConfig { max_presence_members: max_members, ..crate::config::Config::dev_app() })
    }

    #[test]
    fn presence_limit_counts_users_not_sockets() {
        let hub = hub(1);
        let (a1, mut in1) = ConnHandle::new(SocketId::random(), 8);
        let (a2, _in2) = ConnHandle::new(SocketId::random(), 8);
        let (b, _inb) = ConnHandle::new(SocketId::random(), 8);
        let s = hub.subscribe("presence-x", &a1, Some(member("a"))).unwrap();
        assert!(s.occupied && s.member_added.is_some());
        let s = hub.subscribe("presence-x", &a2, Some(member("a"))).unwrap();
        assert!(!s.occupied && s.member_added.is_none());
        assert_eq!(hub.subscribe("presence-x", &b, Some(member("b"))).unwrap_err(), SubscribeError::PresenceFull { limit: 1 });
        assert!(in1.frames.try_recv().unwrap().contains("subscription_succeeded"));
        assert!(in1.frames.try_recv().is_err(), "a second socket of the same user is not announced");
        assert!(hub.unsubscribe("presence-x", &a1.socket_id).unwrap().member_removed.is_none());
        let u = hub.unsubscribe("presence-x", &a2.socket_id).unwrap();
        assert!(u.vacated && u.member_removed.is_some());
        assert!(hub.channels("").is_empty());
    }

    #[test]
    fn broadcast_skips_the_excluded_socket_and_a_full_queue_closes_the_connection() {
        let hub = hub(100);
        let (a, mut ina) = ConnHandle::new(SocketId::random(), 2);
        let (b, mut inb) = ConnHandle::new(SocketId::random(), 8);
        hub.subscribe("c", &a, None).unwrap();
        hub.subscribe("c", &b, None).unwrap();
        let frame: ByteString = "x".into();
        assert_eq!(hub.broadcast("c", &frame, Some(&b.socket_id)), 1);
        assert_eq!(hub.broadcast("c", &frame, None), 1, "a's queue of 2 is full");
        let _ = (ina.frames.try_recv(), inb.frames.try_recv());
        let code = futures_util::FutureExt::now_or_never(ina.control.closed()).expect("close requested");
        assert_eq!(code.code, 4100);
    }
}
