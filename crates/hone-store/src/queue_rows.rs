//! What the labeling queue's in-memory index is kept up to date from (see migration 0008): the
//! rows added after the largest ids the index has seen, without their texts; the judgments
//! deleted, superseded or made current again since its last look (`queue_changes`, logged by
//! triggers); and the project's revision, bumped by triggers when a prompt or response is
//! deleted.
//!
//! New rows get ids above the table's largest (SQLite's writers take turns, and batch inserts
//! number after the table's largest), so "after id N" is everything new, except a judgment
//! that takes the id of one just deleted: that is logged as a change too.

use std::collections::HashSet;

use crate::{dialect, Conn};

use crate::judgments::{self, Judgment};
use crate::{JudgmentId, JudgmentKind, ProjectId, PromptId, ResponseId, ResponseSource, Result};

/// Where an index stands: the largest ids it has read of each table, and the last change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Watermarks {
    pub change: i64,
    pub prompt: i64,
    pub response: i64,
    pub judgment: i64,
}

/// What a project holds beyond an index's [`Watermarks`], read in one statement: a refresh
/// then reads only the tables that moved (on PostgreSQL every query is a round trip, made
/// under the index's lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Moved {
    pub revision: i64,
    #[sqlx(try_from = "dialect::IntBool")]
    pub changes: bool,
    #[sqlx(try_from = "dialect::IntBool")]
    pub prompts: bool,
    #[sqlx(try_from = "dialect::IntBool")]
    pub responses: bool,
    #[sqlx(try_from = "dialect::IntBool")]
    pub judgments: bool,
    /// Whether an import of the project is running (its rows wait until it is done).
    #[sqlx(try_from = "dialect::IntBool")]
    pub imports_running: bool,
}

/// What moved in the project beyond `marks` (judgments of `kind` only), and its revision. The
/// same conditions as [`changes_after`], [`prompts_after`], [`responses_after`],
/// [`judgments_after`] and [`unfinished_imports`], so in one transaction a `false` here means
/// that query would return nothing.
pub async fn moved(
    conn: &mut Conn,
    project_id: ProjectId,
    kind: JudgmentKind,
    marks: Watermarks,
) -> Result<Moved> {
    let cross_join = dialect::backend(conn).cross_join();
    let flag =
        |exists: &str| format!("CAST(CASE WHEN EXISTS ({exists}) THEN 1 ELSE 0 END AS BIGINT)");
    let sql = format!(
        "SELECT COALESCE((SELECT revision FROM queue_revisions WHERE project_id = $1), 0) AS revision,          {} AS changes, {} AS prompts, {} AS responses, {} AS judgments, {} AS imports_running",
        flag("SELECT 1 FROM queue_changes WHERE project_id = $1 AND seq > $2"),
        flag("SELECT 1 FROM prompts WHERE id > $3 AND +project_id = $1"),
        flag(&format!(
            "SELECT 1 FROM responses r {cross_join} prompts p ON p.id = r.prompt_id \
             WHERE r.id > $4 AND p.project_id = $1"
        )),
        flag(
            "SELECT 1 FROM judgments WHERE project_id = $1 AND kind = $5 AND id > $6 \
             AND superseded_by IS NULL"
        ),
        flag("SELECT 1 FROM imports WHERE project_id = $1 AND state = 'running'"),
    );
    Ok(sqlx::query_as(&sql)
        .bind(project_id)
        .bind(marks.change)
        .bind(marks.prompt)
        .bind(marks.response)
        .bind(kind)
        .bind(marks.judgment)
        .fetch_one(&mut *conn)
        .await?)
}

/// The project's queue revision: 0 until a prompt or response of it is deleted.
pub async fn revision(conn: &mut Conn, project_id: ProjectId) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT revision FROM queue_revisions WHERE project_id = $1")
            .bind(project_id)
            .fetch_optional(&mut *conn)
            .await?
            .unwrap_or(0),
    )
}

