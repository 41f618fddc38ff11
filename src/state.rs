//! The state every request handler and connection task shares.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use crate::adapter::Adapter;
use crate::config::{AppConfig, Config};
use crate::hub::AppHub;
use crate::tap::Tap;
use crate::webhooks::Webhooks;

/// A cheap-to-clone handle to the server's shared state.
pub type State = Arc<Shared>;

pub struct Shared {
    /// The configuration the server started with. Its `apps` are the apps at start: the
    /// live ones (a reload may change them) are read through [`Shared::app_by_id`] and kin.
    pub config: Config,
    apps: ArcSwap<Directory>,
    /// Serializes reloads, so two SIGHUPs in a row cannot interleave their changes.
    reloading: Mutex<()>,
    cluster_mode: bool,
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
        let hubs = config.apps.iter().map(|app| Arc::new(AppHub::new(app.clone(), cluster_mode)));
        let apps = ArcSwap::from_pointee(Directory::of(hubs));
        Arc::new(Shared {
            config,
            apps,
            reloading: Mutex::new(()),
            cluster_mode,
            adapter,
            webhooks,
            tap,
            listener: std::sync::OnceLock::new(),
            shutting_down: AtomicBool::new(false),
            sessions: AtomicUsize::new(0),
            requests: AtomicUsize::new(0),
        })
    }

    pub fn app_by_id(&self, id: &str) -> Option<Arc<AppHub>> {
        self.apps.load().by_id.get(id).cloned()
    }

    pub fn app_by_key(&self, key: &str) -> Option<Arc<AppHub>> {
        self.apps.load().by_key.get(key).cloned()
    }

    /// Every app as it is now.
    pub fn apps(&self) -> Vec<Arc<AppHub>> {
        self.apps.load().by_id.values().cloned().collect()
    }

    /// Makes `apps` the server's apps (a configuration reload), keeping every socket of an app
    /// whose id stays. An app whose id is gone has its sockets closed with 4001; one that is now
    /// disabled, with 4003. `apps` must have been validated (unique ids and keys).
    pub fn replace_apps(&self, apps: &[AppConfig]) -> AppChanges {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.apps.load_full();
        let mut changes = AppChanges::default();
        let mut hubs = Vec::with_capacity(apps.len());
        for app in apps {
            match old.by_id.get(&app.id) {
                Some(hub) => {
                    if hub.update(app.clone()) {
                        changes.changed.push(app.id.clone());
                    }
                    hubs.push(hub.clone());
                }
                None => {
                    changes.added.push(app.id.clone());
                    hubs.push(Arc::new(AppHub::new(app.clone(), self.cluster_mode)));
                }
            }
        }
        let new = Directory::of(hubs.into_iter());
        let removed: Vec<Arc<AppHub>> = old.by_id.iter().filter(|(id, _)| !new.by_id.contains_key(*id)).map(|(_, hub)| hub.clone()).collect();
        self.apps.store(Arc::new(new));
        self.webhooks.set_apps(apps);
        // Sockets that registered before the sweep are closed by it; later ones find the
        // refusal themselves (see `AppHub::refusal`).
        for hub in &removed {
            hub.retire();
            changes.removed.push(hub.id().to_string());
        }
        for hub in removed.iter().chain(self.apps.load().by_id.values()) {
            if let Some(code) = hub.refusal() {
                for conn in hub.connections() {
                    conn.close(code);
                }
            }
        }
        changes.added.sort();
        changes.changed.sort();
        changes.removed.sort();
        changes
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

/// The apps, found by id (HTTP API) or by key (WebSocket path); replaced whole on reload.
struct Directory {
    by_id: HashMap<String, Arc<AppHub>>,
    by_key: HashMap<String, Arc<AppHub>>,
}

impl Directory {
    fn of(hubs: impl Iterator<Item = Arc<AppHub>>) -> Directory {
        let (mut by_id, mut by_key) = (HashMap::new(), HashMap::new());
        for hub in hubs {
            let config = hub.config();
            by_id.insert(config.id.clone(), hub.clone());
            for key in config.keys() {
                by_key.insert(key.to_string(), hub.clone());
            }
        }
        Directory { by_id, by_key }
    }
}

/// What a reload did to the apps, by id.
#[derive(Debug, Default, PartialEq)]
pub struct AppChanges {
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::local::LocalAdapter;
    use crate::hub::conn::{ConnHandle, ConnInbox};
    use crate::protocol::close_code::{self, CloseCode};
    use crate::protocol::socket_id::SocketId;
    use futures_util::FutureExt;

    fn app(id: &str, key: &str) -> AppConfig {
        AppConfig { id: id.into(), key: key.into(), secret: format!("{key}-secret"), ..AppConfig::default() }
    }

    fn connect(hub: &AppHub) -> (ConnHandle, ConnInbox) {
        let (conn, inbox) = ConnHandle::new(SocketId::random(), 16);
        assert!(hub.add_connection(conn.clone()));
        (conn, inbox)
    }

    /// The code the socket was asked to close with, if it was.
    fn close_asked(inbox: &ConnInbox) -> Option<CloseCode> {
        inbox.closed().now_or_never()
    }

    #[tokio::test]
    async fn replacing_the_apps_keeps_the_sockets_of_apps_that_stay_and_closes_the_rest() {
        let config = Config { apps: vec![app("1", "k1"), app("2", "k2"), app("3", "k3")], ..Config::default() };
        let state = Shared::new(config, Arc::new(LocalAdapter), false);
        let (one, two, three) = (state.app_by_id("1").unwrap(), state.app_by_id("2").unwrap(), state.app_by_id("3").unwrap());
        let (_a, stays) = connect(&one);
        let (_b, removed) = connect(&two);
        let (_c, disabled) = connect(&three);

        let rotated = AppConfig { secret: "rotated".into(), key: "k1-new".into(), client_events: true, ..app("1", "k1") };
        let off = AppConfig { enabled: false, ..app("3", "k3") };
        let changes = state.replace_apps(&[rotated, off, app("4", "k4")]);
        assert_eq!(changes, AppChanges { added: vec!["4".into()], changed: vec!["1".into(), "3".into()], removed: vec!["2".into()] });

        let now = state.app_by_id("1").unwrap();
        assert!(Arc::ptr_eq(&now, &one), "an app that stays keeps its hub, and with it its sockets and channels");
        assert_eq!(now.config().secret, "rotated");
        assert!(now.config().client_events);
        assert!(state.app_by_key("k1").is_none(), "the old key no longer finds the app");
        assert!(Arc::ptr_eq(&state.app_by_key("k1-new").unwrap(), &one));
        assert!(state.app_by_id("2").is_none() && state.app_by_key("k2").is_none());
        assert_eq!(state.app_by_key("k4").unwrap().id(), "4");

        assert_eq!(close_asked(&stays), None);
        assert_eq!(close_asked(&removed), Some(close_code::APP_NOT_FOUND));
        assert_eq!(close_asked(&disabled), Some(close_code::APP_DISABLED));
        assert_eq!(two.refusal(), Some(close_code::APP_NOT_FOUND), "a socket admitted just before is refused too");

        let again = state.replace_apps(&[
            AppConfig { secret: "rotated".into(), key: "k1-new".into(), client_events: true, ..app("1", "k1") },
            AppConfig { enabled: false, ..app("3", "k3") },
            app("4", "k4"),
        ]);
        assert_eq!(again, AppChanges::default(), "the same apps again change nothing");
    }

    #[tokio::test]
    async fn every_key_of_an_app_finds_it_and_a_reload_can_add_or_drop_one() {
        use crate::config::KeyPair;
        let mobile = |key: &str| KeyPair { key: key.into(), secret: format!("{key}-secret") };
        let config = Config { apps: vec![AppConfig { extra_keys: vec![mobile("m1")], ..app("1", "k1") }], ..Config::default() };
        let state = Shared::new(config, Arc::new(LocalAdapter), false);
        let hub = state.app_by_id("1").unwrap();
        assert!(Arc::ptr_eq(&state.app_by_key("m1").unwrap(), &hub));
        assert!(Arc::ptr_eq(&state.app_by_key("k1").unwrap(), &hub));
        let changes = state.replace_apps(&[AppConfig { extra_keys: vec![mobile("m2")], ..app("1", "k1") }]);
        assert_eq!(changes.changed, ["1"]);
        assert!(state.app_by_key("m1").is_none(), "a dropped key no longer connects");
        assert!(Arc::ptr_eq(&state.app_by_key("m2").unwrap(), &hub));
    }

    #[tokio::test]
    async fn a_reloaded_limit_reaches_the_budget_and_the_cache() {
        let config = Config { apps: vec![app("1", "k1")], ..Config::default() };
        let state = Shared::new(config, Arc::new(LocalAdapter), false);
        let hub = state.app_by_id("1").unwrap();
        assert!(hub.backend_events.load().is_none());
        hub.cache.store("cache-news", "d", crate::protocol::ws::Frame::text("frame"));
        assert_eq!(hub.cache.info("cache-news").map(|(_, ttl)| ttl), Some(1800));
        state.replace_apps(&[AppConfig { max_backend_events_per_second: 5, max_read_requests_per_second: 7, cache_ttl: 60, ..app("1", "k1") }]);
        assert_eq!(hub.backend_events.load().as_ref().map(|b| b.per_second()), Some(5));
        assert_eq!(hub.read_requests.load().as_ref().map(|b| b.per_second()), Some(7));
        assert_eq!(hub.cache.info("cache-news").map(|(_, ttl)| ttl), Some(60), "a stored event expires by the new ttl");
        state.replace_apps(&[app("1", "k1")]);
        assert!(hub.backend_events.load().is_none(), "0 turns the limit off again");
        assert!(hub.read_requests.load().is_none());
    }
}
