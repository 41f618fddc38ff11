//! The in-process scheduler: one task per job, sleeping until the next time its cron
//! expression names, then running it for that instant's period.

use chrono::Utc;
use cron::Schedule;
use std::str::FromStr;
use std::sync::Arc;
use tokio::task::JoinHandle;

use super::{Job, Trigger};
use crate::config::SchedulerConfig;
use crate::server::AppState;

/// Parses a 6- or 7-field expression (`sec min hour day month weekday [year]`), or a classic
/// 5-field one (seconds default to 0). Weekdays are 1-7 = SUN-SAT or names (`SUN`).
pub fn parse_schedule(expr: &str) -> Result<Schedule, String> {
    let fields = expr.split_whitespace().count();
    let full = if fields == 5 { format!("0 {expr}") } else { expr.to_string() };
    Schedule::from_str(&full).map_err(|e| format!("invalid cron expression '{expr}': {e}"))
}

/// Starts one task per job. The tasks end when the runtime stops.
pub fn spawn(state: Arc<AppState>, config: &SchedulerConfig) -> Vec<JoinHandle<()>> {
    [(Job::TrustDecay, &config.trust_decay), (Job::Oracle, &config.oracle)]
        .into_iter()
        .map(|(job, expr)| {
            let schedule = parse_schedule(expr).expect("validated with the config");
            tracing::info!(job = job.name(), schedule = %expr, "scheduled");
            tokio::spawn(run_forever(state.clone(), job, schedule))
        })
        .collect()
}

async fn run_forever(state: Arc<AppState>, job: Job, schedule: Schedule) {
    while let Some(next) = schedule.upcoming(Utc).next() {
        let wait = (next - Utc::now()).to_std().unwrap_or_default();
        tokio::time::sleep(wait).await;
        match super::run(&state, job, Trigger::Schedule, next).await {
            Ok(report) => tracing::info!(job = job.name(), period = %report.period, applied = report.applied, "scheduled run done"),
            Err(e) => tracing::error!(job = job.name(), error = %e, "scheduled run could not be recorded"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone, Timelike, Weekday};

    #[test]
    fn defaults_fire_on_sunday_midnight_and_every_midnight() {
        let from = Utc.with_ymd_and_hms(2025, 3, 12, 15, 30, 0).unwrap();
        let weekly = parse_schedule("0 0 0 * * SUN").unwrap().after(&from).next().unwrap();
        assert_eq!((weekly.weekday(), weekly.hour(), weekly.minute()), (Weekday::Sun, 0, 0));
        assert_eq!(weekly.day(), 16);
        let daily = parse_schedule("0 0 0 * * *").unwrap().after(&from).next().unwrap();
        assert_eq!((daily.day(), daily.hour()), (13, 0));
    }

    #[test]
    fn five_field_expressions_are_accepted() {
        let from = Utc.with_ymd_and_hms(2025, 3, 12, 15, 30, 0).unwrap();
        let next = parse_schedule("15 4 * * *").unwrap().after(&from).next().unwrap();
        assert_eq!((next.day(), next.hour(), next.minute(), next.second()), (13, 4, 15, 0));
        assert!(parse_schedule("not a schedule").is_err());
    }
}
