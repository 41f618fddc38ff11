//! Messages nodes exchange over one Redis pub/sub channel (`P:bus`), and the task that
//! receives them.

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Weak};
use std::time::Duration;

use super::RedisAdapter;
use crate::hub::AppHub;
use crate::protocol::close_code;
use crate::protocol::socket_id::SocketId;
use crate::protocol::ws::Frame;
use crate::state::Shared;

/// One message on the bus. `node` is the sender, which ignores its own messages (it already
/// acted locally before publishing).
#[derive(Serialize, Deserialize)]
pub struct BusMessage {
    pub node: String,
    pub app: String,
    #[serde(flatten)]
    pub body: BusBody,
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum BusBody {
    /// Deliver `frame` to local subscribers of `channel`, except `except`.
    Publish { channel: String, frame: String, except: Option<String> },
    /// Remember `frame` as the cached event of a cache channel.
    Cache { channel: String, data: String, frame: String },
    /// Close every local socket signed in as `user`.
    Terminate { user: String },
    /// `user` came online (true) or went offline (false) cluster-wide.
    Watch { user: String, online: bool },
}

impl BusMessage {
    /// Applies a message from another node to this node's hub.
    fn apply(self, app: &AppHub) {
        match self.body {
            BusBody::Publish { channel, frame, except } => {
                let except = except.as_deref().and_then(SocketId::parse);
                app.broadcast(&channel, &Frame::text(&frame), except.as_ref());
            }
            BusBody::Cache { channel, data, frame } => app.cache.store(&channel, &data, Frame::text(&frame)),
            BusBody::Terminate { user } => {
                for conn in app.users.sockets_of(&user) {
                    conn.close(close_code::TERMINATED_BY_APP);
                }
            }
            BusBody::Watch { user, online } => app.users.notify_watchers(&user, online),
        }
    }
}

/// Subscribes to the bus and applies what other nodes send, reconnecting with backoff.
/// Traffic published while this node is disconnected is lost (documented in clustering.md).
pub async fn run(adapter: Arc<RedisAdapter>, state: Weak<Shared>) {
    let mut backoff = Duration::from_millis(250);
    loop {
        match listen(&adapter, &state).await {
            Ok(()) => return, // the server state is gone: shutting down
            Err(e) => {
                adapter.set_bus_connected(false);
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "cluster bus disconnected from Redis; reconnecting");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

async fn listen(adapter: &Arc<RedisAdapter>, state: &Weak<Shared>) -> redis::RedisResult<()> {
    let mut pubsub = adapter.client.get_async_pubsub().await?;
    pubsub.subscribe(adapter.bus_channel()).await?;
    adapter.set_bus_connected(true);
    tracing::info!(node = %adapter.node_id, "cluster bus connected");
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let Some(state) = state.upgrade() else { return Ok(()) };
        let parsed: BusMessage = match serde_json::from_slice(message.get_payload_bytes()) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a malformed cluster bus message");
                continue;
            }
        };
        if parsed.node == adapter.node_id {
            continue;
        }
        if let Some(app) = state.app_by_id(&parsed.app) {
            parsed.apply(&app);
        }
    }
    Err(redis::RedisError::from((redis::ErrorKind::Io, "the bus connection closed")))
}
