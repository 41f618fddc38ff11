//! The Redis adapter: several herald nodes behind a load balancer act as one server.
//!
//! - Events go to local subscribers at once and to the other nodes over one Redis pub/sub
//!   channel (`P:bus`, see [`bus`]).
//! - Membership (channel subscribers, presence members, signed-in users, connections) is
//!   counted in Redis hashes by atomic Lua scripts ([`scripts`]), so "first anywhere" and
//!   "last anywhere" are decided once and webhooks fire once per cluster.
//! - Every node records its own contributions and heartbeats; when a node stops
//!   heartbeating for `node_timeout`, one surviving node undoes its contributions and
//!   announces the departures ([`janitor`]).
//! - When Redis is unreachable the node keeps serving its own sockets with local semantics
//!   and rebuilds its share of the shared state when Redis returns.

mod bus;
mod janitor;
mod scripts;

use async_trait::async_trait;
use crate::protocol::ws::Frame;
use dashmap::DashMap;
use redis::aio::ConnectionManager;
use serde_json::Value;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::time::Instant;

use super::Adapter;
use crate::config::Config;
use crate::hub::budget::{Budget, BudgetKind};
use crate::hub::conn::ConnHandle;
use crate::hub::presence::Member;
use crate::hub::{AppHub, ChannelStats, PresenceView, SubscribeError, Subscribed, Unsubscribed};
use crate::protocol::channel::ChannelType;
use crate::protocol::close_code;
use crate::protocol::outbound;
use crate::protocol::socket_id::SocketId;
use crate::state::{Shared, State};
use crate::webhooks::WebhookEvent;
use bus::{BusBody, BusMessage};

/// Above this many subscribers, count events go out at most every five seconds.
const COUNT_IMMEDIATE_LIMIT: i64 = 100;
const COUNT_INTERVAL: Duration = Duration::from_secs(5);

pub struct RedisAdapter {
    client: redis::Client,
    /// Multiplexed, reconnecting connection for commands and publishes.
    conn: ConnectionManager,
    /// This node's id in the cluster (random per process start).
    node_id: String,
    prefix: String,
    timeout: Duration,
    node_timeout: Duration,
    leave_delay_ms: u64,
    bus_connected: AtomicBool,
    commands_ok: AtomicBool,
    /// Set when Redis missed some of this node's changes; the janitor then rebuilds them.
    needs_resync: AtomicBool,
    /// Set when the cluster epoch changed: the next resync is after a data loss.
    data_lost: AtomicBool,
    /// Per (app, channel): when a subscription count last went out, and whether one waits.
    counts: DashMap<(String, String), (Option<Instant>, bool)>,
    state: OnceLock<Weak<Shared>>,
    /// A weak handle to this adapter, for work spawned from `&self` methods.
    me: Weak<RedisAdapter>,
    /// Leave webhooks waiting out their delay: id → (held key, app, event). Drained at shutdown.
    held: DashMap<u64, (String, Arc<crate::config::AppConfig>, WebhookEvent)>,
    /// The value of `P:epoch` when this node last saw Redis: a different value means Redis
    /// lost its data (a restart without persistence) rather than this node being cleaned up.
    epoch: std::sync::Mutex<Option<String>>,
    /// Presence changes this node could only apply locally while Redis was unreachable,
    /// keyed by (app, channel, user): joins, and leaves with the member's original user id.
    degraded_joins: dashmap::DashSet<(String, String, String)>,
    degraded_leaves: DashMap<(String, String, String), Value>,
    /// Sockets that joined a presence channel while Redis was unreachable: their roster held
    /// only this node's members, so they learn the others' after the resync.
    degraded_subscribers: dashmap::DashSet<(String, String, SocketId)>,
}

