//! Presence channels: the roster on subscription, member events, users across sockets, and
//! the limits (pusher-protocol.md §2.5, §2.8, §3.2, §8).

use protocol_tests::{assert_keys, data_object, presence_auth, Api, TestApp, TestServer, WsClient};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const ROOM: &str = "presence-room";

/// Connects a new socket and joins `channel` as `user_id` with `user_info`.
async fn join(server: &TestServer, channel: &str, user_id: Value, user_info: Value) -> (WsClient, Value) {
    let app = server.app();
    let mut client = WsClient::connect_app(server.addr, &app.key).await;
    let presence = client.subscribe_presence(&app, channel, &json!({"user_id": user_id, "user_info": user_info})).await;
    (client, presence)
}

/// Checks the `{ids, hash, count}` shape and returns the ids as a set of JSON texts.
fn roster(presence: &Value) -> BTreeSet<String> {
    assert_keys(presence, &["ids", "hash", "count"]);
    let ids = presence["ids"].as_array().expect("ids is an array");
    let hash = presence["hash"].as_object().expect("hash is an object");
    assert_eq!(presence["count"], ids.len(), "count equals the number of ids: {presence}");
    assert_eq!(hash.len(), ids.len(), "one hash entry per id: {presence}");
    for id in ids {
        let key = match id {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            other => panic!("ids are strings or numbers, got {other}"),
        };
        assert!(hash.contains_key(&key), "hash has an entry for {key}: {presence}");
    }
    ids.iter().map(Value::to_string).collect()
}

/// Requires the next frame to be exactly a member event on `channel` with `data`.
async fn expect_member_event(client: &mut WsClient, event: &str, channel: &str, data: Value) {
    let frame = client.recv_json().await;
    assert_eq!(frame["event"], event, "{frame}");
    assert_keys(&frame, &["event", "channel", "data"]);
    assert_eq!(frame["channel"], channel);
    assert_eq!(data_object(&frame), data, "{frame}");
}

/// Triggers a marker event on `channel`; each client's next frame must be that marker,
/// proving nothing else was queued for it before.
async fn expect_marker(clients: &mut [&mut WsClient], api: &Api, channel: &str, what: &str) {
    api.trigger_ok(&[channel], "marker", "{}").await;
    for client in clients.iter_mut() {
        let frame = client.recv_json().await;
        assert_eq!(frame["event"], "marker", "{what}: got {frame}");
    }
}

/// Reads the refusal of a presence subscription.
async fn expect_refused(client: &mut WsClient, channel: &str) {
    let frame = client.expect_event("pusher:subscription_error").await;
    assert_eq!(frame["channel"], channel, "{frame}");
    let error = client.expect_error().await;
    assert!(error["code"].is_null(), "{error}");
}

fn presence_config(max_members: usize) -> String {
    format!("[[apps]]\nid = \"1001\"\nkey = \"test-key\"\nsecret = \"test-secret\"\nmax_presence_members = {max_members}\n")
}

#[tokio::test]
async fn subscription_succeeded_carries_the_exact_roster_including_the_joiner() {
    let server = TestServer::start_default();
    let (_ann, presence) = join(&server, ROOM, json!("1"), json!({"name": "Ann"})).await;
    assert_eq!(presence, json!({"ids": ["1"], "hash": {"1": {"name": "Ann"}}, "count": 1}));
    let (_bob, presence) = join(&server, ROOM, json!("2"), json!({"name": "Bob"})).await;
    assert_eq!(roster(&presence), BTreeSet::from(["\"1\"".to_string(), "\"2\"".to_string()]));
    assert_eq!(presence["hash"], json!({"1": {"name": "Ann"}, "2": {"name": "Bob"}}));
    assert_eq!(presence["count"], 2);
}

