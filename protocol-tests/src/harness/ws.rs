//! A WebSocket client for the Pusher protocol whose every wait fails the test on timeout.

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use super::auth;
use super::server::TestApp;

/// How long any single wait for a frame may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(5);

pub struct WsClient {
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The upgrade response, for header checks.
    pub response: Response,
    /// Set by [`WsClient::connect_app`] from `pusher:connection_established`.
    socket_id: Option<String>,
}

impl WsClient {
    /// Opens `ws://{addr}/app/{key}?{query}` and returns without reading anything.
    pub async fn connect(addr: SocketAddr, key: &str, query: &str) -> WsClient {
        WsClient::connect_path(addr, &format!("/app/{key}?{query}")).await
    }

    /// Opens `ws://{addr}{path_and_query}` and returns without reading anything.
    pub async fn connect_path(addr: SocketAddr, path_and_query: &str) -> WsClient {
        let request = format!("ws://{addr}{path_and_query}").into_client_request().expect("a valid ws:// URL");
        WsClient::connect_request(request).await
    }

    /// Opens a connection from a prepared request (e.g. one offering a subprotocol).
    pub async fn connect_request(request: Request) -> WsClient {
        let uri = request.uri().clone();
        let (stream, response) = match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await {
            Ok(Ok(connected)) => connected,
            Ok(Err(e)) => panic!("WebSocket upgrade to {uri} failed: {e}"),
            Err(_) => panic!("WebSocket upgrade to {uri} did not complete within {WAIT:?}"),
        };
        WsClient { stream, response, socket_id: None }
    }

    /// Connects as pusher-js does (protocol 7) and reads `pusher:connection_established`.
    pub async fn connect_app(addr: SocketAddr, key: &str) -> WsClient {
        let mut client = WsClient::connect(addr, key, "protocol=7&client=js&version=8.6.0&flash=false").await;
        let established = client.expect_event("pusher:connection_established").await;
        let data = data_object(&established);
        let socket_id = data["socket_id"].as_str().expect("socket_id is a string").to_string();
        client.socket_id = Some(socket_id);
        client
    }

    /// The socket id from the handshake. Panics for a client opened without [`Self::connect_app`].
    pub fn socket_id(&self) -> &str {
        self.socket_id.as_deref().expect("socket id is known only after connect_app")
    }