impl RedisAdapter {
    /// Creates the adapter without connecting: Redis may come up after herald.
    pub fn new(config: &Config) -> Result<Arc<RedisAdapter>, String> {
        let client = redis::Client::open(config.redis_url.as_str()).map_err(|e| format!("invalid `redis_url`: {e}"))?;
        let timeout = Duration::from_millis(config.redis_timeout_ms);
        let manager_config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(2));
        let conn = ConnectionManager::new_lazy_with_config(client.clone(), manager_config)
            .map_err(|e| format!("cannot set up the Redis connection: {e}"))?;
        let node_id = format!("{:016x}", rand::random::<u64>());
        Ok(Arc::new_cyclic(|me| RedisAdapter {
            client,
            conn,
            node_id,
            prefix: config.prefix.clone(),
            timeout,
            node_timeout: Duration::from_secs(config.node_timeout),
            leave_delay_ms: config.webhook_leave_delay_ms,
            bus_connected: AtomicBool::new(false),
            commands_ok: AtomicBool::new(true),
            needs_resync: AtomicBool::new(false),
            data_lost: AtomicBool::new(false),
            counts: DashMap::new(),
            state: OnceLock::new(),
            me: me.clone(),
            held: DashMap::new(),
            epoch: std::sync::Mutex::new(None),
            degraded_joins: dashmap::DashSet::new(),
            degraded_leaves: DashMap::new(),
            degraded_subscribers: dashmap::DashSet::new(),
        }))
    }

    /// Starts the bus listener and the janitor. The adapter holds the state weakly.
    pub fn start(self: &Arc<Self>, state: &State) {
        let _ = self.state.set(Arc::downgrade(state));
        tracing::info!(node = %self.node_id, prefix = %self.prefix, "cluster adapter: redis");
        tokio::spawn(bus::run(self.clone(), Arc::downgrade(state)));
        tokio::spawn(janitor::run(self.clone(), Arc::downgrade(state)));
    }

    fn state(&self) -> Option<State> {
        self.state.get().and_then(Weak::upgrade)
    }

    fn bus_channel(&self) -> String {
        format!("{}:bus", self.prefix)
    }

    fn key(&self, app: &str, suffix: &str) -> String {
        format!("{}:app:{}:{}", self.prefix, app, suffix)
    }

    fn set_bus_connected(&self, up: bool) {
        if !up {
            self.needs_resync.store(true, Ordering::Release);
        }
        self.bus_connected.store(up, Ordering::Release);
    }

    /// Runs a Redis operation with the configured timeout. Failures mark the node as out of
    /// sync (so its share of the state is rebuilt later) and yield `None`.
    async fn run<T>(&self, what: &'static str, op: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(self.timeout, op).await;
        let label = crate::metrics::OperationLabel { operation: what.to_string() };
        crate::metrics::metrics().redis_duration.get_or_create(&label).observe(started.elapsed().as_secs_f64());
        if !matches!(result, Ok(Ok(_))) {
            crate::metrics::metrics().redis_errors.get_or_create(&label).inc();
        }
        match result {
            Ok(Ok(v)) => {
                if !self.commands_ok.swap(true, Ordering::AcqRel) {
                    tracing::info!("Redis reachable again");
                }
                Some(v)
            }
            Ok(Err(e)) => {
                self.fail(what, &e.to_string());
                None
            }
            Err(_) => {
                self.fail(what, "timed out");
                None
            }
        }
    }

    fn fail(&self, what: &str, error: &str) {
        self.needs_resync.store(true, Ordering::Release);
        if self.commands_ok.swap(false, Ordering::AcqRel) {
            tracing::warn!(operation = what, error, "Redis unreachable: serving local sockets only until it returns");
        } else {
            tracing::debug!(operation = what, error, "Redis still unreachable");
        }
    }

    async fn script<T: redis::FromRedisValue>(&self, what: &'static str, script: &redis::Script, args: &[&str]) -> Option<T> {
        let mut invocation = script.prepare_invoke();
        for a in [self.prefix.as_str(), self.node_id.as_str()] {
            invocation.arg(a);
        }
        for a in args {
            invocation.arg(*a);
        }
        let mut conn = self.conn.clone();
        self.run(what, async move { invocation.invoke_async(&mut conn).await }).await
    }

    async fn send_bus(&self, app: &str, body: BusBody) {
        let message = BusMessage { node: self.node_id.clone(), app: app.to_string(), body };
        let payload = serde_json::to_string(&message).expect("bus messages serialize");
        let mut conn = self.conn.clone();
        let channel = self.bus_channel();
        self.run("publish", async move { redis::cmd("PUBLISH").arg(channel).arg(payload).query_async::<i64>(&mut conn).await })
            .await;
    }

    /// Publishes the cluster-wide subscriber count, at most every five seconds on large channels.
    async fn announce_count(&self, app: &AppHub, channel: &str, count: i64) {
        if !app.config().subscription_count || ChannelType::of(channel).is_presence() || count <= 0 {
            return;
        }
        let now = Instant::now();
        {
            let mut entry = self.counts.entry((app.id().to_string(), channel.to_string())).or_insert((None, false));
            let recently = entry.0.is_some_and(|t| now.duration_since(t) < COUNT_INTERVAL);
            if count > COUNT_IMMEDIATE_LIMIT && recently {
                entry.1 = true;
                return;
            }
            *entry = (Some(now), false);
        }
        self.publish_count(app, channel, count).await;
    }

    async fn publish_count(&self, app: &AppHub, channel: &str, count: i64) {
        let data = serde_json::json!({ "subscription_count": count });
        let frame = outbound::event_json("pusher_internal:subscription_count", Some(channel), &data);
        self.publish(app, channel, frame, None).await;
        if let Some(state) = self.state() {
            state.webhooks.emit(&app.config(), || WebhookEvent::SubscriptionCount { channel: channel.to_string(), subscription_count: count as usize });
        }
    }

    /// After the leave delay, sends the held webhook unless a join on any node cancelled it.
    fn release_later(self: &Arc<Self>, app: &AppHub, held_key: String, event: WebhookEvent) {
        let id = rand::random::<u64>();
        self.held.insert(id, (held_key, app.config().clone(), event));
        let adapter = self.clone();
        let delay = Duration::from_millis(self.leave_delay_ms);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            adapter.release(id).await;
        });
    }

    /// Sends held webhook `id` if its key still exists (no join cancelled it). If Redis is
    /// unreachable it is sent rather than lost.
    async fn release(&self, id: u64) {
        let Some((_, (key, config, event))) = self.held.remove(&id) else { return };
        let mut conn = self.conn.clone();
        let deleted = self.run("release", async move { redis::cmd("DEL").arg(key).query_async::<i64>(&mut conn).await }).await;
        if deleted != Some(0) {
            if let Some(state) = self.state() {
                state.webhooks.emit_released(&config, event);
            }
        }
    }

    fn arc(&self) -> Option<Arc<RedisAdapter>> {
        self.me.upgrade()
    }
}

