//! The WebSocket handshake: the URL, the first frame, refusals (pusher-protocol.md §1.1, §1.4,
//! §1.6, §1.7, §1.8, §7.1).

use protocol_tests::{assert_error_shape, assert_keys, TestServer, WsClient};
use serde_json::Value;
use std::collections::HashSet;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// `^\d+\.\d+$`, the only socket id shape every server library accepts (§1.4).
fn is_socket_id(s: &str) -> bool {
    match s.split_once('.') {
        Some((a, b)) => !a.is_empty() && !b.is_empty() && a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()),
        None => false,
    }
}

/// Checks the exact shape of `pusher:connection_established` and returns the socket id.
fn assert_established(text: &str) -> String {
    let frame: Value = serde_json::from_str(text).expect("JSON");
    assert_keys(&frame, &["event", "data"]);
    assert_eq!(frame["event"], "pusher:connection_established");
    let data = frame["data"].as_str().unwrap_or_else(|| panic!("data must be a JSON string: {text}"));
    let inner: Value = serde_json::from_str(data).expect("data holds JSON");
    assert_keys(&inner, &["activity_timeout", "socket_id"]);
    assert!(inner["activity_timeout"].is_u64(), "activity_timeout is an integer: {text}");
    assert_eq!(inner["activity_timeout"], 120);
    let socket_id = inner["socket_id"].as_str().expect("socket_id is a string");
    assert!(is_socket_id(socket_id), "socket id {socket_id:?} must match ^\\d+\\.\\d+$");
    socket_id.to_string()
}

/// Asserts the refusal sequence: `pusher:error` with the code (data an object), then close.
async fn assert_refused(client: &mut WsClient, code: u16) {
    let frame = client.recv_json().await;
    assert_eq!(frame["event"], "pusher:error", "first frame of a refused connection: {frame}");
    assert_error_shape(&frame);
    assert_eq!(frame["data"]["code"], code, "{frame}");
    assert!(!frame["data"]["message"].as_str().unwrap().is_empty());
    client.expect_close(code).await;
}

#[tokio::test]
async fn first_frame_is_connection_established_with_string_data() {
    let server = TestServer::start_default();
    let mut client = WsClient::connect(server.addr, &server.app().key, "protocol=7&client=js&version=8.6.0&flash=false").await;
    let text = client.recv_text().await;
    assert_established(&text);
}

#[tokio::test]
async fn socket_ids_are_unique() {
    let server = TestServer::start_default();
    let mut seen = HashSet::new();
    let mut clients = Vec::new();
    for _ in 0..20 {
        let mut client = WsClient::connect(server.addr, &server.app().key, "protocol=7").await;
        let id = assert_established(&client.recv_text().await);
        assert!(seen.insert(id.clone()), "socket id {id} issued twice");
        clients.push(client);
    }
}

#[tokio::test]
async fn protocols_5_6_and_7_are_accepted() {
    let server = TestServer::start_default();
    // Java sends 5, Pysher 6, pusher-js and Swift 7 (§1.1).
    for query in ["client=java-client&protocol=5&version=2.4.4", "protocol=6", "client=pusher-websocket-swift&version=10.1.10&protocol=7"] {
        let mut client = WsClient::connect(server.addr, &server.app().key, query).await;
        assert_established(&client.recv_text().await);
        client.ping_pong().await;
    }
}

#[tokio::test]
async fn missing_protocol_is_refused_with_4008() {
    let server = TestServer::start_default();
    let mut client = WsClient::connect(server.addr, &server.app().key, "client=js").await;
    assert_refused(&mut client, 4008).await;
}

#[tokio::test]
async fn non_numeric_protocol_is_refused_with_4006() {
    let server = TestServer::start_default();
    let mut client = WsClient::connect(server.addr, &server.app().key, "protocol=x").await;
    assert_refused(&mut client, 4006).await;
}

#[tokio::test]
async fn unsupported_protocol_is_refused_with_4007() {
    let server = TestServer::start_default();
    for version in ["4", "8"] {
        let mut client = WsClient::connect(server.addr, &server.app().key, &format!("protocol={version}")).await;
        assert_refused(&mut client, 4007).await;
    }
}

#[tokio::test]
async fn unknown_app_key_is_refused_with_4001() {
    let server = TestServer::start_default();
    let mut client = WsClient::connect(server.addr, "no-such-key", "protocol=7").await;
    assert_refused(&mut client, 4001).await;
}

#[tokio::test]
async fn app_path_without_key_is_refused_with_4005() {
    let server = TestServer::start_default();
    let mut client = WsClient::connect_path(server.addr, "/app?protocol=7").await;
    assert_refused(&mut client, 4005).await;
}

#[tokio::test]
async fn disabled_app_is_refused_with_4003() {
    let server = TestServer::start(
        "[[apps]]\nid = \"1\"\nkey = \"on\"\nsecret = \"s1\"\n[[apps]]\nid = \"2\"\nkey = \"off\"\nsecret = \"s2\"\nenabled = false\n",
    );
    let mut client = WsClient::connect(server.addr, "off", "protocol=7").await;
    assert_refused(&mut client, 4003).await;
}

#[tokio::test]
async fn unknown_query_parameters_are_ignored() {
    let server = TestServer::start_default();
    let query = "protocol=7&client=js&version=8.6.0&flash=false&timestamp=1700000000&x-unknown=%20yes";
    let mut client = WsClient::connect(server.addr, &server.app().key, query).await;
    assert_established(&client.recv_text().await);
}

#[tokio::test]
async fn offered_subprotocol_is_accepted_and_echoed() {
    let server = TestServer::start_default();
    let url = format!("ws://{}/app/{}?client=pusher-websocket-swift&version=10.1.10&protocol=7", server.addr, server.app().key);
    let mut request = url.into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "pusher-channels-protocol-7".parse().unwrap());
    let mut client = WsClient::connect_request(request).await;
    let echoed = client.response.headers().get("Sec-WebSocket-Protocol").map(|v| v.to_str().unwrap().to_string());
    assert_eq!(echoed.as_deref(), Some("pusher-channels-protocol-7"));
    assert_established(&client.recv_text().await);
}
