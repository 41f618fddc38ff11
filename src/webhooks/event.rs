//! The webhook events herald reports, and their JSON form.

use serde_json::{json, Value};

#[derive(Debug, Clone, PartialEq)]
pub enum WebhookEvent {
    ChannelOccupied { channel: String },
    ChannelVacated { channel: String },
    MemberAdded { channel: String, user_id: String },
    MemberRemoved { channel: String, user_id: String },
    ClientEvent { channel: String, event: String, data: String, socket_id: String, user_id: Option<String> },
    CacheMiss { channel: String },
    SubscriptionCount { channel: String, subscription_count: usize },
}

impl WebhookEvent {
    pub fn name(&self) -> &'static str {
        match self {
            WebhookEvent::ChannelOccupied { .. } => "channel_occupied",
            WebhookEvent::ChannelVacated { .. } => "channel_vacated",
            WebhookEvent::MemberAdded { .. } => "member_added",
            WebhookEvent::MemberRemoved { .. } => "member_removed",
            WebhookEvent::ClientEvent { .. } => "client_event",
            WebhookEvent::CacheMiss { .. } => "cache_miss",
            WebhookEvent::SubscriptionCount { .. } => "subscription_count",
        }
    }

    pub fn channel(&self) -> &str {
        match self {
            WebhookEvent::ChannelOccupied { channel }
            | WebhookEvent::ChannelVacated { channel }
            | WebhookEvent::MemberAdded { channel, .. }
            | WebhookEvent::MemberRemoved { channel, .. }
            | WebhookEvent::ClientEvent { channel, .. }
            | WebhookEvent::CacheMiss { channel }
            | WebhookEvent::SubscriptionCount { channel, .. } => channel,
        }
    }

    /// The event object inside the webhook body. Every field is a string except the count,
    /// as the Go library's struct requires.
    pub fn to_json(&self) -> Value {
        let name = self.name();
        match self {
            WebhookEvent::ChannelOccupied { channel }
            | WebhookEvent::ChannelVacated { channel }
            | WebhookEvent::CacheMiss { channel } => json!({ "name": name, "channel": channel }),
            WebhookEvent::MemberAdded { channel, user_id } | WebhookEvent::MemberRemoved { channel, user_id } => {
                json!({ "name": name, "channel": channel, "user_id": user_id })
            }
            WebhookEvent::ClientEvent { channel, event, data, socket_id, user_id } => {
                let mut v = json!({ "name": name, "channel": channel, "event": event, "data": data, "socket_id": socket_id });
                if let Some(user_id) = user_id {
                    v["user_id"] = Value::String(user_id.clone());
                }
                v
            }
            WebhookEvent::SubscriptionCount { channel, subscription_count } => {
                json!({ "name": name, "channel": channel, "subscription_count": subscription_count })
            }
        }
    }
}
