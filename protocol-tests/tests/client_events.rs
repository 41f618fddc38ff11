//! Client events: relaying, where they are allowed, and the rate limit (pusher-protocol.md §4,
//! §1.3 table, §2.10, §8).

use protocol_tests::{Api, TestServer, WsClient};
use serde_json::{json, Value};

const PRIVATE: &str = "private-chat";
const PRESENCE: &str = "presence-chat";

/// Two clients of the default app, both subscribed to `channel` (private or presence).
async fn pair(server: &TestServer, channel: &str) -> (WsClient, WsClient) {
    let app = server.app();
    let mut a = WsClient::connect_app(server.addr, &app.key).await;
    let mut b = WsClient::connect_app(server.addr, &app.key).await;
    if channel.starts_with("presence-") {
        a.subscribe_presence(&app, channel, &json!({"user_id": "alice"})).await;
        b.subscribe_presence(&app, channel, &json!({"user_id": "bob"})).await;
        let joined = a.expect_event("pusher_internal:member_added").await;
        assert_eq!(joined["channel"], channel);
    } else {
        a.subscribe_private(&app, channel).await;
        b.subscribe_private(&app, channel).await;
    }
    (a, b)
}

fn client_event(channel: &str, data: Value) -> Value {
    json!({"event": "client-typing", "channel": channel, "data": data})
}

/// `client`'s next frame must be an API-triggered marker: nothing else was queued before it.
async fn expect_marker(client: &mut WsClient, api: &Api, channel: &str, what: &str) {
    api.trigger_ok(&[channel], "marker", "{}").await;
    let frame = client.recv_json().await;
    assert_eq!(frame["event"], "marker", "{what}: got {frame}");
}

#[tokio::test]
async fn object_data_is_relayed_as_a_string_without_user_id_on_private_channels() {
    let server = TestServer::start_default();
    let (mut a, mut b) = pair(&server, PRIVATE).await;
    a.send_json(&client_event(PRIVATE, json!({"x": 1, "s": "é\"q\""}))).await;
    let frame = b.recv_json().await;
    assert_eq!(frame, json!({"event": "client-typing", "channel": PRIVATE, "data": r#"{"s":"é\"q\"","x":1}"#}));
}

#[tokio::test]
async fn string_data_is_relayed_unchanged() {
    let server = TestServer::start_default();
    let (mut a, mut b) = pair(&server, PRIVATE).await;
    a.send_json(&client_event(PRIVATE, json!("plain text"))).await;
    assert_eq!(b.recv_json().await, json!({"event": "client-typing", "channel": PRIVATE, "data": "plain text"}));
}

#[tokio::test]
async fn presence_relay_carries_the_senders_user_id() {
    let server = TestServer::start_default();
    let (mut a, mut b) = pair(&server, PRESENCE).await;
    a.send_json(&client_event(PRESENCE, json!({"on": true}))).await;
    let frame = b.recv_json().await;
    assert_eq!(frame, json!({"event": "client-typing", "channel": PRESENCE, "data": "{\"on\":true}", "user_id": "alice"}));
}

#[tokio::test]
async fn sender_does_not_receive_its_own_event() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let (mut a, mut b) = pair(&server, PRIVATE).await;
    a.send_json(&client_event(PRIVATE, json!({}))).await;
    assert_eq!(b.recv_json().await["event"], "client-typing");
    // b has it, so the fan-out is done: a's next frame must be the marker, not an echo.
    expect_marker(&mut a, &api, PRIVATE, "a client event was echoed to its sender").await;
}

/// `a` sends a client event on `channel` it may not use; it gets a non-fatal `pusher:error`
/// and `b` (subscribed to `channel`) receives nothing.
async fn assert_rejected(a: &mut WsClient, b: &mut WsClient, api: &Api, channel: &str) {
    a.send_json(&client_event(channel, json!({}))).await;
    let error = a.expect_error().await;
    assert!(error["code"].is_null(), "a rejected client event keeps the socket (code null): {error}");
    a.ping_pong().await;
    expect_marker(b, api, channel, "a rejected client event was relayed").await;
}

#[tokio::test]
async fn rejected_on_public_channels() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let app = server.app();
    let mut a = WsClient::connect_app(server.addr, &app.key).await;
    let mut b = WsClient::connect_app(server.addr, &app.key).await;
    a.subscribe("lobby").await;
    b.subscribe("lobby").await;
    assert_rejected(&mut a, &mut b, &api, "lobby").await;
}

#[tokio::test]
async fn rejected_on_encrypted_channels() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let (mut a, mut b) = pair(&server, "private-encrypted-chat").await;
    assert_rejected(&mut a, &mut b, &api, "private-encrypted-chat").await;
}

#[tokio::test]
async fn rejected_on_channels_the_sender_is_not_subscribed_to() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let app = server.app();
    let mut a = WsClient::connect_app(server.addr, &app.key).await;
    let mut b = WsClient::connect_app(server.addr, &app.key).await;
    b.subscribe_private(&app, PRIVATE).await;
    assert_rejected(&mut a, &mut b, &api, PRIVATE).await;
    // Nor after leaving it.
    a.subscribe_private(&app, PRIVATE).await;
    a.unsubscribe(PRIVATE).await;
    assert_rejected(&mut a, &mut b, &api, PRIVATE).await;
}

#[tokio::test]
async fn rejected_when_the_app_disables_client_events() {
    let server = TestServer::start_default();
    let app = server.app_at(1);
    let api = Api::for_app(&server, app.clone());
    let mut a = WsClient::connect_app(server.addr, &app.key).await;
    let mut b = WsClient::connect_app(server.addr, &app.key).await;
    a.subscribe_private(&app, PRIVATE).await;
    b.subscribe_private(&app, PRIVATE).await;
    assert_rejected(&mut a, &mut b, &api, PRIVATE).await;
}

#[tokio::test]
async fn eleventh_event_within_a_second_gets_4301_without_closing() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let (mut a, mut b) = pair(&server, PRIVATE).await;
    for i in 0..11 {
        a.send_json(&client_event(PRIVATE, json!({"i": i}))).await;
    }
    let error = a.expect_error().await;
    assert_eq!(error["code"], 4301, "{error}");
    // The socket stays open and the first ten were relayed in order.
    a.ping_pong().await;
    for i in 0..10 {
        assert_eq!(b.recv_json().await["data"], format!("{{\"i\":{i}}}"));
    }
    expect_marker(&mut b, &api, PRIVATE, "the 11th event was relayed").await;
}

#[tokio::test]
async fn event_name_must_start_with_client() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let (mut a, mut b) = pair(&server, PRIVATE).await;
    a.send_json(&json!({"event": "typing", "channel": PRIVATE, "data": {}})).await;
    let error = a.expect_error().await;
    assert!(error["code"].is_null(), "{error}");
    expect_marker(&mut b, &api, PRIVATE, "an event without the client- prefix was relayed").await;
}

#[tokio::test]
async fn oversized_client_event_is_rejected() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let (mut a, mut b) = pair(&server, PRIVATE).await;
    // 10 KB data limit (§4 [REC], §8).
    a.send_json(&client_event(PRIVATE, json!("x".repeat(10 * 1024 + 1)))).await;
    let error = a.expect_error().await;
    assert!(error["code"].is_null(), "{error}");
    a.ping_pong().await;
    expect_marker(&mut b, &api, PRIVATE, "an oversized client event was relayed").await;
}