#[tokio::test]
async fn member_added_goes_to_the_others_but_not_the_joiner() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let (mut ann, _) = join(&server, ROOM, json!("1"), json!({"name": "Ann"})).await;
    let (mut bob, _) = join(&server, ROOM, json!("2"), json!({"name": "Bob"})).await;
    expect_member_event(&mut ann, "pusher_internal:member_added", ROOM, json!({"user_id": "2", "user_info": {"name": "Bob"}})).await;
    expect_marker(&mut [&mut bob, &mut ann], &api, ROOM, "member_added only to the others, once").await;
}

#[tokio::test]
async fn numeric_user_ids_stay_numbers() {
    let server = TestServer::start_default();
    let (mut ann, presence) = join(&server, ROOM, json!(10), json!({"name": "Mr. Channels"})).await;
    assert_eq!(presence, json!({"ids": [10], "hash": {"10": {"name": "Mr. Channels"}}, "count": 1}));
    let (bob, presence) = join(&server, ROOM, json!(20), json!(null)).await;
    assert_eq!(roster(&presence), BTreeSet::from(["10".to_string(), "20".to_string()]));
    expect_member_event(&mut ann, "pusher_internal:member_added", ROOM, json!({"user_id": 20, "user_info": null})).await;
    bob.close().await;
    expect_member_event(&mut ann, "pusher_internal:member_removed", ROOM, json!({"user_id": 20})).await;
}

#[tokio::test]
async fn two_sockets_of_one_user_are_one_member() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let (mut watcher, _) = join(&server, ROOM, json!("9"), json!({})).await;
    let (mut tab1, _) = join(&server, ROOM, json!("1"), json!({"tab": 1})).await;
    expect_member_event(&mut watcher, "pusher_internal:member_added", ROOM, json!({"user_id": "1", "user_info": {"tab": 1}})).await;

    let (mut tab2, presence) = join(&server, ROOM, json!("1"), json!({"tab": 2})).await;
    assert_eq!(roster(&presence), BTreeSet::from(["\"1\"".to_string(), "\"9\"".to_string()]));
    assert_eq!(presence["count"], 2, "a user with two sockets counts once");
    expect_marker(&mut [&mut watcher, &mut tab1, &mut tab2], &api, ROOM, "a second socket of a member must not announce it again").await;
    let users = api.get(&format!("/channels/{ROOM}/users"), &[]).await.expect(200);
    let ids: BTreeSet<&str> = users["users"].as_array().unwrap().iter().map(|u| u["id"].as_str().unwrap()).collect();
    assert_eq!(ids, BTreeSet::from(["1", "9"]));
    let info = api.get(&format!("/channels/{ROOM}"), &[("info", "user_count")]).await.expect(200);
    assert_eq!(info["user_count"], 2);

    tab1.unsubscribe(ROOM).await;
    tab1.ping_pong().await;
    expect_marker(&mut [&mut watcher, &mut tab2], &api, ROOM, "member_removed only when the user's last socket leaves").await;
    tab2.unsubscribe(ROOM).await;
    expect_member_event(&mut watcher, "pusher_internal:member_removed", ROOM, json!({"user_id": "1"})).await;
}

#[tokio::test]
async fn member_removed_on_unsubscribe() {
    let server = TestServer::start_default();
    let (mut ann, _) = join(&server, ROOM, json!("1"), json!({})).await;
    let (mut bob, _) = join(&server, ROOM, json!("2"), json!({})).await;
    expect_member_event(&mut ann, "pusher_internal:member_added", ROOM, json!({"user_id": "2", "user_info": {}})).await;
    bob.unsubscribe(ROOM).await;
    expect_member_event(&mut ann, "pusher_internal:member_removed", ROOM, json!({"user_id": "2"})).await;
}

#[tokio::test]
async fn member_removed_when_the_tcp_connection_drops_without_a_close_frame() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let (mut ann, _) = join(&server, ROOM, json!("1"), json!({})).await;
    let (bob, _) = join(&server, ROOM, json!("2"), json!({})).await;
    expect_member_event(&mut ann, "pusher_internal:member_added", ROOM, json!({"user_id": "2", "user_info": {}})).await;
    bob.abort();
    expect_member_event(&mut ann, "pusher_internal:member_removed", ROOM, json!({"user_id": "2"})).await;
    let users = api.get(&format!("/channels/{ROOM}/users"), &[]).await.expect(200);
    assert_eq!(users, json!({"users": [{"id": "1"}]}));
}

