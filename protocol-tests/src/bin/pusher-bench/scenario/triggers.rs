//! `triggers`: signed HTTP API triggers per second. K keep-alive connections each send
//! `POST /apps/{id}/events` back to back (one request in flight per connection) to a channel
//! with N subscribers (0 by default, so the server's HTTP path alone is measured).
//!
//! Every request is signed as the server libraries sign it (auth_key, auth_timestamp,
//! auth_version=1.0, body_md5, auth_signature) with herald's own `signed_query`, and carries
//! a stamped `data` so subscribers, if any, record deliveries as in `fanout`.

use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use herald::protocol::api_signature::signed_query;

use super::fanout::subscribers;
use super::{measure, Ctx, MEASURED, WARMUP};
use crate::cli::{Target, TriggersArgs};
use crate::http1::{self, Connection};
use crate::payload::Stamp;
use crate::publish::EVENT_NAME;
use crate::report::Report;
use crate::stats::{latency_histogram, percentiles_ms, Recorder};
use crate::sys::{now_ns, unix_secs};

/// The phase the senders are in, or [`STOP`].
const STOP: u32 = u32::MAX;

pub async fn run(ctx: &Ctx, args: &TriggersArgs) -> Result<Report, String> {
    if args.connections == 0 {
        return Err("triggers needs at least 1 connection".into());
    }
    let (addr, host) = http1::resolve(&ctx.target.http)?;
    let fleet = match args.subscribers {
        0 => None,
        n => {
            let channel = args.channel.clone();
            Some(subscribers(ctx, n, move |_| channel.clone()).await?)
        }
    };

    // Open every connection before the first request, so connecting is in neither the warm-up
    // nor the window.
    let mut conns = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        conns.push(Connection::open(addr).await.map_err(|e| format!("connect {addr}: {e}"))?);
    }
    let shared = Arc::new(Shared { rec: ctx.rec.clone(), phase: AtomicU32::new(WARMUP), printed: AtomicBool::new(false) });
    let senders: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(i, conn)| {
            let sender = Sender::new(&ctx.target, &host, &args.channel, i as u32, ctx.run.payload, shared.clone());
            tokio::spawn(sender.run(conn, addr))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(ctx.run.warmup)).await;
    let duration = Duration::from_secs_f64(ctx.run.duration);
    let mut outcomes = Vec::with_capacity(senders.len());
    let mut elapsed = duration;
    let load = async {
        let started = Instant::now();
        shared.phase.store(MEASURED, Ordering::Release);
        tokio::time::sleep(duration).await;
        shared.phase.store(STOP, Ordering::Release);
        for s in senders {
            outcomes.push(s.await.map_err(|e| format!("sender task: {e}")));
        }
        // Each sender finishes the request it has in flight: the window ends with the last answer.
        elapsed = started.elapsed();
    };
    let report = ctx.report("triggers", args.connections);
    let mut report = measure(ctx, report, MEASURED, args.subscribers as u64, duration, load).await;
    drop(fleet);
    finish(&mut report, outcomes, elapsed, args.subscribers);
    Ok(report)
}

/// Turns the senders' outcomes into the request figures of the report.
fn finish(report: &mut Report, outcomes: Vec<Result<Outcome, String>>, elapsed: Duration, subscribers: usize) {
    let mut latency_us = latency_histogram();
    let (mut non_2xx, mut io_errors, mut first_error) = (0u64, 0u64, None::<String>);
    for outcome in outcomes {
        match outcome {
            Ok(o) => {
                let _ = latency_us.add(&o.latency_us);
                non_2xx += o.non_2xx;
                io_errors += o.io_errors;
                first_error = first_error.or(o.first_error);
            }
            Err(e) => first_error = first_error.or(Some(e)),
        }
    }
    let accepted = report.events;
    report.window_s = elapsed.as_secs_f64();
    report.requests_per_s = Some(accepted as f64 / report.window_s.max(1e-9));
    report.non_2xx = Some(non_2xx);
    // Request round trips replace the delivery latency `measure` filled in.
    let deliveries = (report.p50_ms, report.p99_ms);
    report.set_latency(percentiles_ms(&latency_us));
    if accepted > 0 {
        report.cpu_us_per_request = report.server_cpu_s.map(|cpu| cpu * 1e6 / accepted as f64);
        report.client_cpu_us_per_request = Some(report.client_cpu_pct / 100.0 * report.window_s * 1e6 / accepted as f64);
    }
    report.notes.push("p50..max are request round trips (write to complete response)".into());
    if subscribers > 0 {
        report.deliveries_per_s = report.deliveries as f64 / report.window_s.max(1e-9);
        if let (Some(p50), Some(p99)) = deliveries {
            report.notes.push(format!("delivery latency to the {subscribers} subscribers: p50 {p50} ms, p99 {p99} ms"));
        }
    }
    if non_2xx + io_errors > 0 {
        report.notes.push(format!("INVALID RUN: {non_2xx} non-2xx answers, {io_errors} connection errors"));
    }
    if let Some(e) = first_error {
        report.notes.push(format!("first error: {e}"));
    }
    if report.http_closes > 0 {
        report.notes.push(format!("the server answered {} requests with Connection: close (no keep-alive)", report.http_closes));
    }
}

