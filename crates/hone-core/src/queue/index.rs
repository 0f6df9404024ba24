//! The queue's in-memory index of one project and judgment kind: every unit in prompt order
//! with the votes on it, kept up to date from the rows added since the last call (see
//! `hone_store::queue_rows`) instead of reading the whole project on every "next item".
//!
//! The open units (fewer votes than the overlap, or split and kept open for a tie-break) are
//! kept in ordered sets — started, not started, split — and each annotator's count of open
//! units they voted on, so that picking the next unit walks only past what this annotator
//! cannot take, and "remaining" is a subtraction, not a pass over the project.
//!
//! A row of an import run still under way waits aside until its run is done (then it counts)
//! or undone (then it is deleted). A judgment deleted (an undo), superseded (a re-judgment) or
//! made current again (the undo of a re-judgment) is logged by a trigger, and the refresh moves
//! that annotator's vote on its unit in place, from their current judgments on the prompt. A
//! prompt or response deleted (an import rolled back) bumps the project's revision, and the
//! index is built again from nothing, as it is when more judgments changed than are worth
//! applying one by one.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use hone_store::judgments::{self, Judgment};
use hone_store::queue_rows::{self, PromptRow, ResponseRow, Watermarks};
use hone_store::{Conn, JudgmentKind, QueueOrder, ResponseSource};
use rand::Rng;

use super::votes::{disagreement, split_evenly, Vote, Votes};
use super::{unit_of, UnitKey, MAX_RANKED};
use crate::verdict::Verdict;
use crate::{AnnotatorId, JudgmentId, Result};

/// Where a unit is: its prompt and its place among the prompt's units. Ordering positions is
/// ordering units the way `in_order` offers them.
pub(super) type Pos = (i64, u32);

/// A response as shown in a unit: its id, and whether it has text to score.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shown {
    pub id: i64,
    pub empty: bool,
}

/// A unit that can be offered, with the votes on it.
#[derive(Debug, Clone)]
pub(super) struct Unit {
    pub key: UnitKey,
    pub prompt_id: i64,
    /// The responses to show, in the order units are built (empty for a demonstration).
    pub shown: Vec<Shown>,
    /// The shown responses' ids sorted (what a UI's prefetch exclusion names).
    pub sorted: Vec<i64>,
    pub votes: Votes,
    /// Whether it is open now (see [`QueueIndex::is_open`]).
    pub open: bool,
}

/// The revision of an index not (or not wholly) read: its next refresh builds it again.
pub(super) const UNKNOWN_REVISION: i64 = -1;

/// Past this many changed judgments in one refresh the index is built again instead (each
/// change applied in place costs a read).
const MOST_CHANGES_IN_PLACE: usize = 256;

/// A counted judgment: the unit it votes on, and whose vote it is.
#[derive(Debug, Clone)]
struct Counted {
    key: UnitKey,
    prompt_id: i64,
    annotator: AnnotatorId,
}

/// One project's units and votes of one kind.
#[derive(Debug)]
pub(super) struct QueueIndex {
    project_id: i64,
    kind: JudgmentKind,
    /// The project's queue revision the index was built at.
    revision: i64,
    /// The largest prompt, response and judgment ids read so far.
    after: (i64, i64, i64),
    /// The last judgment change (`queue_changes`) applied.
    changes_after: i64,
    /// Counted responses by prompt, in id order.
    responses: HashMap<i64, Vec<ResponseRow>>,
    /// Counted prompts in id order, each with its units.
    units: BTreeMap<i64, Vec<Unit>>,
    /// What a unit's openness depends on besides its votes.
    overlap: usize,
    order: QueueOrder,
    /// Where each offered unit is, by key and by its sorted response ids.
    by_key: HashMap<UnitKey, Pos>,
    by_shown: HashMap<Vec<i64>, Pos>,
    /// Open units with votes, and without, in prompt order.
    started: BTreeSet<Pos>,
    fresh: BTreeSet<Pos>,
    /// Open units whose votes disagree, most split first (the f64's bits order as it does).
    split: BTreeSet<(Reverse<u64>, Pos)>,
    /// Every open unit, in no order, to draw from at random (`open_at` finds one's place).
    open_list: Vec<Pos>,
    open_at: HashMap<Pos, usize>,
    /// How many open units each annotator has a vote on.
    mine_open: HashMap<AnnotatorId, usize>,
    /// Votes on units that are not offered (yet): a unit of a prompt not counted yet, a human
    /// correction's rating.
    orphans: HashMap<UnitKey, Votes>,
    /// Each counted judgment's unit and annotator (for gold items, and to take its vote back).
    judged: HashMap<JudgmentId, Counted>,
    /// Rows of import runs still under way: counted once their run is done.
    waiting: Waiting,
}

