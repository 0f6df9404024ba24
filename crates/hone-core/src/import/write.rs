//! Writing parsed records inside the import's transaction, one savepoint per record.

use hone_store::judgments::{self, JudgmentBody};
use hone_store::prompts::{self, Prompt};
use hone_store::responses::{self, NewResponse};
use hone_store::{annotators, AnnotatorKind, Choice, ResponseSource, SqliteConnection};
use sqlx::Connection;

use super::record::Record;
use super::{ImportOptions, ImportReport, LineError};
use crate::feedback::{record_in, FeedbackInput, FeedbackKind};
use crate::{CoreError, Result};

/// Writes every record; a record the domain rules refuse is rolled back alone and returned
/// as a line error. Errors of the database itself abort the whole import.
pub(super) async fn write_records(
    tx: &mut SqliteConnection,
    project_id: i64,
    records: &[(usize, Record)],
    options: &ImportOptions,
    report: &mut ImportReport,
) -> Result<Vec<LineError>> {
    let mut errors = Vec::new();
    for (line, record) in records {
        let mut savepoint = tx.begin().await?;
        let mut counts = ImportReport::default();
        match write_one(&mut savepoint, project_id, record, options, &mut counts).await {
            Ok(()) => {
                savepoint.commit().await?;
                report.prompts_created += counts.prompts_created;
                report.prompts_existing += counts.prompts_existing;
                report.responses_created += counts.responses_created;
                report.judgments_existing += counts.judgments_existing;
                for (kind, n) in counts.judgments {
                    *report.judgments.entry(kind).or_default() += n;
                }
            }
            Err(CoreError::Invalid { field, message }) => {
                savepoint.rollback().await?;
                errors.push(LineError {
                    line: *line,
                    field: Some(field),
                    message,
                });
            }
            Err(other) => return Err(other),
        }
    }
    Ok(errors)
}

async fn write_one(
    conn: &mut SqliteConnection,
    project_id: i64,
    record: &Record,
    options: &ImportOptions,
    counts: &mut ImportReport,
) -> Result<()> {
    crate::content::validate_prompt("prompt", record.prompt())?;
    let (prompt, created) = prompts::insert_or_get(conn, project_id, record.prompt()).await?;
    if created {
        counts.prompts_created += 1;
    } else {
        counts.prompts_existing += 1;
    }
    let (kind, verdict) = match record {
        Record::Prompt { .. } => return Ok(()),
        Record::Preference {
            chosen, rejected, ..
        } => {
            let chosen = response(conn, &prompt, chosen, counts).await?;
            let rejected = response(conn, &prompt, rejected, counts).await?;
            (
                FeedbackKind::Comparison {
                    response_a: chosen,
                    response_b: rejected,
                    choice: Choice::A,
                    strength: None,
                    reason: None,
                },
                JudgmentBody::Comparison {
                    response_a: chosen,
                    response_b: rejected,
                    choice: Choice::A,
                    strength: None,
                    reason: None,
                },
            )
        }
        Record::Sft { completion, .. } => {
            // Imported first, so that the demonstration finds it with source `import`.
            let response_id = response(conn, &prompt, completion, counts).await?;
            (
                FeedbackKind::Demonstration {
                    prompt_id: prompt.id,
                    text: completion.clone(),
                },
                JudgmentBody::Demonstration { response_id },
            )
        }
        Record::Kto {
            completion, label, ..
        } => {
            let response_id = response(conn, &prompt, completion, counts).await?;
            (
                FeedbackKind::Thumbs {
                    response_id,
                    up: *label,
                },
                JudgmentBody::Thumbs {
                    response_id,
                    up: *label,
                },
            )
        }
    };
    // Importing the same file again records nothing twice.
    let annotator =
        annotators::get_or_create(conn, options.annotator.trim(), AnnotatorKind::Import).await?;
    if judgments::find_same_verdict(conn, annotator.id, &verdict)
        .await?
        .is_some()
    {
        counts.judgments_existing += 1;
        return Ok(());
    }
    let input = FeedbackInput {
        project_id,
        annotator: options.annotator.clone(),
        time_spent_ms: 0,
        shown_order: Vec::new(),
        critique: None,
        suggestion_visible: false,
        suggested_response_id: None,
        supersedes: None,
        kind,
    };
    record_in(conn, &input, AnnotatorKind::Import).await?;
    *counts.judgments.entry(verdict.kind()).or_default() += 1;
    Ok(())
}

/// The prompt's response with this text, imported if new.
async fn response(
    conn: &mut SqliteConnection,
    prompt: &Prompt,
    text: &str,
    counts: &mut ImportReport,
) -> Result<i64> {
    if let Some(existing) = responses::find_by_text(conn, prompt.id, text).await? {
        return Ok(existing.id);
    }
    counts.responses_created += 1;
    Ok(responses::insert(
        conn,
        &NewResponse::new(prompt.id, text, ResponseSource::Import),
    )
    .await?
    .id)
}
