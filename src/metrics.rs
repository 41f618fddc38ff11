//! Prometheus metrics, exposed on their own listener (`metrics_host:metrics_port/metrics`).
//!
//! One process-wide set (like a metrics facade): per-app handles are resolved once and kept in
//! each `AppHub`, so hot paths touch a pre-resolved atomic rather than a labelled map. Label
//! values are bounded: configured app ids, route patterns, close codes, fixed reasons — never
//! channel names or other client-controlled strings. docs/metrics.md lists every series.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::{LazyLock, Mutex};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AppLabel {
    pub app: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CloseLabels {
    pub app: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub app: String,
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ApiLabels {
    pub app: String,
    /// A route pattern, e.g. `/apps/{app_id}/events`.
    pub route: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabel {
    pub route: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabel {
    pub code: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabel {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabel {
    pub operation: String,
}

fn latency_histogram() -> Histogram {
    // 50 µs … ~1.6 s
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

pub struct Metrics {
    registry: Mutex<Registry>,
    pub connections: Family<AppLabel, Gauge>,
    pub connections_opened: Family<AppLabel, Counter>,
    pub connections_closed: Family<CloseLabels, Counter>,
    pub connections_refused: Family<CodeLabel, Counter>,
    pub messages_in: Family<AppLabel, Counter>,
    pub bytes_in: Family<AppLabel, Counter>,
    pub messages_out: Family<AppLabel, Counter>,
    pub bytes_out: Family<AppLabel, Counter>,
    pub client_events: Family<OutcomeLabels, Counter>,
    pub api_requests: Family<ApiLabels, Counter>,
    pub api_duration: Family<RouteLabel, Histogram, fn() -> Histogram>,
    pub fanout_duration: Family<AppLabel, Histogram, fn() -> Histogram>,
    pub slow_consumers: Family<AppLabel, Counter>,
    pub deliveries_dropped: Family<AppLabel, Counter>,
    pub webhooks: Family<OutcomeLabels, Counter>,
    pub occupied_channels: Family<AppLabel, Gauge>,
    pub presence_members: Family<AppLabel, Gauge>,
    pub redis_connected: Gauge,
    pub redis_errors: Family<OperationLabel, Counter>,
    pub redis_duration: Family<OperationLabel, Histogram, fn() -> Histogram>,
    pub config_reloads: Family<ResultLabel, Counter>,
    /// `api_request_duration_seconds` of [`PUBLISHING_ROUTES`], resolved once: nearly every
    /// API request is one of them.
    pub publishing_duration: [Histogram; 2],
}

/// The route patterns of `POST /apps/{id}/events` and `/batch_events`, as the metrics label
/// them.
pub const PUBLISHING_ROUTES: [&str; 2] = ["/apps/{app_id}/events", "/apps/{app_id}/batch_events"];

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    &METRICS
}

impl Metrics {
    fn new() -> Metrics {
        let api_duration: Family<RouteLabel, Histogram, fn() -> Histogram> = Family::new_with_constructor(latency_histogram as fn() -> Histogram);
        let m = Metrics {
            registry: Mutex::new(Registry::with_prefix("herald")),
            connections: Family::default(),
            connections_opened: Family::default(),
            connections_closed: Family::default(),
            connections_refused: Family::default(),
            messages_in: Family::default(),
            bytes_in: Family::default(),
            messages_out: Family::default(),
            bytes_out: Family::default(),
            client_events: Family::default(),
            api_requests: Family::default(),
            publishing_duration: PUBLISHING_ROUTES.map(|route| api_duration.get_or_create(&RouteLabel { route }).clone()),
            api_duration,
            fanout_duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            slow_consumers: Family::default(),
            deliveries_dropped: Family::default(),
            webhooks: Family::default(),
            occupied_channels: Family::default(),
            presence_members: Family::default(),
            redis_connected: Gauge::default(),
            redis_errors: Family::default(),
            redis_duration: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
            config_reloads: Family::default(),
        };
        {
            let mut r = m.registry.lock().expect("metrics registry lock");
            r.register("connections", "Open WebSocket connections on this node", m.connections.clone());
            r.register("connections_opened", "WebSocket connections accepted", m.connections_opened.clone());
            r.register("connections_closed", "WebSocket connections closed, by close code (none = closed by the client)", m.connections_closed.clone());
            r.register(
                "connections_refused",
                "WebSocket handshakes refused with a close code before the connection was admitted (unknown app, disabled, over quota, origin, protocol, shutting down)",
                m.connections_refused.clone(),
            );
            r.register("messages_in", "WebSocket messages received", m.messages_in.clone());
            r.register("bytes_in", "WebSocket message bytes received", m.bytes_in.clone());
            r.register("messages_out", "Frames queued to sockets by fan-out", m.messages_out.clone());
            r.register("bytes_out", "Bytes queued to sockets by fan-out", m.bytes_out.clone());
            r.register("client_events", "Client events, by outcome (relayed or the rejection reason)", m.client_events.clone());
            r.register("api_requests", "HTTP API requests, by route pattern and status", m.api_requests.clone());
            r.register("api_request_duration_seconds", "HTTP API request latency, by route pattern", m.api_duration.clone());
            r.register("fanout_duration_seconds", "Time from publish to the last local enqueue", m.fanout_duration.clone());
            r.register("slow_consumer_disconnects", "Sockets closed with 4100 because their queue was full", m.slow_consumers.clone());
            r.register("deliveries_dropped", "Frames that could not be queued to a socket", m.deliveries_dropped.clone());
            r.register("webhooks", "Webhook requests, by outcome (sent, retried, failed, dropped)", m.webhooks.clone());
            r.register("occupied_channels", "Channels with at least one subscriber on this node", m.occupied_channels.clone());
            r.register("presence_members", "Presence members summed over channels, on this node", m.presence_members.clone());
            r.register("redis_connected", "1 while the cluster adapter reaches Redis", m.redis_connected.clone());
            r.register("redis_errors", "Failed Redis operations, by operation", m.redis_errors.clone());
            r.register("redis_request_duration_seconds", "Redis round-trip latency, by operation", m.redis_duration.clone());
            r.register("config_reloads", "Configuration reloads (SIGHUP), by result (applied or failed)", m.config_reloads.clone());
        }
        m
    }

    /// The Prometheus text exposition of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().expect("metrics registry lock");
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("writing to a String cannot fail");
        out
    }
}

/// Per-app handles resolved once, for the hot paths.
pub struct AppMetrics {
    pub connections: Gauge,
    pub connections_opened: Counter,
    pub messages_in: Counter,
    pub bytes_in: Counter,
    pub messages_out: Counter,
    pub bytes_out: Counter,
    pub fanout_duration: Histogram,
    pub slow_consumers: Counter,
    pub deliveries_dropped: Counter,
    /// `client_events{outcome="relayed"}`, the per-event case; rejections use [`client_event`].
    pub client_events_relayed: Counter,
    /// `api_requests` of [`PUBLISHING_ROUTES`] answered 200, the per-request case.
    pub published_ok: [Counter; 2],
}

impl AppMetrics {
    pub fn for_app(app: &str) -> AppMetrics {
        let m = metrics();
        let label = AppLabel { app: app.to_string() };
        AppMetrics {
            connections: m.connections.get_or_create(&label).clone(),
            connections_opened: m.connections_opened.get_or_create(&label).clone(),
            messages_in: m.messages_in.get_or_create(&label).clone(),
            bytes_in: m.bytes_in.get_or_create(&label).clone(),
            messages_out: m.messages_out.get_or_create(&label).clone(),
            bytes_out: m.bytes_out.get_or_create(&label).clone(),
            fanout_duration: m.fanout_duration.get_or_create(&label).clone(),
            slow_consumers: m.slow_consumers.get_or_create(&label).clone(),
            deliveries_dropped: m.deliveries_dropped.get_or_create(&label).clone(),
            client_events_relayed: m
                .client_events
                .get_or_create(&OutcomeLabels { app: app.to_string(), outcome: "relayed".into() })
                .clone(),
            published_ok: PUBLISHING_ROUTES
                .map(|route| m.api_requests.get_or_create(&ApiLabels { app: app.to_string(), route, status: 200 }).clone()),
        }
    }
}

/// Counts a rejected client event under its fixed reason.
pub fn client_event(app: &str, outcome: &str) {
    metrics().client_events.get_or_create(&OutcomeLabels { app: app.to_string(), outcome: outcome.to_string() }).inc();
}

/// Counts a webhook request outcome.
pub fn webhook(app: &str, outcome: &str) {
    metrics().webhooks.get_or_create(&OutcomeLabels { app: app.to_string(), outcome: outcome.to_string() }).inc();
}
