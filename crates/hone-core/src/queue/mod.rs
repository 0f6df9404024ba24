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
//! On a server (`Hone::with_leases`), a unit given to an annotator is held for them a while
//! ([`leases`]), so that annotators asking at once get different units.
//!
//! Gold items (see [`crate::gold`]) are mixed in at the project's `gold_rate`, shown as picked
//! at random so that the annotator cannot tell them apart. Every item says why it came up
//! (`reason`). The order the responses are shown in is shuffled; the front door sends it back
//! as `shown_order` with the judgment.

mod index;
mod indexes;
pub mod leases;
pub mod progress;
mod timeline;

use std::collections::{HashMap, HashSet};

use hone_store::judgments::JudgmentBody;
use hone_store::prompts::{self, Prompt};
use hone_store::responses::{self, Response};
use hone_store::{
    annotators, flags, gold, projects, queue_rows, reward_scores, skips, Conn, JudgmentKind,
    QueueOrder, StoreError,
};

mod votes;
mod waiting;

use index::{Pos, QueueIndex, Unit};
pub(crate) use indexes::QueueIndexes;
pub(crate) use leases::QueueLeases;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use serde::{Deserialize, Serialize};
use timeline::NextItemTimeline;
use votes::describe_split;

use crate::{AnnotatorId, CoreError, Hone, JudgmentId, ProjectId, PromptId, ResponseId, Result};

/// The most responses shown in one ranking.
pub const MAX_RANKED: usize = 6;

/// The most answers the least-sure order scores while choosing the next item.
pub const INLINE_SCORING: usize = 64;

/// How many times the random order draws an open unit before it lists the eligible ones.
const RANDOM_DRAWS: usize = 64;

/// One annotator as the queue sees them while it picks their next item: which votes are
/// theirs, what they skipped, flagged or have on screen, and what others hold.
#[derive(Default)]
struct Viewer {
    /// `None` for a name not seen yet: no vote is theirs.
    id: Option<AnnotatorId>,
    overlap: usize,
    /// Their latest skip of each unit (later skips have larger ids).
    skipped_at: HashMap<UnitKey, i64>,
    /// Units they flagged, and prompts they flagged (none of whose units come up).
    flagged: HashSet<UnitKey>,
    flagged_prompts: HashSet<PromptId>,
    /// Units on their screen (a UI prefetching the next item), by sorted response ids.
    on_screen: HashSet<Vec<ResponseId>>,
    /// Units others hold (leases), with their holders: read once the index is locked and
    /// fresh, as leases start and end while one waits for it.
    held: HashMap<UnitKey, Vec<Option<AnnotatorId>>>,
}

/// What one annotator may be offered from an index as it stands.
struct Survey {
    /// Units they cannot take now (flagged, on screen), not theirs.
    hidden: HashSet<Pos>,
    /// Open units they could take (not theirs, not hidden).
    remaining: usize,
    /// Those they skipped, each with when.
    skipped: Vec<(i64, Pos)>,
    /// Those others hold whose verdicts and holders reach the overlap.
    held_full: HashSet<Pos>,
}

impl Viewer {
    /// The annotator with their skips and flags of the project read (a name not seen yet has
    /// none); nothing held yet.
    async fn read(
        conn: &mut Conn,
        project_id: ProjectId,
        kind: JudgmentKind,
        id: Option<AnnotatorId>,
        overlap: usize,
        on_screen: HashSet<Vec<ResponseId>>,
    ) -> Result<Self> {
        let mut viewer = Viewer {
            id,
            overlap,
            on_screen,
            ..Viewer::default()
        };
        let Some(id) = id else {
            return Ok(viewer);
        };
        for (unit, last) in skips::latest(conn, project_id, id, kind).await? {
            viewer
                .skipped_at
                .insert(crate::triage::unit_key(&unit), last);
        }
        for f in flags::list_by(conn, project_id, id).await? {
            if f.reason.is_about_prompt() {
                viewer.flagged_prompts.insert(f.unit.prompt_id);
            }
            if f.unit.kind == kind {
                viewer.flagged.insert(crate::triage::unit_key(&f.unit));
            }
        }
        Ok(viewer)
    }

