//! `saturate`: fan-out at rising rates until a step loses deliveries, falls behind its rate,
//! or its p99 exceeds the bound; the last passing step is the sustainable rate.

use std::time::Duration;

use super::fanout::subscribers;
use super::{measure, Ctx, WARMUP};
use crate::cli::SaturateArgs;
use crate::publish::{Publisher, Shape};
use crate::report::{format_number, Report};

/// A step must deliver at least this share of its offered rate.
const MIN_ACHIEVED: f64 = 0.9;

pub async fn run(ctx: &Ctx, args: &SaturateArgs) -> Result<Report, String> {
    let n = args.subscribers;
    let channel = args.channel.clone();
    let fleet = subscribers(ctx, n, move |_| channel.clone()).await?;
    let mut publisher = Publisher::new(ctx.target.clone(), ctx.rec.clone(), ctx.run.payload)?;
    let shape = Shape::OneChannel(args.channel.clone());
    if ctx.run.warmup > 0.0 {
        publisher.run(&shape, WARMUP, args.start / n as f64, Duration::from_secs_f64(ctx.run.warmup)).await;
    }

    let mut rate = args.start;
    let mut best: Option<Report> = None;
    let mut last: Option<Report> = None;
    let mut stop_reason = format!("no failure within {} steps", args.max_steps);
    let step_len = Duration::from_secs_f64(args.step);
    let mut phase = 0u32;
    'steps: for step in 0..args.max_steps {
        for attempt in 0..=args.latency_retries {
            phase += 1;
            let disconnects_before = ctx.rec.disconnects().0;
            let mut report = ctx.report("saturate", n);
            report.offered_deliveries_per_s = Some(rate);
            let load = publisher.run(&shape, phase, rate / n as f64, step_len);
            let report = measure(ctx, report, phase, n as u64, step_len, load).await;
            let verdict = judge(&report, rate, args, report.disconnects > disconnects_before);
            print_step(step, rate, &report, &verdict);
            match verdict {
                Ok(()) => {
                    best = Some(report);
                    break;
                }
                // A latency-only failure may be a burst of noise on a shared machine: the same
                // rate is tried again. Loss, disconnects and falling behind are final.
                Err(Failure { latency_only: true, .. }) if attempt < args.latency_retries => {}
                Err(failure) => {
                    stop_reason = format!("step at {} deliveries/s failed: {}", format_number(rate), failure.reason);
                    last = Some(report);
                    break 'steps;
                }
            }
        }
        rate *= args.factor;
    }
    drop(fleet);

    let sustainable = best.as_ref().map(|b| b.deliveries_per_s).unwrap_or(0.0);
    let mut out = best.or(last).unwrap_or_else(|| ctx.report("saturate", n));
    out.sustainable_deliveries_per_s = Some(sustainable);
    out.notes.push(stop_reason);
    Ok(out)
}

fn print_step(step: usize, rate: f64, r: &Report, verdict: &Result<(), Failure>) {
    eprintln!(
        "  step {:>2}: offered {:>7}/s  delivered {:>7}/s  p99 {:>8} ms  lost {:>6}  server CPU {:>5}%  tool CPU {:>5}%  {}",
        step + 1,
        format_number(rate),
        format_number(r.deliveries_per_s),
        r.p99_ms.map(format_number).unwrap_or_else(|| "-".into()),
        r.lost,
        r.server_cpu_pct.map(format_number).unwrap_or_else(|| "-".into()),
        format_number(r.client_cpu_pct),
        verdict.as_ref().err().map(|f| f.reason.as_str()).unwrap_or("ok"),
    );
}

/// Why a step failed; only latency failures may be retried.
struct Failure {
    latency_only: bool,
    reason: String,
}

fn judge(r: &Report, offered: f64, args: &SaturateArgs, new_disconnects: bool) -> Result<(), Failure> {
    let fail = |reason: String| Err(Failure { latency_only: false, reason });
    if new_disconnects {
        return fail("the server closed subscribers".into());
    }
    if r.publish_errors > 0 {
        return fail(format!("{} publish errors", r.publish_errors));
    }
    if r.lost > 0 {
        return fail(format!("{} deliveries lost", r.lost));
    }
    if r.deliveries_per_s < MIN_ACHIEVED * offered {
        return fail(format!("delivered under {:.0}% of the offered rate", MIN_ACHIEVED * 100.0));
    }
    if let Some(p99) = r.p99_ms.filter(|p| *p > args.max_p99_ms) {
        return Err(Failure { latency_only: true, reason: format!("p99 {} ms over {} ms", format_number(p99), args.max_p99_ms) });
    }
    Ok(())
}