#[derive(Debug, Default)]
struct Waiting {
    prompts: Vec<PromptRow>,
    responses: Vec<ResponseRow>,
    judgments: Vec<(Option<i64>, Judgment)>,
}

impl QueueIndex {
    pub(super) fn new(project_id: i64, kind: JudgmentKind, revision: i64) -> Self {
        Self {
            project_id,
            kind,
            revision,
            after: (0, 0, 0),
            changes_after: 0,
            responses: HashMap::new(),
            units: BTreeMap::new(),
            overlap: 1,
            order: QueueOrder::InOrder,
            by_key: HashMap::new(),
            by_shown: HashMap::new(),
            started: BTreeSet::new(),
            fresh: BTreeSet::new(),
            split: BTreeSet::new(),
            open_list: Vec::new(),
            open_at: HashMap::new(),
            mine_open: HashMap::new(),
            orphans: HashMap::new(),
            judged: HashMap::new(),
            waiting: Waiting::default(),
        }
    }

    /// Reads what changed since the last call (everything, when the revision moved), with the
    /// project's overlap and order as they are now.
    pub async fn refresh(
        &mut self,
        conn: &mut Conn,
        overlap: usize,
        order: QueueOrder,
    ) -> Result<()> {
        // A refresh stopped half-way (an error, or the caller's future dropped while it waits
        // on the database) has moved watermarks past what it applied: until one finishes,
        // the index is marked unknown, and the next refresh builds it again.
        let known = std::mem::replace(&mut self.revision, UNKNOWN_REVISION);
        let started = std::time::Instant::now();
        let done = self.read_changes(conn, known, overlap, order).await?;
        self.revision = done.revision;
        // Every annotator of the project waits for a refresh under the index's lock: a slow
        // one is told (`HONE_LOG=hone_core=debug`), with what it did.
        let took = started.elapsed();
        if took >= std::time::Duration::from_millis(20) {
            tracing::debug!(
                project = self.project_id,
                took_ms = took.as_millis() as u64,
                rebuilt = done.rebuilt,
                prompts = done.read.0,
                responses = done.read.1,
                judgments = done.read.2,
                from_waiting = done.from_waiting,
                "a slow refresh of the queue's index (rows read per table; waiting rows taken in)"
            );
        }
        Ok(())
    }

