//! The dispatcher task: leave delays, cancellation, per-app batching, fan-out to targets.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{sleep_until, Instant};

use super::delivery::{self, Delivery};
use super::{Command, WebhookEvent};

pub struct Settings {
    pub leave_delay: Duration,
    pub batch_window: Duration,
    pub timeout: Duration,
    pub horizon: Duration,
}

/// What identifies a "leave" that a later "join" cancels.
#[derive(Hash, PartialEq, Eq, Clone)]
struct LeaveKey {
    app_id: Arc<str>,
    channel: String,
    /// Set for member_removed / member_added.
    user_id: Option<String>,
}

struct State {
    apps: super::Targets,
    settings: Settings,
    client: reqwest::Client,
    /// Leaves waiting out the delay, with their deadline.
    held: HashMap<LeaveKey, (Instant, WebhookEvent)>,
    /// Events gathered per app, with the moment the batch must go.
    batches: HashMap<Arc<str>, (Instant, Vec<WebhookEvent>)>,
    deliveries: JoinSet<()>,
    tap: crate::tap::Tap,
}

pub async fn run(apps: super::Targets, settings: Settings, mut rx: mpsc::Receiver<Command>, tap: crate::tap::Tap) {
    let client = reqwest::Client::builder()
        .connect_timeout(settings.timeout)
        .pool_idle_timeout(Duration::from_secs(60))
        // PHP's library reads `X-Pusher-Key` with exactly this capitalisation.
        .http1_title_case_headers()
        .user_agent(concat!("herald/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("the HTTP client builds with static settings");
    let mut state = State { apps, settings, client, held: HashMap::new(), batches: HashMap::new(), deliveries: JoinSet::new(), tap };
    let mut flush_waiters = Vec::new();
    loop {
        // Reap finished deliveries so the set does not grow.
        while state.deliveries.try_join_next().is_some() {}
        let next = state.next_deadline();
        tokio::select! {
            command = rx.recv() => match command {
                Some(Command::Event { app_id, event, hold: true }) => state.accept(app_id, event),
                Some(Command::Event { app_id, event, hold: false }) => state.batch(app_id, event),
                Some(Command::Flush(done)) => {
                    state.release_all();
                    flush_waiters.push(done);
                }
                None => {
                    state.release_all();
                    while state.deliveries.join_next().await.is_some() {}
                    return;
                }
            },
            _ = sleep_until(next.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600))), if next.is_some() => state.release_due(Instant::now()),
            Some(_) = state.deliveries.join_next(), if !flush_waiters.is_empty() => {}
        }
        if !flush_waiters.is_empty() && state.deliveries.is_empty() && state.held.is_empty() && state.batches.is_empty() {
            for done in flush_waiters.drain(..) {
                let _ = done.send(());
            }
        }
    }
}

impl State {
    fn accept(&mut self, app_id: Arc<str>, event: WebhookEvent) {
        let key = |user: Option<&String>| LeaveKey { app_id: app_id.clone(), channel: event.channel().to_string(), user_id: user.cloned() };
        match &event {
            WebhookEvent::ChannelVacated { .. } | WebhookEvent::MemberRemoved { .. } if !self.settings.leave_delay.is_zero() => {
                let user = match &event {
                    WebhookEvent::MemberRemoved { user_id, .. } => Some(user_id),
                    _ => None,
                };
                let k = key(user);
                self.held.insert(k, (Instant::now() + self.settings.leave_delay, event));
            }
            WebhookEvent::ChannelOccupied { .. } if self.held.remove(&key(None)).is_some() => {
                // The channel came back within the delay: neither vacated nor occupied is sent.
            }
            WebhookEvent::MemberAdded { user_id, .. } if self.held.remove(&key(Some(user_id))).is_some() => {}
            _ => self.batch(app_id, event),
        }
    }

    fn batch(&mut self, app_id: Arc<str>, event: WebhookEvent) {
        let window = self.settings.batch_window;
        self.batches.entry(app_id).or_insert_with(|| (Instant::now() + window, Vec::new())).1.push(event);
    }

    fn next_deadline(&self) -> Option<Instant> {
        let held = self.held.values().map(|(t, _)| *t);
        let batches = self.batches.values().map(|(t, _)| *t);
        held.chain(batches).min()
    }

    fn release_due(&mut self, now: Instant) {
        let due: Vec<LeaveKey> = self.held.iter().filter(|(_, (t, _))| *t <= now).map(|(k, _)| k.clone()).collect();
        for k in due {
            if let Some((_, event)) = self.held.remove(&k) {
                self.batch(k.app_id, event);
            }
        }
        let ready: Vec<Arc<str>> = self.batches.iter().filter(|(_, (t, _))| *t <= now).map(|(k, _)| k.clone()).collect();
        for app_id in ready {
            if let Some((_, events)) = self.batches.remove(&app_id) {
                self.send(&app_id, events);
            }
        }
    }

    /// Releases held leaves and every batch immediately (shutdown).
    fn release_all(&mut self) {
        let held: Vec<(LeaveKey, (Instant, WebhookEvent))> = self.held.drain().collect();
        for (k, (_, event)) in held {
            self.batch(k.app_id, event);
        }
        let batches: Vec<_> = self.batches.drain().collect();
        for (app_id, (_, events)) in batches {
            self.send(&app_id, events);
        }
    }

    /// One request per target, each with the events its filters let through.
    fn send(&mut self, app_id: &Arc<str>, events: Vec<WebhookEvent>) {
        let Some(app) = self.apps.load().get(app_id).cloned() else { return };
        let time_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        for target in &app.webhooks {
            let selected: Vec<serde_json::Value> = events
                .iter()
                .filter(|e| target.event_types.as_ref().is_none_or(|types| types.iter().any(|t| t == e.name())))
                .filter(|e| target.channel_prefix.as_ref().is_none_or(|p| e.channel().starts_with(p.as_str())))
                .map(WebhookEvent::to_json)
                .collect();
            if selected.is_empty() {
                continue;
            }
            let body = serde_json::json!({ "time_ms": time_ms, "events": selected }).to_string().into_bytes();
            let delivery = Delivery {
                app_id: app.id.clone(),
                key: app.key.clone(),
                secret: app.secret.clone(),
                target: Arc::new(target.clone()),
                event_count: selected.len(),
                body,
            };
            self.deliveries.spawn(delivery::deliver(self.client.clone(), delivery, self.settings.timeout, self.settings.horizon, self.tap.clone()));
        }
    }
}
