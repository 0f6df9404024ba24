//! Integration tests of hone-core against a real workspace (SQLite file) in a temporary folder.
//! One test binary; the modules mirror `src/`.

mod agreement;
mod content;
mod dataset;
mod export;
mod feedback;
mod finetune;
mod history;
mod import;
mod import_runs;
mod playground;
mod projects;
mod queue;
mod snapshot;
mod stats;
mod token_level;
mod triage;

use std::path::PathBuf;

use hone_core::feedback::{FeedbackInput, FeedbackKind, Recorded};
use hone_core::projects::ProjectSpec;
use hone_core::store::judgments::{self, Judgment};
use hone_core::store::prompts::NewPrompt;
use hone_core::store::responses::NewResponse;
use hone_core::{CoreError, Hone, ProjectId, ResponseSource};
use tempfile::TempDir;

/// Read when the test runs, not when it is compiled: cargo reuses a test binary built from
/// another checkout of the same workspace (a shared target folder), and a compile-time path
/// would then point into that other checkout.
pub const RUNTIME_MANIFEST_DIR: &str = "cargo test sets CARGO_MANIFEST_DIR";

/// An open workspace in a fresh temporary folder. The `Hone` is dropped before the folder.
pub struct Ws {
    pub hone: Hone,
    pub dir: TempDir,
}

impl std::ops::Deref for Ws {
    type Target = Hone;
    fn deref(&self) -> &Hone {
        &self.hone
    }
}

/// `Hone::open(tempdir).with_seed(7)` on a real temporary folder.
pub async fn open() -> Ws {
    open_seeded(7).await
}

pub async fn open_seeded(seed: u64) -> Ws {
    let dir = TempDir::new().expect("create a temporary folder");
    let hone = Hone::open(dir.path())
        .await
        .expect("open a workspace in a fresh folder")
        .with_seed(seed);
    Ws { hone, dir }
}

/// The folder of the hand-written test files.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect(RUNTIME_MANIFEST_DIR))
        .join("tests/fixtures")
        .join(name)
}

/// A project with the defaults (scale 1–7, threshold 5, overlap 1, criterion `overall`).
pub async fn project(hone: &Hone, name: &str) -> ProjectId {
    hone.create_project(&ProjectSpec::named(name))
        .await
        .expect("create project")
        .project
        .id
}

/// A project with the defaults but `overlap`.
pub async fn project_with_overlap(hone: &Hone, name: &str, overlap: i64) -> ProjectId {
    let mut spec = ProjectSpec::named(name);
    spec.settings.overlap = overlap;
    hone.create_project(&spec)
        .await
        .expect("create project")
        .project
        .id
}

/// A text prompt with model responses; returns (prompt id, response ids in the order given).
pub async fn prompt_with(
    hone: &Hone,
    project_id: ProjectId,
    text: &str,
    responses: &[&str],
) -> (hone_core::PromptId, Vec<hone_core::ResponseId>) {
    let prompt = hone
        .add_prompt(project_id, &NewPrompt::text(text))
        .await
        .expect("add prompt");
    let mut ids = Vec::new();
    for r in responses {
        let response = hone
            .add_response(&NewResponse::new(prompt.id, *r, ResponseSource::Model))
            .await
            .expect("add response");
        ids.push(response.id);
    }
    (prompt.id, ids)
}

/// A prompt with `n` generated responses `"<text> / answer i"`.
pub async fn prompt_n(
    hone: &Hone,
    project_id: ProjectId,
    text: &str,
    n: usize,
) -> (hone_core::PromptId, Vec<hone_core::ResponseId>) {
    let answers: Vec<String> = (0..n).map(|i| format!("{text} / answer {i}")).collect();
    let refs: Vec<&str> = answers.iter().map(String::as_str).collect();
    prompt_with(hone, project_id, text, &refs).await
}

/// Feedback with no time, no critique and the order "as given".
pub fn input(project_id: ProjectId, annotator: &str, kind: FeedbackKind) -> FeedbackInput {
    FeedbackInput::new(project_id, annotator, kind)
}

pub async fn record(hone: &Hone, input: &FeedbackInput) -> Recorded {
    hone.record_feedback(input)
        .await
        .unwrap_or_else(|e| panic!("a valid judgment must be recorded: {e}\n{input:?}"))
}

/// Records `kind` by `annotator` and returns the judgment id.
pub async fn judge(
    hone: &Hone,
    project_id: ProjectId,
    annotator: &str,
    kind: FeedbackKind,
) -> hone_core::JudgmentId {
    record(hone, &input(project_id, annotator, kind))
        .await
        .judgment_id
}

/// A thumbs up or down on `response_id`.
pub fn thumbs(response_id: hone_core::ResponseId, up: bool) -> FeedbackKind {
    FeedbackKind::Thumbs { response_id, up }
}

pub fn compare(
    a: hone_core::ResponseId,
    b: hone_core::ResponseId,
    choice: hone_core::Choice,
) -> FeedbackKind {
    FeedbackKind::Comparison {
        response_a: a,
        response_b: b,
        choice,
        strength: None,
        reason: None,
    }
}

/// The judgment as the store reads it back.
pub async fn stored_judgment(hone: &Hone, id: hone_core::JudgmentId) -> Judgment {
    let mut conn = hone.store().conn().await.expect("connection");
    judgments::get(&mut conn, id)
        .await
        .unwrap_or_else(|e| panic!("judgment {id} must be stored: {e}"))
}

/// Rows in `table` (a fixed name from the schema), across all projects.
pub async fn count_rows(hone: &Hone, table: &str) -> i64 {
    let mut conn = hone.store().conn().await.expect("connection");
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(&mut *conn)
        .await
        .unwrap_or_else(|e| panic!("count rows of {table}: {e}"))
}

/// Asserts that `result` was refused as `Invalid` naming `field`.
#[track_caller]
pub fn assert_invalid<T: std::fmt::Debug>(result: hone_core::Result<T>, field: &str) {
    match result {
        Err(CoreError::Invalid { field: f, message }) => {
            assert_eq!(
                f, field,
                "the error must name the field at fault (message: {message})"
            );
            assert!(!message.is_empty(), "an Invalid error must say why");
        }
        other => panic!("expected Invalid {{ field: {field:?} }}, got {other:?}"),
    }
}
