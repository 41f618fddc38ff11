//! Storage: one sqlx `Any` pool over SQLite (the embedded default) or PostgreSQL, chosen by
//! the URL. Every query is written once, in SQL both databases accept (`$n` placeholders,
//! `RETURNING`, `ON CONFLICT`, times as BIGINT Unix milliseconds); only the migrations differ,
//! because identity columns are spelled differently.
//!
//! One file per table group; each exposes plain async functions over a `&Db` or, where the
//! caller needs a transaction, over a `&mut AnyConnection`.

pub mod conversations;
pub mod guilds;
pub mod job_runs;
pub mod messages;
pub mod notifications;
pub mod seed;
pub mod users;

use sqlx::any::AnyPoolOptions;
use sqlx::AnyConnection;
use sqlx::migrate::Migrator;
use sqlx::AnyPool;
use std::time::Duration;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which database a URL points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn of_url(url: &str) -> Option<Backend> {
        if url.starts_with("sqlite:") {
            Some(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Backend::Postgres)
        } else {
            None
        }
    }
}

/// A cheap-to-clone handle on the pool.
#[derive(Clone)]
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("DATABASE_URL must start with sqlite: or postgres:, got '{0}'")]
    UnsupportedUrl(String),
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl Db {
    /// Opens the pool. A SQLite file is created when missing.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of_url(url).ok_or_else(|| DbError::UnsupportedUrl(url.to_string()))?;
        let (url, max_connections) = match backend {
            Backend::Sqlite if url.contains(":memory:") => (url.to_string(), 1),
            Backend::Sqlite if !url.contains("mode=") => {
                let separator = if url.contains('?') { '&' } else { '?' };
                (format!("{url}{separator}mode=rwc"), 4)
            }
            Backend::Sqlite => (url.to_string(), 4),
            Backend::Postgres => (url.to_string(), 10),
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(&url)
            .await
            .map_err(DbError::Connect)?;
        Ok(Db { pool, backend })
    }

    /// Applies the checked-in migrations of this backend (idempotent).
    pub async fn migrate(&self) -> Result<(), DbError> {
        let migrator = match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await?;
        Ok(())
    }

    pub async fn connect_and_migrate(url: &str) -> Result<Db, DbError> {
        let db = Db::connect(url).await?;
        db.migrate().await?;
        Ok(db)
    }

    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        self.pool.begin().await
    }

    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, sqlx::Error> {
        self.pool.acquire().await
    }
}

/// The connection type functions take when they must run inside a caller's transaction.
pub type Conn = AnyConnection;

pub const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// The current time as stored: Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}
