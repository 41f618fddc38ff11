//! The reference server's bytes on the wire: HTTP request heads, the WebSocket upgrade
//! answer, server frames (built once, shared by every recipient) and masked client frames.

use bytes::Bytes;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// What the server needs from an HTTP request head.
#[derive(Debug)]
pub struct Head {
    pub method: String,
    pub path: String,
    pub content_length: usize,
    pub keep_alive: bool,
    /// `Sec-WebSocket-Key`, on an upgrade request.
    pub ws_key: Option<String>,
}

/// Parses a request head from the front of `buf`: `Ok(None)` until it is complete, then the
/// head and its length in bytes.
pub fn parse_head(buf: &[u8]) -> Result<Option<(Head, usize)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf).map_err(|e| format!("bad HTTP request: {e}"))? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let mut head = Head {
        method: req.method.unwrap_or("").to_string(),
        path: req.path.unwrap_or("").to_string(),
        content_length: 0,
        keep_alive: req.version == Some(1),
        ws_key: None,
    };
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") {
            head.content_length = value.parse().map_err(|_| "bad Content-Length".to_string())?;
        } else if h.name.eq_ignore_ascii_case("connection") {
            let v = value.to_ascii_lowercase();
            if v.contains("close") {
                head.keep_alive = false;
            } else if v.contains("keep-alive") {
                head.keep_alive = true;
            }
        } else if h.name.eq_ignore_ascii_case("sec-websocket-key") {
            head.ws_key = Some(value.to_string());
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked bodies are not supported; send Content-Length".into());
        }
    }
    Ok(Some((head, len)))
}

/// The `101 Switching Protocols` answer to an upgrade with key `ws_key`.
pub fn upgrade_response(ws_key: &str) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(ws_key.as_bytes())
    )
}

/// An HTTP response with a JSON body.
pub fn http_response(status: &str, body: &str, keep_alive: bool) -> String {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: {connection}\r\n\r\n{body}",
        body.len()
    )
}

/// A complete, unmasked server frame: header and payload in one buffer.
pub fn frame(opcode: u8, payload: &[u8]) -> Bytes {
    let len = payload.len();
    let mut out = Vec::with_capacity(len + 10);
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(len as u8);
    } else if len <= u16::MAX as usize {
        out.push(126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(payload);
    out.into()
}

pub fn text(payload: &str) -> Bytes {
    frame(OP_TEXT, payload.as_bytes())
}

pub fn close(code: u16, reason: &str) -> Bytes {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(reason.as_bytes());
    frame(OP_CLOSE, &payload)
}

/// One frame from a client, unmasked.
pub struct ClientFrame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

/// Takes one complete frame off the front of `buf` (`Ok(None)` while incomplete). Clients
/// must mask their frames; anything larger than `max` is refused.
pub fn parse_client_frame(buf: &[u8], max: usize) -> Result<Option<(ClientFrame, usize)>, &'static str> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let (fin, opcode) = (buf[0] & 0x80 != 0, buf[0] & 0x0F);
    if buf[1] & 0x80 == 0 {
        return Err("client frames must be masked");
    }
    let (len, mut at) = match buf[1] & 0x7F {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")) as usize, 10),
        126 | 127 => return Ok(None),
        n => (n as usize, 2),
    };
    if len > max {
        return Err("frame too large");
    }
    if buf.len() < at + 4 + len {
        return Ok(None);
    }
    let mask = [buf[at], buf[at + 1], buf[at + 2], buf[at + 3]];
    at += 4;
    let payload = buf[at..at + len].iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
    Ok(Some((ClientFrame { fin, opcode, payload }, at + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_frame_round_trip() {
        let payload = b"{\"event\":\"pusher:ping\"}";
        let mask = [1u8, 2, 3, 4];
        let mut raw = vec![0x81, 0x80 | payload.len() as u8];
        raw.extend_from_slice(&mask);
        raw.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        assert!(parse_client_frame(&raw[..5], 1024).unwrap().is_none());
        let (f, used) = parse_client_frame(&raw, 1024).unwrap().unwrap();
        assert_eq!((f.fin, f.opcode, used), (true, OP_TEXT, raw.len()));
        assert_eq!(f.payload, payload);
    }

    #[test]
    fn server_frame_lengths() {
        assert_eq!(&text("hi")[..], b"\x81\x02hi");
        let long = "x".repeat(300);
        let f = text(&long);
        assert_eq!(&f[..4], &[0x81, 126, 1, 44]);
        assert_eq!(f.len(), 304);
    }

    #[test]
    fn head_parsing() {
        let raw = b"POST /apps/1/events?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n{\"name\":\"e\"}";
        let (head, len) = parse_head(raw).unwrap().unwrap();
        assert_eq!((head.method.as_str(), head.path.as_str(), head.content_length, head.keep_alive), ("POST", "/apps/1/events?x=1", 12, true));
        assert_eq!(raw.len() - len, 12);
        assert!(parse_head(b"GET / HTTP/1.1\r\nHost").unwrap().is_none());
    }
}
