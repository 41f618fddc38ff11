//! `POST /apps/{id}/users/{user_id}/terminate_connections`, and the same without the app
//! prefix (the path the Python library sends; the app is found from `auth_key`).

use actix_web::{web, HttpRequest, HttpResponse};

use super::auth::{authenticate, ApiRequest, Authenticated};
use super::error::ApiError;
use crate::protocol::names;
use crate::state::State;

pub async fn terminate(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (app_id, user_id) = path.into_inner();
    terminate_user(&state, &req, Some(&app_id), &user_id, payload).await
}

pub async fn terminate_without_app(
    state: web::Data<State>,
    req: HttpRequest,
    user_id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    terminate_user(&state, &req, None, &user_id, payload).await
}

async fn terminate_user(
    state: &State,
    req: &HttpRequest,
    app_id: Option<&str>,
    user_id: &str,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Authenticated { app, .. } = authenticate(state, ApiRequest::of(req), app_id, payload).await?;
    names::validate_user_id(user_id, 200).map_err(ApiError::bad_request)?;
    state.adapter.terminate_user(&app, user_id).await;
    Ok(HttpResponse::Ok().json(serde_json::json!({})))
}
