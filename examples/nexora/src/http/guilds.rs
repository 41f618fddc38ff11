//! Guild and user profiles, leaderboards and insights (all cached), joining a guild, and
//! who is online in a guild (asked of herald).

use actix_web::{web, HttpResponse};
use serde_json::{json, Value};

use crate::auth::CurrentUser;
use crate::cache::{keys, ttl};
use crate::db::{self, DAY_MS};
use crate::error::{AppError, AppResult};
use crate::notify::{self, NotificationType, Outbound};
use crate::server::AppState;
use crate::{access, channels, channels::AppChannel, events};

pub async fn profile(state: web::Data<AppState>, _: CurrentUser, path: web::Path<i64>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let pool = state.db.pool.clone();
    let body = state
        .cache
        .get_or_set(&keys::guild_profile(id), ttl::MEDIUM, || async move {
            let guild = db::guilds::get(&pool, id).await?.ok_or_else(|| AppError::NotFound(format!("no guild {id}")))?;
            let members = db::guilds::members(&pool, id).await?;
            Ok::<Value, AppError>(json!({ "guild": guild, "member_count": members.len(), "members": members }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Joins a guild: stored, then `guild:member-join` on its presence channel and a
/// `guild_application_accepted` notification for the new member.
pub async fn join(state: web::Data<AppState>, CurrentUser(user): CurrentUser, path: web::Path<i64>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let guild = db::guilds::get(&state.db.pool, id).await?.ok_or_else(|| AppError::NotFound(format!("no guild {id}")))?;
    let joined = db::guilds::add_member(&state.db.pool, id, user.id, "member", db::now_ms()).await?;
    if joined {
        state.cache.delete(&keys::guild_profile(id)).await;
        state.cache.delete(&keys::user_profile(user.id)).await;
        let payload = json!({ "guild_id": id, "user_id": user.id.to_string(), "name": user.name });
        state.realtime.publish(&channels::guild(id), events::GUILD_MEMBER_JOIN, &payload, None).await;
        let data = json!({ "guild_id": id, "guild_name": guild.name });
        notify::send(&state, Outbound { user_id: user.id, kind: NotificationType::GuildApplicationAccepted, data }).await?;
    }
    Ok(HttpResponse::Ok().json(json!({ "joined": joined, "guild": guild })))
}

/// Members online now, from herald's presence roster (`GET /channels/{name}/users`).
pub async fn online(state: web::Data<AppState>, CurrentUser(user): CurrentUser, path: web::Path<i64>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    if !access::may_join(&state.db, user.id, &AppChannel::Guild(id)).await? {
        return Err(AppError::Forbidden(format!("{} is not a member of guild {id}", user.name)));
    }
    let users = state.realtime.client().users(&channels::guild(id)).await.map_err(|e| AppError::Internal(format!("herald: {e}")))?;
    Ok(HttpResponse::Ok().json(users))
}

pub async fn user_profile(state: web::Data<AppState>, _: CurrentUser, path: web::Path<i64>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let pool = state.db.pool.clone();
    let body = state
        .cache
        .get_or_set(&keys::user_profile(id), ttl::SHORT, || async move {
            let user = db::users::get(&pool, id).await?.ok_or_else(|| AppError::NotFound(format!("no user {id}")))?;
            let guilds = db::guilds::of_user(&pool, id).await?;
            Ok::<Value, AppError>(json!({ "user": user, "is_admin": user.is_admin(), "guilds": guilds }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `trust` (highest scores) or `messages` (most messages in the last 7 days).
pub async fn leaderboard(state: web::Data<AppState>, _: CurrentUser, path: web::Path<String>) -> AppResult<HttpResponse> {
    let kind = path.into_inner();
    if kind != "trust" && kind != "messages" {
        return Err(AppError::NotFound(format!("no leaderboard '{kind}'; try trust or messages")));
    }
    let pool = state.db.pool.clone();
    let key = keys::leaderboard(&kind);
    let body = state
        .cache
        .get_or_set(&key, ttl::SHORT, || async move {
            let entries: Vec<Value> = if kind == "trust" {
                db::users::top_by_trust(&pool, 10).await?.into_iter().map(|u| json!({ "user_id": u.id, "name": u.name, "score": u.trust_score })).collect()
            } else {
                let since = db::now_ms() - 7 * DAY_MS;
                db::users::top_by_messages(&pool, since, 10).await?.into_iter().map(|(id, name, n)| json!({ "user_id": id, "name": name, "score": n })).collect()
            };
            Ok::<Value, AppError>(json!({ "kind": kind, "entries": entries, "computed_at": db::now_ms() }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// A small activity summary for the current user, cached for an hour (the original computed
/// these with a model; here they are plain counts).
pub async fn insights(state: web::Data<AppState>, CurrentUser(user): CurrentUser) -> AppResult<HttpResponse> {
    let pool = state.db.pool.clone();
    let user_id = user.id;
    let body = state
        .cache
        .get_or_set(&keys::ai_insights(user_id), ttl::LONG, || async move {
            let now = db::now_ms();
            let sent: Vec<(i64, i64)> = db::messages::senders_between(&pool, now - 7 * DAY_MS, now).await?;
            let mine = sent.iter().filter(|(sender, _)| *sender == user_id).count();
            let everyone = sent.len();
            let unread = db::notifications::unread_count(&pool, user_id).await?;
            Ok::<Value, AppError>(json!({
                "messages_last_7_days": mine,
                "share_of_platform_messages": if everyone == 0 { 0.0 } else { mine as f64 / everyone as f64 },
                "unread_notifications": unread,
                "computed_at": now,
            }))
        })
        .await?;
    Ok(HttpResponse::Ok().json(body))
}
