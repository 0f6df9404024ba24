//! How far a project's labeling has come (issue 18: the lead's progress view): per kind, the
//! units the queue holds, how many have reached the project's overlap, how many are under way,
//! how many nobody has judged, and how many are held for an annotator right now (leases).
//! Judgments per annotator are in `stats`.

use hone_store::{projects, JudgmentKind};
use serde::{Deserialize, Serialize};

use crate::{Hone, ProjectId, Result};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindProgress {
    pub kind: JudgmentKind,
    pub overlap: usize,
    pub units: usize,
    /// Units that need no more verdicts.
    pub complete: usize,
    /// Open units with at least one verdict.
    pub started: usize,
    /// Open units nobody has judged.
    pub untouched: usize,
    /// Open units held for an annotator now (`queue::leases`).
    pub held: usize,
    /// Verdicts counted, all units together.
    pub verdicts: usize,
}

impl Hone {
    /// The project's labeling progress for `kind`, from the queue's own index (what annotators
    /// are offered is what is counted).
    pub async fn queue_progress(
        &self,
        project_id: ProjectId,
        kind: JudgmentKind,
    ) -> Result<KindProgress> {
        let project = projects::get(&mut *self.store().conn().await?, project_id).await?;
        let overlap = project.overlap.max(1) as usize;
        let (mut index, mut read) = self
            .refreshed_index(project_id, kind, overlap, project.queue_order)
            .await?;
        // The whole project: what finished imports left to read and take in, all of it.
        loop {
            while index.take_waiting_slice() {}
            if !index.behind() {
                break;
            }
            index
                .refresh(&mut read, overlap, project.queue_order)
                .await?;
        }
        drop(read);
        let held_units = self
            .queue_leases
            .as_ref()
            .map(|leases| leases.held_by_others(project_id, kind, "", std::time::Instant::now()));
        let mut progress = KindProgress {
            kind,
            overlap,
            units: 0,
            complete: 0,
            started: 0,
            untouched: 0,
            held: 0,
            verdicts: 0,
        };
        for pos in index.positions() {
            let unit = index.unit(pos);
            progress.units += 1;
            progress.verdicts += unit.votes.len();
            if !unit.open {
                progress.complete += 1;
                continue;
            }
            if unit.votes.is_empty() {
                progress.untouched += 1;
            } else {
                progress.started += 1;
            }
            // Held by someone who has not answered it yet.
            let held = held_units
                .as_ref()
                .and_then(|h| h.get(&unit.key))
                .is_some_and(|holders| {
                    holders
                        .iter()
                        .any(|h| !h.is_some_and(|id| unit.votes.contains_key(&id)))
                });
            if held {
                progress.held += 1;
            }
        }
        Ok(progress)
    }
}
