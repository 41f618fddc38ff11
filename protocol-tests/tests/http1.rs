//! HTTP/1.1 on herald's plain TCP listener, byte for byte: herald's own reader serves
//! publishing requests and WebSocket handshakes, and hands every other request (with the
//! connection it came on) to actix-http (docs/ARCHITECTURE.md, `listener/`). These tests pin
//! what a client sees across that seam: pipelined and trickled requests, keep-alive across
//! the hand-over, `Connection: close`, chunked bodies and bytes sent right after a handshake.

use protocol_tests::{Api, RawFrame, RawSocket, TestServer, WsClient, WAIT};
use serde_json::{json, Value};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One HTTP/1.1 connection driven by hand.
struct Http1 {
    stream: TcpStream,
    read: Vec<u8>,
}

/// A response as it came off the wire.
#[derive(Debug)]
struct Response {
    status: u16,
    /// Header lines, names lowercased.
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

impl Http1 {
    async fn connect(addr: SocketAddr) -> Http1 {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Http1 { stream, read: Vec::new() }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads one whole response (`content-length` delimited); fails on timeout or EOF.
    async fn response(&mut self) -> Response {
        tokio::time::timeout(WAIT, self.read_response()).await.expect("a response in time")
    }

    async fn read_response(&mut self) -> Response {
        let head_end = loop {
            if let Some(at) = self.read.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            self.fill().await;
        };
        let head = String::from_utf8(self.read[..head_end].to_vec()).expect("an ASCII head");
        let mut lines = head.trim_end().split("\r\n");
        let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers.iter().find(|(n, _)| n == "content-length").map_or(0, |(_, v)| v.parse().expect("a length"));
        while self.read.len() < head_end + length {
            self.fill().await;
        }
        let body = String::from_utf8(self.read[head_end..head_end + length].to_vec()).expect("a UTF-8 body");
        self.read.drain(..head_end + length);
        Response { status, headers, body }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 4096];
        let n = self.stream.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the server closed the connection; read so far: {:?}", String::from_utf8_lossy(&self.read));
        self.read.extend_from_slice(&chunk[..n]);
    }

    /// The server closes the connection, with nothing more to read.
    async fn expect_eof(&mut self) {
        let mut rest = Vec::new();
        tokio::time::timeout(WAIT, self.stream.read_to_end(&mut rest)).await.expect("EOF in time").expect("read");
        assert!(rest.is_empty() && self.read.is_empty(), "unexpected bytes: {:?}", String::from_utf8_lossy(&rest));
    }
}

/// A signed `POST /apps/{id}/events` request, with `extra` header lines (each ending `\r\n`).
fn signed_trigger(api: &Api, channel: &str, data: &str, extra: &str) -> Vec<u8> {
    let path = api.path("/events");
    let body = json!({"name": "e", "channels": [channel], "data": data}).to_string();
    let query = api.signed_query("POST", &path, body.as_bytes(), &[]);
    format!("POST {path}?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n{body}", body.len())
        .into_bytes()
}

async fn subscriber(server: &TestServer, channel: &str) -> WsClient {
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe(channel).await;
    client
}

async fn expect_delivery(client: &mut WsClient, data: &str) {
    assert_eq!(client.expect_event("e").await["data"], data);
}

#[tokio::test]
async fn pipelined_triggers_are_answered_in_order_and_delivered_in_order() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = subscriber(&server, "pipe").await;
    let mut http = Http1::connect(server.addr).await;
    let mut both = signed_trigger(&api, "pipe", "first", "");
    both.extend(signed_trigger(&api, "pipe", "second", ""));
    http.send(&both).await;
    for _ in 0..2 {
        let response = http.response().await;
        assert_eq!((response.status, response.json()), (200, json!({})), "{response:?}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert!(response.header("date").is_some_and(|d| d.ends_with("GMT")), "{response:?}");
        assert_eq!(response.header("connection"), None, "kept alive: {response:?}");
    }
    expect_delivery(&mut client, "first").await;
    expect_delivery(&mut client, "second").await;
}

#[tokio::test]
async fn a_trigger_trickled_a_byte_at_a_time_is_served() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = subscriber(&server, "slow").await;
    let mut http = Http1::connect(server.addr).await;
    for byte in signed_trigger(&api, "slow", "trickled", "") {
        http.send(&[byte]).await;
    }
    let response = http.response().await;
    assert_eq!((response.status, response.json()), (200, json!({})), "{response:?}");
    expect_delivery(&mut client, "trickled").await;
}

