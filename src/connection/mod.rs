//! WebSocket connections: the handshake at `/app/{key}`, the per-connection task, and the
//! handling of each client message.
//!
//! Every request that asks for `Upgrade: websocket` is decided by [`handshake`] and served by
//! [`serve`] in a task of its own, spawned by herald's own HTTP/1.1 reader (`listener/`) or
//! by actix-http's upgrade hook ([`accept`]). From then on the connection is herald's alone
//! (see `socket.rs` for why herald frames WebSocket messages itself).
//!
//! **Architecture invariant:** each connection has exactly one task, and it is the only
//! writer to its socket. The rest of the server reaches it through a `ConnHandle`.

mod handlers;
mod handshake;
pub mod origin;
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
/// handed to actix-http): the request and actix's two 8 KiB buffers are dropped here, and
/// the connection gets a task of its own, so actix's per-connection dispatcher ends at once.
pub fn accept<T>(state: State, req: Request, framed: Framed<T, h1::Codec>)
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let headers = req.headers().iter().map(|(name, value)| (name.as_str(), value.as_bytes()));
    let upgrade = UpgradeRequest::new(req.method() == Method::GET, req.path(), req.uri().query().unwrap_or(""), headers);
    let handshake = handshake(&state, &upgrade);
    let FramedParts { io, read_buf, .. } = framed.into_parts();
    let early = BytesMut::from(&read_buf[..]);
    actix_web::rt::spawn(serve(state, handshake, io, early));
}

/// What a WebSocket request's head decided. Owns everything it needs, so the request's
/// bytes can be dropped before the connection starts its long life.
pub enum Handshake {
    /// Not a request herald can upgrade: an HTTP error with a JSON body, then close.
    Refused { status: &'static str, message: String },
    /// The `101` answer, then the connection runs, or is closed at once with the code.
    Upgraded { response: Vec<u8>, admission: Result<Arc<AppHub>, CloseCode> },
}

/// Checks the handshake (RFC 6455) and admits or refuses the socket (path, protocol
/// version, app).
pub fn handshake(state: &State, upgrade: &UpgradeRequest<'_>) -> Handshake {
    let key = match route(upgrade.path) {
        Route::Elsewhere => {
            let message = "Not found: WebSocket connections go to /app/{key}".to_string();
            return Handshake::Refused { status: "404 Not Found", message };
        }
        Route::App(key) => Some(key),
        Route::MissingKey => None,
    };
    match upgrade.answer() {
        Err(refusal) => Handshake::Refused { status: refusal.status(), message: refusal.to_string() },
        Ok(response) => {
            let admission = match key {
                Some(key) => admit(state, key, upgrade),
                None => Err(close_code::PATH_NOT_FOUND),
            };
            Handshake::Upgraded { response, admission }
        }
    }
}

/// Serves a connection from its handshake to its end. `early` holds whatever the client
/// sent after its request head.
pub async fn serve<T>(state: State, handshake: Handshake, io: T, early: BytesMut)
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let (response, admission) = match handshake {
        Handshake::Refused { status, message } => return reply_and_close(io, status, &message).await,
        Handshake::Upgraded { response, admission } => (response, admission),
    };
    let socket = WsSocket::new(io, early, state.config.max_message_bytes);
    match admission {
        Ok(app) => session::run(state, app, socket, response).await,
        Err(code) => session::refuse(socket, response, code).await,
    }
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

/// Decides whether a new socket may connect, from the app key, the `protocol` parameter and
/// the page's origin.
fn admit(state: &State, key: &str, upgrade: &UpgradeRequest<'_>) -> Result<Arc<AppHub>, CloseCode> {
    let (query, origin) = (upgrade.query, upgrade.origin);
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
    let config = app.config();
    if !config.enabled {
        return Err(close_code::APP_DISABLED);
    }
    if !origin::allowed(&config.allowed_origins, origin, upgrade.host) {
        // Debug, not info: anyone can send these; the refusal count is a metric.
        tracing::debug!(app = %app.id(), origin = %String::from_utf8_lossy(origin.unwrap_or_default()), "connection refused: origin not in allowed_origins");
        return Err(close_code::ORIGIN_NOT_ALLOWED);
    }
    Ok(app)
}

/// `GET /app/...` without `Upgrade: websocket` reaches the ordinary routes: say what is missing.
pub async fn upgrade_required() -> HttpResponse {
    HttpResponse::BadRequest().json(serde_json::json!({
        "error": "WebSocket upgrade expected: connect with a WebSocket client to /app/{key}?protocol=7"
    }))
}
