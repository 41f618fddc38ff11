//! The single-node adapter: the local hub is the whole cluster.

use async_trait::async_trait;
use crate::protocol::ws::Frame;

use super::Adapter;
use crate::hub::conn::ConnHandle;
use crate::hub::presence::Member;
use crate::hub::{AppHub, ChannelStats, PresenceView, SubscribeError, Subscribed, Unsubscribed};
use crate::protocol::close_code;
use crate::protocol::socket_id::SocketId;

#[derive(Default)]
pub struct LocalAdapter;

#[async_trait]
impl Adapter for LocalAdapter {
    async fn publish(&self, app: &AppHub, channel: &str, frame: Frame, except: Option<SocketId>) {
        app.broadcast(channel, &frame, except.as_ref());
    }

    async fn subscribe(&self, app: &AppHub, channel: &str, conn: &ConnHandle, member: Option<Member>) -> Result<Subscribed, SubscribeError> {
        app.subscribe(channel, conn, member, PresenceView::Local)
    }

    async fn unsubscribe(&self, app: &AppHub, channel: &str, socket_id: &SocketId) -> Option<Unsubscribed> {
        app.unsubscribe(channel, socket_id)
    }

    async fn connection_opened(&self, app: &AppHub) -> bool {
        let max = app.config().max_connections;
        // The new socket is already registered locally.
        max == 0 || app.connection_count() as u64 <= max
    }

    async fn connection_closed(&self, _app: &AppHub) {}

    async fn user_signed_in(&self, app: &AppHub, user_id: &str) {
        if app.users.socket_count(user_id) == 1 {
            app.users.notify_watchers(user_id, true);
        }
    }

    async fn user_signed_out(&self, app: &AppHub, user_id: &str) {
        if !app.users.is_online(user_id) {
            app.users.notify_watchers(user_id, false);
        }
    }

    async fn online_users(&self, app: &AppHub, user_ids: &[String]) -> Vec<bool> {
        user_ids.iter().map(|u| app.users.is_online(u)).collect()
    }

    async fn channel_stats(&self, app: &AppHub, channel: &str) -> Option<ChannelStats> {
        app.channel_stats(channel)
    }

    async fn channels(&self, app: &AppHub, prefix: &str) -> Vec<(String, ChannelStats)> {
        app.channels(prefix)
    }

    async fn presence_users(&self, app: &AppHub, channel: &str) -> Vec<String> {
        app.presence_users(channel)
    }

    async fn terminate_user(&self, app: &AppHub, user_id: &str) {
        for conn in app.users.sockets_of(user_id) {
            conn.close(close_code::TERMINATED_BY_APP);
        }
    }

    fn status(&self) -> serde_json::Value {
        serde_json::json!({ "kind": "local" })
    }
}
