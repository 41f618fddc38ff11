//! The `job_runs` table: one row per (job, period). The unique key is what makes a job
//! triggered twice for the same period apply once.

use serde::Serialize;
use serde_json::Value;
use sqlx::{Any, Executor};

#[derive(Debug, Clone, Serialize)]
pub struct JobRun {
    pub id: i64,
    pub job: String,
    pub period: String,
    /// `running`, `succeeded` or `failed`.
    pub status: String,
    /// `schedule`, `http` or `cli`.
    pub triggered_by: String,
    pub started_at: i64,
    pub finished_at: Option<i64>,
    pub result: Option<Value>,
    pub error: Option<String>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    job: String,
    period: String,
    status: String,
    triggered_by: String,
    started_at: i64,
    finished_at: Option<i64>,
    result: Option<String>,
    error: Option<String>,
}

impl From<Row> for JobRun {
    fn from(r: Row) -> Self {
        JobRun {
            id: r.id,
            job: r.job,
            period: r.period,
            status: r.status,
            triggered_by: r.triggered_by,
            started_at: r.started_at,
            finished_at: r.finished_at,
            result: r.result.and_then(|text| serde_json::from_str(&text).ok()),
            error: r.error,
        }
    }
}

const COLUMNS: &str = "id, job, period, status, triggered_by, started_at, finished_at, result, error";

/// A `running` row older than this is taken to belong to a process that died.
pub const STALE_RUN_MS: i64 = 60 * 60 * 1000;

/// The outcome of trying to claim a period.
pub enum Claim {
    /// This caller owns the run (id of the row).
    Claimed(i64),
    /// The period already ran or is running now.
    Taken(JobRun),
}

/// Claims (job, period): inserts a `running` row, or takes over a failed or stale one.
pub async fn claim(db: &super::Db, job: &str, period: &str, triggered_by: &str, now: i64) -> sqlx::Result<Claim> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO job_runs (job, period, status, triggered_by, started_at) VALUES ($1, $2, 'running', $3, $4) \
         ON CONFLICT (job, period) DO NOTHING RETURNING id",
    )
    .bind(job)
    .bind(period)
    .bind(triggered_by)
    .bind(now)
    .fetch_optional(&db.pool)
    .await?;
    if let Some(id) = inserted {
        return Ok(Claim::Claimed(id));
    }
    let retaken: Option<i64> = sqlx::query_scalar(
        "UPDATE job_runs SET status = 'running', triggered_by = $1, started_at = $2, finished_at = NULL, result = NULL, error = NULL \
         WHERE job = $3 AND period = $4 AND (status = 'failed' OR (status = 'running' AND started_at < $5)) RETURNING id",
    )
    .bind(triggered_by)
    .bind(now)
    .bind(job)
    .bind(period)
    .bind(now - STALE_RUN_MS)
    .fetch_optional(&db.pool)
    .await?;
    if let Some(id) = retaken {
        return Ok(Claim::Claimed(id));
    }
    let row: Row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM job_runs WHERE job = $1 AND period = $2"))
        .bind(job)
        .bind(period)
        .fetch_one(&db.pool)
        .await?;
    Ok(Claim::Taken(row.into()))
}

pub async fn finish<'e>(
    ex: impl Executor<'e, Database = Any>,
    id: i64,
    outcome: Result<&Value, &str>,
    now: i64,
) -> sqlx::Result<()> {
    let (status, result, error) = match outcome {
        Ok(value) => ("succeeded", Some(value.to_string()), None),
        Err(message) => ("failed", None, Some(message.to_string())),
    };
    sqlx::query("UPDATE job_runs SET status = $1, finished_at = $2, result = $3, error = $4 WHERE id = $5")
        .bind(status)
        .bind(now)
        .bind(result)
        .bind(error)
        .bind(id)
        .execute(ex)
        .await?;
    Ok(())
}

pub async fn get<'e>(ex: impl Executor<'e, Database = Any>, id: i64) -> sqlx::Result<Option<JobRun>> {
    let row: Option<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM job_runs WHERE id = $1")).bind(id).fetch_optional(ex).await?;
    Ok(row.map(JobRun::from))
}

pub async fn recent<'e>(ex: impl Executor<'e, Database = Any>, limit: i64) -> sqlx::Result<Vec<JobRun>> {
    let rows: Vec<Row> = sqlx::query_as(&format!("SELECT {COLUMNS} FROM job_runs ORDER BY id DESC LIMIT $1")).bind(limit).fetch_all(ex).await?;
    Ok(rows.into_iter().map(JobRun::from).collect())
}