    /// The refresh, from an index built at revision `known`; what it did.
    async fn read_changes(
        &mut self,
        conn: &mut Conn,
        known: i64,
        overlap: usize,
        order: QueueOrder,
    ) -> Result<Refreshed> {
        // One statement says which tables moved; the reads below skip the others (they would
        // find nothing in this transaction), and a rebuild reads everything.
        let (prompts_after, responses_after, judgments_after) = self.after;
        let moved = queue_rows::moved(
            conn,
            self.project_id,
            self.kind,
            Watermarks {
                change: self.changes_after,
                prompt: prompts_after,
                response: responses_after,
                judgment: judgments_after,
            },
        )
        .await?;
        let revision = moved.revision;
        let mut changes = if revision == known && moved.changes {
            queue_rows::changes_after(conn, self.project_id, self.changes_after).await?
        } else {
            Vec::new()
        };
        let rebuilt = revision != known || changes.len() > MOST_CHANGES_IN_PLACE;
        if rebuilt {
            *self = Self::new(self.project_id, self.kind, UNKNOWN_REVISION);
            self.changes_after = queue_rows::last_change(conn, self.project_id).await?;
            changes.clear();
        } else if let Some(&(last, _)) = changes.last() {
            self.changes_after = last;
        }
        if (overlap, order) != (self.overlap, self.order) {
            (self.overlap, self.order) = (overlap, order);
            let all: Vec<Pos> = self.positions().collect();
            for &pos in &all {
                self.detach(pos);
            }
            for pos in all {
                self.attach(pos);
            }
        }
        let (prompts_after, responses_after, judgments_after) = self.after;
        let running = match rebuilt || moved.imports_running {
            true => queue_rows::unfinished_imports(conn, self.project_id).await?,
            false => HashSet::new(),
        };
        let prompts = match rebuilt || moved.prompts {
            true => queue_rows::prompts_after(conn, self.project_id, prompts_after).await?,
            false => Vec::new(),
        };
        let responses = match rebuilt || moved.responses {
            true => queue_rows::responses_after(conn, self.project_id, responses_after).await?,
            false => Vec::new(),
        };
        let judgments = match (rebuilt || moved.judgments, running.is_empty()) {
            (false, _) => Vec::new(),
            (true, false) => {
                queue_rows::judgments_after(conn, self.project_id, self.kind, judgments_after)
                    .await?
            }
            // No import running: no judgment waits, so their import runs are not needed.
            (true, true) => {
                judgments::list_current_after(conn, self.project_id, self.kind, judgments_after)
                    .await?
                    .into_iter()
                    .map(|j| (j, None))
                    .collect()
            }
        };
        self.after = (
            prompts.last().map_or(prompts_after, |p| p.id),
            responses.last().map_or(responses_after, |r| r.id),
            judgments.last().map_or(judgments_after, |(j, _)| j.id.0),
        );

        let read = (prompts.len(), responses.len(), judgments.len());
        let waits = |run: Option<i64>| run.is_some_and(|run| running.contains(&run));
        let waiting = std::mem::take(&mut self.waiting);
        // Rows that waited for an import run now finished (they come first in each chain).
        let mut from_waiting = 0;
        let mut dirty: HashSet<i64> = HashSet::new();
        let waited = waiting.prompts.len();
        for (i, p) in waiting.prompts.into_iter().chain(prompts).enumerate() {
            if waits(p.import_id) {
                self.waiting.prompts.push(p);
            } else {
                from_waiting += usize::from(i < waited);
                self.units.entry(p.id).or_default();
                dirty.insert(p.id);
            }
        }
        let waited = waiting.responses.len();
        for (i, r) in waiting.responses.into_iter().chain(responses).enumerate() {
            if waits(r.import_id) {
                self.waiting.responses.push(r);
            } else {
                from_waiting += usize::from(i < waited);
                let list = self.responses.entry(r.prompt_id).or_default();
                // Waiting rows come back out of id order.
                let at = list.partition_point(|x| x.id < r.id);
                list.insert(at, r);
                dirty.insert(r.prompt_id);
            }
        }
        for prompt_id in dirty {
            self.rebuild_units(prompt_id);
        }
        let waited = waiting.judgments.len();
        for (i, (run, j)) in waiting
            .judgments
            .into_iter()
            .chain(judgments.into_iter().map(|(j, run)| (run, j)))
            .enumerate()
        {
            if waits(run) {
                self.waiting.judgments.push((run, j));
            } else {
                from_waiting += usize::from(i < waited);
                self.count(&j);
            }
        }
        let mut changed: Vec<JudgmentId> = changes.into_iter().map(|(_, id)| id).collect();
        changed.sort_unstable();
        changed.dedup();
        if !changed.is_empty() {
            self.apply_changes(conn, &changed, &running).await?;
        }
        Ok(Refreshed {
            revision,
            rebuilt,
            read,
            from_waiting,
        })
    }

