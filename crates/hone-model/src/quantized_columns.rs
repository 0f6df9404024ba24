//! What Hone's quantized CPU kernels (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K) share:
//! each row of `x` rounded to 8 bits as llama.cpp's products take it, the product's output
//! columns among candle's CPU workers, and the rows of `x` taken a group at a time, so that
//! each weight block a worker unpacks serves several rows (a prompt's pass) or one (decoding a
//! token). A prompt's pass can also go through [`by_tiles`] (x86 with AVX-512 VNNI): 16
//! weight rows at a time laid side by side in scratch, by each type's [`Tiles`].

/// Columns of the output handed to a worker at a time.
const COLUMNS_PER_CHUNK: usize = 64;

/// A pointer workers write disjoint elements through.
#[derive(Clone, Copy)]
struct Out(*mut f32);
// Safety: every element is written by exactly one work item (see `by_column_chunks`).
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// # Safety
    /// `i` is inside the output, and no other work item writes it.
    unsafe fn write(self, i: usize, value: f32) {
        *self.0.add(i) = value;
    }
}

/// `y [m, n]`, where `column(c, out)` writes column `c` of all `m` rows into `out`. Columns
/// are shared among candle's CPU workers, [`COLUMNS_PER_CHUNK`] at a time.
fn by_columns(m: usize, n: usize, column: impl Fn(usize, &mut [f32]) + Sync) -> Vec<f32> {
    by_column_chunks(m, n, COLUMNS_PER_CHUNK, |start, width, out| {
        let mut values = vec![0f32; m];
        for c in 0..width {
            column(start + c, &mut values);
            for (i, value) in values.iter().enumerate() {
                out[i * width + c] = *value;
            }
        }
    })
}

/// `y [m, n]`, where `chunk(start, width, out)` writes columns `start..start + width` of all
/// `m` rows into `out` (`[m, width]`, row-major). Chunks of `width` columns (the last one
/// narrower) are shared among candle's CPU workers.
pub(crate) fn by_column_chunks(
    m: usize,
    n: usize,
    width: usize,
    chunk: impl Fn(usize, usize, &mut [f32]) + Sync,
) -> Vec<f32> {
    let mut y = vec![0f32; m * n];
    let out = Out(y.as_mut_ptr());
    candle_core::utils::barrier_pool().execute_chunked(n.div_ceil(width), |range| {
        let mut block = vec![0f32; m * width];
        for index in range {
            let start = index * width;
            let width = width.min(n - start);
            chunk(start, width, &mut block[..m * width]);
            for (i, row) in block[..m * width].chunks_exact(width).enumerate() {
                for (c, value) in row.iter().enumerate() {
                    // Safety: (i, start + c) belongs to this chunk alone, inside `y`.
                    unsafe { out.write(i * n + start + c, *value) };
                }
            }
        }
    });
    y
}

/// `out[i] = dot(rows[i])` for every row, whole groups of `G` rows through `group` and the
/// rest one by one through `one`. (Groups are the x86 kernels'.)
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) fn in_groups<T, const G: usize>(
    rows: &[T],
    out: &mut [f32],
    group: impl Fn([&T; G]) -> [f32; G],
    one: impl Fn(&T) -> f32,
) {
    let groups = rows.chunks_exact(G);
    let rest = groups.remainder();
    let done = rows.len() - rest.len();
    for (rows, out) in groups.zip(out.chunks_exact_mut(G)) {
        out.copy_from_slice(&group(std::array::from_fn(|r| &rows[r])));
    }
    for (row, o) in rest.iter().zip(&mut out[done..]) {
        *o = one(row);
    }
}

/// Values per sum of a quantized row: a Q4_1 or Q8_0 block, a Q4_K sub-block.
pub(crate) const RUN: usize = 32;

