//! The WebSocket opening handshake (RFC 6455 §4.2): what a request head must carry, and the
//! `101 Switching Protocols` answer.
//!
//! Request heads reach herald parsed two ways (herald's own reader in `listener/`, and
//! actix-http for TLS and for connections handed to it), so the checks work on an
//! [`UpgradeRequest`] both can fill from their header lists.

use base64::Engine;

/// The subprotocol the Swift client offers; echoed so strict clients are satisfied.
const SUBPROTOCOL: &str = "pusher-channels-protocol-7";

/// What the handshake needs of a request: gathered in one pass over its headers.
#[derive(Debug, Default, Clone, Copy)]
pub struct UpgradeRequest<'a> {
    pub is_get: bool,
    /// The path, before `?`.
    pub path: &'a str,
    /// The query, after `?` (empty when there is none).
    pub query: &'a str,
    /// An `Upgrade` header names `websocket`.
    pub upgrade_websocket: bool,
    /// A `Connection` header lists `upgrade`.
    connection_upgrade: bool,
    /// A `Connection` header lists `close`, which rules the upgrade out.
    connection_close: bool,
    version: Option<&'a [u8]>,
    key: Option<&'a [u8]>,
    offers_subprotocol: bool,
    /// The page's origin, sent by browsers (checked against the app's `allowed_origins`).
    pub origin: Option<&'a [u8]>,
    /// The `Host` header: an origin equal to it is the server's own.
    pub host: Option<&'a [u8]>,
}

impl<'a> UpgradeRequest<'a> {
    /// Reads the headers that matter; names compare case-insensitively.
    pub fn new(is_get: bool, path: &'a str, query: &'a str, headers: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Self {
        let mut request = UpgradeRequest { is_get, path, query, ..Default::default() };
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("upgrade") {
                request.upgrade_websocket |= value.trim_ascii().eq_ignore_ascii_case(b"websocket");
            } else if name.eq_ignore_ascii_case("connection") {
                for option in value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                    request.connection_upgrade |= option.eq_ignore_ascii_case(b"upgrade");
                    request.connection_close |= option.eq_ignore_ascii_case(b"close");
                }
            } else if name.eq_ignore_ascii_case("sec-websocket-version") {
                request.version.get_or_insert(value);
            } else if name.eq_ignore_ascii_case("sec-websocket-key") {
                request.key.get_or_insert(value);
            } else if name.eq_ignore_ascii_case("origin") {
                request.origin.get_or_insert(value);
            } else if name.eq_ignore_ascii_case("host") {
                request.host.get_or_insert(value);
            } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
                request.offers_subprotocol |= value.split(|&b| b == b',').any(|p| p.trim_ascii() == SUBPROTOCOL.as_bytes());
            }
        }
        request
    }

    /// Checks the handshake (RFC 6455 §4.2.1) and builds the `101 Switching Protocols` answer.
    pub fn answer(&self) -> Result<Vec<u8>, Refusal> {
        if !self.is_get {
            return Err(Refusal::MethodNotGet);
        }
        if !self.upgrade_websocket {
            return Err(Refusal::NoWebSocketUpgrade);
        }
        if !self.connection_upgrade || self.connection_close {
            return Err(Refusal::NoConnectionUpgrade);
        }
        match self.version {
            None => return Err(Refusal::NoVersion),
            Some(b"13") => {}
            Some(_) => return Err(Refusal::UnsupportedVersion),
        }
        let key = self.key.filter(|key| is_valid_key(key)).ok_or(Refusal::BadKey)?;
        let mut response = Vec::with_capacity(192);
        response.extend_from_slice(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: ");
        response.extend_from_slice(&actix_http::ws::hash_key(key));
        response.extend_from_slice(b"\r\n");
        if self.offers_subprotocol {
            response.extend_from_slice(format!("sec-websocket-protocol: {SUBPROTOCOL}\r\n").as_bytes());
        }
        response.extend_from_slice(b"\r\n");
        Ok(response)
    }
}

