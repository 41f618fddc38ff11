//! One conformance suite for the adapter contract (src/adapter/mod.rs), run against the local
//! adapter and against the Redis adapter with three in-process nodes sharing one Redis.
//!
//! A "cluster" here is a list of node states. For the local adapter every node is the same
//! state (one node is the whole cluster); for Redis each node is a separate state with its own
//! hub and adapter, so every assertion about "another node" really crosses Redis.

use herald::protocol::ws::Frame;
use herald::config::{AdapterKind, AppConfig, Config};
use herald::hub::conn::{ConnHandle, ConnInbox};
use herald::hub::presence::Member;
use herald::hub::budget::BudgetKind;
use herald::hub::AppHub;
use herald::protocol::socket_id::SocketId;
use herald::state::{Shared, State};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(5);

/// A redis-server of our own on a spare port, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    async fn start() -> RedisServer {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed for the cluster tests: apt-get install -y redis-server");
        let deadline = tokio::time::Instant::now() + WAIT;
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "redis-server did not start on port {port}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        RedisServer { child, port }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn app_config() -> AppConfig {
    AppConfig {
        id: "1".into(),
        key: "key".into(),
        secret: "secret".into(),
        client_events: true,
        max_presence_members: 3,
        max_connections: 4,
        max_backend_events_per_second: 2,
        max_read_requests_per_second: 2,
        ..AppConfig::default()
    }
}

struct Cluster {
    nodes: Vec<State>,
    _redis: Option<RedisServer>,
}

impl Cluster {
    async fn local() -> Cluster {
        let config = Config { apps: vec![app_config()], ..Config::default() };
        let state = Shared::new(config, Arc::new(herald::adapter::local::LocalAdapter), false);
        Cluster { nodes: vec![state.clone(), state.clone(), state], _redis: None }
    }

    async fn redis() -> Cluster {
        let redis = RedisServer::start().await;
        let prefix = format!("conformance-{:x}", rand::random::<u32>());
        let mut nodes = Vec::new();
        for _ in 0..3 {
            let config = Config {
                apps: vec![app_config()],
                adapter: AdapterKind::Redis,
                redis_url: format!("redis://127.0.0.1:{}", redis.port),
                prefix: prefix.clone(),
                ..Config::default()
            };
            let adapter = herald::adapter::redis::RedisAdapter::new(&config).unwrap();
            let state = Shared::new(config, adapter.clone(), true);
            adapter.start(&state);
            nodes.push(state);
        }
        let cluster = Cluster { nodes, _redis: Some(redis) };
        // Ready once every node's bus is subscribed.
        let deadline = tokio::time::Instant::now() + WAIT;
        while !cluster.nodes.iter().all(|n| n.adapter.is_healthy()) {
            assert!(tokio::time::Instant::now() < deadline, "nodes did not connect to Redis");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        cluster
    }

    fn app(&self, node: usize) -> Arc<AppHub> {
        self.nodes[node].app_by_id("1").unwrap()
    }

    /// A fake connection on `node`, registered like a real socket.
    fn connect(&self, node: usize) -> Client {
        let (handle, inbox) = ConnHandle::new(SocketId::random(), 64);
        assert!(self.app(node).add_connection(handle.clone()));
        Client { node, handle, inbox, received: Default::default() }
    }
}

struct Client {
    node: usize,
    handle: ConnHandle,
    inbox: ConnInbox,
    /// Frames taken from the inbox and not yet looked at.
    received: std::collections::VecDeque<Frame>,
}

impl Client {
    async fn next(&mut self) -> Value {
        if self.received.is_empty() {
            let take = std::future::poll_fn(|cx| self.inbox.take(cx, &mut self.received));
            tokio::time::timeout(WAIT, take).await.expect("a frame in time");
        }
        let frame = self.received.pop_front().expect("taken at least one frame");
        serde_json::from_str(frame.text_payload()).unwrap()
    }

