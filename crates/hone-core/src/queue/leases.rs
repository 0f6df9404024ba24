//! Leases on queue units (issue 18). When several annotators ask for work at once, a unit that
//! needs one more verdict would be given to all of them, and the overlap overshot. A unit given
//! to an annotator is therefore held for them: others get other units while it is held and
//! its verdicts plus its holders reach the overlap. A lease ends when its holder has judged the
//! unit (their vote counts instead), skipped or flagged it, asked for [`HELD_PER_ANNOTATOR`]
//! newer units, or after [`LEASE_DURATION`] (an annotator who walked away). When every open unit is
//! held, the queue gives a held one rather than nothing.
//!
//! Leases live in the server's memory (`Hone::with_leases`, which `hone serve` turns on); a
//! restart forgets them, which only means a unit may be judged once more than needed.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hone_store::JudgmentKind;

use super::UnitKey;
use crate::{AnnotatorId, ProjectId};

/// How long a unit stays held for the annotator it was given to.
pub const LEASE_DURATION: Duration = Duration::from_secs(10 * 60);

/// The units an annotator holds at once: the one on screen and the one prefetched.
pub const HELD_PER_ANNOTATOR: usize = 2;

/// A unit held for an annotator.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Lease {
    pub unit: UnitKey,
    pub holder: String,
    /// The holder's annotator id when they had one (a first-time annotator has none yet).
    pub holder_id: Option<AnnotatorId>,
    pub until: Instant,
}

/// Every project's and kind's leases.
#[derive(Debug, Default)]
pub(crate) struct QueueLeases(Mutex<HashMap<(ProjectId, JudgmentKind), Vec<Lease>>>);

impl QueueLeases {
    /// The live leases of others than `annotator` on the project's units of `kind`, by unit:
    /// the holders' annotator ids.
    pub(crate) fn held_by_others(
        &self,
        project_id: ProjectId,
        kind: JudgmentKind,
        annotator: &str,
        now: Instant,
    ) -> HashMap<UnitKey, Vec<Option<AnnotatorId>>> {
        let mut all = self.0.lock().expect("the leases are never poisoned");
        let Some(leases) = all.get_mut(&(project_id, kind)) else {
            return HashMap::new();
        };
        leases.retain(|l| l.until > now);
        let mut held: HashMap<UnitKey, Vec<Option<AnnotatorId>>> = HashMap::new();
        for lease in leases.iter().filter(|l| l.holder != annotator) {
            held.entry(lease.unit.clone())
                .or_default()
                .push(lease.holder_id);
        }
        held
    }

    /// Holds `unit` for `annotator` from `now`; their oldest lease beyond
    /// [`HELD_PER_ANNOTATOR`] ends.
    pub(crate) fn hold(
        &self,
        project_id: ProjectId,
        kind: JudgmentKind,
        unit: UnitKey,
        annotator: &str,
        holder_id: Option<AnnotatorId>,
        now: Instant,
    ) {
        let mut all = self.0.lock().expect("the leases are never poisoned");
        let leases = all.entry((project_id, kind)).or_default();
        leases.retain(|l| l.until > now && !(l.holder == annotator && l.unit == unit));
        leases.push(Lease {
            unit,
            holder: annotator.to_owned(),
            holder_id,
            until: now + LEASE_DURATION,
        });
        let mine = leases.iter().filter(|l| l.holder == annotator).count();
        if mine > HELD_PER_ANNOTATOR {
            let oldest = leases
                .iter()
                .position(|l| l.holder == annotator)
                .expect("the annotator holds leases");
            leases.remove(oldest);
        }
    }

    /// Whether some lease of `annotator` was made before they had an annotator id.
    pub(crate) fn lacks_id(&self, annotator: &str) -> bool {
        let all = self.0.lock().expect("the leases are never poisoned");
        all.values()
            .flatten()
            .any(|l| l.holder == annotator && l.holder_id.is_none())
    }

    /// Gives `annotator`'s leases their annotator id once they have one (their first verdict),
    /// so that a unit they then judge counts their vote instead of their lease.
    pub(crate) fn identify(&self, annotator: &str, id: AnnotatorId) {
        let mut all = self.0.lock().expect("the leases are never poisoned");
        for lease in all.values_mut().flatten() {
            if lease.holder == annotator {
                lease.holder_id = Some(id);
            }
        }
    }