/// The `subscription_succeeded` payload built from the member records in Redis.
fn presence_data(records: &[String]) -> Value {
    let members: Vec<Member> = records.iter().filter_map(|r| Member::from_record(r)).collect();
    crate::hub::presence::subscription_data(members.iter())
}

/// The user id of a stored member record, or the plain key when the record is missing.
fn member_user_id(record: &str, key: &str) -> Value {
    Member::from_record(record).map(|m| m.user_id).unwrap_or_else(|| Value::String(key.to_string()))
}

#[async_trait]
impl Adapter for RedisAdapter {
    async fn publish(&self, app: &AppHub, channel: &str, frame: Frame, except: Option<SocketId>) {
        app.broadcast(channel, &frame, except.as_ref());
        let body = BusBody::Publish { channel: channel.to_string(), frame: frame.text_payload().to_string(), except: except.map(|s| s.to_string()) };
        self.send_bus(app.id(), body).await;
    }

    async fn subscribe(&self, app: &AppHub, channel: &str, conn: &ConnHandle, member: Option<Member>) -> Result<Subscribed, SubscribeError> {
        // A repeated subscribe only repeats the confirmation; it must not count twice.
        if app.subscription(channel, &conn.socket_id).is_some() {
            return app.subscribe(channel, conn, member, PresenceView::Cluster { data: None });
        }
        let user = member.as_ref().map(|m| m.key.clone()).unwrap_or_default();
        let record = member.as_ref().map(Member::to_record).unwrap_or_default();
        let max = app.config().max_presence_members.to_string();
        let args = [app.id(), channel, user.as_str(), record.as_str(), max.as_str()];
        let joined: Option<(i64, i64, i64, Vec<String>)> = self.script("join", &scripts::JOIN, &args).await;

        let Some((count, occupied, member_state, roster)) = joined else {
            // Degraded: local semantics until the resync.
            let presence = member.is_some();
            let out = app.subscribe(channel, conn, member, PresenceView::Cluster { data: None })?;
            if presence {
                self.degraded_subscribers.insert((app.id().to_string(), channel.to_string(), conn.socket_id));
            }
            if let Some(m) = &out.member_added {
                app.broadcast(channel, &outbound::member_added(channel, &m.user_id, &m.user_info), Some(&conn.socket_id));
                let key = (app.id().to_string(), channel.to_string(), m.key.clone());
                self.degraded_leaves.remove(&key);
                self.degraded_joins.insert(key);
            }
            return Ok(out);
        };
        if member_state == -1 {
            return Err(SubscribeError::PresenceFull { limit: app.config().max_presence_members });
        }
        let data = member.as_ref().map(|_| presence_data(&roster));
        let mut out = app.subscribe(channel, conn, member.clone(), PresenceView::Cluster { data })?;
        out.occupied = occupied == 1;
        out.member_added = None;
        if let Some(m) = member.filter(|_| member_state >= 1) {
            self.publish(app, channel, outbound::member_added(channel, &m.user_id, &m.user_info), Some(conn.socket_id)).await;
            if member_state == 1 {
                out.member_added = Some(m);
            }
        }
        self.announce_count(app, channel, count).await;
        out.count_sent = None; // the adapter reports counts itself
        Ok(out)
    }

