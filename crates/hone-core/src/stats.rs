//! A project's numbers at a glance: what was collected, by whom, how much annotators agree,
//! and what training data it makes.

use std::collections::BTreeMap;

use hone_store::{annotators, judgments, projects, prompts, responses, JudgmentKind, Split};
use serde::{Deserialize, Serialize};

use crate::agreement::AgreementReport;
use crate::dataset::SnapshotFilter;
use crate::{Hone, Result};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotatorStats {
    pub name: String,
    pub judgments: BTreeMap<JudgmentKind, i64>,
    pub total: i64,
    /// Mean time spent per judgment, in ms (imports record 0).
    pub mean_time_ms: f64,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectStats {
    pub project: String,
    pub prompts_train: i64,
    pub prompts_heldout: i64,
    pub responses: usize,
    pub judgments: BTreeMap<JudgmentKind, i64>,
    pub annotators: Vec<AnnotatorStats>,
    pub agreement: Vec<AgreementReport>,
    /// Rows the train split's judgments make now.
    pub rows_preference: usize,
    pub rows_sft: usize,
    pub rows_kto: usize,
    pub conflicts: usize,
}

impl Hone {
    pub async fn stats(&self, project_id: i64) -> Result<ProjectStats> {
        let mut conn = self.store().conn().await?;
        let project = projects::get(&mut conn, project_id).await?;
        let mut by_kind = BTreeMap::new();
        let mut by_annotator: BTreeMap<i64, BTreeMap<JudgmentKind, i64>> = BTreeMap::new();
        for (kind, annotator_id, count) in judgments::counts(&mut conn, project_id).await? {
            *by_kind.entry(kind).or_default() += count;
            *by_annotator
                .entry(annotator_id)
                .or_default()
                .entry(kind)
                .or_default() += count;
        }
        let all = judgments::list(&mut conn, project_id, None).await?;
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
            });
        }
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
            agreement: self.agreement(project_id).await?,
            rows_preference: data.preferences.len(),
            rows_sft: data.sft.len(),
            rows_kto: data.kto.len(),
            conflicts: data.conflicts.len(),
        })
    }
}
