//! The HTTP side: the signed Pusher HTTP API, health endpoints and the WebSocket route.
//!
//! **Architecture invariant:** handlers talk to channel state only through the adapter, so
//! every answer is cluster-wide whichever adapter runs.

mod auth;
mod channels;
mod error;
mod events;
mod front;
mod health;
mod limits;
mod users;

pub use auth::ApiRequest;
pub use error::ApiError;
pub use front::{answer as answer_publishing, publishing_first, publishing_route, Publishing};

use actix_web::{web, HttpResponse};

use crate::connection;

/// Registers every route on an actix `App`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    // `POST /apps/{app_id}/events` and `/batch_events` never get here: `front.rs` answers
    // them before the `App`. WebSocket upgrades never get here either (see `server.rs`);
    // plain requests to their paths do.
    cfg.route("/app/{key}", web::get().to(connection::upgrade_required))
        .route("/app", web::get().to(connection::upgrade_required))
        .route("/up", web::get().to(health::up))
        .route("/ready", web::get().to(health::ready))
        .route("/apps/{app_id}/channels", web::get().to(channels::list))
        .route("/apps/{app_id}/channels/{channel}", web::get().to(channels::show))
        .route("/apps/{app_id}/channels/{channel}/users", web::get().to(channels::users))
        .route("/apps/{app_id}/users/{user_id}/terminate_connections", web::post().to(users::terminate))
        .route("/users/{user_id}/terminate_connections", web::post().to(users::terminate_without_app))
        .configure(crate::console::routes)
        .default_service(web::to(not_found));
}

/// The route pattern of an HTTP API path, as the metrics label it, or `None` for paths that
/// are not the API's. Worked out from the path's shape rather than asked of actix's router,
/// which would match the route table's regexes a second time for every request.
fn api_route(path: &str) -> Option<&'static str> {
    // The longest API path has 6 segments; a seventh slot marks "longer than any route".
    let mut segments = [""; 7];
    let mut count = 0;
    for segment in path.split('/').take(segments.len()) {
        segments[count] = segment;
        count += 1;
    }
    let route = match &segments[..count] {
        ["", "apps", _, "events"] => "/apps/{app_id}/events",
        ["", "apps", _, "batch_events"] => "/apps/{app_id}/batch_events",
        ["", "apps", _, "channels"] => "/apps/{app_id}/channels",
        ["", "apps", _, "channels", _] => "/apps/{app_id}/channels/{channel}",
        ["", "apps", _, "channels", _, "users"] => "/apps/{app_id}/channels/{channel}/users",
        ["", "apps", _, "users", _, "terminate_connections"] => "/apps/{app_id}/users/{user_id}/terminate_connections",
        ["", "users", _, "terminate_connections"] => "/users/{user_id}/terminate_connections",
        ["", "apps", ..] | ["", "users", ..] => "unmatched",
        _ => return None,
    };
    Some(route)
}

/// Counts HTTP API requests by app, route pattern and status, and times them.
pub async fn count_api_requests(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let response = next.call(req).await?;
    let request = response.request();
    if let (Some(route), Some(state)) = (api_route(request.path()), request.app_data::<web::Data<crate::state::State>>()) {
        let app_id = request.match_info().get("app_id").unwrap_or("");
        record_api_request(state, app_id, route, response.status(), started);
    }
    Ok(response)
}

/// Counts one HTTP API request by app (`unknown` for an id no app has), route pattern and
/// status, and records how long it took. A 200 on a publishing route, nearly every request,
/// goes through handles resolved once instead of building and looking up label sets.
fn record_api_request(state: &crate::state::State, app_id: &str, route: &'static str, status: actix_web::http::StatusCode, started: std::time::Instant) {
    let app = state.app_by_id(app_id);
    let known = app.is_some();
    let m = crate::metrics::metrics();
    let seconds = started.elapsed().as_secs_f64();
    let publishing = crate::metrics::PUBLISHING_ROUTES.iter().position(|r| *r == route);
    if let (Some(app), Some(i), true) = (app, publishing, status == actix_web::http::StatusCode::OK) {
        app.metrics.published_ok[i].inc();
        m.publishing_duration[i].observe(seconds);
        return;
    }
    let app = if known { app_id } else { "unknown" };
    m.api_requests.get_or_create(&crate::metrics::ApiLabels { app: app.to_string(), route, status: status.as_u16() }).inc();
    m.api_duration.get_or_create(&crate::metrics::RouteLabel { route }).observe(seconds);
}

/// `GET /metrics` on the metrics listener. Gauges that describe state are read now.
pub async fn metrics_endpoint(state: web::Data<crate::state::State>) -> HttpResponse {
    let m = crate::metrics::metrics();
    for app in state.apps() {
        let label = crate::metrics::AppLabel { app: app.id().to_string() };
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

#[cfg(test)]
mod tests {
    use super::api_route;

    #[test]
    fn api_routes_are_labelled_by_pattern() {
        assert_eq!(api_route("/apps/1/events"), Some("/apps/{app_id}/events"));
        assert_eq!(api_route("/apps/1/batch_events"), Some("/apps/{app_id}/batch_events"));
        assert_eq!(api_route("/apps/1/channels/presence-x/users"), Some("/apps/{app_id}/channels/{channel}/users"));
        assert_eq!(api_route("/apps/1/users/u/terminate_connections"), Some("/apps/{app_id}/users/{user_id}/terminate_connections"));
        assert_eq!(api_route("/users/u/terminate_connections"), Some("/users/{user_id}/terminate_connections"));
        assert_eq!(api_route("/apps/1/nothing/a/b/c/d/e"), Some("unmatched"));
        assert_eq!(api_route("/up"), None);
        assert_eq!(api_route("/console"), None);
    }
}
