//! WebSocket connections: the upgrade at `/app/{key}`, the per-connection task, and the
//! handling of each client message.
//!
//! **Architecture invariant:** each connection has exactly one task, and it is the only
//! writer to its socket. The rest of the server reaches it through a `ConnHandle`.

mod handlers;
mod rate_limit;
mod session;

use actix_web::{web, HttpRequest, HttpResponse};
use std::sync::Arc;

use crate::hub::AppHub;
use crate::protocol::close_code::{self, CloseCode};
use crate::protocol::SUPPORTED_PROTOCOLS;
use crate::state::State;

/// The subprotocol the Swift client offers; echoed so strict clients are satisfied.
const SUBPROTOCOL: &str = "pusher-channels-protocol-7";

/// `GET /app/{key}`: upgrade, then either run the connection or refuse it with a close code.
/// Refusals happen after the upgrade because pusher-js only understands close codes.
pub async fn upgrade(
    req: HttpRequest,
    body: web::Payload,
    key: web::Path<String>,
    state: web::Data<State>,
) -> actix_web::Result<HttpResponse> {
    let (response, session, stream) = actix_ws::handle_with_protocols(&req, body, &[SUBPROTOCOL])?;
    let state: State = state.get_ref().clone();
    let admission = admit(&state, &key, req.query_string());
    let stream = stream.max_frame_size(state.config.max_message_bytes).aggregate_continuations()
        .max_continuation_size(state.config.max_message_bytes);
    actix_web::rt::spawn(async move {
        match admission {
            Ok(app) => session::run(state, app, session, stream).await,
            Err(code) => session::refuse(session, code).await,
        }
    });
    Ok(response)
}

/// Decides whether a new socket may connect, from the app key and the `protocol` parameter.
fn admit(state: &State, key: &str, query: &str) -> Result<Arc<AppHub>, CloseCode> {
    if state.is_shutting_down() {
        return Err(close_code::SERVER_SHUTDOWN);
    }
    let protocol = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "protocol").map(|(_, v)| v.into_owned());
    match protocol {
        None => return Err(close_code::NO_PROTOCOL),
        Some(p) => match p.parse::<u32>() {
            Err(_) => return Err(close_code::INVALID_VERSION),
            Ok(v) if !SUPPORTED_PROTOCOLS.contains(&v) => return Err(close_code::UNSUPPORTED_PROTOCOL),
            Ok(_) => {}
        },
    }
    let app = state.app_by_key(key).ok_or(close_code::APP_NOT_FOUND)?;
    if !app.config.enabled {
        return Err(close_code::APP_DISABLED);
    }
    Ok(app.clone())
}

/// Any other path under the WebSocket prefix: `/app` without a key.
pub async fn path_not_found(req: HttpRequest, body: web::Payload) -> actix_web::Result<HttpResponse> {
    let (response, session, _stream) = actix_ws::handle(&req, body)?;
    actix_web::rt::spawn(session::refuse(session, close_code::PATH_NOT_FOUND));
    Ok(response)
}
