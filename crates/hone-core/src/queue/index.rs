//! The queue's in-memory index of one project and judgment kind: every unit in prompt order
//! with the votes on it, kept up to date from the rows added since the last call (see
//! `hone_store::queue_rows`) instead of reading the whole project on every "next item".
//!
//! The open units (fewer votes than the overlap, or split and kept open for a tie-break) are
//! kept in ordered sets — started, not started, split — and each annotator's count of open
//! units they voted on, so that picking the next unit walks only past what this annotator
//! cannot take, and "remaining" is a subtraction, not a pass over the project.
//!
//! A row of an import run is read a bounded slice per refresh (by its own watermark: the rows
//! of no import are read whole, so an annotator's save is never behind an import's backlog)
//! and waits aside until its run is done and all of it is read (then it counts, a slice of
//! whole prompts per refresh: `waiting.rs`) or undone (then it is deleted). A judgment
//! deleted (an undo), superseded (a re-judgment) or made current again (the undo of a
//! re-judgment) is logged by a trigger, and the refresh moves that annotator's vote on its unit
//! in place, from their current judgments on the prompt. A prompt or response deleted (an
//! import rolled back) bumps the project's revision, and the index is built again from
//! nothing, as it is when more judgments changed than are worth applying one by one.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;

use hone_store::judgments::Judgment;
use hone_store::queue_rows::{self, PromptRow, ResponseRow, Rows, TableMarks, Watermarks};
use hone_store::{Conn, JudgmentKind, QueueOrder, ResponseSource};
use rand::Rng;

use super::votes::{disagreement, split_evenly, Vote, Votes};
use super::waiting::{Group, Waiting};
use super::{unit_of, UnitKey, MAX_RANKED};
use crate::verdict::Verdict;
use crate::{AnnotatorId, ImportRunId, JudgmentId, ProjectId, PromptId, ResponseId, Result};

/// Where a unit is: its prompt and its place among the prompt's units. Ordering positions is
/// ordering units the way `in_order` offers them.
pub(super) type Pos = (PromptId, u32);

/// A response as shown in a unit: its id, and whether it has text to score.
#[derive(Debug, Clone, Copy)]
pub(super) struct Shown {
    pub id: ResponseId,
    pub empty: bool,
}

/// A unit that can be offered, with the votes on it.
#[derive(Debug, Clone)]
pub(super) struct Unit {
    pub key: UnitKey,
    pub prompt_id: PromptId,
    /// The responses to show, in the order units are built (empty for a demonstration).
    pub shown: Vec<Shown>,
    /// The shown responses' ids sorted (what a UI's prefetch exclusion names).
    pub sorted: Vec<ResponseId>,
    pub votes: Votes,
    /// Whether it is open now (see [`QueueIndex::is_open`]).
    pub open: bool,
}

/// The revision of an index not (or not wholly) read: its next refresh builds it again.
pub(super) const UNKNOWN_REVISION: i64 = -1;

/// Past this many changed judgments in one refresh the index is built again instead (each
/// change applied in place costs a read).
const MOST_CHANGES_IN_PLACE: usize = 256;

/// How many rows of import runs one refresh reads, per table (~10–15 µs a row on two busy
/// cores, read under the index's lock, so a few milliseconds; they wait aside until their run
/// is done). A rebuild reads them all. 50 annotators' refreshes read ~40k rows a second, more
/// than a 100k import writes.
const READ_PER_REFRESH: usize = 256;

/// How many rows of finished imports one refresh takes in (whole prompts; ~4 µs a row alone,
/// ~20 µs on two busy cores, so a few milliseconds under the index's lock). A rebuild takes
/// every row at once.
const TAKEN_PER_REFRESH: usize = 512;

/// A counted judgment: the unit it votes on, and whose vote it is.
#[derive(Debug, Clone)]
struct Counted {
    key: UnitKey,
    prompt_id: PromptId,
    annotator: AnnotatorId,
}

/// One project's units and votes of one kind.
#[derive(Debug)]
pub(super) struct QueueIndex {
    project_id: ProjectId,
    kind: JudgmentKind,
    /// The project's queue revision the index was built at.
    revision: i64,
    /// The last judgment change (`queue_changes`) applied, and how far each table was read:
    /// every row of the project no import wrote up to `plain`, every import's row up to
    /// `imported` (which lags while an import writes faster than a refresh reads).
    marks: Watermarks,
    /// The last refresh left import rows unread (and finished runs not marked done: a run's
    /// rows are taken only once all of them are read).
    behind: bool,
    /// Counted responses by prompt, in id order.
    responses: HashMap<PromptId, Vec<ResponseRow>>,
    /// Counted prompts in id order, each with its units.
    units: BTreeMap<PromptId, Vec<Unit>>,
    /// What a unit's openness depends on besides its votes.
    overlap: usize,
    order: QueueOrder,
    /// Where each offered unit is, by key and by its sorted response ids.
    by_key: HashMap<UnitKey, Pos>,
    by_shown: HashMap<Vec<ResponseId>, Pos>,
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
    /// Rows of import runs: counted once their run is done, a slice per refresh.
    waiting: Waiting,
    /// The most waiting rows one refresh takes in ([`TAKEN_PER_REFRESH`]; tests set less).
    take_per_refresh: usize,
    /// The most import rows one refresh reads per table ([`READ_PER_REFRESH`]; tests set less).
    read_per_refresh: usize,
}

