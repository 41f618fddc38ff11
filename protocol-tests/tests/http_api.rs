//! The signed HTTP API: authentication, triggers, batches and channel queries
//! (pusher-protocol.md §5.1–§5.5, §2.9, §2.10, §3.8, §7.3, §8).

use protocol_tests::{Api, TestServer, WsClient};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const EMPTY_MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

/// `client`'s next frame must be an API-triggered marker: nothing else was queued before it.
async fn expect_marker(client: &mut WsClient, api: &Api, channel: &str, what: &str) {
    api.trigger_ok(&[channel], "marker", "{}").await;
    let frame = client.recv_json().await;
    assert_eq!(frame["event"], "marker", "{what}: got {frame}");
}

fn event_body(channels: &[&str], data: &str) -> Value {
    json!({"name": "my-event", "channels": channels, "data": data})
}

// --- Authentication (§5.2) ---------------------------------------------------------------

#[tokio::test]
async fn correctly_signed_trigger_is_delivered_and_answered_with_empty_object() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe("news").await;
    let body = api.post("/events", &event_body(&["news"], r#"{"some":"data"}"#)).await.expect(200);
    assert_eq!(body, json!({}));
    assert_eq!(client.recv_json().await, json!({"event": "my-event", "channel": "news", "data": r#"{"some":"data"}"#}));
    // PHP's single-channel form.
    let body = api.post("/events", &json!({"name": "php", "channel": "news", "data": "1"})).await.expect(200);
    assert_eq!(body, json!({}));
    assert_eq!(client.recv_json().await, json!({"event": "php", "channel": "news", "data": "1"}));
}

#[tokio::test]
async fn bad_signature_is_401_with_a_json_error_body() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let path = api.path("/events");
    let body = event_body(&["news"], "{}").to_string().into_bytes();
    let query = api.signed_query("POST", &path, &body, &[]);
    let (rest, signature) = query.rsplit_once("auth_signature=").expect("signature last");
    let flipped = if signature.starts_with('0') { "1" } else { "0" };
    let tampered = format!("{rest}auth_signature={flipped}{}", &signature[1..]);
    let message = api.send_raw("POST", &path, &tampered, body.clone()).await.expect_error(401);
    assert!(!message.is_empty());
    // Signed with the wrong secret.
    let mut wrong = api.app.clone();
    wrong.secret = "not-the-secret".into();
    let query = herald::protocol::api_signature::signed_query(&wrong.key, &wrong.secret, "POST", &path, &body, protocol_tests::harness::api::now(), &[]);
    api.send_raw("POST", &path, &query, body.clone()).await.expect_error(401);
    // Signed for another path.
    let query = api.signed_query("POST", &api.path("/batch_events"), &body, &[]);
    api.send_raw("POST", &path, &query, body).await.expect_error(401);
}

#[tokio::test]
async fn missing_auth_parameters_are_401() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let path = api.path("/channels");
    api.send_raw("GET", &path, "", Vec::new()).await.expect_error(401);
    let query = api.signed_query("GET", &path, b"", &[]);
    let without_signature: Vec<&str> = query.split('&').filter(|p| !p.starts_with("auth_signature=")).collect();
    api.send_raw("GET", &path, &without_signature.join("&"), Vec::new()).await.expect_error(401);
}

#[tokio::test]
async fn another_apps_key_is_401() {
    let server = TestServer::start_default();
    let mut api = Api::new(&server);
    let other = server.app_at(1);
    api.app.key = other.key;
    api.app.secret = other.secret;
    // App 1001's path signed with app 1002's credentials.
    api.get("/channels", &[]).await.expect_error(401);
}

#[tokio::test]
async fn stale_timestamp_is_401_and_recent_one_accepted() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let path = api.path("/channels");
    let now = protocol_tests::harness::api::now();
    // 605, not 601: the server reads its clock a moment after `now`, and if a second ticks in
    // between, a timestamp 601 s ahead is only 600 s ahead of the server (and accepted).
    for skew in [-601, 605, -3600] {
        let query = api.signed_query_at("GET", &path, b"", &[], now + skew);
        api.send_raw("GET", &path, &query, Vec::new()).await.expect_error(401);
    }
    for skew in [-590, 590] {
        let query = api.signed_query_at("GET", &path, b"", &[], now + skew);
        api.send_raw("GET", &path, &query, Vec::new()).await.expect(200);
    }
}

#[tokio::test]
async fn body_md5_mismatch_is_401() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let path = api.path("/events");
    let signed_body = event_body(&["news"], "original").to_string().into_bytes();
    let sent_body = event_body(&["news"], "tampered").to_string().into_bytes();
    let query = api.signed_query("POST", &path, &signed_body, &[]);
    api.send_raw("POST", &path, &query, sent_body.clone()).await.expect_error(401);
    // A body sent without any body_md5 at all.
    let query = api.signed_query("POST", &path, b"", &[]);
    api.send_raw("POST", &path, &query, sent_body).await.expect_error(401);
}

