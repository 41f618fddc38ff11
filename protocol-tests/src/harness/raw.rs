//! A WebSocket client that does only what the test says: it never answers a ping, never reads
//! unless asked, and can shrink its TCP receive buffer. Liveness tests need a client that
//! stays silent (tungstenite answers pings by itself); slow-consumer tests need one that stops
//! reading. Framing is RFC 6455 with no extensions.

use serde_json::Value;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use super::ws::WAIT;

pub struct RawSocket {
    stream: TcpStream,
    /// Bytes read from the socket but not yet consumed as a frame.
    buf: Vec<u8>,
    /// The opcode and data of a fragmented message still being received.
    fragments: Option<(u8, Vec<u8>)>,
}

/// One complete message or control frame from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RawFrame {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close { code: Option<u16>, reason: String },
}

impl RawSocket {
    /// Connects and upgrades `path_and_query`. `recv_buffer` sets SO_RCVBUF before connecting,
    /// which keeps the kernel from buffering much for a client that stops reading.
    pub async fn connect(addr: SocketAddr, path_and_query: &str, recv_buffer: Option<u32>) -> RawSocket {
        let socket = TcpSocket::new_v4().expect("create a TCP socket");
        if let Some(size) = recv_buffer {
            socket.set_recv_buffer_size(size).expect("set SO_RCVBUF");
        }
        let stream = match tokio::time::timeout(WAIT, socket.connect(addr)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => panic!("TCP connect to {addr} failed: {e}"),
            Err(_) => panic!("TCP connect to {addr} took longer than {WAIT:?}"),
        };
        let mut raw = RawSocket { stream, buf: Vec::new(), fragments: None };
        raw.write_all(&upgrade_request(addr, path_and_query)).await;
        raw.expect_upgraded().await;
        raw
    }

    /// Upgrades `path_and_query` with `text` as a masked frame in the same write as the
    /// handshake, before the server has answered; reads the handshake response and the
    /// `connection_established` that follows it. Returns the socket id.
    pub async fn connect_with_early_text(addr: SocketAddr, path_and_query: &str, text: &str) -> (RawSocket, String) {
        let stream = tokio::time::timeout(WAIT, TcpStream::connect(addr)).await.expect("connect in time").expect("connect");
        let mut raw = RawSocket { stream, buf: Vec::new(), fragments: None };
        let mut bytes = upgrade_request(addr, path_and_query);
        bytes.extend(masked_frame(0x1, text.as_bytes()));
        raw.write_all(&bytes).await;
        raw.expect_upgraded().await;
        let socket_id = raw.expect_established().await;
        (raw, socket_id)
    }

    /// Connects to `/app/{key}` with protocol 7 and reads the handshake; returns the socket id.
    pub async fn connect_app(addr: SocketAddr, key: &str, recv_buffer: Option<u32>) -> (RawSocket, String) {
        let mut raw = RawSocket::connect(addr, &format!("/app/{key}?protocol=7"), recv_buffer).await;
        let socket_id = raw.expect_established().await;
        (raw, socket_id)
    }

    /// Reads the `101 Switching Protocols` answer to the handshake.
    async fn expect_upgraded(&mut self) {
        let head = self.read_http_head().await;
        assert!(head.starts_with("HTTP/1.1 101"), "upgrade refused: {head}");
    }

    /// Reads `pusher:connection_established`; returns the socket id.
    async fn expect_established(&mut self) -> String {
        let frame = self.next_json().await;
        assert_eq!(frame["event"], "pusher:connection_established", "{frame}");
        let data: Value = serde_json::from_str(frame["data"].as_str().expect("string data")).expect("JSON data");
        data["socket_id"].as_str().expect("socket_id").to_string()
    }

    /// The next frame, waiting at most [`WAIT`].
    pub async fn next_frame(&mut self) -> RawFrame {
        self.next_frame_within(WAIT).await
    }

    /// The next frame, waiting at most `limit`; fails the test on timeout or EOF.
    pub async fn next_frame_within(&mut self, limit: Duration) -> RawFrame {
        match tokio::time::timeout(limit, self.read_frame()).await {
            Ok(frame) => frame,
            Err(_) => panic!("no frame within {limit:?}"),
        }
    }

    /// The next frame if one arrives before `deadline`, else `None`.
    pub async fn next_frame_until(&mut self, deadline: tokio::time::Instant) -> Option<RawFrame> {
        tokio::time::timeout_at(deadline, self.read_frame()).await.ok()
    }

