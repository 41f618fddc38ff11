//! What a connection does with each client message. Replies go through the connection's own
//! queue so they stay ordered with the events other parts of the server enqueue.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use super::rate_limit::RateLimiter;
use crate::hub::conn::ConnHandle;
use crate::hub::presence::Member;
use crate::hub::{users, AppHub, SubscribeError, Subscribed, Unsubscribed};
use crate::protocol::channel::{ChannelKind, ChannelType};
use crate::protocol::close_code;
use crate::protocol::inbound::{self, ClientMessage, Subscribe};
use crate::protocol::socket_id::SocketId;
use crate::protocol::{names, outbound, token};
use crate::state::State;
use crate::metrics;
use crate::tap::TapEvent;
use crate::webhooks::WebhookEvent;

/// Longest accepted user id (sign-in `id`, presence `user_id`); the libraries allow 200.
const MAX_USER_ID_LENGTH: usize = 200;

/// The state of one connection that only its own task touches.
pub struct Connection {
    state: State,
    app: Arc<AppHub>,
    handle: ConnHandle,
    socket_id: String,
    /// Channels this socket joined (successfully).
    subscriptions: HashMap<String, ()>,
    limiter: RateLimiter,
    /// The user this socket signed in as (`pusher:signin`).
    user: Option<SignedInUser>,
    /// Signed in, or joined a private/presence channel (for `authorized_connections`).
    authorized: bool,
}

#[derive(Clone)]
struct SignedInUser {
    id: String,
    user_info: Value,
    watchlist: Vec<String>,
}

/// Why a subscription was refused: the text for the client and the HTTP-like status that
/// pusher-js surfaces in `pusher:subscription_error`.
struct Refusal {
    status: u16,
    kind: &'static str,
    message: String,
}

impl Refusal {
    fn auth(message: impl Into<String>) -> Self {
        Refusal { status: 401, kind: "AuthError", message: message.into() }
    }
    fn invalid(message: impl Into<String>) -> Self {
        Refusal { status: 400, kind: "InvalidChannel", message: message.into() }
    }
}

impl Connection {
    /// `socket_id` is `handle.socket_id` as text, which the caller has already formatted.
    pub fn new(state: State, app: Arc<AppHub>, handle: ConnHandle, socket_id: String) -> Self {
        let limiter = RateLimiter::default();
        Connection { state, app, handle, socket_id, subscriptions: HashMap::new(), limiter, user: None, authorized: false }
    }

    pub fn socket_id(&self) -> SocketId {
        self.handle.socket_id
    }

    pub fn is_authorized(&self) -> bool {
        self.authorized
    }

    pub fn send_error(&self, code: Option<u16>, message: &str) {
        self.handle.send(outbound::error(code, message));
    }

    pub async fn handle_text(&mut self, text: &str) {
        let message = match inbound::parse(text) {
            Ok(m) => m,
            Err(e) => return self.send_error(None, &e.0),
        };
        match message {
            ClientMessage::Ping => {
                self.handle.send(outbound::pong());
            }
            ClientMessage::Pong => {}
            ClientMessage::Subscribe(sub) => self.subscribe(sub).await,
            ClientMessage::Unsubscribe { channel } => self.unsubscribe(&channel).await,
            ClientMessage::Signin { auth, user_data } => self.signin(auth.as_deref(), user_data.as_deref()).await,
            ClientMessage::ClientEvent { event, channel, data } => self.client_event(&event, channel.as_deref(), data).await,
            ClientMessage::Unknown { event } => {
                self.send_error(None, &format!("Unsupported event '{}'", event.chars().take(200).collect::<String>()))
            }
        }
    }

