//! The labeling queue: the next item an annotator should judge.
//!
//! An item ("unit") depends on the kind: a pair of responses for a comparison, a prompt's
//! responses for a ranking, a prompt for a demonstration, one response otherwise. A unit is
//! offered to an annotator who has not judged it yet, while fewer than the project's `overlap`
//! annotators have. Which open unit comes next is the project's [`QueueOrder`]:
//!
//! - `in_order`: units others have started first (so that overlap completes), then prompt order;
//! - `random`: any open unit;
//! - `least_sure`: the latest reward model's smallest score margin first (the two answers of a
//!   pair, the closest two of a ranking, a single answer's distance to the median score);
//! - `disagreement`: the units whose annotators disagree most first; a unit whose annotators
//!   split evenly stays open past its overlap for a tie-breaking verdict.
//!
//! Units the annotator skipped (see [`crate::triage`]) wait at the back of their queue: they
//! come up only when nothing else is open, the one skipped longest ago first. Units they
//! flagged never come up for them (for a flag about the prompt, none of the prompt's units).
//! Only judgments that count (not superseded by a re-judgment) are votes.
//!
//! Gold items (see [`crate::gold`]) are mixed in at the project's `gold_rate`, shown as picked
//! at random so that the annotator cannot tell them apart. Every item says why it came up
//! (`reason`). The order the responses are shown in is shuffled; the front door sends it back
//! as `shown_order` with the judgment.

use std::collections::{BTreeMap, HashMap, HashSet};

use hone_store::judgments::{self, JudgmentBody};
use hone_store::prompts::{self, Prompt};
use hone_store::responses::{self, Response};
use hone_store::{
    annotators, flags, gold, imports, projects, reward_scores, skips, JudgmentKind, QueueOrder,
    ResponseSource, StoreError,
};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::verdict::Verdict;
use crate::{CoreError, Hone, Result};

/// The most responses shown in one ranking.
pub const MAX_RANKED: usize = 6;

/// The most answers the least-sure order scores while choosing the next item.
pub const INLINE_SCORING: usize = 64;

/// Why the reason for a gold item reads like a random pick: an annotator must not know.
const PICKED_AT_RANDOM: &str = "picked at random";

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
    /// Why this item came up now, in words ("the reward model rm-2 is least sure here: …").
    pub reason: String,
}

/// What identifies a unit: sorted response ids, or the prompt for a prompt-level kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum UnitKey {
    Responses(Vec<i64>),
    Prompt(i64),
}

pub(crate) fn unit_of(kind: JudgmentKind, body: &JudgmentBody, prompt_id: i64) -> UnitKey {
    match kind {
        JudgmentKind::Ranking | JudgmentKind::Demonstration => UnitKey::Prompt(prompt_id),
        _ => {
            let mut ids = body.response_ids();
            ids.sort_unstable();
            UnitKey::Responses(ids)
        }
    }
}

/// A unit that can be offered: its key, prompt and the responses to show.
struct Unit {
    key: UnitKey,
    prompt_id: i64,
    shown: Vec<Response>,
}

impl Unit {
    fn sorted_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.shown.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids
    }
}

/// Every unit of `kind` over the project's prompts, in prompt order.
fn units_of(
    kind: JudgmentKind,
    prompts: &BTreeMap<i64, Prompt>,
    by_prompt: &BTreeMap<i64, Vec<Response>>,
) -> Vec<Unit> {
    let mut units = Vec::new();
    for &prompt_id in prompts.keys() {
        let rs = by_prompt.get(&prompt_id).cloned().unwrap_or_default();
        match kind {
            JudgmentKind::Demonstration => units.push(Unit {
                key: UnitKey::Prompt(prompt_id),
                prompt_id,
                shown: Vec::new(),
            }),
            JudgmentKind::Ranking => {
                if rs.len() >= 3 {
                    units.push(Unit {
                        key: UnitKey::Prompt(prompt_id),
                        prompt_id,
                        shown: rs.into_iter().take(MAX_RANKED).collect(),
                    });
                }
            }
            JudgmentKind::Comparison => {
                for i in 0..rs.len() {
                    for j in i + 1..rs.len() {
                        let key = UnitKey::Responses(vec![
                            rs[i].id.min(rs[j].id),
                            rs[i].id.max(rs[j].id),
                        ]);
                        units.push(Unit {
                            key,
                            prompt_id,
                            shown: vec![rs[i].clone(), rs[j].clone()],
                        });
                    }
                }
            }
            _ => {
                // A person's own correction is not sent back for review.
                for r in rs
                    .into_iter()
                    .filter(|r| kind == JudgmentKind::Rating || r.source != ResponseSource::Human)
                {
                    units.push(Unit {
                        key: UnitKey::Responses(vec![r.id]),
                        prompt_id,
                        shown: vec![r],
                    });
                }
            }
        }
    }
    units
}

