//! The janitor: heartbeats, cleanup after dead nodes, resynchronisation after an outage,
//! and subscription counts held back by the five-second rule.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{member_user_id, scripts, RedisAdapter};
use crate::protocol::outbound;
use crate::state::{Shared, State};
use crate::webhooks::WebhookEvent;

pub async fn run(adapter: Arc<RedisAdapter>, state: Weak<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut registered = false;
    loop {
        tick.tick().await;
        let Some(state) = state.upgrade() else { return };
        if state.is_shutting_down() {
            return; // drain() takes the node out of the cluster
        }
        let Some(added) = adapter.heartbeat().await else { continue };
        if adapter.check_epoch().await {
            tracing::warn!("Redis lost the cluster's shared state (restarted empty?); rebuilding this node's share");
            adapter.needs_resync.store(true, Ordering::Release);
            adapter.data_lost.store(true, Ordering::Release);
        } else if registered && added == 1 {
            tracing::warn!(node = %adapter.node_id, "this node was declared dead by the cluster; rebuilding its state");
            adapter.needs_resync.store(true, Ordering::Release);
        }
        registered = true;
        if adapter.needs_resync.load(Ordering::Acquire) && adapter.bus_connected.load(Ordering::Acquire) {
            adapter.resync(&state).await;
        }
        adapter.reap_dead_nodes(&state).await;
        adapter.flush_counts(&state).await;
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// One record returned by the cleanup and restore scripts.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Change {
    kind: String,
    app: String,
    channel: String,
    user: String,
    member: String,
}

fn changes(flat: Vec<String>) -> Vec<Change> {
    flat.chunks(5)
        .filter(|c| c.len() == 5)
        .map(|c| Change { kind: c[0].clone(), app: c[1].clone(), channel: c[2].clone(), user: c[3].clone(), member: c[4].clone() })
        .collect()
}

impl RedisAdapter {
    /// Records this node as alive. Returns ZADD's answer: 1 when the node was not registered.
    async fn heartbeat(&self) -> Option<i64> {
        let mut conn = self.conn.clone();
        let key = format!("{}:nodes", self.prefix);
        let node = self.node_id.clone();
        self.run("heartbeat", async move { redis::cmd("ZADD").arg(key).arg(now_ms()).arg(node).query_async(&mut conn).await }).await
    }

    /// Reads (and if missing, creates) the cluster epoch. True when it differs from the one this
    /// node saw before: Redis lost its data since.
    async fn check_epoch(&self) -> bool {
        let key = format!("{}:epoch", self.prefix);
        let fresh = format!("{:016x}", rand::random::<u64>());
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("SET").arg(&key).arg(&fresh).arg("NX").ignore().cmd("GET").arg(&key);
        let Some((current,)) = self.run("epoch", async move { pipe.query_async::<(String,)>(&mut conn).await }).await else {
            return false;
        };
        let mut seen = self.epoch.lock().expect("epoch lock");
        let changed = seen.as_ref().is_some_and(|old| *old != current);
        *seen = Some(current);
        changed
    }

    /// Finds nodes whose heartbeat is older than `node_timeout`; the node that removes one from
    /// the live set (only one can) undoes its state and announces the departures.
    async fn reap_dead_nodes(&self, state: &State) {
        let key = format!("{}:nodes", self.prefix);
        let cutoff = now_ms() - self.node_timeout.as_millis() as i64;
        let mut conn = self.conn.clone();
        let k = key.clone();
        let dead: Option<Vec<String>> =
            self.run("dead nodes", async move { redis::cmd("ZRANGEBYSCORE").arg(k).arg("-inf").arg(cutoff).query_async(&mut conn).await }).await;
        for node in dead.unwrap_or_default() {
            if node == self.node_id {
                continue;
            }
            let mut conn = self.conn.clone();
            let (k, n) = (key.clone(), node.clone());
            let claimed: Option<i64> = self.run("claim", async move { redis::cmd("ZREM").arg(k).arg(n).query_async(&mut conn).await }).await;
            if claimed != Some(1) {
                continue;
            }
            let flat = self.cleanup(&node).await;
            tracing::warn!(dead_node = %node, changes = flat.len(), "a cluster node stopped heartbeating; removed its sockets' state");
            self.announce(state, changes(flat)).await;
        }
    }

    /// Removes this node from the live set and undoes its remaining contributions.
    pub(super) async fn leave_cluster(&self, state: &State) {
        let mut conn = self.conn.clone();
        let (key, node) = (format!("{}:nodes", self.prefix), self.node_id.clone());
        self.run("leave", async move { redis::cmd("ZREM").arg(key).arg(node).query_async::<i64>(&mut conn).await }).await;
        let flat = self.cleanup(&self.node_id.clone()).await;
        self.announce(state, changes(flat)).await;
    }

    /// Runs the cleanup script for `node` (any node's, including this one's).
    async fn cleanup(&self, node: &str) -> Vec<String> {
        let mut invocation = scripts::CLEANUP.prepare_invoke();
        invocation.arg(&self.prefix).arg(node).arg("");
        let mut conn = self.conn.clone();
        self.run("cleanup", async move { invocation.invoke_async(&mut conn).await }).await.unwrap_or_default()
    }

    /// Rebuilds this node's share of the cluster state from its local hub: undo whatever Redis
    /// has recorded for it, re-add what is true now, and announce only the net changes.
    async fn resync(&self, state: &State) {
        let removed = changes(self.cleanup(&self.node_id.clone()).await);
        let mut invocation = scripts::RESTORE.prepare_invoke();
        invocation.arg(&self.prefix).arg(&self.node_id).arg("");
        for app in state.apps() {
            let id = app.id();
            for (channel, subscribers, members) in app.local_channels() {
                invocation.arg("c").arg(id).arg(&channel).arg("").arg(subscribers).arg("");
                for (member, sockets) in members {
                    invocation.arg("p").arg(id).arg(&channel).arg(&member.key).arg(sockets).arg(member.to_record());
                }
            }
            for (user, sockets) in app.users.socket_counts() {
                invocation.arg("u").arg(id).arg("").arg(user).arg(sockets).arg("");
            }
            let connections = app.connection_count();
            if connections > 0 {
                invocation.arg("n").arg(id).arg("").arg("").arg(connections).arg("");
            }
        }
        let mut conn = self.conn.clone();
        let Some(added) = self.run("restore", async move { invocation.invoke_async::<Vec<String>>(&mut conn).await }).await else {
            return; // still failing; try again on the next tick
        };
        self.needs_resync.store(false, Ordering::Release);
        let added = changes(added);
        // Other nodes resynchronise within a heartbeat or two of this one; complete the rosters
        // of sockets that joined during the outage once they have.
        if let Some(me) = self.arc() {
            let state = state.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(3)).await;
                me.complete_degraded_rosters(&state).await;
            });
        }
        if self.data_lost.swap(false, Ordering::AcqRel) {
            self.after_data_loss(state, added).await;
            return;
        }
        // A change undone and redone is no change.
        let undone: HashSet<(String, String, String)> = removed.iter().map(|c| (c.app.clone(), c.channel.clone(), c.user.clone())).collect();
        let redone: HashSet<(String, String, String)> = added.iter().map(|c| (c.app.clone(), c.channel.clone(), c.user.clone())).collect();
        let net_removed: Vec<Change> = removed.into_iter().filter(|c| !redone.contains(&(c.app.clone(), c.channel.clone(), c.user.clone()))).collect();
        let net_added: Vec<Change> = added.into_iter().filter(|c| !undone.contains(&(c.app.clone(), c.channel.clone(), c.user.clone()))).collect();
        tracing::info!(removed = net_removed.len(), added = net_added.len(), "resynchronised this node's state with the cluster");
        self.degraded_joins.clear();
        self.degraded_leaves.clear();
        self.announce(state, net_removed).await;
        self.announce(state, net_added).await;
    }

    /// Sockets that joined a presence channel during the outage got a roster of this node's
    /// members only; send each of them `member_added` for the members elsewhere.
    async fn complete_degraded_rosters(&self, state: &State) {
        let subscribers: Vec<(String, String, crate::protocol::socket_id::SocketId)> =
            self.degraded_subscribers.iter().map(|e| e.key().clone()).collect();
        self.degraded_subscribers.clear();
        let mut by_channel: std::collections::HashMap<(String, String), Vec<crate::protocol::socket_id::SocketId>> = Default::default();
        for (app, channel, socket) in subscribers {
            by_channel.entry((app, channel)).or_default().push(socket);
        }
        for ((app_id, channel), sockets) in by_channel {
            let Some(app) = state.app_by_id(&app_id) else { continue };
            let mut conn = self.conn.clone();
            let key = self.key(&app_id, &format!("members:{channel}"));
            let Some(records) = self.run("roster", async move { redis::cmd("HVALS").arg(key).query_async::<Vec<String>>(&mut conn).await }).await else {
                continue;
            };
            let local: HashSet<String> = app.presence_users(&channel).into_iter().collect();
            for member in records.iter().filter_map(|r| crate::hub::presence::Member::from_record(r)) {
                if local.contains(&member.key) {
                    continue;
                }
                let frame = outbound::member_added(&channel, &member.user_id, &member.user_info);
                for socket in &sockets {
                    if app.subscription(&channel, socket).is_some() {
                        if let Some(handle) = app.connection(socket) {
                            handle.send(frame.clone());
                        }
                    }
                }
            }
        }
    }

    /// After Redis lost everything, every node re-adds its state, so "added" says nothing about
    /// what clients and webhooks already know. Announce to the other nodes' clients only what
    /// changed on this node while Redis was away: members who joined here, and members who left
    /// here and are not back anywhere. Webhooks for those changes were sent when they happened.
    async fn after_data_loss(&self, state: &State, added: Vec<Change>) {
        for change in added.into_iter().filter(|c| c.kind == "added") {
            let key = (change.app.clone(), change.channel.clone(), change.user.clone());
            if !self.degraded_joins.contains(&key) {
                continue;
            }
            let Some(app) = state.app_by_id(&change.app) else { continue };
            self.announce_local_member(&app, &change.channel, &change.user).await;
        }
        let leaves: Vec<((String, String, String), serde_json::Value)> =
            self.degraded_leaves.iter().map(|e| (e.key().clone(), e.value().clone())).collect();
        for ((app_id, channel, user), user_id) in leaves {
            let Some(app) = state.app_by_id(&app_id) else { continue };
            let mut conn = self.conn.clone();
            let key = self.key(&app_id, &format!("members:{channel}"));
            let u = user.clone();
            let present: Option<bool> = self.run("member check", async move { redis::cmd("HEXISTS").arg(key).arg(u).query_async(&mut conn).await }).await;
            if present == Some(false) {
                crate::adapter::Adapter::publish(self, &app, &channel, outbound::member_removed(&channel, &user_id), None).await;
            }
        }
        self.degraded_joins.clear();
        self.degraded_leaves.clear();
        tracing::info!("rebuilt this node's share of the cluster state after Redis lost its data");
    }

    /// Publishes `member_added` cluster-wide for a member as this node knows it.
    async fn announce_local_member(&self, app: &crate::hub::AppHub, channel: &str, user: &str) {
        if let Some(m) = app.presence_member(channel, user) {
            let frame = outbound::member_added(channel, &m.user_id, &m.user_info);
            crate::adapter::Adapter::publish(self, &app, channel, frame, None).await;
        }
    }

    /// Tells clients, watchers and webhooks about membership changes found by a cleanup or
    /// a resync.
    async fn announce(&self, state: &State, list: Vec<Change>) {
        for change in list {
            let Some(app) = state.app_by_id(&change.app) else { continue };
            match change.kind.as_str() {
                "vacated" => state.webhooks.emit_released(&app.config(), WebhookEvent::ChannelVacated { channel: change.channel }),
                "occupied" => state.webhooks.emit_released(&app.config(), WebhookEvent::ChannelOccupied { channel: change.channel }),
                "removed" => {
                    let user_id = member_user_id(&change.member, &change.user);
                    let frame = outbound::member_removed(&change.channel, &user_id);
                    crate::adapter::Adapter::publish(self, &app, &change.channel, frame, None).await;
                    state.webhooks.emit_released(&app.config(), WebhookEvent::MemberRemoved { channel: change.channel, user_id: change.user });
                }
                "added" => {
                    self.announce_local_member(&app, &change.channel, &change.user).await;
                    state.webhooks.emit_released(&app.config(), WebhookEvent::MemberAdded { channel: change.channel, user_id: change.user });
                }
                "offline" => self.watch(&app, &change.user, false).await,
                "online" => self.watch(&app, &change.user, true).await,
                _ => {}
            }
        }
    }

    /// Sends the subscription counts that the five-second rule held back.
    async fn flush_counts(&self, state: &State) {
        let due: Vec<(String, String)> = self
            .counts
            .iter()
            .filter(|e| e.value().1 && e.value().0.is_none_or(|t| t.elapsed() >= super::COUNT_INTERVAL))
            .map(|e| e.key().clone())
            .collect();
        for (app_id, channel) in due {
            let Some(app) = state.app_by_id(&app_id) else { continue };
            let Some(stats) = crate::adapter::Adapter::channel_stats(self, &app, &channel).await else {
                self.counts.remove(&(app_id, channel));
                continue;
            };
            self.counts.insert((app_id, channel.clone()), (Some(tokio::time::Instant::now()), false));
            self.publish_count(&app, &channel, stats.subscription_count as i64).await;
        }
    }
}