    /// The next frame that is not a subscription confirmation.
    async fn next_event(&mut self) -> Value {
        loop {
            let v = self.next().await;
            if v["event"] != "pusher_internal:subscription_succeeded" {
                return v;
            }
        }
    }

    /// Asserts nothing arrives before `marker` (an event published after whatever must not arrive).
    async fn expect_marker_first(&mut self, marker: &str) {
        let v = self.next_event().await;
        assert_eq!(v["event"], marker, "expected only the marker, got {v}");
    }
}

fn member(id: &str) -> Member {
    Member { key: id.into(), user_id: Value::String(id.into()), user_info: json!({ "name": id }) }
}

async fn subscribe(cluster: &Cluster, client: &Client, channel: &str, member: Option<Member>) -> herald::hub::Subscribed {
    let app = cluster.app(client.node);
    cluster.nodes[client.node].adapter.subscribe(&app, channel, &client.handle, member).await.expect("subscribed")
}

async fn publish(cluster: &Cluster, node: usize, channel: &str, event: &str, except: Option<SocketId>) {
    let frame: Frame = herald::protocol::outbound::event(event, Some(channel), "{}", None);
    cluster.nodes[node].adapter.publish(&cluster.app(node), channel, frame, except).await;
}

// ---- the contract ----------------------------------------------------------------------------

async fn publish_reaches_every_node_once_except_the_excluded(cluster: Cluster) {
    let mut a = cluster.connect(0);
    let mut b = cluster.connect(1);
    let mut c = cluster.connect(2);
    for client in [&a, &b, &c] {
        subscribe(&cluster, client, "news", None).await;
    }
    publish(&cluster, 1, "news", "first", Some(c.handle.socket_id)).await;
    publish(&cluster, 1, "news", "second", None).await;
    for client in [&mut a, &mut b] {
        assert_eq!(client.next_event().await["event"], "first");
        assert_eq!(client.next_event().await["event"], "second");
    }
    c.expect_marker_first("second").await;
}

async fn publishes_through_one_node_keep_their_order(cluster: Cluster) {
    let mut far = cluster.connect(2);
    subscribe(&cluster, &far, "ordered", None).await;
    for i in 0..50 {
        publish(&cluster, 0, "ordered", &format!("e{i}"), None).await;
    }
    for i in 0..50 {
        assert_eq!(far.next_event().await["event"], format!("e{i}"));
    }
}

async fn occupied_and_vacated_are_decided_cluster_wide(cluster: Cluster) {
    let a = cluster.connect(0);
    let b = cluster.connect(1);
    assert!(subscribe(&cluster, &a, "room", None).await.occupied);
    assert!(!subscribe(&cluster, &b, "room", None).await.occupied, "second subscriber anywhere is not 'occupied'");
    let stats = cluster.nodes[2].adapter.channel_stats(&cluster.app(2), "room").await.expect("occupied");
    assert_eq!(stats.subscription_count, 2);
    let left = cluster.nodes[0].adapter.unsubscribe(&cluster.app(0), "room", &a.handle.socket_id).await.unwrap();
    assert!(!left.vacated, "a subscriber remains on another node");
    cluster.nodes[1].adapter.unsubscribe(&cluster.app(1), "room", &b.handle.socket_id).await.unwrap();
    assert!(cluster.nodes[2].adapter.channel_stats(&cluster.app(2), "room").await.is_none());
    assert!(cluster.nodes[0].adapter.channels(&cluster.app(0), "").await.is_empty());
}

async fn presence_counts_users_across_nodes(cluster: Cluster) {
    let mut watcher = cluster.connect(2);
    subscribe(&cluster, &watcher, "presence-x", Some(member("w"))).await;
    let a1 = cluster.connect(0);
    let a2 = cluster.connect(1);
    let first = subscribe(&cluster, &a1, "presence-x", Some(member("ann"))).await;
    let added = watcher.next_event().await;
    assert_eq!(added["event"], "pusher_internal:member_added");
    assert_eq!(first.member_added.map(|m| m.key), Some("ann".to_string()));
    let mut second_socket = a2;
    let second = cluster.nodes[1].adapter.subscribe(&cluster.app(1), "presence-x", &second_socket.handle, Some(member("ann"))).await.unwrap();
    assert!(second.member_added.is_none(), "ann's second socket is not a new member");
    // The roster sent to the second socket lists both users, wherever they are.
    let ok = second_socket.next().await;
    let roster: Value = serde_json::from_str(ok["data"].as_str().unwrap()).unwrap();
    assert_eq!(roster["presence"]["count"], 2, "{roster}");
    let mut users = cluster.nodes[0].adapter.presence_users(&cluster.app(0), "presence-x").await;
    users.sort();
    assert_eq!(users, vec!["ann", "w"]);
    let stats = cluster.nodes[1].adapter.channel_stats(&cluster.app(1), "presence-x").await.unwrap();
    assert_eq!((stats.subscription_count, stats.user_count), (3, Some(2)));

    cluster.nodes[0].adapter.unsubscribe(&cluster.app(0), "presence-x", &a1.handle.socket_id).await.unwrap();
    publish(&cluster, 0, "presence-x", "marker", None).await;
    watcher.expect_marker_first("marker").await;
    let last = cluster.nodes[1].adapter.unsubscribe(&cluster.app(1), "presence-x", &second_socket.handle.socket_id).await.unwrap();
    let _ = last;
    let removed = watcher.next_event().await;
    assert_eq!(removed["event"], "pusher_internal:member_removed");
    assert_eq!(serde_json::from_str::<Value>(removed["data"].as_str().unwrap()).unwrap()["user_id"], "ann");
}

async fn presence_limit_is_cluster_wide(cluster: Cluster) {
    for (node, user) in [(0, "a"), (1, "b"), (2, "c")] {
        let client = cluster.connect(node);
        subscribe(&cluster, &client, "presence-full", Some(member(user))).await;
    }
    let late = cluster.connect(0);
    let refused = cluster.nodes[0].adapter.subscribe(&cluster.app(0), "presence-full", &late.handle, Some(member("d"))).await;
    assert!(refused.is_err(), "a fourth user exceeds max_presence_members = 3");
    let again = cluster.connect(1);
    assert!(cluster.nodes[1].adapter.subscribe(&cluster.app(1), "presence-full", &again.handle, Some(member("a"))).await.is_ok(), "an existing member's extra socket is accepted");
}

async fn users_watchlists_and_termination_cross_nodes(cluster: Cluster) {
    let mut watcher = cluster.connect(0);
    cluster.app(0).users.watch(&watcher.handle, &["bob".to_string()]);
    let bob = cluster.connect(2);
    cluster.app(2).users.sign_in("bob", &bob.handle);
    cluster.nodes[2].adapter.user_signed_in(&cluster.app(2), "bob").await;
    let online = watcher.next().await;
    assert_eq!(online["event"], "pusher_internal:watchlist_events");
    assert!(online["data"].as_str().unwrap().contains("online"));
    assert_eq!(cluster.nodes[1].adapter.online_users(&cluster.app(1), &["bob".into(), "nobody".into()]).await, vec![true, false]);

    cluster.nodes[0].adapter.terminate_user(&cluster.app(0), "bob").await;
    let code = tokio::time::timeout(WAIT, bob.inbox.closed()).await.expect("bob's socket is asked to close");
    assert_eq!(code.code, 4009);
    cluster.app(2).users.sign_out("bob", &bob.handle.socket_id);
    cluster.nodes[2].adapter.user_signed_out(&cluster.app(2), "bob").await;
    let offline = watcher.next().await;
    assert!(offline["data"].as_str().unwrap().contains("offline"));
}

async fn server_to_user_reaches_signed_in_sockets_on_other_nodes(cluster: Cluster) {
    let mut ann = cluster.connect(1);
    cluster.app(1).users.sign_in("ann", &ann.handle);
    cluster.nodes[1].adapter.user_signed_in(&cluster.app(1), "ann").await;
    let mut other = cluster.connect(2);
    cluster.app(2).users.sign_in("zed", &other.handle);
    publish(&cluster, 0, "#server-to-user-ann", "hello", None).await;
    publish(&cluster, 0, "#server-to-user-zed", "marker", None).await;
    assert_eq!(ann.next_event().await["event"], "hello");
    other.expect_marker_first("marker").await;
}

async fn connection_limit_is_cluster_wide(cluster: Cluster) {
    let mut admitted = 0;
    for node in [0, 1, 2, 0, 1] {
        let client = cluster.connect(node);
        if cluster.nodes[node].adapter.connection_opened(&cluster.app(node)).await {
            admitted += 1;
        } else {
            cluster.app(node).remove_connection(&client.handle.socket_id);
        }
    }
    assert_eq!(admitted, 4, "max_connections = 4 across the cluster");
}

/// Takes `amount` from the app's HTTP API budget of `kind` through `node`'s adapter.
async fn take(cluster: &Cluster, node: usize, kind: BudgetKind, amount: usize) -> bool {
    let app = cluster.app(node);
    let budget = app.budget(kind).expect("the app has a budget");
    cluster.nodes[node].adapter.take_from_budget(&app, kind, &budget, amount).await
}

async fn backend_event_budget_is_cluster_wide(cluster: Cluster) {
    // Two per second, a second's worth at once, spent across the nodes rather than per node
    // (a token takes 500 ms to come back, far longer than these calls).
    let events = BudgetKind::BackendEvents;
    assert!(take(&cluster, 0, events, 1).await);
    assert!(!take(&cluster, 1, events, 2).await, "one left across the cluster: a request for two takes nothing");
    assert!(take(&cluster, 2, events, 1).await);
    assert!(!take(&cluster, 0, events, 1).await, "spent on nodes 0 and 2 together");
    // Read requests have a budget of their own, shared the same way.
    let reads = BudgetKind::ReadRequests;
    assert!(take(&cluster, 1, reads, 1).await, "reads are not spent by events");
    assert!(take(&cluster, 2, reads, 1).await);
    assert!(!take(&cluster, 0, reads, 1).await, "two reads spent on nodes 1 and 2");
}

/// While Redis cannot be reached, a node spends its own bucket: the limit still holds per
/// node instead of every request failing or passing unchecked.
#[tokio::test]
async fn without_redis_a_node_spends_its_own_budget() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let config = Config {
        apps: vec![app_config()],
        adapter: AdapterKind::Redis,
        redis_url: format!("redis://127.0.0.1:{port}"),
        redis_timeout_ms: 200,
        ..Config::default()
    };
    let adapter = herald::adapter::redis::RedisAdapter::new(&config).unwrap();
    let state = Shared::new(config, adapter, true);
    let app = state.app_by_id("1").unwrap();
    let kind = BudgetKind::BackendEvents;
    let budget = app.budget(kind).expect("the app has a budget");
    assert!(state.adapter.take_from_budget(&app, kind, &budget, 2).await, "a full local budget of two");
    assert!(!state.adapter.take_from_budget(&app, kind, &budget, 1).await, "and nothing more");
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod local {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Cluster::local().await).await })*
        }
        mod redis {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name(super::Cluster::redis().await).await })*
        }
    };
}

conformance!(
    publish_reaches_every_node_once_except_the_excluded,
    publishes_through_one_node_keep_their_order,
    occupied_and_vacated_are_decided_cluster_wide,
    presence_counts_users_across_nodes,
    presence_limit_is_cluster_wide,
    users_watchlists_and_termination_cross_nodes,
    server_to_user_reaches_signed_in_sockets_on_other_nodes,
    connection_limit_is_cluster_wide,
    backend_event_budget_is_cluster_wide,
);
