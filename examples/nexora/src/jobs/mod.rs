//! Scheduled jobs: trust decay (weekly) and the oracle monitor (daily). Each run claims its
//! period in `job_runs` first, so a job triggered twice for one period (scheduler, HTTP and
//! CLI alike) applies once; a failed run may be retried.

pub mod oracle;
pub mod scheduler;
pub mod trust_decay;

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use crate::db::job_runs::{self, Claim, JobRun};
use crate::db::{self};
use crate::server::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    TrustDecay,
    Oracle,
}

impl Job {
    pub const ALL: [Job; 2] = [Job::TrustDecay, Job::Oracle];

    pub fn name(self) -> &'static str {
        match self {
            Job::TrustDecay => "trust-decay",
            Job::Oracle => "oracle",
        }
    }

    pub fn parse(name: &str) -> Option<Job> {
        match name {
            "trust-decay" | "trust_decay" => Some(Job::TrustDecay),
            "oracle" | "oracle-monitor" => Some(Job::Oracle),
            _ => None,
        }
    }

    /// The period a run at `at` belongs to: the ISO week for trust decay, the UTC day for
    /// the oracle.
    pub fn period(self, at: DateTime<Utc>) -> String {
        match self {
            Job::TrustDecay => {
                let week = at.iso_week();
                format!("{}-W{:02}", week.year(), week.week())
            }
            Job::Oracle => at.format("%Y-%m-%d").to_string(),
        }
    }
}

/// Who started a run (recorded in `job_runs.triggered_by`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Schedule,
    Http,
    Cli,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Schedule => "schedule",
            Trigger::Http => "http",
            Trigger::Cli => "cli",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub job: &'static str,
    pub period: String,
    /// False when the period had already run (or is running), and nothing was done now.
    pub applied: bool,
    pub run: JobRun,
}

/// Runs `job` for the period containing `at`, unless that period already ran.
pub async fn run(state: &AppState, job: Job, trigger: Trigger, at: DateTime<Utc>) -> sqlx::Result<RunReport> {
    let period = job.period(at);
    let id = match job_runs::claim(&state.db, job.name(), &period, trigger.as_str(), db::now_ms()).await? {
        Claim::Taken(run) => {
            tracing::info!(job = job.name(), %period, status = %run.status, "period already claimed; not running again");
            return Ok(RunReport { job: job.name(), period, applied: false, run });
        }
        Claim::Claimed(id) => id,
    };
    let outcome = match job {
        Job::TrustDecay => trust_decay::run(state, at).await,
        Job::Oracle => oracle::run(state, at).await,
    };
    let applied = outcome.is_ok();
    match &outcome {
        Ok(result) => {
            tracing::info!(job = job.name(), %period, %result, "job finished");
            job_runs::finish(&state.db.pool, id, Ok(result), db::now_ms()).await?;
        }
        Err(e) => {
            tracing::error!(job = job.name(), %period, error = %e, "job failed; the period can be retried");
            job_runs::finish(&state.db.pool, id, Err(&e.to_string()), db::now_ms()).await?;
        }
    }
    let run = job_runs::get(&state.db.pool, id).await?.ok_or(sqlx::Error::RowNotFound)?;
    Ok(RunReport { job: job.name(), period, applied, run })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn periods() {
        let sunday = Utc.with_ymd_and_hms(2025, 3, 16, 0, 0, 0).unwrap();
        assert_eq!(Job::TrustDecay.period(sunday), "2025-W11");
        assert_eq!(Job::TrustDecay.period(sunday + chrono::Duration::hours(23)), "2025-W11");
        assert_eq!(Job::TrustDecay.period(sunday + chrono::Duration::days(1)), "2025-W12");
        assert_eq!(Job::Oracle.period(sunday), "2025-03-16");
        assert_eq!(Job::parse("trust-decay"), Some(Job::TrustDecay));
        assert_eq!(Job::parse("oracle"), Some(Job::Oracle));
        assert_eq!(Job::parse("nope"), None);
    }
}
