//! Integration tests of hone-store against a real SQLite file in a temporary folder, or, when
//! `HONE_TEST_DATABASE` names a PostgreSQL server (`postgres://…`), against a fresh database
//! on it per test (scripts/test.sh runs the binary both ways). One test binary; the modules
//! mirror `src/`.

mod annotators;
mod jobs;
mod judgments;
mod models;
mod open;
mod projects;
mod prompts;
mod queue_rows;
mod responses;
mod snapshots;
mod triage;
mod users;

use hone_store::{
    annotators as annotators_q, projects as projects_q, prompts as prompts_q,
    responses as responses_q, AnnotatorKind, ResponseSource, Store, StoreError, DATABASE_FILE,
};
use sqlx::error::ErrorKind;
use tempfile::TempDir;

/// A fresh store: `hone.sqlite` in a new temporary folder, or a new database on the
/// PostgreSQL server `HONE_TEST_DATABASE` names. Keep the first value alive as long as the
/// store (it holds the temporary folder).
pub async fn open_store() -> (Option<TempDir>, Store) {
    if let Some(server) = std::env::var("HONE_TEST_DATABASE")
        .ok()
        .filter(|url| !url.is_empty())
    {
        let url = hone_store::dialect::create_postgres_database(&server, &fresh_database_name())
            .await
            .expect("create a database on HONE_TEST_DATABASE's server");
        let store = Store::open_at(hone_store::Location::Postgres(url))
            .await
            .expect("open a store on a fresh PostgreSQL database");
        return (None, store);
    }
    let dir = TempDir::new().expect("create a temporary folder");
    let store = Store::open(&dir.path().join(DATABASE_FILE))
        .await
        .expect("open a store on a fresh file");
    (Some(dir), store)
}

/// A database name no other test (of this run or an earlier one) has used.
fn fresh_database_name() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    format!(
        "hone_store_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Asserts `err` is `NotFound` of `entity` with `key`.
#[track_caller]
pub fn assert_not_found(err: StoreError, entity: &str, key: &str) {
    match err {
        StoreError::NotFound { entity: e, key: k } => {
            assert_eq!(
                e, entity,
                "NotFound must name the entity that was looked up"
            );
            assert_eq!(k, key, "NotFound must carry the key that was looked up");
        }
        other => panic!("expected NotFound {entity} {key}, got {other:?}"),
    }
}

/// Asserts `err` is `Duplicate` of `entity` with `key`.
#[track_caller]
pub fn assert_duplicate(err: StoreError, entity: &str, key: &str) {
    match err {
        StoreError::Duplicate { entity: e, key: k } => {
            assert_eq!(e, entity, "Duplicate must name the entity that clashed");
            assert_eq!(k, key, "Duplicate must carry the clashing key");
        }
        other => panic!("expected Duplicate {entity} {key}, got {other:?}"),
    }
}

/// Asserts `err` is a database constraint violation of this kind (CHECK, FOREIGN KEY, UNIQUE, …).
#[track_caller]
pub fn assert_constraint(err: StoreError, kind: ErrorKind) {
    match &err {
        StoreError::Sqlx(sqlx::Error::Database(db)) => {
            assert_eq!(
                db.kind(),
                kind,
                "wrong kind of constraint violation: {}",
                db.message()
            )
        }
        other => panic!("expected a {kind:?} database error, got {other:?}"),
    }
}

/// Rows in `table` (a fixed name from the schema).
pub async fn count_rows(conn: &mut hone_store::Conn, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("count rows of {table}: {e}"))
}

/// A project with one prompt, one annotator and `responses` responses to the prompt.
pub struct Seed {
    pub project_id: hone_store::ProjectId,
    pub prompt_id: hone_store::PromptId,
    pub annotator_id: hone_store::AnnotatorId,
    pub response_ids: Vec<hone_store::ResponseId>,
}

pub async fn seed(conn: &mut hone_store::Conn, project: &str, responses: usize) -> Seed {
    let project = projects_q::create(conn, &projects_q::NewProject::named(project))
        .await
        .expect("create project");
    let (prompt, _) = prompts_q::insert_or_get(
        conn,
        project.id,
        &prompts_q::NewPrompt::text(format!("prompt of {}", project.name)),
    )
    .await
    .expect("insert prompt");
    let annotator = annotators_q::get_or_create(
        conn,
        &format!("expert of {}", project.name),
        AnnotatorKind::Human,
    )
    .await
    .expect("annotator");
    let mut response_ids = Vec::new();
    for i in 0..responses {
        let r = responses_q::insert(
            conn,
            &responses_q::NewResponse::new(
                prompt.id,
                format!("answer {i}"),
                ResponseSource::Import,
            ),
        )
        .await
        .expect("insert response");
        response_ids.push(r.id);
    }
    Seed {
        project_id: project.id,
        prompt_id: prompt.id,
        annotator_id: annotator.id,
        response_ids,
    }
}

/// A thumbs verdict by the seed's annotator on one of its responses.
pub async fn thumbs(
    conn: &mut hone_store::Conn,
    s: &Seed,
    response: usize,
    up: bool,
) -> hone_store::JudgmentId {
    hone_store::judgments::insert(
        conn,
        &hone_store::judgments::NewJudgment {
            project_id: s.project_id,
            prompt_id: s.prompt_id,
            annotator_id: s.annotator_id,
            time_spent_ms: 0,
            shown_order: vec![s.response_ids[response]],
            guideline_version: None,
            critique: None,
            suggestion_visible: false,
            suggested_response_id: None,
            body: hone_store::judgments::JudgmentBody::Thumbs {
                response_id: s.response_ids[response],
                up,
            },
        },
    )
    .await
    .unwrap()
}