    /// Whether they have a vote on the unit at `pos`.
    fn mine(&self, index: &QueueIndex, pos: Pos) -> bool {
        self.id
            .is_some_and(|id| index.unit(pos).votes.contains_key(&id))
    }

    /// Whether the unit at `pos` may be offered to them (neither theirs nor `hidden`).
    fn offered(&self, index: &QueueIndex, hidden: &HashSet<Pos>, pos: Pos) -> bool {
        !self.mine(index, pos) && !hidden.contains(&pos)
    }

    /// Whether they skipped the unit at `pos` (most skip nothing: no lookup then).
    fn skipped(&self, index: &QueueIndex, pos: Pos) -> bool {
        !self.skipped_at.is_empty() && self.skipped_at.contains_key(&index.unit(pos).key)
    }

    /// What they may be offered from `index` as it stands.
    fn survey(&self, index: &QueueIndex) -> Survey {
        // Open units they cannot take: theirs (the index counts those), and those they flagged
        // or have on screen (a few, looked up).
        let mut hidden: HashSet<Pos> = HashSet::new();
        hidden.extend(self.flagged.iter().filter_map(|key| index.find(key)));
        for &prompt_id in &self.flagged_prompts {
            hidden.extend(index.units_of_prompt(prompt_id));
        }
        hidden.extend(
            self.on_screen
                .iter()
                .filter_map(|ids| index.find_shown(ids)),
        );
        hidden.retain(|&pos| !self.mine(index, pos));
        let offered = |pos: Pos| self.offered(index, &hidden, pos);
        let hidden_open = hidden.iter().filter(|&&pos| index.unit(pos).open).count();
        let remaining = index
            .open_count()
            .saturating_sub(index.mine_open(self.id) + hidden_open);
        // Skipped units wait until nothing else is open; then the one skipped longest ago.
        let skipped: Vec<(i64, Pos)> = self
            .skipped_at
            .iter()
            .filter_map(|(key, &at)| Some((at, index.find(key)?)))
            .filter(|&(_, pos)| index.unit(pos).open && offered(pos))
            .collect();
        // Held units whose verdicts and holders reach the overlap: given to this annotator
        // only when every other open unit is held too.
        let held_full: HashSet<Pos> = self
            .held
            .iter()
            .filter_map(|(key, holders)| {
                let pos = index.find(key)?;
                let unit = index.unit(pos);
                let pending = holders
                    .iter()
                    .filter(|h| !h.is_some_and(|id| unit.votes.contains_key(&id)))
                    .count();
                (unit.open
                    && offered(pos)
                    && !self.skipped_at.contains_key(&unit.key)
                    && unit.votes.len() + pending >= self.overlap)
                    .then_some(pos)
            })
            .collect();
        Survey {
            hidden,
            remaining,
            skipped,
            held_full,
        }
    }
}

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
    Responses(Vec<ResponseId>),
    Prompt(PromptId),
}

pub(crate) fn unit_of(kind: JudgmentKind, body: &JudgmentBody, prompt_id: PromptId) -> UnitKey {
    match kind {
        JudgmentKind::Ranking | JudgmentKind::Demonstration => UnitKey::Prompt(prompt_id),
        _ => {
            let mut ids = body.response_ids();
            ids.sort_unstable();
            UnitKey::Responses(ids)
        }
    }
}

