//! Publishes an event to a channel every second through the signed HTTP API.
//!
//! Run herald (`cargo run --release`), then:
//!   cargo run --example publisher -- [channel] [event]
//! Credentials default to the dev app; override with HERALD_URL, HERALD_APP_ID,
//! HERALD_APP_KEY and HERALD_APP_SECRET.

use herald::rest_client::RestClient;
use std::time::Duration;

#[tokio::main]
async fn main() {
    let env = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_string());
    let client = RestClient::new(
        &env("HERALD_URL", "http://127.0.0.1:6001"),
        &env("HERALD_APP_ID", "1"),
        &env("HERALD_APP_KEY", "herald-dev-key"),
        &env("HERALD_APP_SECRET", "herald-dev-secret"),
    );
    let mut args = std::env::args().skip(1);
    let channel = args.next().unwrap_or_else(|| "my-channel".into());
    let event = args.next().unwrap_or_else(|| "my-event".into());
    for n in 1.. {
        let data = serde_json::json!({ "message": format!("hello #{n}") }).to_string();
        match client.trigger(&[&channel], &event, &data, None).await {
            Ok(_) => println!("published {event} on {channel}: {data}"),
            Err(e) => eprintln!("publish failed: {e}"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