    async fn subscribe(&mut self, sub: Subscribe) {
        let channel = sub.channel.clone();
        let kind = ChannelType::of(&channel);
        let result = match self.authorize(&sub) {
            Err(refusal) => Err(refusal),
            // Delivered through the users index, not the channel index: just confirm.
            Ok(_) if kind.kind == ChannelKind::ServerToUser => {
                self.handle.send(outbound::subscription_succeeded_empty(&channel));
                Ok(None)
            }
            Ok(member) => self.state.adapter.subscribe(&self.app, &channel, &self.handle, member).await.map(Some).map_err(|e| match e {
                SubscribeError::PresenceFull { limit } => Refusal {
                    status: 403,
                    kind: "LimitReached",
                    message: format!("Presence channel is full: it already has the maximum of {limit} members"),
                },
            }),
        };
        match result {
            Ok(outcome) => {
                if matches!(kind.kind, ChannelKind::Private | ChannelKind::PrivateEncrypted | ChannelKind::Presence) {
                    self.authorized = true;
                }
                self.state.tap.emit(|| TapEvent::new(self.app.id(), "subscribed").socket(&self.socket_id).channel(&channel));
                let Some(outcome) = outcome else { return };
                self.subscriptions.insert(channel.clone(), ());
                self.report_subscribed(&channel, outcome);
            }
            Err(refusal) => {
                self.state.tap.emit(|| {
                    TapEvent::new(self.app.id(), "subscription_refused").socket(&self.socket_id).channel(&channel).detail(&refusal.message)
                });
                let data = serde_json::json!({ "type": refusal.kind, "error": refusal.message, "status": refusal.status });
                self.handle.send(outbound::event_json("pusher:subscription_error", Some(&channel), &data));
                self.send_error(None, &refusal.message);
            }
        }
    }

    fn report_subscribed(&self, channel: &str, outcome: Subscribed) {
        let (webhooks, app) = (&self.state.webhooks, self.app.config());
        let channel = || channel.to_string();
        if outcome.occupied {
            webhooks.emit(&app, || WebhookEvent::ChannelOccupied { channel: channel() });
        }
        if let Some(member) = outcome.member_added {
            webhooks.emit(&app, || WebhookEvent::MemberAdded { channel: channel(), user_id: member.key });
        }
        if outcome.cache_miss {
            webhooks.emit(&app, || WebhookEvent::CacheMiss { channel: channel() });
        }
        if let Some(count) = outcome.count_sent {
            webhooks.emit(&app, || WebhookEvent::SubscriptionCount { channel: channel(), subscription_count: count });
        }
    }

    fn report_unsubscribed(&self, channel: &str, outcome: Unsubscribed) {
        let (webhooks, app) = (&self.state.webhooks, self.app.config());
        let channel = || channel.to_string();
        if let Some(member) = outcome.member_removed {
            webhooks.emit(&app, || WebhookEvent::MemberRemoved { channel: channel(), user_id: member.key });
        }
        if let Some(count) = outcome.count_sent {
            if count > 0 {
                webhooks.emit(&app, || WebhookEvent::SubscriptionCount { channel: channel(), subscription_count: count });
            }
        }
        if outcome.vacated {
            webhooks.emit(&app, || WebhookEvent::ChannelVacated { channel: channel() });
        }
    }

    /// Checks the name and the signature; on presence channels returns the member to add.
    fn authorize(&self, sub: &Subscribe) -> Result<Option<Member>, Refusal> {
        let config = self.app.config();
        names::validate_channel_name(&sub.channel, config.max_channel_name_length).map_err(Refusal::invalid)?;
        let kind = ChannelType::of(&sub.channel);
        match kind.kind {
            ChannelKind::Public => Ok(None),
            ChannelKind::ServerToUser => match &self.user {
                Some(user) if Some(user.id.as_str()) == kind.server_to_user => Ok(None),
                _ => Err(Refusal::auth("Only a connection signed in as this user may subscribe to its server-to-user channel")),
            },
            ChannelKind::Private | ChannelKind::PrivateEncrypted => {
                let to_sign = token::channel_string_to_sign(&self.socket_id, &sub.channel, None);
                token::verify_with(sub.auth.as_deref(), |key| config.secret_for(key), &to_sign).map_err(|e| Refusal::auth(e.to_string()))?;
                Ok(None)
            }
            ChannelKind::Presence => {
                let to_sign = token::channel_string_to_sign(&self.socket_id, &sub.channel, sub.channel_data.as_deref());
                token::verify_with(sub.auth.as_deref(), |key| config.secret_for(key), &to_sign).map_err(|e| Refusal::auth(e.to_string()))?;
                match sub.channel_data.as_deref() {
                    Some(data) => self.member_from_channel_data(data).map(Some),
                    None => match &self.user {
                        Some(user) => Ok(Some(Member {
                            key: user.id.clone(),
                            user_id: Value::String(user.id.clone()),
                            user_info: user.user_info.clone(),
                        })),
                        None => Err(Refusal::auth("Presence channels need channel_data with a user_id, or a signed-in connection")),
                    },
                }
            }
        }
    }

