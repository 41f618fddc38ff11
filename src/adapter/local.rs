//! The single-node adapter: the local hub is the whole cluster.

use async_trait::async_trait;
use bytestring::ByteString;

use super::Adapter;
use crate::hub::{AppHub, ChannelStats};
use crate::protocol::close_code;
use crate::protocol::socket_id::SocketId;

#[derive(Default)]
pub struct LocalAdapter;

#[async_trait]
impl Adapter for LocalAdapter {
    async fn publish(&self, app: &AppHub, channel: &str, frame: ByteString, except: Option<SocketId>) {
        app.broadcast(channel, &frame, except.as_ref());
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

    fn describe(&self) -> &'static str {
        "local"
    }
}