#[tokio::test]
async fn member_limit_refuses_new_users_but_not_more_sockets_of_members() {
    let server = TestServer::start(presence_config(2));
    let app = server.app();
    let (_one, _) = join(&server, ROOM, json!("1"), json!({})).await;
    let (_two, _) = join(&server, ROOM, json!("2"), json!({})).await;
    let mut three = WsClient::connect_app(server.addr, &app.key).await;
    subscribe_raw(&mut three, &app, ROOM, &json!({"user_id": "3"})).await;
    expect_refused(&mut three, ROOM).await;
    three.ping_pong().await;
    // A second socket of an existing member does not add a member.
    let (_one_again, presence) = join(&server, ROOM, json!("1"), json!({})).await;
    assert_eq!(presence["count"], 2);
}

#[tokio::test]
async fn default_member_limit_is_100() {
    let server = TestServer::start_default();
    let app = server.app();
    let mut members = Vec::new();
    for i in 0..100 {
        let mut client = WsClient::connect_app(server.addr, &app.key).await;
        subscribe_raw(&mut client, &app, ROOM, &json!({"user_id": format!("u{i}")})).await;
        assert_eq!(client.recv_json().await["event"], "pusher_internal:subscription_succeeded", "member {i} of 100");
        members.push(client);
    }
    let mut extra = WsClient::connect_app(server.addr, &app.key).await;
    subscribe_raw(&mut extra, &app, ROOM, &json!({"user_id": "u100"})).await;
    expect_refused(&mut extra, ROOM).await;
}

#[tokio::test]
async fn user_info_over_the_limit_is_refused() {
    let server = TestServer::start_default();
    let app = server.app();
    let mut client = WsClient::connect_app(server.addr, &app.key).await;
    // Default limit 1 KB (§8): just under is accepted, over is refused.
    let fits = json!({"user_id": "1", "user_info": {"bio": "x".repeat(1000)}});
    client.subscribe_presence(&app, "presence-fits", &fits).await;
    let too_big = json!({"user_id": "2", "user_info": {"bio": "x".repeat(1100)}});
    subscribe_raw(&mut client, &app, "presence-big", &too_big).await;
    expect_refused(&mut client, "presence-big").await;
    client.ping_pong().await;
}

#[tokio::test]
async fn presence_auth_covers_channel_data() {
    let server = TestServer::start_default();
    let app = server.app();
    let mut client = WsClient::connect_app(server.addr, &app.key).await;
    // Signed for user 1, sent as user 2.
    let signed = json!({"user_id": "1"}).to_string();
    let auth = presence_auth(&app, client.socket_id(), ROOM, &signed);
    client.send_subscribe(ROOM, Some(&auth), Some(r#"{"user_id":"2"}"#)).await;
    expect_refused(&mut client, ROOM).await;
    // Signed without channel_data, on a connection that has not signed in.
    let auth = protocol_tests::private_auth(&app, client.socket_id(), ROOM);
    client.send_subscribe(ROOM, Some(&auth), None).await;
    expect_refused(&mut client, ROOM).await;
    // channel_data without a user_id.
    subscribe_raw(&mut client, &app, ROOM, &json!({"user_info": {}})).await;
    expect_refused(&mut client, ROOM).await;
    client.ping_pong().await;
}

/// Sends a correctly signed presence subscription without reading the answer.
async fn subscribe_raw(client: &mut WsClient, app: &TestApp, channel: &str, channel_data: &Value) {
    let channel_data = channel_data.to_string();
    let auth = presence_auth(app, client.socket_id(), channel, &channel_data);
    client.send_subscribe(channel, Some(&auth), Some(&channel_data)).await;
}
