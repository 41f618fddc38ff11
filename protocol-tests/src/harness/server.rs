//! A real herald running in-process on `127.0.0.1:0`, on its own thread and actix system.

use std::net::SocketAddr;
use super::process::TempFile;
use std::sync::mpsc;
use std::time::Duration;

use herald::config::{AppConfig, Config};
use herald::server::Server;
use herald::state::State;

/// The configuration most tests use: app 1001 relays client events, app 1002 does not.
pub const DEFAULT_CONFIG: &str = r#"
[[apps]]
id = "1001"
key = "test-key"
secret = "test-secret"
client_events = true

[[apps]]
id = "1002"
key = "test-key-2"
secret = "test-secret-2"
client_events = false
"#;

/// How long the server thread may take to bind, and to stop once dropped.
const THREAD_WAIT: Duration = Duration::from_secs(10);

/// The credentials of one configured app, as a client or app server would hold them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestApp {
    pub id: String,
    pub key: String,
    pub secret: String,
}

impl From<&AppConfig> for TestApp {
    fn from(app: &AppConfig) -> Self {
        TestApp { id: app.id.clone(), key: app.key.clone(), secret: app.secret.clone() }
    }
}

/// Anything a test may start a server from: TOML text or a ready [`Config`].
pub trait IntoConfig {
    fn into_config(self) -> Config;
}

impl IntoConfig for Config {
    fn into_config(self) -> Config {
        self
    }
}

impl IntoConfig for &str {
    /// Loads the TOML through herald's own loader, so it is validated exactly as in production
    /// (and no `HERALD_*` variable of the test environment leaks in).
    fn into_config(self) -> Config {
        let file = TempFile::new(self);
        match Config::load(Some(file.path().as_ref()), Vec::new()) {
            Ok((config, _generated)) => config,
            Err(e) => panic!("test config does not load: {e}\n{self}"),
        }
    }
}

impl IntoConfig for String {
    fn into_config(self) -> Config {
        self.as_str().into_config()
    }
}

/// A running server; stopped (not gracefully) when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub config: Config,
    state: State,
    handle: herald::workers::WorkersHandle,
    /// Signalled by the server thread when its actix system has returned.
    stopped: mpsc::Receiver<()>,
}

impl TestServer {
    /// Starts herald with `config` on `127.0.0.1`, on a port the OS picks.
    /// `workers = 0` (one per CPU) becomes 2, enough to exercise cross-thread delivery.
    pub fn start(config: impl IntoConfig) -> TestServer {
        let mut config = config.into_config();
        config.host = "127.0.0.1".into();
        config.port = 0;
        if config.workers == 0 {
            config.workers = 2;
        }
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stopped_tx, stopped) = mpsc::channel();
        let server_config = config.clone();
        std::thread::Builder::new()
            .name("herald-test-server".into())
            .spawn(move || {
                let _ = actix_web::rt::System::new().block_on(async move {
                    let server = match Server::bind(server_config) {
                        Ok(server) => server,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    let (state, handle) = server.shutdown_handle();
                    let _ = ready_tx.send(Ok((server.addr, state, handle)));
                    server.run().await
                });
                let _ = stopped_tx.send(());
            })
            .expect("spawn the server thread");
        let (addr, state, handle) = match ready_rx.recv_timeout(THREAD_WAIT) {
            Ok(Ok(bound)) => bound,
            Ok(Err(e)) => panic!("herald could not bind 127.0.0.1:0: {e}"),
            Err(_) => panic!("herald did not bind within {THREAD_WAIT:?}"),
        };
        TestServer { addr, config, state, handle, stopped }
    }

    /// Starts herald with [`DEFAULT_CONFIG`].
    pub fn start_default() -> TestServer {
        TestServer::start(DEFAULT_CONFIG)
    }

    /// The first configured app.
    pub fn app(&self) -> TestApp {
        self.app_at(0)
    }

    /// The `i`-th configured app.
    pub fn app_at(&self, i: usize) -> TestApp {
        TestApp::from(&self.config.apps[i])
    }

    /// `http://127.0.0.1:port`.
    pub fn http_base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// WebSocket sessions and HTTP requests herald is in the middle of (what a shutdown waits for).
    pub fn in_flight(&self) -> usize {
        self.state.in_flight()
    }

    /// Runs herald's graceful shutdown (4200 to every socket, drain, stop) on a task of the
    /// caller's runtime, so the test can keep reading its sockets while it proceeds.
    pub fn begin_graceful_shutdown(&self) -> tokio::task::JoinHandle<()> {
        let (state, handle) = (self.state.clone(), self.handle.clone());
        tokio::spawn(async move { herald::server::shutdown(&state, handle).await })
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.handle.stop();
        // Bounded: a server that will not stop is left behind rather than hanging the suite.
        let _ = self.stopped.recv_timeout(THREAD_WAIT);
    }
}
