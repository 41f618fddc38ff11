//! The `notifications` table.

use serde::Serialize;
use serde_json::Value;
use sqlx::{Any, Executor};

#[derive(Debug, Clone, Serialize)]
pub struct Notification {
    pub id: i64,
    pub user_id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub message: String,
    pub icon: String,
    pub data: Value,
    pub read: bool,
    pub created_at: i64,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    user_id: i64,
    #[sqlx(rename = "type")]
    kind: String,
    title: String,
    message: String,
    icon: String,
    data: String,
    read_at: Option<i64>,
    created_at: i64,
}

impl From<Row> for Notification {
    fn from(r: Row) -> Self {
        Notification {
            id: r.id,
            user_id: r.user_id,
            kind: r.kind,
            title: r.title,
            message: r.message,
            icon: r.icon,
            data: serde_json::from_str(&r.data).unwrap_or(Value::Null),
            read: r.read_at.is_some(),
            created_at: r.created_at,
        }
    }
}

const COLUMNS: &str = "id, user_id, type, title, message, icon, data, read_at, created_at";

/// A notification ready to store: the template is already filled.
pub struct NewNotification<'a> {
    pub user_id: i64,
    pub kind: &'a str,
    pub title: &'a str,
    pub message: &'a str,
    pub icon: &'a str,
    pub data: &'a Value,
}

pub async fn insert(conn: &mut super::Conn, n: &NewNotification<'_>, now: i64) -> sqlx::Result<Notification> {
    let row: Row = sqlx::query_as(&format!(
        "INSERT INTO notifications (user_id, type, title, message, icon, data, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(n.user_id)
    .bind(n.kind)
    .bind(n.title)
    .bind(n.message)
    .bind(n.icon)
    .bind(n.data.to_string())
    .bind(now)
    .fetch_one(conn)
    .await?;
    Ok(row.into())
}

/// Newest first, paged by `before` (an id).
pub async fn list<'e>(ex: impl Executor<'e, Database = Any>, user_id: i64, before: Option<i64>, limit: i64) -> sqlx::Result<Vec<Notification>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM notifications WHERE user_id = $1 AND id < $2 ORDER BY id DESC LIMIT $3"))
        .bind(user_id)
        .bind(before.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(ex)
        .await?;
    Ok(rows.into_iter().map(Notification::from).collect())
}

pub async fn unread_count<'e>(ex: impl Executor<'e, Database = Any>, user_id: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL").bind(user_id).fetch_one(ex).await
}

/// Marks one of the user's notifications read; `false` when it is not theirs or was read.
pub async fn mark_read<'e>(ex: impl Executor<'e, Database = Any>, user_id: i64, id: i64, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query("UPDATE notifications SET read_at = $1 WHERE id = $2 AND user_id = $3 AND read_at IS NULL")
        .bind(now)
        .bind(id)
        .bind(user_id)
        .execute(ex)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// Marks every unread notification of the user read; returns how many changed.
pub async fn mark_all_read<'e>(ex: impl Executor<'e, Database = Any>, user_id: i64, now: i64) -> sqlx::Result<u64> {
    let done = sqlx::query("UPDATE notifications SET read_at = $1 WHERE user_id = $2 AND read_at IS NULL")
        .bind(now)
        .bind(user_id)
        .execute(ex)
        .await?;
    Ok(done.rows_affected())
}

pub async fn exists<'e>(ex: impl Executor<'e, Database = Any>, user_id: i64, id: i64) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE id = $1 AND user_id = $2").bind(id).bind(user_id).fetch_one(ex).await?;
    Ok(n > 0)
}
