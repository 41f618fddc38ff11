//! The demo page: HTML, script and style are compiled in; pusher-js is served from the npm
//! install in `web/node_modules` (no CDN).

use actix_web::{web, HttpResponse};

use crate::server::AppState;

const INDEX: &str = include_str!("../../web/index.html");
const SCRIPT: &str = include_str!("../../web/app.js");
const STYLE: &str = include_str!("../../web/style.css");

/// Relative to `web_dir`.
pub const PUSHER_JS: &str = "node_modules/pusher-js/dist/web/pusher.min.js";

pub async fn index() -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(INDEX)
}

pub async fn script() -> HttpResponse {
    HttpResponse::Ok().content_type("application/javascript; charset=utf-8").body(SCRIPT)
}

pub async fn style() -> HttpResponse {
    HttpResponse::Ok().content_type("text/css; charset=utf-8").body(STYLE)
}

pub async fn pusher_js(state: web::Data<AppState>) -> HttpResponse {
    let path = state.config.web_dir.join(PUSHER_JS);
    match tokio::fs::read(&path).await {
        Ok(bytes) => HttpResponse::Ok().content_type("application/javascript; charset=utf-8").insert_header(("Cache-Control", "max-age=3600")).body(bytes),
        Err(_) => HttpResponse::NotFound().content_type("text/plain; charset=utf-8").body(format!(
            "pusher-js is not installed at {}: run `npm install --prefix {}` (see examples/nexora/README.md)",
            path.display(),
            state.config.web_dir.display()
        )),
    }
}
