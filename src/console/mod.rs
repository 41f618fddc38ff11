//! The debug console at `/console`: one page (HTML, CSS and JS embedded in the binary, no
//! external assets) and a small JSON + Server-Sent Events API under `/console/api/` that the
//! page drives with the admin token.
//!
//! - `auth.rs`: the `ConsoleAuth` extractor (console on? right token?).
//! - `api.rs`: apps, connection counts, occupied channels and the trigger form.
//! - `stream.rs`: the live feed of [`crate::tap`] events for one app.
//!
//! **Architecture invariant:** the console has no privileged path into the server. It reads
//! state through the adapter like the HTTP API does, and it publishes by calling the signed
//! HTTP API over the network with the app's own credentials.
//!
//! Everything answers 404 while `console_token` is empty, so a server without a console looks
//! exactly like one that never had it.

mod api;
mod auth;
mod stream;

use actix_web::http::header;
use actix_web::{web, HttpResponse};

use crate::http::ApiError;
use crate::state::State;

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

/// The page loads only its own script and style and talks only to its own origin.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Registers the console's routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/console", web::get().to(page))
        .route("/console/console.js", web::get().to(script))
        .route("/console/console.css", web::get().to(style))
        .route("/console/api/apps", web::get().to(api::apps))
        .route("/console/api/apps/{app_id}/channels", web::get().to(api::channels))
        .route("/console/api/apps/{app_id}/events", web::post().to(api::trigger))
        .route("/console/api/apps/{app_id}/stream", web::get().to(stream::stream));
}

async fn page(state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    asset(&state, "text/html; charset=utf-8", PAGE)
}

async fn script(state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    asset(&state, "text/javascript; charset=utf-8", SCRIPT)
}

async fn style(state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    asset(&state, "text/css; charset=utf-8", STYLE)
}

/// The page and its assets are public (the page asks for the token); only the API is guarded.
fn asset(state: &State, content_type: &str, body: &'static str) -> Result<HttpResponse, ApiError> {
    auth::ensure_enabled(state)?;
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}