/// One row of `x` rounded to 8 bits: one scale per block of values (32 or 256), and the sum
/// of each run of 32 (what a weight's minimum or offset multiplies).
pub(crate) struct QuantizedRow {
    /// The values; each block's runs of 32 in the order its kernel reads them.
    pub q: Vec<i8>,
    pub d: Vec<f32>,
    /// `Σ q` of each run of 32 (16 for Q6_K), in the row's order (at most 32 · 127).
    pub sums: Vec<i16>,
}

/// `x` rounded to 8 bits per `block` values, scaled by each block's largest magnitude, with the
/// sum of each `run` values (32, or Q6_K's 16); run `s` of a block is stored at run `slot(s)`.
pub(crate) fn quantize_row(
    x: &[f32],
    block: usize,
    run: usize,
    slot: impl Fn(usize) -> usize,
) -> QuantizedRow {
    let mut row = QuantizedRow {
        q: vec![0; x.len()],
        d: Vec::with_capacity(x.len() / block),
        sums: Vec::with_capacity(x.len() / run),
    };
    for (b, values) in x.chunks_exact(block).enumerate() {
        let amax = values.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        for (s, values) in values.chunks_exact(run).enumerate() {
            let start = b * block + slot(s) * run;
            let mut sum = 0i32;
            for (q, v) in row.q[start..start + run].iter_mut().zip(values) {
                *q = round_to_i8(v * inv);
                sum += *q as i32;
            }
            row.sums.push(sum as i16);
        }
        row.d.push(d);
    }
    row
}

/// One block type's kernels, which [`matmul_t`] drives.
pub(crate) trait Blocks {
    /// The type's name in GGUF's spelling (for a failed check).
    const NAME: &'static str;
    /// Values and bytes in a block.
    const VALUES: usize;
    const BYTES: usize;
    /// A row of `x` rounded to 8 bits as the kernels read it.
    fn quantize_row(x: &[f32]) -> QuantizedRow;
    /// The dot product of one weight row with one quantized row, portably: the reference
    /// every SIMD path is checked against.
    fn dot_scalar(w: &[u8], x: &QuantizedRow) -> f32;
    /// [`Blocks::dot_scalar`] for `R` rows of `x` at once on AVX2.
    ///
    /// # Safety
    /// [`x86::has_avx2`]; `w` holds `x[r].d.len()` blocks for every row.
    #[cfg(target_arch = "x86_64")]
    unsafe fn dot_rows_avx2<const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R];
    /// Whether the kernel has [`Blocks::dot_rows_avx512`], 64 weights an instruction.
    /// Decoding reads each weight once per token, and on AVX-512 CPUs the wider loads and
    /// half the instructions per block take it to the memory's rate.
    #[cfg(target_arch = "x86_64")]
    const HAS_AVX512: bool = false;
    /// [`Blocks::dot_scalar`] for `R` rows of `x` at once on AVX-512 BW.
    ///
    /// # Safety
    /// [`x86::has_avx512`]; `w` holds `x[r].d.len()` blocks for every row.
    #[cfg(target_arch = "x86_64")]
    unsafe fn dot_rows_avx512<const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        let _ = (w, x);
        unreachable!("{} has no AVX-512 row kernel", Self::NAME)
    }
    /// Whether this CPU has the SIMD [`Blocks::dots`] (else candle's product runs).
    fn has_simd() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            x86::has_avx2()
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }
    /// The dot products of one weight row with every row of `x`, into `out` (one per row).
    fn dots(w: &[u8], rows: &[QuantizedRow], out: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if Self::HAS_AVX512 && x86::has_avx512() {
            return avx512_dots::<Self>(w, rows, out);
        }
        #[cfg(target_arch = "x86_64")]
        if x86::has_avx2() {
            return avx2_dots::<Self>(w, rows, out);
        }
        for (row, o) in rows.iter().zip(out) {
            *o = Self::dot_scalar(w, row);
        }
    }
    /// The type's tiles: a prompt's rows on a CPU with VNNI ([`by_tiles`]).
    #[cfg(target_arch = "x86_64")]
    type Tiles: Tiles;
}

