//! Flags: an annotator marked a queue unit as not to be judged (broken prompt, off topic, not
//! their expertise, unsafe), with an optional note. One flag per annotator and unit.

use crate::{dialect, Conn};

use crate::error::{parse_json, to_json};
use crate::skips::UnitRow;
use crate::{
    AnnotatorId, FlagId, FlagReason, JudgmentKind, ProjectId, PromptId, Result, StoreError,
};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredFlag {
    pub id: FlagId,
    pub project_id: ProjectId,
    pub annotator_id: AnnotatorId,
    pub unit: UnitRow,
    pub reason: FlagReason,
    pub note: Option<String>,
    pub created_at: String,
}

type Row = (
    FlagId,
    ProjectId,
    AnnotatorId,
    JudgmentKind,
    PromptId,
    String,
    FlagReason,
    Option<String>,
    String,
);

const COLUMNS: &str =
    "id, project_id, annotator_id, kind, prompt_id, response_ids, reason, note, created_at";

fn assemble(row: Row) -> Result<StoredFlag> {
    let (id, project_id, annotator_id, kind, prompt_id, ids, reason, note, created_at) = row;
    Ok(StoredFlag {
        id,
        project_id,
        annotator_id,
        unit: UnitRow::new(kind, prompt_id, parse_json("flags.response_ids", &ids)?),
        reason,
        note,
        created_at,
    })
}

/// Flags `unit` for `annotator_id`; flagging the same unit again replaces the reason, the note
/// and the time. Returns the flag.
pub async fn upsert(
    conn: &mut Conn,
    project_id: ProjectId,
    annotator_id: AnnotatorId,
    unit: &UnitRow,
    reason: FlagReason,
    note: Option<&str>,
) -> Result<StoredFlag> {
    let now = dialect::backend(conn).now();
    let id: FlagId = sqlx::query_scalar(&format!(
        "INSERT INTO flags (project_id, annotator_id, kind, prompt_id, response_ids, reason, note) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (annotator_id, kind, prompt_id, response_ids) DO UPDATE SET
           reason = excluded.reason, note = excluded.note, created_at = {now}
         RETURNING id"
    ))
    .bind(project_id)
    .bind(annotator_id)
    .bind(unit.kind)
    .bind(unit.prompt_id)
    .bind(to_json("flags.response_ids", &unit.response_ids)?)
    .bind(reason)
    .bind(note)
    .fetch_one(&mut *conn)
    .await?;
    get(conn, id).await
}

pub async fn get(conn: &mut Conn, id: FlagId) -> Result<StoredFlag> {
    let row: Row = sqlx::query_as(&format!("SELECT {COLUMNS} FROM flags WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("flag", id))?;
    assemble(row)
}

/// The project's flags, oldest first.
pub async fn list(conn: &mut Conn, project_id: ProjectId) -> Result<Vec<StoredFlag>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM flags WHERE project_id = $1 ORDER BY id"
    ))
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(assemble).collect()
}

/// The flags `annotator_id` set in the project, oldest first.
pub async fn list_by(
    conn: &mut Conn,
    project_id: ProjectId,
    annotator_id: AnnotatorId,
) -> Result<Vec<StoredFlag>> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM flags WHERE project_id = $1 AND annotator_id = $2 ORDER BY id"
    ))
    .bind(project_id)
    .bind(annotator_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(assemble).collect()
}

/// Removes a flag (the unit comes back to its flagger's queue).
pub async fn delete(conn: &mut Conn, id: FlagId) -> Result<()> {
    let done = sqlx::query("DELETE FROM flags WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("flag", id));
    }
    Ok(())
}
