//! Channel membership on this node: subscribe, unsubscribe, fan-out and counts.

use crate::protocol::ws::Frame;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::time::{Duration, Instant};

use super::conn::ConnHandle;
use super::presence::{Member, Roster};
use super::AppHub;
use crate::protocol::channel::ChannelType;
use crate::protocol::outbound;
use crate::protocol::socket_id::SocketId;

/// Above this many subscribers, `subscription_count` events are sent at most every
/// [`COUNT_INTERVAL`] (the documented Pusher behaviour).
pub(super) const COUNT_IMMEDIATE_LIMIT: usize = 100;
const COUNT_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Default)]
pub(super) struct Channel {
    subscribers: HashMap<SocketId, Subscriber>,
    /// Present only on presence channels.
    roster: Option<Roster>,
    /// When the last `subscription_count` event went out, and whether a newer count waits.
    count_sent: Option<Instant>,
    count_pending: bool,
}

struct Subscriber {
    conn: ConnHandle,
    /// The roster key of this socket's member, on presence channels.
    member: Option<String>,
}

/// What a subscription changed, for the caller's webhooks.
#[derive(Debug, Default)]
pub struct Subscribed {
    /// The channel had no subscriber on this node before.
    pub occupied: bool,
    /// A presence member that was not in the channel before.
    pub member_added: Option<Member>,
    /// The cache channel had nothing to replay (`pusher:cache_miss` was sent).
    pub cache_miss: bool,
    /// A `subscription_count` event was sent with this count.
    pub count_sent: Option<usize>,
}

/// What an unsubscription changed.
#[derive(Debug, Default)]
pub struct Unsubscribed {
    pub vacated: bool,
    pub member_removed: Option<Member>,
    pub count_sent: Option<usize>,
}

/// Who decides presence membership for a subscription.
pub enum PresenceView {
    /// This node's roster is the whole truth: it enforces the member limit and announces
    /// `member_added`/`member_removed` and subscription counts to local subscribers.
    Local,
    /// The cluster decided (the limit was checked and members are announced by the adapter);
    /// `data` is the cluster-wide `subscription_succeeded` payload for presence channels.
    Cluster { data: Option<serde_json::Value> },
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

impl Channel {
    fn stats(&self) -> ChannelStats {
        ChannelStats { subscription_count: self.subscribers.len(), user_count: self.roster.as_ref().map(Roster::len) }
    }

    /// Enqueues `frame` to every subscriber but `except`: `(attempted, queued)`.
    fn send_all(&self, frame: &Frame, except: Option<&SocketId>) -> (usize, usize) {
        let (mut attempted, mut sent) = (0, 0);
        for (id, sub) in &self.subscribers {
            if Some(id) != except {
                attempted += 1;
                if sub.conn.send(frame.clone()) {
                    sent += 1;
                }
            }
        }
        (attempted, sent)
    }

    /// Sends `subscription_count` now, or leaves it pending when the channel is large and
    /// one went out less than five seconds ago. Returns the count sent.
    fn announce_count(&mut self, channel: &str, now: Instant) -> Option<usize> {
        let count = self.subscribers.len();
        let recently = self.count_sent.is_some_and(|t| now.duration_since(t) < COUNT_INTERVAL);
        if count > COUNT_IMMEDIATE_LIMIT && recently {
            self.count_pending = true;
            return None;
        }
        self.count_pending = false;
        self.count_sent = Some(now);
        if count > 0 {
            let data = serde_json::json!({ "subscription_count": count });
            self.send_all(&outbound::event_json("pusher_internal:subscription_count", Some(channel), &data), None);
        }
        Some(count)
    }
}

impl AppHub {
    fn counts_enabled(&self, kind: &ChannelType) -> bool {
        self.config().subscription_count && !kind.is_presence() && !self.cluster_mode
    }

