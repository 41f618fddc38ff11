//! `connect`: open N connections as fast as the server accepts them, then hold them idle and
//! read the server's memory.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

use super::{kb_per_connection, Ctx};
use crate::cli::ConnectArgs;
use crate::report::Report;
use crate::stats::{latency_histogram, percentiles_ms};
use crate::sys::ProcSample;
use crate::ws::{self, Fleet, Ws};

/// What the connection tasks hand back: the idle sockets, their handshake times, and when
/// the last one finished.
struct Opened {
    sockets: Vec<Ws>,
    latency_us: hdrhistogram::Histogram<u64>,
    last: Option<Instant>,
}

pub async fn run(ctx: &Ctx, args: &ConnectArgs) -> Result<Report, String> {
    let n = args.connections;
    let (server0, client0) = (ctx.server_sample(), ProcSample::read(None).ok());
    let opened = Arc::new(Mutex::new(Opened { sockets: Vec::with_capacity(n), latency_us: latency_histogram(), last: None }));
    let started = Instant::now();
    let fleet = {
        let (target, opened) = (ctx.target.clone(), opened.clone());
        Fleet::spawn(n, ctx.run.concurrency, move |i, slot| {
            let (target, opened) = (target.clone(), opened.clone());
            async move {
                if let Some(o) = slot.setup(ws::open(&target, i)).await {
                    let mut held = opened.lock().unwrap_or_else(|p| p.into_inner());
                    held.latency_us.saturating_record((o.established_after.as_micros() as u64).max(1));
                    held.last = Some(Instant::now());
                    held.sockets.push(o.ws);
                }
            }
        })
    };
    fleet.wait_ready(ctx.setup_timeout()).await?;
    let (server1, client1) = (ctx.server_sample(), ProcSample::read(None).ok());
    tokio::time::sleep(Duration::from_secs_f64(args.settle)).await;
    let idle = ctx.server_sample();

    let held = opened.lock().unwrap_or_else(|p| p.into_inner());
    let elapsed = held.last.unwrap_or_else(Instant::now).duration_since(started).as_secs_f64().max(1e-9);
    let mut report = ctx.report("connect", n);
    report.window_s = elapsed;
    report.connects_per_s = Some(n as f64 / elapsed);
    if let Some([p50, _, p99, _, _]) = percentiles_ms(&held.latency_us) {
        report.connect_p50_ms = Some(p50);
        report.connect_p99_ms = Some(p99);
    }
    if let (Some(s0), Some(s1)) = (server0, server1) {
        report.server_cpu_s = Some(s1.cpu_since(&s0));
        report.server_cpu_pct = Some(s1.cpu_pct_since(&s0));
        report.cpu_us_per_connect = Some(s1.cpu_since(&s0) * 1e6 / n as f64);
    }
    report.server_rss_kb = idle.map(|s| s.rss_kb);
    report.kb_per_connection = kb_per_connection(server0, idle, n);
    if let (Some(c0), Some(c1)) = (client0, client1) {
        report.client_cpu_pct = c1.cpu_pct_since(&c0);
    }
    report.disconnects = ctx.rec.disconnects().0;
    drop(held);
    drop(fleet);
    Ok(report)
}
