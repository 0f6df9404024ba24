//! The fused ops' f32 products on OpenBLAS, where the build linked it (x86-64 Linux: build.rs).
//!
//! Why not gemm, candle's kernel: on the AVX-512 CPU of BENCHMARKS' session 39, gemm 0.19
//! reached 110–180 GFLOP/s on the 1B's projections with 2 threads where BLIS's `skx` kernels
//! (and PyTorch's MKL) reached ~300, close to the two cores' FMA peak. Why OpenBLAS rather
//! than BLIS (sessions 39–40): its SkylakeX kernels ran the same products 1.05–1.25× faster
//! than BLIS 0.9's `skx` in one process, alternating (BENCHMARKS, session 41), and BLIS 0.9
//! packs the 32-row panels of its `skx` kernels with a generic loop (10% of the 1B's DPO).
//!
//! Why Hone names the kernels: OpenBLAS chooses them by the CPU's model number, and a CPU it
//! does not know — a cloud VM's "Intel Xeon Processor", a newer part — gets its SSE3 kernels
//! (0.3.21: `Prescott`, 51–70 GFLOP/s against ~300). So csrc/openblas_sgemm.c sets OPENBLAS_CORETYPE from the CPU's
//! features before OpenBLAS starts; a user's OPENBLAS_CORETYPE still wins.

use std::ffi::{c_char, c_int, CStr};
use std::sync::OnceLock;

use super::product_parts::Parts;

unsafe extern "C" {
    fn hone_openblas_init() -> *const c_char;
    fn hone_openblas_requested() -> *const c_char;
    #[allow(clippy::too_many_arguments)]
    fn hone_openblas_sgemm(
        m: c_int,
        n: c_int,
        k: c_int,
        alpha: f32,
        a: *const f32,
        lda: c_int,
        trans_a: c_int,
        b: *const f32,
        ldb: c_int,
        trans_b: c_int,
        beta: f32,
        c: *mut f32,
        ldc: c_int,
    );
}

/// The OpenBLAS kernels the products run on (`SkylakeX`, `Haswell`, …), set up on first use.
pub(crate) fn configuration() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        // Safety: `hone_openblas_init` returns a static NUL-terminated name; the OnceLock runs
        // it once, before any product (every product calls this first).
        let name = unsafe { CStr::from_ptr(hone_openblas_init()) };
        let name = name.to_string_lossy().into_owned();
        match requested() {
            Some(asked) if !asked.eq_ignore_ascii_case(&name) => tracing::warn!(
                asked,
                kernels = %name,
                "OpenBLAS did not take the kernels Hone named for this CPU"
            ),
            _ => tracing::debug!(kernels = %name, "OpenBLAS set up for the fused ops' products"),
        }
        name
    })
}

/// The kernels Hone named from the CPU's features before OpenBLAS started; `None` where the
/// user named them (OPENBLAS_CORETYPE) or the CPU lacks AVX2 or FMA (OpenBLAS's own choice).
fn requested() -> Option<&'static str> {
    // Safety: a static NUL-terminated name or NULL, set before `main` and never after.
    let name = unsafe { hone_openblas_requested() };
    // Safety: as above.
    (!name.is_null()).then(|| unsafe { CStr::from_ptr(name) }.to_str().unwrap_or_default())
}

/// A strided matrix: its first element and its (row, column) strides.
#[derive(Clone, Copy)]
pub(super) struct Strided<T> {
    pub(super) ptr: T,
    pub(super) row: usize,
    pub(super) col: usize,
}

/// How CBLAS reads a row-major operand of `rows × cols`: as stored (`false`) or transposed
/// (`true`), and its leading dimension. `None` for a layout CBLAS cannot take (neither stride
/// 1, or a leading dimension too small or past `int`).
fn cblas_layout(rows: usize, cols: usize, row: usize, col: usize) -> Option<(bool, c_int)> {
    let (transposed, ld, min_ld) = if col == 1 {
        (false, row, cols)
    } else if row == 1 {
        (true, col, rows)
    } else {
        return None;
    };
    (ld >= min_ld.max(1)).then_some(())?;
    Some((transposed, c_int::try_from(ld).ok()?))
}

/// Each thread's share of a product's columns is at least this wide.
const MIN_PART_COLUMNS: usize = 256;

