//! RFC 6455 framing as herald reads and writes it: protocol violations and their close codes,
//! fragmented messages, the close handshake, handshake refusals over plain HTTP, and bursts
//! larger than every buffer between herald and a reader (docs/compatibility.md, "Connections").

use protocol_tests::{Api, RawFrame, RawSocket, TestServer};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;

/// Reads the `pusher:error` and the close frame that end a connection; returns both codes.
async fn error_then_close(raw: &mut RawSocket) -> (Value, Option<u16>) {
    let error = match raw.next_frame().await {
        RawFrame::Text(text) => serde_json::from_str::<Value>(&text).expect("JSON"),
        other => panic!("expected pusher:error first, got {other:?}"),
    };
    assert_eq!(error["event"], "pusher:error", "{error}");
    match raw.next_frame().await {
        RawFrame::Close { code, .. } => (error["data"]["code"].clone(), code),
        other => panic!("expected the close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn an_unmasked_client_frame_is_closed_with_1002() {
    let server = TestServer::start_default();
    let (mut raw, _) = RawSocket::connect_app(server.addr, &server.app().key, None).await;
    raw.send_bytes(b"\x81\x02hi").await;
    let (code, close) = error_then_close(&mut raw).await;
    assert_eq!((code, close), (json!(1002), Some(1002)));
    raw.expect_eof().await;
}

#[tokio::test]
async fn text_that_is_not_utf8_is_closed_with_1007() {
    let server = TestServer::start_default();
    let (mut raw, _) = RawSocket::connect_app(server.addr, &server.app().key, None).await;
    raw.send_frame(OP_TEXT, &[0x7b, 0xff, 0xfe, 0x7d]).await;
    let (code, close) = error_then_close(&mut raw).await;
    assert_eq!((code, close), (json!(1007), Some(1007)));
}

#[tokio::test]
async fn a_frame_announcing_more_than_the_limit_is_refused_from_its_header_alone() {
    let server = TestServer::start_default();
    let (mut raw, _) = RawSocket::connect_app(server.addr, &server.app().key, None).await;
    // A text frame declaring 4 GiB, mask included, and not one byte of payload: herald must
    // answer without waiting for (or buffering) the payload.
    raw.send_bytes(&[0x81, 0x80 | 127, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4]).await;
    let (code, close) = error_then_close(&mut raw).await;
    assert_eq!((code, close), (json!(1009), Some(1009)));
}

#[tokio::test]
async fn a_fragmented_message_is_joined_and_a_ping_between_fragments_is_answered() {
    let server = TestServer::start_default();
    let (mut raw, _) = RawSocket::connect_app(server.addr, &server.app().key, None).await;
    let subscribe = json!({"event": "pusher:subscribe", "data": {"channel": "fragments"}}).to_string();
    let (first, rest) = subscribe.as_bytes().split_at(20);
    let (middle, last) = rest.split_at(15);
    raw.send_fragment(OP_TEXT, false, first).await;
    raw.send_fragment(OP_PING, true, b"between").await;
    raw.send_fragment(OP_CONTINUATION, false, middle).await;
    raw.send_fragment(OP_CONTINUATION, true, last).await;
    assert_eq!(raw.next_frame().await, RawFrame::Pong(b"between".to_vec()));
    let confirmation = raw.next_json().await;
    assert_eq!(confirmation["event"], "pusher_internal:subscription_succeeded", "{confirmation}");
    assert_eq!(confirmation["channel"], "fragments");
}

#[tokio::test]
async fn a_continuation_without_a_message_is_closed_with_1002() {
    let server = TestServer::start_default();
    let (mut raw, _) = RawSocket::connect_app(server.addr, &server.app().key, None).await;
    raw.send_fragment(OP_CONTINUATION, true, b"orphan").await;
    let (code, close) = error_then_close(&mut raw).await;
    assert_eq!((code, close), (json!(1002), Some(1002)));
}

#[tokio::test]
async fn a_client_close_is_answered_with_1000_and_the_stream_ends() {
    let server = TestServer::start_default();
    let (mut raw, _) = RawSocket::connect_app(server.addr, &server.app().key, None).await;
    raw.send_frame(OP_CLOSE, &1000u16.to_be_bytes()).await;
    match raw.next_frame().await {
        RawFrame::Close { code, .. } => assert_eq!(code, Some(1000)),
        other => panic!("expected a close frame, got {other:?}"),
    }
    raw.expect_eof().await;
}

#[tokio::test]
async fn a_close_frame_rfc_6455_forbids_is_answered_with_1002_or_1007() {
    let server = TestServer::start_default();
    // A 1-byte payload, a code only ever meant locally ("no status", 1005), a reason that is
    // not UTF-8.
    for (payload, expected) in [(&b"\x03"[..], 1002), (&1005u16.to_be_bytes()[..], 1002), (&b"\x03\xe8\xff"[..], 1007)] {
        let (mut raw, _) = RawSocket::connect_app(server.addr, &server.app().key, None).await;
        raw.send_frame(OP_CLOSE, payload).await;
        let (code, close) = error_then_close(&mut raw).await;
        assert_eq!((code, close), (json!(expected), Some(expected)), "payload {payload:?}");
        raw.expect_eof().await;
    }
}

/// Sends `request` on a fresh TCP connection and returns the status line and the body.
async fn http_exchange(server: &TestServer, request: &str) -> (String, String) {
    let (head, body) = http_exchange_head(server, request).await;
    (head.lines().next().unwrap_or_default().to_string(), body)
}

/// Like [`http_exchange`], with the whole response head.
async fn http_exchange_head(server: &TestServer, request: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(protocol_tests::WAIT, stream.read_to_end(&mut response)).await.expect("response in time").expect("read");
    let response = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = response.split_once("\r\n\r\n").expect("a complete response");
    (head.to_string(), body.to_string())
}

#[tokio::test]
async fn a_websocket_upgrade_to_an_unknown_path_is_a_json_404() {
    let server = TestServer::start_default();
    let request = "GET /socket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let (status, body) = http_exchange(&server, request).await;
    assert!(status.starts_with("HTTP/1.1 404"), "{status}");
    let body: Value = serde_json::from_str(&body).expect("a JSON body");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("/app/")), "{body}");
}

