//! `/api/{guilds|dms|disputes}/{id}/messages` (history, send), `/typing`, and
//! `/api/messages/{id}` (edit, delete).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::SocketBody;
use crate::auth::CurrentUser;
use crate::error::{AppError, AppResult};
use crate::messaging::{self, Target};
use crate::server::AppState;

fn target(kind: &str, id: i64) -> AppResult<Target> {
    match kind {
        "guilds" => Ok(Target::Guild(id)),
        "dms" => Ok(Target::Dm { with: id }),
        "disputes" => Ok(Target::Dispute(id)),
        _ => Err(AppError::NotFound(format!("no conversations under /api/{kind}; use guilds, dms or disputes"))),
    }
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    before: Option<i64>,
    after: Option<i64>,
    limit: Option<i64>,
}

pub async fn history(state: web::Data<AppState>, CurrentUser(user): CurrentUser, path: web::Path<(String, i64)>, query: web::Query<HistoryQuery>) -> AppResult<HttpResponse> {
    let (kind, id) = path.into_inner();
    let conversation = messaging::open(&state, &user, target(&kind, id)?).await?;
    let page = messaging::history(&state, conversation, query.before, query.after, query.limit).await?;
    Ok(HttpResponse::Ok().json(page))
}

#[derive(Deserialize)]
pub struct SendBody {
    content: String,
    socket_id: Option<String>,
}

pub async fn send(state: web::Data<AppState>, CurrentUser(user): CurrentUser, path: web::Path<(String, i64)>, body: web::Json<SendBody>) -> AppResult<HttpResponse> {
    let (kind, id) = path.into_inner();
    let conversation = messaging::open(&state, &user, target(&kind, id)?).await?;
    let (message, delivered) = messaging::send(&state, &user, conversation, &body.content, body.socket_id.as_deref()).await?;
    Ok(HttpResponse::Created().json(json!({ "message": message, "delivered": delivered })))
}

#[derive(Deserialize)]
pub struct TypingBody {
    typing: bool,
    socket_id: Option<String>,
}

pub async fn typing(state: web::Data<AppState>, CurrentUser(user): CurrentUser, path: web::Path<(String, i64)>, body: web::Json<TypingBody>) -> AppResult<HttpResponse> {
    let (kind, id) = path.into_inner();
    let conversation = messaging::open(&state, &user, target(&kind, id)?).await?;
    let delivered = messaging::typing(&state, &user, conversation, body.typing, body.socket_id.as_deref()).await;
    Ok(HttpResponse::Ok().json(json!({ "delivered": delivered })))
}

#[derive(Deserialize)]
pub struct EditBody {
    content: String,
    socket_id: Option<String>,
}

pub async fn edit(state: web::Data<AppState>, CurrentUser(user): CurrentUser, path: web::Path<i64>, body: web::Json<EditBody>) -> AppResult<HttpResponse> {
    let (message, delivered) = messaging::edit(&state, &user, path.into_inner(), &body.content, body.socket_id.as_deref()).await?;
    Ok(HttpResponse::Ok().json(json!({ "message": message, "delivered": delivered })))
}

pub async fn delete(state: web::Data<AppState>, CurrentUser(user): CurrentUser, path: web::Path<i64>, query: web::Query<SocketBody>) -> AppResult<HttpResponse> {
    let (message, delivered) = messaging::delete(&state, &user, path.into_inner(), query.socket_id.as_deref()).await?;
    Ok(HttpResponse::Ok().json(json!({ "message": message, "delivered": delivered })))
}
