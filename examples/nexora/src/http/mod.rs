//! nexora's HTTP surface: the page, the JSON API the page uses, the two endpoints pusher-js
//! calls (`/api/realtime/auth`, `/api/realtime/user-auth`) and the cron endpoints.
//!
//! **Invariant:** handlers parse and answer; the rules live in `access`, `messaging`,
//! `notify` and `jobs`.

mod admin;
mod cron;
mod guilds;
mod messages;
mod notifications;
mod page;
mod realtime_auth;
mod session;

use actix_web::{error::JsonPayloadError, web, HttpRequest};
use serde::Deserialize;

use crate::error::AppError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let json = web::JsonConfig::default().limit(64 * 1024).error_handler(|e: JsonPayloadError, _: &HttpRequest| AppError::BadRequest(e.to_string()).into());
    cfg.app_data(json)
        .route("/", web::get().to(page::index))
        .route("/app.js", web::get().to(page::script))
        .route("/style.css", web::get().to(page::style))
        .route("/vendor/pusher.min.js", web::get().to(page::pusher_js))
        .service(
            web::scope("/api")
                .route("/health", web::get().to(admin::health))
                .route("/config", web::get().to(session::client_config))
                .route("/login", web::post().to(session::login))
                .route("/logout", web::post().to(session::logout))
                .route("/me", web::get().to(session::me))
                .route("/users", web::get().to(session::directory))
                .route("/realtime/auth", web::post().to(realtime_auth::channel))
                .route("/realtime/user-auth", web::post().to(realtime_auth::user))
                .route("/messages/{id}", web::patch().to(messages::edit))
                .route("/messages/{id}", web::delete().to(messages::delete))
                .route("/notifications", web::get().to(notifications::list))
                .route("/notifications/unread-count", web::get().to(notifications::unread_count))
                .route("/notifications/read-all", web::post().to(notifications::read_all))
                .route("/notifications/{id}/read", web::post().to(notifications::read_one))
                .route("/guilds/{id}", web::get().to(guilds::profile))
                .route("/guilds/{id}/join", web::post().to(guilds::join))
                .route("/guilds/{id}/online", web::get().to(guilds::online))
                .route("/users/{id}/profile", web::get().to(guilds::user_profile))
                .route("/leaderboard/{kind}", web::get().to(guilds::leaderboard))
                .route("/insights", web::get().to(guilds::insights))
                .route("/disputes", web::post().to(admin::raise_dispute))
                .route("/disputes/{id}/resolve", web::post().to(admin::resolve_dispute))
                .route("/announcements", web::post().to(admin::announce))
                .route("/admin/status", web::get().to(admin::status))
                .route("/cron/{job}", web::get().to(cron::run))
                .route("/{kind}/{id}/messages", web::get().to(messages::history))
                .route("/{kind}/{id}/messages", web::post().to(messages::send))
                .route("/{kind}/{id}/typing", web::post().to(messages::typing))
                .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(AppError::NotFound("no such API route".into())) })),
        );
}

/// The optional `socket_id` a request may carry so its sender's socket is excluded from the
/// resulting event (pusher's usual "don't echo to the sender").
#[derive(Debug, Default, Deserialize)]
pub struct SocketBody {
    pub socket_id: Option<String>,
}