/// Whether a prompt's rows take the tiles ([`Blocks::Tiles`]) on this CPU.
fn has_tiles() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        x86::has_vnni()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// `y [m, n] = x · Wᵀ` on `B`'s tiles. Called only where [`has_tiles`].
#[cfg(target_arch = "x86_64")]
fn tiled<B: Blocks>(rows: &[QuantizedRow], weight: &[u8], row_bytes: usize, n: usize) -> Vec<f32> {
    by_tiles::<B::Tiles>(rows, weight, row_bytes, n)
}
#[cfg(not(target_arch = "x86_64"))]
fn tiled<B: Blocks>(_: &[QuantizedRow], _: &[u8], _: usize, _: usize) -> Vec<f32> {
    unreachable!("{} has tiles on x86 only", B::NAME)
}

/// Rows of `x` that share each unpacked weight block in a row kernel.
#[cfg(target_arch = "x86_64")]
pub(crate) const ROWS_AT_ONCE: usize = 4;

/// [`Blocks::dots`] on AVX2: rows four at a time, the rest one by one.
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx2_dots<B: Blocks + ?Sized>(w: &[u8], rows: &[QuantizedRow], out: &mut [f32]) {
    assert!(x86::has_avx2());
    // Safety (both): AVX2 is there; the caller passes whole rows.
    let group = |g: [&QuantizedRow; ROWS_AT_ONCE]| unsafe { B::dot_rows_avx2(w, g) };
    in_groups(
        rows,
        out,
        group,
        |row| unsafe { B::dot_rows_avx2(w, [row]) }[0],
    );
}

/// [`Blocks::dots`] on AVX-512: as [`avx2_dots`], through [`Blocks::dot_rows_avx512`].
#[cfg(target_arch = "x86_64")]
pub(crate) fn avx512_dots<B: Blocks + ?Sized>(w: &[u8], rows: &[QuantizedRow], out: &mut [f32]) {
    assert!(B::HAS_AVX512 && x86::has_avx512());
    // Safety (both): AVX-512 is there; the caller passes whole rows.
    let group = |g: [&QuantizedRow; ROWS_AT_ONCE]| unsafe { B::dot_rows_avx512(w, g) };
    in_groups(
        rows,
        out,
        group,
        |row| unsafe { B::dot_rows_avx512(w, [row]) }[0],
    );
}

/// Rows of `x` from which a product takes the tiled kernel where there is one: repacking 16
/// weight rows side by side costs about what a few rows' products do.
const TILED_FROM_ROWS: usize = 8;

/// The most rows of `x` an `[n, k]` weight of `B` takes on its kernels; longer inputs
/// dequantize the weight and run the dense matmul. On a row kernel each row costs the same
/// while the dense product's dequantizing and packing is paid once: on SmolLM2's Q4_1 file a
/// prompt ran at ~350 tokens/s at 50–226 tokens against 186–310 dense, and at 450 tokens at 274
/// against 333 (BENCHMARKS.md "A prompt's pass on the quantized weights"), hence 256. The tiled
/// kernels lead at any length.
pub(crate) fn most_rows<B: Blocks>(n: usize) -> usize {
    if n.is_multiple_of(TILE) && has_tiles() {
        usize::MAX
    } else {
        256
    }
}

/// `y [m, n] = x [m, k] · Wᵀ` for `weight`'s bytes of `n` rows of `k` (whole blocks of `B`):
/// the tiled kernel for a prompt's rows where there is one, else the row kernel with the
/// output's columns shared among candle's CPU workers.
pub(crate) fn matmul_t<B: Blocks>(
    x: &[f32],
    m: usize,
    k: usize,
    weight: &[u8],
    n: usize,
) -> Vec<f32> {
    assert!(
        k.is_multiple_of(B::VALUES),
        "{} rows are whole blocks of {}",
        B::NAME,
        B::VALUES
    );
    assert_eq!(x.len(), m * k);
    let row_bytes = k / B::VALUES * B::BYTES;
    assert_eq!(weight.len(), n * row_bytes);
    let rows: Vec<QuantizedRow> = x.chunks_exact(k).map(B::quantize_row).collect();
    if m >= TILED_FROM_ROWS && n.is_multiple_of(TILE) && has_tiles() {
        return tiled::<B>(&rows, weight, row_bytes, n);
    }
    by_columns(m, n, |col, out| {
        B::dots(&weight[col * row_bytes..(col + 1) * row_bytes], &rows, out)
    })
}