    /// Ends `annotator`'s lease on `unit` (they skipped or flagged it).
    pub(crate) fn release(
        &self,
        project_id: ProjectId,
        kind: JudgmentKind,
        annotator: &str,
        unit: &UnitKey,
    ) {
        let mut all = self.0.lock().expect("the leases are never poisoned");
        if let Some(leases) = all.get_mut(&(project_id, kind)) {
            leases.retain(|l| !(l.holder == annotator && &l.unit == unit));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: JudgmentKind = JudgmentKind::Comparison;

    fn unit(a: i64) -> UnitKey {
        UnitKey::Responses(vec![crate::ResponseId(a), crate::ResponseId(a + 1)])
    }

    #[test]
    fn a_lease_is_seen_by_others_only_and_ends_after_its_duration() {
        let leases = QueueLeases::default();
        let t0 = Instant::now();
        leases.hold(ProjectId(1), KIND, unit(1), "ana", Some(AnnotatorId(7)), t0);
        assert!(leases
            .held_by_others(ProjectId(1), KIND, "ana", t0)
            .is_empty());
        let held = leases.held_by_others(ProjectId(1), KIND, "bo", t0);
        assert_eq!(held.get(&unit(1)), Some(&vec![Some(AnnotatorId(7))]));
        // Another project or kind is not held.
        assert!(leases
            .held_by_others(ProjectId(2), KIND, "bo", t0)
            .is_empty());
        assert!(leases
            .held_by_others(ProjectId(1), JudgmentKind::Rating, "bo", t0)
            .is_empty());
        let almost = t0 + LEASE_DURATION - Duration::from_secs(1);
        assert_eq!(
            leases
                .held_by_others(ProjectId(1), KIND, "bo", almost)
                .len(),
            1
        );
        assert!(leases
            .held_by_others(ProjectId(1), KIND, "bo", t0 + LEASE_DURATION)
            .is_empty());
    }

    #[test]
    fn an_annotator_holds_at_most_two_units_the_newest() {
        let leases = QueueLeases::default();
        let t0 = Instant::now();
        for (i, a) in [1, 3, 5].into_iter().enumerate() {
            leases.hold(
                ProjectId(1),
                KIND,
                unit(a),
                "ana",
                None,
                t0 + Duration::from_secs(i as u64),
            );
        }
        let held = leases.held_by_others(ProjectId(1), KIND, "bo", t0 + Duration::from_secs(3));
        let mut units: Vec<_> = held.keys().cloned().collect();
        units.sort();
        assert_eq!(units, vec![unit(3), unit(5)]);
        // Asking for a unit held already renews it instead of holding it twice.
        leases.hold(
            ProjectId(1),
            KIND,
            unit(5),
            "ana",
            None,
            t0 + Duration::from_secs(4),
        );
        let held = leases.held_by_others(ProjectId(1), KIND, "bo", t0 + Duration::from_secs(5));
        assert_eq!(held.len(), 2);
        assert_eq!(held[&unit(5)].len(), 1);
        // Two annotators on one unit are two holders.
        leases.hold(
            ProjectId(1),
            KIND,
            unit(5),
            "cy",
            Some(AnnotatorId(9)),
            t0 + Duration::from_secs(6),
        );
        let held = leases.held_by_others(ProjectId(1), KIND, "bo", t0 + Duration::from_secs(6));
        assert_eq!(held[&unit(5)], vec![None, Some(AnnotatorId(9))]);
        // A first verdict gives ana's leases her id; a skip ends her lease on that unit.
        leases.identify("ana", AnnotatorId(4));
        let held = leases.held_by_others(ProjectId(1), KIND, "bo", t0 + Duration::from_secs(6));
        assert_eq!(
            held[&unit(5)],
            vec![Some(AnnotatorId(4)), Some(AnnotatorId(9))]
        );
        leases.release(ProjectId(1), KIND, "ana", &unit(5));
        let held = leases.held_by_others(ProjectId(1), KIND, "bo", t0 + Duration::from_secs(6));
        assert_eq!(held[&unit(5)], vec![Some(AnnotatorId(9))]);
        assert_eq!(held.len(), 2, "ana still holds unit 3");
    }
}