    async fn unsubscribe(&self, app: &AppHub, channel: &str, socket_id: &SocketId) -> Option<Unsubscribed> {
        let user = app.subscription(channel, socket_id)?.unwrap_or_default();
        let local = app.unsubscribe(channel, socket_id)?;
        let hold = if app.config().webhooks.is_empty() { 0 } else { self.leave_delay_ms };
        let hold_arg = hold.to_string();
        let args = [app.id(), channel, user.as_str(), hold_arg.as_str()];
        let left: Option<(i64, i64, i64, String)> = self.script("leave", &scripts::LEAVE, &args).await;

        let Some((count, vacated, removed, record)) = left else {
            if let Some(m) = &local.member_removed {
                app.broadcast(channel, &outbound::member_removed(channel, &m.user_id), None);
                let key = (app.id().to_string(), channel.to_string(), m.key.clone());
                self.degraded_joins.remove(&key);
                self.degraded_leaves.insert(key, m.user_id.clone());
            }
            return Some(local);
        };
        let mut out = Unsubscribed::default();
        if count < 0 {
            return Some(out); // this node's state was already cleaned up by the cluster
        }
        if removed == 1 {
            let user_id = member_user_id(&record, &user);
            self.publish(app, channel, outbound::member_removed(channel, &user_id), None).await;
            let event = WebhookEvent::MemberRemoved { channel: channel.to_string(), user_id: user.clone() };
            match (hold, self.arc()) {
                (0, _) | (_, None) => out.member_removed = local.member_removed,
                (_, Some(me)) => me.release_later(app, self.key(app.id(), &format!("held:{channel}\u{1f}{user}")), event),
            }
        }
        if vacated == 1 {
            let event = WebhookEvent::ChannelVacated { channel: channel.to_string() };
            match (hold, self.arc()) {
                (0, _) | (_, None) => out.vacated = true,
                (_, Some(me)) => me.release_later(app, self.key(app.id(), &format!("held:{channel}")), event),
            }
        }
        self.announce_count(app, channel, count).await;
        Some(out)
    }

