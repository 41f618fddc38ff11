//! Webhooks: telling the app's server what happened, signed, batched and retried.
//!
//! Flow: [`Webhooks::emit`] enqueues without waiting (a full queue drops the event and logs
//! it) → the dispatcher task holds `channel_vacated`/`member_removed` back for the leave
//! delay and cancels them when the channel or member returns, gathers each app's events for
//! the batch window, and hands each target its filtered batch → [`delivery::deliver`] posts it
//! and retries with backoff until the retry horizon.
//!
//! **Architecture invariant:** nothing that serves a socket or an API request ever awaits a
//! webhook; the only link is a bounded queue and `try_send`.

pub mod delivery;
mod dispatcher;
pub mod event;

use arc_swap::ArcSwap;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use crate::config::{AppConfig, Config};
pub use event::WebhookEvent;

/// What the dispatcher receives.
pub(crate) enum Command {
    /// `hold`: apply the leave delay and cancellation (false when the caller already did).
    Event { app_id: Arc<str>, event: WebhookEvent, hold: bool },
    /// Send everything held back now and report when all deliveries have finished.
    Flush(oneshot::Sender<()>),
}

/// The apps that have webhook targets, by id; replaced whole when a reload changes the apps.
pub(crate) type Targets = Arc<ArcSwap<HashMap<Arc<str>, Arc<AppConfig>>>>;

/// A cheap-to-clone handle for emitting webhook events.
#[derive(Clone)]
pub struct Webhooks {
    tx: mpsc::Sender<Command>,
    targets: Targets,
}

impl Webhooks {
    /// Starts the dispatcher on the current runtime.
    pub fn start(config: &Config, tap: crate::tap::Tap) -> Webhooks {
        let (tx, rx) = mpsc::channel(config.webhook_queue_size);
        let targets: Targets = Arc::new(ArcSwap::from_pointee(targets_of(&config.apps)));
        let settings = dispatcher::Settings {
            leave_delay: Duration::from_millis(config.webhook_leave_delay_ms),
            batch_window: Duration::from_millis(config.webhook_batch_ms),
            timeout: Duration::from_secs(config.webhook_timeout),
            horizon: Duration::from_secs(config.webhook_retry_horizon),
        };
        tokio::spawn(dispatcher::run(targets.clone(), settings, rx, tap));
        Webhooks { tx, targets }
    }

    /// Takes the targets of reloaded apps. Batches not yet sent go to the new targets; an
    /// app that no longer has any (or is gone) has its pending events dropped.
    pub fn set_apps(&self, apps: &[AppConfig]) {
        self.targets.store(Arc::new(targets_of(apps)));
    }

    /// Queues the event `make` builds if `app` has webhook targets; for an app without any,
    /// `make` is never called, so callers on hot paths (every relayed client event) copy
    /// nothing. Never waits.
    pub fn emit(&self, app: &AppConfig, make: impl FnOnce() -> WebhookEvent) {
        if !app.webhooks.is_empty() {
            self.enqueue(app, make(), true);
        }
    }

    /// Like [`Webhooks::emit`], for a leave whose delay and cancellation were already applied
    /// elsewhere (the cluster adapter holds leaves in Redis so any node can cancel them).
    pub fn emit_released(&self, app: &AppConfig, event: WebhookEvent) {
        self.enqueue(app, event, false);
    }

    fn enqueue(&self, app: &AppConfig, event: WebhookEvent, hold: bool) {
        if app.webhooks.is_empty() {
            return;
        }
        let name = event.name();
        if self.tx.try_send(Command::Event { app_id: Arc::from(app.id.as_str()), event, hold }).is_err() {
            crate::metrics::webhook(&app.id, "dropped");
            tracing::warn!(app = %app.id, event = name, "webhook event dropped: the webhook queue is full");
        }
    }

    /// Sends everything held back and waits (up to `limit`) for deliveries to finish.
    pub async fn flush(&self, limit: Duration) {
        let (done_tx, done_rx) = oneshot::channel();
        if self.tx.send(Command::Flush(done_tx)).await.is_ok() {
            if tokio::time::timeout(limit, done_rx).await.is_err() {
                tracing::warn!("grace period ended before every webhook was delivered");
            }
        }
    }
}

fn targets_of(apps: &[AppConfig]) -> HashMap<Arc<str>, Arc<AppConfig>> {
    apps.iter().filter(|a| !a.webhooks.is_empty()).map(|a| (Arc::from(a.id.as_str()), Arc::new(a.clone()))).collect()
}
