//! `fanout` (N subscribers on one channel) and `unicast` (N channels, one subscriber each,
//! batch triggers): subscribers that only receive, and a publisher at a fixed rate.

use std::sync::Arc;
use std::time::Duration;

use super::{kb_per_connection, measure, Ctx, MEASURED, WARMUP};
use crate::cli::{FanoutArgs, UnicastArgs};
use crate::publish::{Publisher, Shape};
use crate::report::Report;
use crate::ws::{self, Fleet};

/// Opens `n` receive-only subscribers, subscriber `i` on `channel_of(i)`.
pub async fn subscribers(ctx: &Ctx, n: usize, channel_of: impl Fn(usize) -> String + Send + Sync + 'static) -> Result<Fleet, String> {
    let (target, rec) = (ctx.target.clone(), ctx.rec.clone());
    let channel_of = Arc::new(channel_of);
    let fleet = Fleet::spawn(n, ctx.run.concurrency, move |i, slot| {
        let (target, rec, channel) = (target.clone(), rec.clone(), channel_of(i));
        async move {
            let setup = async {
                let mut opened = ws::open(&target, i).await?;
                ws::subscribe(&mut opened.ws, &channel, None).await?;
                Ok(opened.ws)
            };
            if let Some(socket) = slot.setup(setup).await {
                ws::receive(socket, rec).await;
            }
        }
    });
    fleet.wait_ready(ctx.setup_timeout()).await?;
    Ok(fleet)
}

/// Warm-up (unrecorded), then one measured window.
async fn publish_and_measure(ctx: &Ctx, report: Report, shape: Shape, events_per_s: f64, recipients: u64) -> Result<Report, String> {
    let mut publisher = Publisher::new(ctx.target.clone(), ctx.rec.clone(), ctx.run.payload)?;
    if ctx.run.warmup > 0.0 {
        publisher.run(&shape, WARMUP, events_per_s, Duration::from_secs_f64(ctx.run.warmup)).await;
    }
    let duration = Duration::from_secs_f64(ctx.run.duration);
    Ok(measure(ctx, report, MEASURED, recipients, duration, publisher.run(&shape, MEASURED, events_per_s, duration)).await)
}

pub async fn fanout(ctx: &Ctx, args: &FanoutArgs) -> Result<Report, String> {
    let before = ctx.server_sample();
    let channel = args.channel.clone();
    let fleet = subscribers(ctx, args.subscribers, move |_| channel.clone()).await?;
    let after = ctx.server_sample();
    let mut report = ctx.report("fanout", args.subscribers);
    report.offered_deliveries_per_s = Some(args.rate * args.subscribers as f64);
    let shape = Shape::OneChannel(args.channel.clone());
    let mut report = publish_and_measure(ctx, report, shape, args.rate, args.subscribers as u64).await?;
    report.kb_per_connection = kb_per_connection(before, after, args.subscribers);
    drop(fleet);
    Ok(report)
}

pub const UNICAST_PREFIX: &str = "bench-unicast-";

pub async fn unicast(ctx: &Ctx, args: &UnicastArgs) -> Result<Report, String> {
    let before = ctx.server_sample();
    let fleet = subscribers(ctx, args.channels, |i| format!("{UNICAST_PREFIX}{i}")).await?;
    let after = ctx.server_sample();
    let mut report = ctx.report("unicast", args.channels);
    report.offered_deliveries_per_s = Some(args.rate);
    let shape = Shape::RoundRobin { prefix: UNICAST_PREFIX.into(), channels: args.channels, batch: args.batch };
    let mut report = publish_and_measure(ctx, report, shape, args.rate, 1).await?;
    report.kb_per_connection = kb_per_connection(before, after, args.channels);
    drop(fleet);
    Ok(report)
}