    async fn connection_opened(&self, app: &AppHub) -> bool {
        let max = app.config().max_connections.to_string();
        let args = [app.id(), "1", max.as_str()];
        match self.script::<i64>("connect", &scripts::CONNECTION, &args).await {
            Some(n) => n >= 0,
            None => app.config().max_connections == 0 || app.connection_count() as u64 <= app.config().max_connections,
        }
    }

    async fn connection_closed(&self, app: &AppHub) {
        let args = [app.id(), "-1", "0"];
        self.script::<i64>("disconnect", &scripts::CONNECTION, &args).await;
    }

    async fn connection_count(&self, app: &AppHub) -> usize {
        let mut conn = self.conn.clone();
        let key = self.key(app.id(), "connections");
        let n: Option<Option<i64>> = self.run("connections", async move { redis::cmd("GET").arg(key).query_async(&mut conn).await }).await;
        match n {
            Some(n) => n.unwrap_or(0).max(0) as usize,
            None => app.connection_count(),
        }
    }

    async fn user_signed_in(&self, app: &AppHub, user_id: &str) {
        let args = [app.id(), user_id, "1"];
        match self.script::<i64>("sign-in", &scripts::USER, &args).await {
            Some(1) => self.watch(app, user_id, true).await,
            Some(_) => {}
            None if app.users.socket_count(user_id) == 1 => app.users.notify_watchers(user_id, true),
            None => {}
        }
    }

    async fn user_signed_out(&self, app: &AppHub, user_id: &str) {
        let args = [app.id(), user_id, "-1"];
        match self.script::<i64>("sign-out", &scripts::USER, &args).await {
            Some(0) => self.watch(app, user_id, false).await,
            Some(_) => {}
            None if !app.users.is_online(user_id) => app.users.notify_watchers(user_id, false),
            None => {}
        }
    }

    async fn online_users(&self, app: &AppHub, user_ids: &[String]) -> Vec<bool> {
        let mut conn = self.conn.clone();
        let key = self.key(app.id(), "users");
        let ids = user_ids.to_vec();
        let counts: Option<Vec<Option<i64>>> =
            self.run("online", async move { redis::cmd("HMGET").arg(key).arg(ids).query_async(&mut conn).await }).await;
        match counts {
            Some(c) => c.into_iter().map(|n| n.unwrap_or(0) > 0).collect(),
            None => user_ids.iter().map(|u| app.users.is_online(u)).collect(),
        }
    }

    async fn channel_stats(&self, app: &AppHub, channel: &str) -> Option<ChannelStats> {
        let presence = ChannelType::of(channel).is_presence();
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.hget(self.key(app.id(), "channels"), channel).hlen(self.key(app.id(), &format!("members:{channel}")));
        let result: Option<(Option<i64>, i64)> = self.run("channel stats", async move { pipe.query_async(&mut conn).await }).await;
        match result {
            Some((Some(n), members)) if n > 0 => {
                Some(ChannelStats { subscription_count: n as usize, user_count: presence.then_some(members as usize) })
            }
            Some(_) => None,
            None => app.channel_stats(channel),
        }
    }