/// What the x86 kernels share.
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use std::arch::x86_64::*;

    /// Whether this CPU has the row kernels' instructions (AVX2 with FMA and F16C).
    pub fn has_avx2() -> bool {
        is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
    }

    /// Whether this CPU has the AVX-512 row kernels' instructions (AVX-512 F and BW besides
    /// [`has_avx2`]'s).
    pub fn has_avx512() -> bool {
        has_avx2() && is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw")
    }

    /// Whether this CPU has the tiled kernels' instructions (AVX-512 with VNNI's `vpdpbusd`,
    /// besides [`has_avx2`]'s, which their packing uses).
    pub fn has_vnni() -> bool {
        has_avx2()
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vnni")
    }

    /// The sum of the eight lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub fn horizontal_sum(acc: __m256) -> f32 {
        let half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
        let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
        _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)))
    }
}

/// Weight rows (output columns) in a tile of [`by_tiles`].
pub(crate) const TILE: usize = 16;
/// Rows of `x` a tiled kernel takes at once.
#[cfg(target_arch = "x86_64")]
pub(crate) const TILE_ROWS_AT_ONCE: usize = 4;

/// One block type's tiles, which [`by_tiles`] drives: 16 weight rows laid side by side in a
/// worker's scratch, so that one `vpdpbusd` multiplies 4 weights of each of the 16 rows with
/// the same 4 activations and no sum crosses lanes. (x86 only: AVX-512 VNNI.)
#[cfg(target_arch = "x86_64")]
pub(crate) trait Tiles {
    /// One of the file's blocks for 16 weight rows, as the tile kernel reads it.
    type Block: Copy + Send + Sync;
    /// A block to start a worker's scratch with.
    const EMPTY: Self::Block;
    /// Bytes of one of the file's blocks.
    const BYTES: usize;
    /// Weight rows `first..first + 16` into `tile` (one [`Tiles::Block`] per block of a row).
    ///
    /// # Safety
    /// The CPU has AVX2 and F16C.
    unsafe fn pack(weight: &[u8], row_bytes: usize, first: usize, tile: &mut [Self::Block]);
    /// The 16 outputs of a tile for `R` rows of `x`.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI ([`x86::has_vnni`]); `tile` holds `x[r].d.len()`
    /// blocks.
    unsafe fn rows<const R: usize>(tile: &[Self::Block], x: [&QuantizedRow; R])
        -> [[f32; TILE]; R];
}