/// Why a request cannot become a WebSocket; answered with a JSON error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("WebSocket handshakes use GET")]
    MethodNotGet,
    #[error("WebSocket upgrade expected: send `Upgrade: websocket`")]
    NoWebSocketUpgrade,
    #[error("WebSocket upgrade expected: send `Connection: Upgrade`")]
    NoConnectionUpgrade,
    #[error("missing Sec-WebSocket-Version: herald speaks version 13")]
    NoVersion,
    #[error("unsupported WebSocket version: herald speaks version 13")]
    UnsupportedVersion,
    #[error("missing or malformed Sec-WebSocket-Key")]
    BadKey,
}

impl Refusal {
    /// The status line's code and reason.
    pub fn status(self) -> &'static str {
        match self {
            Refusal::MethodNotGet => "405 Method Not Allowed",
            // RFC 6455 §4.2.2: a version the server does not speak is 426, naming the one it does.
            Refusal::UnsupportedVersion => "426 Upgrade Required",
            _ => "400 Bad Request",
        }
    }
}

/// RFC 6455 §4.2.1: the key is 16 bytes, base64-encoded.
fn is_valid_key(key: &[u8]) -> bool {
    let mut decoded = [0u8; 18];
    key.len() == 24 && base64::engine::general_purpose::STANDARD.decode_slice(key, &mut decoded) == Ok(16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(headers: &[(&'static str, &'static str)]) -> UpgradeRequest<'static> {
        UpgradeRequest::new(true, "/app/key", "protocol=7", headers.iter().map(|(n, v)| (*n, v.as_bytes())))
    }

    const VALID: [(&str, &str); 4] = [
        ("Upgrade", "websocket"),
        ("Connection", "keep-alive, Upgrade"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ];

    #[test]
    fn the_rfc_example_key_gets_the_rfc_accept_value() {
        let answer = String::from_utf8(request(&VALID).answer().unwrap()).unwrap();
        assert!(answer.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{answer}");
        assert!(answer.contains("sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{answer}");
        assert!(!answer.contains("sec-websocket-protocol"), "{answer}");
        assert!(answer.ends_with("\r\n\r\n"));
    }

    #[test]
    fn the_pusher_subprotocol_is_echoed_when_offered() {
        let mut headers = VALID.to_vec();
        headers.push(("sec-websocket-protocol", "chat, pusher-channels-protocol-7"));
        let answer = String::from_utf8(request(&headers).answer().unwrap()).unwrap();
        assert!(answer.contains("sec-websocket-protocol: pusher-channels-protocol-7\r\n"), "{answer}");
    }

    #[test]
    fn each_missing_piece_is_refused_with_its_own_status() {
        let without = |name: &str| request(&VALID.iter().copied().filter(|(n, _)| *n != name).collect::<Vec<_>>()).answer();
        assert_eq!(without("Upgrade"), Err(Refusal::NoWebSocketUpgrade));
        assert_eq!(without("Connection"), Err(Refusal::NoConnectionUpgrade));
        assert_eq!(without("Sec-WebSocket-Version"), Err(Refusal::NoVersion));
        assert_eq!(without("Sec-WebSocket-Key"), Err(Refusal::BadKey));
        let mut old = VALID.to_vec();
        old[2] = ("Sec-WebSocket-Version", "8");
        assert_eq!(request(&old).answer(), Err(Refusal::UnsupportedVersion));
        assert_eq!(Refusal::UnsupportedVersion.status(), "426 Upgrade Required");
        let mut short_key = VALID.to_vec();
        short_key[3] = ("Sec-WebSocket-Key", "c2hvcnQ=");
        assert_eq!(request(&short_key).answer(), Err(Refusal::BadKey));
        let mut closing = VALID.to_vec();
        closing[1] = ("Connection", "upgrade, close");
        assert_eq!(request(&closing).answer(), Err(Refusal::NoConnectionUpgrade));
        let post = UpgradeRequest { is_get: false, ..request(&VALID) };
        assert_eq!(post.answer(), Err(Refusal::MethodNotGet));
        assert_eq!(Refusal::MethodNotGet.status(), "405 Method Not Allowed");
    }
}
