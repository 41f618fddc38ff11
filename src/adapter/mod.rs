//! The cluster seam: how an event published on one node reaches subscribers on every node,
//! how membership (channels, presence, signed-in users, connection counts) is counted
//! cluster-wide, and how the HTTP API learns cluster-wide state.
//!
//! **Delivery contract:** `publish` delivers a frame to every subscriber of the channel on every
//! node exactly once, except the excluded socket. Frames published through one node to one
//! channel reach each subscriber in publish order. `publish` never waits for subscribers.
//!
//! **Membership contract:** the outcomes `subscribe`/`unsubscribe` and the user methods return
//! are cluster-wide: `occupied` only for the first subscriber anywhere, `member_added` only for
//! a user's first socket anywhere, and so on, so webhooks fire once per cluster.
//!
//! **Architecture invariant:** an adapter never sees WebSocket sessions; it reaches local
//! connections only through the [`AppHub`], and other nodes only through its transport.

pub mod local;
pub mod redis;

use async_trait::async_trait;
use crate::protocol::ws::Frame;

use crate::hub::budget::{Budget, BudgetKind};
use crate::hub::conn::ConnHandle;
use crate::hub::presence::Member;
use crate::hub::{AppHub, ChannelStats, SubscribeError, Subscribed, Unsubscribed};
use crate::protocol::socket_id::SocketId;

#[async_trait]
pub trait Adapter: Send + Sync + 'static {
    /// Fans `frame` out to `channel`'s subscribers cluster-wide, except `except`.
    async fn publish(&self, app: &AppHub, channel: &str, frame: Frame, except: Option<SocketId>);

    /// Joins `conn` to `channel` (sending it the confirmation) and announces a new member.
    async fn subscribe(&self, app: &AppHub, channel: &str, conn: &ConnHandle, member: Option<Member>) -> Result<Subscribed, SubscribeError>;

    /// Removes `socket_id` from `channel` and announces a departed member.
    async fn unsubscribe(&self, app: &AppHub, channel: &str, socket_id: &SocketId) -> Option<Unsubscribed>;

    /// Counts a new connection; false when the app's `max_connections` is reached cluster-wide.
    async fn connection_opened(&self, app: &AppHub) -> bool;

    async fn connection_closed(&self, app: &AppHub);

    /// The app's open connections cluster-wide.
    async fn connection_count(&self, app: &AppHub) -> usize {
        app.connection_count()
    }

    /// Records a signed-in socket (already in the local users index); tells watchers
    /// cluster-wide when the user just came online.
    async fn user_signed_in(&self, app: &AppHub, user_id: &str);

    /// Records a signed-out socket (already removed locally); tells watchers cluster-wide
    /// when the user just went offline.
    async fn user_signed_out(&self, app: &AppHub, user_id: &str);

    /// Which of `user_ids` are online anywhere.
    async fn online_users(&self, app: &AppHub, user_ids: &[String]) -> Vec<bool>;

    /// One channel's cluster-wide counts; `None` when no node has a subscriber.
    async fn channel_stats(&self, app: &AppHub, channel: &str) -> Option<ChannelStats>;

    /// Every occupied channel cluster-wide whose name starts with `prefix`.
    async fn channels(&self, app: &AppHub, prefix: &str) -> Vec<(String, ChannelStats)>;

    /// The distinct user ids in a presence channel, cluster-wide.
    async fn presence_users(&self, app: &AppHub, channel: &str) -> Vec<String>;

    /// Remembers the last event of a cache channel on every node.
    async fn store_cache(&self, app: &AppHub, channel: &str, data: &str, frame: Frame) {
        app.cache.store(channel, data, frame);
    }

    /// Closes every socket signed in as `user_id`, on every node, with 4009.
    async fn terminate_user(&self, app: &AppHub, user_id: &str);

    /// Called once on graceful shutdown after the node's sockets closed: sends anything held
    /// back and removes the node from the cluster.
    async fn drain(&self) {}

    /// Takes `amount` from the app's budget of `kind` (HTTP API events or read requests):
    /// false, taking nothing, when less is left. `budget` is this node's bucket; a cluster
    /// adapter shares one bucket between the nodes instead, and falls back to this node's while
    /// it cannot reach the others.
    async fn take_from_budget(&self, _app: &AppHub, _kind: BudgetKind, budget: &Budget, amount: usize) -> bool {
        budget.take(amount, std::time::Instant::now())
    }

    /// Short state for `/ready` and logs, e.g. `{"kind":"redis","connected":true}`.
    fn status(&self) -> serde_json::Value;

    /// False while the adapter cannot reach the rest of the cluster.
    fn is_healthy(&self) -> bool {
        true
    }
}
