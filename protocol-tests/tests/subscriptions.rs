//! Subscribing and unsubscribing, refusals, and what a connection does with frames it cannot
//! understand (pusher-protocol.md §1.1, §1.3, §1.6, §2.1, §2.2, §2.4–§2.7, §2.9, §3.2).

use protocol_tests::{assert_error_shape, private_auth, Api, TestServer, WsClient};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

/// Reads the refusal of a subscription to `channel`: `pusher:subscription_error` on the
/// channel, then `pusher:error` with `code: null`. Returns the decoded error data.
async fn expect_refused(client: &mut WsClient, channel: &str) -> Value {
    let frame = client.expect_event("pusher:subscription_error").await;
    assert_eq!(frame["channel"], channel, "{frame}");
    let data = match &frame["data"] {
        Value::String(s) => serde_json::from_str(s).expect("subscription_error data holds JSON"),
        other => other.clone(),
    };
    assert!(data["error"].is_string(), "subscription_error names the error: {frame}");
    assert!(data["type"].is_string(), "subscription_error has a type: {frame}");
    let error = client.expect_error().await;
    assert!(error["code"].is_null(), "a refused subscription keeps the socket: code must be null, got {error}");
    data
}

/// The connection still answers and still receives events on `channel`.
async fn assert_still_receives(client: &mut WsClient, api: &Api, channel: &str) {
    client.ping_pong().await;
    api.trigger_ok(&[channel], "still-here", "{}").await;
    let frame = client.recv_json().await;
    assert_eq!(frame, json!({"event": "still-here", "channel": channel, "data": "{}"}));
}

#[tokio::test]
async fn public_subscription_is_confirmed_with_string_data() {
    let server = TestServer::start_default();
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    // pusher-js sends `auth: ""` on public channels; it must be ignored (§2.4).
    client.send_subscribe("my-channel", Some(""), None).await;
    assert_eq!(
        client.recv_text().await,
        r#"{"event":"pusher_internal:subscription_succeeded","channel":"my-channel","data":"{}"}"#
    );
}

#[tokio::test]
async fn private_and_encrypted_subscriptions_with_valid_auth_are_confirmed() {
    let server = TestServer::start_default();
    let app = server.app();
    let mut client = WsClient::connect_app(server.addr, &app.key).await;
    for channel in ["private-orders", "private-encrypted-secrets"] {
        client.subscribe_private(&app, channel).await;
    }
}

#[tokio::test]
async fn channel_data_forms_old_string_data_is_accepted() {
    let server = TestServer::start_default();
    let app = server.app();
    let mut client = WsClient::connect_app(server.addr, &app.key).await;
    // Older documentation: data is a JSON string (§1.3, §2.4).
    client.send_text(r#"{"event":"pusher:subscribe","data":"{\"channel\":\"old-style\"}"}"#).await;
    client.expect_subscribed("old-style").await;
    let auth = private_auth(&app, client.socket_id(), "private-old");
    let data = json!({"channel": "private-old", "auth": auth}).to_string();
    client.send_json(&json!({"event": "pusher:subscribe", "data": data})).await;
    client.expect_subscribed("private-old").await;
}

#[tokio::test]
async fn bad_signature_is_refused_and_the_connection_keeps_working() {
    let server = TestServer::start_default();
    let app = server.app();
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &app.key).await;
    client.subscribe("news").await;
    // Signed for another socket id.
    let auth = private_auth(&app, "1234.1234", "private-a");
    client.send_subscribe("private-a", Some(&auth), None).await;
    let data = expect_refused(&mut client, "private-a").await;
    assert_eq!(data["type"], "AuthError");
    assert_eq!(data["status"], 401);
    assert_still_receives(&mut client, &api, "news").await;
}

#[tokio::test]
async fn auth_with_another_apps_key_is_refused() {
    let server = TestServer::start_default();
    let (app, other) = (server.app(), server.app_at(1));
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &app.key).await;
    client.subscribe("news").await;
    let auth = private_auth(&other, client.socket_id(), "private-a");
    client.send_subscribe("private-a", Some(&auth), None).await;
    assert_eq!(expect_refused(&mut client, "private-a").await["type"], "AuthError");
    // Right key, but the signature made with another app's secret.
    let forged = format!("{}:{}", app.key, auth.split_once(':').unwrap().1);
    client.send_subscribe("private-a", Some(&forged), None).await;
    assert_eq!(expect_refused(&mut client, "private-a").await["type"], "AuthError");
    assert_still_receives(&mut client, &api, "news").await;
}

#[tokio::test]
async fn missing_or_malformed_auth_is_refused() {
    let server = TestServer::start_default();
    let app = server.app();
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &app.key).await;
    client.subscribe("news").await;
    client.send_subscribe("private-a", None, None).await;
    expect_refused(&mut client, "private-a").await;
    client.send_subscribe("private-encrypted-a", Some(""), None).await;
    expect_refused(&mut client, "private-encrypted-a").await;
    client.send_subscribe("private-a", Some("no-colon-here"), None).await;
    expect_refused(&mut client, "private-a").await;
    assert_still_receives(&mut client, &api, "news").await;
}

