//! `GET /apps/{id}/channels`, `/channels/{name}` and `/channels/{name}/users`.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use super::auth::{authenticate, ApiRequest, Authenticated};
use super::error::ApiError;
use super::limits::spend;
use crate::hub::budget::BudgetKind;
use crate::protocol::api_signature::QueryParams;
use crate::protocol::channel::ChannelType;
use crate::protocol::names;
use crate::state::State;

fn info_attributes(params: &QueryParams<'_>) -> Vec<String> {
    params
        .get("info")
        .map(|s| s.split(',').map(|a| a.trim().to_string()).filter(|a| !a.is_empty()).collect())
        .unwrap_or_default()
}

pub async fn list(
    state: web::Data<State>,
    req: HttpRequest,
    app_id: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let Authenticated { app, params, .. } = authenticate(&state, ApiRequest::of(&req), Some(&app_id), payload).await?;
    spend(&state, &app, BudgetKind::ReadRequests, 1).await?;
    let prefix = params.get("filter_by_prefix").map_or("", |p| p.as_ref());
    let mut user_count = false;
    let mut subscription_count = false;
    for attr in info_attributes(&params) {
        match attr.as_str() {
            "user_count" if prefix.starts_with("presence-") => user_count = true,
            "user_count" => {
                return Err(ApiError::bad_request("info=user_count is only allowed with filter_by_prefix=presence-"))
            }
            "subscription_count" => subscription_count = true,
            other => return Err(ApiError::bad_request(format!("Unknown info attribute '{other}'"))),
        }
    }
    let mut channels = Map::new();
    for (name, stats) in state.adapter.channels(&app, prefix).await {
        let mut entry = Map::new();
        if user_count {
            entry.insert("user_count".into(), stats.user_count.unwrap_or(0).into());
        }
        if subscription_count {
            entry.insert("subscription_count".into(), stats.subscription_count.into());
        }
        channels.insert(name, Value::Object(entry));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({ "channels": channels })))
}

pub async fn show(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (app_id, channel) = path.into_inner();
    let Authenticated { app, params, .. } = authenticate(&state, ApiRequest::of(&req), Some(&app_id), payload).await?;
    spend(&state, &app, BudgetKind::ReadRequests, 1).await?;
    names::validate_channel_name(&channel, app.config().max_channel_name_length).map_err(ApiError::bad_request)?;
    let presence = ChannelType::of(&channel).is_presence();
    let stats = state.adapter.channel_stats(&app, &channel).await;
    let mut out = Map::new();
    out.insert("occupied".into(), stats.is_some().into());
    let stats = stats.unwrap_or_default();
    for attr in info_attributes(&params) {
        match attr.as_str() {
            "user_count" if presence => {
                out.insert("user_count".into(), stats.user_count.unwrap_or(0).into());
            }
            "user_count" => return Err(ApiError::bad_request("info=user_count is only available for presence channels")),
            "subscription_count" => {
                out.insert("subscription_count".into(), stats.subscription_count.into());
            }
            // Always returned; accepted so clients that ask for it explicitly are not refused.
            "occupied" => {}
            "cache" if ChannelType::of(&channel).cache => {
                let cached = app.cache.info(&channel).map(|(data, ttl)| serde_json::json!({ "data": data, "ttl": ttl }));
                out.insert("cache".into(), cached.unwrap_or(Value::Null));
            }
            "cache" => return Err(ApiError::bad_request("info=cache is only available for cache channels")),
            other => return Err(ApiError::bad_request(format!("Unknown info attribute '{other}'"))),
        }
    }
    Ok(HttpResponse::Ok().json(Value::Object(out)))
}

pub async fn users(
    state: web::Data<State>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (app_id, channel) = path.into_inner();
    let Authenticated { app, .. } = authenticate(&state, ApiRequest::of(&req), Some(&app_id), payload).await?;
    spend(&state, &app, BudgetKind::ReadRequests, 1).await?;
    if !ChannelType::of(&channel).is_presence() {
        return Err(ApiError::bad_request("Users can only be listed for presence channels"));
    }
    let users: Vec<Value> =
        state.adapter.presence_users(&app, &channel).await.into_iter().map(|id| serde_json::json!({ "id": id })).collect();
    Ok(HttpResponse::Ok().json(serde_json::json!({ "users": users })))
}