#[tokio::test]
async fn a_kept_alive_connection_goes_on_serving_after_a_request_herald_hands_to_actix() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = subscriber(&server, "mixed").await;
    let mut http = Http1::connect(server.addr).await;
    http.send(&signed_trigger(&api, "mixed", "before", "")).await;
    assert_eq!(http.response().await.status, 200);
    // A channel query is not a publishing request: actix-http serves it, and from then on
    // the rest of the connection.
    let path = api.path("/channels");
    let query = api.signed_query("GET", &path, b"", &[]);
    http.send(format!("GET {path}?{query} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await;
    let channels = http.response().await;
    assert_eq!(channels.status, 200, "{channels:?}");
    assert!(channels.json()["channels"].get("mixed").is_some(), "{channels:?}");
    http.send(&signed_trigger(&api, "mixed", "after", "")).await;
    let response = http.response().await;
    assert_eq!((response.status, response.json()), (200, json!({})), "{response:?}");
    expect_delivery(&mut client, "before").await;
    expect_delivery(&mut client, "after").await;
}

#[tokio::test]
async fn connection_close_is_answered_in_kind_and_the_connection_ends() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut http = Http1::connect(server.addr).await;
    http.send(&signed_trigger(&api, "bye", "x", "Connection: close\r\n")).await;
    let response = http.response().await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("connection"), Some("close"), "{response:?}");
    http.expect_eof().await;
}

#[tokio::test]
async fn a_chunked_trigger_is_served_and_a_bad_signature_on_the_fast_path_is_a_json_401() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = subscriber(&server, "chunks").await;
    let mut http = Http1::connect(server.addr).await;
    let path = api.path("/events");
    let body = json!({"name": "e", "channels": ["chunks"], "data": "chunked"}).to_string();
    let query = api.signed_query("POST", &path, body.as_bytes(), &[]);
    let (a, b) = body.split_at(10);
    let request = format!(
        "POST {path}?{query} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    http.send(request.as_bytes()).await;
    let response = http.response().await;
    assert_eq!((response.status, response.json()), (200, json!({})), "{response:?}");
    expect_delivery(&mut client, "chunked").await;

    let mut http = Http1::connect(server.addr).await;
    let forged = String::from_utf8(signed_trigger(&api, "chunks", "forged", "")).unwrap().replace("auth_signature=", "auth_signature=0");
    http.send(forged.as_bytes()).await;
    let response = http.response().await;
    assert_eq!(response.status, 401, "{response:?}");
    assert!(response.json()["error"].as_str().is_some_and(|e| !e.is_empty()), "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));
}

#[tokio::test]
async fn frames_sent_in_the_same_write_as_the_handshake_are_read() {
    let server = TestServer::start_default();
    // A client may send its first frame without waiting for the 101: the handshake and a
    // subscribe leave in one write, and herald must not lose the bytes after the head.
    let (mut raw, _) = RawSocket::connect_with_early_text(
        server.addr,
        &format!("/app/{}?protocol=7", server.app().key),
        &json!({"event": "pusher:subscribe", "data": {"channel": "early"}}).to_string(),
    )
    .await;
    match raw.next_frame().await {
        RawFrame::Text(text) => assert!(text.contains("pusher_internal:subscription_succeeded"), "{text}"),
        other => panic!("expected the subscription to succeed, got {other:?}"),
    }
}
