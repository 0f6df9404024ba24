//! The workspace's queue indexes, one per project and judgment kind, each behind its own lock:
//! annotators of one project take turns reading the new rows; projects do not wait for each
//! other. An index nobody has asked for in a while is dropped (a server lives for months and a
//! project's labeling ends; a deleted project's index would otherwise stay), and built again
//! from the store if its project is labeled again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hone_store::JudgmentKind;

use crate::ProjectId;

use super::index::{QueueIndex, SharedIndex, UNKNOWN_REVISION};

/// How long an index stays after its last use. Building one again costs a few seconds at 100k
/// judgments, so a pause for lunch keeps it; a finished project does not hold memory forever.
const IDLE_LIFETIME: Duration = Duration::from_secs(60 * 60);

struct Entry {
    index: SharedIndex,
    last_used: Instant,
}

pub(crate) struct QueueIndexes {
    entries: Mutex<HashMap<(ProjectId, JudgmentKind), Entry>>,
    idle_lifetime: Duration,
}

impl Default for QueueIndexes {
    fn default() -> Self {
        Self::with_idle_lifetime(IDLE_LIFETIME)
    }
}

impl std::fmt::Debug for QueueIndexes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "QueueIndexes({} indexes)", self.len())
    }
}

impl QueueIndexes {
    fn with_idle_lifetime(idle_lifetime: Duration) -> Self {
        Self {
            entries: Mutex::default(),
            idle_lifetime,
        }
    }

    /// The index of `project_id`'s `kind`, made empty (its first refresh reads everything) if
    /// there is none. Indexes idle past their lifetime, and not in anyone's hands, go first.
    pub(super) fn get(&self, project_id: ProjectId, kind: JudgmentKind) -> SharedIndex {
        let now = Instant::now();
        let mut entries = self.entries.lock().expect("queue index map lock");
        // A handful of entries per project: sweeping them on each call costs nothing next to
        // the refresh that follows.
        entries.retain(|_, entry| {
            Arc::strong_count(&entry.index) > 1
                || now.duration_since(entry.last_used) < self.idle_lifetime
        });
        let entry = entries.entry((project_id, kind)).or_insert_with(|| Entry {
            index: Arc::new(tokio::sync::Mutex::new(QueueIndex::new(
                project_id,
                kind,
                UNKNOWN_REVISION,
            ))),
            last_used: now,
        });
        entry.last_used = now;
        entry.index.clone()
    }

    fn len(&self) -> usize {
        self.entries.lock().map_or(0, |entries| entries.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_idle_past_its_lifetime_is_dropped_unless_someone_holds_it() {
        let indexes = QueueIndexes::with_idle_lifetime(Duration::from_millis(50));
        let kind = JudgmentKind::Comparison;
        let held = indexes.get(ProjectId(1), kind);
        drop(indexes.get(ProjectId(2), kind));
        assert_eq!(indexes.len(), 2);
        std::thread::sleep(Duration::from_millis(80));
        let fresh = indexes.get(ProjectId(3), kind);
        assert_eq!(indexes.len(), 2, "project 2's idle index is dropped");
        assert!(
            Arc::ptr_eq(&held, &indexes.get(ProjectId(1), kind)),
            "an index in someone's hands stays, however idle"
        );
        assert!(Arc::ptr_eq(&fresh, &indexes.get(ProjectId(3), kind)));
    }

    #[test]
    fn an_index_in_use_is_the_same_one_for_every_caller() {
        let indexes = QueueIndexes::default();
        let a = indexes.get(ProjectId(7), JudgmentKind::Rating);
        let b = indexes.get(ProjectId(7), JudgmentKind::Rating);
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(
            &a,
            &indexes.get(ProjectId(7), JudgmentKind::Comparison)
        ));
        assert_eq!(indexes.len(), 2);
    }
}