#[tokio::test]
async fn unknown_app_is_404() {
    let server = TestServer::start_default();
    let mut api = Api::new(&server);
    api.app.id = "999".into();
    api.trigger(&["news"], "e", "{}").await.expect_error(404);
    api.get("/channels", &[]).await.expect_error(404);
}

#[tokio::test]
async fn php_style_percent_encoded_query_values_are_accepted() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe("news").await;
    let path = api.path("/channels/news");
    let query = api.signed_query("GET", &path, b"", &[("info", "subscription_count,subscription_count")]);
    assert!(query.contains("%2C"), "this is the percent-encoded (Guzzle) form: {query}");
    let encoded = api.send_raw("GET", &path, &query, Vec::new()).await.expect(200);
    assert_eq!(encoded, json!({"occupied": true, "subscription_count": 1}));
    // Node, Python and Go put the raw comma in the URL; the signature covers decoded values.
    let raw = query.replace("%2C", ",");
    assert_eq!(api.send_raw("GET", &path, &raw, Vec::new()).await.expect(200), encoded);
}

#[tokio::test]
async fn python_style_get_with_empty_body_md5_is_accepted() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let _member = presence_member(&server, "presence-room", "7").await;
    let path = api.path("/channels");
    let params = [("body_md5", EMPTY_MD5), ("filter_by_prefix", "presence-"), ("info", "user_count")];
    let query = api.signed_query("GET", &path, b"", &params);
    let body = api.send_raw("GET", &path, &query, Vec::new()).await.expect(200);
    assert_eq!(body, json!({"channels": {"presence-room": {"user_count": 1}}}));
}

// --- Triggers (§5.3, §5.4, §8) ---------------------------------------------------------------

#[tokio::test]
async fn data_over_10_kb_is_413_and_exactly_10_kb_is_accepted() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe("news").await;
    api.trigger(&["news"], "big", &"x".repeat(10 * 1024 + 1)).await.expect_error(413);
    let exact = "x".repeat(10 * 1024);
    api.trigger_ok(&["news"], "exact", &exact).await;
    let frame = client.recv_json().await;
    assert_eq!(frame["event"], "exact", "the 413 event must not be delivered");
    assert_eq!(frame["data"], exact);
}

#[tokio::test]
async fn more_than_100_channels_is_400_and_100_is_accepted() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let names: Vec<String> = (0..101).map(|i| format!("ch-{i}")).collect();
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    api.trigger(&all, "e", "{}").await.expect_error(400);
    api.trigger_ok(&all[..100], "e", "{}").await;
}

#[tokio::test]
async fn encrypted_channel_in_a_multi_channel_trigger_is_400() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    api.trigger(&["private-encrypted-a", "news"], "e", "{}").await.expect_error(400);
    api.trigger(&["private-encrypted-a", "private-encrypted-b"], "e", "{}").await.expect_error(400);
    let ciphertext = json!({"nonce": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "ciphertext": "AAAAAAAAAAAAAAAAAAAAAA=="}).to_string();
    api.trigger_ok(&["private-encrypted-a"], "e", &ciphertext).await;
}

#[tokio::test]
async fn invalid_triggers_are_400() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    for body in [
        json!({"name": "pusher:fake", "channels": ["news"], "data": "{}"}),
        json!({"name": "pusher_internal:fake", "channels": ["news"], "data": "{}"}),
        json!({"name": "e".repeat(201), "channels": ["news"], "data": "{}"}),
        json!({"name": "e", "channels": ["bad name"], "data": "{}"}),
        json!({"name": "e", "channels": [], "data": "{}"}),
        json!({"channels": ["news"], "data": "{}"}),
        json!({"name": "e", "data": "{}"}),
        json!({"name": "e", "channels": ["news"]}),
        json!({"name": "e", "channels": ["news"], "data": "{}", "socket_id": "not-a-socket"}),
    ] {
        let response = api.post("/events", &body).await;
        assert_eq!(response.status, 400, "{body} answered {response:?}");
        response.expect_error(400);
    }
    let path = api.path("/events");
    for (body, says) in [("not json", "not valid JSON"), ("[]", "must be a JSON object"), (r#"{"name": 5}"#, "expected a string")] {
        let query = api.signed_query("POST", &path, body.as_bytes(), &[]);
        let error = api.send_raw("POST", &path, &query, body.as_bytes().to_vec()).await.expect_error(400);
        assert!(error.contains(says) && !error.contains("struct"), "{body} answered {error}");
    }
}

