//! The fused ops' f32 products on BLIS, where the build linked it (x86-64 Linux: build.rs).
//!
//! Why not gemm, candle's kernel: on the AVX-512 CPU of BENCHMARKS' session 39, gemm 0.19
//! reached 110–180 GFLOP/s on the 1B's projections with 2 threads where BLIS's `skx` kernels
//! (and PyTorch's MKL) reached ~300, close to the two cores' FMA peak.
//!
//! Why Hone picks the kernels: BLIS (like OpenBLAS) chooses its kernels by the CPU's model
//! number, and a CPU it does not know — a cloud VM's "Intel Xeon Processor", a newer part —
//! gets its AVX2 kernels (BLIS) or no SIMD kernels at all (OpenBLAS 0.3.21: `Prescott`). So
//! where the CPU has the AVX-512 subsets BLIS's `skx` kernels use, Hone asks for them; a user's
//! `BLIS_ARCH_TYPE` still wins.

use std::ffi::{c_char, c_int, c_long, CStr};
use std::sync::OnceLock;

use rayon::prelude::*;

unsafe extern "C" {
    fn hone_blis_init(avx512: c_int) -> *const c_char;
    #[allow(clippy::too_many_arguments)]
    fn hone_blis_sgemm(
        m: c_long,
        n: c_long,
        k: c_long,
        alpha: f32,
        a: *const f32,
        rsa: c_long,
        csa: c_long,
        b: *const f32,
        rsb: c_long,
        csb: c_long,
        beta: f32,
        c: *mut f32,
        rsc: c_long,
        csc: c_long,
    );
}

/// The BLIS configuration the products run on (`skx`, `haswell`, …), set up on first use.
pub(crate) fn configuration() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        // What BLIS's own test for `skx` asks: AVX-512's F, DQ, BW and VL, and AVX2 and FMA.
        let avx512 = std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vl");
        // Safety: `hone_blis_init` returns a static NUL-terminated name; the OnceLock runs it
        // once, before any product (every product calls this first).
        let name = unsafe { CStr::from_ptr(hone_blis_init(c_int::from(avx512))) };
        let name = name.to_string_lossy().into_owned();
        tracing::debug!(configuration = %name, "BLIS set up for the fused ops' products");
        name
    })
}

/// A strided matrix as BLIS reads it: its first element and its (row, column) strides.
#[derive(Clone, Copy)]
pub(super) struct Strided<T> {
    pub(super) ptr: T,
    pub(super) row: usize,
    pub(super) col: usize,
}

/// Each thread's share of a product's columns is at least this wide.
const MIN_PART_COLUMNS: usize = 256;

/// `c = beta·c + alpha·a·b` for `a` `[m, k]`, `b` `[k, n]`, `c` `[m, n]` on `threads` threads;
/// with `beta` 0, `c` is written without being read.
///
/// The threads each run BLIS on one thread over their own columns of `b` and `c`. BLIS's own
/// threads are started at every call and meet at spinning barriers; beside candle's workers,
/// which spin for a while after each op before they sleep, a `perf` profile of the 1B's DPO
/// put a third of its time in those barriers. The threads are candle's workers (the caller
/// among them), except in a background job (`compute_priority`), whose products stay on its
/// low-priority rayon pool: there rayon's workers compete with candle's spinning ones, and
/// the 1B's DPO took 75 s instead of 59.
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
) {
    configuration();
    let parts = threads.min(n / MIN_PART_COLUMNS).max(1);
    if parts == 1 {
        // Safety: the caller's.
        unsafe { one_thread((m, n, k), alpha, &a, &b, beta, &c) };
        return;
    }
    // Part p takes columns p·n/parts .. (p+1)·n/parts: every part is inside `n`.
    let bounds = |part: usize| part * n / parts;
    // The pointers cross to the workers as addresses: each part writes its own columns of `c`.
    let (a_at, b_at, c_at) = (a.ptr as usize, b.ptr as usize, c.ptr as usize);
    let run_part = |part: usize| {
        let (start, end) = (bounds(part), bounds(part + 1));
        let a = Strided {
            ptr: a_at as *const f32,
            ..a
        };
        // Safety: columns `start..end` of `b` and `c` lie inside theirs (the caller's), and no
        // other part touches them.
        unsafe {
            let b = Strided {
                ptr: (b_at as *const f32).add(start * b.col),
                ..b
            };
            let c = Strided {
                ptr: (c_at as *mut f32).add(start * c.col),
                ..c
            };
            one_thread((m, end - start, k), alpha, &a, &b, beta, &c)
        }
    };
    if crate::compute_priority::in_background() {
        (0..parts).into_par_iter().for_each(run_part);
    } else {
        candle_core::utils::barrier_pool().execute_chunked(parts, |range| range.for_each(run_part));
    }
}

/// [`sgemm`] on the calling thread.
///
/// # Safety
/// As [`sgemm`].
unsafe fn one_thread(
    (m, n, k): (usize, usize, usize),
    alpha: f32,
    a: &Strided<*const f32>,
    b: &Strided<*const f32>,
    beta: f32,
    c: &Strided<*mut f32>,
) {
    let l = |v: usize| v as c_long;
    // Safety: the caller's; BLIS is set up ([`sgemm`] calls `configuration` first).
    unsafe {
        hone_blis_sgemm(
            l(m),
            l(n),
            l(k),
            alpha,
            a.ptr,
            l(a.row),
            l(a.col),
            b.ptr,
            l(b.row),
            l(b.col),
            beta,
            c.ptr,
            l(c.row),
            l(c.col),
        )
    }
}