    fn member_from_channel_data(&self, data: &str) -> Result<Member, Refusal> {
        let value: Value = serde_json::from_str(data)
            .map_err(|_| Refusal::invalid("Invalid channel_data: it must be a JSON object string with a user_id"))?;
        let (key, user_id) = match value.get("user_id") {
            Some(Value::String(s)) => (s.clone(), Value::String(s.clone())),
            Some(Value::Number(n)) => (n.to_string(), Value::Number(n.clone())),
            _ => return Err(Refusal::invalid("Invalid channel_data: user_id must be a non-empty string or a number")),
        };
        names::validate_user_id(&key, MAX_USER_ID_LENGTH).map_err(|e| Refusal::invalid(format!("Invalid channel_data: {e}")))?;
        let user_info = value.get("user_info").cloned().unwrap_or(Value::Null);
        let limit = self.app.config().max_presence_user_info_bytes;
        let size = user_info.to_string().len();
        if size > limit {
            return Err(Refusal {
                status: 413,
                kind: "LimitReached",
                message: format!("Presence user_info is {size} bytes; the limit is {limit} bytes"),
            });
        }
        Ok(Member { key, user_id, user_info })
    }

    async fn unsubscribe(&mut self, channel: &str) {
        if self.subscriptions.remove(channel).is_some() {
            self.state.tap.emit(|| TapEvent::new(self.app.id(), "unsubscribed").socket(&self.socket_id).channel(channel));
            if let Some(outcome) = self.state.adapter.unsubscribe(&self.app, channel, &self.handle.socket_id).await {
                self.report_unsubscribed(channel, outcome);
            }
        }
    }

    async fn signin(&mut self, auth: Option<&str>, user_data: Option<&str>) {
        let Some(user_data) = user_data else {
            return self.send_error(None, "Invalid pusher:signin: data.user_data must be a JSON string");
        };
        let to_sign = token::user_string_to_sign(&self.socket_id, user_data);
        let config = self.app.config();
        if let Err(e) = token::verify_with(auth, |key| config.secret_for(key), &to_sign) {
            return self.send_error(None, &format!("Sign-in failed: {e}"));
        }
        let parsed: Value = match serde_json::from_str(user_data) {
            Ok(v @ Value::Object(_)) => v,
            _ => return self.send_error(None, "Sign-in failed: user_data must be a JSON object"),
        };
        let id = match parsed.get("id") {
            Some(Value::String(id)) if !id.is_empty() => id.clone(),
            _ => return self.send_error(None, "Sign-in failed: user_data must contain a non-empty string 'id'"),
        };
        if let Err(e) = names::validate_user_id(&id, MAX_USER_ID_LENGTH) {
            return self.send_error(None, &format!("Sign-in failed: {e}"));
        }
        if let Some(existing) = &self.user {
            if existing.id != id {
                return self.send_error(None, "Sign-in failed: this connection is already signed in as another user");
            }
        }
        let user_info = parsed.get("user_info").cloned().unwrap_or(Value::Null);
        let mut watchlist: Vec<String> = match parsed.get("watchlist") {
            Some(Value::Array(ids)) => ids.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
            _ => Vec::new(),
        };
        let max_watchlist = self.app.config().max_watchlist_size;
        let truncated = watchlist.len() > max_watchlist;
        watchlist.truncate(max_watchlist);
        if !self.app.config().watchlist_events {
            watchlist.clear();
        }

        if self.user.is_none() {
            self.app.users.sign_in(&id, &self.handle);
            self.state.adapter.user_signed_in(&self.app, &id).await;
        } else if let Some(previous) = &self.user {
            self.app.users.unwatch(&self.handle.socket_id, &previous.watchlist);
        }
        self.authorized = true;
        let data = serde_json::json!({ "user_data": user_data });
        self.handle.send(outbound::event_json("pusher:signin_success", None, &data));
        if truncated {
            self.send_error(
                Some(close_code::WATCHLIST_LIMIT),
                &format!("Watchlist limit exceeded: only the first {max_watchlist} user ids are watched"),
            );
        }
        if !watchlist.is_empty() {
            self.app.users.watch(&self.handle, &watchlist);
            let online = self.state.adapter.online_users(&self.app, &watchlist).await;
            let (on, off): (Vec<(&String, bool)>, Vec<(&String, bool)>) = watchlist.iter().zip(online).partition(|(_, o)| *o);
            let on: Vec<&str> = on.into_iter().map(|(w, _)| w.as_str()).collect();
            let off: Vec<&str> = off.into_iter().map(|(w, _)| w.as_str()).collect();
            self.handle.send(users::watchlist_frame(&on, &off));
        }
        self.user = Some(SignedInUser { id, user_info, watchlist });
    }

