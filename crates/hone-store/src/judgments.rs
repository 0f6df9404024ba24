//! Judgments: what every kind shares (annotator, time spent, order shown, guideline version,
//! critique) in `judgments`, and the kind-specific part in one table per kind.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use sqlx::Connection;

use crate::Conn;

use crate::dialect::{self, Rows, Value};
use crate::error::{parse_json, to_json};
use crate::{
    AnnotatorId, Choice, ImportRunId, JudgmentId, JudgmentKind, ProjectId, PromptId, ResponseId,
    Result, StoreError,
};

/// A marked character range of a response (Unicode scalar offsets, end exclusive).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpanMark {
    pub start: i64,
    pub end: i64,
    pub label: String,
    pub note: Option<String>,
}

/// The kind-specific content of a judgment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JudgmentBody {
    /// Response A against response B of the same prompt; A and B are as shown (left, right).
    Comparison {
        response_a: ResponseId,
        response_b: ResponseId,
        choice: Choice,
        strength: Option<i64>,
        reason: Option<String>,
    },
    /// Responses best first.
    Ranking { ranked: Vec<ResponseId> },
    /// One score per project criterion.
    Rating {
        response_id: ResponseId,
        scores: BTreeMap<String, i64>,
    },
    /// The corrected text is stored as its own response; `diff` is unified, original → corrected.
    Edit {
        response_id: ResponseId,
        corrected_response_id: ResponseId,
        diff: String,
    },
    Span {
        response_id: ResponseId,
        spans: Vec<SpanMark>,
    },
    /// A binary verdict: desirable or not.
    Thumbs { response_id: ResponseId, up: bool },
    /// The response is a reference answer to imitate.
    Demonstration { response_id: ResponseId },
    /// Free text only (in the judgment's `critique`).
    Critique { response_id: ResponseId },
}

impl JudgmentBody {
    pub fn kind(&self) -> JudgmentKind {
        match self {
            JudgmentBody::Comparison { .. } => JudgmentKind::Comparison,
            JudgmentBody::Ranking { .. } => JudgmentKind::Ranking,
            JudgmentBody::Rating { .. } => JudgmentKind::Rating,
            JudgmentBody::Edit { .. } => JudgmentKind::Edit,
            JudgmentBody::Span { .. } => JudgmentKind::Span,
            JudgmentBody::Thumbs { .. } => JudgmentKind::Thumbs,
            JudgmentBody::Demonstration { .. } => JudgmentKind::Demonstration,
            JudgmentBody::Critique { .. } => JudgmentKind::Critique,
        }
    }