/// `y [m, n] = x · Wᵀ` for the quantized rows of `x` and `weight`'s bytes of `n` rows (a
/// multiple of [`TILE`]) of `row_bytes`, a tile of 16 weight rows at a time: each tile is
/// packed once into a worker's scratch and serves all the rows of `x`, four at a time. The
/// scratch lives while those 16 columns of the output are computed: the blocks stay the one
/// copy of the weight. Needs AVX-512 VNNI.
#[cfg(target_arch = "x86_64")]
pub(crate) fn by_tiles<T: Tiles>(
    rows: &[QuantizedRow],
    weight: &[u8],
    row_bytes: usize,
    n: usize,
) -> Vec<f32> {
    assert!(n.is_multiple_of(TILE) && x86::has_vnni());
    let empty = vec![T::EMPTY; row_bytes / T::BYTES];
    let empty = &empty;
    by_column_chunks(rows.len(), n, 4 * TILE, |start, width, out| {
        let mut tile = empty.clone();
        for first in (start..start + width).step_by(TILE) {
            // Safety: VNNI (and so AVX2 and F16C) is there; the tile holds every row's blocks.
            unsafe { T::pack(weight, row_bytes, first, &mut tile) };
            let column = first - start;
            let mut put = |i: usize, values: &[f32; TILE]| {
                out[i * width + column..][..TILE].copy_from_slice(values);
            };
            let groups = rows.chunks_exact(TILE_ROWS_AT_ONCE);
            let done = rows.len() - groups.remainder().len();
            for (g, rows) in groups.enumerate() {
                let rows = std::array::from_fn(|r| &rows[r]);
                let values = unsafe { T::rows::<TILE_ROWS_AT_ONCE>(&tile, rows) };
                for (r, values) in values.iter().enumerate() {
                    put(g * TILE_ROWS_AT_ONCE + r, values);
                }
            }
            for (i, row) in rows.iter().enumerate().skip(done) {
                put(i, &unsafe { T::rows::<1>(&tile, [row]) }[0]);
            }
        }
    })
}

/// `v` (at most 127.5 in magnitude) rounded to the nearest integer, ties to even: adding
/// 1.5·2²³ leaves the integer in the low bits of the sum. Each row of `x` a kernel takes is
/// rounded to 8 bits, and `f32::round` is a call into libm on x86-64's baseline (no SSE4.1):
/// 8% of a long prompt's time on a 1B Q4_K model went there; this loop vectorizes.
#[inline(always)]
pub(crate) fn round_to_i8(v: f32) -> i8 {
    const SHIFT: f32 = 12_582_912.0;
    ((v + SHIFT).to_bits() as i32 - SHIFT.to_bits() as i32) as i8
}

/// Checks `weight(block, j)` — a kernel's reading of weight `j` of a block of `B` — against
/// candle's dequantization of two rows of four blocks of random weights, to within 1e-6.
#[cfg(test)]
pub(crate) fn check_weights<B: Blocks>(
    dtype: candle_core::quantized::GgmlDType,
    weight: impl Fn(&[u8], usize) -> f32,
) {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(B::BYTES as u64);
    let w = crate::test_tensors::random(&mut rng, &[2, 4 * B::VALUES]);
    let q = candle_core::quantized::QTensor::quantize(&w, dtype).unwrap();
    let deq = q.dequantize(&candle_core::Device::Cpu).unwrap();
    let deq = deq.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for (b, block) in q.data().unwrap().chunks_exact(B::BYTES).enumerate() {
        for j in 0..B::VALUES {
            let (mine, want) = (weight(block, j), deq[b * B::VALUES + j]);
            assert!(
                (mine - want).abs() <= 1e-6 * want.abs().max(1.0),
                "{}: block {b}, weight {j}: {mine} against {want}",
                B::NAME
            );
        }
    }
}