/// Each annotator's latest verdict on a unit (`None` for kinds without one).
type Votes = BTreeMap<i64, Option<Verdict>>;

/// How many verdicts fall in each bucket (see `Verdict::bucket`).
fn groups(votes: &Votes) -> BTreeMap<i64, usize> {
    let mut groups = BTreeMap::new();
    for v in votes.values().flatten() {
        *groups.entry(v.bucket()).or_default() += 1;
    }
    groups
}

/// How split the votes are: 1 − (largest group ÷ votes); 0 when fewer than two verdicts.
fn disagreement(votes: &Votes) -> f64 {
    let groups = groups(votes);
    let total: usize = groups.values().sum();
    if total < 2 {
        return 0.0;
    }
    1.0 - *groups.values().max().expect("non-empty") as f64 / total as f64
}

/// Group sizes, largest first.
fn sizes(votes: &Votes) -> Vec<usize> {
    let mut sizes: Vec<usize> = groups(votes).into_values().collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes
}

/// No verdict has a strict majority (two or more verdicts).
fn split_evenly(votes: &Votes) -> bool {
    let sizes = sizes(votes);
    sizes.len() >= 2 && sizes[0] == sizes[1]
}

/// "annotators disagree here (2 verdicts split 1–1)", for a reason.
fn describe_split(votes: &Votes) -> String {
    let sizes: Vec<String> = sizes(votes).iter().map(usize::to_string).collect();
    format!(
        "annotators disagree here ({} verdicts split {})",
        votes.len(),
        sizes.join("–")
    )
}

/// The reward model's uncertainty about a unit: the smaller, the less sure.
fn margin(shown: &[Response], scores: &HashMap<i64, f64>, median: f64) -> Option<f64> {
    let s: Vec<f64> = shown
        .iter()
        .map(|r| scores.get(&r.id).copied())
        .collect::<Option<_>>()?;
    match s.as_slice() {
        [] => None,
        [one] => Some((one - median).abs()),
        many => {
            let mut sorted = many.to_vec();
            sorted.sort_by(|a, b| a.total_cmp(b));
            sorted
                .windows(2)
                .map(|w| w[1] - w[0])
                .min_by(|a, b| a.total_cmp(b))
        }
    }
}

impl Hone {
    /// The next item for `annotator` to judge with `kind`, or `None` when there is none left.
    pub async fn next_item(
        &self,
        project_id: i64,
        annotator: &str,
        kind: JudgmentKind,
    ) -> Result<Option<QueueItem>> {
        self.next_item_excluding(project_id, annotator, kind, &[])
            .await
    }

