//! The HTTP side: the signed Pusher HTTP API, health endpoints and the WebSocket route.
//!
//! **Architecture invariant:** handlers talk to channel state only through the adapter, so
//! every answer is cluster-wide whichever adapter runs.

mod auth;
mod channels;
mod error;
mod events;
mod health;
mod users;

pub use error::ApiError;

use actix_web::{web, HttpResponse};

use crate::connection;

/// Registers every route on an actix `App`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // WebSocket upgrades never get here (see `server.rs`); plain requests to their paths do.
    cfg.route("/app/{key}", web::get().to(connection::upgrade_required))
        .route("/app", web::get().to(connection::upgrade_required))
        .route("/up", web::get().to(health::up))
        .route("/ready", web::get().to(health::ready))
        .route("/apps/{app_id}/events", web::post().to(events::trigger))
        .route("/apps/{app_id}/batch_events", web::post().to(events::batch))
        .route("/apps/{app_id}/channels", web::get().to(channels::list))
        .route("/apps/{app_id}/channels/{channel}", web::get().to(channels::show))
        .route("/apps/{app_id}/channels/{channel}/users", web::get().to(channels::users))
        .route("/apps/{app_id}/users/{user_id}/terminate_connections", web::post().to(users::terminate))
        .route("/users/{user_id}/terminate_connections", web::post().to(users::terminate_without_app))
        .configure(crate::console::routes)
        .default_service(web::to(not_found));
}

/// Counts HTTP API requests by app, route pattern and status, and times them.
pub async fn count_api_requests(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let response = next.call(req).await?;
    let request = response.request();
    let route = request.match_pattern().unwrap_or_else(|| "unmatched".into());
    if route.starts_with("/apps") || route.starts_with("/users") {
        let app = request
            .match_info()
            .get("app_id")
            .filter(|id| request.app_data::<web::Data<crate::state::State>>().is_some_and(|s| s.app_by_id(id).is_some()))
            .unwrap_or("unknown")
            .to_string();
        let m = crate::metrics::metrics();
        let status = response.status().as_u16().to_string();
        m.api_requests.get_or_create(&crate::metrics::ApiLabels { app, route: route.clone(), status }).inc();
        m.api_duration.get_or_create(&crate::metrics::RouteLabel { route }).observe(started.elapsed().as_secs_f64());
    }
    Ok(response)
}

/// `GET /metrics` on the metrics listener. Gauges that describe state are read now.
pub async fn metrics_endpoint(state: web::Data<crate::state::State>) -> HttpResponse {
    let m = crate::metrics::metrics();
    for app in state.apps() {
        let label = crate::metrics::AppLabel { app: app.config.id.clone() };
        let channels = app.channels("");
        let members: usize = channels.iter().filter_map(|(_, s)| s.user_count).sum();
        m.occupied_channels.get_or_create(&label).set(channels.len() as i64);
        m.presence_members.get_or_create(&label).set(members as i64);
    }
    if state.adapter.status()["kind"] == "redis" {
        m.redis_connected.set(state.adapter.is_healthy() as i64);
    }
    HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(m.encode())
}

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({ "error": "Not found: see docs for the Pusher HTTP API routes" }))
}
