//! `x · Wᵀ` for a Q6_K weight and up to a prompt's rows of `x`, on the CPU, read from the
//! file's blocks as they are.
//!
//! A Q4_K_M file — what desktop users download most — keeps its output matrix and half of its
//! `attn_v` and `ffn_down` matrices as Q6_K. candle's Q6_K product reads the whole weight once
//! per row of `x`, so a prompt's pass on them took the dense path: dequantized, then gemm.
//! This is llama.cpp's product (`ggml_vec_dot_q6_K_q8_K`): each row of `x` rounded to 8 bits
//! per 256 values, with the sum of each 16 for the weights' offset of 32; a prompt's pass takes
//! [`tiles`] where the CPU has VNNI.
//!
//! A Q6_K block holds 256 weights in 210 bytes: 128 bytes of low nibbles (`ql`), 64 bytes of
//! 2-bit high parts (`qh`), sixteen signed 8-bit scales (one per 16 weights), then `d` as
//! f16. Weight `v = 128h + 32j + l` (`h` < 2, `j` < 4, `l` < 32) is `d·scale[v / 16]·(q − 32)`,
//! where `q`'s low four bits are the low (`j` < 2) or high nibble of `ql[64h + 32(j % 2) + l]`
//! and its top two are bits `2j, 2j + 1` of `qh[32h + l]`.

use half::f16;

use crate::quantized_columns::{Blocks, QuantizedRow};

#[cfg(target_arch = "x86_64")]
mod tiles;

pub const BLOCK: usize = 256;
const BLOCK_BYTES: usize = 210;
/// Weights per scale, and per sum of a quantized row.
const RUN: usize = 16;
const SCALES: usize = BLOCK / RUN;
/// Where `qh`, the scales and `d` start in a block.
const HIGH: usize = 128;
const SCALE: usize = 192;
const D: usize = 208;

/// The 6-bit value (0–63) of weight `v` of a block.
#[inline(always)]
fn value(block: &[u8], v: usize) -> u8 {
    let (h, j, l) = (v / 128, v % 128 / 32, v % 32);
    let low = block[64 * h + 32 * (j % 2) + l];
    let low = if j < 2 { low & 0x0F } else { low >> 4 };
    let high = (block[HIGH + 32 * h + l] >> (2 * j)) & 3;
    low | high << 4
}

#[inline(always)]
fn d_of(block: &[u8]) -> f32 {
    f16::from_le_bytes([block[D], block[D + 1]]).to_f32()
}

