//! Publishing to herald. Everything nexora sends goes through [`Realtime`], over herald's
//! signed HTTP API client (`herald::rest_client`); the auth endpoints sign with the same client.
//!
//! **Invariant:** callers store first and publish second. A failed publish is logged and
//! counted, never returned as an error: the data is safe in the database and clients catch up
//! from history when they reconnect.

use herald::protocol::socket_id::SocketId;
use herald::rest_client::{BatchEvent, RestClient};
use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Clone)]
pub struct Realtime {
    client: RestClient,
    /// Events per batch request; herald's `max_batch_size` (10 by default).
    batch_size: usize,
    stats: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    published: AtomicU64,
    failed: AtomicU64,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct PublishStats {
    pub published: u64,
    pub failed: u64,
}

/// One event to publish, with its data already serialized.
pub struct Outgoing {
    pub channel: String,
    pub event: &'static str,
    pub data: String,
}

impl Outgoing {
    pub fn new(channel: String, event: &'static str, data: &impl Serialize) -> Outgoing {
        Outgoing { channel, event, data: serde_json::to_string(data).expect("event payloads serialize") }
    }
}

impl Realtime {
    pub fn new(client: RestClient, batch_size: usize) -> Realtime {
        Realtime { client, batch_size: batch_size.max(1), stats: Arc::default() }
    }

    pub fn client(&self) -> &RestClient {
        &self.client
    }

    /// Publishes one event; `except` (the sender's socket id) does not receive it.
    /// Returns whether herald accepted it.
    pub async fn publish(&self, channel: &str, event: &'static str, data: &impl Serialize, except: Option<&str>) -> bool {
        self.publish_prepared(&Outgoing::new(channel.to_string(), event, data), except).await
    }

    pub async fn publish_prepared(&self, e: &Outgoing, except: Option<&str>) -> bool {
        let except = except.filter(|id| SocketId::is_well_formed(id));
        match self.client.trigger(&[&e.channel], e.event, &e.data, except).await {
            Ok(_) => {
                self.stats.published.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(err) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(channel = %e.channel, event = e.event, error = %err, "publish failed; clients will catch up from history");
                false
            }
        }
    }

    /// Publishes many events with batch requests of at most `batch_size` each. Returns how
    /// many events herald accepted.
    pub async fn publish_many(&self, events: Vec<Outgoing>) -> usize {
        let mut accepted = 0;
        for chunk in events.chunks(self.batch_size) {
            let batch: Vec<BatchEvent> = chunk
                .iter()
                .map(|e| BatchEvent { channel: e.channel.clone(), name: e.event.to_string(), data: e.data.clone(), socket_id: None })
                .collect();
            match self.client.trigger_batch(&batch).await {
                Ok(_) => {
                    self.stats.published.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    accepted += chunk.len();
                }
                Err(e) => {
                    self.stats.failed.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                    tracing::warn!(events = chunk.len(), error = %e, "batch publish failed; clients will catch up from history");
                }
            }
        }
        accepted
    }

    pub fn stats(&self) -> PublishStats {
        PublishStats { published: self.stats.published.load(Ordering::Relaxed), failed: self.stats.failed.load(Ordering::Relaxed) }
    }
}
