//! The console's JSON endpoints: the apps, one app's connections and occupied channels, and
//! the trigger form.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::ConsoleAuth;
use crate::http::ApiError;
use crate::hub::AppHub;
use crate::rest_client::{RestClient, RestError};
use crate::state::State;

/// Most channel rows one answer carries; the page polls every second, so a server with a
/// hundred thousand channels must not make it download them all.
const MAX_CHANNEL_ROWS: usize = 1000;

/// `GET /console/api/apps`: every configured app with its id, key and connection count. The
/// secret never leaves the server.
pub async fn apps(_: ConsoleAuth, state: web::Data<State>) -> HttpResponse {
    let mut apps: Vec<Arc<AppHub>> = state.apps();
    apps.sort_by(|a, b| a.id().cmp(b.id()));
    let apps: Vec<Value> = apps
        .into_iter()
        .map(|app| {
            json!({
                "id": app.id(),
                "key": app.config().key,
                "enabled": app.config().enabled,
                "client_events": app.config().client_events,
                "connections": app.connection_count(),
            })
        })
        .collect();
    HttpResponse::Ok().json(json!({ "apps": apps }))
}

#[derive(Deserialize)]
pub struct ChannelsQuery {
    #[serde(default)]
    prefix: String,
}

/// `GET /console/api/apps/{id}/channels[?prefix=]`: occupied channels cluster-wide (through the
/// adapter) with subscriber and presence member counts, sorted by name.
pub async fn channels(
    _: ConsoleAuth,
    state: web::Data<State>,
    app_id: web::Path<String>,
    query: web::Query<ChannelsQuery>,
) -> Result<HttpResponse, ApiError> {
    let app = find_app(&state, &app_id)?;
    let mut channels = state.adapter.channels(&app, &query.prefix).await;
    channels.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let total = channels.len();
    let rows: Vec<Value> = channels
        .into_iter()
        .take(MAX_CHANNEL_ROWS)
        .map(|(name, stats)| json!({ "name": name, "subscription_count": stats.subscription_count, "user_count": stats.user_count }))
        .collect();
    Ok(HttpResponse::Ok().json(json!({
        "app": app.id(),
        "connections": state.adapter.connection_count(&app).await,
        "total": total,
        "truncated": total > MAX_CHANNEL_ROWS,
        "channels": rows,
    })))
}

/// What the page's trigger form sends.
#[derive(Deserialize)]
struct TriggerForm {
    channels: Vec<String>,
    name: String,
    data: String,
}

/// `POST /console/api/apps/{id}/events`: publishes through the real, signed HTTP API. The
/// server calls its own `/apps/{id}/events` with the app's credentials, so the event passes
/// the same signature check, validation, limits, tap and webhooks as any library's would.
/// The API's own refusals (a bad channel name, data too large…) come back as 422 with its
/// message, so that a 401 always means a wrong console token to the page.
pub async fn trigger(
    _: ConsoleAuth,
    state: web::Data<State>,
    req: HttpRequest,
    app_id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let app = find_app(&state, &app_id)?;
    let form: TriggerForm = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("Expected {{\"channels\": [..], \"name\", \"data\"}}: {e}")))?;
    let channels: Vec<&str> = form.channels.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).collect();
    if channels.is_empty() {
        return Err(ApiError::bad_request("Name at least one channel"));
    }

    let base_url = own_base_url(&req, &state);
    let client = if base_url.starts_with("https") {
        // This call goes to this very process over loopback; its certificate names the public
        // host (or is self-signed), so it cannot be verified here. Only this self-call skips it.
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| ApiError { status: actix_web::http::StatusCode::BAD_GATEWAY, message: e.to_string() })?;
        RestClient::with_http_client(&base_url, app.id(), &app.config().key, &app.config().secret, http)
    } else {
        RestClient::new(&base_url, app.id(), &app.config().key, &app.config().secret)
    };
    match client.trigger(&channels, form.name.trim(), &form.data, None).await {
        Ok(answer) => Ok(HttpResponse::Ok().json(json!({ "ok": true, "api": answer }))),
        Err(RestError::Status { status, body }) => {
            let reason = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
                .unwrap_or(body);
            Err(ApiError { status: StatusCode::UNPROCESSABLE_ENTITY, message: format!("The HTTP API answered {status}: {reason}") })
        }
        Err(RestError::Invalid(reason)) => Err(ApiError::bad_request(reason)),
        Err(e @ RestError::Transport(_)) => {
            tracing::warn!(url = %base_url, error = %e, "console could not reach this server's own HTTP API");
            Err(ApiError { status: StatusCode::BAD_GATEWAY, message: format!("Could not reach this server's HTTP API at {base_url}: {e}") })
        }
    }
}

pub(super) fn find_app(state: &State, app_id: &str) -> Result<Arc<AppHub>, ApiError> {
    state.app_by_id(app_id).ok_or_else(|| ApiError::not_found(format!("Unknown app id '{app_id}'")))
}

/// Where this server's own HTTP API answers: the listener the console request came in on,
/// rather than `host`/`port` from the config, because `port = 0` binds a random port and
/// `0.0.0.0`/`::` cannot be connected to (the loopback address of the same family is used).
/// The scheme follows the listener: `https` when it speaks TLS.
fn own_base_url(req: &HttpRequest, state: &State) -> String {
    let addr = state.listener.get().and_then(|l| l.local_addr().ok()).unwrap_or_else(|| req.app_config().local_addr());
    let ip = match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let scheme = if !state.config.tls_cert.is_empty() { "https" } else { "http" };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}
