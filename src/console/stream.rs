//! `GET /console/api/apps/{id}/stream`: the app's [`TapEvent`]s as Server-Sent Events.
//!
//! Frames: `event: ready` once, then one unnamed `data: <TapEvent JSON>` per event, `event:
//! lagged` with `{"missed": n}` when this watcher fell behind the tap's ring, and a `:` comment
//! every [`KEEPALIVE_TICKS`] seconds so proxies keep the response open and a closed page is
//! noticed. The stream ends when the server begins shutting down, so it never holds up the
//! graceful drain.

use std::convert::Infallible;
use std::time::Duration;

use actix_web::http::header;
use actix_web::web::{self, Bytes};
use actix_web::HttpResponse;
use tokio::sync::broadcast::{self, error::RecvError};

use super::api::find_app;
use super::auth::ConsoleAuth;
use crate::http::ApiError;
use crate::state::State;
use crate::tap::TapEvent;

/// How often a watcher checks for shutdown.
const TICK: Duration = Duration::from_secs(1);
/// Ticks between keep-alive comments.
const KEEPALIVE_TICKS: u32 = 15;

pub async fn stream(_: ConsoleAuth, state: web::Data<State>, app_id: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let app = find_app(&state, &app_id)?.id().to_string();
    let watcher = Watcher {
        events: state.tap.subscribe(),
        state: state.get_ref().clone(),
        tick: tokio::time::interval_at(tokio::time::Instant::now() + TICK, TICK),
        quiet_ticks: 0,
        greeting: Some(sse("ready", &serde_json::json!({ "app": app }).to_string())),
        app,
    };
    let body = futures_util::stream::unfold(watcher, |mut w| async move { w.next().await.map(|frame| (Ok::<_, Infallible>(frame), w)) });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // nginx buffers responses unless told not to.
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// One console's subscription to the tap, filtered to one app.
struct Watcher {
    app: String,
    events: broadcast::Receiver<TapEvent>,
    state: State,
    tick: tokio::time::Interval,
    quiet_ticks: u32,
    greeting: Option<Bytes>,
}

impl Watcher {
    /// The next frame to send; `None` ends the response.
    async fn next(&mut self) -> Option<Bytes> {
        if let Some(greeting) = self.greeting.take() {
            return Some(greeting);
        }
        loop {
            tokio::select! {
                received = self.events.recv() => match received {
                    Ok(event) if event.app == self.app => {
                        self.quiet_ticks = 0;
                        let json = serde_json::to_string(&event).expect("a TapEvent serializes");
                        return Some(sse("", &json));
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(missed)) => return Some(sse("lagged", &format!("{{\"missed\":{missed}}}"))),
                    Err(RecvError::Closed) => return None,
                },
                _ = self.tick.tick() => {
                    if self.state.is_shutting_down() {
                        return None;
                    }
                    self.quiet_ticks += 1;
                    if self.quiet_ticks >= KEEPALIVE_TICKS {
                        self.quiet_ticks = 0;
                        return Some(Bytes::from_static(b": keepalive\n\n"));
                    }
                }
            }
        }
    }
}

/// One SSE frame. `data` is single-line JSON, so it needs no splitting.
fn sse(event: &str, data: &str) -> Bytes {
    let frame = if event.is_empty() { format!("data: {data}\n\n") } else { format!("event: {event}\ndata: {data}\n\n") };
    Bytes::from(frame)
}
