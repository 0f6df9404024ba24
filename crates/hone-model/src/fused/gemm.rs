//! The fused ops' matrix products, on gemm (candle's CPU kernel) called directly: on strided
//! matrices inside a buffer (attention's heads), into an output that is not zeroed first, or
//! added into an existing one. candle's `matmul` zeroes each fresh output on the calling
//! thread before gemm overwrites it, and a sum of two products is a third buffer and a pass.

use gemm::Parallelism;

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
    parallelism: Parallelism,
) {
    assert!(
        l.rows == d.rows && r.cols == d.cols && l.cols == r.rows,
        "fused op: matrix sizes do not chain"
    );
    assert!(d.end() <= dst_len && l.end() <= lhs.len() && r.end() <= rhs.len());
    // Safety: the matrices lie inside their buffers (checked above); the caller vouches for
    // `dst`. Without `accumulate`, gemm (0.19: `read_dst` false) writes `dst` without reading
    // it, on every path it takes (tested below with a NaN-filled output).
    unsafe {
        gemm::gemm(
            d.rows,
            d.cols,
            l.cols,
            dst.add(d.offset),
            d.col as isize,
            d.row as isize,
            accumulate,
            lhs.as_ptr().add(l.offset),
            l.col as isize,
            l.row as isize,
            rhs.as_ptr().add(r.offset),
            r.col as isize,
            r.row as isize,
            1.0,
            alpha,
            false,
            false,
            false,
            parallelism,
        )
    }
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
    unsafe {
        run(
            dst,
            dst_len,
            d,
            (lhs, l),
            (rhs, r),
            alpha,
            accumulate,
            Parallelism::None,
        )
    }
}

/// How candle splits a CPU product: over its thread count, on rayon.
fn threads() -> Parallelism {
    match candle_core::utils::get_num_threads() {
        n if n > 1 => Parallelism::Rayon(n),
        _ => Parallelism::None,
    }
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
    /// dimension, one microkernel tile, and several tiles split over threads.
    const SHAPES: [(usize, usize, usize); 7] = [
        (3, 4, 0),
        (6, 1, 7),
        (1, 5, 7),
        (5, 6, 2),
        (16, 16, 16),
        (70, 90, 130),
        (300, 64, 257),
    ];

    #[test]
    fn an_overwritten_output_is_never_read_on_any_of_gemms_paths() {
        for (m, n, k) in SHAPES {
            let (lhs, rhs) = (values(m * k, 1), values(k * n, 2));
            let expected = naive(m, n, k, &lhs, &rhs);
            for parallelism in [Parallelism::None, Parallelism::Rayon(2)] {
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
                        parallelism,
                    )
                };
                assert_close(&dst, &expected, &format!("{m}×{k}·{k}×{n}"));
            }
            let fresh = product(&lhs, Mat::rows(0, m, k, k), &rhs, Mat::rows(0, k, n, n));
            assert_close(&fresh, &expected, &format!("product {m}×{k}·{k}×{n}"));
        }
    }

    #[test]
    fn add_product_adds_a_scaled_product_of_a_transposed_operand() {
        let (m, n, k) = (70, 90, 130);
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
}
