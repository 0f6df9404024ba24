//! How many records an import writes per transaction: as many as fit a short turn at the
//! writer. A judgment saved while an import runs waits for the chunk being written, so the
//! chunks are sized by the time they hold the writer, not by a fixed count: a fixed count is
//! too long on a slow disk or a busy machine (1,000 records held the writer ~150 ms on two
//! cores under a training job) and needlessly short on a fast one.

use std::time::Duration;

/// The writer's turn an import aims to take per chunk. Under load the import's thread loses
/// the CPU mid-chunk, so a chunk holds the writer longer than it aims: aimed at 10 ms, 63
/// chunks of one load run held it 20–63 ms; aimed at 5 ms, 15 did (BENCHMARKS "Labeling under
/// load"), at no cost to the import's own time.
pub(super) const TURN: Duration = Duration::from_millis(5);
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
        // 100 records in 4 turns: 25 would fit; the step goes halfway (geometric mean, 50).
        pace.took(100, TURN * 4);
        assert_eq!(pace.size, 50);
        for _ in 0..20 {
            // A record takes a 25th of the turn.
            pace.took(pace.size, TURN * pace.size as u32 / 25);
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