    /// Adds `conn` to `channel` and sends it `subscription_succeeded` (with the roster on
    /// presence channels), then the cached event or `pusher:cache_miss` on cache channels.
    /// All of it happens under the channel lock, so nothing published afterwards can overtake
    /// it, and a new presence member is announced to the others in the same step.
    /// Subscribing twice is idempotent: the confirmation is sent again.
    pub fn subscribe(&self, channel: &str, conn: &ConnHandle, member: Option<Member>, view: PresenceView) -> Result<Subscribed, SubscribeError> {
        let cluster_data = match view {
            PresenceView::Local => None,
            PresenceView::Cluster { data } => Some(data),
        };
        let kind = ChannelType::of(channel);
        let mut entry = self.channels.entry(Arc::from(channel)).or_insert_with(|| Channel {
            roster: kind.is_presence().then(Roster::default),
            ..Channel::default()
        });
        let ch = entry.value_mut();
        let mut out = Subscribed { occupied: ch.subscribers.is_empty(), ..Default::default() };
        let already = ch.subscribers.contains_key(&conn.socket_id);

        match (member, ch.roster.as_mut()) {
            (Some(member), Some(roster)) if !already => {
                if cluster_data.is_none() && !roster.contains(&member.key) && roster.len() >= self.config().max_presence_members {
                    let limit = self.config().max_presence_members;
                    let empty = ch.subscribers.is_empty();
                    drop(entry);
                    if empty {
                        self.channels.remove_if(channel, |_, c| c.subscribers.is_empty());
                    }
                    return Err(SubscribeError::PresenceFull { limit });
                }
                let key = member.key.clone();
                if roster.join(member.clone()) {
                    if cluster_data.is_none() {
                        let frame = outbound::member_added(channel, &member.user_id, &member.user_info);
                        for sub in ch.subscribers.values() {
                            sub.conn.send(frame.clone());
                        }
                    }
                    out.member_added = Some(member);
                }
                match cluster_data.as_ref().and_then(|d| d.as_ref()) {
                    Some(data) => conn.send(outbound::subscription_succeeded(channel, data)),
                    None => conn.send(outbound::subscription_succeeded(channel, &roster.subscription_data())),
                };
                ch.subscribers.insert(conn.socket_id, Subscriber { conn: conn.clone(), member: Some(key) });
            }
            (_, Some(roster)) => match cluster_data.as_ref().and_then(|d| d.as_ref()) {
                Some(data) => {
                    conn.send(outbound::subscription_succeeded(channel, data));
                }
                None => {
                    conn.send(outbound::subscription_succeeded(channel, &roster.subscription_data()));
                }
            },
            (_, None) => {
                conn.send(outbound::subscription_succeeded_empty(channel));
                ch.subscribers.entry(conn.socket_id).or_insert_with(|| Subscriber { conn: conn.clone(), member: None });
            }
        }
        if kind.cache {
            match self.cache.frame(channel) {
                Some(frame) => {
                    conn.send(frame);
                }
                None => {
                    conn.send(outbound::event("pusher:cache_miss", Some(channel), "{}", None));
                    out.cache_miss = self.cache.first_miss(channel);
                }
            }
        }
        if !already && self.counts_enabled(&kind) {
            out.count_sent = ch.announce_count(channel, Instant::now());
            self.note_pending_count(ch);
        }
        Ok(out)
    }

    /// Removes `socket_id` from `channel`; announces a departed presence member to the rest.
    pub fn unsubscribe(&self, channel: &str, socket_id: &SocketId) -> Option<Unsubscribed> {
        let mut entry = self.channels.get_mut(channel)?;
        let ch = entry.value_mut();
        let sub = ch.subscribers.remove(socket_id)?;
        let mut out = Unsubscribed::default();
        if let (Some(key), Some(roster)) = (sub.member, ch.roster.as_mut()) {
            if let Some(member) = roster.leave(&key) {
                if !self.cluster_mode {
                    ch.send_all(&outbound::member_removed(channel, &member.user_id), None);
                }
                out.member_removed = Some(member);
            }
        }
        if self.counts_enabled(&ChannelType::of(channel)) {
            out.count_sent = ch.announce_count(channel, Instant::now());
            self.note_pending_count(ch);
        }
        if ch.subscribers.is_empty() {
            out.vacated = true;
            drop(entry);
            self.channels.remove_if(channel, |_, c| c.subscribers.is_empty());
        }
        Some(out)
    }