    /// Moves the votes of judgments deleted, superseded, made current again or whose id was
    /// given to a new judgment: the vote of the annotator a changed judgment was counted for
    /// becomes their latest counted judgment on that unit, or none; a judgment that is
    /// current now is counted (or waits for its import run).
    async fn apply_changes(
        &mut self,
        conn: &mut Conn,
        changed: &[JudgmentId],
        running: &HashSet<i64>,
    ) -> Result<()> {
        let rows: HashMap<JudgmentId, (Judgment, Option<i64>)> =
            queue_rows::judgments_by_id(conn, changed)
                .await?
                .into_iter()
                // Ids are shared by projects: a reused id may now be another project's row.
                .filter(|(j, _)| j.project_id == self.project_id && j.kind() == self.kind)
                .map(|(j, run)| (j.id, (j, run)))
                .collect();
        // Current rows already read past (current again, or new under a reused id).
        let current: Vec<&(Judgment, Option<i64>)> = changed
            .iter()
            .filter_map(|id| rows.get(id))
            .filter(|(j, _)| j.superseded_by.is_none() && j.id.0 <= self.after.2)
            .collect();
        // First what waits for its import run, so that no recount below counts it early: a
        // changed row waits again only if it is current and its run still running.
        self.waiting
            .judgments
            .retain(|(_, j)| changed.binary_search(&j.id).is_err());
        for (j, run) in &current {
            if run.is_some_and(|run| running.contains(&run)) {
                self.waiting.judgments.push((*run, j.clone()));
            }
        }
        for id in changed {
            let row = rows.get(id);
            let was = self.judged.remove(id).or_else(|| {
                row.map(|(j, _)| Counted {
                    key: unit_of(self.kind, &j.body, j.prompt_id),
                    prompt_id: j.prompt_id,
                    annotator: j.annotator_id,
                })
            });
            if let Some(counted) = was {
                self.recount(conn, &counted).await?;
            }
        }
        for (j, run) in current {
            if !run.is_some_and(|run| running.contains(&run)) {
                self.count(j);
            }
        }
        Ok(())
    }

    /// Sets an annotator's vote on a unit to their latest counted judgment there, from their
    /// current judgments on its prompt.
    async fn recount(&mut self, conn: &mut Conn, counted: &Counted) -> Result<()> {
        let waiting: HashSet<JudgmentId> =
            self.waiting.judgments.iter().map(|(_, j)| j.id).collect();
        let latest = judgments::list_current_by_on_prompt(
            conn,
            counted.prompt_id,
            counted.annotator,
            self.kind,
        )
        .await?
        .into_iter()
        // Those after the watermark are counted when they are read, waiting ones when their
        // run is done.
        .filter(|j| j.id.0 <= self.after.2 && !waiting.contains(&j.id))
        .rfind(|j| unit_of(self.kind, &j.body, j.prompt_id) == counted.key);
        let vote = latest.map(|j| {
            self.judged.insert(j.id, counted.clone());
            Vote {
                judgment: j.id,
                verdict: Verdict::of(&j.body),
            }
        });
        self.set_vote(&counted.key, counted.annotator, vote);
        Ok(())
    }

    /// Sets `annotator`'s vote on the unit `key` (taking it away with `None`).
    fn set_vote(&mut self, key: &UnitKey, annotator: AnnotatorId, vote: Option<Vote>) {
        let put = |votes: &mut Votes| match vote {
            Some(vote) => {
                votes.insert(annotator, vote);
            }
            None => {
                votes.remove(&annotator);
            }
        };
        match self.by_key.get(key).copied() {
            Some(pos) => {
                self.detach(pos);
                put(&mut self.unit_mut(pos).votes);
                self.attach(pos);
            }
            None => {
                let votes = self.orphans.entry(key.clone()).or_default();
                put(votes);
                if votes.is_empty() {
                    self.orphans.remove(key);
                }
            }
        }
    }

