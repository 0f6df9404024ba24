//! What the labeling queue's in-memory index is kept up to date from (see migration 0008): the
//! rows added after the ids the index has read, without their texts (rows of no import whole,
//! an import's a bounded slice at a time: [`Rows`], [`Watermarks`]); the judgments
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
use crate::{
    AnnotatorId, ImportRunId, JudgmentId, JudgmentKind, ProjectId, PromptId, ResponseId,
    ResponseSource, Result,
};

/// The largest id up to which an index has read a table's rows of one kind (see [`Rows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableMarks {
    pub prompt: i64,
    pub response: i64,
    pub judgment: i64,
}

/// Where an index stands: the last change it applied, and per table how far it has read the
/// rows no import wrote (`plain`) and the rows of import runs (`imported`, which may lag: they
/// are read a bounded slice per refresh).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Watermarks {
    pub change: i64,
    pub plain: TableMarks,
    pub imported: TableMarks,
}

/// What a project holds beyond an index's [`Watermarks`], read in one statement: a refresh
/// then reads only the tables that moved (on PostgreSQL every query is a round trip, made
/// under the index's lock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Moved {
    pub revision: i64,
    #[sqlx(try_from = "dialect::IntBool")]
    pub changes: bool,
    /// The largest id of the project's rows (of any origin) above the plain marks, if any:
    /// where the plain marks move once the plain rows up to it are read.
    pub last_prompt: Option<i64>,
    pub last_response: Option<i64>,
    pub last_judgment: Option<i64>,
    /// Whether rows of import runs are left above the imported marks.
    #[sqlx(try_from = "dialect::IntBool")]
    pub imported_prompts: bool,
    #[sqlx(try_from = "dialect::IntBool")]
    pub imported_responses: bool,
    #[sqlx(try_from = "dialect::IntBool")]
    pub imported_judgments: bool,
    /// Whether an import of the project is running (its rows wait until it is done).
    #[sqlx(try_from = "dialect::IntBool")]
    pub imports_running: bool,
}

/// What moved in the project beyond `marks` (judgments of `kind` only), and its revision. The
/// same conditions as [`changes_after`], [`prompts_after`], [`responses_after`],
/// [`judgments_after`] and [`unfinished_imports`], so in one transaction a `None` or `false`
/// here means that query would return nothing.
///
/// The plain marks move to the project's own largest ids, never to a table's largest: SQLite
/// gives the id of a deleted last row again, and a row another project deleted must not hide
/// this project's next one.
pub async fn moved(
    conn: &mut Conn,
    project_id: ProjectId,
    kind: JudgmentKind,
    marks: Watermarks,
) -> Result<Moved> {
    let cross_join = dialect::backend(conn).cross_join();
    let flag =
        |exists: &str| format!("CAST(CASE WHEN EXISTS ({exists}) THEN 1 ELSE 0 END AS BIGINT)");
    let responses = |select: &str, mark: &str, imported: &str| {
        format!(
            "SELECT {select} FROM responses r {cross_join} prompts p ON p.id = r.prompt_id \
             WHERE r.id > {mark} AND p.project_id = $1{imported}"
        )
    };
    let sql = format!(
        "SELECT COALESCE((SELECT revision FROM queue_revisions WHERE project_id = $1), 0) AS revision, \
         {} AS changes, ({}) AS last_prompt, ({}) AS last_response, ({}) AS last_judgment, \
         {} AS imported_prompts, {} AS imported_responses, {} AS imported_judgments, \
         {} AS imports_running",
        flag("SELECT 1 FROM queue_changes WHERE project_id = $1 AND seq > $2"),
        "SELECT MAX(id) FROM prompts WHERE id > $3 AND +project_id = $1",
        responses("MAX(r.id)", "$4", ""),
        "SELECT MAX(id) FROM judgments WHERE project_id = $1 AND kind = $5 AND id > $6",
        flag("SELECT 1 FROM prompts WHERE id > $7 AND +project_id = $1 AND +import_id IS NOT NULL"),
        flag(&responses("1", "$8", " AND +r.import_id IS NOT NULL")),
        flag(
            "SELECT 1 FROM judgments WHERE project_id = $1 AND kind = $5 AND id > $9 \
             AND superseded_by IS NULL AND +import_id IS NOT NULL"
        ),
        flag("SELECT 1 FROM imports WHERE project_id = $1 AND state = 'running'"),
    );
    Ok(sqlx::query_as(&sql)
        .bind(project_id)
        .bind(marks.change)
        .bind(marks.plain.prompt)
        .bind(marks.plain.response)
        .bind(kind)
        .bind(marks.plain.judgment)
        .bind(marks.imported.prompt)
        .bind(marks.imported.response)
        .bind(marks.imported.judgment)
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
    pub import_id: Option<ImportRunId>,
}

/// Which of a table's new rows to read: those no import run wrote (all of them: an annotator's
/// save is read before their next item), or those of import runs (at most `limit`, in id
/// order, so that a refresh stays short while a large import writes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rows {
    Plain,
    Imported { limit: Option<usize> },
}