/// The checks every kernel passes: `B`'s product within 1% of the dequantized weight's (only
/// the activations' rounding between them); each SIMD path this CPU has (AVX2, and AVX-512
/// where the kernel has one) equal to [`Blocks::dot_scalar`] on 7 rows (a group of
/// four and three) and `n` columns; the tiled kernel too where there is one, and a prompt's
/// worth of rows taking it.
#[cfg(test)]
pub(crate) fn check_kernel<B: Blocks>(
    dtype: candle_core::quantized::GgmlDType,
    (k, n): (usize, usize),
) {
    use candle_core::quantized::QTensor;
    use candle_core::{Device, Tensor};
    use rand::SeedableRng;

    type Dots = fn(&[u8], &[QuantizedRow], &mut [f32]);
    let mut paths: Vec<(&str, Dots)> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    if x86::has_avx2() {
        paths.push(("avx2", avx2_dots::<B>));
    }
    #[cfg(target_arch = "x86_64")]
    if B::HAS_AVX512 && x86::has_avx512() {
        paths.push(("avx512", avx512_dots::<B>));
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(k as u64 + n as u64);
    let m = 7;
    let w = crate::test_tensors::random(&mut rng, &[n, k]);
    let x = crate::test_tensors::random(&mut rng, &[m, k]);
    let q = QTensor::quantize(&w, dtype).unwrap();
    let bytes = q.data().unwrap().to_vec();
    let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let got = Tensor::from_vec(matmul_t::<B>(&xs, m, k, &bytes, n), (m, n), &Device::Cpu).unwrap();
    let want = x
        .matmul(&q.dequantize(&Device::Cpu).unwrap().t().unwrap())
        .unwrap();
    let scale = crate::test_tensors::max_abs(&want);
    let diff = crate::test_tensors::max_diff(&got, &want);
    assert!(
        diff > 0.0 && diff < 0.01 * scale,
        "{dtype:?} off by {diff} (scale {scale})"
    );

    let rows: Vec<QuantizedRow> = xs.chunks_exact(k).map(B::quantize_row).collect();
    let row_bytes = k / B::VALUES * B::BYTES;
    let weight_row = |col: usize| &bytes[col * row_bytes..(col + 1) * row_bytes];
    let check = |path: &str, i: usize, col: usize, got: f32| {
        let want = B::dot_scalar(weight_row(col), &rows[i]);
        assert!(
            (got - want).abs() <= 1e-4 * want.abs().max(1.0),
            "{dtype:?} {path}: row {i}, column {col}: {got} against {want}"
        );
    };
    let mut column = vec![0f32; m];
    for col in 0..n {
        for (path, dots) in &paths {
            dots(weight_row(col), &rows, &mut column);
            for (i, got) in column.iter().enumerate() {
                check(path, i, col, *got);
            }
        }
    }
    if has_tiles() {
        let by_tiles = tiled::<B>(&rows, &bytes, row_bytes, n);
        for (i, row) in by_tiles.chunks_exact(n).enumerate() {
            for (col, got) in row.iter().enumerate() {
                check("tiled", i, col, *got);
            }
        }
        let xs: Vec<f32> = xs
            .iter()
            .cycle()
            .take(TILED_FROM_ROWS * k)
            .copied()
            .collect();
        let rows: Vec<QuantizedRow> = xs.chunks_exact(k).map(B::quantize_row).collect();
        assert_eq!(
            matmul_t::<B>(&xs, TILED_FROM_ROWS, k, &bytes, n),
            tiled::<B>(&rows, &bytes, row_bytes, n)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_to_8_bits_is_to_the_nearest_with_ties_to_even() {
        for i in -1270..=1270 {
            let v = i as f32 / 10.0;
            assert_eq!(round_to_i8(v) as f32, v.round_ties_even(), "{v}");
        }
        assert_eq!(
            (round_to_i8(2.5), round_to_i8(-3.5), round_to_i8(127.0)),
            (2, -4, 127)
        );
    }

    #[test]
    fn every_column_of_every_row_is_written_once_and_groups_cover_the_rows() {
        // 150 columns: two whole chunks and a partial one.
        let (m, n) = (3, 150);
        let y = by_columns(m, n, |col, out| {
            for (i, o) in out.iter_mut().enumerate() {
                *o = (i * 1000 + col) as f32;
            }
        });
        for i in 0..m {
            for col in 0..n {
                assert_eq!(y[i * n + col], (i * 1000 + col) as f32);
            }
        }
        // Seven rows in groups of three: two groups, one left over.
        let rows: Vec<f32> = (1..=7).map(|r| r as f32).collect();
        let mut out = vec![0f32; 7];
        in_groups::<_, 3>(&rows, &mut out, |g| g.map(|r| r * 10.0), |r| -r);
        assert_eq!(out, [10.0, 20.0, 30.0, 40.0, 50.0, 60.0, -7.0]);
    }
}