    /// As [`Hone::next_item`], skipping the units whose response ids (in any order) are in
    /// `exclude`: a UI prefetches the item after the one on screen while it is being judged.
    pub async fn next_item_excluding(
        &self,
        project_id: i64,
        annotator: &str,
        kind: JudgmentKind,
        exclude: &[Vec<i64>],
    ) -> Result<Option<QueueItem>> {
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

        // Who judged which unit, and what they said (judgments come in id order: latest wins).
        let mut votes: HashMap<UnitKey, Votes> = HashMap::new();
        let kind_judgments = judgments::list_current(&mut conn, project_id, Some(kind)).await?;
        for j in &kind_judgments {
            votes
                .entry(unit_of(kind, &j.body, j.prompt_id))
                .or_default()
                .insert(j.annotator_id, Verdict::of(&j.body));
        }
        let gold_ids: HashSet<i64> = gold::list(&mut conn, project_id)
            .await?
            .into_iter()
            .collect();
        let gold_units: HashSet<UnitKey> = kind_judgments
            .iter()
            .filter(|j| gold_ids.contains(&j.id))
            .map(|j| unit_of(kind, &j.body, j.prompt_id))
            .collect();

        // What an import still under way wrote is not there yet: it may be undone.
        let pending = imports::pending_rows(&mut conn, project_id).await?;
        let prompts: BTreeMap<i64, Prompt> = prompts::list(&mut conn, project_id, None)
            .await?
            .into_iter()
            .filter(|p| !pending.prompts.contains(&p.id))
            .map(|p| (p.id, p))
            .collect();
        let mut by_prompt: BTreeMap<i64, Vec<Response>> = BTreeMap::new();
        for r in responses::list_for_project(&mut conn, project_id).await? {
            if !pending.responses.contains(&r.id) {
                by_prompt.entry(r.prompt_id).or_default().push(r);
            }
        }
        // This annotator's skips (unit → its latest skip; later skips have larger ids) and flags.
        let mut skipped_at: HashMap<UnitKey, i64> = HashMap::new();
        let mut flagged: HashSet<UnitKey> = HashSet::new();
        let mut flagged_prompts: HashSet<i64> = HashSet::new();
        if let Some(id) = annotator_id {
            for (unit, last) in skips::latest(&mut conn, project_id, id, kind).await? {
                skipped_at.insert(crate::triage::unit_key(&unit), last);
            }
            for f in flags::list_by(&mut conn, project_id, id).await? {
                if f.reason.is_about_prompt() {
                    flagged_prompts.insert(f.unit.prompt_id);
                }
                if f.unit.kind == kind {
                    flagged.insert(crate::triage::unit_key(&f.unit));
                }
            }
        }
        drop(conn);

        let judged_by = |key: &UnitKey| votes.get(key).map_or(0, |v| v.len());
        let mine = |key: &UnitKey| {
            annotator_id.is_some_and(|id| votes.get(key).is_some_and(|v| v.contains_key(&id)))
        };
        let candidates: Vec<Unit> = units_of(kind, &prompts, &by_prompt)
            .into_iter()
            .filter(|u| !mine(&u.key) && (u.shown.is_empty() || !exclude.contains(&u.sorted_ids())))
            .filter(|u| !flagged.contains(&u.key) && !flagged_prompts.contains(&u.prompt_id))
            .collect();
        // A split unit stays open past its overlap (up to twice it, plus one) when the queue
        // resolves disagreement.
        let tie_break = |key: &UnitKey| {
            project.queue_order == QueueOrder::Disagreement
                && judged_by(key) < 2 * overlap + 1
                && votes.get(key).is_some_and(split_evenly)
        };
        let (open, rest): (Vec<Unit>, Vec<Unit>) = candidates
            .into_iter()
            .partition(|u| judged_by(&u.key) < overlap || tie_break(&u.key));
        if open.is_empty() {
            return Ok(None);
        }
        let remaining = open.len();
        // Skipped units wait until nothing else is open; then the one skipped longest ago.
        let (open, skipped): (Vec<Unit>, Vec<Unit>) = open
            .into_iter()
            .partition(|u| !skipped_at.contains_key(&u.key));
        if open.is_empty() {
            let unit = skipped
                .iter()
                .min_by_key(|u| skipped_at[&u.key])
                .expect("skipped is not empty");
            return Ok(Some(self.item(
                kind,
                &prompts,
                unit,
                judged_by(&unit.key),
                overlap,
                remaining,
                "you skipped it earlier; nothing else is open".to_owned(),
            )));
        }
        // Gold items this annotator has not judged (nor skipped), whether or not their overlap
        // is complete.
        let gold: Vec<&Unit> = open
            .iter()
            .chain(rest.iter().filter(|u| !skipped_at.contains_key(&u.key)))
            .filter(|u| gold_units.contains(&u.key))
            .collect();

        let gold_pick = {
            let mut rng = self.rng.lock().expect("rng lock");
            let draw: f64 = rng.random();
            (draw < project.gold_rate)
                .then(|| gold.choose(&mut *rng).copied())
                .flatten()
        };
        let (unit, reason) = match gold_pick {
            Some(unit) => (unit, PICKED_AT_RANDOM.to_owned()),
            None => {
                let (i, reason) = self
                    .choose(project_id, project.queue_order, &open, &votes, overlap)
                    .await?;
                (&open[i], reason)
            }
        };
        Ok(Some(self.item(
            kind,
            &prompts,
            unit,
            judged_by(&unit.key),
            overlap,
            remaining,
            reason,
        )))
    }

    /// The item showing `unit`, its responses shuffled.
    #[allow(clippy::too_many_arguments)] // the item's fields, named at the call sites
    fn item(
        &self,
        kind: JudgmentKind,
        prompts: &BTreeMap<i64, Prompt>,
        unit: &Unit,
        judged_by: usize,
        overlap: usize,
        remaining: usize,
        reason: String,
    ) -> QueueItem {
        let mut shown = unit.shown.clone();
        shown.shuffle(&mut *self.rng.lock().expect("rng lock"));
        QueueItem {
            kind,
            prompt: prompts[&unit.prompt_id].clone(),
            responses: shown,
            judged_by,
            overlap,
            remaining,
            reason,
        }
    }

