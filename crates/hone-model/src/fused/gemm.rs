//! The fused ops' matrix products, the wide ones on OpenBLAS where the build linked it (x86-64
//! Linux: see [`super::openblas`]) and the rest on gemm (candle's CPU kernel), called directly:
//! on strided matrices inside a buffer (attention's heads), into an output that is not zeroed
//! first, or added into an existing one, cut between threads by [`super::product_parts`].
//! candle's `matmul` zeroes each fresh output on the calling thread before gemm overwrites it,
//! and a sum of two products is a third buffer and a pass.

use super::product_parts::{Cut, Parts};

/// A strided matrix inside a slice: element `(r, c)` is at `offset + r·row + c·col`.
#[derive(Clone, Copy)]
pub(super) struct Mat {
    pub(super) offset: usize,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) row: usize,
    pub(super) col: usize,
}

impl Mat {
    /// A row-major matrix: `rows` rows of `cols`, rows `row` apart, from `offset`.
    pub(super) fn rows(offset: usize, rows: usize, cols: usize, row: usize) -> Self {
        Self {
            offset,
            rows,
            cols,
            row,
            col: 1,
        }
    }

    /// The transpose (the same elements).
    pub(super) fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            row: self.col,
            col: self.row,
            ..self
        }
    }

    /// One past the largest index the matrix touches.
    fn end(&self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            return self.offset;
        }
        self.offset + (self.rows - 1) * self.row + (self.cols - 1) * self.col + 1
    }
}

/// `dst = [dst +] alpha · lhs · rhs`, every matrix checked to lie inside its buffer.
///
/// # Safety
/// `dst` points to `dst_len` writable elements that no other thread touches meanwhile;
/// with `accumulate`, the elements `d` covers are initialised.
#[allow(clippy::too_many_arguments)]
unsafe fn run(
    dst: *mut f32,
    dst_len: usize,
    d: Mat,
    (lhs, l): (&[f32], Mat),
    (rhs, r): (&[f32], Mat),
    alpha: f32,
    accumulate: bool,
    threads: usize,
) {
    assert!(
        l.rows == d.rows && r.cols == d.cols && l.cols == r.rows,
        "fused op: matrix sizes do not chain"
    );
    assert!(d.end() <= dst_len && l.end() <= lhs.len() && r.end() <= rhs.len());
    // Safety: the matrices lie inside their buffers (checked above); the caller vouches for
    // `dst`.
    unsafe {
        kernel(
            (dst.add(d.offset), d),
            (lhs.as_ptr().add(l.offset), l),
            (rhs.as_ptr().add(r.offset), r),
            alpha,
            accumulate,
            threads,
        )
    }
}

/// `d = [d +] alpha · l · r` on OpenBLAS where the build linked it (build.rs), the product is
/// large enough to gain from it ([`on_openblas`]) and its layouts are CBLAS's; on gemm
/// otherwise, each on `threads` threads cut as [`Parts`] says.
///
/// # Safety
/// Each pointer is its matrix's first element, and the matrix lies inside its allocation.
unsafe fn kernel(
    (dst, d): (*mut f32, Mat),
    (lhs, l): (*const f32, Mat),
    (rhs, r): (*const f32, Mat),
    alpha: f32,
    accumulate: bool,
    threads: usize,
) {
    #[cfg(hone_openblas)]
    if on_openblas(d.rows, d.cols, l.cols) {
        use super::openblas::{sgemm, Strided};
        let strided = |ptr, m: Mat| Strided {
            ptr,
            row: m.row,
            col: m.col,
        };
        // Safety: the caller's. Without `accumulate`, beta is 0 and OpenBLAS writes `d` without
        // reading it (tested below with a NaN-filled output).
        let ran = unsafe {
            sgemm(
                (d.rows, d.cols, l.cols),
                alpha,
                strided(lhs, l),
                strided(rhs, r),
                if accumulate { 1.0 } else { 0.0 },
                Strided {
                    ptr: dst,
                    row: d.row,
                    col: d.col,
                },
                threads,
            )
        };
        if ran {
            return;
        }
    }
    let parts = Parts::for_gemm(d.rows, d.cols, l.cols, threads);
    // The pointers cross to the workers as addresses: each part writes its own band of `d`.
    let (dst_at, lhs_at, rhs_at) = (dst as usize, lhs as usize, rhs as usize);
    parts.run(|band| {
        // A band of rows takes those rows of `lhs`; one of columns those columns of `rhs`.
        let (skip_dst, skip_lhs, skip_rhs, m, n) = match parts.cut {
            Cut::Rows => (
                band.start * d.row,
                band.start * l.row,
                0,
                band.len(),
                d.cols,
            ),
            Cut::Columns => (
                band.start * d.col,
                0,
                band.start * r.col,
                d.rows,
                band.len(),
            ),
        };
        // Safety: the caller's, and the band lies inside its matrices. Without `accumulate`,
        // gemm (0.19: `read_dst` false) writes `d` without reading it, on every path it takes
        // (tested below with a NaN-filled output).
        unsafe {
            gemm::gemm(
                m,
                n,
                l.cols,
                (dst_at as *mut f32).add(skip_dst),
                d.col as isize,
                d.row as isize,
                accumulate,
                (lhs_at as *const f32).add(skip_lhs),
                l.col as isize,
                l.row as isize,
                (rhs_at as *const f32).add(skip_rhs),
                r.col as isize,
                r.row as isize,
                1.0,
                alpha,
                false,
                false,
                false,
                gemm::Parallelism::None,
            )
        }
    });
}

