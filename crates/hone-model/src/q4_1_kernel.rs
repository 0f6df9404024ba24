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

use crate::quantized_columns::{Blocks, QuantizedRow};

pub const BLOCK: usize = 32;
const BLOCK_BYTES: usize = 20;

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

    /// As [`super::dot_scalar`] for `R` rows of `x` at once, 32 products per block at a time:
    /// each weight block is loaded and unpacked once for all of them (decoding takes one row,
    /// a prompt's pass `quantized_columns::ROWS_AT_ONCE`).
    ///
    /// # Safety
    /// The CPU has AVX2, FMA and F16C (`quantized_columns::x86::has_avx2`); `w` holds `x[r].d.len()` blocks for
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
            out[r] = crate::quantized_columns::x86::horizontal_sum(acc[r]) + mins[r];
        }
        out
    }
}

/// Q4_1's kernels for [`crate::quantized_columns::matmul_t`]. Without AVX2 the portable loop
/// is slower than requantizing to Q8_0, which the loader then does (`has_fast_cpu_kernel`).
pub struct Kernel;

impl Blocks for Kernel {
    const NAME: &'static str = "Q4_1";
    const VALUES: usize = BLOCK;
    const BYTES: usize = BLOCK_BYTES;

    /// Per block of 32; a block's minimum multiplies `d · Σ q` of the row's block.
    fn quantize_row(x: &[f32]) -> QuantizedRow {
        crate::quantized_columns::quantize_row(x, BLOCK, BLOCK, |s| s)
    }

    fn dot_scalar(w: &[u8], x: &QuantizedRow) -> f32 {
        dot_scalar(w, x)
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn dot_rows_avx2<const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        avx2::dot_rows(w, x)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::*;
    use crate::quantized_columns::check_kernel;

    #[test]
    fn the_product_matches_the_dequantized_weight_and_the_simd_path_the_portable_one() {
        check_kernel::<Kernel>(GgmlDType::Q4_1, (96, 70), &[]);
    }
}