    /// Counts a judgment's vote: the annotator's latest judgment on the unit wins.
    fn count(&mut self, j: &Judgment) {
        let key = unit_of(self.kind, &j.body, j.prompt_id);
        self.judged.insert(
            j.id,
            Counted {
                key: key.clone(),
                prompt_id: j.prompt_id,
                annotator: j.annotator_id,
            },
        );
        let vote = Vote {
            judgment: j.id,
            verdict: Verdict::of(&j.body),
        };
        let newer = |votes: &Votes| {
            votes
                .get(&j.annotator_id)
                .is_none_or(|v| v.judgment < vote.judgment)
        };
        match self.by_key.get(&key).copied() {
            Some(pos) => {
                if newer(&self.unit(pos).votes) {
                    self.detach(pos);
                    self.unit_mut(pos).votes.insert(j.annotator_id, vote);
                    self.attach(pos);
                }
            }
            None => {
                let votes = self.orphans.entry(key).or_default();
                if newer(votes) {
                    votes.insert(j.annotator_id, vote);
                }
            }
        }
    }

    /// Builds a counted prompt's units again from its counted responses, keeping their votes.
    fn rebuild_units(&mut self, prompt_id: i64) {
        let Some(n) = self.units.get(&prompt_id).map(Vec::len) else {
            return; // the prompt is not counted yet; its responses wait in `responses`
        };
        for i in 0..n {
            self.detach((prompt_id, i as u32));
        }
        let mut votes: HashMap<UnitKey, Votes> = self
            .units
            .insert(prompt_id, Vec::new())
            .unwrap_or_default()
            .into_iter()
            .map(|u| (u.key, u.votes))
            .collect();
        let responses = self
            .responses
            .get(&prompt_id)
            .map_or(&[][..], Vec::as_slice);
        let mut units = units_of(self.kind, prompt_id, responses);
        for unit in &mut units {
            unit.votes = votes
                .remove(&unit.key)
                .or_else(|| self.orphans.remove(&unit.key))
                .unwrap_or_default();
        }
        self.orphans.extend(votes);
        let n = units.len();
        self.units.insert(prompt_id, units);
        for i in 0..n {
            self.attach((prompt_id, i as u32));
        }
    }

    /// Whether a unit with these votes is open: fewer than the overlap, or (when the queue
    /// resolves disagreement) split evenly and fewer than twice the overlap, plus one.
    fn is_open(&self, votes: &Votes) -> bool {
        votes.len() < self.overlap
            || (self.order == QueueOrder::Disagreement
                && votes.len() < 2 * self.overlap + 1
                && split_evenly(votes))
    }

    /// Takes a unit out of the lookups and open sets (before its votes or place change).
    fn detach(&mut self, pos: Pos) {
        let unit = &self.units[&pos.0][pos.1 as usize];
        let (key, sorted, open) = (unit.key.clone(), unit.sorted.clone(), unit.open);
        let voters: Vec<AnnotatorId> = unit.votes.keys().copied().collect();
        let split = disagreement(&unit.votes);
        self.by_key.remove(&key);
        if !sorted.is_empty() {
            self.by_shown.remove(&sorted);
        }
        if !open {
            return;
        }
        self.started.remove(&pos);
        self.fresh.remove(&pos);
        self.split.remove(&(Reverse(split.to_bits()), pos));
        if let Some(at) = self.open_at.remove(&pos) {
            self.open_list.swap_remove(at);
            if let Some(&moved) = self.open_list.get(at) {
                self.open_at.insert(moved, at);
            }
        }
        for voter in voters {
            if let Some(n) = self.mine_open.get_mut(&voter) {
                *n -= 1;
            }
        }
        self.unit_mut(pos).open = false;
    }