/// Whether an `[m, k] · [k, n]` product runs on OpenBLAS: the wide projections' products (both
/// weight sides at least [`super::WIDE_PRODUCT_SIDE`], 64 rows or more: the 1B's, most of
/// SmolLM2's, and their backward's), where BLIS's AVX-512 kernels ran 1.3–1.8× gemm's
/// (BENCHMARKS, session 39) and OpenBLAS's 1.05–1.25× BLIS's (session 41). The thin ones —
/// LoRA's rank-16 factors, attention's per-head products, a narrow weight's (SmolLM2's key and
/// value projections, all of the starter's) — and products of fewer than 64 rows stay on gemm,
/// which ran them faster than BLIS (session 39).
#[cfg(hone_openblas)]
fn on_openblas(m: usize, n: usize, k: usize) -> bool {
    m >= 64 && n >= super::WIDE_PRODUCT_SIDE && k >= super::WIDE_PRODUCT_SIDE
}

/// [`run`] on one thread (attention's callers parallelise over heads, each writing its own
/// rows of one shared buffer, hence the raw pointer).
///
/// # Safety
/// As [`run`].
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn gemm_into(
    dst: *mut f32,
    dst_len: usize,
    d: Mat,
    lhs: &[f32],
    l: Mat,
    rhs: &[f32],
    r: Mat,
    alpha: f32,
    accumulate: bool,
) {
    // Safety: the caller's.
    unsafe { run(dst, dst_len, d, (lhs, l), (rhs, r), alpha, accumulate, 1) }
}

/// How candle splits a CPU product: over its thread count.
fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// `lhs · rhs`, row-major `[lhs.rows, rhs.cols]`, in a fresh buffer gemm writes without
/// zeroing it first.
pub(super) fn product(lhs: &[f32], l: Mat, rhs: &[f32], r: Mat) -> Vec<f32> {
    let (m, n) = (l.rows, r.cols);
    let mut out = Vec::with_capacity(m * n);
    // Safety: `out` has room for the `m·n` elements, and gemm writes every one of them
    // (`accumulate` false: it reads none, and with an empty inner dimension writes zeros),
    // after which they are initialised.
    unsafe {
        run(
            out.as_mut_ptr(),
            m * n,
            Mat::rows(0, m, n, n),
            (lhs, l),
            (rhs, r),
            1.0,
            false,
            threads(),
        );
        out.set_len(m * n);
    }
    out
}