/// `max_backend_events_per_second` counts one event per channel, refuses a whole request
/// with 429, `Retry-After` and a JSON error once the second's budget is spent, publishes
/// nothing of it, and lets requests through again as the budget refills.
#[tokio::test]
async fn backend_events_over_the_app_s_rate_are_429_and_not_published() {
    let server = TestServer::start(
        r#"
[[apps]]
id = "1001"
key = "test-key"
secret = "test-secret"
max_backend_events_per_second = 3
"#,
    );
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe("news").await;
    client.subscribe("sport").await;
    // Two channels are two events; with the third, the second's budget is spent.
    api.trigger_ok(&["news", "sport"], "e", "1").await;
    api.trigger_ok(&["news"], "e", "2").await;
    let refused = api.trigger(&["news"], "e", "3").await;
    let error = refused.expect_error(429);
    assert!(error.contains("3 events per second") && error.contains("max_backend_events_per_second"), "{error}");
    assert_eq!(refused.retry_after.as_deref(), Some("1"), "{refused:?}");
    // More events than a second ever holds: refused whatever the budget, and said so.
    let batch = json!({"batch": (0..4).map(|i| json!({"name": "e", "channel": "news", "data": i.to_string()})).collect::<Vec<_>>()});
    let error = api.post("/batch_events", &batch).await.expect_error(429);
    assert!(error.contains("publishes 4 events"), "{error}");

    for data in ["1", "1", "2"] {
        assert_eq!(client.recv_json().await["data"], data);
    }
    // The budget refills at 3 a second: the marker goes through within a second or so, and
    // it is the next frame (nothing refused was published).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3);
    loop {
        let response = api.trigger(&["news"], "marker", "{}").await;
        if response.status == 200 {
            break;
        }
        response.expect_error(429);
        assert!(tokio::time::Instant::now() < deadline, "the budget never refilled");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(client.recv_json().await["event"], "marker");
}

#[tokio::test]
async fn server_to_user_channel_is_accepted_in_triggers() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    api.trigger_ok(&["#server-to-user-42"], "notice", "{}").await;
}

#[tokio::test]
async fn socket_id_excludes_that_connection() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut a = WsClient::connect_app(server.addr, &server.app().key).await;
    let mut b = WsClient::connect_app(server.addr, &server.app().key).await;
    a.subscribe("news").await;
    b.subscribe("news").await;
    let body = json!({"name": "from-a", "channels": ["news"], "data": "{}", "socket_id": a.socket_id()});
    api.post("/events", &body).await.expect(200);
    assert_eq!(b.recv_json().await["event"], "from-a");
    expect_marker(&mut a, &api, "news", "the excluded socket received the event").await;
    assert_eq!(b.recv_json().await["event"], "marker");
    // In a batch too.
    let batch = json!({"batch": [{"name": "batched", "channel": "news", "data": "{}", "socket_id": b.socket_id()}]});
    api.post("/batch_events", &batch).await.expect(200);
    assert_eq!(a.recv_json().await["event"], "batched");
    expect_marker(&mut b, &api, "news", "the excluded socket received the batched event").await;
}

#[tokio::test]
async fn info_on_trigger_answers_counts_per_channel() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let _tab1 = presence_member(&server, "presence-room", "1").await;
    let _tab2 = presence_member(&server, "presence-room", "1").await;
    let mut reader = WsClient::connect_app(server.addr, &server.app().key).await;
    reader.subscribe("news").await;
    let body = json!({"name": "e", "channels": ["presence-room", "news"], "data": "{}", "info": "user_count,subscription_count"});
    let answer = api.post("/events", &body).await.expect(200);
    let channels = answer["channels"].as_object().unwrap_or_else(|| panic!("info answers {{channels: ...}}: {answer}"));
    assert_eq!(channels.len(), 2, "{answer}");
    assert_eq!(channels["presence-room"]["user_count"], 1, "{answer}");
    if let Some(count) = channels["presence-room"].get("subscription_count") {
        assert_eq!(count, 2, "{answer}");
    }
    assert_eq!(channels["news"], json!({"subscription_count": 1}), "user_count only for presence channels");
    // Empty channel: counts are zero, still one entry per channel.
    let body = json!({"name": "e", "channels": ["empty"], "data": "{}", "info": "subscription_count"});
    assert_eq!(api.post("/events", &body).await.expect(200), json!({"channels": {"empty": {"subscription_count": 0}}}));
}

#[tokio::test]
async fn batch_delivers_in_order_and_over_10_is_400() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe("news").await;
    let events = |n: usize| -> Value {
        json!({"batch": (0..n).map(|i| json!({"name": format!("e{i}"), "channel": "news", "data": i.to_string()})).collect::<Vec<_>>()})
    };
    api.post("/batch_events", &events(11)).await.expect_error(400);
    assert_eq!(api.post("/batch_events", &events(10)).await.expect(200), json!({}));
    for i in 0..10 {
        assert_eq!(client.recv_json().await, json!({"event": format!("e{i}"), "channel": "news", "data": i.to_string()}));
    }
    // Each batch event names one channel.
    let multi = json!({"batch": [{"name": "e", "channels": ["a", "b"], "data": "{}"}]});
    api.post("/batch_events", &multi).await.expect_error(400);
    let missing = json!({"batch": [{"name": "e", "data": "{}"}]});
    api.post("/batch_events", &missing).await.expect_error(400);
}