    /// Puts a unit (back) into the lookups, and into the open sets when it is open.
    fn attach(&mut self, pos: Pos) {
        let unit = &self.units[&pos.0][pos.1 as usize];
        let open = self.is_open(&unit.votes);
        let (key, sorted) = (unit.key.clone(), unit.sorted.clone());
        let voters: Vec<AnnotatorId> = unit.votes.keys().copied().collect();
        let split = disagreement(&unit.votes);
        self.by_key.insert(key, pos);
        if !sorted.is_empty() {
            self.by_shown.insert(sorted, pos);
        }
        self.unit_mut(pos).open = open;
        if !open {
            return;
        }
        if voters.is_empty() {
            self.fresh.insert(pos);
        } else {
            self.started.insert(pos);
        }
        if split > 0.0 {
            self.split.insert((Reverse(split.to_bits()), pos));
        }
        self.open_at.insert(pos, self.open_list.len());
        self.open_list.push(pos);
        for voter in voters {
            *self.mine_open.entry(voter).or_default() += 1;
        }
    }

    fn unit_mut(&mut self, pos: Pos) -> &mut Unit {
        &mut self.units.get_mut(&pos.0).expect("a counted prompt")[pos.1 as usize]
    }

    /// The unit at `pos` (a position this index gave out).
    pub fn unit(&self, pos: Pos) -> &Unit {
        &self.units[&pos.0][pos.1 as usize]
    }

    /// Every unit's position, in prompt order.
    pub fn positions(&self) -> impl Iterator<Item = Pos> + '_ {
        self.units
            .iter()
            .flat_map(|(&p, units)| (0..units.len() as u32).map(move |i| (p, i)))
    }

    /// The position of the unit with this key, or showing these (sorted) response ids.
    pub fn find(&self, key: &UnitKey) -> Option<Pos> {
        self.by_key.get(key).copied()
    }

    pub fn find_shown(&self, sorted: &[i64]) -> Option<Pos> {
        self.by_shown.get(sorted).copied()
    }

    /// The positions of a prompt's units.
    pub fn units_of_prompt(&self, prompt_id: i64) -> impl Iterator<Item = Pos> + '_ {
        let n = self.units.get(&prompt_id).map_or(0, Vec::len) as u32;
        (0..n).map(move |i| (prompt_id, i))
    }

    /// The overlap the open sets were made with.
    pub fn overlap(&self) -> usize {
        self.overlap
    }

    /// How many units are open, and how many of them `annotator` has a vote on.
    pub fn open_count(&self) -> usize {
        self.open_list.len()
    }

    pub fn mine_open(&self, annotator: Option<AnnotatorId>) -> usize {
        annotator.map_or(0, |a| self.mine_open.get(&a).copied().unwrap_or(0))
    }

    /// Open units with votes, then those without, each in prompt order.
    pub fn open_in_order(&self) -> impl Iterator<Item = Pos> + '_ {
        self.started.iter().chain(self.fresh.iter()).copied()
    }

    /// Open units whose votes disagree, most split first (ties in prompt order).
    pub fn most_split(&self) -> impl Iterator<Item = Pos> + '_ {
        self.split.iter().map(|(_, pos)| *pos)
    }

    /// An open unit drawn uniformly, if any is open.
    pub fn draw_open(&self, rng: &mut impl Rng) -> Option<Pos> {
        (!self.open_list.is_empty())
            .then(|| self.open_list[rng.random_range(0..self.open_list.len())])
    }

    /// The unit a counted judgment is on (for gold items).
    pub fn unit_of_judgment(&self, judgment_id: JudgmentId) -> Option<&UnitKey> {
        self.judged.get(&judgment_id).map(|c| &c.key)
    }
}

