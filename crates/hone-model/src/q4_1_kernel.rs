//! `x · Wᵀ` for a Q4_1 weight and up to a prompt's rows of `x`, on the CPU.
//!
//! candle runs Q4_1 with a scalar loop only (its SIMD kernels cover Q4_0, Q8_0 and the
//! k-quants), several times slower than llama.cpp; requantizing to Q8_0 instead would read
//! 1.7× the bytes per token. This is the product llama.cpp computes (`ggml_vec_dot_q4_1_q8_1`):
//! each row of `x` is quantized to 8 bits per block of 32 with its scale `d` and `s = d·Σq`,
//! and a block contributes `d_w·d_x·Σ q_w q_x + m_w·s` (a Q4_1 weight is `d_w·q + m_w`).
//!
//! A Q4_1 block is 20 bytes: `d` and `m` as f16, then 16 bytes whose low nibbles are elements
//! 0–15 and high nibbles 16–31.

use half::f16;

#[cfg(target_arch = "x86_64")]
use crate::quantized_columns::in_groups;
use crate::quantized_columns::{by_columns, QuantizedRow};

pub const BLOCK: usize = 32;
const BLOCK_BYTES: usize = 20;

/// Each row of `x` rounded to 8 bits per block of 32; a block's minimum multiplies
/// `d · Σ q` of the row's block.
fn quantize_row(x: &[f32]) -> QuantizedRow {
    crate::quantized_columns::quantize_row(x, BLOCK, |s| s)
}

fn scales(block: &[u8]) -> (f32, f32) {
    (
        f16::from_le_bytes([block[0], block[1]]).to_f32(),
        f16::from_le_bytes([block[2], block[3]]).to_f32(),
    )
}

/// The dot product of one weight row (`k / 32` blocks) with one quantized row, portably.
fn dot_scalar(w: &[u8], x: &QuantizedRow) -> f32 {
    let mut sum = 0f32;
    for (b, block) in w.chunks_exact(BLOCK_BYTES).enumerate() {
        let (d, m) = scales(block);
        let xq = &x.q[b * BLOCK..(b + 1) * BLOCK];
        let mut dot = 0i32;
        for (j, &byte) in block[4..].iter().enumerate() {
            dot += (byte & 0x0F) as i32 * xq[j] as i32 + (byte >> 4) as i32 * xq[j + 16] as i32;
        }
        sum += d * x.d[b] * dot as f32 + m * x.d[b] * x.sums[b] as f32;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{QuantizedRow, BLOCK, BLOCK_BYTES};

    pub fn available() -> bool {
        is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
    }

    /// As [`super::dot_scalar`] for `R` rows of `x` at once, 32 products per block at a time:
    /// each weight block is loaded and unpacked once for all of them (decoding takes one row,
    /// a prompt's pass [`super::ROWS_AT_ONCE`]).
    ///
    /// # Safety
    /// The CPU has AVX2, FMA and F16C ([`available`]); `w` holds `x[r].d.len()` blocks for
    /// every row.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_rows<const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        let low = _mm_set1_epi8(0x0F);
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); R];
        let mut mins = [0f32; R];
        for b in 0..x[0].d.len() {
            let block = w.as_ptr().add(b * BLOCK_BYTES);
            // [d, m] of the block as f32.
            let dm = _mm_cvtph_ps(_mm_cvtsi32_si128((block as *const i32).read_unaligned()));
            let (d, m) = (_mm_cvtss_f32(dm), _mm_cvtss_f32(_mm_shuffle_ps(dm, dm, 1)));
            let packed = _mm_loadu_si128(block.add(4) as *const __m128i);
            let lo = _mm_and_si128(packed, low);
            let hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low);
            let qw = _mm256_set_m128i(hi, lo);
            for r in 0..R {
                let row = x[r];
                let qx = _mm256_loadu_si256(row.q.as_ptr().add(b * BLOCK) as *const __m256i);
                // u8 × i8 pairs summed to i16 (at most 2·15·127), then to i32.
                let products = _mm256_madd_epi16(_mm256_maddubs_epi16(qw, qx), ones);
                acc[r] = _mm256_fmadd_ps(
                    _mm256_set1_ps(d * row.d[b]),
                    _mm256_cvtepi32_ps(products),
                    acc[r],
                );
                mins[r] += m * row.d[b] * row.sums[b] as f32;
            }
        }
        let mut out = [0f32; R];
        for r in 0..R {
            out[r] = horizontal_sum(acc[r]) + mins[r];
        }
        out
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn horizontal_sum(acc: __m256) -> f32 {
        let half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
        let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
        let one = _mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1));
        _mm_cvtss_f32(one)
    }
}

