//! The `guilds` and `guild_members` tables.

use serde::Serialize;
use sqlx::{Any, Executor};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Guild {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub created_at: i64,
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Member {
    pub user_id: i64,
    pub name: String,
    pub role: String,
    pub trust_score: i64,
    pub joined_at: i64,
}

pub async fn get<'e>(ex: impl Executor<'e, Database = Any>, id: i64) -> sqlx::Result<Option<Guild>> {
    sqlx::query_as("SELECT id, name, description, created_at FROM guilds WHERE id = $1").bind(id).fetch_optional(ex).await
}

pub async fn list<'e>(ex: impl Executor<'e, Database = Any>) -> sqlx::Result<Vec<Guild>> {
    sqlx::query_as("SELECT id, name, description, created_at FROM guilds ORDER BY id").fetch_all(ex).await
}

pub async fn of_user<'e>(ex: impl Executor<'e, Database = Any>, user_id: i64) -> sqlx::Result<Vec<Guild>> {
    sqlx::query_as(
        "SELECT g.id, g.name, g.description, g.created_at FROM guilds g \
         JOIN guild_members m ON m.guild_id = g.id WHERE m.user_id = $1 ORDER BY g.id",
    )
    .bind(user_id)
    .fetch_all(ex)
    .await
}

pub async fn is_member<'e>(ex: impl Executor<'e, Database = Any>, guild_id: i64, user_id: i64) -> sqlx::Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM guild_members WHERE guild_id = $1 AND user_id = $2")
        .bind(guild_id)
        .bind(user_id)
        .fetch_one(ex)
        .await?;
    Ok(n > 0)
}

pub async fn members<'e>(ex: impl Executor<'e, Database = Any>, guild_id: i64) -> sqlx::Result<Vec<Member>> {
    sqlx::query_as(
        "SELECT u.id AS user_id, u.name, m.role, u.trust_score, m.joined_at FROM guild_members m \
         JOIN users u ON u.id = m.user_id WHERE m.guild_id = $1 ORDER BY u.id",
    )
    .bind(guild_id)
    .fetch_all(ex)
    .await
}

pub async fn create<'e>(ex: impl Executor<'e, Database = Any>, name: &str, description: &str, now: i64) -> sqlx::Result<i64> {
    sqlx::query_scalar("INSERT INTO guilds (name, description, created_at) VALUES ($1, $2, $3) RETURNING id")
        .bind(name)
        .bind(description)
        .bind(now)
        .fetch_one(ex)
        .await
}

/// Adds a member; `false` when they already were one.
pub async fn add_member<'e>(ex: impl Executor<'e, Database = Any>, guild_id: i64, user_id: i64, role: &str, now: i64) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "INSERT INTO guild_members (guild_id, user_id, role, joined_at) VALUES ($1, $2, $3, $4) ON CONFLICT (guild_id, user_id) DO NOTHING",
    )
    .bind(guild_id)
    .bind(user_id)
    .bind(role)
    .bind(now)
    .execute(ex)
    .await?;
    Ok(done.rows_affected() > 0)
}
