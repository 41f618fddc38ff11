//! Publishing over the signed HTTP API, open loop at a fixed rate, on keep-alive connections.
//!
//! Requests are sent on schedule whether or not earlier ones have been answered (up to
//! [`MAX_IN_FLIGHT`]), so a slow server shows up as latency rather than as a lower rate the
//! tool silently adapted to. Signing uses herald's own `api_signature::signed_query`.

use herald::protocol::api_signature::signed_query;
use reqwest::header::{CONNECTION, CONTENT_TYPE};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::cli::Target;
use crate::payload::Stamp;
use crate::stats::Recorder;
use crate::sys::{now_ns, unix_secs};

/// Requests awaiting an answer at once; past this the schedule waits.
const MAX_IN_FLIGHT: usize = 64;
/// The name of every published event.
pub const EVENT_NAME: &str = "pb";

/// Where the events of a run go.
pub enum Shape {
    /// Every event to one channel, with `POST /events`.
    OneChannel(String),
    /// Event k to channel `{prefix}{k mod channels}`, `batch` events per `POST /batch_events`.
    RoundRobin { prefix: String, channels: usize, batch: usize },
}

impl Shape {
    fn events_per_request(&self) -> usize {
        match self {
            Shape::OneChannel(_) => 1,
            Shape::RoundRobin { batch, .. } => (*batch).max(1),
        }
    }
}

pub struct Publisher {
    client: reqwest::Client,
    target: Arc<Target>,
    rec: Arc<Recorder>,
    in_flight: Arc<Semaphore>,
    payload: usize,
    /// Next sequence number per stream (channel), kept across phases.
    seqs: Vec<u64>,
    /// The next channel of a round robin.
    cursor: usize,
    /// Only the first failure is printed.
    reported_error: Arc<AtomicBool>,
}

impl Publisher {
    pub fn new(target: Arc<Target>, rec: Arc<Recorder>, payload: usize) -> Result<Publisher, String> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .pool_max_idle_per_host(MAX_IN_FLIGHT)
            .pool_idle_timeout(Duration::from_secs(60))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Publisher {
            client,
            target,
            rec,
            in_flight: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
            payload,
            seqs: Vec::new(),
            cursor: 0,
            reported_error: Arc::new(AtomicBool::new(false)),
        })
    }

    fn next_seq(&mut self, stream: usize) -> u64 {
        if stream >= self.seqs.len() {
            self.seqs.resize(stream + 1, 0);
        }
        let seq = self.seqs[stream];
        self.seqs[stream] += 1;
        seq
    }

    /// The path and JSON body of the next request.
    fn next_request(&mut self, shape: &Shape, phase: u32) -> (String, String) {
        let sent_ns = now_ns();
        match shape {
            Shape::OneChannel(channel) => {
                let data = Stamp { phase, stream: 0, seq: self.next_seq(0), sent_ns }.encode(self.payload);
                let body = format!(r#"{{"name":"{EVENT_NAME}","channel":"{channel}","data":"{data}"}}"#);
                (format!("/apps/{}/events", self.target.app_id), body)
            }
            Shape::RoundRobin { prefix, channels, batch } => {
                let mut body = String::from(r#"{"batch":["#);
                for i in 0..(*batch).max(1) {
                    let c = self.cursor % channels;
                    self.cursor = (self.cursor + 1) % channels;
                    let data = Stamp { phase, stream: c as u32, seq: self.next_seq(c), sent_ns }.encode(self.payload);
                    if i > 0 {
                        body.push(',');
                    }
                    body.push_str(&format!(r#"{{"name":"{EVENT_NAME}","channel":"{prefix}{c}","data":"{data}"}}"#));
                }
                body.push_str("]}");
                (format!("/apps/{}/batch_events", self.target.app_id), body)
            }
        }
    }

    /// Publishes `events_per_s` events per second for `duration`, then waits (bounded) for
    /// every answer. Outcomes are recorded under `phase`.
    pub async fn run(&mut self, shape: &Shape, phase: u32, events_per_s: f64, duration: Duration) {
        let per_request = shape.events_per_request();
        let period = per_request as f64 / events_per_s.max(0.001);
        let start = Instant::now();
        for k in 0u64.. {
            let offset = Duration::from_secs_f64(k as f64 * period);
            if offset >= duration {
                break;
            }
            tokio::time::sleep_until(start + offset).await;
            let permit = self.in_flight.clone().acquire_owned().await.expect("never closed");
            let (path, body) = self.next_request(shape, phase);
            let query = signed_query(&self.target.key, &self.target.secret, "POST", &path, body.as_bytes(), unix_secs(), &[]);
            let request = self
                .client
                .post(format!("{}{path}?{query}", self.target.http))
                .header(CONTENT_TYPE, "application/json")
                .body(body);
            let (rec, reported) = (self.rec.clone(), self.reported_error.clone());
            tokio::spawn(async move {
                let (ok, close) = match request.send().await {
                    Ok(response) => {
                        let close = response
                            .headers()
                            .get(CONNECTION)
                            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"close"));
                        let status = response.status();
                        let text = response.text().await.unwrap_or_default();
                        if !status.is_success() && !reported.swap(true, Ordering::Relaxed) {
                            eprintln!("  publish failed: HTTP {status}: {}", text.chars().take(300).collect::<String>());
                        }
                        (status.is_success(), close)
                    }
                    Err(e) => {
                        if !reported.swap(true, Ordering::Relaxed) {
                            eprintln!("  publish failed: {e}");
                        }
                        (false, false)
                    }
                };
                rec.published(phase, per_request as u64, ok, close);
                drop(permit);
            });
        }
        let all = MAX_IN_FLIGHT as u32;
        if let Ok(Ok(permits)) = tokio::time::timeout(Duration::from_secs(30), self.in_flight.acquire_many(all)).await {
            drop(permits);
        }
    }
}
