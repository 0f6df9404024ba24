//! How many records an import writes per transaction: as many as fit a short turn at the
//! writer. A judgment saved while an import runs waits for the chunk being written, so the
//! chunks are sized by the time they hold the writer, not by a fixed count: a fixed count is
//! too long on a slow disk or a busy machine (1,000 records held the writer ~150 ms on two
//! cores under a training job) and needlessly short on a fast one.

use std::time::Duration;

/// The writer's turn an import aims to take per chunk.
pub(super) const TURN: Duration = Duration::from_millis(10);
/// Progress is told every this many records written (chunks never straddle a multiple).
pub(super) const PROGRESS_RECORDS: usize = 1_000;
/// The first chunk's size, before any was timed.
const FIRST: usize = 100;
/// Below this, a commit's own cost (an fsync) would outweigh the records'.
const FEWEST: usize = 16;
/// At most this many records a chunk, however fast they are written.
const MOST: usize = PROGRESS_RECORDS;

/// The next chunk's size, from how long the last ones held the writer.
#[derive(Debug, Clone)]
pub(super) struct Pace {
    size: usize,
}

impl Default for Pace {
    fn default() -> Self {
        Self { size: FIRST }
    }
}

impl Pace {
    /// Records the next chunk takes when `written` records are written so far: the pace's size,
    /// cut at the next progress mark.
    pub(super) fn records(&self, written: usize) -> usize {
        self.size
            .min(PROGRESS_RECORDS - written % PROGRESS_RECORDS)
            .max(1)
    }

    /// A chunk of `records` held the writer for `held`: the next one is sized to the turn.
    /// The step is the geometric mean of the old size and the size that would have fit, so one
    /// slow commit (another process's fsync, a page fault) does not swing it.
    pub(super) fn took(&mut self, records: usize, held: Duration) {
        if records == 0 {
            return;
        }
        let per_record = held.as_secs_f64().max(1e-6) / records as f64;
        let fits = TURN.as_secs_f64() / per_record;
        let next = (self.size as f64 * fits).sqrt();
        self.size = (next.round() as usize).clamp(FEWEST, MOST);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_chunks_shrink_fast_ones_grow_and_both_stay_in_bounds() {
        let mut pace = Pace::default();
        // 100 records in 40 ms: 25 would fit; the step goes halfway (geometric mean, 50).
        pace.took(100, Duration::from_millis(40));
        assert_eq!(pace.size, 50);
        for _ in 0..20 {
            let held = Duration::from_micros(400 * pace.size as u64);
            pace.took(pace.size, held);
        }
        assert_eq!(pace.size, 25, "settles where a chunk takes the turn");
        for _ in 0..20 {
            pace.took(pace.size, Duration::from_micros(pace.size as u64));
        }
        assert_eq!(pace.size, MOST);
        for _ in 0..20 {
            pace.took(pace.size, Duration::from_secs(1));
        }
        assert_eq!(pace.size, FEWEST);
    }

    #[test]
    fn chunks_end_on_the_progress_marks() {
        let pace = Pace { size: 300 };
        assert_eq!(pace.records(0), 300);
        assert_eq!(pace.records(900), 100);
        assert_eq!(pace.records(1_000), 300);
        assert_eq!(pace.records(1_950), 50);
    }
}