#[tokio::test]
async fn an_unsupported_websocket_version_is_a_json_426_naming_version_13() {
    let server = TestServer::start_default();
    let request = format!(
        "GET /app/{}?protocol=7 HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        server.app().key
    );
    let (head, body) = http_exchange_head(&server, &request).await;
    assert!(head.starts_with("HTTP/1.1 426"), "{head}");
    assert!(head.to_ascii_lowercase().contains("sec-websocket-version: 13"), "{head}");
    let body: Value = serde_json::from_str(&body).expect("a JSON body");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
}

#[tokio::test]
async fn a_plain_get_of_the_websocket_path_is_a_json_400() {
    let server = TestServer::start_default();
    let request = format!("GET /app/{}?protocol=7 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", server.app().key);
    let (status, body) = http_exchange(&server, &request).await;
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    let body: Value = serde_json::from_str(&body).expect("a JSON body");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("WebSocket")), "{body}");
}

#[tokio::test]
async fn a_burst_larger_than_every_buffer_arrives_complete_and_in_order() {
    let server = TestServer::start_default();
    // A 4 KB receive buffer and 600 KB of events: herald's writes are cut short many times and
    // must resume mid-frame.
    let (mut raw, _) = RawSocket::connect_app(server.addr, &server.app().key, Some(4096)).await;
    raw.send_text(&json!({"event": "pusher:subscribe", "data": {"channel": "burst"}}).to_string()).await;
    assert_eq!(raw.next_json().await["event"], "pusher_internal:subscription_succeeded");
    let api = Api::new(&server);
    let filler = "z".repeat(2000);
    const EVENTS: usize = 300;
    for start in (0..EVENTS).step_by(10) {
        let batch: Vec<Value> = (start..start + 10)
            .map(|i| json!({"channel": "burst", "name": "seq", "data": format!("{i}:{filler}")}))
            .collect();
        api.post("/batch_events", &json!({ "batch": batch })).await.expect(200);
    }
    for expected in 0..EVENTS {
        let event = raw.next_json().await;
        assert_eq!(event["event"], "seq", "{event}");
        let data = event["data"].as_str().expect("string data");
        assert_eq!(data, format!("{expected}:{filler}"), "event {expected} arrived out of order or damaged");
    }
}

#[tokio::test]
async fn a_message_larger_than_one_read_is_reassembled() {
    let server = TestServer::start_default();
    let (mut raw, _) = RawSocket::connect_app(server.addr, &server.app().key, None).await;
    // 40 KB in one frame: herald reads 4 KB at a time, so the frame arrives over many reads.
    let padded = json!({"event": "pusher:ping", "data": {"padding": "p".repeat(40_000)}}).to_string();
    raw.send_text(&padded).await;
    assert_eq!(raw.next_json().await["event"], "pusher:pong");
    // And the connection goes on reading normally afterwards.
    raw.send_text(&json!({"event": "pusher:ping", "data": {}}).to_string()).await;
    assert_eq!(raw.next_json().await["event"], "pusher:pong");
}
