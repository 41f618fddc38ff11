//! Subscribes to a public channel over a raw WebSocket and prints every frame.
//!
//! Run herald (`cargo run --release`), then:
//!   cargo run --example subscriber -- [channel]
//! HERALD_WS and HERALD_APP_KEY override the dev defaults.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

#[tokio::main]
async fn main() {
    let ws = std::env::var("HERALD_WS").unwrap_or_else(|_| "ws://127.0.0.1:6001".into());
    let key = std::env::var("HERALD_APP_KEY").unwrap_or_else(|_| "herald-dev-key".into());
    let channel = std::env::args().nth(1).unwrap_or_else(|| "my-channel".into());
    let url = format!("{ws}/app/{key}?protocol=7&client=herald-example&version=0.1");
    let (mut socket, _) = tokio_tungstenite::connect_async(&url).await.expect("connect to herald");
    let subscribe = serde_json::json!({ "event": "pusher:subscribe", "data": { "channel": channel } });
    socket.send(Message::Text(subscribe.to_string())).await.expect("send subscribe");
    println!("subscribed to {channel}; waiting for events (Ctrl-C to stop)");
    while let Some(Ok(message)) = socket.next().await {
        if let Message::Text(text) = message {
            println!("{text}");
        }
    }
}
