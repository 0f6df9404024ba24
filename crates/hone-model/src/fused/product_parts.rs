//! How a product's output is cut between threads, and where the parts run.
//!
//! Each part is one single-threaded kernel call over a band of the output's rows or columns,
//! run on candle's workers (the caller among them), or in a background job
//! (`compute_priority`) on its low-priority rayon pool. Neither kernel's own threading is used:
//! gemm's rayon split ran the thin products at half the rate of the same gemm calls on
//! candle's workers (BENCHMARKS, session 41: 256×576 → 192 at 132 against 294 GFLOP/s on two
//! threads), since rayon's workers wake to compete with candle's, which spin for a while after
//! each op before they sleep; a BLAS's own threads meet at spinning barriers beside them (a
//! third of the 1B's DPO time on BLIS's threads, session 39).

use std::ops::Range;

use rayon::prelude::*;

/// Which of the output's sides the bands run along.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cut {
    Columns,
    Rows,
}

/// An output cut into `count` bands along `cut`, of `len` rows or columns in all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Parts {
    pub(super) cut: Cut,
    count: usize,
    len: usize,
}

/// gemm's bands are at least this many rows or columns: its microkernel's tiles are up to 16
/// rows by 48 columns, and a narrower band wastes them.
const MIN_GEMM_BAND: usize = 32;

/// A product of fewer multiply-adds than this runs on the calling thread: handing it to the
/// workers costs more than it saves.
const MIN_SPLIT_WORK: usize = 1 << 15;

impl Parts {
    /// `n` columns in bands of at least `min` on up to `threads` threads (OpenBLAS's cut).
    #[cfg(any(hone_openblas, test))]
    pub(super) fn columns(n: usize, threads: usize, min: usize) -> Self {
        Self {
            cut: Cut::Columns,
            count: threads.min(n / min.max(1)).max(1),
            len: n,
        }
    }

    /// gemm's parts of an `[m, k] · [k, n]` product: along the output's longer side (columns
    /// where even), whose bands keep the most of each tile.
    pub(super) fn for_gemm(m: usize, n: usize, k: usize, threads: usize) -> Self {
        let threads = if m * n * k < MIN_SPLIT_WORK {
            1
        } else {
            threads
        };
        let (cut, len) = if m > n {
            (Cut::Rows, m)
        } else {
            (Cut::Columns, n)
        };
        Self {
            cut,
            count: threads.min(len / MIN_GEMM_BAND).max(1),
            len,
        }
    }

    /// The rows or columns of band `part`: the bands tile `0..len` in order.
    pub(super) fn band(&self, part: usize) -> Range<usize> {
        part * self.len / self.count..(part + 1) * self.len / self.count
    }

    /// Runs `f` on every band, in parallel where there are several.
    ///
    /// Never from inside a closure candle's workers run (`kernels::each_row`, attention's
    /// heads): candle's pool keeps its lock while the calling thread runs its own share, so a
    /// product of several parts there would wait on itself. Such callers pass one thread.
    pub(super) fn run(&self, f: impl Fn(Range<usize>) + Sync + Send) {
        let one = |part: usize| f(self.band(part));
        if self.count == 1 {
            one(0);
        } else if crate::compute_priority::in_background() {
            (0..self.count).into_par_iter().for_each(one);
        } else {
            candle_core::utils::barrier_pool()
                .execute_chunked(self.count, |parts| parts.for_each(one));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn the_bands_tile_the_side_in_order_and_each_runs_once() {
        for (len, threads) in [(1, 4), (100, 3), (512, 2), (1000, 7)] {
            let parts = Parts::columns(len, threads, 1);
            let seen = Mutex::new(Vec::new());
            parts.run(|band| seen.lock().unwrap().push(band));
            let mut seen = seen.into_inner().unwrap();
            seen.sort_by_key(|b| b.start);
            assert_eq!(seen.len(), threads.min(len), "{len} on {threads}");
            assert_eq!(seen.first().unwrap().start, 0);
            assert_eq!(seen.last().unwrap().end, len);
            assert!(seen.windows(2).all(|w| w[0].end == w[1].start));
        }
    }

    #[test]
    fn gemm_cuts_the_longer_side_into_bands_it_can_tile_and_keeps_small_products_whole() {
        let tall = Parts::for_gemm(256, 16, 576, 2);
        assert_eq!((tall.cut, tall.count), (Cut::Rows, 2));
        let wide = Parts::for_gemm(16, 2048, 256, 2);
        assert_eq!((wide.cut, wide.count), (Cut::Columns, 2));
        let square = Parts::for_gemm(64, 64, 64, 8);
        assert_eq!((square.cut, square.count), (Cut::Columns, 2));
        assert_eq!(Parts::for_gemm(8, 8, 8, 2).count, 1);
        assert_eq!(Parts::for_gemm(40, 40, 4096, 2).count, 1, "bands under 32");
    }
}
