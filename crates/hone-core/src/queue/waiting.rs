//! Rows an import run wrote, kept aside by the queue's index until they may count.
//!
//! While its run is under way a row waits (the import may still be rolled back). Once the run
//! is done its rows are taken in a slice at a time, a few hundred rows per refresh, so that
//! the refresh that finds a 100k-pair import done does not hold every annotator of the project
//! for the whole import at once (~300 ms at 70k rows). A slice never splits what one run wrote
//! on one prompt (its prompt, responses and judgments there): a prompt's units are offered
//! with the import's votes on them, or not yet at all. Until the last slice is in, the queue
//! sees part of the import (the oldest runs and prompts first): `next_item` takes more before
//! it has nothing to offer, and the progress view takes it all.

use std::collections::{BTreeMap, HashMap, HashSet};

use hone_store::judgments::Judgment;
use hone_store::queue_rows::{PromptRow, ResponseRow};

use crate::{ImportRunId, JudgmentId, PromptId};

/// What one import run wrote on one prompt.
#[derive(Debug, Default)]
pub(super) struct Group {
    pub prompt: Option<PromptRow>,
    pub responses: Vec<ResponseRow>,
    pub judgments: Vec<Judgment>,
}

impl Group {
    pub fn rows(&self) -> usize {
        usize::from(self.prompt.is_some()) + self.responses.len() + self.judgments.len()
    }
}

/// One run's waiting rows, by prompt.
#[derive(Debug, Default)]
struct RunRows {
    /// The run is no longer under way: its groups may be taken.
    done: bool,
    by_prompt: BTreeMap<PromptId, Group>,
}

/// The waiting rows of a project's import runs, by run then prompt.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    runs: BTreeMap<ImportRunId, RunRows>,
    /// Where each waiting judgment is (run, prompt).
    judgments: HashMap<JudgmentId, (ImportRunId, PromptId)>,
    rows: usize,
    /// Rows in runs that are done.
    ready: usize,
}

impl Waiting {
    /// Adds one row to what `run` wrote on `prompt_id` (`put` puts it in; false when it was
    /// there already, a prompt read twice).
    fn add(&mut self, run: ImportRunId, prompt_id: PromptId, put: impl FnOnce(&mut Group) -> bool) {
        let rows = self.runs.entry(run).or_default();
        if put(rows.by_prompt.entry(prompt_id).or_default()) {
            self.rows += 1;
            self.ready += usize::from(rows.done);
        }
    }

    pub fn add_prompt(&mut self, run: ImportRunId, prompt: PromptRow) {
        self.add(run, prompt.id, |g| g.prompt.replace(prompt).is_none());
    }

    pub fn add_response(&mut self, run: ImportRunId, response: ResponseRow) {
        self.add(run, response.prompt_id, |g| {
            g.responses.push(response);
            true
        });
    }

    pub fn add_judgment(&mut self, run: ImportRunId, judgment: Judgment) {
        self.judgments
            .insert(judgment.id, (run, judgment.prompt_id));
        self.add(run, judgment.prompt_id, |g| {
            g.judgments.push(judgment);
            true
        });
    }

    /// Whether `run` still has rows on `prompt_id` waiting (a row of that run on that prompt
    /// must wait with them).
    pub fn holds(&self, run: ImportRunId, prompt_id: PromptId) -> bool {
        self.runs
            .get(&run)
            .is_some_and(|rows| rows.by_prompt.contains_key(&prompt_id))
    }

    /// Whether `run` has rows waiting and is marked done.
    pub fn is_done(&self, run: ImportRunId) -> bool {
        self.runs.get(&run).is_some_and(|rows| rows.done)
    }

    pub fn contains(&self, id: JudgmentId) -> bool {
        self.judgments.contains_key(&id)
    }

    /// Takes a waiting judgment out (it was deleted, superseded or changed); its group stays.
    pub fn remove_judgment(&mut self, id: JudgmentId) {
        let Some((run, prompt_id)) = self.judgments.remove(&id) else {
            return;
        };
        let Some(rows) = self.runs.get_mut(&run) else {
            return;
        };
        let Some(group) = rows.by_prompt.get_mut(&prompt_id) else {
            return;
        };
        let before = group.judgments.len();
        group.judgments.retain(|j| j.id != id);
        let removed = before - group.judgments.len();
        self.rows -= removed;
        if rows.done {
            self.ready -= removed;
        }
        if group.rows() == 0 {
            rows.by_prompt.remove(&prompt_id);
            if rows.by_prompt.is_empty() {
                self.runs.remove(&run);
            }
        }
    }

    /// Marks the runs not in `running` done: their rows may be taken from now on.
    pub fn mark_done(&mut self, running: &HashSet<ImportRunId>) {
        for (run, rows) in &mut self.runs {
            if !rows.done && !running.contains(run) {
                rows.done = true;
                self.ready += rows.by_prompt.values().map(Group::rows).sum::<usize>();
            }
        }
    }

    /// Rows of done runs not taken yet.
    pub fn ready(&self) -> usize {
        self.ready
    }

    /// Every waiting row, done runs' or not.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Whole groups of done runs, oldest run first, up to `budget` rows (at least one group
    /// when any is ready, however large).
    pub fn take_ready(&mut self, budget: usize) -> Vec<Group> {
        let mut taken = Vec::new();
        let mut count = 0;
        while self.ready > 0 {
            let Some(run) = self
                .runs
                .iter()
                .find(|(_, rows)| rows.done)
                .map(|(&id, _)| id)
            else {
                debug_assert!(false, "{} rows ready and no run done", self.ready);
                break;
            };
            let rows = self.runs.get_mut(&run).expect("the run just found");
            let Some(next) = rows.by_prompt.first_entry() else {
                self.runs.remove(&run);
                continue;
            };
            let size = next.get().rows();
            if count > 0 && count + size > budget {
                break;
            }
            let group = next.remove();
            if rows.by_prompt.is_empty() {
                self.runs.remove(&run);
            }
            for j in &group.judgments {
                self.judgments.remove(&j.id);
            }
            count += size;
            self.rows -= size;
            self.ready -= size;
            taken.push(group);
        }
        taken
    }
}
