//! The endpoints pusher-js calls: channel authorization (`/api/realtime/auth`) and user
//! authentication for `signin()` (`/api/realtime/user-auth`). Both read `socket_id` (and
//! `channel_name`) form-encoded, as pusher-js sends them, or as JSON.
//!
//! No session → 401. A channel nexora does not build, or one the user may not join → 403.
//! Otherwise the body herald expects, signed by `herald::rest_client`.

use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use herald::protocol::socket_id::SocketId;
use herald::rest_client::RestError;

use crate::access;
use crate::auth::CurrentUser;
use crate::channels::AppChannel;
use crate::error::{AppError, AppResult};
use crate::server::AppState;

#[derive(Deserialize)]
struct ChannelRequest {
    socket_id: String,
    channel_name: String,
}

#[derive(Deserialize)]
struct UserRequest {
    socket_id: String,
}

/// Parses a form-encoded or JSON body, by content type.
fn parse_body<T: DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> AppResult<T> {
    let is_json = req.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("application/json"));
    let parsed = if is_json {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    } else {
        serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())
    };
    parsed.map_err(|e| AppError::BadRequest(format!("expected socket_id and channel_name, form-encoded or JSON: {e}")))
}

fn checked_socket_id(socket_id: &str) -> AppResult<()> {
    if SocketId::is_well_formed(socket_id) {
        Ok(())
    } else {
        Err(AppError::BadRequest(format!("socket_id '{socket_id}' is not of the form 1234.5678")))
    }
}

fn signing_error(e: RestError) -> AppError {
    match e {
        RestError::Invalid(message) => AppError::BadRequest(message),
        other => AppError::Internal(other.to_string()),
    }
}

pub async fn channel(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let CurrentUser(user) = CurrentUser::extract(&req).await?;
    let request: ChannelRequest = parse_body(&req, &body)?;
    checked_socket_id(&request.socket_id)?;
    let channel = AppChannel::parse(&request.channel_name)
        .ok_or_else(|| AppError::Forbidden(format!("'{}' is not a nexora channel", request.channel_name)))?;
    if !access::may_join(&state.db, user.id, &channel).await? {
        tracing::info!(user = user.id, channel = %request.channel_name, "channel authorization refused");
        return Err(AppError::Forbidden(format!("{} may not join {}", user.name, request.channel_name)));
    }
    let presence = channel.is_presence().then(|| json!({ "user_id": user.id.to_string(), "user_info": { "name": user.name } }));
    let auth = state.realtime.client().authorize_channel(&request.socket_id, &request.channel_name, presence.as_ref()).map_err(signing_error)?;
    Ok(HttpResponse::Ok().json(auth))
}

pub async fn user(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> AppResult<HttpResponse> {
    let CurrentUser(user) = CurrentUser::extract(&req).await?;
    let request: UserRequest = parse_body(&req, &body)?;
    checked_socket_id(&request.socket_id)?;
    let user_data = json!({ "id": user.id.to_string(), "user_info": { "name": user.name } });
    let auth = state.realtime.client().authenticate_user(&request.socket_id, &user_data).map_err(signing_error)?;
    Ok(HttpResponse::Ok().json(auth))
}