/// `dst += alpha · lhs · rhs`, `dst` row-major `[lhs.rows, rhs.cols]`.
pub(super) fn add_product(dst: &mut [f32], lhs: &[f32], l: Mat, rhs: &[f32], r: Mat, alpha: f32) {
    let d = Mat::rows(0, l.rows, r.cols, r.cols);
    // Safety: `dst` is an initialised, exclusively borrowed buffer.
    unsafe {
        run(
            dst.as_mut_ptr(),
            dst.len(),
            d,
            (lhs, l),
            (rhs, r),
            alpha,
            true,
            threads(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0) - 1.0)
            .collect()
    }

    /// `lhs [m, k] · rhs [k, n]`, row-major, in f64.
    fn naive(m: usize, n: usize, k: usize, lhs: &[f32], rhs: &[f32]) -> Vec<f64> {
        let mut out = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|p| lhs[i * k + p] as f64 * rhs[p * n + j] as f64)
                    .sum();
            }
        }
        out
    }

    fn assert_close(ours: &[f32], expected: &[f64], what: &str) {
        assert_eq!(ours.len(), expected.len(), "{what}");
        for (o, e) in ours.iter().zip(expected) {
            assert!(
                (*o as f64 - e).abs() <= 1e-4 * (1.0 + e.abs()),
                "{what}: {o} against {e}"
            );
        }
    }

    /// The shapes reach gemm's paths: an empty inner dimension, a column, a row, a thin inner
    /// dimension, one microkernel tile, and several tiles split over threads; and OpenBLAS's
    /// where it is linked: the smallest product it takes, and one with partial tiles on every side.
    const SHAPES: [(usize, usize, usize); 9] = [
        (3, 4, 0),
        (6, 1, 7),
        (1, 5, 7),
        (5, 6, 2),
        (16, 16, 16),
        (70, 90, 130),
        (300, 64, 257),
        (64, 512, 512),
        (101, 531, 517),
    ];

    #[test]
    fn an_overwritten_output_is_never_read_on_any_of_gemms_paths() {
        for (m, n, k) in SHAPES {
            let (lhs, rhs) = (values(m * k, 1), values(k * n, 2));
            let expected = naive(m, n, k, &lhs, &rhs);
            for threads in [1, 2] {
                // NaN where gemm must write without reading: any read would show.
                let mut dst = vec![f32::NAN; m * n];
                // Safety: `dst` holds the m·n elements and is this thread's alone.
                unsafe {
                    run(
                        dst.as_mut_ptr(),
                        dst.len(),
                        Mat::rows(0, m, n, n),
                        (&lhs, Mat::rows(0, m, k, k)),
                        (&rhs, Mat::rows(0, k, n, n)),
                        1.0,
                        false,
                        threads,
                    )
                };
                assert_close(&dst, &expected, &format!("{m}×{k}·{k}×{n}"));
            }
            let fresh = product(&lhs, Mat::rows(0, m, k, k), &rhs, Mat::rows(0, k, n, n));
            assert_close(&fresh, &expected, &format!("product {m}×{k}·{k}×{n}"));
            // A background job's products split over its own pool instead of candle's workers.
            let background = crate::compute_priority::ComputePriority::Background
                .run(|| product(&lhs, Mat::rows(0, m, k, k), &rhs, Mat::rows(0, k, n, n)));
            assert_close(
                &background,
                &expected,
                &format!("in the background {m}×{k}·{k}×{n}"),
            );
        }
    }

    #[test]
    fn add_product_adds_a_scaled_product_of_a_transposed_operand() {
        // gemm's sizes, cut in columns and in rows, and OpenBLAS's where it is linked
        for (m, n, k) in [(70, 90, 130), (300, 64, 257), (101, 531, 517)] {
            add_product_of_a_transposed_operand(m, n, k);
        }
    }

    fn add_product_of_a_transposed_operand(m: usize, n: usize, k: usize) {
        let (lhs, rhs_t) = (values(m * k, 3), values(n * k, 4));
        // rhs is stored `[n, k]` and read transposed, as the LoRA projection reads B.
        let rhs: Vec<f32> = (0..k * n).map(|i| rhs_t[(i % n) * k + i / n]).collect();
        let start = values(m * n, 5);
        let product = naive(m, n, k, &lhs, &rhs);
        let expected: Vec<f64> = start
            .iter()
            .zip(&product)
            .map(|(&s, p)| s as f64 + 0.5 * p)
            .collect();
        let mut dst = start.clone();
        let r = Mat::rows(0, n, k, k).t();
        add_product(&mut dst, &lhs, Mat::rows(0, m, k, k), &rhs_t, r, 0.5);
        assert_close(&dst, &expected, "dst + 0.5 · lhs · rhsᵀᵀ");
    }

    /// A wide product whose left operand is transposed (the backward's `xᵀ·dy` reads it so),
    /// or strided with no unit stride, which CBLAS cannot take: OpenBLAS where linked takes the
    /// first, gemm the second, and both are right.
    #[test]
    fn a_wide_product_is_right_in_every_layout_of_its_left_operand() {
        let (m, n, k) = (96, 512, 520);
        let rhs = values(k * n, 6);
        let lhs = values(m * k, 7);
        let expected = naive(m, n, k, &lhs, &rhs);
        let r = Mat::rows(0, k, n, n);
        // stored [k, m], read transposed
        let lhs_t: Vec<f32> = (0..m * k).map(|i| lhs[(i % m) * k + i / m]).collect();
        let transposed = product(&lhs_t, Mat::rows(0, k, m, m).t(), &rhs, r);
        assert_close(&transposed, &expected, "lhsᵀᵀ · rhs");
        // every other element of rows twice as long, after an offset of 3
        let mut spread = vec![f32::NAN; 3 + 2 * m * k];
        for (i, v) in lhs.iter().enumerate() {
            spread[3 + 2 * i] = *v;
        }
        let strided = Mat {
            offset: 3,
            rows: m,
            cols: k,
            row: 2 * k,
            col: 2,
        };
        let ours = product(&spread, strided, &rhs, r);
        assert_close(&ours, &expected, "strided lhs · rhs");
    }
}
