//! Import runs: a file written in many short transactions that still lands all or nothing.
//!
//! Every prompt, response and judgment a run creates carries the run's id (`import_id`).
//! While the run is `running` its rows are pending: the queue's index keeps them aside
//! (`queue_rows` gives each row's run), and `judgments::list_current` leaves its judgments out. A run that fails, or
//! whose process died, is undone by [`undo_step`] (its judgments, then the responses and
//! prompts nothing else refers to) and marked `rolled_back`.

use crate::{dialect, Conn};
use serde::{Deserialize, Serialize};

use crate::{ImportRunId, ImportState, ProjectId, Result, StoreError};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct ImportRun {
    pub id: ImportRunId,
    pub project_id: ProjectId,
    pub path: String,
    pub annotator: String,
    pub state: ImportState,
    /// Records written so far; when done, in all.
    pub records: i64,
    /// Why the run was rolled back.
    pub error: Option<String>,
    pub started_at: String,
    pub finished_at: Option<String>,
}

const COLUMNS: &str =
    "id, project_id, path, annotator, state, records, error, started_at, finished_at";

/// Starts a run; its rows stay pending until [`finish`].
pub async fn start(
    conn: &mut Conn,
    project_id: ProjectId,
    path: &str,
    annotator: &str,
) -> Result<ImportRunId> {
    Ok(sqlx::query_scalar(
        "INSERT INTO imports (project_id, path, annotator, state) VALUES ($1, $2, $3, 'running') RETURNING id",
    )
    .bind(project_id)
    .bind(path)
    .bind(annotator)
    .fetch_one(&mut *conn)
    .await?)
}

pub async fn get(conn: &mut Conn, id: ImportRunId) -> Result<ImportRun> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM imports WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("import", id))
}

/// The project's runs, newest first.
pub async fn list(conn: &mut Conn, project_id: ProjectId) -> Result<Vec<ImportRun>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM imports WHERE project_id = $1 ORDER BY id DESC"
    ))
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Every run still `running`, of any project (the caller tells live ones from dead ones).
pub async fn running(conn: &mut Conn) -> Result<Vec<ImportRun>> {
    Ok(sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM imports WHERE state = 'running' ORDER BY id"
    ))
    .fetch_all(&mut *conn)
    .await?)
}

/// Records how many records the run has written so far.
pub async fn set_records(conn: &mut Conn, id: ImportRunId, records: i64) -> Result<()> {
    sqlx::query("UPDATE imports SET records = $1 WHERE id = $2")
        .bind(records)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Makes the run's rows count: one short write, however big the file was.
pub async fn finish(conn: &mut Conn, id: ImportRunId, records: i64) -> Result<()> {
    let now = dialect::backend(conn).now();
    let done = sqlx::query(&format!(
        "UPDATE imports SET state = 'done', records = $1, finished_at = {now} WHERE id = $2 AND state = 'running'"
    ))
    .bind(records)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("running import", id));
    }
    Ok(())
}

/// Undoes up to `limit` rows of a run that is not done; returns how many were deleted
/// (0: nothing is left). Call it in short transactions until it returns 0, then
/// [`mark_rolled_back`]. Responses and prompts that a judgment outside the run refers to are
/// kept: nobody's judgment is deleted by undoing an import.
pub async fn undo_step(conn: &mut Conn, id: ImportRunId, limit: i64) -> Result<u64> {
    let state: Option<ImportState> = sqlx::query_scalar("SELECT state FROM imports WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    match state {
        None => return Err(StoreError::not_found("import", id)),
        Some(ImportState::Done) => return Err(StoreError::not_found("unfinished import", id)),
        Some(_) => {}
    }
    let steps = [
        "DELETE FROM judgments WHERE id IN (SELECT id FROM judgments WHERE import_id = $1 LIMIT $2)",
        "DELETE FROM responses WHERE id IN (SELECT r.id FROM responses r WHERE r.import_id = $1
           AND NOT EXISTS (SELECT 1 FROM comparisons c WHERE c.response_a = r.id OR c.response_b = r.id)
           AND NOT EXISTS (SELECT 1 FROM judged_responses j WHERE j.response_id = r.id)
           AND NOT EXISTS (SELECT 1 FROM ranking_entries e WHERE e.response_id = r.id)
           AND NOT EXISTS (SELECT 1 FROM edits e WHERE e.corrected_response_id = r.id)
           AND NOT EXISTS (SELECT 1 FROM judgments j WHERE j.suggested_response_id = r.id)
           LIMIT $2)",
        "DELETE FROM prompts WHERE id IN (SELECT p.id FROM prompts p WHERE p.import_id = $1
           AND NOT EXISTS (SELECT 1 FROM judgments j WHERE j.prompt_id = p.id)
           AND NOT EXISTS (SELECT 1 FROM responses r WHERE r.prompt_id = p.id)
           LIMIT $2)",
    ];
    for sql in steps {
        let done = sqlx::query(sql)
            .bind(id)
            .bind(limit)
            .execute(&mut *conn)
            .await?;
        if done.rows_affected() > 0 {
            return Ok(done.rows_affected());
        }
    }
    Ok(0)
}

/// Marks an undone run, with why; what it kept (rows others' judgments refer to) is released.
pub async fn mark_rolled_back(conn: &mut Conn, id: ImportRunId, error: &str) -> Result<()> {
    let now = dialect::backend(conn).now();
    let mut released = 0;
    for table in ["prompts", "responses"] {
        released += sqlx::query(&format!(
            "UPDATE {table} SET import_id = NULL WHERE import_id = $1"
        ))
        .bind(id)
        .execute(&mut *conn)
        .await?
        .rows_affected();
    }
    if released > 0 {
        // A row released is a row of no import from now on: a queue index reads those by
        // another watermark than an import's, and may have passed it already (it rebuilds).
        sqlx::query(
            "INSERT INTO queue_revisions (project_id, revision) \
             SELECT project_id, 1 FROM imports WHERE id = $1 \
             ON CONFLICT (project_id) DO UPDATE SET revision = queue_revisions.revision + 1",
        )
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    sqlx::query(&format!(
        "UPDATE imports SET state = 'rolled_back', error = $1, finished_at = {now} WHERE id = $2"
    ))
    .bind(error)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
