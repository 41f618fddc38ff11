//! The cluster seam: how an event published on one node reaches subscribers on every node,
//! and how the HTTP API learns cluster-wide channel state.
//!
//! **Delivery contract:** `publish` delivers a frame to every subscriber of the channel on every
//! node exactly once, except the excluded socket. Frames published through one node to one
//! channel reach each subscriber in publish order. `publish` never waits for subscribers.
//!
//! **Architecture invariant:** an adapter never sees WebSocket sessions; it reaches local
//! connections only through the [`AppHub`], and other nodes only through its transport.

pub mod local;

use async_trait::async_trait;
use bytestring::ByteString;

use crate::hub::{AppHub, ChannelStats};
use crate::protocol::socket_id::SocketId;

#[async_trait]
pub trait Adapter: Send + Sync + 'static {
    /// Fans `frame` out to `channel`'s subscribers cluster-wide, except `except`.
    async fn publish(&self, app: &AppHub, channel: &str, frame: ByteString, except: Option<SocketId>);

    /// One channel's cluster-wide counts; `None` when no node has a subscriber.
    async fn channel_stats(&self, app: &AppHub, channel: &str) -> Option<ChannelStats>;

    /// Every occupied channel cluster-wide whose name starts with `prefix`.
    async fn channels(&self, app: &AppHub, prefix: &str) -> Vec<(String, ChannelStats)>;

    /// The distinct user ids in a presence channel, cluster-wide.
    async fn presence_users(&self, app: &AppHub, channel: &str) -> Vec<String>;

    /// Closes every socket signed in as `user_id`, on every node, with 4009.
    async fn terminate_user(&self, app: &AppHub, user_id: &str);

    /// Short state for `/ready` and logs, e.g. `"local"`.
    fn describe(&self) -> &'static str;
}
