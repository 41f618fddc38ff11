//! WebSocket connections: the handshake at `/app/{key}`, the per-connection task, and the
//! handling of each client message.
//!
//! actix-http parses the request head of every request that asks for `Upgrade: websocket` and
//! hands the raw stream to [`accept`]; from then on the connection is herald's alone (see
//! `socket.rs` for why herald frames WebSocket messages itself).
//!
//! **Architecture invariant:** each connection has exactly one task, and it is the only
//! writer to its socket. The rest of the server reaches it through a `ConnHandle`.

mod handlers;
mod rate_limit;
mod session;
mod socket;

use actix_codec::{Framed, FramedParts};
use actix_http::{h1, ws, HttpMessage, Request};
use actix_web::HttpResponse;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::hub::AppHub;
use crate::protocol::close_code::{self, CloseCode};
use crate::protocol::SUPPORTED_PROTOCOLS;
use crate::state::State;
use socket::WsSocket;

/// The subprotocol the Swift client offers; echoed so strict clients are satisfied.
const SUBPROTOCOL: &str = "pusher-channels-protocol-7";

/// Takes over an upgraded stream: answers the handshake and runs the connection in a task of
/// its own, so actix's per-connection dispatcher (and its buffers) is released at once.
pub fn accept<T>(state: State, req: Request, framed: Framed<T, h1::Codec>)
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    // Only what the connection needs is kept: the request and actix's 8 KiB read and write
    // buffers are dropped here, before the connection starts its long life.
    let refusal = match (route(req.path()), handshake_response(&req)) {
        (Route::Elsewhere, _) => {
            Err(("404 Not Found".to_string(), serde_json::json!({ "error": "Not found: WebSocket connections go to /app/{key}" })))
        }
        (_, Err(e)) => {
            let status = actix_http::Response::from(&e).status();
            Err((format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or("")), serde_json::json!({ "error": e.to_string() })))
        }
        (Route::App(key), Ok(handshake)) => Ok((Some(key.to_string()), handshake)),
        (Route::MissingKey, Ok(handshake)) => Ok((None, handshake)),
    };
    let query = req.uri().query().unwrap_or("").to_string();
    drop(req);
    let FramedParts { io, read_buf, .. } = framed.into_parts();
    let early = bytes::BytesMut::from(&read_buf[..]);
    drop(read_buf);
    actix_web::rt::spawn(async move {
        let (key, handshake) = match refusal {
            Ok(accepted) => accepted,
            Err((status, body)) => return reply_and_close(io, &status, &body).await,
        };
        let socket = WsSocket::new(io, early, state.config.max_message_bytes);
        let admission = match key {
            Some(key) => admit(&state, &key, &query),
            None => Err(close_code::PATH_NOT_FOUND),
        };
        match admission {
            Ok(app) => session::run(state, app, socket, handshake).await,
            Err(code) => session::refuse(socket, handshake, code).await,
        }
    });
}

/// Where an upgrade request was sent.
enum Route<'a> {
    App(&'a str),
    /// `/app` or `/app/` without a key: refused with a close code, since pusher-js only
    /// understands those.
    MissingKey,
    Elsewhere,
}

fn route(path: &str) -> Route<'_> {
    match path.strip_prefix("/app") {
        Some("" | "/") => Route::MissingKey,
        Some(rest) => match rest.strip_prefix('/') {
            Some(key) if !key.contains('/') => Route::App(key),
            _ => Route::Elsewhere,
        },
        None => Route::Elsewhere,
    }
}

/// Checks the handshake (RFC 6455 §4.2.1) and builds the `101 Switching Protocols` answer.
fn handshake_response(req: &Request) -> Result<Vec<u8>, ws::HandshakeError> {
    ws::verify_handshake(req.head())?;
    let key = req.headers().get(actix_http::header::SEC_WEBSOCKET_KEY).ok_or(ws::HandshakeError::BadWebsocketKey)?;
    let accept = ws::hash_key(key.as_bytes());
    let mut response = Vec::with_capacity(192);
    response.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ");
    response.extend_from_slice(&accept);
    response.extend_from_slice(b"\r\n");
    let offers_subprotocol = req
        .headers()
        .get_all(actix_http::header::SEC_WEBSOCKET_PROTOCOL)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim() == SUBPROTOCOL);
    if offers_subprotocol {
        response.extend_from_slice(format!("sec-websocket-protocol: {SUBPROTOCOL}\r\n").as_bytes());
    }
    response.extend_from_slice(b"\r\n");
    Ok(response)
}

/// Answers a request that cannot become a WebSocket with a JSON error, then closes.
async fn reply_and_close<T: AsyncWrite + Unpin>(mut io: T, status: &str, body: &serde_json::Value) {
    let body = body.to_string();
    // RFC 6455 §4.2.2: a version refusal names the version the server speaks.
    let version = if status.starts_with("426") { "sec-websocket-version: 13\r\n" } else { "" };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{version}connection: close\r\n\r\n",
        body.len()
    );
    let _ = io.write_all(head.as_bytes()).await;
    let _ = io.write_all(body.as_bytes()).await;
    let _ = io.shutdown().await;
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

/// `GET /app/...` without `Upgrade: websocket` reaches the ordinary routes: say what is missing.
pub async fn upgrade_required() -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({
        "error": "WebSocket upgrade expected: connect with a WebSocket client to /app/{key}?protocol=7"
    }))
}