/// `c = beta·c + alpha·a·b` for `a` `[m, k]`, `b` `[k, n]`, `c` `[m, n]` on `threads` threads,
/// each running OpenBLAS on one thread over its own columns of `b` and `c`
/// ([`super::product_parts`]); with `beta` 0, `c` is written without being read. Returns
/// `false`, touching nothing, where a matrix's layout is not one CBLAS takes (`c` must be
/// row-major, `a` and `b` row-major or transposed) or a side is past `int`: the caller runs
/// the product elsewhere.
///
/// # Safety
/// Each matrix lies inside its allocation at its strides, `c` is writable and no other thread
/// touches it meanwhile, and with a non-zero `beta` its elements are initialised.
pub(super) unsafe fn sgemm(
    (m, n, k): (usize, usize, usize),
    alpha: f32,
    a: Strided<*const f32>,
    b: Strided<*const f32>,
    beta: f32,
    c: Strided<*mut f32>,
    threads: usize,
) -> bool {
    let sides = [m, n, k].map(c_int::try_from);
    let (Ok(m_), Ok(_), Ok(k_)) = (sides[0], sides[1], sides[2]) else {
        return false;
    };
    let (Some(a_op), Some(b_op), Some((false, ldc))) = (
        cblas_layout(m, k, a.row, a.col),
        cblas_layout(k, n, b.row, b.col),
        cblas_layout(m, n, c.row, c.col),
    ) else {
        return false;
    };
    configuration();
    // The pointers cross to the workers as addresses: each part writes its own columns of `c`.
    let (a_at, b_at, c_at) = (a.ptr as usize, b.ptr as usize, c.ptr as usize);
    Parts::columns(n, threads, MIN_PART_COLUMNS).run(|columns| {
        // Safety: `columns` of `b` and `c` lie inside theirs (the caller's), no other part
        // touches them, and the layouts were checked above (a part's leading dimensions are
        // the whole matrix's; its width is at most `n`, which fits `int`).
        unsafe {
            hone_openblas_sgemm(
                m_,
                columns.len() as c_int,
                k_,
                alpha,
                a_at as *const f32,
                a_op.1,
                c_int::from(a_op.0),
                (b_at as *const f32).add(columns.start * b.col),
                b_op.1,
                c_int::from(b_op.0),
                beta,
                (c_at as *mut f32).add(columns.start * c.col),
                ldc,
            )
        }
    });
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cblas_takes_row_major_and_transposed_operands_and_nothing_else() {
        // [3, 4] row-major in rows of 5 (a view of a wider buffer)
        assert_eq!(cblas_layout(3, 4, 5, 1), Some((false, 5)));
        // [3, 4] read from a [4, 3] row-major buffer: the transpose
        assert_eq!(cblas_layout(3, 4, 1, 3), Some((true, 3)));
        // neither stride 1 (attention's heads of a strided buffer)
        assert_eq!(cblas_layout(3, 4, 8, 2), None);
        // rows closer than a row's length overlap
        assert_eq!(cblas_layout(3, 4, 3, 1), None);
        assert_eq!(cblas_layout(3, 4, 1, 2), None);
        // a leading dimension past `int`
        assert_eq!(cblas_layout(3, 4, 1 << 31, 1), None);
    }

    #[test]
    fn the_kernels_are_the_ones_hone_named_from_the_cpus_features() {
        let Some(requested) = requested() else {
            // the user's OPENBLAS_CORETYPE, or a CPU without AVX2 and FMA: OpenBLAS's choice
            assert!(
                std::env::var_os("OPENBLAS_CORETYPE").is_some()
                    || !(std::arch::is_x86_feature_detected!("avx2")
                        && std::arch::is_x86_feature_detected!("fma"))
            );
            return;
        };
        let avx512 = std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl");
        assert_eq!(requested, if avx512 { "SkylakeX" } else { "Haswell" });
        // OpenBLAS took them (not its fallback for a CPU it does not know)
        assert_eq!(configuration(), requested);
    }

    /// A wide product in CBLAS's layouts runs on OpenBLAS (not on the caller's gemm fallback),
    /// right, in one part and in several; one CBLAS cannot take is declined untouched.
    #[test]
    fn a_wide_product_runs_on_openblas_and_a_foreign_layout_is_declined() {
        let (m, n, k) = (64, 600, 520);
        let a: Vec<f32> = (0..m * k).map(|i| ((i * 7) % 13) as f32 - 6.0).collect();
        // `b` stored [n, k] and read transposed, as a weight is
        let b: Vec<f32> = (0..n * k).map(|i| ((i * 5) % 11) as f32 - 5.0).collect();
        let expected: Vec<f32> = (0..m * n)
            .map(|at| {
                let (i, j) = (at / n, at % n);
                (0..k).map(|p| a[i * k + p] * b[j * k + p]).sum()
            })
            .collect();
        // `a` read with column stride `a_col` (1: row-major), `b` transposed, into `c`.
        let product = |(m, n, k): (usize, usize, usize), a_col: usize, threads: usize| {
            let mut c = vec![f32::NAN; m * n];
            let at = |ptr, row, col| Strided { ptr, row, col };
            // Safety: every matrix lies inside its vector at these strides (with a column
            // stride of 2, `a` is read over half its rows and half its width).
            let ran = unsafe {
                sgemm(
                    (m, n, k),
                    1.0,
                    at(a.as_ptr(), k * a_col, a_col),
                    at(b.as_ptr(), 1, k),
                    0.0,
                    Strided {
                        ptr: c.as_mut_ptr(),
                        row: n,
                        col: 1,
                    },
                    threads,
                )
            };
            (ran, c)
        };
        for threads in [1, 2, 3] {
            let (ran, c) = product((m, n, k), 1, threads);
            assert!(ran, "{threads} threads");
            for (got, want) in c.iter().zip(&expected) {
                // integers: exact in f32 at these sizes
                assert_eq!(got, want, "{threads} threads");
            }
        }
        let (ran, c) = product((m / 2, n, k / 2), 2, 2);
        assert!(!ran);
        assert!(
            c.iter().all(|v| v.is_nan()),
            "a declined product writes nothing"
        );
    }
}
