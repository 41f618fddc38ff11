//! `GET /up` (the process answers) and `GET /ready` (it wants traffic).

use actix_web::{web, HttpResponse};

use crate::state::State;

pub async fn up() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "up": true }))
}

pub async fn ready(state: web::Data<State>) -> HttpResponse {
    let shutting_down = state.is_shutting_down();
    let adapter_ok = state.adapter.is_healthy() || !state.config.ready_requires_adapter;
    let ready = !shutting_down && adapter_ok;
    let body = serde_json::json!({
        "ready": ready,
        "shutting_down": shutting_down,
        "adapter": state.adapter.status(),
    });
    if !ready {
        HttpResponse::ServiceUnavailable().json(body)
    } else {
        HttpResponse::Ok().json(body)
    }
}
