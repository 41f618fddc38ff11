//! The shared state, and binding and running the HTTP server with the scheduler beside it.

use actix_web::{web, App, HttpServer};
use serde_json::Value;
use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use tokio::task::JoinHandle;

use herald::rest_client::RestClient;

use crate::auth::Sessions;
use crate::cache::TtlCache;
use crate::config::Config;
use crate::db::{Db, DbError};
use crate::realtime::Realtime;

/// Everything a request or a job needs; shared behind an `Arc`.
pub struct AppState {
    pub config: Config,
    pub db: Db,
    pub realtime: Realtime,
    /// Profiles, leaderboards and insights (see `cache::keys`).
    pub cache: TtlCache<Value>,
    pub sessions: Sessions,
}

impl AppState {
    /// Opens (and migrates) the database and prepares the herald client.
    pub async fn new(config: Config) -> Result<AppState, DbError> {
        let db = Db::connect_and_migrate(&config.database_url).await?;
        let h = &config.herald;
        let realtime = Realtime::new(RestClient::new(&h.url, &h.app_id, &h.key, &h.secret), h.batch_size);
        if config.session_secret.is_none() {
            tracing::warn!("no session_secret (NEXORA_SESSION_SECRET) set: using a random key, sessions end when nexora restarts");
        }
        let sessions = Sessions::new(config.session_secret.as_deref(), config.secure_cookies, config.session_days * 24 * 3600);
        Ok(AppState { config, db, realtime, cache: TtlCache::new(10_000), sessions })
    }
}

/// A bound, not yet awaited server.
pub struct Server {
    pub addr: SocketAddr,
    pub state: Arc<AppState>,
    server: actix_web::dev::Server,
    scheduler: Vec<JoinHandle<()>>,
}

impl Server {
    /// Binds the HTTP server on `listener` and starts the scheduler when enabled.
    pub fn start(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<Server> {
        let addr = listener.local_addr()?;
        let data = web::Data::from(state.clone());
        let server = HttpServer::new(move || App::new().app_data(data.clone()).configure(crate::http::routes))
            // A demo app: two workers are plenty, whatever the core count.
            .workers(2)
            .listen(listener)?
            .run();
        let scheduler = if state.config.scheduler.enabled { crate::jobs::scheduler::spawn(state.clone(), &state.config.scheduler) } else { Vec::new() };
        Ok(Server { addr, state, server, scheduler })
    }

    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server stops (Ctrl-C / SIGTERM, or `handle().stop()`).
    pub async fn run(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in self.scheduler {
            task.abort();
        }
        result
    }
}