/// Whether this CPU runs the SIMD version (else the portable loop, which is slower than
/// requantizing to Q8_0: callers then do that).
pub fn has_simd() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        avx2::available()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

fn dot(w: &[u8], x: &QuantizedRow, simd: bool) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // Safety: `simd` is `has_simd()`; the caller passes whole rows.
        return unsafe { avx2::dot_rows(w, [x]) }[0];
    }
    let _ = simd;
    dot_scalar(w, x)
}

/// The most rows of `x` this kernel takes; longer inputs dequantize the weight and run the
/// dense matmul. Each row costs the same here, while the dense product's dequantizing and
/// packing is paid once: on SmolLM2's Q4_1 file (2 threads, `hone bench engine --quantized
/// --chat-prompt`) a prompt ran at ~350 tokens/s here at 50–226 tokens against 186–310 dense,
/// and at 450 tokens at 274 against 333 (BENCHMARKS.md "A prompt's pass on the quantized
/// weights").
pub const MOST_ROWS: usize = 256;

/// Rows of `x` that share each unpacked weight block (`avx2::dot_rows`).
#[cfg(target_arch = "x86_64")]
const ROWS_AT_ONCE: usize = 4;

/// The dot products of one weight row with every row of `x`, into `out` (one per row).
fn dots(w: &[u8], rows: &[QuantizedRow], simd: bool, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // Safety: `simd` is `has_simd()`; the caller passes whole rows.
        let group = |g: [&QuantizedRow; ROWS_AT_ONCE]| unsafe { avx2::dot_rows(w, g) };
        return in_groups(rows, out, group, |row| dot(w, row, simd));
    }
    for (row, o) in rows.iter().zip(out) {
        *o = dot(w, row, simd);
    }
}

/// `y [m, n] = x [m, k] · Wᵀ` for Q4_1 `weight` bytes of `n` rows of `k` (a multiple of 32)
/// elements. Columns are shared among candle's CPU workers.
pub fn matmul_t(x: &[f32], m: usize, k: usize, weight: &[u8], n: usize) -> Vec<f32> {
    assert_eq!(k % BLOCK, 0, "Q4_1 rows are whole blocks of {BLOCK}");
    assert_eq!(x.len(), m * k);
    let row_bytes = k / BLOCK * BLOCK_BYTES;
    assert_eq!(weight.len(), n * row_bytes);
    let rows: Vec<QuantizedRow> = x.chunks_exact(k).map(quantize_row).collect();
    let simd = has_simd();
    by_columns(m, n, |col, out| {
        dots(
            &weight[col * row_bytes..(col + 1) * row_bytes],
            &rows,
            simd,
            out,
        )
    })
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::{GgmlDType, QTensor};
    use candle_core::{Device, Tensor};
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn the_product_matches_the_dequantized_weight_and_the_simd_path_the_portable_one() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        // Seven rows: a group of four at once and three one by one.
        let (m, k, n) = (7, 96, 70);
        let w = crate::test_tensors::random(&mut rng, &[n, k]);
        let x = crate::test_tensors::random(&mut rng, &[m, k]);
        let q = QTensor::quantize(&w, GgmlDType::Q4_1).unwrap();
        let bytes = q.data().unwrap();
        let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let got = matmul_t(&xs, m, k, &bytes, n);
        let want = x
            .matmul(&q.dequantize(&Device::Cpu).unwrap().t().unwrap())
            .unwrap();
        let got = Tensor::from_vec(got, (m, n), &Device::Cpu).unwrap();
        // Only the activations' 8-bit rounding separates the two: under 1% of the scale.
        let scale = crate::test_tensors::max_abs(&want);
        let diff = crate::test_tensors::max_diff(&got, &want);
        assert!(diff < 0.01 * scale, "off by {diff} (scale {scale})");

        let rows: Vec<QuantizedRow> = xs.chunks_exact(k).map(quantize_row).collect();
        let row_bytes = k / BLOCK * BLOCK_BYTES;
        let mut column = vec![0f32; m];
        for col in 0..n {
            let wrow = &bytes[col * row_bytes..(col + 1) * row_bytes];
            dots(wrow, &rows, has_simd(), &mut column);
            for (row, grouped) in rows.iter().zip(&column) {
                let (fast, slow) = (dot(wrow, row, has_simd()), dot_scalar(wrow, row));
                assert!((fast - slow).abs() <= 1e-4 * slow.abs().max(1.0));
                assert!((grouped - slow).abs() <= 1e-4 * slow.abs().max(1.0));
            }
        }
    }
}
