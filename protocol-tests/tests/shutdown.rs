//! Graceful shutdown: every socket is asked to reconnect elsewhere with 4200
//! (pusher-protocol.md §1.7, §7.1 item 6).

use protocol_tests::{Api, RawFrame, RawSocket, TestServer, WsClient, WAIT};
use serde_json::json;
use protocol_tests::harness::http1::{signed_trigger, Http1};
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

/// A request in flight when the shutdown begins (here its body still arriving) is answered
/// before the workers stop, with `Connection: close` so the client's next request goes to
/// another node; the shutdown waits for it.
#[tokio::test]
async fn a_request_in_flight_is_answered_with_connection_close_before_the_stop() {
    let server = TestServer::start(QUICK_GRACE);
    let request = signed_trigger(&Api::new(&server), "news", "{}", "");
    let mut publisher = Http1::connect(server.addr).await;
    // The head and part of the body: the request is being read when the shutdown begins.
    let (first, rest) = request.split_at(request.len() - 10);
    publisher.send(first).await;
    // A load balancer's kept-alive connection, in use before the shutdown.
    let mut probe = Http1::connect(server.addr).await;
    probe.send(b"GET /ready HTTP/1.1\r\nHost: herald\r\n\r\n").await;
    assert_eq!(probe.response().await.status, 200);
    // Nothing is sent back until the body is whole; herald's own count shows it has begun.
    let deadline = tokio::time::Instant::now() + WAIT;
    while server.in_flight() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "herald never began reading the request");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let shutdown = server.begin_graceful_shutdown();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!shutdown.is_finished(), "the shutdown finished while a request was still being read");
    publisher.send(rest).await;
    let answer = publisher.response().await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.header("connection"), Some("close"), "{answer:?}");
    publisher.expect_eof().await;

    probe.send(b"GET /ready HTTP/1.1\r\nHost: herald\r\n\r\n").await;
    let ready = probe.response().await;
    assert_eq!(ready.status, 503, "{ready:?}");
    assert_eq!(ready.header("connection"), Some("close"), "{ready:?}");
    probe.expect_eof().await;
    tokio::time::timeout(WAIT, shutdown).await.expect("shutdown finished").expect("shutdown task did not panic");
}
