//! Graceful shutdown: every socket is asked to reconnect elsewhere with 4200
//! (pusher-protocol.md §1.7, §7.1 item 6).

use protocol_tests::{Api, RawFrame, RawSocket, TestServer, WsClient, WAIT};
use serde_json::json;
use std::time::Duration;

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
    // The clients hang up, so the drain ends well inside the grace period.
    drop((idle, subscribed, member));
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
    drop(client);
    tokio::time::timeout(WAIT, shutdown).await.expect("shutdown finished").expect("shutdown task did not panic");
}

/// Drained means every socket has said goodbye, not merely been asked to: a client slow to
/// answer the close frame still gets its close handshake before the workers stop (which
/// also keeps load balancers' kept-alive connections answered until then).
#[tokio::test]
async fn the_drain_waits_for_a_slow_close_handshake() {
    let server = TestServer::start(QUICK_GRACE);
    let (mut slow, _) = RawSocket::connect_app(server.addr, &server.app().key, None).await;
    let shutdown = server.begin_graceful_shutdown();
    loop {
        match slow.next_frame().await {
            RawFrame::Close { code: Some(4200), .. } => break,
            RawFrame::Text(text) => assert!(text.contains("pusher:error"), "unexpected {text}"),
            other => panic!("expected the 4200 close, got {other:?}"),
        }
    }
    // The client takes its time to answer (well inside the 2 s herald allows a goodbye).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!shutdown.is_finished(), "the shutdown finished while a socket was still saying goodbye");
    slow.send_frame(0x8, &4200u16.to_be_bytes()).await;
    slow.expect_eof().await;
    drop(slow);
    // Well before the 2 s herald would wait for the hang-up, let alone the grace period.
    tokio::time::timeout(Duration::from_millis(1000), shutdown).await.expect("shutdown finished").expect("shutdown task did not panic");
}
