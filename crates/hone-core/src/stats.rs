//! A project's numbers at a glance: what was collected, by whom, how much annotators agree,
//! and what training data it makes.

use std::collections::BTreeMap;

use hone_store::{
    annotators, flags, judgments, projects, prompts, responses, skips, FlagReason, JudgmentKind,
    Split,
};
use serde::{Deserialize, Serialize};

use crate::agreement::AgreementReport;
use crate::dataset::SnapshotFilter;
use crate::{AnnotatorId, Hone, ProjectId, PromptId, Result};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotatorStats {
    pub name: String,
    pub judgments: BTreeMap<JudgmentKind, i64>,
    pub total: i64,
    /// Mean time spent per judgment, in ms (imports record 0).
    pub mean_time_ms: f64,
    /// Times they skipped a unit (each skip, repeats included).
    pub skips: i64,
    /// Units they flagged.
    pub flags: i64,
}

/// A prompt someone flagged `broken_prompt` or `unsafe`: for the lead to fix or remove.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlaggedPrompt {
    pub prompt_id: PromptId,
    /// Cut to 200 characters.
    pub text: String,
    /// Every flag on the prompt's units, by reason.
    pub flags: BTreeMap<FlagReason, i64>,
    /// The flags' notes, oldest first.
    pub notes: Vec<String>,
    /// Who flagged it.
    pub annotators: Vec<String>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectStats {
    pub project: String,
    pub prompts_train: i64,
    pub prompts_heldout: i64,
    pub responses: usize,
    /// Judgments that count (a re-judged judgment is left out), by kind.
    pub judgments: BTreeMap<JudgmentKind, i64>,
    pub annotators: Vec<AnnotatorStats>,
    /// Skips, all annotators together.
    pub skips: i64,
    /// Flags by reason.
    pub flags: BTreeMap<FlagReason, i64>,
    /// Prompts flagged `broken_prompt` or `unsafe` by anyone, most flagged first.
    pub flagged_prompts: Vec<FlaggedPrompt>,
    pub agreement: Vec<AgreementReport>,
    /// Rows the train split's judgments make now.
    pub rows_preference: usize,
    pub rows_sft: usize,
    pub rows_kto: usize,
    pub conflicts: usize,
}

impl Hone {
    pub async fn stats(&self, project_id: ProjectId) -> Result<ProjectStats> {
        let mut conn = self.store().conn().await?;
        let project = projects::get(&mut conn, project_id).await?;
        let mut by_kind = BTreeMap::new();
        let mut by_annotator: BTreeMap<AnnotatorId, BTreeMap<JudgmentKind, i64>> = BTreeMap::new();
        for (kind, annotator_id, count) in judgments::counts(&mut conn, project_id).await? {
            *by_kind.entry(kind).or_default() += count;
            *by_annotator
                .entry(annotator_id)
                .or_default()
                .entry(kind)
                .or_default() += count;
        }
        let all = judgments::list_current(&mut conn, project_id, None).await?;
        let skip_counts: BTreeMap<AnnotatorId, i64> = skips::counts(&mut conn, project_id)
            .await?
            .into_iter()
            .collect();
        let all_flags = flags::list(&mut conn, project_id).await?;
        let mut flag_counts: BTreeMap<AnnotatorId, i64> = BTreeMap::new();
        for f in &all_flags {
            *flag_counts.entry(f.annotator_id).or_default() += 1;
        }
        // Annotators who only skipped or flagged have a row too.
        for id in skip_counts.keys().chain(flag_counts.keys()) {
            by_annotator.entry(*id).or_default();
        }
        let mut annotator_stats = Vec::new();
        for (annotator_id, kinds) in by_annotator {
            let mine: Vec<_> = all
                .iter()
                .filter(|j| j.annotator_id == annotator_id)
                .collect();
            let mean_time_ms =
                mine.iter().map(|j| j.time_spent_ms as f64).sum::<f64>() / mine.len().max(1) as f64;
            annotator_stats.push(AnnotatorStats {
                name: annotators::get(&mut conn, annotator_id).await?.name,
                total: kinds.values().sum(),
                judgments: kinds,
                mean_time_ms,
                skips: skip_counts.get(&annotator_id).copied().unwrap_or(0),
                flags: flag_counts.get(&annotator_id).copied().unwrap_or(0),
            });
        }
        let mut flags_by_reason: BTreeMap<FlagReason, i64> = BTreeMap::new();
        let mut by_prompt: BTreeMap<PromptId, FlaggedPrompt> = BTreeMap::new();
        for f in &all_flags {
            *flags_by_reason.entry(f.reason).or_default() += 1;
        }
        let reported: std::collections::BTreeSet<PromptId> = all_flags
            .iter()
            .filter(|f| f.reason.is_reported())
            .map(|f| f.unit.prompt_id)
            .collect();
        for f in all_flags
            .iter()
            .filter(|f| reported.contains(&f.unit.prompt_id))
        {
            let entry = match by_prompt.entry(f.unit.prompt_id) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => e.insert(FlaggedPrompt {
                    prompt_id: f.unit.prompt_id,
                    text: crate::triage::preview(
                        &prompts::get(&mut conn, f.unit.prompt_id).await?.text,
                    ),
                    flags: BTreeMap::new(),
                    notes: Vec::new(),
                    annotators: Vec::new(),
                }),
            };
            *entry.flags.entry(f.reason).or_default() += 1;
            entry.notes.extend(f.note.clone());
            let name = annotators::get(&mut conn, f.annotator_id).await?.name;
            if !entry.annotators.contains(&name) {
                entry.annotators.push(name);
            }
        }
        let mut flagged_prompts: Vec<FlaggedPrompt> = by_prompt.into_values().collect();
        flagged_prompts.sort_by_key(|p| std::cmp::Reverse(p.flags.values().sum::<i64>()));
        let responses = responses::list_for_project(&mut conn, project_id)
            .await?
            .len();
        let prompts_train = prompts::count(&mut conn, project_id, Some(Split::Train)).await?;
        let prompts_heldout = prompts::count(&mut conn, project_id, Some(Split::Heldout)).await?;
        drop(conn);
        let data = self
            .training_data(project_id, &SnapshotFilter::default())
            .await?;
        Ok(ProjectStats {
            project: project.name,
            prompts_train,
            prompts_heldout,
            responses,
            judgments: by_kind,
            annotators: annotator_stats,
            skips: skip_counts.values().sum(),
            flags: flags_by_reason,
            flagged_prompts,
            agreement: self.agreement(project_id).await?,
            rows_preference: data.preferences.len(),
            rows_sft: data.sft.len(),
            rows_kto: data.kto.len(),
            conflicts: data.conflicts.len(),
        })
    }
}