impl QueueIndex {
    pub(super) fn new(project_id: ProjectId, kind: JudgmentKind, revision: i64) -> Self {
        Self {
            project_id,
            kind,
            revision,
            marks: Watermarks::default(),
            behind: false,
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
            take_per_refresh: TAKEN_PER_REFRESH,
            read_per_refresh: READ_PER_REFRESH,
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
                project = %self.project_id,
                took_ms = took.as_millis() as u64,
                rebuilt = done.rebuilt,
                prompts = done.read.0,
                responses = done.read.1,
                judgments = done.read.2,
                from_waiting = done.from_waiting,
                pending = self.waiting.ready(),
                waiting = self.waiting.rows(),
                reading_ms = done.timings[0].as_millis() as u64,
                counting_ms = done.timings[1].as_millis() as u64,
                changes_ms = done.timings[2].as_millis() as u64,
                "a slow refresh of the queue's index (rows read per table; import rows taken in, \
                 those of finished imports left for the next refreshes, all import rows aside; \
                 the time of the reads, of counting, of moving changed votes)"
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
        let started = std::time::Instant::now();
        // One statement says which tables moved; the reads below skip the others (they would
        // find nothing in this transaction), and a rebuild reads everything.
        let moved = queue_rows::moved(conn, self.project_id, self.kind, self.marks).await?;
        let revision = moved.revision;
        let mut changes = if revision == known && moved.changes {
            queue_rows::changes_after(conn, self.project_id, self.marks.change).await?
        } else {
            Vec::new()
        };
        let rebuilt = revision != known || changes.len() > MOST_CHANGES_IN_PLACE;
        if rebuilt {
            let budgets = (self.take_per_refresh, self.read_per_refresh);
            *self = Self::new(self.project_id, self.kind, UNKNOWN_REVISION);
            (self.take_per_refresh, self.read_per_refresh) = budgets;
            self.marks.change = queue_rows::last_change(conn, self.project_id).await?;
            changes.clear();
        } else if let Some(&(last, _)) = changes.last() {
            self.marks.change = last;
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
        let running = match rebuilt || moved.imports_running {
            true => queue_rows::unfinished_imports(conn, self.project_id).await?,
            false => HashSet::new(),
        };
        let (project, kind, marks) = (self.project_id, self.kind, self.marks);
        let reading = Reading {
            rebuilt,
            limit: (!rebuilt).then_some(self.read_per_refresh),
        };
        // Rows no import wrote: all of them (an annotator's own save is never held back).
        let plain = Rows::Plain;
        let prompts = reading
            .rows(
                moved.last_prompt.is_some(),
                queue_rows::prompts_after(conn, project, marks.plain.prompt, plain),
            )
            .await?;
        let responses = reading
            .rows(
                moved.last_response.is_some(),
                queue_rows::responses_after(conn, project, marks.plain.response, plain),
            )
            .await?;
        let judgments = reading
            .rows(
                moved.last_judgment.is_some(),
                queue_rows::judgments_after(conn, project, kind, marks.plain.judgment, plain),
            )
            .await?;
        // Import runs' rows: a bounded slice per table (all of them for a rebuild). They wait
        // aside for their run either way.
        let imported = Rows::Imported {
            limit: reading.limit,
        };
        let imported_prompts = reading
            .rows(
                moved.imported_prompts,
                queue_rows::prompts_after(conn, project, marks.imported.prompt, imported),
            )
            .await?;
        let imported_responses = reading
            .rows(
                moved.imported_responses,
                queue_rows::responses_after(conn, project, marks.imported.response, imported),
            )
            .await?;
        let imported_judgments = reading
            .rows(
                moved.imported_judgments,
                queue_rows::judgments_after(conn, project, kind, marks.imported.judgment, imported),
            )
            .await?;
        // Where each table's marks move, and whether it left import rows unread.
        let prompt = reading.table(
            marks.plain.prompt,
            moved.last_prompt,
            &prompts,
            &imported_prompts,
        );
        let response = reading.table(
            marks.plain.response,
            moved.last_response,
            &responses,
            &imported_responses,
        );
        let judgment = reading.table(
            marks.plain.judgment,
            moved.last_judgment,
            &judgments,
            &imported_judgments,
        );
        self.behind = prompt.full || response.full || judgment.full;
        self.marks.plain = TableMarks {
            prompt: prompt.plain,
            response: response.plain,
            judgment: judgment.plain,
        };
        self.marks.imported = TableMarks {
            prompt: prompt.imported,
            response: response.imported,
            judgment: judgment.imported,
        };
        let read = (prompt.read, response.read, judgment.read);
        let reading_took = started.elapsed();
        // An import's rows wait for their run; the others count now.
        let mut dirty: HashSet<PromptId> = HashSet::new();
        for p in prompts {
            self.take_prompt(p, &mut dirty);
        }
        for r in responses {
            self.take_response(r, &mut dirty);
        }
        let counting: Vec<Judgment> = judgments.into_iter().map(|(j, _)| j).collect();
        for p in imported_prompts {
            let run = p.import_id.expect("an import's row");
            self.waiting.add_prompt(run, p);
        }
        for r in imported_responses {
            let run = r.import_id.expect("an import's row");
            self.waiting.add_response(run, r);
        }
        for (j, run) in imported_judgments {
            self.waiting.add_judgment(run.expect("an import's row"), j);
        }
        // A run is done for the index once it is not running and all its rows are read.
        if !self.behind {
            self.waiting.mark_done(&running);
        }
        let budget = match rebuilt {
            true => usize::MAX,
            false => self.take_per_refresh,
        };
        let groups = self.waiting.take_ready(budget);
        let from_waiting = self.take_in(groups, counting, dirty);
        if rebuilt {
            self.reserve_headroom();
        }
        let counting_took = started.elapsed() - reading_took;
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
            timings: [
                reading_took,
                counting_took,
                started.elapsed() - reading_took - counting_took,
            ],
        })
    }

