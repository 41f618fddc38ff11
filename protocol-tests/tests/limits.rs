//! Limits that protect the server: slow consumers (4100), connection quota (4004), message and
//! request sizes (pusher-protocol.md §1.7, §5.5, §8).

use protocol_tests::{Api, RawFrame, RawSocket, TestServer, WsClient, WAIT};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

/// A small per-connection queue, so a reader that stops is detected after a few megabytes.
const SMALL_QUEUE: &str = r#"
connection_queue_size = 16

[[apps]]
id = "1001"
key = "test-key"
secret = "test-secret"
"#;

/// Events triggered at the slow reader: 1000 × 10 KB, far more than its TCP receive buffer
/// (4 KB), the server's socket send buffer (at most 4 MB with Linux defaults), the framework's
/// buffers and the queue of 16 frames can hold together. Sent as batches of 10 (§5.3).
const FLOOD_EVENTS: usize = 1000;
const FLOOD_DATA_BYTES: usize = 10 * 1024;
const FLOOD_BATCH: usize = 10;

/// A reader that subscribes to `channel`, reads the confirmation and then stops reading.
async fn stalled_reader(server: &TestServer, channel: &str) -> RawSocket {
    let (mut raw, _) = RawSocket::connect_app(server.addr, "test-key", Some(4096)).await;
    raw.send_text(&json!({"event": "pusher:subscribe", "data": {"channel": channel}}).to_string()).await;
    let confirmation = raw.next_json().await;
    assert_eq!(confirmation["event"], "pusher_internal:subscription_succeeded", "{confirmation}");
    raw
}

/// Triggers the flood while `reader` reads concurrently; returns the reader (still connected)
/// and the events it received.
///
/// The reader is healthy by construction: a batch is published only once it has received every
/// earlier one, so it never has more than one batch (10 frames, under the queue's 16) waiting
/// for it. It shares this test's thread with the publishing, and with herald's workers free to
/// publish on one thread and write to it on another, an unpaced flood could outrun it, and
/// herald would rightly close it as a slow consumer too.
async fn flood(api: &Api, channel: &'static str, mut reader: WsClient) -> (WsClient, Vec<Value>) {
    let (progress, mut received) = tokio::sync::watch::channel(0usize);
    let collector = tokio::spawn(async move {
        let mut events = Vec::with_capacity(FLOOD_EVENTS);
        while events.len() < FLOOD_EVENTS {
            events.push(reader.recv_json().await);
            progress.send_replace(events.len());
        }
        (reader, events)
    });
    let data = "x".repeat(FLOOD_DATA_BYTES);
    for first in (0..FLOOD_EVENTS).step_by(FLOOD_BATCH) {
        let caught_up = received.wait_for(|&n| n >= first);
        tokio::time::timeout(WAIT, caught_up)
            .await
            .unwrap_or_else(|_| panic!("the healthy reader did not receive the events before e{first} within {WAIT:?}"))
            .expect("the reader task is running");
        let batch: Vec<Value> =
            (first..first + FLOOD_BATCH).map(|i| json!({"name": format!("e{i}"), "channel": channel, "data": data})).collect();
        api.post("/batch_events", &json!({ "batch": batch })).await.expect(200);
    }
    tokio::time::timeout(WAIT * 6, collector).await.expect("the healthy reader got every event in time").expect("reader task")
}

