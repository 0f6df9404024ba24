//! The labeling queue: the next item an annotator should judge.
//!
//! An item ("unit") depends on the kind: a pair of responses for a comparison, a prompt's
//! responses for a ranking, a prompt for a demonstration, one response otherwise. A unit is
//! offered to an annotator who has not judged it yet, while fewer than the project's `overlap`
//! annotators have. Units already started by others come first (so overlap completes), then in
//! prompt order. The order the responses are shown in is shuffled; the front door sends it
//! back as `shown_order` with the judgment.

use std::collections::{BTreeMap, HashMap, HashSet};

use hone_store::judgments::{self, JudgmentBody};
use hone_store::prompts::{self, Prompt};
use hone_store::responses::{self, Response};
use hone_store::{annotators, projects, JudgmentKind, ResponseSource, StoreError};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::{CoreError, Hone, Result};

/// The most responses shown in one ranking.
pub const MAX_RANKED: usize = 6;

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueItem {
    pub kind: JudgmentKind,
    pub prompt: Prompt,
    /// In the order to show them (already shuffled); empty for a demonstration.
    pub responses: Vec<Response>,
    /// How many annotators have judged this unit so far, and how many the project wants.
    pub judged_by: usize,
    pub overlap: usize,
    /// Units this annotator can still judge of this kind, this one included.
    pub remaining: usize,
}

/// What identifies a unit: sorted response ids, or the prompt for a prompt-level kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum UnitKey {
    Responses(Vec<i64>),
    Prompt(i64),
}

fn unit_of(kind: JudgmentKind, body: &JudgmentBody, prompt_id: i64) -> UnitKey {
    match kind {
        JudgmentKind::Ranking | JudgmentKind::Demonstration => UnitKey::Prompt(prompt_id),
        _ => {
            let mut ids = body.response_ids();
            ids.sort_unstable();
            UnitKey::Responses(ids)
        }
    }
}

impl Hone {
    /// The next item for `annotator` to judge with `kind`, or `None` when there is none left.
    pub async fn next_item(&self, project_id: i64, annotator: &str, kind: JudgmentKind) -> Result<Option<QueueItem>> {
        self.next_item_excluding(project_id, annotator, kind, &[]).await
    }

    /// As [`Hone::next_item`], skipping the units whose response ids (in any order) are in
    /// `exclude`: a UI prefetches the item after the one on screen while it is being judged.
    pub async fn next_item_excluding(&self, project_id: i64, annotator: &str, kind: JudgmentKind, exclude: &[Vec<i64>]) -> Result<Option<QueueItem>> {
        let exclude: HashSet<Vec<i64>> = exclude
            .iter()
            .map(|ids| {
                let mut ids = ids.clone();
                ids.sort_unstable();
                ids
            })
            .collect();
        // The same name `record_feedback` stores (it trims), so that "alice " is alice.
        let annotator = annotator.trim();
        if annotator.is_empty() {
            return Err(CoreError::invalid("annotator", "must not be empty"));
        }
        let mut conn = self.store().conn().await?;
        let project = projects::get(&mut conn, project_id).await?;
        let overlap = project.overlap.max(1) as usize;
        let annotator_id = match annotators::get_by_name(&mut conn, annotator).await {
            Ok(a) => Some(a.id),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };

        // Who judged which unit.
        let mut judged: HashMap<UnitKey, HashSet<i64>> = HashMap::new();
        for j in judgments::list(&mut conn, project_id, Some(kind)).await? {
            judged.entry(unit_of(kind, &j.body, j.prompt_id)).or_default().insert(j.annotator_id);
        }

        let prompts: BTreeMap<i64, Prompt> =
            prompts::list(&mut conn, project_id, None).await?.into_iter().map(|p| (p.id, p)).collect();
        let mut by_prompt: BTreeMap<i64, Vec<Response>> = BTreeMap::new();
        for r in responses::list_for_project(&mut conn, project_id).await? {
            by_prompt.entry(r.prompt_id).or_default().push(r);
        }

        // Candidate units in prompt order.
        let mut units: Vec<(UnitKey, i64, Vec<Response>)> = Vec::new();
        for &prompt_id in prompts.keys() {
            let rs = by_prompt.get(&prompt_id).cloned().unwrap_or_default();
            match kind {
                JudgmentKind::Demonstration => units.push((UnitKey::Prompt(prompt_id), prompt_id, Vec::new())),
                JudgmentKind::Ranking => {
                    if rs.len() >= 3 {
                        let shown: Vec<Response> = rs.into_iter().take(MAX_RANKED).collect();
                        units.push((UnitKey::Prompt(prompt_id), prompt_id, shown));
                    }
                }
                JudgmentKind::Comparison => {
                    for i in 0..rs.len() {
                        for j in i + 1..rs.len() {
                            let key = UnitKey::Responses(vec![rs[i].id.min(rs[j].id), rs[i].id.max(rs[j].id)]);
                            units.push((key, prompt_id, vec![rs[i].clone(), rs[j].clone()]));
                        }
                    }
                }
                _ => {
                    // A person's own correction is not sent back for review.
                    for r in rs.into_iter().filter(|r| kind == JudgmentKind::Rating || r.source != ResponseSource::Human) {
                        units.push((UnitKey::Responses(vec![r.id]), prompt_id, vec![r]));
                    }
                }
            }
        }

        let open: Vec<_> = units
            .into_iter()
            .filter(|(_, _, shown)| {
                let mut ids: Vec<i64> = shown.iter().map(|r| r.id).collect();
                ids.sort_unstable();
                ids.is_empty() || !exclude.contains(&ids)
            })
            .filter(|(key, _, _)| {
                let by = judged.get(key);
                let count = by.map_or(0, |s| s.len());
                let mine = annotator_id.is_some_and(|id| by.is_some_and(|s| s.contains(&id)));
                !mine && count < overlap
            })
            .collect();
        let remaining = open.len();
        // Started units first, so that overlap completes before new units open.
        let chosen = open
            .into_iter()
            .enumerate()
            .min_by_key(|(i, (key, _, _))| (judged.get(key).map_or(0, |s| s.len()) == 0, *i));
        let Some((_, (key, prompt_id, mut shown))) = chosen else {
            return Ok(None);
        };
        shown.shuffle(&mut *self.rng.lock().expect("rng lock"));
        Ok(Some(QueueItem {
            kind,
            prompt: prompts[&prompt_id].clone(),
            responses: shown,
            judged_by: judged.get(&key).map_or(0, |s| s.len()),
            overlap,
            remaining,
        }))
    }
}