/// Every (project, kind) that has judgments, in order: the queue indexes worth building when a
/// server starts.
pub async fn judged_kinds(conn: &mut Conn) -> Result<Vec<(ProjectId, JudgmentKind)>> {
    Ok(
        sqlx::query_as("SELECT DISTINCT project_id, kind FROM judgments ORDER BY project_id, kind")
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// The judgments of the project deleted, superseded or made current again after change `after`
/// (a sequence number of `queue_changes`), as (sequence number, judgment id), in order.
pub async fn changes_after(
    conn: &mut Conn,
    project_id: ProjectId,
    after: i64,
) -> Result<Vec<(i64, JudgmentId)>> {
    Ok(sqlx::query_as(
        "SELECT seq, judgment_id FROM queue_changes WHERE project_id = $1 AND seq > $2 ORDER BY seq",
    )
    .bind(project_id)
    .bind(after)
    .fetch_all(&mut *conn)
    .await?)
}

/// The project's last change's sequence number (0 before any): where an index built now
/// starts reading changes.
pub async fn last_change(conn: &mut Conn, project_id: ProjectId) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM queue_changes WHERE project_id = $1")
            .bind(project_id)
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// Where the project's removals stand: its revision and its last change. Equal marks read at
/// two moments mean no row of the project was deleted and no judgment changed in between.
pub async fn removals_mark(conn: &mut Conn, project_id: ProjectId) -> Result<(i64, i64)> {
    Ok((
        revision(conn, project_id).await?,
        last_change(conn, project_id).await?,
    ))
}

/// A prompt as the queue needs it: its id and the import run that wrote it, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct PromptRow {
    pub id: PromptId,
    pub import_id: Option<i64>,
}

/// The project's prompts with ids above `after`, in id order.
pub async fn prompts_after(
    conn: &mut Conn,
    project_id: ProjectId,
    after: i64,
) -> Result<Vec<PromptRow>> {
    // `+project_id`: walk the rowid range, not the (project_id, content_hash) index, which
    // would visit every prompt of the project to find the few new ones.
    Ok(sqlx::query_as(
        "SELECT id, import_id FROM prompts WHERE id > $1 AND +project_id = $2 ORDER BY id",
    )
    .bind(after)
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// A response as the queue needs it: no text, only whether it is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ResponseRow {
    pub id: ResponseId,
    pub prompt_id: PromptId,
    pub source: ResponseSource,
    pub import_id: Option<i64>,
    #[sqlx(try_from = "dialect::IntBool")]
    pub empty: bool,
}

/// The responses to the project's prompts with ids above `after`, in id order.
pub async fn responses_after(
    conn: &mut Conn,
    project_id: ProjectId,
    after: i64,
) -> Result<Vec<ResponseRow>> {
    // CROSS JOIN: SQLite keeps `responses` outside, walking its rowid range, instead of
    // visiting every prompt of the project.
    let cross_join = dialect::backend(conn).cross_join();
    Ok(sqlx::query_as(&format!(
        "SELECT r.id, r.prompt_id, r.source, r.import_id, \
         CASE WHEN length(r.text) = 0 THEN 1 ELSE 0 END AS empty \
         FROM responses r {cross_join} prompts p ON p.id = r.prompt_id \
         WHERE r.id > $1 AND p.project_id = $2 ORDER BY r.id"
    ))
    .bind(after)
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// The project's judgments of `kind` with ids above `after` that are not superseded, in id
/// order, each with the import run that wrote it (whether that run is done or not).
pub async fn judgments_after(
    conn: &mut Conn,
    project_id: ProjectId,
    kind: JudgmentKind,
    after: i64,
) -> Result<Vec<(Judgment, Option<i64>)>> {
    let imported: Vec<(JudgmentId, i64)> = sqlx::query_as(
        "SELECT id, import_id FROM judgments WHERE project_id = $1 AND kind = $2 AND id > $3 \
         AND superseded_by IS NULL AND import_id IS NOT NULL",
    )
    .bind(project_id)
    .bind(kind)
    .bind(after)
    .fetch_all(&mut *conn)
    .await?;
    let imported: std::collections::HashMap<JudgmentId, i64> = imported.into_iter().collect();
    Ok(judgments::list_current_after(conn, project_id, kind, after)
        .await?
        .into_iter()
        .map(|j| {
            let run = imported.get(&j.id).copied();
            (j, run)
        })
        .collect())
}

/// The judgments with these ids that still exist, each with the import run that wrote it, in
/// id order (whether superseded or not: the queue looks at what changed).
pub async fn judgments_by_id(
    conn: &mut Conn,
    ids: &[JudgmentId],
) -> Result<Vec<(Judgment, Option<i64>)>> {
    let list = judgments::get_many(conn, ids).await?;
    let ids_in = dialect::backend(conn).json_ids(1);
    let runs: Vec<(JudgmentId, Option<i64>)> = sqlx::query_as(&format!(
        "SELECT id, import_id FROM judgments WHERE id IN ({ids_in})"
    ))
    .bind(serde_json::to_string(ids).expect("ids as JSON"))
    .fetch_all(&mut *conn)
    .await?;
    let runs: std::collections::HashMap<JudgmentId, Option<i64>> = runs.into_iter().collect();
    Ok(list
        .into_iter()
        .map(|j| {
            let run = runs.get(&j.id).copied().flatten();
            (j, run)
        })
        .collect())
}

/// The project's import runs still running (or being undone): their rows do not count yet. An
/// undone run's rows are deleted (which bumps the revision) or, where others' judgments hold
/// them, released from the run.
pub async fn unfinished_imports(conn: &mut Conn, project_id: ProjectId) -> Result<HashSet<i64>> {
    let ids: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM imports WHERE project_id = $1 AND state = 'running'")
            .bind(project_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(ids.into_iter().collect())
}
