//! The `messages` table: guild, DM and dispute messages, soft-deleted.

use serde::Serialize;
use sqlx::{Any, Executor};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct MessageRow {
    pub id: i64,
    /// `guild`, `dm` or `dispute`.
    pub conversation_kind: String,
    /// The guild, direct conversation or dispute id.
    pub conversation_id: i64,
    pub sender_id: i64,
    pub sender_name: String,
    pub content: String,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub deleted_at: Option<i64>,
}

const SELECT: &str = "SELECT m.id, m.conversation_kind, m.conversation_id, m.sender_id, u.name AS sender_name, \
                      m.content, m.created_at, m.edited_at, m.deleted_at FROM messages m JOIN users u ON u.id = m.sender_id";

pub async fn get<'e>(ex: impl Executor<'e, Database = Any>, id: i64) -> sqlx::Result<Option<MessageRow>> {
    sqlx::query_as(&format!("{SELECT} WHERE m.id = $1")).bind(id).fetch_optional(ex).await
}

pub async fn insert(db: &super::Db, kind: &str, conversation_id: i64, sender_id: i64, content: &str, now: i64) -> sqlx::Result<MessageRow> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (conversation_kind, conversation_id, sender_id, content, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(kind)
    .bind(conversation_id)
    .bind(sender_id)
    .bind(content)
    .bind(now)
    .fetch_one(&db.pool)
    .await?;
    get(&db.pool, id).await?.ok_or(sqlx::Error::RowNotFound)
}

/// Replaces the content of a live message.
pub async fn edit(db: &super::Db, id: i64, content: &str, now: i64) -> sqlx::Result<Option<MessageRow>> {
    sqlx::query("UPDATE messages SET content = $1, edited_at = $2 WHERE id = $3 AND deleted_at IS NULL")
        .bind(content)
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await?;
    get(&db.pool, id).await
}

/// Soft-deletes: the row stays (history shows a tombstone), the content is cleared.
pub async fn delete(db: &super::Db, id: i64, now: i64) -> sqlx::Result<Option<MessageRow>> {
    sqlx::query("UPDATE messages SET content = '', deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
        .bind(now)
        .bind(id)
        .execute(&db.pool)
        .await?;
    get(&db.pool, id).await
}

/// A page of history, oldest first. `before` pages backwards (the usual scroll-up);
/// `after` fetches what arrived since a known id (catching up after a reconnect).
pub async fn page<'e>(
    ex: impl Executor<'e, Database = Any>,
    kind: &str,
    conversation_id: i64,
    before: Option<i64>,
    after: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<MessageRow>> {
    let base = format!("{SELECT} WHERE m.conversation_kind = $1 AND m.conversation_id = $2");
    match after {
        Some(after) => {
            sqlx::query_as(&format!("{base} AND m.id > $3 ORDER BY m.id ASC LIMIT $4"))
                .bind(kind)
                .bind(conversation_id)
                .bind(after)
                .bind(limit)
                .fetch_all(ex)
                .await
        }
        None => {
            let mut rows: Vec<MessageRow> = sqlx::query_as(&format!("{base} AND m.id < $3 ORDER BY m.id DESC LIMIT $4"))
                .bind(kind)
                .bind(conversation_id)
                .bind(before.unwrap_or(i64::MAX))
                .bind(limit)
                .fetch_all(ex)
                .await?;
            rows.reverse();
            Ok(rows)
        }
    }
}

/// (sender, created_at) of every message in `[since_ms, until_ms]`, for the oracle.
pub async fn senders_between<'e>(ex: impl Executor<'e, Database = Any>, since_ms: i64, until_ms: i64) -> sqlx::Result<Vec<(i64, i64)>> {
    sqlx::query_as("SELECT sender_id, created_at FROM messages WHERE created_at >= $1 AND created_at <= $2")
        .bind(since_ms)
        .bind(until_ms)
        .fetch_all(ex)
        .await
}
