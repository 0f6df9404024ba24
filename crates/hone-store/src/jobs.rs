//! Long-running jobs (generation, training, evaluation) and their metric time series.

use crate::{dialect, Conn};
use serde::{Deserialize, Serialize};

use crate::error::{parse_json, to_json};
use crate::{JobId, JobState, ProjectId, Result, StoreError};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: JobId,
    pub project_id: Option<ProjectId>,
    pub kind: String,
    pub state: JobState,
    /// 0..=1
    pub progress: f64,
    pub message: String,
    pub error: Option<String>,
    pub params: serde_json::Value,
    pub result: Option<serde_json::Value>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(sqlx::FromRow)]
struct JobRow {
    id: JobId,
    project_id: Option<ProjectId>,
    kind: String,
    state: JobState,
    progress: f64,
    message: String,
    error: Option<String>,
    params: String,
    result: Option<String>,
    created_at: String,
    updated_at: String,
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Self> {
        Ok(Job {
            id: r.id,
            project_id: r.project_id,
            kind: r.kind,
            state: r.state,
            progress: r.progress,
            message: r.message,
            error: r.error,
            params: parse_json("jobs.params", &r.params)?,
            result: r
                .result
                .as_deref()
                .map(|t| parse_json("jobs.result", t))
                .transpose()?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

const COLUMNS: &str =
    "id, project_id, kind, state, progress, message, error, params, result, created_at, updated_at";

pub async fn create(
    conn: &mut Conn,
    project_id: Option<ProjectId>,
    kind: &str,
    params: &serde_json::Value,
) -> Result<Job> {
    let row: JobRow = sqlx::query_as(&format!(
        "INSERT INTO jobs (project_id, kind, params) VALUES ($1, $2, $3) RETURNING {COLUMNS}"
    ))
    .bind(project_id)
    .bind(kind)
    .bind(to_json("jobs.params", params)?)
    .fetch_one(&mut *conn)
    .await?;
    row.try_into()
}

pub async fn get(conn: &mut Conn, id: JobId) -> Result<Job> {
    let row: JobRow = sqlx::query_as(&format!("SELECT {COLUMNS} FROM jobs WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("job", id))?;
    row.try_into()
}

pub async fn list(conn: &mut Conn, project_id: Option<ProjectId>) -> Result<Vec<Job>> {
    let rows: Vec<JobRow> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM jobs WHERE $1 IS NULL OR project_id = $1 ORDER BY id"
    ))
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(Job::try_from).collect()
}

/// Moves a job to `state` with its progress and a message.
pub async fn update(
    conn: &mut Conn,
    id: JobId,
    state: JobState,
    progress: f64,
    message: &str,
) -> Result<()> {
    let now = dialect::backend(conn).now();
    let done = sqlx::query(&format!(
        "UPDATE jobs SET state = $1, progress = $2, message = $3, updated_at = {now} WHERE id = $4"
    ))
    .bind(state)
    .bind(progress.clamp(0.0, 1.0))
    .bind(message)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("job", id));
    }
    Ok(())
}

/// Takes job `id` to run it again: sets it `running` only when it is failed, cancelled,
/// interrupted, or running without a heartbeat for `STALE_SECONDS` (its process is gone) — in
/// one statement, so two callers cannot both take it. Returns whether it did.
pub async fn claim_for_resume(conn: &mut Conn, id: JobId) -> Result<bool> {
    let now = dialect::backend(conn).now();
    let done = sqlx::query(&format!(
        "UPDATE jobs SET state = 'running', message = 'resuming', updated_at = {now}
         WHERE id = $1 AND (state IN ('failed', 'cancelled', 'interrupted') OR (state IN ('queued', 'running') AND updated_at < {}))",
        dialect::backend(conn).seconds_ago(STALE_SECONDS)
    ))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends a job: succeeded with a result, or failed/cancelled with an error.
pub async fn finish(
    conn: &mut Conn,
    id: JobId,
    state: JobState,
    result: Option<&serde_json::Value>,
    error: Option<&str>,
) -> Result<()> {
    let now = dialect::backend(conn).now();
    let result = result.map(|r| to_json("jobs.result", r)).transpose()?;
    let progress_sql = if state == JobState::Succeeded {
        "1.0"
    } else {
        "progress"
    };
    let done = sqlx::query(&format!(
        "UPDATE jobs SET state = $1, result = $2, error = $3, progress = {progress_sql}, updated_at = {now} WHERE id = $4"
    ))
    .bind(state)
    .bind(result)
    .bind(error)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("job", id));
    }
    Ok(())
}

/// A running job's process touches it at least this often (`heartbeat`); one silent for
/// longer belongs to a process that is gone.
pub const HEARTBEAT_SECONDS: u32 = 20;
/// Silence after which a queued or running job counts as interrupted.
pub const STALE_SECONDS: u32 = 90;

/// Says that job `id` is still being worked on (its `updated_at` is now, while it runs).
pub async fn heartbeat(conn: &mut Conn, id: JobId) -> Result<()> {
    let now = dialect::backend(conn).now();
    sqlx::query(&format!(
        "UPDATE jobs SET updated_at = {now} WHERE id = $1 AND state = 'running'"
    ))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks job `id` interrupted if it is queued or running: its owner is known to be gone (the
/// caller checked the owner's lock). Returns whether it did.
pub async fn mark_one_interrupted(conn: &mut Conn, id: JobId) -> Result<bool> {
    let now = dialect::backend(conn).now();
    let done = sqlx::query(&format!(
        "UPDATE jobs SET state = 'interrupted', updated_at = {now} WHERE id = $1 AND state IN ('queued', 'running')"
    ))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks the queued or running jobs whose process has gone silent (no heartbeat for
/// `STALE_SECONDS`) as interrupted; a job another open process is running stays as it is.
/// Called when a workspace opens. Returns how many were marked.
pub async fn mark_interrupted(conn: &mut Conn) -> Result<u64> {
    let now = dialect::backend(conn).now();
    let done = sqlx::query(&format!(
        "UPDATE jobs SET state = 'interrupted', updated_at = {now} WHERE state IN ('queued', 'running') AND updated_at < {}",
        dialect::backend(conn).seconds_ago(STALE_SECONDS)
    ))
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// One point of a metric curve.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct MetricPoint {
    pub name: String,
    pub step: i64,
    pub value: f64,
}

/// Records points; a point at an existing (name, step) replaces it (a resumed run re-logs).
pub async fn record_metrics(conn: &mut Conn, job_id: JobId, points: &[MetricPoint]) -> Result<()> {
    for p in points {
        sqlx::query(
            "INSERT INTO metric_points (job_id, name, step, value) VALUES ($1, $2, $3, $4) ON CONFLICT (job_id, name, step) DO UPDATE SET value = excluded.value",
        )
        .bind(job_id)
        .bind(&p.name)
        .bind(p.step)
        .bind(p.value)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

/// The job's curves, by metric name then step; `name` narrows to one metric.
pub async fn metrics(
    conn: &mut Conn,
    job_id: JobId,
    name: Option<&str>,
) -> Result<Vec<MetricPoint>> {
    Ok(sqlx::query_as(
        "SELECT name, step, value FROM metric_points WHERE job_id = $1 AND ($2 IS NULL OR name = $2) ORDER BY name, step",
    )
    .bind(job_id)
    .bind(name)
    .fetch_all(&mut *conn)
    .await?)
}
