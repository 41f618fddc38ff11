//! `/api/notifications`: list, unread count, mark one or all read.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::SocketBody;
use crate::auth::CurrentUser;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::notify;
use crate::server::AppState;

#[derive(Deserialize)]
pub struct ListQuery {
    before: Option<i64>,
    limit: Option<i64>,
}

pub async fn list(state: web::Data<AppState>, CurrentUser(user): CurrentUser, query: web::Query<ListQuery>) -> AppResult<HttpResponse> {
    let limit = query.limit.unwrap_or(20).clamp(1, 100);
    let items = db::notifications::list(&state.db.pool, user.id, query.before, limit).await?;
    let unread = db::notifications::unread_count(&state.db.pool, user.id).await?;
    let next_before = if items.len() as i64 == limit { items.last().map(|n| n.id) } else { None };
    Ok(HttpResponse::Ok().json(json!({ "notifications": items, "unread_count": unread, "next_before": next_before })))
}

pub async fn unread_count(state: web::Data<AppState>, CurrentUser(user): CurrentUser) -> AppResult<HttpResponse> {
    let unread = db::notifications::unread_count(&state.db.pool, user.id).await?;
    Ok(HttpResponse::Ok().json(json!({ "unread_count": unread })))
}

pub async fn read_one(state: web::Data<AppState>, CurrentUser(user): CurrentUser, path: web::Path<i64>, body: Option<web::Json<SocketBody>>) -> AppResult<HttpResponse> {
    let id = path.into_inner();
    let except = body.as_ref().and_then(|b| b.socket_id.clone());
    let unread = notify::mark_read(&state, user.id, id, except.as_deref()).await?.ok_or_else(|| AppError::NotFound(format!("no notification {id}")))?;
    Ok(HttpResponse::Ok().json(json!({ "unread_count": unread })))
}

pub async fn read_all(state: web::Data<AppState>, CurrentUser(user): CurrentUser, body: Option<web::Json<SocketBody>>) -> AppResult<HttpResponse> {
    let except = body.as_ref().and_then(|b| b.socket_id.clone());
    let changed = notify::mark_all_read(&state, user.id, except.as_deref()).await?;
    Ok(HttpResponse::Ok().json(json!({ "marked": changed, "unread_count": 0 })))
}
