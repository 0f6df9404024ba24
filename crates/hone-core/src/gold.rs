//! Gold items: the lead marks one of their own judgments as the known answer of its item. The
//! queue mixes gold items into every other annotator's work at the project's `gold_rate`
//! (without saying which they are), and the annotator report scores each annotator's verdicts
//! on them against the gold answer (see [`crate::verdict`] for what counts as agreeing).

use hone_store::judgments::{self, Judgment};
use hone_store::{annotators, gold, JudgmentKind};
use serde::{Deserialize, Serialize};

use crate::verdict::{describe, Verdict};
use crate::{AnnotatorId, CoreError, Hone, JudgmentId, ProjectId, PromptId, ResponseId, Result};

/// The kinds a gold answer can be given for: those with a verdict to compare.
pub const GOLD_KINDS: &[JudgmentKind] = &[
    JudgmentKind::Comparison,
    JudgmentKind::Ranking,
    JudgmentKind::Rating,
    JudgmentKind::Thumbs,
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GoldItem {
    pub judgment_id: JudgmentId,
    pub kind: JudgmentKind,
    pub prompt_id: PromptId,
    pub response_ids: Vec<ResponseId>,
    /// Who gave the gold answer.
    pub annotator: String,
    /// The answer in words ("prefers response 12 to 13", "best: response 5", …).
    pub answer: String,
}

fn item(j: &Judgment, annotator: String) -> GoldItem {
    GoldItem {
        judgment_id: j.id,
        kind: j.kind(),
        prompt_id: j.prompt_id,
        response_ids: j.body.response_ids(),
        annotator,
        answer: describe(&j.body),
    }
}

impl Hone {
    /// Marks judgment `judgment_id` as the gold answer of its item (again: no change).
    pub async fn mark_gold(&self, judgment_id: JudgmentId) -> Result<GoldItem> {
        let mut conn = self.store().conn().await?;
        let j = judgments::get(&mut conn, judgment_id).await?;
        if !GOLD_KINDS.contains(&j.kind()) || Verdict::of(&j.body).is_none() {
            let kinds: Vec<&str> = GOLD_KINDS.iter().map(|k| k.as_str()).collect();
            return Err(CoreError::invalid(
                "judgment_id",
                format!(
                    "judgment {judgment_id} is a {}; gold answers are {}",
                    j.kind(),
                    kinds.join(", ")
                ),
            ));
        }
        gold::mark(&mut conn, judgment_id).await?;
        let name = annotators::get(&mut conn, j.annotator_id).await?.name;
        Ok(item(&j, name))
    }

    /// Unmarks a gold judgment; the judgment itself stays.
    pub async fn unmark_gold(&self, judgment_id: JudgmentId) -> Result<()> {
        if !gold::unmark(&mut *self.store().conn().await?, judgment_id).await? {
            return Err(CoreError::invalid(
                "judgment_id",
                format!("judgment {judgment_id} is not a gold item"),
            ));
        }
        Ok(())
    }

    /// The project's gold items, oldest first.
    pub async fn gold_items(&self, project_id: ProjectId) -> Result<Vec<GoldItem>> {
        let mut conn = self.store().conn().await?;
        let ids = gold::list(&mut conn, project_id).await?;
        let names: std::collections::HashMap<AnnotatorId, String> = annotators::list(&mut conn)
            .await?
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect();
        Ok(judgments::get_many(&mut conn, &ids)
            .await?
            .iter()
            .map(|j| item(j, names.get(&j.annotator_id).cloned().unwrap_or_default()))
            .collect())
    }
}
