//! Logging in and out, who am I, and what the page needs to connect.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{password, CurrentUser};
use crate::db::{self};
use crate::error::AppResult;
use crate::server::AppState;

#[derive(Deserialize)]
pub struct Login {
    name: String,
    password: String,
}

pub async fn login(state: web::Data<AppState>, body: web::Json<Login>) -> AppResult<HttpResponse> {
    let Login { name, password } = body.into_inner();
    let found = db::users::credentials(&state.db.pool, name.trim()).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let ok = password::verify_async(password, hash).await;
    let user = match (ok, user) {
        (true, Some(user)) => user,
        _ => return Ok(HttpResponse::Unauthorized().json(json!({ "error": "wrong name or password" }))),
    };
    let now = db::now_ms();
    db::users::touch(&state.db.pool, user.id, now).await?;
    let cookie = state.sessions.issue(user.id, now / 1000);
    Ok(HttpResponse::Ok().cookie(cookie).json(json!({ "user": user, "is_admin": user.is_admin() })))
}

pub async fn logout(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().cookie(state.sessions.clear()).json(json!({ "ok": true }))
}

/// The current user with everything the page lists: guilds, disputes, unread count.
pub async fn me(state: web::Data<AppState>, CurrentUser(user): CurrentUser) -> AppResult<HttpResponse> {
    let pool = &state.db.pool;
    let guilds = db::guilds::of_user(pool, user.id).await?;
    let disputes = db::conversations::disputes_of_user(pool, user.id).await?;
    let unread = db::notifications::unread_count(pool, user.id).await?;
    Ok(HttpResponse::Ok().json(json!({
        "user": user,
        "is_admin": user.is_admin(),
        "guilds": guilds,
        "disputes": disputes,
        "unread_count": unread,
    })))
}

/// Everyone, for starting a DM.
pub async fn directory(state: web::Data<AppState>, _: CurrentUser) -> AppResult<HttpResponse> {
    let users = db::users::list(&state.db.pool).await?;
    let users: Vec<_> = users.into_iter().map(|u| json!({ "id": u.id, "name": u.name, "role": u.role })).collect();
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

/// pusher-js options for the page (the herald key is public by design; the secret is not
/// here).
pub async fn client_config(state: web::Data<AppState>) -> HttpResponse {
    let mut options = state.config.pusher_client_options();
    options["channelAuthEndpoint"] = json!("/api/realtime/auth");
    options["userAuthEndpoint"] = json!("/api/realtime/user-auth");
    HttpResponse::Ok().json(options)
}