    /// The next frame, which must be a text frame holding JSON.
    pub async fn next_json(&mut self) -> Value {
        match self.next_frame().await {
            RawFrame::Text(text) => serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }

    /// Sends one masked text frame, as a client must.
    pub async fn send_text(&mut self, text: &str) {
        self.send_frame(0x1, text.as_bytes()).await;
    }

    /// Sends a WebSocket pong frame (the answer to a ping; also allowed unsolicited).
    pub async fn send_pong(&mut self, payload: &[u8]) {
        self.send_frame(0xA, payload).await;
    }

    /// Sends one final, masked frame with `opcode`.
    pub async fn send_frame(&mut self, opcode: u8, payload: &[u8]) {
        self.write_all(&masked_frame(opcode, payload)).await;
    }

    /// Sends one masked frame with explicit FIN bit, for fragmented messages.
    pub async fn send_fragment(&mut self, opcode: u8, fin: bool, payload: &[u8]) {
        assert!(payload.len() < 126, "fragments in tests are short");
        let mask: [u8; 4] = rand::random();
        let mut frame = vec![if fin { 0x80 } else { 0 } | opcode, 0x80 | payload.len() as u8];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.write_all(&frame).await;
    }

    /// Writes bytes exactly as given: frames that break the protocol on purpose.
    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.write_all(bytes).await;
    }

    /// Reads until the server closes the TCP stream; fails if it stays open past `WAIT`.
    pub async fn expect_eof(&mut self) {
        let mut chunk = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return,
                Ok(Ok(_)) => {}
                Err(_) => panic!("the server kept the connection open for {WAIT:?}"),
            }
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) {
        match tokio::time::timeout(WAIT, self.stream.write_all(bytes)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("write failed: {e}"),
            Err(_) => panic!("write took longer than {WAIT:?}"),
        }
    }

    async fn read_http_head(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 4);
                return head;
            }
            match tokio::time::timeout(WAIT, self.fill()).await {
                Ok(()) => {}
                Err(_) => panic!("no upgrade response within {WAIT:?}"),
            }
        }
    }

    /// Reads more bytes into `buf`; EOF fails the test.
    async fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk).await {
            Ok(0) => panic!("connection ended (EOF) while a frame was expected"),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("read failed: {e}"),
        }
    }

    /// Reads one message, joining continuation frames. Cancel-safe: bytes leave `buf` only
    /// once a whole frame is there, and a partial message is kept in `fragments`.
    async fn read_frame(&mut self) -> RawFrame {
        loop {
            let Some((opcode, fin, payload)) = self.parse_frame() else {
                self.fill().await;
                continue;
            };
            match opcode {
                0x8 => {
                    let code = (payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]]));
                    let reason = String::from_utf8_lossy(payload.get(2..).unwrap_or_default()).into_owned();
                    return RawFrame::Close { code, reason };
                }
                0x9 => return RawFrame::Ping(payload),
                0xA => return RawFrame::Pong(payload),
                0x0 => {
                    let (_, data) = self.fragments.as_mut().expect("a continuation frame follows a first fragment");
                    data.extend_from_slice(&payload);
                }
                0x1 | 0x2 => self.fragments = Some((opcode, payload)),
                other => panic!("unknown opcode {other:#x}"),
            }
            if fin {
                let (opcode, data) = self.fragments.take().expect("a data frame");
                return match opcode {
                    0x1 => RawFrame::Text(String::from_utf8(data).expect("text frames are UTF-8")),
                    _ => RawFrame::Binary(data),
                };
            }
        }
    }

    /// Takes one complete frame off `buf`: (opcode, fin, payload), or `None` if incomplete.
    fn parse_frame(&mut self) -> Option<(u8, bool, Vec<u8>)> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let (fin, opcode) = (b[0] & 0x80 != 0, b[0] & 0x0f);
        assert!(b[1] & 0x80 == 0, "a server must not mask its frames (RFC 6455 5.1)");
        let (len, header) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")) as usize, 10),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if b.len() < header + len {
            return None;
        }
        let payload = b[header..header + len].to_vec();
        self.buf.drain(..header + len);
        Some((opcode, fin, payload))
    }
}

/// The opening handshake request for `path_and_query`, with the RFC's example key.
fn upgrade_request(addr: SocketAddr, path_and_query: &str) -> Vec<u8> {
    format!(
        "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .into_bytes()
}

/// One final frame with `opcode`, masked as a client must.
fn masked_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0x80 | opcode];
    match payload.len() {
        n if n < 126 => frame.push(0x80 | n as u8),
        n if n <= u16::MAX as usize => {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mask: [u8; 4] = rand::random();
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}
