//! The state every request handler and connection task shares.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use crate::adapter::Adapter;
use crate::config::Config;
use crate::hub::AppHub;
use crate::tap::Tap;
use crate::webhooks::Webhooks;

/// A cheap-to-clone handle to the server's shared state.
pub type State = Arc<Shared>;

pub struct Shared {
    pub config: Config,
    apps_by_id: HashMap<String, Arc<AppHub>>,
    apps_by_key: HashMap<String, Arc<AppHub>>,
    pub adapter: Arc<dyn Adapter>,
    pub webhooks: Webhooks,
    /// Live events for the debug console.
    pub tap: Tap,
    /// The listening socket, closed first on shutdown so new connections are refused.
    pub listener: std::sync::OnceLock<std::net::TcpListener>,
    /// Set on SIGTERM/SIGINT: `/ready` turns false and new sockets are refused.
    shutting_down: AtomicBool,
    /// WebSocket sessions not yet over, their goodbye included: what a shutdown drains.
    sessions: AtomicUsize,
    /// HTTP requests read and not yet answered: a shutdown drains these too.
    requests: AtomicUsize,
}

impl Shared {
    /// Must run inside a tokio runtime: it starts the webhook dispatcher.
    pub fn new(config: Config, adapter: Arc<dyn Adapter>, cluster_mode: bool) -> State {
        let tap = Tap::default();
        let webhooks = Webhooks::start(&config, tap.clone());
        let mut apps_by_id = HashMap::new();
        let mut apps_by_key = HashMap::new();
        for app in &config.apps {
            let hub = Arc::new(AppHub::new(app.clone(), cluster_mode));
            apps_by_id.insert(app.id.clone(), hub.clone());
            apps_by_key.insert(app.key.clone(), hub);
        }
        Arc::new(Shared { config, apps_by_id, apps_by_key, adapter, webhooks, tap, listener: std::sync::OnceLock::new(), shutting_down: AtomicBool::new(false), sessions: AtomicUsize::new(0), requests: AtomicUsize::new(0) })
    }

    pub fn app_by_id(&self, id: &str) -> Option<&Arc<AppHub>> {
        self.apps_by_id.get(id)
    }

    pub fn app_by_key(&self, key: &str) -> Option<&Arc<AppHub>> {
        self.apps_by_key.get(key)
    }

    pub fn apps(&self) -> impl Iterator<Item = &Arc<AppHub>> {
        self.apps_by_id.values()
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Counts a WebSocket session until the guard is dropped, after its goodbye.
    pub fn session_started(&self) -> InFlight<'_> {
        InFlight::count(&self.sessions)
    }

    /// Counts an HTTP request until the guard is dropped, once it is answered.
    pub fn request_started(&self) -> InFlight<'_> {
        InFlight::count(&self.requests)
    }

    /// WebSocket sessions still running or saying goodbye, plus HTTP requests not yet
    /// answered: what a shutdown waits for before it stops the workers.
    pub fn in_flight(&self) -> usize {
        self.sessions.load(Ordering::Acquire) + self.requests.load(Ordering::Acquire)
    }
}

/// One session or request, counted in [`Shared::in_flight`] while it lives.
pub struct InFlight<'a> {
    counter: &'a AtomicUsize,
}

impl<'a> InFlight<'a> {
    fn count(counter: &'a AtomicUsize) -> InFlight<'a> {
        counter.fetch_add(1, Ordering::AcqRel);
        InFlight { counter }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.counter.fetch_sub(1, Ordering::AcqRel);
    }
}