/// What became of the slow reader: how many events it had been sent before the close frame,
/// or why it never got one.
async fn watch_slow_reader(api: Api, mut slow: RawSocket, give_up: Instant) -> Result<usize, String> {
    // It reads nothing until the server has let go of it (it left the channel, while the
    // healthy reader stays subscribed). Nothing is sent to observe this, so poll the API.
    loop {
        let info = api.get("/channels/firehose", &[("info", "subscription_count")]).await.expect(200);
        if info["subscription_count"] == 1 {
            break;
        }
        if Instant::now() > give_up {
            return Err(format!("the server never dropped the reader that stopped reading: {info}"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Now it reads at once: what was already buffered for it, then the close frame.
    let mut received = 0;
    loop {
        match slow.next_frame_until(Instant::now() + WAIT).await {
            Some(RawFrame::Text(_)) => received += 1,
            Some(RawFrame::Close { code: Some(4100), .. }) => return Ok(received),
            Some(RawFrame::Close { code, reason }) => return Err(format!("closed with {code:?} ({reason}), expected 4100")),
            Some(RawFrame::Ping(_) | RawFrame::Pong(_)) => {}
            Some(other) => return Err(format!("unexpected frame {other:?}")),
            None => return Err(format!("after {received} events neither an event nor a close frame within {WAIT:?}")),
        }
    }
}

#[tokio::test]
async fn slow_consumer_is_closed_with_4100_and_others_get_every_event() {
    let server = TestServer::start(SMALL_QUEUE);
    let api = Api::new(&server);
    let mut healthy = WsClient::connect_app(server.addr, "test-key").await;
    healthy.subscribe("firehose").await;
    let slow = stalled_reader(&server, "firehose").await;
    let flood_started = Instant::now();
    // Panics inside the watcher (e.g. EOF instead of a close frame) fail the test as well.
    let watcher = tokio::spawn(watch_slow_reader(api.clone(), slow, flood_started + WAIT * 3));

    let (mut healthy, events) = flood(&api, "firehose", healthy).await;
    for (i, frame) in events.iter().enumerate() {
        assert_eq!(frame["event"], format!("e{i}"), "the healthy reader lost or reordered events");
        assert_eq!(frame["channel"], "firehose");
    }

    let outcome = tokio::time::timeout(WAIT * 4, watcher).await.expect("the watcher finished").expect("watcher task");
    match outcome {
        Ok(received) => assert!(received < FLOOD_EVENTS, "the slow reader got all {received} events before its close"),
        Err(why) => panic!("slow consumer was not closed with 4100: {why}"),
    }
    // The healthy reader is still subscribed and served.
    api.trigger_ok(&["firehose"], "after", "{}").await;
    assert_eq!(healthy.recv_json().await["event"], "after");
    // The loss is never silent: the disconnect and the frames that could not be queued are
    // counted (this binary's only app "1001" with a slow reader is this test's).
    let exposition = herald::metrics::metrics().encode();
    let counter = |name: &str| -> f64 {
        exposition
            .lines()
            .find(|l| l.starts_with(name) && l.contains("app=\"1001\""))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(counter("herald_slow_consumer_disconnects_total") >= 1.0, "{exposition}");
    assert!(counter("herald_deliveries_dropped_total") >= 1.0, "{exposition}");
}

#[tokio::test]
async fn reader_that_never_reads_again_is_dropped() {
    let server = TestServer::start(SMALL_QUEUE);
    let api = Api::new(&server);
    let mut healthy = WsClient::connect_app(server.addr, "test-key").await;
    healthy.subscribe("firehose").await;
    let _stalled = stalled_reader(&server, "firehose").await;
    let (mut healthy, _) = flood(&api, "firehose", healthy).await;

    // The stalled reader never reads another byte; the server must still let go of it (and
    // of the frames it holds for it) in bounded time. Nothing is sent to observe, so poll.
    let deadline = Instant::now() + WAIT;
    loop {
        let info = api.get("/channels/firehose", &[("info", "subscription_count")]).await.expect(200);
        if info["subscription_count"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "a reader that stopped reading was still subscribed {WAIT:?} after the flood: {info}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.trigger_ok(&["firehose"], "after", "{}").await;
    assert_eq!(healthy.recv_json().await["event"], "after", "the remaining subscriber is the healthy reader");
}

#[tokio::test]
async fn connection_quota_refuses_with_4004() {
    let server = TestServer::start("[[apps]]\nid = \"1001\"\nkey = \"test-key\"\nsecret = \"test-secret\"\nmax_connections = 2\n");
    let _one = WsClient::connect_app(server.addr, "test-key").await;
    let _two = WsClient::connect_app(server.addr, "test-key").await;
    let mut three = WsClient::connect(server.addr, "test-key", "protocol=7").await;
    let error = three.expect_error().await;
    assert_eq!(error["code"], 4004, "{error}");
    three.expect_close(4004).await;
    // A freed slot can be used again: the server answered the close, so it has let go.
    _one.close().await;
    let mut four = WsClient::connect(server.addr, "test-key", "protocol=7").await;
    four.expect_event("pusher:connection_established").await;
}

#[tokio::test]
async fn oversized_websocket_message_is_closed_with_1009() {
    let server = TestServer::start("max_message_bytes = 1024\n[[apps]]\nid = \"1001\"\nkey = \"test-key\"\nsecret = \"test-secret\"\n");
    let mut client = WsClient::connect_app(server.addr, "test-key").await;
    client.ping_pong().await;
    let big = json!({"event": "pusher:subscribe", "data": {"channel": "x".repeat(2000)}}).to_string();
    client.send_text(&big).await;
    // RFC 6455 1009 "message too big"; a pusher:error may announce it first.
    loop {
        match client.next_message().await {
            tokio_tungstenite::tungstenite::Message::Text(text) => {
                assert!(text.contains("pusher:error"), "unexpected frame before the close: {text}");
            }
            tokio_tungstenite::tungstenite::Message::Close(frame) => {
                let code = frame.map(|f| u16::from(f.code));
                assert_eq!(code, Some(1009), "closed with {code:?}");
                break;
            }
            other => panic!("unexpected frame {other:?}"),
        }
    }
}

#[tokio::test]
async fn http_request_body_over_the_limit_is_413() {
    let server = TestServer::start("max_request_bytes = 20000\n[[apps]]\nid = \"1001\"\nkey = \"test-key\"\nsecret = \"test-secret\"\n");
    let api = Api::new(&server);
    let batch: Vec<Value> = (0..5).map(|i| json!({"name": format!("e{i}"), "channel": "news", "data": "x".repeat(5000)})).collect();
    api.post("/batch_events", &json!({ "batch": batch })).await.expect_error(413);
    api.post("/batch_events", &json!({ "batch": &batch[..2] })).await.expect(200);
}
