//! WebSocket connections: the handshake at `/app/{key}`, the per-connection task, and the
//! handling of each client message.
//!
//! Every request that asks for `Upgrade: websocket` reaches [`start`] with the raw stream:
//! from herald's own HTTP/1.1 reader (`listener/`) on plain TCP, or through actix-http's
//! upgrade hook ([`accept`]) on TLS. From then on the connection is herald's alone (see
//! `socket.rs` for why herald frames WebSocket messages itself).
//!
//! **Architecture invariant:** each connection has exactly one task, and it is the only
//! writer to its socket. The rest of the server reaches it through a `ConnHandle`.

mod handlers;
mod handshake;
mod rate_limit;
mod session;
mod socket;

use actix_codec::{Framed, FramedParts};
use actix_http::{h1, HttpMessage, Method, Request};
use actix_web::HttpResponse;
use bytes::BytesMut;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::hub::AppHub;
use crate::protocol::close_code::{self, CloseCode};
use crate::protocol::SUPPORTED_PROTOCOLS;
use crate::state::State;
use socket::WsSocket;

pub use handshake::UpgradeRequest;

/// Takes over a stream that actix-http upgraded (TLS, and connections herald's own reader
/// handed to actix-http): the request and actix's two 8 KiB buffers are dropped here, before
/// the connection starts its long life.
pub fn accept<T>(state: State, req: Request, framed: Framed<T, h1::Codec>)
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let headers = req.headers().iter().map(|(name, value)| (name.as_str(), value.as_bytes()));
    let upgrade = UpgradeRequest::new(req.method() == Method::GET, req.path(), req.uri().query().unwrap_or(""), headers);
    let FramedParts { io, read_buf, .. } = framed.into_parts();
    let early = BytesMut::from(&read_buf[..]);
    start(state, &upgrade, io, early);
}

/// Answers the handshake of `upgrade` on `io` and runs the connection in a task of its own.
/// `early` holds whatever the client sent after its request head.
pub fn start<T>(state: State, upgrade: &UpgradeRequest<'_>, io: T, early: BytesMut)
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let refusal = match (route(upgrade.path), upgrade.answer()) {
        (Route::Elsewhere, _) => Err(("404 Not Found", "Not found: WebSocket connections go to /app/{key}".to_string())),
        (_, Err(refusal)) => Err((refusal.status(), refusal.to_string())),
        (Route::App(key), Ok(handshake)) => Ok((Some(key.to_string()), handshake)),
        (Route::MissingKey, Ok(handshake)) => Ok((None, handshake)),
    };
    let query = upgrade.query.to_string();
    actix_web::rt::spawn(async move {
        let (key, handshake) = match refusal {
            Ok(accepted) => accepted,
            Err((status, message)) => return reply_and_close(io, status, &message).await,
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

/// Answers a request that cannot become a WebSocket with a JSON error, then closes.
async fn reply_and_close<T: AsyncWrite + Unpin>(mut io: T, status: &str, message: &str) {
    let body = serde_json::json!({ "error": message }).to_string();
    // RFC 6455 §4.2.2: a version refusal names the version the server speaks.
    let extra = match status.get(..3) {
        Some("426") => "sec-websocket-version: 13\r\n",
        Some("405") => "allow: GET\r\n",
        _ => "",
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n",
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
