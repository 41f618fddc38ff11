//! HTTP/1.1 on herald's plain TCP listener, byte for byte: herald's own reader serves
//! publishing requests and WebSocket handshakes, and hands every other request (with the
//! connection it came on) to actix-http (docs/ARCHITECTURE.md, `listener/`). These tests pin
//! what a client sees across that seam: pipelined and trickled requests, keep-alive across
//! the hand-over, `Connection: close`, chunked bodies and bytes sent right after a handshake.

use protocol_tests::harness::http1::{signed_trigger, Http1};
use protocol_tests::{Api, RawFrame, RawSocket, TestServer, WsClient};
use serde_json::json;

async fn subscriber(server: &TestServer, channel: &str) -> WsClient {
    let mut client = WsClient::connect_app(server.addr, &server.app().key).await;
    client.subscribe(channel).await;
    client
}

async fn expect_delivery(client: &mut WsClient, data: &str) {
    assert_eq!(client.expect_event("e").await["data"], data);
}

#[tokio::test]
async fn pipelined_triggers_are_answered_in_order_and_delivered_in_order() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = subscriber(&server, "pipe").await;
    let mut http = Http1::connect(server.addr).await;
    let mut both = signed_trigger(&api, "pipe", "first", "");
    both.extend(signed_trigger(&api, "pipe", "second", ""));
    http.send(&both).await;
    for _ in 0..2 {
        let response = http.response().await;
        assert_eq!((response.status, response.json()), (200, json!({})), "{response:?}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert!(response.header("date").is_some_and(|d| d.ends_with("GMT")), "{response:?}");
        assert_eq!(response.header("connection"), None, "kept alive: {response:?}");
    }
    expect_delivery(&mut client, "first").await;
    expect_delivery(&mut client, "second").await;
}

#[tokio::test]
async fn a_trigger_trickled_a_byte_at_a_time_is_served() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = subscriber(&server, "slow").await;
    let mut http = Http1::connect(server.addr).await;
    for byte in signed_trigger(&api, "slow", "trickled", "") {
        http.send(&[byte]).await;
    }
    let response = http.response().await;
    assert_eq!((response.status, response.json()), (200, json!({})), "{response:?}");
    expect_delivery(&mut client, "trickled").await;
}

#[tokio::test]
async fn a_kept_alive_connection_goes_on_serving_after_a_request_herald_hands_to_actix() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = subscriber(&server, "mixed").await;
    let mut http = Http1::connect(server.addr).await;
    http.send(&signed_trigger(&api, "mixed", "before", "")).await;
    assert_eq!(http.response().await.status, 200);
    // A channel query is not a publishing request: actix-http serves it, and from then on
    // the rest of the connection.
    let path = api.path("/channels");
    let query = api.signed_query("GET", &path, b"", &[]);
    http.send(format!("GET {path}?{query} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await;
    let channels = http.response().await;
    assert_eq!(channels.status, 200, "{channels:?}");
    assert!(channels.json()["channels"].get("mixed").is_some(), "{channels:?}");
    http.send(&signed_trigger(&api, "mixed", "after", "")).await;
    let response = http.response().await;
    assert_eq!((response.status, response.json()), (200, json!({})), "{response:?}");
    expect_delivery(&mut client, "before").await;
    expect_delivery(&mut client, "after").await;
}

#[tokio::test]
async fn connection_close_is_answered_in_kind_and_the_connection_ends() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut http = Http1::connect(server.addr).await;
    http.send(&signed_trigger(&api, "bye", "x", "Connection: close\r\n")).await;
    let response = http.response().await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.header("connection"), Some("close"), "{response:?}");
    http.expect_eof().await;
}

