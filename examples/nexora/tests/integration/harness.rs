//! Starts what a test needs: a herald process (the real binary), a database (a SQLite file, or
//! a throwaway PostgreSQL database when one is reachable) and nexora in-process on a free port.

use rand::Rng;
use serde_json::Value;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nexora::config::Config;
use nexora::db;
use nexora::server::{AppState, Server};

pub const CRON_SECRET: &str = "test-cron-secret-0123456789";
pub const PASSWORD: &str = nexora::db::seed::DEMO_PASSWORD;

/// The herald binary: `HERALD_BIN`, or the workspace's debug build.
fn herald_bin() -> PathBuf {
    let path = std::env::var_os("HERALD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../target/debug/herald")));
    assert!(path.exists(), "herald binary not found at {}: run `cargo build -p herald` first (or set HERALD_BIN)", path.display());
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// A herald process with its dev app (id 1, key herald-dev-key, client events on).
pub struct Herald {
    child: Child,
    pub url: String,
}

impl Herald {
    pub async fn start() -> Herald {
        let port = free_port();
        let child = Command::new(herald_bin())
            .args(["--port", &port.to_string()])
            .env("HERALD_LOG_FILTER", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("herald starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while !reqwest::get(format!("{url}/up")).await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "herald did not answer on {url}/up within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Herald { child, url }
    }
}

impl Drop for Herald {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A database for one test, removed afterwards.
pub struct TestDb {
    pub url: String,
    pub label: &'static str,
    cleanup: Cleanup,
}

enum Cleanup {
    File(PathBuf),
    Postgres { admin_url: String, name: String },
}

fn random_suffix() -> String {
    format!("{:016x}", rand::thread_rng().gen::<u64>())
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let path = std::env::temp_dir().join(format!("nexora_test_{}.db", random_suffix()));
        TestDb { url: format!("sqlite:{}", path.display()), label: "sqlite", cleanup: Cleanup::File(path) }
    }

    /// A fresh database `nexora_test_<random>` on the server at `NEXORA_TEST_PG_URL`
    /// (default `postgres://postgres@127.0.0.1:5432/test`), or `None` when it is not
    /// reachable — unless `NEXORA_REQUIRE_PG=1`, which turns that into a failure.
    pub async fn postgres() -> Option<TestDb> {
        let admin_url = std::env::var("NEXORA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let required = std::env::var("NEXORA_REQUIRE_PG").is_ok_and(|v| v == "1");
        sqlx::any::install_default_drivers();
        let admin = match sqlx::any::AnyPoolOptions::new().max_connections(1).acquire_timeout(Duration::from_secs(3)).connect(&admin_url).await {
            Ok(pool) => pool,
            Err(e) => {
                assert!(!required, "PostgreSQL required (NEXORA_REQUIRE_PG=1) but {admin_url} is unreachable: {e}");
                eprintln!("PostgreSQL at {admin_url} unreachable ({e}); running the SQLite half only");
                return None;
            }
        };
        let name = format!("nexora_test_{}", random_suffix());
        sqlx::raw_sql(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("CREATE DATABASE");
        admin.close().await;
        let (base, _) = admin_url.rsplit_once('/').expect("the admin URL names a database");
        Some(TestDb { url: format!("{base}/{name}"), label: "postgres", cleanup: Cleanup::Postgres { admin_url, name } })
    }

    /// SQLite always, PostgreSQL when reachable.
    pub async fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite()];
        dbs.extend(TestDb::postgres().await);
        dbs
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let (admin_url, db_name) = (admin_url.clone(), name.clone());
                // Dropping runs on its own thread and runtime: Drop cannot await.
                let dropped = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
                    rt.block_on(async {
                        let admin = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&admin_url).await?;
                        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)")).execute(&admin).await?;
                        admin.close().await;
                        Ok::<_, sqlx::Error>(())
                    })
                })
                .join();
                if !matches!(dropped, Ok(Ok(()))) {
                    eprintln!("could not drop test database {name}: {dropped:?}");
                }
            }
        }
    }
}

/// nexora running in this process, seeded with the demo data.
pub struct Nexora {
    pub url: String,
    pub state: Arc<AppState>,
    handle: actix_web::dev::ServerHandle,
}

impl Nexora {
    pub async fn start(db: &TestDb, herald_url: &str) -> Nexora {
        let mut config = Config::load(None, Vec::<(String, String)>::new()).expect("default config");
        config.database_url = db.url.clone();
        config.herald.url = herald_url.to_string();
        config.cron_secret = Some(CRON_SECRET.to_string());
        config.scheduler.enabled = false;
        let state = AppState::new(config).await.expect("nexora state");
        assert!(db::seed::seed(&state.db, db::now_ms()).await.expect("seed"), "a fresh database is seeded");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let server = Server::start(Arc::new(state), listener).expect("nexora starts");
        let (url, state, handle) = (format!("http://{}", server.addr), server.state.clone(), server.handle());
        tokio::spawn(server.run());
        Nexora { url, state, handle }
    }

    /// A client with its own cookie jar, logged in as `name`.
    pub async fn login(&self, name: &str) -> reqwest::Client {
        let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
        let response = client.post(format!("{}/api/login", self.url)).json(&serde_json::json!({ "name": name, "password": PASSWORD })).send().await.expect("login");
        assert_eq!(response.status(), 200, "login as {name}");
        client
    }

    pub fn anonymous(&self) -> reqwest::Client {
        reqwest::Client::builder().cookie_store(true).build().expect("client")
    }

    pub fn api(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    pub async fn user_id(&self, name: &str) -> i64 {
        db::users::credentials(&self.state.db.pool, name).await.expect("query").expect("seeded user").0.id
    }

    pub async fn stop(self) {
        self.handle.stop(true).await;
        self.state.db.pool.close().await;
    }
}

/// Status and JSON body of a response.
pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}
