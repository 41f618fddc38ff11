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
    cfg.route("/app/{key}", web::get().to(connection::upgrade))
        .route("/app", web::get().to(connection::path_not_found))
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

async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({ "error": "Not found: see docs for the Pusher HTTP API routes" }))
}