    async fn client_event(&mut self, event: &str, channel: Option<&str>, data: String) {
        let config = self.app.config().clone();
        if !config.client_events {
            metrics::client_event(&config.id, "disabled");
            return self.send_error(None, "Client events are disabled for this app; set client_events = true in its configuration");
        }
        let Some(channel) = channel else {
            metrics::client_event(&config.id, "invalid");
            return self.send_error(None, "Client event rejected: the 'channel' field is missing");
        };
        if !ChannelType::of(channel).allows_client_events() {
            metrics::client_event(&config.id, "channel_type");
            return self.send_error(None, "Client events are only supported on private and presence channels");
        }
        if !self.subscriptions.contains_key(channel) {
            metrics::client_event(&config.id, "not_subscribed");
            return self.send_error(None, &format!("Client event rejected: not subscribed to channel '{channel}'"));
        }
        if let Err(e) = names::validate_event_name(event, config.max_event_name_length) {
            metrics::client_event(&config.id, "invalid");
            return self.send_error(None, &format!("Client event rejected: {e}"));
        }
        if data.len() > config.max_event_data_bytes {
            let message = format!("Client event rejected: data is {} bytes; the limit is {} bytes", data.len(), config.max_event_data_bytes);
            metrics::client_event(&config.id, "too_large");
            return self.send_error(None, &message);
        }
        let limit = config.max_client_events_per_second;
        if !self.limiter.allow(Instant::now(), limit) {
            metrics::client_event(&config.id, "rate_limited");
            return self.send_error(
                Some(close_code::CLIENT_EVENT_RATE_LIMIT),
                &format!("Client event rejected due to rate limit ({limit} per second)"),
            );
        }
        let user_id = self.app.subscription(channel, &self.handle.socket_id).flatten();
        let frame = outbound::event(event, Some(channel), &data, user_id.as_deref());
        self.app.metrics.client_events_relayed.inc();
        self.state.tap.emit(|| {
            TapEvent::new(&config.id, "client_event").socket(&self.socket_id).channel(channel).event(event).detail(format!("{} bytes", data.len()))
        });
        self.state.webhooks.emit(&config, || WebhookEvent::ClientEvent {
            channel: channel.to_string(),
            event: event.to_string(),
            data,
            socket_id: self.socket_id.clone(),
            user_id,
        });
        self.state.adapter.publish(&self.app, channel, frame, Some(self.handle.socket_id)).await;
    }

    /// Leaves every channel (announcing departures); called once when the socket ends.
    pub async fn cleanup(&mut self) {
        let channels: Vec<String> = self.subscriptions.drain().map(|(c, ())| c).collect();
        for channel in channels {
            if let Some(outcome) = self.state.adapter.unsubscribe(&self.app, &channel, &self.handle.socket_id).await {
                self.report_unsubscribed(&channel, outcome);
            }
        }
        if let Some(user) = self.user.take() {
            self.app.users.unwatch(&self.handle.socket_id, &user.watchlist);
            self.app.users.sign_out(&user.id, &self.handle.socket_id);
            self.state.adapter.user_signed_out(&self.app, &user.id).await;
        }
    }
}