    async fn channels(&self, app: &AppHub, prefix: &str) -> Vec<(String, ChannelStats)> {
        let mut conn = self.conn.clone();
        let key = self.key(app.id(), "channels");
        let all: Option<Vec<(String, i64)>> = self.run("channels", async move { redis::cmd("HGETALL").arg(key).query_async(&mut conn).await }).await;
        let Some(all) = all else { return app.channels(prefix) };
        let selected: Vec<(String, i64)> = all.into_iter().filter(|(c, n)| *n > 0 && c.starts_with(prefix)).collect();
        let presence: Vec<&String> = selected.iter().map(|(c, _)| c).filter(|c| ChannelType::of(c).is_presence()).collect();
        let mut user_counts = std::collections::HashMap::new();
        if !presence.is_empty() {
            let mut pipe = redis::pipe();
            for c in &presence {
                pipe.hlen(self.key(app.id(), &format!("members:{c}")));
            }
            let mut conn = self.conn.clone();
            if let Some(counts) = self.run("user counts", async move { pipe.query_async::<Vec<i64>>(&mut conn).await }).await {
                for (c, n) in presence.iter().zip(counts) {
                    user_counts.insert((*c).clone(), n as usize);
                }
            }
        }
        selected
            .into_iter()
            .map(|(c, n)| {
                let user_count = ChannelType::of(&c).is_presence().then(|| user_counts.get(&c).copied().unwrap_or(0));
                (c, ChannelStats { subscription_count: n as usize, user_count })
            })
            .collect()
    }

    async fn presence_users(&self, app: &AppHub, channel: &str) -> Vec<String> {
        let mut conn = self.conn.clone();
        let key = self.key(app.id(), &format!("members:{channel}"));
        let users: Option<Vec<String>> = self.run("users", async move { redis::cmd("HKEYS").arg(key).query_async(&mut conn).await }).await;
        users.unwrap_or_else(|| app.presence_users(channel))
    }

    async fn store_cache(&self, app: &AppHub, channel: &str, data: &str, frame: Frame) {
        app.cache.store(channel, data, frame.clone());
        let body = BusBody::Cache { channel: channel.to_string(), data: data.to_string(), frame: frame.text_payload().to_string() };
        self.send_bus(app.id(), body).await;
    }

    async fn take_from_budget(&self, app: &AppHub, kind: BudgetKind, budget: &Budget, amount: usize) -> bool {
        let (rate, wanted) = (budget.per_second().to_string(), amount.to_string());
        match self.script::<i64>("budget", &scripts::BUDGET, &[app.id(), &rate, &wanted, kind.name()]).await {
            Some(granted) => granted == 1,
            // Redis unreachable: each node keeps the limit on its own until it is back.
            None => budget.take(amount, std::time::Instant::now()),
        }
    }

    async fn terminate_user(&self, app: &AppHub, user_id: &str) {
        for conn in app.users.sockets_of(user_id) {
            conn.close(close_code::TERMINATED_BY_APP);
        }
        self.send_bus(app.id(), BusBody::Terminate { user: user_id.to_string() }).await;
    }

    async fn drain(&self) {
        let ids: Vec<u64> = self.held.iter().map(|e| *e.key()).collect();
        for id in ids {
            self.release(id).await;
        }
        // Whatever this node still contributes (sockets that did not close in time) is undone
        // now rather than after node_timeout, and the node leaves the live set.
        if let Some(state) = self.state() {
            self.leave_cluster(&state).await;
        }
    }

    fn status(&self) -> Value {
        serde_json::json!({
            "kind": "redis",
            "node": self.node_id,
            "connected": self.is_healthy(),
            "bus_connected": self.bus_connected.load(Ordering::Acquire),
            "commands_ok": self.commands_ok.load(Ordering::Acquire),
        })
    }

    fn is_healthy(&self) -> bool {
        self.bus_connected.load(Ordering::Acquire) && self.commands_ok.load(Ordering::Acquire)
    }
}

impl RedisAdapter {
    /// Tells watchers on every node that `user_id` came online or went offline.
    async fn watch(&self, app: &AppHub, user_id: &str, online: bool) {
        app.users.notify_watchers(user_id, online);
        self.send_bus(app.id(), BusBody::Watch { user: user_id.to_string(), online }).await;
    }
}
