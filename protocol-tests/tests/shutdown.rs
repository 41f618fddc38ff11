//! Graceful shutdown: every socket is asked to reconnect elsewhere with 4200
//! (pusher-protocol.md §1.7, §7.1 item 6).

use protocol_tests::{Api, TestServer, WsClient, WAIT};
use serde_json::json;

const QUICK_GRACE: &str = r#"
shutdown_grace_period = 2

[[apps]]
id = "1001"
key = "test-key"
secret = "test-secret"
"#;

#[tokio::test]
async fn graceful_shutdown_closes_every_client_with_4200() {
    let server = TestServer::start(QUICK_GRACE);
    let app = server.app();
    let mut idle = WsClient::connect_app(server.addr, &app.key).await;
    let mut subscribed = WsClient::connect_app(server.addr, &app.key).await;
    subscribed.subscribe("news").await;
    let mut member = WsClient::connect_app(server.addr, &app.key).await;
    member.subscribe_presence(&app, "presence-room", &json!({"user_id": "1"})).await;

    let shutdown = server.begin_graceful_shutdown();
    for client in [&mut idle, &mut subscribed, &mut member] {
        let frame = client.expect_close(4200).await;
        assert!(!frame.reason.is_empty(), "the close carries a reason");
    }
    // Clients answered the close, so the drain ends well inside the grace period.
    tokio::time::timeout(WAIT, shutdown).await.expect("shutdown finished").expect("shutdown task did not panic");
}

#[tokio::test]
async fn events_queued_before_shutdown_are_delivered_before_the_close() {
    let server = TestServer::start(QUICK_GRACE);
    let api = Api::new(&server);
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe("news").await;
    api.trigger_ok(&["news"], "last-words", "{}").await;
    let shutdown = server.begin_graceful_shutdown();
    assert_eq!(client.recv_json().await["event"], "last-words");
    client.expect_close(4200).await;
    tokio::time::timeout(WAIT, shutdown).await.expect("shutdown finished").expect("shutdown task did not panic");
}
