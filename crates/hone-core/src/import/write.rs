//! Writing checked records, one chunk per short transaction (sized by `pace`), in a few
//! statements per chunk.
//!
//! Per chunk: the prompts already in the project are found by content hash in one query, the
//! new ones inserted together; likewise the responses (by prompt and text) and the verdicts
//! this annotator already recorded (a re-import records nothing twice). Rows carry the run's
//! id, so they stay pending until the run finishes.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use hone_store::judgments::{self, ImportedJudgment, ImportedVerdict};
use hone_store::{imports, prompts, responses, Store};

use super::record::Record;
use super::ImportReport;
use crate::{AnnotatorId, ImportRunId, ProjectId, PromptId, ResponseId, Result};

/// What stays the same for every chunk of a run.
pub(super) struct Target {
    pub project_id: ProjectId,
    pub import_id: ImportRunId,
    pub annotator_id: AnnotatorId,
    pub guideline_version: Option<i64>,
}

/// Writes one chunk of records in one transaction and adds what it did to `report`; how long
/// it held the writer (from its turn to its commit), which sizes the next chunk (`pace`).
pub(super) async fn write_chunk(
    store: &Store,
    target: &Target,
    records: &[(usize, Record)],
    written_before: i64,
    report: &mut ImportReport,
) -> Result<Duration> {
    let mut tx = store.begin().await?;
    let turn = Instant::now();

    // Prompts: found by content hash, or created (first appearance in the chunk wins).
    let hashes: Vec<String> = records
        .iter()
        .map(|(_, r)| r.prompt().content_hash())
        .collect();
    let mut prompt_ids = prompts::ids_by_hash(&mut tx, target.project_id, &hashes).await?;
    let existed: HashSet<PromptId> = prompt_ids.values().copied().collect();
    let mut new_prompts = Vec::new();
    let mut new_hashes: Vec<&String> = Vec::new();
    let mut chunk_new: HashSet<&String> = HashSet::new();
    for ((_, record), hash) in records.iter().zip(&hashes) {
        if prompt_ids.contains_key(hash) || !chunk_new.insert(hash) {
            report.prompts_existing += 1;
        } else {
            new_prompts.push(record.prompt());
            new_hashes.push(hash);
            report.prompts_created += 1;
        }
    }
    let created =
        prompts::insert_batch(&mut tx, target.project_id, target.import_id, &new_prompts).await?;
    prompt_ids.extend(new_hashes.into_iter().cloned().zip(created));
    let record_prompts: Vec<PromptId> = hashes.iter().map(|h| prompt_ids[h]).collect();
    let tags: Vec<(PromptId, &str)> = records
        .iter()
        .zip(&record_prompts)
        .flat_map(|((_, r), id)| r.prompt().tags.iter().map(move |t| (*id, t.as_str())))
        .collect();
    prompts::add_tags_batch(&mut tx, &tags).await?;

    // Responses: an existing prompt's response with the same text is the same response.
    let wanted: Vec<(PromptId, &str)> = records
        .iter()
        .zip(&record_prompts)
        .flat_map(|((_, r), prompt)| answers(r).into_iter().map(move |t| (*prompt, t)))
        .collect();
    let old_prompts: Vec<PromptId> = record_prompts
        .iter()
        .filter(|id| existed.contains(id))
        .copied()
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut response_ids: HashMap<(PromptId, &str), ResponseId> = HashMap::new();
    let existing = responses::texts_of_prompts(&mut tx, &old_prompts).await?;
    for (id, prompt, text) in &existing {
        response_ids.entry((*prompt, text.as_str())).or_insert(*id);
    }
    let mut new_responses = Vec::new();
    let mut seen = HashSet::new();
    for key in &wanted {
        if !response_ids.contains_key(key) && seen.insert(*key) {
            new_responses.push(*key);
        }
    }
    report.responses_created += new_responses.len();
    let created = responses::insert_batch(&mut tx, target.import_id, &new_responses).await?;
    response_ids.extend(new_responses.into_iter().zip(created));

    // Verdicts: skip what this annotator already said (earlier chunk, earlier import, or a
    // line repeated in this chunk).
    let mut verdicts: Vec<ImportedJudgment> = Vec::new();
    for ((_, record), prompt_id) in records.iter().zip(&record_prompts) {
        let id = |text: &str| response_ids[&(*prompt_id, text)];
        let verdict = match record {
            Record::Prompt { .. } => continue,
            Record::Preference {
                chosen, rejected, ..
            } => ImportedVerdict::Preferred {
                chosen: id(chosen),
                rejected: id(rejected),
            },
            Record::Sft { completion, .. } => ImportedVerdict::Demonstration {
                response_id: id(completion),
            },
            Record::Kto {
                completion, label, ..
            } => ImportedVerdict::Thumbs {
                response_id: id(completion),
                up: *label,
            },
        };
        verdicts.push(ImportedJudgment {
            prompt_id: *prompt_id,
            verdict,
        });
    }
    let judged: Vec<ResponseId> = verdicts
        .iter()
        .map(|j| match j.verdict {
            ImportedVerdict::Preferred { chosen, .. } => chosen,
            ImportedVerdict::Thumbs { response_id, .. }
            | ImportedVerdict::Demonstration { response_id } => response_id,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut already = judgments::verdicts_on(&mut tx, target.annotator_id, &judged).await?;
    let mut new_judgments = Vec::new();
    for judgment in verdicts {
        if already.insert(judgment.verdict) {
            *report.judgments.entry(judgment.verdict.kind()).or_default() += 1;
            new_judgments.push(judgment);
        } else {
            report.judgments_existing += 1;
        }
    }
    judgments::insert_imported(
        &mut tx,
        target.project_id,
        target.annotator_id,
        target.guideline_version,
        target.import_id,
        &new_judgments,
    )
    .await?;
    imports::set_records(
        &mut tx,
        target.import_id,
        written_before + records.len() as i64,
    )
    .await?;
    tx.commit().await?;
    Ok(turn.elapsed())
}

/// The answers a record carries (none for a prompt alone).
fn answers(record: &Record) -> Vec<&str> {
    match record {
        Record::Prompt { .. } => Vec::new(),
        Record::Preference {
            chosen, rejected, ..
        } => vec![chosen.as_str(), rejected.as_str()],
        Record::Sft { completion, .. } | Record::Kto { completion, .. } => {
            vec![completion.as_str()]
        }
    }
}