#[tokio::test]
async fn refused_channel_receives_nothing() {
    let server = TestServer::start_default();
    let app = server.app();
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &app.key).await;
    client.subscribe("news").await;
    client.send_subscribe("private-a", Some(&format!("{}:00", app.key)), None).await;
    expect_refused(&mut client, "private-a").await;
    api.trigger_ok(&["private-a"], "secret", "{}").await;
    api.trigger_ok(&["news"], "public", "{}").await;
    assert_eq!(client.recv_json().await["event"], "public", "an event on a refused channel was delivered");
}

#[tokio::test]
async fn double_subscribe_is_idempotent() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe("news").await;
    client.subscribe("news").await;
    api.trigger_ok(&["news"], "first", "1").await;
    api.trigger_ok(&["news"], "second", "2").await;
    assert_eq!(client.recv_json().await, json!({"event": "first", "channel": "news", "data": "1"}));
    assert_eq!(client.recv_json().await, json!({"event": "second", "channel": "news", "data": "2"}), "delivered twice");
    let info = api.get("/channels/news", &[("info", "subscription_count")]).await.expect(200);
    assert_eq!(info["subscription_count"], 1);
}

#[tokio::test]
async fn unsubscribe_stops_delivery() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe("news").await;
    client.subscribe("sport").await;
    client.unsubscribe("news").await;
    // No reply is defined for unsubscribe (§2.7); a ping round trip proves it was handled.
    client.ping_pong().await;
    api.trigger_ok(&["news"], "gone", "{}").await;
    api.trigger_ok(&["sport"], "kept", "{}").await;
    assert_eq!(client.recv_json().await["event"], "kept", "an event on an unsubscribed channel was delivered");
    // Old string form of the data.
    client.send_text(r#"{"event":"pusher:unsubscribe","data":"{\"channel\":\"sport\"}"}"#).await;
    client.ping_pong().await;
    let channels = api.get("/channels", &[]).await.expect(200);
    assert_eq!(channels, json!({"channels": {}}));
}

#[tokio::test]
async fn malformed_frames_get_pusher_error_and_the_connection_keeps_working() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe("news").await;
    for bad in ["not json", "[]", "{}", r#"{"event":"pusher:subscribe","data":{}}"#, r#"{"event":"pusher:subscribe"}"#, "42", r#"{"event":5}"#] {
        client.send_text(bad).await;
        let frame = client.recv_json().await;
        assert_eq!(frame["event"], "pusher:error", "after sending {bad}: {frame}");
        assert_error_shape(&frame);
        assert!(frame["data"]["code"].is_null(), "malformed input keeps the socket (code null): {frame}");
    }
    assert_still_receives(&mut client, &api, "news").await;
}

#[tokio::test]
async fn binary_frame_gets_pusher_error_and_the_connection_stays_open() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe("news").await;
    client.send(Message::Binary(br#"{"event":"pusher:ping","data":{}}"#.to_vec())).await;
    let error = client.expect_error().await;
    assert!(error["code"].is_null(), "{error}");
    assert_still_receives(&mut client, &api, "news").await;
}

#[tokio::test]
async fn invalid_channel_names_are_refused() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe("news").await;
    let too_long = "a".repeat(201);
    for name in ["has space", "#foo", too_long.as_str(), "", "caf\u{e9}", "a/b", "a:b"] {
        client.send_subscribe(name, None, None).await;
        expect_refused(&mut client, name).await;
    }
    // The boundary and the full allowed alphabet are accepted (§2.2).
    client.subscribe(&"a".repeat(200)).await;
    client.subscribe("Az09-_=@,.;").await;
    assert_still_receives(&mut client, &api, "news").await;
}

#[tokio::test]
async fn unknown_events_get_pusher_error_without_closing() {
    let server = TestServer::start_default();
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.send_json(&json!({"event": "pusher:no-such-thing", "data": {}})).await;
    let error = client.expect_error().await;
    assert!(error["code"].is_null(), "{error}");
    client.ping_pong().await;
}

#[tokio::test]
async fn events_from_the_api_arrive_with_the_data_string_unchanged() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe("news").await;
    let data = r#"{"hello":"world","n":[1,2.5,"x"],"nested":{"q":"\"quoted\""}}"#;
    api.trigger_ok(&["news"], "my-event", data).await;
    let frame = client.recv_json().await;
    assert_eq!(frame, json!({"event": "my-event", "channel": "news", "data": data}));
    // Data that is not JSON at all is forwarded as is.
    api.trigger_ok(&["news"], "plain", "just text").await;
    assert_eq!(client.recv_json().await, json!({"event": "plain", "channel": "news", "data": "just text"}));
}