/// A prompt's units of `kind`, from its responses in id order.
fn units_of(kind: JudgmentKind, prompt_id: i64, responses: &[ResponseRow]) -> Vec<Unit> {
    let unit = |key: UnitKey, shown: Vec<&ResponseRow>| {
        let shown: Vec<Shown> = shown
            .into_iter()
            .map(|r| Shown {
                id: r.id,
                empty: r.empty,
            })
            .collect();
        let mut sorted: Vec<i64> = shown.iter().map(|s| s.id).collect();
        sorted.sort_unstable();
        Unit {
            key,
            prompt_id,
            shown,
            sorted,
            votes: Votes::new(),
            open: false,
        }
    };
    match kind {
        JudgmentKind::Demonstration => vec![unit(UnitKey::Prompt(prompt_id), Vec::new())],
        JudgmentKind::Ranking if responses.len() >= 3 => vec![unit(
            UnitKey::Prompt(prompt_id),
            responses.iter().take(MAX_RANKED).collect(),
        )],
        JudgmentKind::Ranking => Vec::new(),
        JudgmentKind::Comparison => {
            let mut units = Vec::new();
            for (i, a) in responses.iter().enumerate() {
                for b in &responses[i + 1..] {
                    let key = UnitKey::Responses(vec![a.id.min(b.id), a.id.max(b.id)]);
                    units.push(unit(key, vec![a, b]));
                }
            }
            units
        }
        // A person's own correction is not sent back for review.
        _ => responses
            .iter()
            .filter(|r| kind == JudgmentKind::Rating || r.source != ResponseSource::Human)
            .map(|r| unit(UnitKey::Responses(vec![r.id]), vec![r]))
            .collect(),
    }
}

/// What one refresh did: the revision it read, whether it rebuilt the index, the rows it read
/// (prompts, responses, judgments) and the waiting rows of finished imports it took in.
struct Refreshed {
    revision: i64,
    rebuilt: bool,
    read: (usize, usize, usize),
    from_waiting: usize,
}

pub(super) type SharedIndex = Arc<tokio::sync::Mutex<QueueIndex>>;

#[cfg(test)]
mod tests {
    use hone_store::prompts::NewPrompt;
    use hone_store::responses::NewResponse;

    use super::*;
    use crate::feedback::{FeedbackInput, FeedbackKind};
    use crate::projects::ProjectSpec;
    use crate::{Choice, Hone};

    async fn project_with_a_pair(hone: &Hone, name: &str) -> (i64, i64, i64) {
        let (project, _, a, b) = project_prompt_pair(hone, name).await;
        (project, a, b)
    }

    async fn project_prompt_pair(hone: &Hone, name: &str) -> (i64, i64, i64, i64) {
        let project = hone
            .create_project(&ProjectSpec::named(name))
            .await
            .unwrap()
            .project
            .id;
        let prompt = hone
            .add_prompt(project, &NewPrompt::text(format!("{name}?")))
            .await
            .unwrap();
        let mut ids = Vec::new();
        for text in ["one", "two"] {
            let r = NewResponse::new(prompt.id, text, ResponseSource::Model);
            ids.push(hone.add_response(&r).await.unwrap().id);
        }
        (project, prompt.id, ids[0], ids[1])
    }

    fn comparison(project_id: i64, a: i64, b: i64) -> FeedbackInput {
        let kind = FeedbackKind::Comparison {
            response_a: a,
            response_b: b,
            choice: Choice::A,
            strength: None,
            reason: None,
        };
        FeedbackInput::new(project_id, "alice", kind)
    }

    #[tokio::test]
    async fn an_id_reused_by_another_project_is_not_counted_here() {
        // Ids are shared by projects: project A's index has read judgment X (the newest of
        // all), X is undone, and project B's next judgment takes X's id. A must take back
        // its vote and count nothing of B's.
        let dir = tempfile::TempDir::new().unwrap();
        let hone = Hone::open(dir.path()).await.unwrap();
        let (a, a1, a2) = project_with_a_pair(&hone, "a").await;
        let (b, b1, b2) = project_with_a_pair(&hone, "b").await;
        let x = hone
            .record_feedback(&comparison(a, a1, a2))
            .await
            .unwrap()
            .judgment_id;
        let kind = JudgmentKind::Comparison;
        assert!(hone.next_item(a, "bob", kind).await.unwrap().is_none());
        hone.undo_judgment(x).await.unwrap();
        let y = hone
            .record_feedback(&comparison(b, b1, b2))
            .await
            .unwrap()
            .judgment_id;
        assert_eq!(y, x, "precondition: SQLite gives the id again");
        let item = hone.next_item(a, "bob", kind).await.unwrap();
        assert!(item.is_some(), "A's pair is open again");
        let index = hone.queue_indexes.get(a, kind);
        let index = index.lock().await;
        assert!(
            !index.judged.contains_key(&x) && index.orphans.is_empty(),
            "B's judgment was counted in A's index: {:?} {:?}",
            index.judged,
            index.orphans
        );
    }