    /// The index in `open` (non-empty) of the unit `order` puts first, and why.
    async fn choose(
        &self,
        project_id: i64,
        order: QueueOrder,
        open: &[Unit],
        votes: &HashMap<UnitKey, Votes>,
        overlap: usize,
    ) -> Result<(usize, String)> {
        let in_order = |prefix: &str| {
            let started = |u: &Unit| votes.get(&u.key).map_or(0, |v| v.len());
            let (i, u) = open
                .iter()
                .enumerate()
                .min_by_key(|(i, u)| (started(u) == 0, *i))
                .expect("open is not empty");
            let why = match started(u) {
                0 => "next in prompt order".to_owned(),
                n => format!(
                    "{n} of {overlap} annotators have judged it: finishing its overlap first"
                ),
            };
            (i, format!("{prefix}{why}"))
        };
        match order {
            QueueOrder::InOrder => Ok(in_order("")),
            QueueOrder::Random => Ok((
                self.rng
                    .lock()
                    .expect("rng lock")
                    .random_range(0..open.len()),
                PICKED_AT_RANDOM.to_owned(),
            )),
            QueueOrder::Disagreement => {
                let most = open
                    .iter()
                    .enumerate()
                    .map(|(i, u)| (i, votes.get(&u.key).map_or(0.0, disagreement)))
                    .filter(|(_, d)| *d > 0.0)
                    .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
                Ok(match most {
                    Some((i, _)) => (i, describe_split(&votes[&open[i].key])),
                    None => in_order("no disagreement to resolve; "),
                })
            }
            QueueOrder::LeastSure => {
                if open.iter().all(|u| u.shown.is_empty()) {
                    return Ok(in_order("nothing to score; "));
                }
                let Some(rm) = self.latest_reward_model(project_id, None).await? else {
                    return Ok(in_order("no reward model yet to rank by; "));
                };
                // Answers are scored ahead (after a reward model is trained, after candidates are
                // generated); the few still unscored are scored here, at most INLINE_SCORING per
                // call so that the next item never waits long; units with an unscored answer wait.
                // An empty answer cannot be scored; a unit holding one has no margin.
                let ids: Vec<i64> = open
                    .iter()
                    .flat_map(|u| u.shown.iter().filter(|r| !r.text.is_empty()).map(|r| r.id))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let mut scores =
                    reward_scores::get_many(&mut *self.store().conn().await?, rm.id, &ids).await?;
                let missing: Vec<i64> = ids
                    .iter()
                    .copied()
                    .filter(|id| !scores.contains_key(id))
                    .take(INLINE_SCORING)
                    .collect();
                if !missing.is_empty() {
                    scores.extend(
                        missing
                            .iter()
                            .copied()
                            .zip(self.score_responses(rm.id, &missing).await?),
                    );
                }
                let mid = crate::numbers::median(scores.values().copied().collect()).unwrap_or(0.0);
                let least = open
                    .iter()
                    .enumerate()
                    .filter_map(|(i, u)| Some((i, margin(&u.shown, &scores, mid)?)))
                    .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
                let Some((i, m)) = least else {
                    return Ok(in_order(
                        "the reward model has not scored these answers yet; ",
                    ));
                };
                let what = match open[i].shown.len() {
                    1 => format!("its score is {m:.3} from the median score"),
                    2 => format!("the two answers' scores differ by {m:.3}"),
                    _ => format!("the closest two answers' scores differ by {m:.3}"),
                };
                Ok((
                    i,
                    format!("the reward model {} is least sure here: {what}", rm.name),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disagreement_is_the_share_outside_the_largest_group() {
        let votes = |vs: &[bool]| -> Votes {
            vs.iter()
                .enumerate()
                .map(|(i, up)| (i as i64, Some(Verdict::Thumb(*up))))
                .collect()
        };
        assert_eq!(
            disagreement(&votes(&[true])),
            0.0,
            "one verdict cannot disagree"
        );
        assert!((disagreement(&votes(&[true, true, false])) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(disagreement(&votes(&[true, false])), 0.5);
        assert!(
            split_evenly(&votes(&[true, false])) && !split_evenly(&votes(&[true, true, false]))
        );
    }

    #[test]
    fn the_margin_of_a_unit_is_its_closest_scores_or_the_distance_to_the_median() {
        let r = |id| Response {
            id,
            prompt_id: 1,
            text: String::new(),
            source: ResponseSource::Import,
            model_version_id: None,
            base_model_id: None,
            generation: serde_json::json!({}),
            created_at: String::new(),
        };
        let scores = HashMap::from([(1, 0.5), (2, 0.8), (3, -1.0)]);
        assert!((margin(&[r(1), r(2)], &scores, 0.0).unwrap() - 0.3).abs() < 1e-12);
        assert!(
            (margin(&[r(3), r(1), r(2)], &scores, 0.0).unwrap() - 0.3).abs() < 1e-12,
            "closest two of three"
        );
        assert!((margin(&[r(3)], &scores, 0.5).unwrap() - 1.5).abs() < 1e-12);
        assert_eq!(margin(&[r(4)], &scores, 0.0), None, "unscored");
    }
}