#[tokio::test]
async fn a_chunked_trigger_is_served_and_a_bad_signature_or_a_bad_chunk_is_a_json_error() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = subscriber(&server, "chunks").await;
    let mut http = Http1::connect(server.addr).await;
    let path = api.path("/events");
    let body = json!({"name": "e", "channels": ["chunks"], "data": "chunked"}).to_string();
    let query = api.signed_query("POST", &path, body.as_bytes(), &[]);
    let (a, b) = body.split_at(10);
    let request = format!(
        "POST {path}?{query} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
        a.len(),
        b.len()
    );
    http.send(request.as_bytes()).await;
    let response = http.response().await;
    assert_eq!((response.status, response.json()), (200, json!({})), "{response:?}");
    expect_delivery(&mut client, "chunked").await;

    let mut http = Http1::connect(server.addr).await;
    let forged = String::from_utf8(signed_trigger(&api, "chunks", "forged", "")).unwrap().replace("auth_signature=", "auth_signature=0");
    http.send(forged.as_bytes()).await;
    let response = http.response().await;
    assert_eq!(response.status, 401, "{response:?}");
    assert!(response.json()["error"].as_str().is_some_and(|e| !e.is_empty()), "{response:?}");
    assert_eq!(response.header("content-type"), Some("application/json"));

    // A chunk size that is not hex: a JSON 400 in words, not a Rust debug value.
    let mut http = Http1::connect(server.addr).await;
    http.send(format!("POST {path}?{query} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").as_bytes()).await;
    let response = http.response().await;
    assert_eq!(response.status, 400, "{response:?}");
    let error = response.json()["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("chunked encoding is malformed") && !error.contains("None"), "{error}");
}

/// A head whose body could be delimited two ways is where request smuggling starts: it is
/// refused with a JSON 400 naming the problem, the connection ends (where a next request
/// would begin is unknown), and nothing is published.
#[tokio::test]
async fn a_head_that_could_be_read_two_ways_is_a_json_400_and_ends_the_connection() {
    let server = TestServer::start_default();
    let api = Api::new(&server);
    let mut client = subscriber(&server, "smuggle").await;
    let cases = [
        ("Content-Length: 2\r\n", "more than one Content-Length"),
        ("Transfer-Encoding: chunked\r\n", "both Transfer-Encoding and Content-Length"),
    ];
    for (extra, reason) in cases {
        let mut http = Http1::connect(server.addr).await;
        http.send(&signed_trigger(&api, "smuggle", "smuggled", extra)).await;
        let response = http.response().await;
        assert_eq!(response.status, 400, "{response:?}");
        assert_eq!(response.header("content-type"), Some("application/json"));
        assert_eq!(response.header("connection"), Some("close"), "{response:?}");
        let error = response.json()["error"].as_str().unwrap_or_default().to_string();
        assert!(error.contains(reason), "{error}");
        http.expect_eof().await;
    }
    for head in ["POST /apps/1/events HTTP/1.1\r\nContent-Length: +2\r\n\r\n{}", "GET /up HTTP/1.1\r\nBad Name: x\r\n\r\n"] {
        let mut http = Http1::connect(server.addr).await;
        http.send(head.as_bytes()).await;
        let response = http.response().await;
        assert_eq!(response.status, 400, "{response:?}");
        assert!(response.json()["error"].as_str().is_some_and(|e| e.starts_with("malformed HTTP request")), "{response:?}");
        http.expect_eof().await;
    }
    // None was published: the next event is the first the subscriber gets.
    let mut http = Http1::connect(server.addr).await;
    http.send(&signed_trigger(&api, "smuggle", "plain", "")).await;
    assert_eq!(http.response().await.status, 200);
    expect_delivery(&mut client, "plain").await;
}

#[tokio::test]
async fn frames_sent_in_the_same_write_as_the_handshake_are_read() {
    let server = TestServer::start_default();
    // A client may send its first frame without waiting for the 101: the handshake and a
    // subscribe leave in one write, and herald must not lose the bytes after the head.
    let (mut raw, _) = RawSocket::connect_with_early_text(
        server.addr,
        &format!("/app/{}?protocol=7", server.app().key),
        &json!({"event": "pusher:subscribe", "data": {"channel": "early"}}).to_string(),
    )
    .await;
    match raw.next_frame().await {
        RawFrame::Text(text) => assert!(text.contains("pusher_internal:subscription_succeeded"), "{text}"),
        other => panic!("expected the subscription to succeed, got {other:?}"),
    }
}