impl Rows {
    /// The condition on `column` (an `import_id`), unary `+` so that SQLite walks the id range
    /// instead of the partial index of an import's rows.
    fn filter(self, column: &str) -> String {
        match self {
            Rows::Plain => format!(" AND +{column} IS NULL"),
            Rows::Imported { .. } => format!(" AND +{column} IS NOT NULL"),
        }
    }

    fn limit(self) -> String {
        match self {
            Rows::Imported { limit: Some(n) } => format!(" LIMIT {n}"),
            _ => String::new(),
        }
    }
}

/// The project's prompts with ids above `after` of `rows`, in id order.
pub async fn prompts_after(
    conn: &mut Conn,
    project_id: ProjectId,
    after: i64,
    rows: Rows,
) -> Result<Vec<PromptRow>> {
    // `+project_id`: walk the rowid range, not the (project_id, content_hash) index, which
    // would visit every prompt of the project to find the few new ones.
    Ok(sqlx::query_as(&format!(
        "SELECT id, import_id FROM prompts WHERE id > $1 AND +project_id = $2{} ORDER BY id{}",
        rows.filter("import_id"),
        rows.limit()
    ))
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
    pub import_id: Option<ImportRunId>,
    #[sqlx(try_from = "dialect::IntBool")]
    pub empty: bool,
}

/// The responses to the project's prompts with ids above `after` of `rows`, in id order.
pub async fn responses_after(
    conn: &mut Conn,
    project_id: ProjectId,
    after: i64,
    rows: Rows,
) -> Result<Vec<ResponseRow>> {
    // CROSS JOIN: SQLite keeps `responses` outside, walking its rowid range, instead of
    // visiting every prompt of the project.
    let cross_join = dialect::backend(conn).cross_join();
    Ok(sqlx::query_as(&format!(
        "SELECT r.id, r.prompt_id, r.source, r.import_id, \
         CASE WHEN length(r.text) = 0 THEN 1 ELSE 0 END AS empty \
         FROM responses r {cross_join} prompts p ON p.id = r.prompt_id \
         WHERE r.id > $1 AND p.project_id = $2{} ORDER BY r.id{}",
        rows.filter("r.import_id"),
        rows.limit()
    ))
    .bind(after)
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// The project's judgments of `kind` with ids above `after` of `rows` that are not
/// superseded, in id order, each with the import run that wrote it (whether that run is done
/// or not).
pub async fn judgments_after(
    conn: &mut Conn,
    project_id: ProjectId,
    kind: JudgmentKind,
    after: i64,
    rows: Rows,
) -> Result<Vec<(Judgment, Option<ImportRunId>)>> {
    judgments::list_current_after(
        conn,
        project_id,
        kind,
        after,
        &rows.filter("import_id"),
        &rows.limit(),
    )
    .await
}

/// `annotator_id`'s judgments of `kind` on `prompt_id` that are not superseded, in id order,
/// each with the import run that wrote it (the queue re-reads them when one goes away).
pub async fn current_on_prompt_by(
    conn: &mut Conn,
    prompt_id: PromptId,
    annotator_id: AnnotatorId,
    kind: JudgmentKind,
) -> Result<Vec<(Judgment, Option<ImportRunId>)>> {
    let list = judgments::list_current_by_on_prompt(conn, prompt_id, annotator_id, kind).await?;
    with_runs(conn, list).await
}

/// Each judgment with the import run that wrote it.
async fn with_runs(
    conn: &mut Conn,
    list: Vec<Judgment>,
) -> Result<Vec<(Judgment, Option<ImportRunId>)>> {
    if list.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<JudgmentId> = list.iter().map(|j| j.id).collect();
    let ids_in = dialect::backend(conn).json_ids(1);
    let runs: Vec<(JudgmentId, Option<ImportRunId>)> = sqlx::query_as(&format!(
        "SELECT id, import_id FROM judgments WHERE id IN ({ids_in})"
    ))
    .bind(serde_json::to_string(&ids).expect("ids as JSON"))
    .fetch_all(&mut *conn)
    .await?;
    let runs: std::collections::HashMap<JudgmentId, Option<ImportRunId>> =
        runs.into_iter().collect();
    Ok(list
        .into_iter()
        .map(|j| {
            let run = runs.get(&j.id).copied().flatten();
            (j, run)
        })
        .collect())
}

/// The judgments with these ids that still exist, each with the import run that wrote it, in
/// id order (whether superseded or not: the queue looks at what changed).
pub async fn judgments_by_id(
    conn: &mut Conn,
    ids: &[JudgmentId],
) -> Result<Vec<(Judgment, Option<ImportRunId>)>> {
    let list = judgments::get_many(conn, ids).await?;
    with_runs(conn, list).await
}

/// The project's import runs still running (or being undone): their rows do not count yet. An
/// undone run's rows are deleted (which bumps the revision) or, where others' judgments hold
/// them, released from the run.
pub async fn unfinished_imports(
    conn: &mut Conn,
    project_id: ProjectId,
) -> Result<HashSet<ImportRunId>> {
    let ids: Vec<ImportRunId> =
        sqlx::query_scalar("SELECT id FROM imports WHERE project_id = $1 AND state = 'running'")
            .bind(project_id)
            .fetch_all(&mut *conn)
            .await?;
    Ok(ids.into_iter().collect())
}