    /// Enqueues `frame` to every subscriber of `channel` on this node except `except`;
    /// server-to-user channels reach every socket signed in as that user.
    /// Returns how many connections it was queued for.
    pub fn broadcast(&self, channel: &str, frame: &Frame, except: Option<&SocketId>) -> usize {
        let started = std::time::Instant::now();
        let (attempted, sent) = if let Some(user) = ChannelType::of(channel).server_to_user {
            self.users.send_to_user(user, frame, except)
        } else {
            match self.channels.get(channel) {
                Some(ch) => ch.send_all(frame, except),
                None => (0, 0),
            }
        };
        let m = &self.metrics;
        m.messages_out.inc_by(sent as u64);
        m.bytes_out.inc_by((sent * frame.payload().len()) as u64);
        if attempted > sent {
            m.deliveries_dropped.inc_by((attempted - sent) as u64);
        }
        m.fanout_duration.observe(started.elapsed().as_secs_f64());
        sent
    }

    /// Sends the `subscription_count` events that were held back by the five-second rule.
    /// Returns `(channel, count)` for each one sent.
    pub fn flush_subscription_counts(&self) -> Vec<(String, usize)> {
        let mut sent = Vec::new();
        // Most ticks nothing is held back: skip the walk over every channel. A count held
        // back during the walk is counted again afterwards, so none is ever forgotten; an
        // over-count only costs one more walk.
        if self.counts_pending.swap(0, Ordering::AcqRel) == 0 {
            return sent;
        }
        let now = Instant::now();
        let mut still_pending = 0;
        for mut entry in self.channels.iter_mut() {
            let due = entry.count_pending && entry.count_sent.is_none_or(|t| now.duration_since(t) >= COUNT_INTERVAL);
            if due {
                let name = entry.key().clone();
                if let Some(count) = entry.value_mut().announce_count(&name, now) {
                    sent.push((name.to_string(), count));
                }
            }
            still_pending += entry.count_pending as usize;
        }
        self.counts_pending.fetch_add(still_pending, Ordering::AcqRel);
        sent
    }

    /// Records that `ch` holds back a `subscription_count` for the housekeeping tick.
    fn note_pending_count(&self, ch: &Channel) {
        if ch.count_pending {
            self.counts_pending.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// `Some(member id)` when `socket_id` is subscribed to `channel` (the id is set on
    /// presence channels, for the `user_id` of relayed client events).
    pub fn subscription(&self, channel: &str, socket_id: &SocketId) -> Option<Option<String>> {
        let ch = self.channels.get(channel)?;
        ch.subscribers.get(socket_id).map(|s| s.member.clone())
    }

    pub fn channel_stats(&self, channel: &str) -> Option<ChannelStats> {
        self.channels.get(channel).filter(|c| !c.subscribers.is_empty()).map(|c| c.stats())
    }

    /// All occupied channels whose name starts with `prefix`.
    pub fn channels(&self, prefix: &str) -> Vec<(String, ChannelStats)> {
        self.channels
            .iter()
            .filter(|e| e.key().starts_with(prefix) && !e.value().subscribers.is_empty())
            .map(|e| (e.key().to_string(), e.value().stats()))
            .collect()
    }

    /// This node's share of the cluster state: each channel's local subscriber count and,
    /// on presence channels, each member with its local socket count. Used to resynchronise
    /// a cluster after an outage.
    pub fn local_channels(&self) -> Vec<(String, usize, Vec<(Member, u32)>)> {
        self.channels
            .iter()
            .filter(|e| !e.value().subscribers.is_empty())
            .map(|e| {
                let members = e.value().roster.as_ref().map(|r| r.members_with_sockets().map(|(m, n)| (m.clone(), n)).collect()).unwrap_or_default();
                (e.key().to_string(), e.value().subscribers.len(), members)
            })
            .collect()
    }

    /// One member of a presence channel on this node, by user id.
    pub fn presence_member(&self, channel: &str, user: &str) -> Option<Member> {
        self.channels.get(channel)?.roster.as_ref()?.member(user).cloned()
    }

    /// The user ids of a presence channel's members.
    pub fn presence_users(&self, channel: &str) -> Vec<String> {
        match self.channels.get(channel) {
            Some(ch) => ch.roster.as_ref().map(|r| r.user_ids().map(str::to_owned).collect()).unwrap_or_default(),
            None => Vec::new(),
        }
    }
}
