//! The scenarios, and the measured window they share: sample the server and the tool, run
//! the load, wait for stragglers, sample again, and turn the counts into a [`Report`].

mod client_events;
mod connect;
mod fanout;
mod saturate;
mod triggers;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use crate::cli::{RunArgs, Scenario, Target};
use crate::report::Report;
use crate::stats::{percentiles_ms, Recorder};
use crate::sys::ProcSample;

/// Everything a scenario needs.
pub struct Ctx {
    pub target: Arc<Target>,
    pub run: RunArgs,
    pub rec: Arc<Recorder>,
}

/// Phase numbers in payloads: warm-up events are recorded under 0 and ignored.
pub const WARMUP: u32 = 0;
pub const MEASURED: u32 = 1;

impl Ctx {
    pub fn new(target: Target, run: RunArgs) -> Ctx {
        Ctx { target: Arc::new(target), run, rec: Arc::new(Recorder::default()) }
    }

    /// The server's CPU and memory now (summed over a cluster's nodes), when its pids are known.
    pub fn server_sample(&self) -> Option<ProcSample> {
        match ProcSample::read_sum(&self.target.pids) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("  cannot read /proc of {:?}: {e}", self.target.pids);
                None
            }
        }
    }

    /// The helper process's (a cluster's redis-server) CPU now, when its pid is known.
    pub fn redis_sample(&self) -> Option<ProcSample> {
        ProcSample::read(Some(self.target.redis_pid?)).ok()
    }

    pub fn setup_timeout(&self) -> Duration {
        Duration::from_secs_f64(self.run.setup_timeout)
    }

    /// A report with the fields every scenario fills.
    pub fn report(&self, scenario: &str, connections: usize) -> Report {
        Report { scenario: scenario.into(), target: self.target.label.clone(), connections: connections as u64, ..Report::default() }
    }
}

pub async fn run(ctx: &Ctx, scenario: &Scenario) -> Result<Report, String> {
    eprintln!("{} against {} ({})", scenario.describe(), ctx.target.label, ctx.target.ws_urls());
    match scenario {
        Scenario::Fanout(a) => fanout::fanout(ctx, a).await,
        Scenario::Unicast(a) => fanout::unicast(ctx, a).await,
        Scenario::Connect(a) => connect::run(ctx, a).await,
        Scenario::ClientEvents(a) => client_events::run(ctx, a).await,
        Scenario::Saturate(a) => saturate::run(ctx, a).await,
        Scenario::Triggers(a) => triggers::run(ctx, a).await,
    }
}

/// Runs `load` (which publishes under `phase` for `nominal` seconds) as one measured window,
/// waits up to `--drain` for the deliveries still owed (`recipients` per accepted event), and
/// reports. Rates are per `nominal` second: events are scheduled over exactly that span.
pub async fn measure(ctx: &Ctx, mut report: Report, phase: u32, recipients: u64, nominal: Duration, load: impl Future<Output = ()>) -> Report {
    let (server0, client0, redis0) = (ctx.server_sample(), ProcSample::read(None).ok(), ctx.redis_sample());
    load.await;
    let window = nominal.max(Duration::from_millis(1));
    let drain_until = Instant::now() + Duration::from_secs_f64(ctx.run.drain);
    loop {
        let (received, published) = ctx.rec.progress(phase);
        if received >= published * recipients || Instant::now() >= drain_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (server1, client1, redis1) = (ctx.server_sample(), ProcSample::read(None).ok(), ctx.redis_sample());

    let p = ctx.rec.phase(phase);
    report.window_s = window.as_secs_f64();
    report.events = p.published;
    report.publish_errors = p.publish_errors;
    report.http_closes = p.http_closes;
    report.expected = p.published * recipients;
    report.deliveries = p.received;
    report.lost = report.expected.saturating_sub(p.received);
    report.out_of_order = p.out_of_order;
    report.deliveries_per_s = p.received as f64 / report.window_s.max(1e-9);
    report.set_latency(percentiles_ms(&p.latency_us));
    report.disconnects = ctx.rec.disconnects().0;
    report.server_errors = ctx.rec.server_errors().0;
    if let (Some(s0), Some(s1)) = (server0, server1) {
        let cpu = s1.cpu_since(&s0);
        report.server_cpu_s = Some(cpu);
        report.server_cpu_pct = Some(s1.cpu_pct_since(&s0));
        report.server_rss_kb = Some(s1.rss_kb);
        if p.received > 0 {
            report.cpu_us_per_delivery = Some(cpu * 1e6 / p.received as f64);
        }
    }
    if let (Some(r0), Some(r1)) = (redis0, redis1) {
        report.redis_cpu_pct = Some(r1.cpu_pct_since(&r0));
        if p.received > 0 {
            report.redis_cpu_us_per_delivery = Some(r1.cpu_since(&r0) * 1e6 / p.received as f64);
        }
    }
    if let (Some(c0), Some(c1)) = (client0, client1) {
        report.client_cpu_pct = c1.cpu_pct_since(&c0);
        if report.client_cpu_pct > 90.0 {
            report.notes.push("the load generator used over 90% of its core: it may be the bottleneck".into());
        }
    }
    if report.disconnects > 0 {
        let (_, codes) = ctx.rec.disconnects();
        report.notes.push(format!("server closed subscribers, by close code: {codes:?}"));
    }
    if let (n, Some(last)) = ctx.rec.server_errors() {
        report.notes.push(format!("{n} pusher:error frames, last: {last}"));
    }
    report
}

/// (server RSS KB before, after) → KB per connection.
pub fn kb_per_connection(before: Option<ProcSample>, after: Option<ProcSample>, connections: usize) -> Option<f64> {
    match (before, after) {
        (Some(b), Some(a)) if connections > 0 => Some((a.rss_kb as f64 - b.rss_kb as f64) / connections as f64),
        _ => None,
    }
}
