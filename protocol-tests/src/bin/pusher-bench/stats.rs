//! Counting what was published and received, per phase, and latency histograms.
//!
//! One [`Recorder`] is shared by every receiving connection and publishing task. The load
//! generator runs on a single-threaded runtime, so its mutex is never contended: locking it
//! costs a few nanoseconds per delivery.

use hdrhistogram::Histogram;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::payload::Stamp;
use crate::sys::now_ns;

/// Largest latency the histograms hold, in microseconds (anything slower is clamped).
const MAX_LATENCY_US: u64 = 120_000_000;

/// What happened to the events of one phase.
#[derive(Clone)]
pub struct PhaseStats {
    /// Events the server accepted (HTTP 200, or client events sent).
    pub published: u64,
    pub publish_errors: u64,
    /// API responses that asked to close the connection (no keep-alive).
    pub http_closes: u64,
    pub received: u64,
    /// Deliveries that arrived after a later sequence number of the same stream.
    pub out_of_order: u64,
    /// Publish-to-receive latency in microseconds.
    pub latency_us: Histogram<u64>,
}

impl PhaseStats {
    fn new() -> Self {
        PhaseStats {
            published: 0,
            publish_errors: 0,
            http_closes: 0,
            received: 0,
            out_of_order: 0,
            latency_us: latency_histogram(),
        }
    }
}

pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

#[derive(Default)]
struct Inner {
    phases: HashMap<u32, PhaseStats>,
    disconnects: u64,
    close_codes: BTreeMap<u16, u64>,
    server_errors: u64,
    last_server_error: Option<String>,
}

#[derive(Default)]
pub struct Recorder {
    inner: Mutex<Inner>,
}

impl Recorder {
    fn with<R>(&self, f: impl FnOnce(&mut Inner) -> R) -> R {
        f(&mut self.inner.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// A delivery of `stamp`, received now.
    pub fn delivery(&self, stamp: &Stamp, in_order: bool) {
        let latency_us = now_ns().saturating_sub(stamp.sent_ns) / 1000;
        self.with(|i| {
            let p = i.phases.entry(stamp.phase).or_insert_with(PhaseStats::new);
            p.received += 1;
            if !in_order {
                p.out_of_order += 1;
            }
            p.latency_us.saturating_record(latency_us.max(1));
        });
    }

    /// `events` were published in `phase` (accepted when `ok`).
    pub fn published(&self, phase: u32, events: u64, ok: bool, http_close: bool) {
        self.with(|i| {
            let p = i.phases.entry(phase).or_insert_with(PhaseStats::new);
            if ok {
                p.published += events;
            } else {
                p.publish_errors += events;
            }
            if http_close {
                p.http_closes += 1;
            }
        });
    }

    /// A subscriber's socket ended while the scenario was still running.
    pub fn disconnect(&self, code: Option<u16>) {
        self.with(|i| {
            i.disconnects += 1;
            *i.close_codes.entry(code.unwrap_or(0)).or_default() += 1;
        });
    }

    /// A `pusher:error` the server sent to a subscriber.
    pub fn server_error(&self, frame: &str) {
        self.with(|i| {
            i.server_errors += 1;
            i.last_server_error = Some(frame.chars().take(300).collect());
        });
    }

    pub fn phase(&self, phase: u32) -> PhaseStats {
        self.with(|i| i.phases.get(&phase).cloned().unwrap_or_else(PhaseStats::new))
    }

    /// (received, published) for a phase, cheaply, to know when draining is done.
    pub fn progress(&self, phase: u32) -> (u64, u64) {
        self.with(|i| i.phases.get(&phase).map(|p| (p.received, p.published)).unwrap_or((0, 0)))
    }

    pub fn disconnects(&self) -> (u64, BTreeMap<u16, u64>) {
        self.with(|i| (i.disconnects, i.close_codes.clone()))
    }

    pub fn server_errors(&self) -> (u64, Option<String>) {
        self.with(|i| (i.server_errors, i.last_server_error.clone()))
    }
}

/// Percentiles of a microsecond histogram, in milliseconds: p50, p90, p99, p99.9, max.
pub fn percentiles_ms(h: &Histogram<u64>) -> Option<[f64; 5]> {
    if h.is_empty() {
        return None;
    }
    let q = |x: f64| h.value_at_quantile(x) as f64 / 1000.0;
    Some([q(0.50), q(0.90), q(0.99), q(0.999), h.max() as f64 / 1000.0])
}
