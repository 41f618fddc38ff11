//! A live stream of what happens on this node, for the debug console.
//!
//! Emitting costs one atomic load when nobody watches: events are built only while at least
//! one console is subscribed. Slow watchers lose events (a bounded broadcast ring), never the
//! server's time.

use serde::Serialize;
use tokio::sync::broadcast;

/// One thing that happened, as the console shows it.
#[derive(Debug, Clone, Serialize)]
pub struct TapEvent {
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    pub app: String,
    /// `connection_opened`, `connection_closed`, `subscribed`, `unsubscribed`, `api_event`,
    /// `client_event`, `webhook_sent`, `webhook_failed`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socket_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Free text: close code, data size, HTTP status…
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl TapEvent {
    pub fn new(app: &str, kind: &'static str) -> Self {
        let time_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        TapEvent { time_ms, app: app.to_string(), kind, socket_id: None, channel: None, event: None, detail: None }
    }
    pub fn socket(mut self, id: impl ToString) -> Self {
        self.socket_id = Some(id.to_string());
        self
    }
    pub fn channel(mut self, channel: impl Into<String>) -> Self {
        self.channel = Some(channel.into());
        self
    }
    pub fn event(mut self, event: impl Into<String>) -> Self {
        self.event = Some(event.into());
        self
    }
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

#[derive(Clone)]
pub struct Tap {
    tx: broadcast::Sender<TapEvent>,
}

impl Default for Tap {
    fn default() -> Self {
        Tap { tx: broadcast::channel(1024).0 }
    }
}

impl Tap {
    /// Emits the event `build` makes, if anyone is watching.
    pub fn emit(&self, build: impl FnOnce() -> TapEvent) {
        if self.tx.receiver_count() > 0 {
            let _ = self.tx.send(build());
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<TapEvent> {
        self.tx.subscribe()
    }
}
