//! Direct conversations (`direct_conversations`) and disputes (`disputes`, `dispute_parties`).

use serde::Serialize;
use sqlx::{Any, Executor};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DirectConversation {
    pub id: i64,
    /// Always `user_a < user_b`, enforced by a CHECK constraint.
    pub user_a: i64,
    pub user_b: i64,
    pub created_at: i64,
}

impl DirectConversation {
    pub fn has(&self, user_id: i64) -> bool {
        self.user_a == user_id || self.user_b == user_id
    }

    pub fn other(&self, user_id: i64) -> i64 {
        if self.user_a == user_id { self.user_b } else { self.user_a }
    }
}

pub async fn dm_by_id<'e>(ex: impl Executor<'e, Database = Any>, id: i64) -> sqlx::Result<Option<DirectConversation>> {
    sqlx::query_as("SELECT id, user_a, user_b, created_at FROM direct_conversations WHERE id = $1").bind(id).fetch_optional(ex).await
}

/// The conversation between two distinct users, created on first use.
pub async fn dm_between(db: &super::Db, one: i64, two: i64, now: i64) -> sqlx::Result<DirectConversation> {
    let (a, b) = if one < two { (one, two) } else { (two, one) };
    sqlx::query("INSERT INTO direct_conversations (user_a, user_b, created_at) VALUES ($1, $2, $3) ON CONFLICT (user_a, user_b) DO NOTHING")
        .bind(a)
        .bind(b)
        .bind(now)
        .execute(&db.pool)
        .await?;
    sqlx::query_as("SELECT id, user_a, user_b, created_at FROM direct_conversations WHERE user_a = $1 AND user_b = $2")
        .bind(a)
        .bind(b)
        .fetch_one(&db.pool)
        .await
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Dispute {
    pub id: i64,
    pub title: String,
    pub reason: String,
    pub status: String,
    pub raised_by: i64,
    pub resolution: Option<String>,
    pub created_at: i64,
    pub resolved_at: Option<i64>,
}

const DISPUTE_COLUMNS: &str = "d.id, d.title, d.reason, d.status, d.raised_by, d.resolution, d.created_at, d.resolved_at";

pub async fn dispute<'e>(ex: impl Executor<'e, Database = Any>, id: i64) -> sqlx::Result<Option<Dispute>> {
    sqlx::query_as(&format!("SELECT {DISPUTE_COLUMNS} FROM disputes d WHERE d.id = $1")).bind(id).fetch_optional(ex).await
}

pub async fn disputes_of_user<'e>(ex: impl Executor<'e, Database = Any>, user_id: i64) -> sqlx::Result<Vec<Dispute>> {
    sqlx::query_as(&format!(
        "SELECT {DISPUTE_COLUMNS} FROM disputes d JOIN dispute_parties p ON p.dispute_id = d.id WHERE p.user_id = $1 ORDER BY d.id"
    ))
    .bind(user_id)
    .fetch_all(ex)
    .await
}

pub async fn is_party<'e>(ex: impl Executor<'e, Database = Any>, dispute_id: i64, user_id: i64) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM dispute_parties WHERE dispute_id = $1 AND user_id = $2")
        .bind(dispute_id)
        .bind(user_id)
        .fetch_one(ex)
        .await?;
    Ok(n > 0)
}

/// (user id, role) of every party.
pub async fn parties<'e>(ex: impl Executor<'e, Database = Any>, dispute_id: i64) -> sqlx::Result<Vec<(i64, String)>> {
    sqlx::query_as("SELECT user_id, role FROM dispute_parties WHERE dispute_id = $1 ORDER BY user_id").bind(dispute_id).fetch_all(ex).await
}

/// Creates a dispute with its parties, in the caller's transaction.
pub async fn create_dispute(conn: &mut super::Conn, title: &str, reason: &str, raised_by: i64, parties: &[(i64, &str)], now: i64) -> sqlx::Result<i64> {
    let id: i64 = sqlx::query_scalar("INSERT INTO disputes (title, reason, raised_by, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
        .bind(title)
        .bind(reason)
        .bind(raised_by)
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
    for (user_id, role) in parties {
        sqlx::query("INSERT INTO dispute_parties (dispute_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT (dispute_id, user_id) DO NOTHING")
            .bind(id)
            .bind(*user_id)
            .bind(*role)
            .execute(&mut *conn)
            .await?;
    }
    Ok(id)
}

/// Marks an open dispute resolved; `false` if it was not open.
pub async fn resolve_dispute<'e>(ex: impl Executor<'e, Database = Any>, id: i64, resolution: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE disputes SET status = 'resolved', resolution = $1, resolved_at = $2 WHERE id = $3 AND status = 'open'")
        .bind(resolution)
        .bind(now)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Disputes created since `since_ms`, counted per party: (user id, disputes).
pub async fn dispute_counts_since<'e>(ex: impl Executor<'e, Database = Any>, since_ms: i64) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as(
        "SELECT p.user_id, COUNT(*) AS n FROM dispute_parties p JOIN disputes d ON d.id = p.dispute_id \
         WHERE d.created_at >= $1 AND p.role <> 'arbiter' GROUP BY p.user_id ORDER BY p.user_id",
    )
    .bind(since_ms)
    .fetch_all(ex)
    .await
}
