//! Where a slow "next item" spent its time, told at debug level (`HONE_LOG=hone_core=debug`):
//! the annotator's own rows, the wait for the project's index (behind other annotators'
//! refreshes), the refresh, the survey, the choice and the item's texts. A load test's slowest
//! requests are read from these lines.

use std::time::{Duration, Instant};

use crate::ProjectId;

/// A "next item" slower than this is told.
const SLOW: Duration = Duration::from_millis(20);

pub(super) struct NextItemTimeline {
    project_id: ProjectId,
    started: Instant,
    last: Instant,
    phases: Vec<(&'static str, Duration)>,
}

impl NextItemTimeline {
    pub(super) fn start(project_id: ProjectId) -> Self {
        let now = Instant::now();
        Self {
            project_id,
            started: now,
            last: now,
            phases: Vec::with_capacity(6),
        }
    }

    /// The phase that ends now, named.
    pub(super) fn mark(&mut self, phase: &'static str) {
        let now = Instant::now();
        self.phases.push((phase, now - self.last));
        self.last = now;
    }

    /// "own_rows=1 index_wait=35 refresh=4" (milliseconds), the phases marked so far.
    fn phases_ms(&self) -> String {
        let phases = self
            .phases
            .iter()
            .map(|(name, took)| format!("{name}={}", took.as_millis()));
        phases.collect::<Vec<_>>().join(" ")
    }
}

impl Drop for NextItemTimeline {
    fn drop(&mut self) {
        let took = self.started.elapsed();
        if took >= SLOW {
            tracing::debug!(
                project = %self.project_id,
                took_ms = took.as_millis() as u64,
                phases_ms = %self.phases_ms(),
                "a slow next item"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_phases_are_told_in_order_each_with_its_own_time() {
        let mut timeline = NextItemTimeline::start(ProjectId(1));
        timeline.mark("own_rows");
        std::thread::sleep(Duration::from_millis(30));
        timeline.mark("index_wait");
        timeline.mark("refresh");
        let told = timeline.phases_ms();
        let phases: Vec<(&str, u128)> = told
            .split(' ')
            .map(|p| {
                let (name, ms) = p.split_once('=').expect("name=ms");
                (name, ms.parse().expect("milliseconds"))
            })
            .collect();
        let names: Vec<&str> = phases.iter().map(|p| p.0).collect();
        assert_eq!(names, ["own_rows", "index_wait", "refresh"]);
        assert!(
            phases[1].1 >= 30,
            "the wait is the phase that slept: {told}"
        );
        assert!(phases[0].1 < 30 && phases[2].1 < 30, "{told}");
    }
}
