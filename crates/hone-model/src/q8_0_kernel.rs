//! `x · Wᵀ` for a Q8_0 weight and up to a prompt's rows of `x`, on the CPU, read from the
//! file's blocks as they are.
//!
//! candle repacks a Q8_0 matrix into 16-row tiles the first time its VNNI kernel runs and
//! keeps them beside the blocks: two copies of every weight (a 1B model ran at 2.1× llama.cpp's
//! memory), and where the columns are not a multiple of 256 (SmolLM2's 576) it has a per-row
//! kernel only, slower than the dense path for a prompt. This is llama.cpp's product
//! (`ggml_vec_dot_q8_0_q8_0`): each row of `x` rounded to 8 bits per block of 32, a block
//! contributing `d_w·d_x·Σ q_w q_x`; a prompt's pass takes `block32_tiles` where the CPU has
//! VNNI (the weights plus 128 as unsigned bytes, `128·Σ q_x` taken back per block).
//!
//! A Q8_0 block is 34 bytes: `d` as f16, then 32 signed 8-bit weights.

use half::f16;

use crate::block32_tiles::{Block32, BLOCK};
use crate::quantized_columns::{Blocks, QuantizedRow};

const BLOCK_BYTES: usize = 34;

#[inline(always)]
fn scale(block: &[u8]) -> f32 {
    f16::from_le_bytes([block[0], block[1]]).to_f32()
}

/// The dot product of one weight row (`k / 32` blocks) with one quantized row, portably.
fn dot_scalar(w: &[u8], x: &QuantizedRow) -> f32 {
    let mut sum = 0f32;
    for (b, block) in w.chunks_exact(BLOCK_BYTES).enumerate() {
        let xs = &x.q[b * BLOCK..(b + 1) * BLOCK];
        let dot: i32 = block[2..]
            .iter()
            .zip(xs)
            .map(|(&w, &x)| w as i8 as i32 * x as i32)
            .sum();
        sum += scale(block) * x.d[b] * dot as f32;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{QuantizedRow, BLOCK, BLOCK_BYTES};

    /// As [`super::dot_scalar`] for `R` rows of `x` at once, a block at a time: `maddubs`
    /// multiplies unsigned by signed bytes, so each product is taken as `|w| · (x with w's
    /// sign)`, summed in pairs to 16 bits (at most 2·128·127) and then to 32.
    ///
    /// # Safety
    /// The CPU has AVX2, FMA and F16C (`quantized_columns::x86::has_avx2`); `w` holds `x[r].d.len()` blocks for
    /// every row.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_rows<const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        let ones = _mm256_set1_epi16(1);
        // Even and odd blocks sum apart: one chain of `fmadd`s, a block each, would wait on
        // its latency when decoding (one row).
        let mut acc = [[_mm256_setzero_ps(); R]; 2];
        for b in 0..x[0].d.len() {
            let acc = &mut acc[b % 2];
            let block = w.as_ptr().add(b * BLOCK_BYTES);
            let half = (block as *const u16).read_unaligned() as i32;
            let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(half)));
            let weights = _mm256_loadu_si256(block.add(2) as *const __m256i);
            let magnitudes = _mm256_sign_epi8(weights, weights);
            for r in 0..R {
                let xq = _mm256_loadu_si256(x[r].q.as_ptr().add(b * BLOCK) as *const __m256i);
                let signed = _mm256_sign_epi8(xq, weights);
                let products = _mm256_madd_epi16(_mm256_maddubs_epi16(magnitudes, signed), ones);
                let scale = _mm256_set1_ps(d * x[r].d[b]);
                acc[r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(products), acc[r]);
            }
        }
        let mut out = [0f32; R];
        for r in 0..R {
            out[r] =
                crate::quantized_columns::x86::horizontal_sum(_mm256_add_ps(acc[0][r], acc[1][r]));
        }
        out
    }
}

/// Q8_0's kernels for [`crate::quantized_columns::matmul_t`].
pub struct Kernel;

impl Blocks for Kernel {
    const NAME: &'static str = "Q8_0";
    const VALUES: usize = BLOCK;
    const BYTES: usize = BLOCK_BYTES;

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

    #[cfg(target_arch = "x86_64")]
    type Tiles = crate::block32_tiles::Block32Tiles<Self>;
}

impl Block32 for Kernel {
    const BYTES: usize = BLOCK_BYTES;
    const BIAS: i32 = 128;
    const HAS_MIN: bool = false;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack(block: &[u8]) -> ([u8; BLOCK], f32, f32) {
        // A signed byte plus 128 is the byte with its top bit flipped.
        let values = std::array::from_fn(|j| block[2 + j] ^ 0x80);
        (values, scale(block), 0.0)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::*;
    use crate::quantized_columns::check_kernel;

    #[test]
    fn the_product_matches_the_dequantized_weight_and_every_path_the_portable_one() {
        // 576 columns (SmolLM2's, not a multiple of 256); 80 rows: a chunk of four tiles and
        // one of one.
        check_kernel::<Kernel>(GgmlDType::Q8_0, (576, 80));
    }
}
