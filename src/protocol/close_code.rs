//! WebSocket close codes and `pusher:error` codes, with the reconnect semantics clients apply.
//!
//! 4000–4099: do not reconnect unchanged; 4100–4199: reconnect after a backoff;
//! 4200–4299: reconnect at once; 4300–4399: other errors (sent as `pusher:error` only).

/// A close code with the reason text sent alongside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CloseCode {
    pub code: u16,
    pub reason: &'static str,
}

macro_rules! codes {
    ($($name:ident = $code:expr, $reason:expr;)*) => {
        $(pub const $name: CloseCode = CloseCode { code: $code, reason: $reason };)*
    };
}

codes! {
    APP_NOT_FOUND = 4001, "Application does not exist";
    APP_DISABLED = 4003, "Application disabled";
    OVER_QUOTA = 4004, "Application is over connection quota";
    PATH_NOT_FOUND = 4005, "Path not found";
    INVALID_VERSION = 4006, "Invalid version string format";
    UNSUPPORTED_PROTOCOL = 4007, "Unsupported protocol version";
    NO_PROTOCOL = 4008, "No protocol version supplied";
    UNAUTHORIZED_CONNECTION = 4009, "Connection not authorized within timeout";
    TERMINATED_BY_APP = 4009, "You got disconnected by the app";
    ORIGIN_NOT_ALLOWED = 4009, "Origin not allowed: add it to the app's allowed_origins";
    SLOW_CONSUMER = 4100, "Over capacity: the connection could not keep up with its messages";
    SERVER_SHUTDOWN = 4200, "Server is shutting down; reconnect";
    PONG_TIMEOUT = 4201, "Pong reply not received";
}

/// `pusher:error` code for a client event over the rate limit (sent without closing).
pub const CLIENT_EVENT_RATE_LIMIT: u16 = 4301;
/// `pusher:error` code for a watchlist longer than the limit (sent without closing).
pub const WATCHLIST_LIMIT: u16 = 4302;