#[tokio::test]
async fn batch_with_info_answers_per_event() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let _member = presence_member(&server, "presence-room", "1").await;
    let batch = json!({"batch": [
        {"name": "a", "channel": "presence-room", "data": "{}", "info": "user_count"},
        {"name": "b", "channel": "news", "data": "{}"},
        {"name": "c", "channel": "news", "data": "{}", "info": "subscription_count"},
    ]});
    let answer = api.post("/batch_events", &batch).await.expect(200);
    assert_eq!(answer, json!({"batch": [{"user_count": 1}, {}, {"subscription_count": 0}]}));
}

// --- Channel queries (§5.3) ----------------------------------------------------------------

#[tokio::test]
async fn channels_lists_occupied_channels_with_filter_and_user_count() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let app = server.app();
    let _m1 = presence_member(&server, "presence-a", "1").await;
    let _m2 = presence_member(&server, "presence-a", "2").await;
    let _m3 = presence_member(&server, "presence-b", "1").await;
    let mut client = WsClient::connect_app(server.addr, &app.key).await;
    client.subscribe("news").await;
    client.subscribe_private(&app, "private-x").await;
    client.subscribe("gone").await;
    client.unsubscribe("gone").await;
    client.ping_pong().await;

    let all = api.get("/channels", &[]).await.expect(200);
    assert_eq!(all, json!({"channels": {"presence-a": {}, "presence-b": {}, "news": {}, "private-x": {}}}));
    let presence = api.get("/channels", &[("filter_by_prefix", "presence-"), ("info", "user_count")]).await.expect(200);
    assert_eq!(presence, json!({"channels": {"presence-a": {"user_count": 2}, "presence-b": {"user_count": 1}}}));
    let private = api.get("/channels", &[("filter_by_prefix", "private-")]).await.expect(200);
    assert_eq!(private, json!({"channels": {"private-x": {}}}));
    // user_count only with a presence filter.
    api.get("/channels", &[("info", "user_count")]).await.expect_error(400);
    api.get("/channels", &[("filter_by_prefix", "private-"), ("info", "user_count")]).await.expect_error(400);
}

#[tokio::test]
async fn single_channel_query() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let _member = presence_member(&server, "presence-a", "1").await;
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe("news").await;

    assert_eq!(api.get("/channels/news", &[]).await.expect(200), json!({"occupied": true}));
    assert_eq!(api.get("/channels/news", &[("info", "subscription_count")]).await.expect(200), json!({"occupied": true, "subscription_count": 1}));
    assert_eq!(api.get("/channels/empty", &[]).await.expect(200), json!({"occupied": false}));
    assert_eq!(api.get("/channels/presence-a", &[("info", "user_count")]).await.expect(200), json!({"occupied": true, "user_count": 1}));
    api.get("/channels/news", &[("info", "user_count")]).await.expect_error(400);
}

#[tokio::test]
async fn users_lists_presence_members_and_is_400_elsewhere() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let _a = presence_member(&server, "presence-a", "1").await;
    let _b = presence_member(&server, "presence-a", "2").await;
    let _b2 = presence_member(&server, "presence-a", "2").await;
    let users = api.get("/channels/presence-a/users", &[]).await.expect(200);
    assert_eq!(users.as_object().unwrap().len(), 1, "{users}");
    let ids: BTreeSet<String> = users["users"].as_array().unwrap().iter().map(Value::to_string).collect();
    assert_eq!(ids, BTreeSet::from([json!({"id": "1"}).to_string(), json!({"id": "2"}).to_string()]));
    assert_eq!(users["users"].as_array().unwrap().len(), 2, "one entry per user, not per socket");
    assert_eq!(api.get("/channels/presence-empty/users", &[]).await.expect(200), json!({"users": []}));
    for channel in ["news", "private-a", "private-encrypted-a"] {
        api.get(&format!("/channels/{channel}/users"), &[]).await.expect_error(400);
    }
}

#[tokio::test]
async fn unknown_route_is_404_json() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    api.get("/no-such-endpoint", &[]).await.expect_error(404);
}

/// A socket joined to a presence channel as `user_id`.
async fn presence_member(server: &TestServer, channel: &str, user_id: &str) -> WsClient {
    let app = server.app();
    let mut client = WsClient::connect_app(server.addr, &app.key).await;
    client.subscribe_presence(&app, channel, &json!({"user_id": user_id})).await;
    client
}