    /// The next frame of any kind (including WebSocket pings and the close frame).
    pub async fn next_message(&mut self) -> Message {
        match tokio::time::timeout(WAIT, self.stream.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(e))) => panic!("WebSocket error while waiting for a frame: {e}"),
            Ok(None) => panic!("connection ended while waiting for a frame"),
            Err(_) => panic!("no frame within {WAIT:?}"),
        }
    }

    /// The next text frame. WebSocket pings and pongs are skipped (tungstenite answers pings);
    /// a close or binary frame fails the test.
    pub async fn recv_text(&mut self) -> String {
        loop {
            match self.next_message().await {
                Message::Text(text) => return text,
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// The next text frame, parsed as JSON.
    pub async fn recv_json(&mut self) -> Value {
        let text = self.recv_text().await;
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("server sent a frame that is not JSON ({e}): {text}"))
    }

    /// The next text frame, which must be the event `name`.
    pub async fn expect_event(&mut self, name: &str) -> Value {
        let frame = self.recv_json().await;
        assert_eq!(frame["event"], name, "expected event {name}, got {frame}");
        frame
    }

    /// Skips frames until the event `name` arrives (for streams with unrelated traffic).
    pub async fn wait_for_event(&mut self, name: &str) -> Value {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let frame = match tokio::time::timeout_at(deadline, self.recv_json()).await {
                Ok(frame) => frame,
                Err(_) => panic!("event {name} did not arrive within {WAIT:?}"),
            };
            if frame["event"] == name {
                return frame;
            }
        }
    }

    /// The next frame must be `pusher:error`; returns its `data` object.
    pub async fn expect_error(&mut self) -> Value {
        let frame = self.expect_event("pusher:error").await;
        assert_error_shape(&frame);
        frame["data"].clone()
    }

    /// The next frame (pings aside) must be a close frame with `code`. A `pusher:error` with
    /// the same code may come first: the spec recommends sending one before every close
    /// (pusher-protocol.md §1.6); anything else before the close fails the test.
    pub async fn expect_close(&mut self, code: u16) -> CloseFrame<'static> {
        let mut announced = false;
        loop {
            match self.next_message().await {
                Message::Close(Some(frame)) => {
                    assert_eq!(u16::from(frame.code), code, "closed with {} ({}), expected {code}", frame.code, frame.reason);
                    return frame;
                }
                Message::Close(None) => panic!("closed without a close code, expected {code}"),
                Message::Ping(_) | Message::Pong(_) => continue,
                Message::Text(text) if !announced => {
                    let frame: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    assert!(
                        frame["event"] == "pusher:error" && frame["data"]["code"] == code,
                        "expected close {code} (optionally announced by pusher:error {code}), got {text}"
                    );
                    assert_error_shape(&frame);
                    announced = true;
                }
                other => panic!("expected close {code}, got {other:?}"),
            }
        }
    }

    pub async fn send_text(&mut self, text: &str) {
        self.send(Message::Text(text.to_string())).await;
    }

    pub async fn send_json(&mut self, value: &Value) {
        self.send_text(&value.to_string()).await;
    }

    pub async fn send(&mut self, message: Message) {
        match tokio::time::timeout(WAIT, self.stream.send(message)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => panic!("could not send a frame: {e}"),
            Err(_) => panic!("sending a frame took longer than {WAIT:?}"),
        }
    }

    /// Sends `pusher:ping` and requires `pusher:pong` as the very next frame. Because a
    /// connection handles its frames in order, everything sent before has been processed.
    pub async fn ping_pong(&mut self) {
        self.send_json(&json!({"event": "pusher:ping", "data": {}})).await;
        let frame = self.recv_json().await;
        assert_eq!(frame, json!({"event": "pusher:pong", "data": "{}"}), "expected pong");
    }

    /// Sends `pusher:subscribe` with optional `auth` and `channel_data`.
    pub async fn send_subscribe(&mut self, channel: &str, auth: Option<&str>, channel_data: Option<&str>) {
        let mut data = json!({ "channel": channel });
        if let Some(auth) = auth {
            data["auth"] = json!(auth);
        }
        if let Some(channel_data) = channel_data {
            data["channel_data"] = json!(channel_data);
        }
        self.send_json(&json!({"event": "pusher:subscribe", "data": data})).await;
    }

    /// Subscribes to a public channel and requires the exact confirmation frame.
    pub async fn subscribe(&mut self, channel: &str) {
        self.send_subscribe(channel, None, None).await;
        self.expect_subscribed(channel).await;
    }

    /// Subscribes to a private or encrypted channel with a valid signature.
    pub async fn subscribe_private(&mut self, app: &TestApp, channel: &str) {
        let auth = auth::private_auth(app, self.socket_id(), channel);
        self.send_subscribe(channel, Some(&auth), None).await;
        self.expect_subscribed(channel).await;
    }

    /// Subscribes to a presence channel; returns the decoded `presence` object.
    pub async fn subscribe_presence(&mut self, app: &TestApp, channel: &str, channel_data: &Value) -> Value {
        let channel_data = channel_data.to_string();
        let auth = auth::presence_auth(app, self.socket_id(), channel, &channel_data);
        self.send_subscribe(channel, Some(&auth), Some(&channel_data)).await;
        let frame = self.expect_event("pusher_internal:subscription_succeeded").await;
        assert_eq!(frame["channel"], channel, "{frame}");
        let data = data_object(&frame);
        assert_keys(&data, &["presence"]);
        data["presence"].clone()
    }

    /// The next frame must be exactly the non-presence subscription confirmation.
    pub async fn expect_subscribed(&mut self, channel: &str) {
        let frame = self.recv_json().await;
        assert_eq!(
            frame,
            json!({"event": "pusher_internal:subscription_succeeded", "channel": channel, "data": "{}"}),
            "subscription to {channel} not confirmed with the exact frame"
        );
    }

    pub async fn unsubscribe(&mut self, channel: &str) {
        self.send_json(&json!({"event": "pusher:unsubscribe", "data": {"channel": channel}})).await;
    }

    /// Sends a close frame (code 1000) and waits for the server's answer.
    pub async fn close(mut self) {
        let _ = tokio::time::timeout(WAIT, self.stream.close(None)).await;
        let _ = tokio::time::timeout(WAIT, async { while let Some(Ok(_)) = self.stream.next().await {} }).await;
    }

    /// Drops the TCP connection without a close frame, as a crashed client would.
    pub fn abort(self) {
        drop(self.stream);
    }
}

/// Requires `frame` to be a `pusher:error` whose `data` is an object `{code, message}`.
pub fn assert_error_shape(frame: &Value) {
    let data = &frame["data"];
    assert!(data.is_object(), "pusher:error data must be an object, got {frame}");
    assert!(data["message"].is_string(), "pusher:error needs a string message: {frame}");
    assert!(data.get("code").is_some(), "pusher:error needs a code (null or integer): {frame}");
    assert!(data["code"].is_null() || data["code"].is_u64(), "pusher:error code must be null or an integer: {frame}");
}

/// Decodes an event's `data`, which must be a JSON string holding a JSON object.
pub fn data_object(frame: &Value) -> Value {
    let text = frame["data"].as_str().unwrap_or_else(|| panic!("data must be a JSON string: {frame}"));
    let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("data string is not JSON ({e}): {frame}"));
    assert!(value.is_object(), "data must encode an object: {frame}");
    value
}

/// Requires `value` to be an object with exactly the members `keys` (in any order).
pub fn assert_keys(value: &Value, keys: &[&str]) {
    let object = value.as_object().unwrap_or_else(|| panic!("expected an object, got {value}"));
    let mut found: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut expected = keys.to_vec();
    found.sort_unstable();
    expected.sort_unstable();
    assert_eq!(found, expected, "members of {value}");
}