/// The dot product of one weight row (`k / 256` blocks) with one quantized row, portably.
fn dot_scalar(w: &[u8], x: &QuantizedRow) -> f32 {
    let mut sum = 0f32;
    for (b, block) in w.chunks_exact(BLOCK_BYTES).enumerate() {
        let mut total = 0i32;
        for s in 0..SCALES {
            let mut dot = 0i32;
            for v in s * RUN..(s + 1) * RUN {
                dot += value(block, v) as i32 * x.q[b * BLOCK + v] as i32;
            }
            let offset = 32 * x.sums[b * SCALES + s] as i32;
            total += block[SCALE + s] as i8 as i32 * (dot - offset);
        }
        sum += d_of(block) * x.d[b] * total as f32;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{QuantizedRow, BLOCK, BLOCK_BYTES, D, HIGH, SCALE, SCALES};

    /// The 6-bit values of weights `128h + 32j ..+ 32` of the block at `block`, one a byte.
    ///
    /// # Safety
    /// `block` points at a whole block; the CPU has AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn values(block: *const u8, h: usize, j: usize) -> __m256i {
        let low4 = _mm256_set1_epi8(0x0F);
        let top2 = _mm256_set1_epi8(0x30);
        let low = _mm256_loadu_si256(block.add(64 * h + 32 * (j % 2)) as *const __m256i);
        let low = if j < 2 {
            low
        } else {
            _mm256_srli_epi16(low, 4)
        };
        let high = _mm256_loadu_si256(block.add(HIGH + 32 * h) as *const __m256i);
        // Bits 2j, 2j + 1 of each byte to bits 4, 5.
        let high = match j {
            0 => _mm256_slli_epi16(high, 4),
            1 => _mm256_slli_epi16(high, 2),
            2 => high,
            _ => _mm256_srli_epi16(high, 2),
        };
        _mm256_or_si256(_mm256_and_si256(low, low4), _mm256_and_si256(high, top2))
    }

    /// A `pshufb` control: 16-bit lane `a` of the low 128 bits to all of them, lane `b` of the
    /// high 128 bits to all of those.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn lane_pair(a: usize, b: usize) -> __m256i {
        let control = |i: usize| _mm_set1_epi16((((2 * i + 1) << 8) | (2 * i)) as i16);
        _mm256_set_m128i(control(b), control(a))
    }

    /// As [`super::dot_scalar`] for `R` rows of `x` at once, 32 weights at a time: the 6-bit
    /// values times 8-bit activations summed in pairs to 16 bits (at most 2·63·127), times the
    /// scale of each 16 to 32 bits; the offset of 32 comes off as `32·Σ scale·Σ x` per block.
    ///
    /// # Safety
    /// The CPU has AVX2, FMA and F16C (`quantized_columns::x86::has_avx2`); `w` holds `x[r].d.len()` blocks for
    /// every row.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_rows<const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        let mut acc = [_mm256_setzero_ps(); R];
        for b in 0..x[0].d.len() {
            let block = w.as_ptr().add(b * BLOCK_BYTES);
            let half = (block.add(D) as *const u16).read_unaligned() as i32;
            let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(half)));
            let scales = _mm256_cvtepi8_epi16(_mm_loadu_si128(block.add(SCALE) as *const __m128i));
            let mut sums = [_mm256_setzero_si256(); R];
            for h in 0..2 {
                // The eight scales of this half in both 128-bit lanes.
                let half_scales = if h == 0 {
                    _mm256_permute2x128_si256(scales, scales, 0x00)
                } else {
                    _mm256_permute2x128_si256(scales, scales, 0x11)
                };
                for j in 0..4 {
                    let q = values(block, h, j);
                    let scale = _mm256_shuffle_epi8(half_scales, lane_pair(2 * j, 2 * j + 1));
                    for r in 0..R {
                        let at = x[r].q.as_ptr().add(b * BLOCK + 128 * h + 32 * j);
                        let xq = _mm256_loadu_si256(at as *const __m256i);
                        let products = _mm256_madd_epi16(_mm256_maddubs_epi16(q, xq), scale);
                        sums[r] = _mm256_add_epi32(sums[r], products);
                    }
                }
            }
            for r in 0..R {
                let x_sums = x[r].sums.as_ptr().add(b * SCALES) as *const __m256i;
                let offsets = _mm256_madd_epi16(scales, _mm256_loadu_si256(x_sums));
                let total = _mm256_sub_epi32(sums[r], _mm256_slli_epi32(offsets, 5));
                let scale = _mm256_set1_ps(d * x[r].d[b]);
                acc[r] = _mm256_fmadd_ps(scale, _mm256_cvtepi32_ps(total), acc[r]);
            }
        }
        let mut out = [0f32; R];
        for r in 0..R {
            out[r] = crate::quantized_columns::x86::horizontal_sum(acc[r]);
        }
        out
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    use super::{QuantizedRow, BLOCK, BLOCK_BYTES, D, HIGH, SCALE, SCALES};

    /// As [`super::avx2::dot_rows`], 64 weights per instruction. A 64-byte load of `ql` at
    /// `64h` holds weights `128h ..+ 64` in its low nibbles and `128h + 64 ..+ 64` in its high
    /// ones; their top two bits are bits `2j, 2j + 1` of the 32 bytes of `qh` at `32h`, the
    /// same bytes for both halves of a register, shifted per half. Each 128-bit lane of the
    /// products is one run of 16, so the scales go one to a lane.
    ///
    /// # Safety
    /// The CPU has AVX-512 F and BW besides AVX2, FMA and F16C
    /// (`quantized_columns::x86::has_avx512`); `w` holds `x[r].d.len()` blocks for every row.
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
    pub unsafe fn dot_rows<const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        let low4 = _mm512_set1_epi8(0x0F);
        let top2 = _mm512_set1_epi8(0x30);
        // Bits 0–1 (j = 0) and 2–3 (j = 1) of qh to bits 4–5, then 4–5 and 6–7 (j = 2, 3).
        let first_pair = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(2), 1);
        let second_pair = _mm512_inserti64x4(_mm512_set1_epi16(0), _mm256_set1_epi16(2), 1);
        // 16-bit lane `i` takes scale `4p + i / 8` of the block's sixteen.
        let scale_index: [__m512i; 4] = std::array::from_fn(|p| {
            let base = 4 * p as i16;
            _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_set_m128i(
                    _mm_set1_epi16(base + 1),
                    _mm_set1_epi16(base),
                )),
                _mm256_set_m128i(_mm_set1_epi16(base + 3), _mm_set1_epi16(base + 2)),
                1,
            )
        });
        let mut acc = [_mm512_setzero_ps(); R];
        for b in 0..x[0].d.len() {
            let block = w.as_ptr().add(b * BLOCK_BYTES);
            let half = (block.add(D) as *const u16).read_unaligned() as i32;
            let d = _mm_cvtss_f32(_mm_cvtph_ps(_mm_cvtsi32_si128(half)));
            let scales = _mm256_cvtepi8_epi16(_mm_loadu_si128(block.add(SCALE) as *const __m128i));
            let scales = _mm512_castsi256_si512(scales);
            let mut sums = [_mm512_setzero_si512(); R];
            for h in 0..2 {
                let ql = _mm512_loadu_si512(block.add(64 * h) as *const __m512i);
                let qh = _mm256_loadu_si256(block.add(HIGH + 32 * h) as *const __m256i);
                let qh = _mm512_inserti64x4(_mm512_castsi256_si512(qh), qh, 1);
                let values = [
                    _mm512_or_si512(
                        _mm512_and_si512(ql, low4),
                        _mm512_and_si512(_mm512_sllv_epi16(qh, first_pair), top2),
                    ),
                    _mm512_or_si512(
                        _mm512_and_si512(_mm512_srli_epi16(ql, 4), low4),
                        _mm512_and_si512(_mm512_srlv_epi16(qh, second_pair), top2),
                    ),
                ];
                for (p, q) in values.into_iter().enumerate() {
                    let scale = _mm512_permutexvar_epi16(scale_index[2 * h + p], scales);
                    for r in 0..R {
                        let at = x[r].q.as_ptr().add(b * BLOCK + 128 * h + 64 * p);
                        let xq = _mm512_loadu_si512(at as *const __m512i);
                        let products = _mm512_madd_epi16(_mm512_maddubs_epi16(q, xq), scale);
                        sums[r] = _mm512_add_epi32(sums[r], products);
                    }
                }
            }
            for r in 0..R {
                let x_sums = x[r].sums.as_ptr().add(b * SCALES) as *const __m256i;
                let offsets =
                    _mm256_madd_epi16(_mm512_castsi512_si256(scales), _mm256_loadu_si256(x_sums));
                let offsets = _mm512_zextsi256_si512(_mm256_slli_epi32(offsets, 5));
                let total = _mm512_sub_epi32(sums[r], offsets);
                let scale = _mm512_set1_ps(d * x[r].d[b]);
                acc[r] = _mm512_fmadd_ps(scale, _mm512_cvtepi32_ps(total), acc[r]);
            }
        }
        let mut out = [0f32; R];
        for r in 0..R {
            out[r] = _mm512_reduce_add_ps(acc[r]);
        }
        out
    }
}