    #[tokio::test]
    async fn a_refresh_stopped_half_way_leaves_the_index_to_be_built_again() {
        let dir = tempfile::TempDir::new().unwrap();
        let hone = Hone::open(dir.path()).await.unwrap();
        let (a, ..) = project_with_a_pair(&hone, "a").await;
        let kind = JudgmentKind::Comparison;
        assert!(hone.next_item(a, "bob", kind).await.unwrap().is_some());
        let index = hone.queue_indexes.get(a, kind);
        let mut index = index.lock().await;
        assert_eq!(index.revision, 0, "built at the project's revision");
        // A refresh that fails half-way: what moved is read, the new judgment's details are
        // not (on another workspace, with a judgment past the index's watermark, whose
        // comparisons table is gone).
        let broken_dir = tempfile::TempDir::new().unwrap();
        let broken = Hone::open(broken_dir.path()).await.unwrap();
        let (b, _, r1, r2) = project_prompt_pair(&broken, "b").await;
        broken
            .record_feedback(&comparison(b, r1, r2))
            .await
            .unwrap();
        let mut conn = broken.store().conn().await.unwrap();
        sqlx::query("DROP TABLE comparisons")
            .execute(&mut *conn)
            .await
            .unwrap();
        let failed = index.refresh(&mut conn, 1, QueueOrder::InOrder).await;
        assert!(failed.is_err(), "precondition: the refresh failed");
        assert_eq!(index.revision, UNKNOWN_REVISION, "marked to be built again");
        let mut read = hone.store().read().await.unwrap();
        index
            .refresh(&mut read, 1, QueueOrder::InOrder)
            .await
            .unwrap();
        assert_eq!(index.revision, 0);
        assert_eq!(index.open_count(), 1);
    }

    #[tokio::test]
    async fn a_running_imports_judgment_under_a_reused_id_waits_for_its_run() {
        use hone_store::judgments::{ImportedJudgment, ImportedVerdict};
        use hone_store::{annotators, imports, AnnotatorKind};
        let dir = tempfile::TempDir::new().unwrap();
        let hone = Hone::open(dir.path()).await.unwrap();
        let (a, prompt_id, r1, r2) = project_prompt_pair(&hone, "a").await;
        let kind = JudgmentKind::Comparison;
        let x = hone
            .record_feedback(&comparison(a, r1, r2))
            .await
            .unwrap()
            .judgment_id;
        assert!(hone.next_item(a, "bob", kind).await.unwrap().is_none());
        hone.undo_judgment(x).await.unwrap();
        // An import run starts and writes a verdict on the same pair: it takes X's id.
        let mut tx = hone.store().begin().await.unwrap();
        let run = imports::start(&mut tx, a, "pairs.jsonl", "import")
            .await
            .unwrap();
        let by = annotators::get_or_create(&mut tx, "import", AnnotatorKind::Import)
            .await
            .unwrap()
            .id;
        let verdict = ImportedVerdict::Preferred {
            chosen: r1,
            rejected: r2,
        };
        let ids = judgments::insert_imported(
            &mut tx,
            a,
            by,
            None,
            run,
            &[ImportedJudgment { prompt_id, verdict }],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(ids, vec![x], "precondition: SQLite gives the id again");
        assert!(
            hone.next_item(a, "bob", kind).await.unwrap().is_some(),
            "while its run runs, the import's verdict does not count"
        );
        let mut tx = hone.store().begin().await.unwrap();
        imports::finish(&mut tx, run, 1).await.unwrap();
        tx.commit().await.unwrap();
        assert!(
            hone.next_item(a, "bob", kind).await.unwrap().is_none(),
            "counted once the run is done"
        );
    }
}
