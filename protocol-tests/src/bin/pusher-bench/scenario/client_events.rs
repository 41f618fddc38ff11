//! `client-events`: M members of one private channel (authorized with herald's token
//! signing), each sending client events at a steady rate; every event is relayed to the
//! other M−1 members.

use futures_util::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use super::{measure, Ctx, MEASURED, WARMUP};
use crate::cli::ClientEventsArgs;
use crate::payload::{SeqTracker, Stamp};
use crate::report::Report;
use crate::stats::Recorder;
use crate::sys::now_ns;
use crate::ws::{self, Fleet, Ws};

/// The phase members are sending in, or [`IDLE`].
const IDLE: u32 = u32::MAX;
const EVENT_NAME: &str = "client-pb";

pub async fn run(ctx: &Ctx, args: &ClientEventsArgs) -> Result<Report, String> {
    if args.members < 2 {
        return Err("client-events needs at least 2 members".into());
    }
    let m = args.members;
    let phase = Arc::new(AtomicU32::new(IDLE));
    let period = Duration::from_secs_f64(1.0 / args.rate.max(0.001));
    let fleet = {
        let (target, rec, phase, channel, payload) =
            (ctx.target.clone(), ctx.rec.clone(), phase.clone(), args.channel.clone(), ctx.run.payload);
        Fleet::spawn(m, ctx.run.concurrency, move |i, slot| {
            let (target, rec, phase, channel) = (target.clone(), rec.clone(), phase.clone(), channel.clone());
            async move {
                let setup = async {
                    let mut opened = ws::open(&target, i).await?;
                    let auth = ws::private_auth(&target, &opened.socket_id, &channel);
                    ws::subscribe(&mut opened.ws, &channel, Some(&auth)).await?;
                    Ok(opened.ws)
                };
                if let Some(socket) = slot.setup(setup).await {
                    // Spread the members' sends evenly over one period.
                    let offset = period.mul_f64(i as f64 / m as f64);
                    let member = Member { index: i as u32, channel, payload, rec, phase };
                    member.run(socket, Instant::now() + offset, period).await;
                }
            }
        })
    };
    fleet.wait_ready(ctx.setup_timeout()).await?;

    phase.store(WARMUP, Ordering::Release);
    tokio::time::sleep(Duration::from_secs_f64(ctx.run.warmup)).await;
    let mut report = ctx.report("client-events", m);
    report.offered_deliveries_per_s = Some(args.rate * (m * (m - 1)) as f64);
    let duration = Duration::from_secs_f64(ctx.run.duration);
    let load = async {
        phase.store(MEASURED, Ordering::Release);
        tokio::time::sleep(duration).await;
        phase.store(IDLE, Ordering::Release);
    };
    let report = measure(ctx, report, MEASURED, (m - 1) as u64, duration, load).await;
    drop(fleet);
    Ok(report)
}

struct Member {
    index: u32,
    channel: String,
    payload: usize,
    rec: Arc<Recorder>,
    phase: Arc<AtomicU32>,
}

impl Member {
    /// Sends on every tick while a phase is active, and records what the others send.
    async fn run(self, mut ws: Ws, first_tick: Instant, period: Duration) {
        let mut ticks = tokio::time::interval_at(first_tick, period);
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut seqs = SeqTracker::default();
        let mut seq = 0u64;
        loop {
            tokio::select! {
                _ = ticks.tick() => {
                    let phase = self.phase.load(Ordering::Acquire);
                    if phase == IDLE {
                        continue;
                    }
                    let data = Stamp { phase, stream: self.index, seq, sent_ns: now_ns() }.encode(self.payload);
                    seq += 1;
                    let frame = format!(r#"{{"event":"{EVENT_NAME}","channel":"{}","data":"{data}"}}"#, self.channel);
                    let ok = ws.send(Message::Text(frame)).await.is_ok();
                    self.rec.published(phase, 1, ok, false);
                }
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(text))) => {
                        if let Some(reply) = ws::on_text(&text, &mut seqs, &self.rec) {
                            let _ = ws.send(Message::Text(reply.into())).await;
                        }
                    }
                    Some(Ok(Message::Close(frame))) => return self.rec.disconnect(frame.map(|f| u16::from(f.code))),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => return self.rec.disconnect(None),
                },
            }
        }
    }
}