    /// Whether a judgment with this id, of this import run or none, was read already (those
    /// after count when they are read).
    fn read_past(&self, id: JudgmentId, run: Option<ImportRunId>) -> bool {
        match run {
            None => id.0 <= self.marks.plain.judgment,
            Some(_) => id.0 <= self.marks.imported.judgment,
        }
    }

    /// Whether the last refresh left rows of import runs unread: a caller that needs the whole
    /// project (or found nothing to offer) refreshes again.
    pub fn behind(&self) -> bool {
        self.behind
    }

    /// Moves the votes of judgments deleted, superseded, made current again or whose id was
    /// given to a new judgment: the vote of the annotator a changed judgment was counted for
    /// becomes their latest counted judgment on that unit, or none; a judgment that is
    /// current now is counted (or waits for its import run).
    async fn apply_changes(
        &mut self,
        conn: &mut Conn,
        changed: &[JudgmentId],
        running: &HashSet<ImportRunId>,
    ) -> Result<()> {
        let rows: HashMap<JudgmentId, (Judgment, Option<ImportRunId>)> =
            queue_rows::judgments_by_id(conn, changed)
                .await?
                .into_iter()
                // Ids are shared by projects: a reused id may now be another project's row.
                .filter(|(j, _)| j.project_id == self.project_id && j.kind() == self.kind)
                .map(|(j, run)| (j.id, (j, run)))
                .collect();
        // Current rows already read past (current again, or new under a reused id).
        let current: Vec<&(Judgment, Option<ImportRunId>)> = changed
            .iter()
            .filter_map(|id| rows.get(id))
            .filter(|(j, run)| j.superseded_by.is_none() && self.read_past(j.id, *run))
            .collect();
        // First what waits for its import run, so that no recount below counts it early: a
        // changed row waits again only if it is current and its run still running, or the
        // run's other rows on its prompt still wait, or the index has not read all of a
        // finished run yet.
        for &id in changed {
            self.waiting.remove_judgment(id);
        }
        let waits: Vec<bool> = current
            .iter()
            .map(|(j, run)| {
                run.is_some_and(|run| {
                    running.contains(&run)
                        || self.waiting.holds(run, j.prompt_id)
                        || (self.behind && !self.waiting.is_done(run))
                })
            })
            .collect();
        for ((j, run), &waits) in current.iter().zip(&waits) {
            if let (true, Some(run)) = (waits, run) {
                self.waiting.add_judgment(*run, j.clone());
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
        for ((j, _), waits) in current.into_iter().zip(waits) {
            if !waits {
                self.count(j);
            }
        }
        Ok(())
    }

    /// Sets an annotator's vote on a unit to their latest counted judgment there, from their
    /// current judgments on its prompt.
    async fn recount(&mut self, conn: &mut Conn, counted: &Counted) -> Result<()> {
        let latest =
            queue_rows::current_on_prompt_by(conn, counted.prompt_id, counted.annotator, self.kind)
                .await?
                .into_iter()
                // Those after the watermarks are counted when they are read, waiting ones when their
                // run is done.
                .filter(|(j, run)| self.read_past(j.id, *run) && !self.waiting.contains(j.id))
                .map(|(j, _)| j)
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

    /// Counts a prompt (its units are built once its responses are in: `dirty`).
    fn take_prompt(&mut self, prompt: PromptRow, dirty: &mut HashSet<PromptId>) {
        self.units.entry(prompt.id).or_default();
        dirty.insert(prompt.id);
    }

    /// Counts a response under its prompt (whether the prompt is counted yet or not).
    fn take_response(&mut self, response: ResponseRow, dirty: &mut HashSet<PromptId>) {
        let list = self.responses.entry(response.prompt_id).or_default();
        // Waiting rows come back out of id order.
        let at = list.partition_point(|x| x.id < response.id);
        list.insert(at, response);
        dirty.insert(response.prompt_id);
    }

    /// Counts the rows of `groups` (taken from those waiting) and the judgments `counting`,
    /// then builds the units of the prompts in `dirty` again; returns how many waiting rows
    /// it took in.
    fn take_in(
        &mut self,
        groups: Vec<Group>,
        mut counting: Vec<Judgment>,
        mut dirty: HashSet<PromptId>,
    ) -> usize {
        let mut taken = 0;
        for group in groups {
            taken += group.rows();
            if let Some(p) = group.prompt {
                self.take_prompt(p, &mut dirty);
            }
            for r in group.responses {
                self.take_response(r, &mut dirty);
            }
            counting.extend(group.judgments);
        }
        // Votes before units: a new prompt's votes wait as orphans and its units are attached
        // once, with them (an attach and detach less per vote).
        for j in &counting {
            self.count(j);
        }
        for prompt_id in dirty {
            self.rebuild_units(prompt_id);
        }
        taken
    }

    /// Room in the lookups for as many units, judgments and prompts again, made when the index
    /// is built. A hash map that outgrows its table rehashes every entry at once: four maps of
    /// 115k units took 48–74 ms in the refresh that crossed the line (the load test's first
    /// slice of the second import), with every annotator of the project waiting. Built with
    /// room, the index takes in an import as large as the project without that pause (the build
    /// itself, which everyone waits for anyway, pays one rehash more).
    fn reserve_headroom(&mut self) {
        self.by_key.reserve(self.by_key.len());
        self.by_shown.reserve(self.by_shown.len());
        self.judged.reserve(self.judged.len());
        self.responses.reserve(self.responses.len());
        self.open_at.reserve(self.open_at.len());
        self.open_list.reserve(self.open_list.len());
    }

    /// Takes in the next slice of finished imports' waiting rows, if any is left (a caller
    /// that found nothing open asks before saying so); whether it took any.
    pub fn take_waiting_slice(&mut self) -> bool {
        let groups = self.waiting.take_ready(self.take_per_refresh);
        let any = !groups.is_empty();
        self.take_in(groups, Vec::new(), HashSet::new());
        any
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
    fn rebuild_units(&mut self, prompt_id: PromptId) {
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

    pub fn find_shown(&self, sorted: &[ResponseId]) -> Option<Pos> {
        self.by_shown.get(sorted).copied()
    }

    /// The positions of a prompt's units.
    pub fn units_of_prompt(&self, prompt_id: PromptId) -> impl Iterator<Item = Pos> + '_ {
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
fn units_of(kind: JudgmentKind, prompt_id: PromptId, responses: &[ResponseRow]) -> Vec<Unit> {
    let unit = |key: UnitKey, shown: Vec<&ResponseRow>| {
        let shown: Vec<Shown> = shown
            .into_iter()
            .map(|r| Shown {
                id: r.id,
                empty: r.empty,
            })
            .collect();
        let mut sorted: Vec<ResponseId> = shown.iter().map(|s| s.id).collect();
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
    /// How long the database reads took, then counting what was read and taken from the
    /// waiting rows, then moving the changed judgments' votes.
    timings: [std::time::Duration; 3],
}

/// How one refresh reads the tables: every row for a rebuild, else only the tables that moved,
/// and of import runs' rows at most `limit` a table.
#[derive(Debug, Clone, Copy)]
struct Reading {
    rebuilt: bool,
    limit: Option<usize>,
}

/// How far a refresh read one table: where its marks move, how many rows it read (of both
/// kinds), and whether its slice of import rows came back full (more may be left).
struct TableRead {
    plain: i64,
    imported: i64,
    read: usize,
    full: bool,
}

impl Reading {
    /// The rows `query` reads, where the table moved (in this transaction the query would find
    /// nothing otherwise) or the index is built again. A query not wanted is never polled, so
    /// never run.
    async fn rows<T>(
        self,
        moved: bool,
        query: impl Future<Output = hone_store::Result<Vec<T>>>,
    ) -> hone_store::Result<Vec<T>> {
        match self.rebuilt || moved {
            true => query.await,
            false => Ok(Vec::new()),
        }
    }

    /// Where a table's marks move once its `plain` rows and a slice of its `imported` ones are
    /// read from `mark`: the plain mark to the project's largest id, `last` (its rows of both
    /// kinds up to there are read, or left to the imported mark; a rebuild goes by the rows it
    /// read, as `last` was measured against the marks it dropped); the imported mark to the
    /// last row read, or with the plain one where nothing more was left.
    fn table<T: TableRow>(
        self,
        mark: i64,
        last: Option<i64>,
        plain: &[T],
        imported: &[T],
    ) -> TableRead {
        let last = if self.rebuilt { None } else { last };
        let plain_mark = [plain.last(), imported.last()]
            .into_iter()
            .flatten()
            .map(T::row_id)
            .chain(last)
            .fold(mark, i64::max);
        let full = self.limit.is_some_and(|limit| imported.len() >= limit);
        let imported_mark = match full {
            true => imported
                .last()
                .expect("a full slice has a last row")
                .row_id(),
            false => plain_mark,
        };
        TableRead {
            plain: plain_mark,
            imported: imported_mark,
            read: plain.len() + imported.len(),
            full,
        }
    }
}

/// A row as the watermarks count it: by its id in its table.
trait TableRow {
    fn row_id(&self) -> i64;
}

impl TableRow for PromptRow {
    fn row_id(&self) -> i64 {
        self.id.0
    }
}

impl TableRow for ResponseRow {
    fn row_id(&self) -> i64 {
        self.id.0
    }
}

impl TableRow for (Judgment, Option<ImportRunId>) {
    fn row_id(&self) -> i64 {
        self.0.id.0
    }
}

pub(super) type SharedIndex = Arc<tokio::sync::Mutex<QueueIndex>>;

#[cfg(test)]
mod tests {
    use hone_store::judgments;
    use hone_store::prompts::NewPrompt;
    use hone_store::responses::NewResponse;

    use super::*;
    use crate::feedback::{FeedbackInput, FeedbackKind};
    use crate::projects::ProjectSpec;
    use crate::{Choice, Hone};

    async fn project_with_a_pair(hone: &Hone, name: &str) -> (ProjectId, ResponseId, ResponseId) {
        let (project, _, a, b) = project_prompt_pair(hone, name).await;
        (project, a, b)
    }

    async fn project_prompt_pair(
        hone: &Hone,
        name: &str,
    ) -> (ProjectId, PromptId, ResponseId, ResponseId) {
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

    fn comparison(project_id: ProjectId, a: ResponseId, b: ResponseId) -> FeedbackInput {
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

    /// Writes `pairs` imported prompts, each with two responses and (for the first `judged`)
    /// the import's verdict, in one run left running; returns the run, the prompts and the
    /// verdicts.
    async fn import_pairs(
        hone: &Hone,
        project: ProjectId,
        pairs: usize,
        judged: usize,
    ) -> (ImportRunId, Vec<PromptId>, Vec<JudgmentId>) {
        use hone_store::judgments::{ImportedJudgment, ImportedVerdict};
        use hone_store::{annotators, imports, prompts, responses, AnnotatorKind};
        let mut tx = hone.store().begin().await.unwrap();
        let run = imports::start(&mut tx, project, "pairs.jsonl", "import")
            .await
            .unwrap();
        let news: Vec<NewPrompt> = (0..pairs)
            .map(|i| NewPrompt::text(format!("imported {i} by run {run}?")))
            .collect();
        let news: Vec<&NewPrompt> = news.iter().collect();
        let prompt_ids = prompts::insert_batch(&mut tx, project, run, &news)
            .await
            .unwrap();
        let texts: Vec<(PromptId, &str)> = prompt_ids
            .iter()
            .flat_map(|&p| [(p, "yes"), (p, "no")])
            .collect();
        let response_ids = responses::insert_batch(&mut tx, run, &texts).await.unwrap();
        let by = annotators::get_or_create(&mut tx, "import", AnnotatorKind::Import)
            .await
            .unwrap()
            .id;
        let verdicts: Vec<ImportedJudgment> = prompt_ids
            .iter()
            .zip(response_ids.chunks(2))
            .take(judged)
            .map(|(&prompt_id, pair)| ImportedJudgment {
                prompt_id,
                verdict: ImportedVerdict::Preferred {
                    chosen: pair[0],
                    rejected: pair[1],
                },
            })
            .collect();
        let verdicts = judgments::insert_imported(&mut tx, project, by, None, run, &verdicts)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        (run, prompt_ids, verdicts)
    }

    async fn refresh(hone: &Hone, index: &mut QueueIndex) {
        let mut read = hone.store().read().await.unwrap();
        index
            .refresh(&mut read, 2, QueueOrder::InOrder)
            .await
            .unwrap();
    }

    async fn finish_run(hone: &Hone, run: ImportRunId, records: i64) {
        let mut tx = hone.store().begin().await.unwrap();
        hone_store::imports::finish(&mut tx, run, records)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    /// A fresh workspace (kept while the folder lives) with one project of this overlap.
    async fn workspace_with_project(overlap: i64) -> (tempfile::TempDir, Hone, ProjectId) {
        let dir = tempfile::TempDir::new().unwrap();
        let hone = Hone::open(dir.path()).await.unwrap();
        let mut spec = ProjectSpec::named("a");
        spec.settings.overlap = overlap;
        let project = hone.create_project(&spec).await.unwrap().project.id;
        (dir, hone, project)
    }

    /// What annotators are offered: the open sets and every unit's place and votes.
    fn offered(index: &QueueIndex) -> impl PartialEq + std::fmt::Debug {
        type Seen = (UnitKey, Vec<(AnnotatorId, JudgmentId)>, bool);
        let units: Vec<Seen> = index
            .positions()
            .map(|pos| {
                let unit = index.unit(pos);
                let mut votes: Vec<_> = unit.votes.iter().map(|(a, v)| (*a, v.judgment)).collect();
                votes.sort_unstable();
                (unit.key.clone(), votes, unit.open)
            })
            .collect();
        let mut open_list = index.open_list.clone();
        open_list.sort_unstable();
        let mut mine: Vec<_> = index.mine_open.iter().filter(|(_, &n)| n > 0).collect();
        mine.sort_unstable();
        let mine: Vec<(AnnotatorId, usize)> = mine.into_iter().map(|(a, n)| (*a, *n)).collect();
        (
            units,
            index.started.clone(),
            index.fresh.clone(),
            index.split.clone(),
            open_list,
            mine,
            index.by_key.len(),
            index.orphans.len(),
        )
    }

    /// An import of 6 judged pairs (overlap 2) taken in 4 rows at a time: each refresh takes
    /// one prompt whole, every unit offered on the import's prompts carries its vote, and once
    /// all is in the index is what a fresh build makes. `seen_running`: a refresh reads the
    /// rows while the run runs (else first after it finished); `undo_last`: the last pair's
    /// verdict is undone while its prompt waits.
    /// The capacities of the index's hash maps (equal before and after: nothing was rehashed).
    fn capacities(index: &QueueIndex) -> [usize; 5] {
        [
            index.by_key.capacity(),
            index.by_shown.capacity(),
            index.judged.capacity(),
            index.responses.capacity(),
            index.open_at.capacity(),
        ]
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_import_as_large_as_the_built_index_goes_in_without_rehashing_its_maps() {
        let (_dir, hone, project) = workspace_with_project(2).await;
        let kind = JudgmentKind::Comparison;
        let (first, ..) = import_pairs(&hone, project, 60, 60).await;
        finish_run(&hone, first, 60).await;
        let shared = hone.queue_indexes.get(project, kind);
        let mut index = shared.lock().await;
        index.take_per_refresh = 16;
        refresh(&hone, &mut index).await;
        assert_eq!(index.open_count(), 60, "the build counted the first import");
        let built = capacities(&index);

        let (second, ..) = import_pairs(&hone, project, 60, 60).await;
        finish_run(&hone, second, 60).await;
        for _ in 0..20 {
            refresh(&hone, &mut index).await;
            assert_eq!(capacities(&index), built, "a slice rehashed a map");
        }
        assert_eq!(
            (index.waiting.rows(), index.open_count()),
            (0, 120),
            "the second import is in, a slice per refresh"
        );
    }

    async fn take_an_import_in_slices(seen_running: bool, undo_last: bool) {
        let (_dir, hone, project) = workspace_with_project(2).await;
        let kind = JudgmentKind::Comparison;
        let nothing = hone.next_item(project, "bob", kind).await.unwrap();
        assert!(nothing.is_none());
        let (run, prompt_ids, verdicts) = import_pairs(&hone, project, 6, 6).await;
        let shared = hone.queue_indexes.get(project, kind);
        shared.lock().await.take_per_refresh = 4;
        if seen_running {
            let mut index = shared.lock().await;
            refresh(&hone, &mut index).await;
            let waiting = (index.waiting.rows(), index.waiting.ready());
            assert_eq!(
                (index.open_count(), waiting),
                (0, (24, 0)),
                "while the run runs its 6 prompts, 12 responses and 6 verdicts wait"
            );
        }
        finish_run(&hone, run, 6).await;
        let mut index = shared.lock().await;
        let mut refreshes = 0;
        let mut undone = None;
        loop {
            let before = index.waiting.rows();
            refresh(&hone, &mut index).await;
            refreshes += 1;
            let taken = before as i64 - index.waiting.rows() as i64;
            let allowed = match (refreshes, undone) {
                (2, Some(_)) => 5, // the undone verdict left too
                _ => 4,
            };
            if refreshes == 1 && undo_last {
                // Read now: the first refresh took one prompt and left five waiting.
                assert_eq!(index.waiting.ready(), 20);
                drop(index);
                hone.undo_judgment(verdicts[5]).await.unwrap();
                undone = Some(prompt_ids[5]);
                index = shared.lock().await;
            } else if refreshes > 1 || seen_running {
                assert!(
                    (1..=allowed).contains(&taken),
                    "refresh {refreshes} took {taken} rows"
                );
            }
            // Every unit offered on the import's prompts carries the import's vote.
            for &prompt_id in prompt_ids.iter().filter(|&&p| Some(p) != undone) {
                for pos in index.units_of_prompt(prompt_id) {
                    assert_eq!(index.unit(pos).votes.len(), 1, "prompt {prompt_id}");
                }
            }
            if index.waiting.rows() == 0 {
                break;
            }
            assert!(refreshes < 6, "a prompt per refresh");
        }
        assert_eq!((refreshes, index.open_count()), (6, 6));
        let fresh = fresh_build(&hone, project, kind).await;
        assert_eq!(offered(&index), offered(&fresh), "as a fresh build");
    }

    #[tokio::test]
    async fn a_finished_imports_rows_are_taken_in_whole_prompts_a_slice_per_refresh() {
        take_an_import_in_slices(true, false).await;
    }

    #[tokio::test]
    async fn an_import_first_read_once_finished_is_taken_in_slices_too() {
        take_an_import_in_slices(false, false).await;
    }

    #[tokio::test]
    async fn a_verdict_undone_while_its_prompt_waits_never_counts() {
        take_an_import_in_slices(true, true).await;
        take_an_import_in_slices(false, true).await;
    }

    #[tokio::test]
    async fn nothing_is_left_for_an_annotator_only_once_every_finished_import_row_is_in() {
        // Overlap 1: bob skipped the one pair there was; the import's first 5 pairs come
        // judged (complete), the 6th does not. A slice of one prompt per refresh: the first
        // slices offer bob only what he skipped, and the next item must still find the 6th.
        let (_dir, hone, project) = workspace_with_project(1).await;
        let kind = JudgmentKind::Comparison;
        let prompt = hone
            .add_prompt(project, &NewPrompt::text("skipped?"))
            .await
            .unwrap();
        for text in ["one", "two"] {
            let r = NewResponse::new(prompt.id, text, ResponseSource::Model);
            hone.add_response(&r).await.unwrap();
        }
        let first = hone.next_item(project, "bob", kind).await.unwrap().unwrap();
        hone.skip_item(&crate::triage::SkipInput {
            project_id: project,
            annotator: "bob".into(),
            kind,
            prompt_id: None,
            response_ids: first.responses.iter().map(|r| r.id).collect(),
        })
        .await
        .unwrap();
        let (run, prompt_ids, _) = import_pairs(&hone, project, 6, 5).await;
        let shared = hone.queue_indexes.get(project, kind);
        // Read and taken 4 rows at a time: the next item reads more, in its read transaction.
        {
            let mut index = shared.lock().await;
            (index.take_per_refresh, index.read_per_refresh) = (4, 4);
        }
        let item = hone.next_item(project, "bob", kind).await.unwrap();
        assert_eq!(
            item.map(|i| i.prompt.id),
            Some(prompt.id),
            "while the run runs only the skipped pair is there"
        );
        finish_run(&hone, run, 6).await;
        let item = hone.next_item(project, "bob", kind).await.unwrap();
        assert_eq!(item.map(|i| i.prompt.id), Some(prompt_ids[5]));
    }

    #[tokio::test]
    async fn the_progress_counts_a_finished_import_whole() {
        let (_dir, hone, project) = workspace_with_project(1).await;
        let kind = JudgmentKind::Comparison;
        assert_eq!(hone.queue_progress(project, kind).await.unwrap().units, 0);
        let (run, _, _) = import_pairs(&hone, project, 6, 5).await;
        {
            let shared = hone.queue_indexes.get(project, kind);
            let mut index = shared.lock().await;
            (index.take_per_refresh, index.read_per_refresh) = (4, 4);
        }
        finish_run(&hone, run, 6).await;
        let progress = hone.queue_progress(project, kind).await.unwrap();
        assert_eq!(
            (progress.units, progress.complete, progress.untouched),
            (6, 5, 1)
        );
    }

    /// The index after a fresh build, to compare with one kept up to date.
    async fn fresh_build(hone: &Hone, project: ProjectId, kind: JudgmentKind) -> QueueIndex {
        let mut fresh = QueueIndex::new(project, kind, UNKNOWN_REVISION);
        let mut read = hone.store().read().await.unwrap();
        fresh
            .refresh(&mut read, 2, QueueOrder::InOrder)
            .await
            .unwrap();
        fresh
    }

    #[tokio::test]
    async fn a_running_imports_rows_are_read_a_slice_per_refresh_and_a_save_is_never_held_back() {
        let (_dir, hone, project) = workspace_with_project(2).await;
        let kind = JudgmentKind::Comparison;
        let prompt = hone
            .add_prompt(project, &NewPrompt::text("by hand?"))
            .await
            .unwrap();
        let mut pair = Vec::new();
        for text in ["one", "two"] {
            let r = NewResponse::new(prompt.id, text, ResponseSource::Model);
            pair.push(hone.add_response(&r).await.unwrap().id);
        }
        assert!(hone
            .next_item(project, "bob", kind)
            .await
            .unwrap()
            .is_some());
        // 6 prompts, 12 responses and 6 verdicts of a running import; then alice's save.
        let (run, _, _) = import_pairs(&hone, project, 6, 6).await;
        hone.record_feedback(&comparison(project, pair[0], pair[1]))
            .await
            .unwrap();
        let shared = hone.queue_indexes.get(project, kind);
        let mut index = shared.lock().await;
        index.read_per_refresh = 4;
        let mut refreshes = 0;
        loop {
            let before = index.waiting.rows();
            refresh(&hone, &mut index).await;
            refreshes += 1;
            let read = index.waiting.rows() - before;
            assert!(read <= 12, "refresh {refreshes} read {read} import rows");
            let by_hand = index.units_of_prompt(prompt.id).next().unwrap();
            assert_eq!(
                index.unit(by_hand).votes.len(),
                1,
                "alice's save counts at once, whatever the import left unread"
            );
            if !index.behind() {
                break;
            }
            assert!(refreshes < 4, "at most 4 rows a table a refresh");
        }
        assert_eq!(refreshes, 4, "12 responses: 4, 4, 4, then none left");
        assert_eq!(
            (index.waiting.rows(), index.open_count()),
            (24, 1),
            "the running import's rows all read, none counted"
        );
        drop(index);
        finish_run(&hone, run, 6).await;
        let mut index = shared.lock().await;
        refresh(&hone, &mut index).await;
        assert_eq!(index.waiting.rows(), 0);
        let fresh = fresh_build(&hone, project, kind).await;
        assert_eq!(offered(&index), offered(&fresh), "as a fresh build");
    }

    #[tokio::test]
    async fn a_finished_runs_rows_count_only_once_every_one_of_them_is_read() {
        let (_dir, hone, project) = workspace_with_project(2).await;
        let kind = JudgmentKind::Comparison;
        assert!(hone
            .next_item(project, "bob", kind)
            .await
            .unwrap()
            .is_none());
        let (run, prompt_ids, _) = import_pairs(&hone, project, 6, 6).await;
        finish_run(&hone, run, 6).await;
        let shared = hone.queue_indexes.get(project, kind);
        let mut index = shared.lock().await;
        index.read_per_refresh = 4;
        refresh(&hone, &mut index).await;
        assert!(index.behind());
        assert_eq!(
            (index.waiting.rows(), index.open_count()),
            (12, 0),
            "a third of the run read, nothing of it counted"
        );
        let mut refreshes = 1;
        while index.behind() || index.waiting.rows() > 0 {
            refresh(&hone, &mut index).await;
            refreshes += 1;
            for &prompt_id in &prompt_ids {
                for pos in index.units_of_prompt(prompt_id) {
                    assert_eq!(index.unit(pos).votes.len(), 1, "prompt {prompt_id}");
                }
            }
            assert!(refreshes <= 4);
        }
        let fresh = fresh_build(&hone, project, kind).await;
        assert_eq!(offered(&index), offered(&fresh), "as a fresh build");
    }
}