/// Q6_K's kernels for [`crate::quantized_columns::matmul_t`].
pub struct Kernel;

impl Blocks for Kernel {
    const NAME: &'static str = "Q6_K";
    const VALUES: usize = BLOCK;
    const BYTES: usize = BLOCK_BYTES;

    fn quantize_row(x: &[f32]) -> QuantizedRow {
        crate::quantized_columns::quantize_row(x, BLOCK, RUN, |s| s)
    }

    fn dot_scalar(w: &[u8], x: &QuantizedRow) -> f32 {
        dot_scalar(w, x)
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn dot_rows_avx2<const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        avx2::dot_rows(w, x)
    }

    #[cfg(target_arch = "x86_64")]
    const HAS_AVX512: bool = true;

    #[cfg(target_arch = "x86_64")]
    unsafe fn dot_rows_avx512<const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        avx512::dot_rows(w, x)
    }

    #[cfg(target_arch = "x86_64")]
    type Tiles = tiles::Q6Tiles;
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::*;
    use crate::quantized_columns::{check_kernel, check_weights};

    #[test]
    fn the_values_are_the_ones_candle_dequantizes() {
        check_weights::<Kernel>(GgmlDType::Q6K, |block, v| {
            let scale = block[SCALE + v / RUN] as i8 as f32;
            d_of(block) * scale * (value(block, v) as f32 - 32.0)
        });
    }

    #[test]
    fn the_product_matches_the_dequantized_weight_and_every_path_the_portable_one() {
        // 768 columns: three blocks; 80 rows: a chunk of four tiles and one of one.
        check_kernel::<Kernel>(GgmlDType::Q6K, (768, 80));
    }
}
