//! Skips: an annotator passed over a queue unit for now. One row per skip; a unit is (kind,
//! prompt, sorted response ids), with no response ids for a prompt-level unit.

use crate::Conn;

use crate::error::{parse_json, to_json};
use crate::{AnnotatorId, JudgmentKind, ProjectId, PromptId, ResponseId, Result};

/// A unit of the queue as skips and flags record it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UnitRow {
    pub kind: JudgmentKind,
    pub prompt_id: PromptId,
    /// Sorted; empty for a prompt-level unit (ranking, demonstration).
    pub response_ids: Vec<ResponseId>,
}

impl UnitRow {
    /// The unit with its response ids sorted.
    pub fn new(kind: JudgmentKind, prompt_id: PromptId, mut response_ids: Vec<ResponseId>) -> Self {
        response_ids.sort_unstable();
        Self {
            kind,
            prompt_id,
            response_ids,
        }
    }
}

/// Records that `annotator_id` skipped `unit`; returns the skip's id (later skips have larger ids).
pub async fn insert(
    conn: &mut Conn,
    project_id: ProjectId,
    annotator_id: AnnotatorId,
    unit: &UnitRow,
) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO skips (project_id, annotator_id, kind, prompt_id, response_ids) VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(project_id)
    .bind(annotator_id)
    .bind(unit.kind)
    .bind(unit.prompt_id)
    .bind(to_json("skips.response_ids", &unit.response_ids)?)
    .fetch_one(&mut *conn)
    .await?)
}

/// The units of `kind` that `annotator_id` skipped in the project, each with the id of their
/// latest skip (the later the skip, the larger), oldest latest skip first.
pub async fn latest(
    conn: &mut Conn,
    project_id: ProjectId,
    annotator_id: AnnotatorId,
    kind: JudgmentKind,
) -> Result<Vec<(UnitRow, i64)>> {
    let rows: Vec<(PromptId, String, i64)> = sqlx::query_as(
        "SELECT prompt_id, response_ids, MAX(id) AS last FROM skips
         WHERE project_id = $1 AND annotator_id = $2 AND kind = $3
         GROUP BY prompt_id, response_ids ORDER BY last",
    )
    .bind(project_id)
    .bind(annotator_id)
    .bind(kind)
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter()
        .map(|(prompt_id, ids, last)| {
            Ok((
                UnitRow::new(kind, prompt_id, parse_json("skips.response_ids", &ids)?),
                last,
            ))
        })
        .collect()
}

/// Number of skips per annotator id in the project (every skip counts, repeats included).
pub async fn counts(conn: &mut Conn, project_id: ProjectId) -> Result<Vec<(AnnotatorId, i64)>> {
    Ok(sqlx::query_as(
        "SELECT annotator_id, COUNT(*) FROM skips WHERE project_id = $1 GROUP BY annotator_id ORDER BY annotator_id",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}
