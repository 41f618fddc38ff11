//! Sending one signed webhook request to one target, retrying with exponential backoff.

use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use crate::config::WebhookConfig;
use crate::protocol::token;

/// A webhook body ready to send: the exact bytes are signed, so they are built once.
pub struct Delivery {
    pub app_id: String,
    pub key: String,
    pub secret: String,
    pub target: Arc<WebhookConfig>,
    pub body: Vec<u8>,
    pub event_count: usize,
}

/// Posts `delivery` until a 2xx answer or until `horizon` has passed since the first try.
pub async fn deliver(client: reqwest::Client, delivery: Delivery, timeout: Duration, horizon: Duration, tap: crate::tap::Tap) {
    let signature = token::sign(&delivery.secret, &delivery.body);
    let started = Instant::now();
    let mut backoff = Duration::from_millis(500);
    let mut attempt = 1u32;
    loop {
        let mut request = client
            .post(&delivery.target.url)
            .timeout(timeout)
            .body(delivery.body.clone());
        for (name, value) in &delivery.target.headers {
            request = request.header(name, value);
        }
        // Set last so configured headers can never replace them.
        request = request
            .header("Content-Type", "application/json")
            .header("X-Pusher-Key", &delivery.key)
            .header("X-Pusher-Signature", &signature);
        let outcome = match request.send().await {
            Ok(response) if response.status().is_success() => {
                crate::metrics::webhook(&delivery.app_id, "sent");
                tap.emit(|| crate::tap::TapEvent::new(&delivery.app_id, "webhook_sent").detail(format!("{} event(s) to {}", delivery.event_count, delivery.target.url)));
                return;
            }
            Ok(response) => format!("HTTP {}", response.status().as_u16()),
            Err(e) if e.is_timeout() => "timed out".to_string(),
            Err(e) => format!("request failed: {e}"),
        };
        tap.emit(|| crate::tap::TapEvent::new(&delivery.app_id, "webhook_failed").detail(format!("{} (attempt {attempt}) to {}", outcome, delivery.target.url)));
        crate::metrics::webhook(&delivery.app_id, "failed");
        if started.elapsed() + backoff > horizon {
            crate::metrics::webhook(&delivery.app_id, "dropped");
            tracing::warn!(
                app = %delivery.app_id, url = %delivery.target.url, events = delivery.event_count, attempt, last_error = %outcome,
                "webhook dropped: no 2xx answer within the retry horizon"
            );
            return;
        }
        tracing::debug!(app = %delivery.app_id, url = %delivery.target.url, attempt, error = %outcome, retry_in_ms = backoff.as_millis() as u64, "webhook failed; retrying");
        tokio::time::sleep(backoff).await;
        crate::metrics::webhook(&delivery.app_id, "retried");
        backoff = (backoff * 2).min(Duration::from_secs(30));
        attempt += 1;
    }
}
