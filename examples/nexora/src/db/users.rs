//! The `users` and `trust_changes` tables.

use serde::Serialize;
use sqlx::{Any, Executor};

/// Trust score above which a user counts as an admin (as in the original product).
pub const ADMIN_TRUST_THRESHOLD: i64 = 800;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub name: String,
    /// A display label ("hunter", "poster", "admin"); permissions come from `is_admin`.
    pub role: String,
    pub trust_score: i64,
    /// Unix ms of the user's last request; trust decay measures inactivity from it.
    pub last_active: i64,
    pub created_at: i64,
}

impl User {
    pub fn is_admin(&self) -> bool {
        self.trust_score > ADMIN_TRUST_THRESHOLD
    }
}

const COLUMNS: &str = "id, name, role, trust_score, last_active, created_at";

pub async fn get<'e>(ex: impl Executor<'e, Database = Any>, id: i64) -> sqlx::Result<Option<User>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE id = $1")).bind(id).fetch_optional(ex).await
}

/// The user and their password hash, for login.
pub async fn credentials<'e>(ex: impl Executor<'e, Database = Any>, name: &str) -> sqlx::Result<Option<(User, String)>> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        password_hash: String,
    }
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS}, password_hash FROM users WHERE name = $1"))
        .bind(name)
        .fetch_optional(ex)
        .await?;
    Ok(row.map(|r| (r.user, r.password_hash)))
}

pub async fn list<'e>(ex: impl Executor<'e, Database = Any>) -> sqlx::Result<Vec<User>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users ORDER BY id")).fetch_all(ex).await
}

pub async fn admins<'e>(ex: impl Executor<'e, Database = Any>) -> sqlx::Result<Vec<User>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE trust_score > $1 ORDER BY id"))
        .bind(ADMIN_TRUST_THRESHOLD)
        .fetch_all(ex)
        .await
}

/// Users last active before `cutoff_ms` whose score is above `min_score`.
pub async fn inactive_since<'e>(ex: impl Executor<'e, Database = Any>, cutoff_ms: i64, min_score: i64) -> sqlx::Result<Vec<User>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users WHERE last_active < $1 AND trust_score > $2 ORDER BY id"))
        .bind(cutoff_ms)
        .bind(min_score)
        .fetch_all(ex)
        .await
}

pub struct NewUser<'a> {
    pub name: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub trust_score: i64,
    pub last_active: i64,
}

pub async fn create<'e>(ex: impl Executor<'e, Database = Any>, user: &NewUser<'_>, now: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "INSERT INTO users (name, password_hash, role, trust_score, last_active, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(user.name)
    .bind(user.password_hash)
    .bind(user.role)
    .bind(user.trust_score)
    .bind(user.last_active)
    .bind(now)
    .fetch_one(ex)
    .await
}

/// Records activity; writes at most once a minute per user.
/// Records activity; writes at most once a minute per user.
pub async fn touch<'e>(ex: impl Executor<'e, Database = Any>, id: i64, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET last_active = $1 WHERE id = $2 AND last_active < $3").bind(now).bind(id).bind(now - 60_000).execute(ex).await?;
    Ok(())
}

pub async fn count<'e>(ex: impl Executor<'e, Database = Any>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(ex).await
}

/// Sets a new score and records the change, in the caller's transaction.
pub async fn change_trust(conn: &mut super::Conn, id: i64, old: i64, new: i64, reason: &str, now: i64) -> sqlx::Result<()> {
    sqlx::query("UPDATE users SET trust_score = $1 WHERE id = $2").bind(new).bind(id).execute(&mut *conn).await?;
    sqlx::query("INSERT INTO trust_changes (user_id, old_score, new_score, reason, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(id)
        .bind(old)
        .bind(new)
        .bind(reason)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Net trust change per user since `since_ms` (users without changes are absent).
pub async fn trust_deltas_since<'e>(ex: impl Executor<'e, Database = Any>, since_ms: i64) -> sqlx::Result<Vec<(i64, i64)>> {
    let rows: Vec<(i64, i64, i64)> =
        sqlx::query_as("SELECT user_id, old_score, new_score FROM trust_changes WHERE created_at >= $1 ORDER BY id")
            .bind(since_ms)
            .fetch_all(ex)
            .await?;
    let mut deltas: std::collections::BTreeMap<i64, i64> = Default::default();
    for (user, old, new) in rows {
        *deltas.entry(user).or_default() += new - old;
    }
    Ok(deltas.into_iter().collect())
}

/// Top users by trust score.
pub async fn top_by_trust<'e>(ex: impl Executor<'e, Database = Any>, limit: i64) -> sqlx::Result<Vec<User>> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM users ORDER BY trust_score DESC, id LIMIT $1")).bind(limit).fetch_all(ex).await
}

/// Top senders since `since_ms`: (user id, name, message count).
pub async fn top_by_messages<'e>(ex: impl Executor<'e, Database = Any>, since_ms: i64, limit: i64) -> sqlx::Result<Vec<(i64, String, i64)>> {
    sqlx::query_as(
        "SELECT u.id, u.name, COUNT(m.id) AS sent FROM users u JOIN messages m ON m.sender_id = u.id \
         WHERE m.created_at >= $1 AND m.deleted_at IS NULL GROUP BY u.id, u.name ORDER BY sent DESC, u.id LIMIT $2",
    )
    .bind(since_ms)
    .bind(limit)
    .fetch_all(ex)
    .await
}
