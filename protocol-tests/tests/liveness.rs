//! Ping/pong in both directions and the server's idle-socket check (pusher-protocol.md §1.5,
//! §1.7 code 4201, §7.1 item 3, §7.2).
//!
//! The idle tests use real time with `activity_timeout = 1` and `pong_timeout = 1`: a silent
//! socket is probed after ~1 s and closed after ~2 s. Every wait is bounded.

use protocol_tests::{RawFrame, RawSocket, TestServer, WsClient};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const FAST_LIVENESS: &str = r#"
activity_timeout = 1
pong_timeout = 1

[[apps]]
id = "1001"
key = "test-key"
secret = "test-secret"
"#;

/// How long an answering client is watched: well past the 2 s a silent one survives.
const WATCH: Duration = Duration::from_millis(3500);

fn pong() -> Value {
    json!({"event": "pusher:pong", "data": "{}"})
}

#[tokio::test]
async fn pusher_ping_with_object_data_gets_the_exact_pong() {
    let server = TestServer::start_default();
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    // pusher-js form.
    client.send_text(r#"{"event":"pusher:ping","data":{}}"#).await;
    assert_eq!(client.recv_text().await, r#"{"event":"pusher:pong","data":"{}"}"#);
}

#[tokio::test]
async fn pusher_ping_without_data_gets_the_exact_pong() {
    let server = TestServer::start_default();
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    // pusher-websocket-java form: no data member at all.
    client.send_text(r#"{"event": "pusher:ping"}"#).await;
    assert_eq!(client.recv_json().await, pong());
    // Older documentation form: data as a JSON string.
    client.send_text(r#"{"event":"pusher:ping","data":"{}"}"#).await;
    assert_eq!(client.recv_json().await, pong());
}

#[tokio::test]
async fn websocket_ping_frame_gets_a_pong_frame() {
    let server = TestServer::start_default();
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.send(Message::Ping(b"swift".to_vec())).await;
    match client.next_message().await {
        Message::Pong(payload) => assert_eq!(payload, b"swift"),
        other => panic!("expected a pong frame echoing the payload, got {other:?}"),
    }
}

#[tokio::test]
async fn handshake_announces_the_configured_activity_timeout() {
    let server = TestServer::start(FAST_LIVENESS);
    let mut client = WsClient::connect(server.addr, "test-key", "protocol=7").await;
    let frame = client.expect_event("pusher:connection_established").await;
    let data: Value = serde_json::from_str(frame["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["activity_timeout"], 1);
}

#[tokio::test]
async fn silent_client_is_probed_then_closed_with_4201() {
    let server = TestServer::start(FAST_LIVENESS);
    let started = Instant::now();
    let (mut raw, _) = RawSocket::connect_app(server.addr, "test-key", None).await;

    // Probe: a WebSocket ping frame (Java, Swift) and a pusher:ping event (pusher-js).
    match raw.next_frame().await {
        RawFrame::Ping(_) => {}
        other => panic!("expected a WebSocket ping frame first, got {other:?}"),
    }
    let probed_after = started.elapsed();
    assert!(probed_after >= Duration::from_millis(900), "probed after {probed_after:?}, before activity_timeout (1 s)");
    match raw.next_frame().await {
        RawFrame::Text(text) => {
            let frame: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(frame, json!({"event": "pusher:ping", "data": "{}"}));
        }
        other => panic!("expected a pusher:ping event after the ping frame, got {other:?}"),
    }

    // Still silent: closed with 4201 once pong_timeout has passed (a pusher:error 4201 may
    // announce it, §1.6).
    let mut frame = raw.next_frame().await;
    if let RawFrame::Text(text) = &frame {
        let error: Value = serde_json::from_str(text).unwrap();
        assert_eq!((&error["event"], &error["data"]["code"]), (&json!("pusher:error"), &json!(4201)), "{text}");
        frame = raw.next_frame().await;
    }
    match frame {
        RawFrame::Close { code, reason } => assert_eq!(code, Some(4201), "closed with {code:?} ({reason})"),
        other => panic!("expected close 4201, got {other:?}"),
    }
    let closed_after = started.elapsed();
    assert!(closed_after >= Duration::from_millis(1900), "closed after {closed_after:?}, before activity + pong timeouts (2 s)");
}

#[tokio::test]
async fn client_answering_with_pusher_pong_stays_open() {
    let server = TestServer::start(FAST_LIVENESS);
    let (mut raw, _) = RawSocket::connect_app(server.addr, "test-key", None).await;
    let deadline = Instant::now() + WATCH;
    let mut probes = 0;
    // Answers only pusher:ping events, never ping frames (like pusher-js in a browser).
    while let Some(frame) = raw.next_frame_until(deadline).await {
        match frame {
            RawFrame::Ping(_) => {}
            RawFrame::Text(text) if text.contains("pusher:ping") => {
                probes += 1;
                raw.send_text(r#"{"event":"pusher:pong","data":{}}"#).await;
            }
            other => panic!("unexpected frame while answering probes: {other:?}"),
        }
    }
    assert!(probes >= 1, "the server never probed in {WATCH:?}");
    assert_still_open(&mut raw).await;
}

#[tokio::test]
async fn client_answering_with_pong_frames_stays_open() {
    let server = TestServer::start(FAST_LIVENESS);
    let (mut raw, _) = RawSocket::connect_app(server.addr, "test-key", None).await;
    let deadline = Instant::now() + WATCH;
    let mut probes = 0;
    // Answers only ping frames, never pusher:ping events (like the Java and Swift clients).
    while let Some(frame) = raw.next_frame_until(deadline).await {
        match frame {
            RawFrame::Ping(payload) => {
                probes += 1;
                raw.send_pong(&payload).await;
            }
            RawFrame::Text(text) if text.contains("pusher:ping") => {}
            other => panic!("unexpected frame while answering probes: {other:?}"),
        }
    }
    assert!(probes >= 1, "the server never probed in {WATCH:?}");
    assert_still_open(&mut raw).await;
}

#[tokio::test]
async fn client_sending_its_own_pings_is_never_probed_or_closed() {
    let server = TestServer::start(FAST_LIVENESS);
    let (mut raw, _) = RawSocket::connect_app(server.addr, "test-key", None).await;
    let started = Instant::now();
    // Any frame counts as activity: a pusher:ping every 400 ms keeps the socket busy.
    while started.elapsed() < WATCH {
        raw.send_text(r#"{"event":"pusher:ping","data":{}}"#).await;
        match raw.next_frame().await {
            RawFrame::Text(text) => assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), pong()),
            other => panic!("an active client must not be probed or closed, got {other:?}"),
        }
        if raw.next_frame_until(Instant::now() + Duration::from_millis(400)).await.is_some() {
            panic!("an active client must not receive unsolicited frames");
        }
    }
}

/// The socket answers a pusher:ping (skipping probes still in flight), so it was not closed.
async fn assert_still_open(raw: &mut RawSocket) {
    raw.send_text(r#"{"event":"pusher:ping","data":{}}"#).await;
    loop {
        match raw.next_frame().await {
            RawFrame::Text(text) if serde_json::from_str::<Value>(&text).unwrap() == pong() => return,
            RawFrame::Ping(_) => {}
            RawFrame::Text(text) if text.contains("pusher:ping") => {}
            other => panic!("the connection should still be open, got {other:?}"),
        }
    }
}