    /// The responses this judgment is about (for an edit: the original only).
    pub fn response_ids(&self) -> Vec<ResponseId> {
        match self {
            JudgmentBody::Comparison {
                response_a,
                response_b,
                ..
            } => vec![*response_a, *response_b],
            JudgmentBody::Ranking { ranked } => ranked.clone(),
            JudgmentBody::Rating { response_id, .. }
            | JudgmentBody::Edit { response_id, .. }
            | JudgmentBody::Span { response_id, .. }
            | JudgmentBody::Thumbs { response_id, .. }
            | JudgmentBody::Demonstration { response_id }
            | JudgmentBody::Critique { response_id } => vec![*response_id],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewJudgment {
    pub project_id: ProjectId,
    pub prompt_id: PromptId,
    pub annotator_id: AnnotatorId,
    pub time_spent_ms: i64,
    /// Response ids in the order the annotator saw them.
    pub shown_order: Vec<ResponseId>,
    pub guideline_version: Option<i64>,
    pub critique: Option<String>,
    /// An AI suggestion was on screen when it was made.
    pub suggestion_visible: bool,
    /// The answer that suggestion preferred.
    pub suggested_response_id: Option<ResponseId>,
    pub body: JudgmentBody,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Judgment {
    pub id: JudgmentId,
    pub project_id: ProjectId,
    pub prompt_id: PromptId,
    pub annotator_id: AnnotatorId,
    pub time_spent_ms: i64,
    pub shown_order: Vec<ResponseId>,
    pub guideline_version: Option<i64>,
    pub critique: Option<String>,
    pub created_at: String,
    /// An AI suggestion was on screen when it was made.
    pub suggestion_visible: bool,
    /// The answer that suggestion preferred.
    pub suggested_response_id: Option<ResponseId>,
    /// The judgment that replaced this one (a re-judgment by the same annotator); a superseded
    /// judgment is kept but no longer counts.
    #[serde(default)]
    pub superseded_by: Option<JudgmentId>,
    pub body: JudgmentBody,
}

impl Judgment {
    pub fn kind(&self) -> JudgmentKind {
        self.body.kind()
    }
}

/// Writes the judgment and its kind-specific rows atomically (a savepoint inside the caller's
/// transaction, or a transaction of its own). Returns the new id.
pub async fn insert(conn: &mut Conn, new: &NewJudgment) -> Result<JudgmentId> {
    let mut tx = conn.begin().await?;
    let id: JudgmentId = sqlx::query_scalar(
        "INSERT INTO judgments (project_id, prompt_id, kind, annotator_id, time_spent_ms, shown_order, guideline_version, critique, suggestion_visible, suggested_response_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(new.project_id)
    .bind(new.prompt_id)
    .bind(new.body.kind())
    .bind(new.annotator_id)
    .bind(new.time_spent_ms)
    .bind(to_json("judgments.shown_order", &new.shown_order)?)
    .bind(new.guideline_version)
    .bind(&new.critique)
    .bind(i64::from(new.suggestion_visible))
    .bind(new.suggested_response_id)
    .fetch_one(&mut *tx)
    .await?;

    match &new.body {
        JudgmentBody::Comparison {
            response_a,
            response_b,
            choice,
            strength,
            reason,
        } => {
            sqlx::query("INSERT INTO comparisons (judgment_id, response_a, response_b, choice, strength, reason) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(id)
                .bind(response_a)
                .bind(response_b)
                .bind(choice)
                .bind(strength)
                .bind(reason)
                .execute(&mut *tx)
                .await?;
        }
        JudgmentBody::Ranking { ranked } => {
            for (rank, response_id) in ranked.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO ranking_entries (judgment_id, rank, response_id) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(rank as i64)
                .bind(response_id)
                .execute(&mut *tx)
                .await?;
            }
        }
        body => {
            let response_id = body.response_ids()[0];
            sqlx::query("INSERT INTO judged_responses (judgment_id, response_id) VALUES ($1, $2)")
                .bind(id)
                .bind(response_id)
                .execute(&mut *tx)
                .await?;
            insert_single_response_details(&mut tx, id, body).await?;
        }
    }
    tx.commit().await?;
    Ok(id)
}

async fn insert_single_response_details(
    conn: &mut Conn,
    id: JudgmentId,
    body: &JudgmentBody,
) -> Result<()> {
    match body {
        JudgmentBody::Rating { scores, .. } => {
            for (criterion, value) in scores {
                sqlx::query(
                    "INSERT INTO rating_scores (judgment_id, criterion, value) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(criterion)
                .bind(value)
                .execute(&mut *conn)
                .await?;
            }
        }
        JudgmentBody::Edit {
            corrected_response_id,
            diff,
            ..
        } => {
            sqlx::query(
                "INSERT INTO edits (judgment_id, corrected_response_id, diff) VALUES ($1, $2, $3)",
            )
            .bind(id)
            .bind(corrected_response_id)
            .bind(diff)
            .execute(&mut *conn)
            .await?;
        }
        JudgmentBody::Span { spans, .. } => {
            for (position, span) in spans.iter().enumerate() {
                sqlx::query(
                    "INSERT INTO span_annotations (judgment_id, position, char_start, char_end, label, note) VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(id)
                .bind(position as i64)
                .bind(span.start)
                .bind(span.end)
                .bind(&span.label)
                .bind(&span.note)
                .execute(&mut *conn)
                .await?;
            }
        }
        JudgmentBody::Thumbs { up, .. } => {
            sqlx::query("INSERT INTO thumbs (judgment_id, up) VALUES ($1, $2)")
                .bind(id)
                .bind(i64::from(*up))
                .execute(&mut *conn)
                .await?;
        }
        JudgmentBody::Demonstration { .. } | JudgmentBody::Critique { .. } => {}
        JudgmentBody::Comparison { .. } | JudgmentBody::Ranking { .. } => {
            unreachable!("not a single-response kind")
        }
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct BaseRow {
    id: JudgmentId,
    project_id: ProjectId,
    prompt_id: PromptId,
    kind: JudgmentKind,
    annotator_id: AnnotatorId,
    time_spent_ms: i64,
    shown_order: String,
    guideline_version: Option<i64>,
    critique: Option<String>,
    created_at: String,
    suggestion_visible: i64,
    suggested_response_id: Option<ResponseId>,
    superseded_by: Option<JudgmentId>,
}

/// A judgment's row with the import run that wrote it.
#[derive(sqlx::FromRow)]
struct WithRun {
    #[sqlx(flatten)]
    base: BaseRow,
    import_id: Option<ImportRunId>,
}

const BASE_COLUMNS: &str =
    "id, project_id, prompt_id, kind, annotator_id, time_spent_ms, shown_order, guideline_version, critique, created_at, suggestion_visible, suggested_response_id, superseded_by";

pub async fn get(conn: &mut Conn, id: JudgmentId) -> Result<Judgment> {
    get_many(conn, &[id])
        .await?
        .pop()
        .ok_or_else(|| StoreError::not_found("judgment", id))
}

/// The judgments with these ids, in id order; ids that do not exist are left out.
pub async fn get_many(conn: &mut Conn, ids: &[JudgmentId]) -> Result<Vec<Judgment>> {
    let ids_in = dialect::backend(conn).json_ids(1);
    let rows: Vec<BaseRow> = sqlx::query_as(&format!(
        "SELECT {BASE_COLUMNS} FROM judgments WHERE id IN ({ids_in}) ORDER BY id"
    ))
    .bind(to_json("ids", &ids)?)
    .fetch_all(&mut *conn)
    .await?;
    hydrate(conn, rows).await
}

/// The project's judgments in id order, optionally of one kind.
pub async fn list(
    conn: &mut Conn,
    project_id: ProjectId,
    kind: Option<JudgmentKind>,
) -> Result<Vec<Judgment>> {
    let rows: Vec<BaseRow> = sqlx::query_as(&format!(
        "SELECT {BASE_COLUMNS} FROM judgments WHERE project_id = $1 AND ($2 IS NULL OR kind = $2) ORDER BY id"
    ))
    .bind(project_id)
    .bind(kind)
    .fetch_all(&mut *conn)
    .await?;
    hydrate(conn, rows).await
}

/// Leaves out the judgments of an import run that is not done (see `imports`).
const NOT_PENDING: &str =
    "(import_id IS NULL OR import_id NOT IN (SELECT id FROM imports WHERE state <> 'done'))";

/// The project's judgments that count now (not superseded by a re-judgment, not part of an
/// import still under way), in id order, optionally of one kind.
pub async fn list_current(
    conn: &mut Conn,
    project_id: ProjectId,
    kind: Option<JudgmentKind>,
) -> Result<Vec<Judgment>> {
    let rows: Vec<BaseRow> = sqlx::query_as(&format!(
        "SELECT {BASE_COLUMNS} FROM judgments WHERE project_id = $1 AND ($2 IS NULL OR kind = $2) AND superseded_by IS NULL AND {NOT_PENDING} ORDER BY id"
    ))
    .bind(project_id)
    .bind(kind)
    .fetch_all(&mut *conn)
    .await?;
    hydrate(conn, rows).await
}

/// The project's judgments of `kind` with ids above `after` that are not superseded and meet
/// `filter` (SQL, `AND …`), in id order, `limit` (SQL, `LIMIT n` or nothing) at most, each
/// with the import run that wrote it (for the queue's index: see `queue_rows`).
pub(crate) async fn list_current_after(
    conn: &mut Conn,
    project_id: ProjectId,
    kind: JudgmentKind,
    after: i64,
    filter: &str,
    limit: &str,
) -> Result<Vec<(Judgment, Option<ImportRunId>)>> {
    let rows: Vec<WithRun> = sqlx::query_as(&format!(
        "SELECT {BASE_COLUMNS}, import_id FROM judgments WHERE project_id = $1 AND kind = $2 AND id > $3 AND superseded_by IS NULL{filter} ORDER BY id{limit}"
    ))
    .bind(project_id)
    .bind(kind)
    .bind(after)
    .fetch_all(&mut *conn)
    .await?;
    let runs: Vec<Option<ImportRunId>> = rows.iter().map(|r| r.import_id).collect();
    let list = hydrate(conn, rows.into_iter().map(|r| r.base).collect()).await?;
    Ok(list.into_iter().zip(runs).collect())
}

/// `annotator_id`'s judgments of `kind` on `prompt_id` that are not superseded, in id order
/// (the queue re-reads them when one of them goes away).
pub async fn list_current_by_on_prompt(
    conn: &mut Conn,
    prompt_id: PromptId,
    annotator_id: AnnotatorId,
    kind: JudgmentKind,
) -> Result<Vec<Judgment>> {
    let rows: Vec<BaseRow> = sqlx::query_as(&format!(
        "SELECT {BASE_COLUMNS} FROM judgments WHERE prompt_id = $1 AND annotator_id = $2 AND kind = $3 AND superseded_by IS NULL ORDER BY id"
    ))
    .bind(prompt_id)
    .bind(annotator_id)
    .bind(kind)
    .fetch_all(&mut *conn)
    .await?;
    hydrate(conn, rows).await
}

/// Marks judgment `old` as replaced by judgment `new`. Refused (`Duplicate`) when `old` was
/// already superseded; `NotFound` when it does not exist. The domain's rules (same annotator,
/// project and kind) are checked by the caller.
pub async fn supersede(conn: &mut Conn, old: JudgmentId, new: JudgmentId) -> Result<()> {
    let done = sqlx::query(
        "UPDATE judgments SET superseded_by = $2 WHERE id = $1 AND superseded_by IS NULL",
    )
    .bind(old)
    .bind(new)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::unique("superseding judgment", new))?;
    if done.rows_affected() == 0 {
        let by: Option<Option<i64>> =
            sqlx::query_scalar("SELECT superseded_by FROM judgments WHERE id = $1")
                .bind(old)
                .fetch_optional(&mut *conn)
                .await?;
        return Err(match by {
            None => StoreError::not_found("judgment", old),
            Some(_) => StoreError::Duplicate {
                entity: "supersession of judgment",
                key: old.to_string(),
            },
        });
    }
    Ok(())
}

/// The judgment that `id` replaced, if any.
pub async fn superseded_by_this(conn: &mut Conn, id: JudgmentId) -> Result<Option<JudgmentId>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM judgments WHERE superseded_by = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// The ids of the project's judgments that some dataset snapshot holds.
pub async fn held_by_snapshots(conn: &mut Conn, project_id: ProjectId) -> Result<Vec<JudgmentId>> {
    Ok(sqlx::query_scalar(
        "SELECT DISTINCT sj.judgment_id FROM snapshot_judgments sj JOIN judgments j ON j.id = sj.judgment_id
         JOIN dataset_snapshots d ON d.id = sj.snapshot_id
         WHERE j.project_id = $1 AND d.complete = 1 ORDER BY sj.judgment_id",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Deletes a judgment (undo). Refused by the schema when a dataset snapshot holds it.
pub async fn delete(conn: &mut Conn, id: JudgmentId) -> Result<()> {
    let done = sqlx::query("DELETE FROM judgments WHERE id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("judgment", id));
    }
    Ok(())
}

/// Number of judgments per (kind, annotator id) in the project, superseded ones and those of
/// an import under way left out.
pub async fn counts(
    conn: &mut Conn,
    project_id: ProjectId,
) -> Result<Vec<(JudgmentKind, AnnotatorId, i64)>> {
    Ok(sqlx::query_as(&format!(
        "SELECT kind, annotator_id, COUNT(*) FROM judgments WHERE project_id = $1 AND superseded_by IS NULL AND {NOT_PENDING} GROUP BY kind, annotator_id ORDER BY kind, annotator_id",
    ))
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}

async fn hydrate(conn: &mut Conn, rows: Vec<BaseRow>) -> Result<Vec<Judgment>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids = to_json("ids", &rows.iter().map(|r| r.id).collect::<Vec<_>>())?;
    let kinds: std::collections::HashSet<JudgmentKind> = rows.iter().map(|r| r.kind).collect();
    let details = Details::load(conn, &ids, &kinds).await?;
    rows.into_iter().map(|row| details.assemble(row)).collect()
}

/// response_a, response_b, choice, strength, reason
type ComparisonParts = (ResponseId, ResponseId, Choice, Option<i64>, Option<String>);

/// The kind-specific rows of a set of judgments, keyed by judgment id.
#[derive(Default)]
struct Details {
    comparisons: HashMap<JudgmentId, ComparisonParts>,
    rankings: HashMap<JudgmentId, Vec<ResponseId>>,
    responses: HashMap<JudgmentId, ResponseId>,
    scores: HashMap<JudgmentId, BTreeMap<String, i64>>,
    edits: HashMap<JudgmentId, (ResponseId, String)>,
    spans: HashMap<JudgmentId, Vec<SpanMark>>,
    thumbs: HashMap<JudgmentId, bool>,
}

impl Details {
    /// Reads only the tables of `kinds`: each query is a round trip to a database server, and
    /// the labeling queue's index, which reads new judgments of one kind often, needs one table.
    async fn load(
        conn: &mut Conn,
        ids_json: &str,
        kinds: &std::collections::HashSet<JudgmentKind>,
    ) -> Result<Self> {
        use JudgmentKind as K;
        let any = |wanted: &[JudgmentKind]| wanted.iter().any(|k| kinds.contains(k));
        let in_ids = format!("judgment_id IN ({})", dialect::backend(conn).json_ids(1));
        let mut details = Details::default();

        if any(&[K::Comparison]) {
            #[allow(clippy::type_complexity)] // one tuple per SELECT column, named just below
            let rows: Vec<(JudgmentId, ResponseId, ResponseId, Choice, Option<i64>, Option<String>)> = sqlx::query_as(&format!(
                "SELECT judgment_id, response_a, response_b, choice, strength, reason FROM comparisons WHERE {in_ids}"
            ))
            .bind(ids_json)
            .fetch_all(&mut *conn)
            .await?;
            details.comparisons.extend(rows.into_iter().map(
                |(id, a, b, choice, strength, reason)| (id, (a, b, choice, strength, reason)),
            ));
        }

        if any(&[K::Ranking]) {
            let rows: Vec<(JudgmentId, ResponseId)> = sqlx::query_as(&format!(
                "SELECT judgment_id, response_id FROM ranking_entries WHERE {in_ids} ORDER BY judgment_id, rank"
            ))
            .bind(ids_json)
            .fetch_all(&mut *conn)
            .await?;
            for (id, response_id) in rows {
                details.rankings.entry(id).or_default().push(response_id);
            }
        }

        let single = [
            K::Rating,
            K::Edit,
            K::Span,
            K::Thumbs,
            K::Demonstration,
            K::Critique,
        ];
        if any(&single) {
            let rows: Vec<(JudgmentId, ResponseId)> = sqlx::query_as(&format!(
                "SELECT judgment_id, response_id FROM judged_responses WHERE {in_ids}"
            ))
            .bind(ids_json)
            .fetch_all(&mut *conn)
            .await?;
            details.responses.extend(rows);
        }

        if any(&[K::Rating]) {
            let rows: Vec<(JudgmentId, String, i64)> = sqlx::query_as(&format!(
                "SELECT judgment_id, criterion, value FROM rating_scores WHERE {in_ids}"
            ))
            .bind(ids_json)
            .fetch_all(&mut *conn)
            .await?;
            for (id, criterion, value) in rows {
                details
                    .scores
                    .entry(id)
                    .or_default()
                    .insert(criterion, value);
            }
        }

        if any(&[K::Edit]) {
            let rows: Vec<(JudgmentId, ResponseId, String)> = sqlx::query_as(&format!(
                "SELECT judgment_id, corrected_response_id, diff FROM edits WHERE {in_ids}"
            ))
            .bind(ids_json)
            .fetch_all(&mut *conn)
            .await?;
            for (id, corrected, diff) in rows {
                details.edits.insert(id, (corrected, diff));
            }
        }

        if any(&[K::Span]) {
            let rows: Vec<(JudgmentId, i64, i64, String, Option<String>)> = sqlx::query_as(&format!(
                "SELECT judgment_id, char_start, char_end, label, note FROM span_annotations WHERE {in_ids} ORDER BY judgment_id, position"
            ))
            .bind(ids_json)
            .fetch_all(&mut *conn)
            .await?;
            for (id, start, end, label, note) in rows {
                details.spans.entry(id).or_default().push(SpanMark {
                    start,
                    end,
                    label,
                    note,
                });
            }
        }

        if any(&[K::Thumbs]) {
            let rows: Vec<(JudgmentId, i64)> = sqlx::query_as(&format!(
                "SELECT judgment_id, up FROM thumbs WHERE {in_ids}"
            ))
            .bind(ids_json)
            .fetch_all(&mut *conn)
            .await?;
            details
                .thumbs
                .extend(rows.into_iter().map(|(id, up)| (id, up != 0)));
        }
        Ok(details)
    }

    fn assemble(&self, row: BaseRow) -> Result<Judgment> {
        let id = row.id;
        let missing = || StoreError::not_found("judgment details", id);
        let response_id = || self.responses.get(&id).copied().ok_or_else(missing);
        let body = match row.kind {
            JudgmentKind::Comparison => {
                let (response_a, response_b, choice, strength, reason) =
                    self.comparisons.get(&id).cloned().ok_or_else(missing)?;
                JudgmentBody::Comparison {
                    response_a,
                    response_b,
                    choice,
                    strength,
                    reason,
                }
            }
            // Like rating scores and spans, a ranking has no row of its own: zero entries is an empty list.
            JudgmentKind::Ranking => JudgmentBody::Ranking {
                ranked: self.rankings.get(&id).cloned().unwrap_or_default(),
            },
            JudgmentKind::Rating => JudgmentBody::Rating {
                response_id: response_id()?,
                scores: self.scores.get(&id).cloned().unwrap_or_default(),
            },
            JudgmentKind::Edit => {
                let (corrected_response_id, diff) =
                    self.edits.get(&id).cloned().ok_or_else(missing)?;
                JudgmentBody::Edit {
                    response_id: response_id()?,
                    corrected_response_id,
                    diff,
                }
            }
            JudgmentKind::Span => JudgmentBody::Span {
                response_id: response_id()?,
                spans: self.spans.get(&id).cloned().unwrap_or_default(),
            },
            JudgmentKind::Thumbs => JudgmentBody::Thumbs {
                response_id: response_id()?,
                up: self.thumbs.get(&id).copied().ok_or_else(missing)?,
            },
            JudgmentKind::Demonstration => JudgmentBody::Demonstration {
                response_id: response_id()?,
            },
            JudgmentKind::Critique => JudgmentBody::Critique {
                response_id: response_id()?,
            },
        };
        Ok(Judgment {
            id,
            project_id: row.project_id,
            prompt_id: row.prompt_id,
            annotator_id: row.annotator_id,
            time_spent_ms: row.time_spent_ms,
            shown_order: parse_json("judgments.shown_order", &row.shown_order)?,
            guideline_version: row.guideline_version,
            critique: row.critique,
            created_at: row.created_at,
            suggestion_visible: row.suggestion_visible != 0,
            suggested_response_id: row.suggested_response_id,
            superseded_by: row.superseded_by,
            body,
        })
    }
}

/// The dataset snapshots that hold this judgment (a judgment in one can no longer be undone);
/// complete ones only, as every reader of snapshots sees them.
pub async fn snapshots_holding(conn: &mut Conn, id: JudgmentId) -> Result<Vec<crate::SnapshotId>> {
    Ok(sqlx::query_scalar(
        "SELECT sj.snapshot_id FROM snapshot_judgments sj JOIN dataset_snapshots d ON d.id = sj.snapshot_id
         WHERE sj.judgment_id = $1 AND d.complete = 1 ORDER BY sj.snapshot_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Whether a snapshot being written in parts holds this judgment already (it cannot be
/// undone meanwhile: the part that froze it must stay true).
pub async fn being_frozen(conn: &mut Conn, id: JudgmentId) -> Result<bool> {
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM snapshot_judgments sj JOIN dataset_snapshots d ON d.id = sj.snapshot_id
         WHERE sj.judgment_id = $1 AND d.complete = 0 LIMIT 1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    Ok(held.is_some())
}

/// A verdict an import creates, as re-imports compare them: a comparison's chosen answer A
/// over B (strength and reason aside), a thumbs verdict, a demonstration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImportedVerdict {
    Preferred {
        chosen: ResponseId,
        rejected: ResponseId,
    },
    Thumbs {
        response_id: ResponseId,
        up: bool,
    },
    Demonstration {
        response_id: ResponseId,
    },
}

impl ImportedVerdict {
    pub fn kind(self) -> JudgmentKind {
        match self {
            ImportedVerdict::Preferred { .. } => JudgmentKind::Comparison,
            ImportedVerdict::Thumbs { .. } => JudgmentKind::Thumbs,
            ImportedVerdict::Demonstration { .. } => JudgmentKind::Demonstration,
        }
    }
}

/// The verdicts of these kinds that `annotator_id` already recorded on these responses (as a
/// comparison's A, or the judged response), in one query per kind and chunk of ids. The
/// `CROSS JOIN`s make SQLite start from the responses (indexed) rather than from the
/// annotator's judgments: an import's annotator has them all, and that scan made imports
/// quadratic. A
/// re-import finds its judgments here instead of recording them twice.
pub async fn verdicts_on(
    conn: &mut Conn,
    annotator_id: AnnotatorId,
    response_ids: &[ResponseId],
) -> Result<std::collections::HashSet<ImportedVerdict>> {
    let mut found = std::collections::HashSet::new();
    let backend = dialect::backend(conn);
    for chunk in response_ids.chunks(crate::prompts::BATCH_ROWS) {
        let [preferred_sql, singles_sql] = verdicts_on_sql(backend, chunk.len());
        let mut query = sqlx::query_as(&preferred_sql).bind(annotator_id);
        for id in chunk {
            query = query.bind(*id);
        }
        let pairs: Vec<(ResponseId, ResponseId)> = query.fetch_all(&mut *conn).await?;
        found.extend(
            pairs
                .into_iter()
                .map(|(chosen, rejected)| ImportedVerdict::Preferred { chosen, rejected }),
        );

        let mut query = sqlx::query_as(&singles_sql).bind(annotator_id);
        for id in chunk {
            query = query.bind(*id);
        }
        let singles: Vec<(ResponseId, JudgmentKind, Option<i64>)> =
            query.fetch_all(&mut *conn).await?;
        found.extend(
            singles
                .into_iter()
                .map(|(response_id, kind, up)| match kind {
                    JudgmentKind::Thumbs => ImportedVerdict::Thumbs {
                        response_id,
                        up: up.is_some_and(|up| up != 0),
                    },
                    _ => ImportedVerdict::Demonstration { response_id },
                }),
        );
    }
    Ok(found)
}

/// [`verdicts_on`]'s two queries (comparisons won, then thumbs and demonstrations) for
/// `ids` response ids bound after the annotator's.
fn verdicts_on_sql(backend: dialect::Backend, ids: usize) -> [String; 2] {
    let cross_join = backend.cross_join();
    let list = dialect::params(2, ids);
    [
        format!(
            "SELECT c.response_a, c.response_b FROM comparisons c {cross_join} judgments j ON j.id = c.judgment_id WHERE c.choice = 'a' AND j.annotator_id = $1 AND c.response_a IN ({list})"
        ),
        format!(
            "SELECT r.response_id, j.kind, t.up FROM judged_responses r {cross_join} judgments j ON j.id = r.judgment_id LEFT JOIN thumbs t ON t.judgment_id = j.id WHERE j.kind IN ('thumbs', 'demonstration') AND j.annotator_id = $1 AND r.response_id IN ({list})"
        ),
    ]
}

/// One judgment of an import run, attributed to the run's annotator.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedJudgment {
    pub prompt_id: PromptId,
    pub verdict: ImportedVerdict,
}

/// Writes an import run's judgments (no time spent, nothing shown, no critique) in a few
/// statements; returns their ids, in order. It assigns ids, so it needs the caller's write
/// transaction (`BEGIN IMMEDIATE`).
pub async fn insert_imported(
    conn: &mut Conn,
    project_id: ProjectId,
    annotator_id: AnnotatorId,
    guideline_version: Option<i64>,
    import_id: ImportRunId,
    news: &[ImportedJudgment],
) -> Result<Vec<JudgmentId>> {
    let ids = dialect::allocate_ids(conn, "judgments", news.len()).await?;
    let rows: Vec<(JudgmentId, &ImportedJudgment)> =
        ids.into_iter().map(JudgmentId).zip(news).collect();
    for chunk in rows.chunks(crate::prompts::BATCH_ROWS) {
        let mut insert = Rows::new(
            "INSERT INTO judgments (id, project_id, prompt_id, kind, annotator_id, guideline_version, import_id) ",
        );
        for (id, new) in chunk {
            insert.row([
                Value::from(*id),
                project_id.into(),
                new.prompt_id.into(),
                new.verdict.kind().as_str().into(),
                annotator_id.into(),
                guideline_version.into(),
                import_id.into(),
            ]);
        }
        insert.execute(conn).await?;

        let mut comparisons =
            Rows::new("INSERT INTO comparisons (judgment_id, response_a, response_b, choice) ");
        let mut singles = Rows::new("INSERT INTO judged_responses (judgment_id, response_id) ");
        let mut thumbs = Rows::new("INSERT INTO thumbs (judgment_id, up) ");
        for (id, new) in chunk {
            match new.verdict {
                ImportedVerdict::Preferred { chosen, rejected } => {
                    comparisons.row([
                        Value::from(*id),
                        chosen.into(),
                        rejected.into(),
                        Choice::A.as_str().into(),
                    ]);
                }
                ImportedVerdict::Thumbs { response_id, up } => {
                    singles.row([Value::from(*id), response_id.into()]);
                    thumbs.row([Value::from(*id), up.into()]);
                }
                ImportedVerdict::Demonstration { response_id } => {
                    singles.row([Value::from(*id), response_id.into()]);
                }
            }
        }
        comparisons.execute(conn).await?;
        singles.execute(conn).await?;
        thumbs.execute(conn).await?;
    }
    Ok(rows.into_iter().map(|(id, _)| id).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 17's quadratic import: each chunk's look-up of what the import's annotator already
    /// recorded started from that annotator's judgments (all of the import's), so 100k pairs
    /// took over 300 s. SQLite must start from the chunk's responses, by index, and reach each
    /// judgment by its id: the work then grows with the chunk, not with what was imported.
    #[tokio::test]
    async fn the_verdict_look_up_starts_from_the_chunks_responses_not_the_annotators_judgments() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(&dir.path().join("plan.db"))
            .await
            .unwrap();
        let mut conn = store.conn().await.unwrap();
        let chunk = crate::prompts::BATCH_ROWS;
        for (sql, responses) in verdicts_on_sql(dialect::Backend::Sqlite, chunk)
            .iter()
            .zip(["c", "r"])
        {
            let explain = format!("EXPLAIN QUERY PLAN {sql}");
            let mut plan = sqlx::query_as(&explain).bind(7_i64);
            for id in 0..chunk as i64 {
                plan = plan.bind(id);
            }
            let rows: Vec<(i64, i64, i64, String)> = plan.fetch_all(&mut *conn).await.unwrap();
            let steps: Vec<&str> = rows.iter().map(|row| row.3.as_str()).collect();
            assert!(
                steps[0].starts_with(&format!("SEARCH {responses} USING ")),
                "the outer loop must be the chunk's responses: {steps:?}"
            );
            let judgments = steps
                .iter()
                .find(|step| step.starts_with("SEARCH j "))
                .unwrap_or_else(|| panic!("no look-up of the judgments: {steps:?}"));
            assert!(
                judgments.contains("rowid=?"),
                "each judgment is reached by its id: {steps:?}"
            );
            assert!(
                !steps.iter().any(|step| step.starts_with("SCAN")),
                "no table is scanned: {steps:?}"
            );
        }
    }
}