/// What one sender hands back when it stops.
struct Outcome {
    /// Round trips of the measured phase, in microseconds.
    latency_us: hdrhistogram::Histogram<u64>,
    non_2xx: u64,
    io_errors: u64,
    first_error: Option<String>,
}

/// What every sender of a run shares.
struct Shared {
    rec: Arc<Recorder>,
    /// The phase requests are recorded under, or [`STOP`].
    phase: AtomicU32,
    /// Only the first failure of the run is printed as it happens (each sender keeps its own).
    printed: AtomicBool,
}

/// One keep-alive connection's request loop, with its buffers built once and reused.
struct Sender {
    key: String,
    secret: String,
    /// `/apps/{id}/events`: signed, and the request target before `?`.
    path: String,
    /// ` HTTP/1.1` and every header up to `Content-Length: `.
    head_tail: String,
    /// The body up to the `data` string.
    body_head: String,
    stream: u32,
    payload: usize,
    shared: Arc<Shared>,
    body: String,
    request: Vec<u8>,
}

impl Sender {
    fn new(target: &Target, host: &str, channel: &str, stream: u32, payload: usize, shared: Arc<Shared>) -> Sender {
        Sender {
            key: target.key.clone(),
            secret: target.secret.clone(),
            path: format!("/apps/{}/events", target.app_id),
            // The libraries' own headers; no Accept-Encoding, so the answer is never compressed.
            head_tail: format!(
                " HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nX-Pusher-Library: pusher-bench {}\r\nContent-Length: ",
                env!("CARGO_PKG_VERSION")
            ),
            body_head: format!(r#"{{"name":"{EVENT_NAME}","channels":["{channel}"],"data":""#),
            stream,
            payload,
            shared,
            body: String::with_capacity(payload + 128),
            request: Vec::with_capacity(payload + 512),
        }
    }

    /// The next request, signed at `sent_ns` for `phase`, into `self.request`.
    fn build(&mut self, phase: u32, seq: u64, sent_ns: u64) {
        self.body.clear();
        self.body.push_str(&self.body_head);
        self.body.push_str(&Stamp { phase, stream: self.stream, seq, sent_ns }.encode(self.payload));
        self.body.push_str("\"}");
        let query = signed_query(&self.key, &self.secret, "POST", &self.path, self.body.as_bytes(), unix_secs(), &[]);
        self.request.clear();
        let _ = write!(self.request, "POST {}?{query}{}{}\r\n\r\n", self.path, self.head_tail, self.body.len());
        self.request.extend_from_slice(self.body.as_bytes());
    }

    /// Sends until the phase is [`STOP`]. A connection the server closes is reopened once
    /// per failure; one that cannot be reopened ends the sender.
    async fn run(mut self, mut conn: Connection, addr: SocketAddr) -> Outcome {
        let mut out = Outcome { latency_us: latency_histogram(), non_2xx: 0, io_errors: 0, first_error: None };
        let mut seq = 0u64;
        loop {
            let phase = self.shared.phase.load(Ordering::Acquire);
            if phase == STOP {
                return out;
            }
            self.build(phase, seq, now_ns());
            seq += 1;
            let started = now_ns();
            let result = conn.round_trip(&self.request).await;
            let took_us = (now_ns().saturating_sub(started) / 1000).max(1);
            let reopen = match result {
                Ok(answer) => {
                    let ok = (200..300).contains(&answer.status);
                    self.shared.rec.published(phase, 1, ok, answer.close);
                    if !ok {
                        out.non_2xx += u64::from(phase == MEASURED);
                        if out.first_error.is_none() {
                            let body = String::from_utf8_lossy(conn.body()).chars().take(300).collect::<String>();
                            let e = format!("HTTP {}: {body}", answer.status);
                            self.print_once(&e);
                            out.first_error = Some(e);
                        }
                    } else if phase == MEASURED {
                        out.latency_us.saturating_record(took_us);
                    }
                    answer.close
                }
                Err(e) => {
                    self.shared.rec.published(phase, 1, false, false);
                    out.io_errors += u64::from(phase == MEASURED);
                    if out.first_error.is_none() {
                        self.print_once(&e.to_string());
                        out.first_error = Some(e.to_string());
                    }
                    true
                }
            };
            if reopen {
                match Connection::open(addr).await {
                    Ok(c) => conn = c,
                    Err(e) => {
                        out.io_errors += 1;
                        out.first_error.get_or_insert_with(|| format!("reconnect {addr}: {e}"));
                        return out;
                    }
                }
            }
        }
    }

    fn print_once(&self, error: &str) {
        if !self.shared.printed.swap(true, Ordering::Relaxed) {
            eprintln!("  trigger failed: {error}");
        }
    }
}