/// The reward model's uncertainty about a unit (its responses' ids): the smaller, the less sure.
fn margin(shown: &[ResponseId], scores: &HashMap<ResponseId, f64>, median: f64) -> Option<f64> {
    let s: Vec<f64> = shown
        .iter()
        .map(|id| scores.get(id).copied())
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
        project_id: ProjectId,
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
        project_id: ProjectId,
        annotator: &str,
        kind: JudgmentKind,
        exclude: &[Vec<ResponseId>],
    ) -> Result<Option<QueueItem>> {
        let exclude: HashSet<Vec<ResponseId>> = exclude
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
        let mut timeline = NextItemTimeline::start(project_id);
        let mut conn = self.store().conn().await?;
        let project = projects::get(&mut conn, project_id).await?;
        let overlap = project.overlap.max(1) as usize;
        let annotator_id = match annotators::get_by_name(&mut conn, annotator).await {
            Ok(a) => Some(a.id),
            Err(StoreError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let gold_ids = gold::list(&mut conn, project_id).await?;
        let mut viewer =
            Viewer::read(&mut conn, project_id, kind, annotator_id, overlap, exclude).await?;
        drop(conn);
        timeline.mark("own_rows");
        // The project's units and votes, brought up to date from the rows added since the
        // last call. No connection is held while waiting for the index: the one holding it
        // needs one. The refresh and the chosen item's texts are read in one read transaction:
        // an import batch committed half-way through the refresh, or a row deleted before the
        // texts are read, cannot be seen by one read and missed by the next.
        let mut index = self.queue_indexes.get(project_id, kind).lock_owned().await;
        timeline.mark("index_wait");
        let mut read = self.store().read().await?;
        index
            .refresh(&mut read, overlap, project.queue_order)
            .await?;
        timeline.mark("refresh");
        // Units others hold (leases), to be weighed against each unit's verdicts.
        if let Some(leases) = &self.queue_leases {
            let now = std::time::Instant::now();
            viewer.held = leases.held_by_others(project_id, kind, annotator, now);
        }
        // With nothing for this annotator but what they skipped or others hold, a finished
        // import's rows not taken in yet are taken, a slice at a time, before settling (and
        // those not read yet are read, in the same read transaction).
        let Survey {
            hidden,
            remaining,
            skipped,
            held_full,
        } = loop {
            let found = viewer.survey(&index);
            if found.held_full.len() + found.skipped.len() < found.remaining {
                break found;
            }
            if index.take_waiting_slice() {
                continue;
            }
            if !index.behind() {
                break found;
            }
            index
                .refresh(&mut read, overlap, project.queue_order)
                .await?;
        };
        let index = index;
        timeline.mark("survey");
        if remaining == 0 {
            return Ok(None);
        }
        if skipped.len() == remaining {
            let (_, pos) = *skipped.iter().min().expect("skipped is not empty");
            let unit = index.unit(pos).clone();
            drop(index);
            self.hold(project_id, kind, &unit, annotator, annotator_id);
            let why = "you skipped it earlier; nothing else is open".to_owned();
            return self
                .item(&mut read, kind, &unit, overlap, remaining, why)
                .await
                .map(Some);
        }
        let open_not_skipped = remaining - skipped.len();
        let avoid_held = held_full.len() < open_not_skipped;
        let eligible = |pos: Pos| {
            viewer.offered(&index, &hidden, pos)
                && !viewer.skipped(&index, pos)
                && !(avoid_held && held_full.contains(&pos))
        };
        let gold_pick = self.gold_pick(&index, &gold_ids, project.gold_rate, &eligible);
        let (pos, reason) = match gold_pick {
            Some(pos) => (pos, PICKED_AT_RANDOM.to_owned()),
            None => {
                self.choose(project_id, project.queue_order, &index, &eligible)
                    .await?
            }
        };
        let unit = index.unit(pos).clone();
        drop(index);
        timeline.mark("choose");
        self.hold(project_id, kind, &unit, annotator, annotator_id);
        let item = self
            .item(&mut read, kind, &unit, overlap, remaining, reason)
            .await?;
        timeline.mark("texts");
        Ok(Some(item))
    }

    /// A gold item, at the project's gold rate: one this annotator may be offered (`eligible`:
    /// not judged, skipped or hidden), whether or not its overlap is complete, open ones
    /// first, each in prompt order.
    fn gold_pick(
        &self,
        index: &QueueIndex,
        gold_ids: &[JudgmentId],
        gold_rate: f64,
        eligible: &impl Fn(Pos) -> bool,
    ) -> Option<Pos> {
        let mut gold: Vec<(bool, Pos)> = gold_ids
            .iter()
            .filter_map(|&id| index.find(index.unit_of_judgment(id)?))
            .filter(|&pos| eligible(pos))
            .map(|pos| (!index.unit(pos).open, pos))
            .collect();
        gold.sort_unstable();
        gold.dedup();
        let mut rng = self.rng.lock().expect("rng lock");
        let draw: f64 = rng.random();
        (draw < gold_rate)
            .then(|| gold.choose(&mut *rng).map(|&(_, pos)| pos))
            .flatten()
    }

    /// Holds `unit` for `annotator` when this workspace keeps leases.
    fn hold(
        &self,
        project_id: ProjectId,
        kind: JudgmentKind,
        unit: &Unit,
        annotator: &str,
        annotator_id: Option<AnnotatorId>,
    ) {
        if let Some(leases) = &self.queue_leases {
            leases.hold(
                project_id,
                kind,
                unit.key.clone(),
                annotator,
                annotator_id,
                std::time::Instant::now(),
            );
        }
    }

    /// Builds the queue index of every project and kind that has judgments, so that the first
    /// annotators after a start do not wait for it (seconds at 100k judgments); `hone serve`
    /// runs it in the background when it starts. Returns the (project, kind) pairs built.
    pub async fn warm_queues(&self) -> Result<Vec<(ProjectId, JudgmentKind)>> {
        let judged = queue_rows::judged_kinds(&mut *self.store().conn().await?).await?;
        for &(project_id, kind) in &judged {
            let project = projects::get(&mut *self.store().conn().await?, project_id).await?;
            let overlap = project.overlap.max(1) as usize;
            self.refreshed_index(project_id, kind, overlap, project.queue_order)
                .await?;
        }
        Ok(judged)
    }

    /// The project's index for `kind`, locked and brought up to date, with the read
    /// transaction the refresh used (the caller reads the chosen item's texts in it).
    pub(in crate::queue) async fn refreshed_index(
        &self,
        project_id: ProjectId,
        kind: JudgmentKind,
        overlap: usize,
        order: QueueOrder,
    ) -> Result<(tokio::sync::OwnedMutexGuard<QueueIndex>, hone_store::ReadTx)> {
        let mut index = self.queue_indexes.get(project_id, kind).lock_owned().await;
        let mut read = self.store().read().await?;
        index.refresh(&mut read, overlap, order).await?;
        Ok((index, read))
    }

    /// The item showing `unit`: its prompt and responses read now, the responses shuffled.
    async fn item(
        &self,
        conn: &mut Conn,
        kind: JudgmentKind,
        unit: &Unit,
        overlap: usize,
        remaining: usize,
        reason: String,
    ) -> Result<QueueItem> {
        let prompt = prompts::get(conn, unit.prompt_id).await?;
        let mut by_id: HashMap<ResponseId, Response> =
            responses::list_for_prompt(conn, unit.prompt_id)
                .await?
                .into_iter()
                .map(|r| (r.id, r))
                .collect();
        let mut shown: Vec<Response> = unit
            .shown
            .iter()
            .map(|s| {
                by_id.remove(&s.id).ok_or_else(|| CoreError::NotFound {
                    entity: "response",
                    key: s.id.to_string(),
                })
            })
            .collect::<Result<_>>()?;
        shown.shuffle(&mut *self.rng.lock().expect("rng lock"));
        Ok(QueueItem {
            kind,
            prompt,
            responses: shown,
            judged_by: unit.votes.len(),
            overlap,
            remaining,
            reason,
        })
    }

    /// The eligible open unit `order` puts first (at least one is open), and why.
    async fn choose(
        &self,
        project_id: ProjectId,
        order: QueueOrder,
        index: &QueueIndex,
        eligible: &(dyn Fn(Pos) -> bool + Sync),
    ) -> Result<(Pos, String)> {
        let overlap = index.overlap();
        let in_order = |prefix: &str| {
            let pos = index
                .open_in_order()
                .find(|&pos| eligible(pos))
                .expect("an eligible unit is open");
            let why = match index.unit(pos).votes.len() {
                0 => "next in prompt order".to_owned(),
                n => format!(
                    "{n} of {overlap} annotators have judged it: finishing its overlap first"
                ),
            };
            (pos, format!("{prefix}{why}"))
        };
        match order {
            QueueOrder::InOrder => Ok(in_order("")),
            QueueOrder::Random => {
                // Draws until one is eligible (uniform over the eligible ones); when most open
                // units are not, picks among them all.
                let mut rng = self.rng.lock().expect("rng lock");
                let drawn = (0..RANDOM_DRAWS)
                    .filter_map(|_| index.draw_open(&mut *rng))
                    .find(|&pos| eligible(pos));
                let pos = match drawn {
                    Some(pos) => pos,
                    None => *index
                        .open_in_order()
                        .filter(|&pos| eligible(pos))
                        .collect::<Vec<_>>()
                        .choose(&mut *rng)
                        .expect("an eligible unit is open"),
                };
                Ok((pos, PICKED_AT_RANDOM.to_owned()))
            }
            QueueOrder::Disagreement => Ok(match index.most_split().find(|&pos| eligible(pos)) {
                Some(pos) => (pos, describe_split(&index.unit(pos).votes)),
                None => in_order("no disagreement to resolve; "),
            }),
            QueueOrder::LeastSure => {
                let mut open: Vec<Pos> = index.open_in_order().filter(|&p| eligible(p)).collect();
                open.sort_unstable();
                let unit = |i: usize| index.unit(open[i]);
                if open.iter().all(|&pos| index.unit(pos).shown.is_empty()) {
                    return Ok(in_order("nothing to score; "));
                }
                let Some(rm) = self.latest_reward_model(project_id, None).await? else {
                    return Ok(in_order("no reward model yet to rank by; "));
                };
                // Answers are scored ahead (after a reward model is trained, after candidates are
                // generated); the few still unscored are scored here, at most INLINE_SCORING per
                // call so that the next item never waits long; units with an unscored answer wait.
                // An empty answer cannot be scored; a unit holding one has no margin.
                let ids: Vec<ResponseId> = (0..open.len())
                    .flat_map(|i| unit(i).shown.iter().filter(|r| !r.empty).map(|r| r.id))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let mut scores =
                    reward_scores::get_many(&mut *self.store().conn().await?, rm.id, &ids).await?;
                let missing: Vec<ResponseId> = ids
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
                let least = (0..open.len())
                    .filter_map(|i| {
                        let ids: Vec<ResponseId> = unit(i).shown.iter().map(|s| s.id).collect();
                        Some((i, margin(&ids, &scores, mid)?))
                    })
                    .min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
                let Some((i, m)) = least else {
                    return Ok(in_order(
                        "the reward model has not scored these answers yet; ",
                    ));
                };
                let what = match unit(i).shown.len() {
                    1 => format!("its score is {m:.3} from the median score"),
                    2 => format!("the two answers' scores differ by {m:.3}"),
                    _ => format!("the closest two answers' scores differ by {m:.3}"),
                };
                Ok((
                    open[i],
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
    fn the_margin_of_a_unit_is_its_closest_scores_or_the_distance_to_the_median() {
        let r = ResponseId;
        let scores = HashMap::from([(r(1), 0.5), (r(2), 0.8), (r(3), -1.0)]);
        assert!((margin(&[r(1), r(2)], &scores, 0.0).unwrap() - 0.3).abs() < 1e-12);
        assert!(
            (margin(&[r(3), r(1), r(2)], &scores, 0.0).unwrap() - 0.3).abs() < 1e-12,
            "closest two of three"
        );
        assert!((margin(&[r(3)], &scores, 0.5).unwrap() - 1.5).abs() < 1e-12);
        assert_eq!(margin(&[r(4)], &scores, 0.0), None, "unscored");
    }
}
