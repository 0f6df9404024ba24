//! `x · Wᵀ` for a Q4_K or Q5_K weight and up to a prompt's rows of `x`, on the CPU, read from
//! the file's blocks as they are.
//!
//! candle's x86 Q4_K product repacks each matrix, the first time it runs, into tiles of 16 rows
//! with f32 scales: 6 bits a weight, kept beside the blocks' 4.5. Decoding reads every weight
//! once per token and is bound by memory bandwidth, so those tiles cost a third more traffic
//! per token, and their own memory (a 1B model generated at 0.60–0.66× llama.cpp's tokens/s
//! with 1.3× its memory, BENCHMARKS.md "Generation and prompts on Q4_K and Q8_0 blocks"); its
//! Q5_K product reads the whole weight once per row of `x`, so a prompt's pass on a Q5_K_M
//! file took the dense path. This is the product llama.cpp computes
//! (`ggml_vec_dot_q4_K_q8_K`, `ggml_vec_dot_q5_K_q8_K`): each row of `x` is quantized to 8
//! bits per 256 values with one scale `d`, and the sum of each 32 kept for the weights'
//! minimums; a prompt's pass takes [`tiles`] where the CPU has VNNI.
//!
//! A Q4_K block holds 256 weights in 144 bytes: `d` and `dmin` as f16, twelve bytes of 6-bit
//! scales and minimums for its eight sub-blocks of 32, then 128 bytes of nibbles. Byte `j` of
//! the `c`-th 32 of them holds weight `64c + j` in its low nibble (sub-block `2c`) and
//! `64c + 32 + j` in its high one (sub-block `2c + 1`). A Q5_K block (176 bytes) has 32 bytes
//! of fifth bits between the scales and the nibbles: bit `s` of byte `j` tops weight `j` of
//! sub-block `s`. A weight is `d·scale_s·q − dmin·min_s`, so a block contributes
//! `d·d_x·Σ_s scale_s·(q_s · q_x) − dmin·d_x·Σ_s min_s·(Σ q_x)_s`.

use std::marker::PhantomData;

use half::f16;

use crate::quantized_columns::{Blocks, QuantizedRow, RUN as SUB};

#[cfg(target_arch = "x86_64")]
mod tiles;

pub const BLOCK: usize = 256;
const SUBS: usize = BLOCK / SUB;
/// Where the twelve bytes of scales and minimums start in a block.
const SCALES: usize = 4;

/// What sets Q5_K's blocks apart from Q4_K's: their size, and the 32 bytes of fifth bits.
pub trait Layout: Send + Sync + 'static {
    const NAME: &'static str;
    const BYTES: usize;
    /// Where the fifth bits start (Q5_K), if the type has them.
    const HIGH_BITS: Option<usize>;
    /// Where the nibbles start.
    const NIBBLES: usize = SCALES + 12 + if Self::HIGH_BITS.is_some() { 32 } else { 0 };
}

pub struct Q4;
pub struct Q5;

impl Layout for Q4 {
    const NAME: &'static str = "Q4_K";
    const BYTES: usize = 144;
    const HIGH_BITS: Option<usize> = None;
}

impl Layout for Q5 {
    const NAME: &'static str = "Q5_K";
    const BYTES: usize = 176;
    const HIGH_BITS: Option<usize> = Some(SCALES + 12);
}

/// The slot (of 32 activations) sub-block `s` takes in a quantized row's block: the order in
/// which a 64-byte load of nibbles meets the sub-blocks, its low nibbles first (sub-blocks
/// 0 and 2, then 1 and 3 from the high ones; then 4, 6, 5, 7), so that each load of 64
/// activations lines up with one load of nibbles.
const fn slot(s: usize) -> usize {
    let within = s % 4;
    s / 4 * 4 + within % 2 * 2 + within / 2
}

/// The eight 6-bit scales and eight 6-bit minimums of a block's twelve bytes: bytes 0–3 hold
/// scales 0–3 in their low six bits, bytes 4–7 minimums 0–3; bytes 8–11 hold the low four
/// bits of scales 4–7 (low nibble) and minimums 4–7 (high nibble), whose top two bits are the
/// top bits of bytes 0–3 and 4–7. Taken four at a time as 32-bit words. (Inlined: decoding
/// calls it once per block of every weight row, 16% of a token's time as a call.)
#[inline(always)]
fn scales_and_mins(bytes: &[u8]) -> ([u8; SUBS], [u8; SUBS]) {
    const LOW6: u32 = 0x3f3f_3f3f;
    const LOW4: u32 = 0x0f0f_0f0f;
    const LOW2: u32 = 0x0303_0303;
    let word = |i: usize| {
        u32::from_le_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ])
    };
    let (w0, w1, w2) = (word(0), word(1), word(2));
    let scales = [w0 & LOW6, (w2 & LOW4) | ((w0 >> 6) & LOW2) << 4];
    let mins = [w1 & LOW6, ((w2 >> 4) & LOW4) | ((w1 >> 6) & LOW2) << 4];
    let bytes8 = |w: [u32; 2]| (w[0] as u64 | (w[1] as u64) << 32).to_le_bytes();
    (bytes8(scales), bytes8(mins))
}

#[inline(always)]
fn d_and_dmin(block: &[u8]) -> (f32, f32) {
    (
        f16::from_le_bytes([block[0], block[1]]).to_f32(),
        f16::from_le_bytes([block[2], block[3]]).to_f32(),
    )
}

/// The value (0–15, or 0–31 for Q5_K) of weight `j` of sub-block `s` of a block.
#[inline(always)]
fn value<L: Layout>(block: &[u8], s: usize, j: usize) -> u8 {
    let byte = block[L::NIBBLES + s / 2 * SUB + j];
    let nibble = if s.is_multiple_of(2) {
        byte & 0x0F
    } else {
        byte >> 4
    };
    match L::HIGH_BITS {
        Some(at) => nibble | ((block[at + j] >> s) & 1) << 4,
        None => nibble,
    }
}

/// The dot product of one weight row (`k / 256` blocks) with one quantized row, portably.
fn dot_scalar<L: Layout>(w: &[u8], x: &QuantizedRow) -> f32 {
    let mut sum = 0f32;
    for (b, block) in w.chunks_exact(L::BYTES).enumerate() {
        let (d, dmin) = d_and_dmin(block);
        let (scales, mins) = scales_and_mins(&block[SCALES..SCALES + 12]);
        let q = &x.q[b * BLOCK..(b + 1) * BLOCK];
        let (mut dots, mut mins_sum) = (0i32, 0i32);
        for s in 0..SUBS {
            let xs = &q[slot(s) * SUB..][..SUB];
            let mut dot = 0i32;
            for (j, &xq) in xs.iter().enumerate() {
                dot += value::<L>(block, s, j) as i32 * xq as i32;
            }
            dots += scales[s] as i32 * dot;
            mins_sum += mins[s] as i32 * x.sums[b * SUBS + s] as i32;
        }
        sum += d * x.d[b] * dots as f32 - dmin * x.d[b] * mins_sum as f32;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{scales_and_mins, slot, Layout, QuantizedRow, BLOCK, SCALES, SUB, SUBS};

    /// A `pshufb` control that copies 16-bit lane `i` of each 128-bit half to all its lanes.
    #[target_feature(enable = "avx2")]
    pub(super) fn lane_broadcast(i: usize) -> __m256i {
        _mm256_set1_epi16((((2 * i + 1) << 8) | (2 * i)) as i16)
    }

    /// `[d, dmin]` of the block at `block`, and its scales and minimums as 16-bit lanes.
    ///
    /// # Safety
    /// `block` points at a whole block; the CPU has F16C and SSE4.1.
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn block_head(block: *const u8) -> (f32, f32, __m128i, __m128i) {
        let dm = _mm_cvtph_ps(_mm_cvtsi32_si128((block as *const i32).read_unaligned()));
        let (d, dmin) = (_mm_cvtss_f32(dm), _mm_cvtss_f32(_mm_shuffle_ps(dm, dm, 1)));
        let (scales, mins) = scales_and_mins(std::slice::from_raw_parts(block.add(SCALES), 12));
        let scales = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(i64::from_le_bytes(scales)));
        let mins = _mm_cvtepu8_epi16(_mm_cvtsi64_si128(i64::from_le_bytes(mins)));
        (d, dmin, scales, mins)
    }

    /// As [`super::dot_scalar`] for `R` rows of `x` at once, 32 weights at a time: each
    /// block's values are unpacked once for all of them (decoding takes one row, a prompt's
    /// pass `quantized_columns::ROWS_AT_ONCE`). The products of a value and an 8-bit
    /// activation are summed in pairs to 16 bits (at most 2·31·127), then times the
    /// sub-block's scale to 32.
    ///
    /// # Safety
    /// The CPU has AVX2, FMA and F16C (`quantized_columns::x86::has_avx2`); `w` holds
    /// `x[r].d.len()` blocks for every row.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_rows<L: Layout, const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        let low = _mm256_set1_epi8(0x0F);
        let fifth = _mm256_set1_epi8(0x10);
        let mut acc = [_mm256_setzero_ps(); R];
        for b in 0..x[0].d.len() {
            let block = w.as_ptr().add(b * L::BYTES);
            let (d, dmin, scales, mins) = block_head(block);
            let scales = _mm256_set_m128i(scales, scales);
            // Sub-blocks 2c and 2c + 1 take bits 2c and 2c + 1: shifted down by two a pair.
            let mut high = match L::HIGH_BITS {
                Some(at) => _mm256_loadu_si256(block.add(at) as *const __m256i),
                None => _mm256_setzero_si256(),
            };
            let mut sums = [_mm256_setzero_si256(); R];
            for c in 0..4 {
                let packed = _mm256_loadu_si256(block.add(L::NIBBLES + c * SUB) as *const __m256i);
                let mut lo = _mm256_and_si256(packed, low);
                let mut hi = _mm256_and_si256(_mm256_srli_epi16(packed, 4), low);
                if L::HIGH_BITS.is_some() {
                    lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(high, 4), fifth));
                    hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(high, 3), fifth));
                    high = _mm256_srli_epi16(high, 2);
                }
                let scale_lo = _mm256_shuffle_epi8(scales, lane_broadcast(2 * c));
                let scale_hi = _mm256_shuffle_epi8(scales, lane_broadcast(2 * c + 1));
                for r in 0..R {
                    let q = x[r].q.as_ptr().add(b * BLOCK);
                    let x_lo = _mm256_loadu_si256(q.add(slot(2 * c) * SUB) as *const __m256i);
                    let x_hi = _mm256_loadu_si256(q.add(slot(2 * c + 1) * SUB) as *const __m256i);
                    let p_lo = _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x_lo), scale_lo);
                    let p_hi = _mm256_madd_epi16(_mm256_maddubs_epi16(hi, x_hi), scale_hi);
                    sums[r] = _mm256_add_epi32(sums[r], _mm256_add_epi32(p_lo, p_hi));
                }
            }
            for r in 0..R {
                let dx = x[r].d[b];
                let x_sums = _mm_loadu_si128(x[r].sums.as_ptr().add(b * SUBS) as *const __m128i);
                let min_sum = _mm256_zextsi128_si256(_mm_madd_epi16(mins, x_sums));
                acc[r] =
                    _mm256_fmadd_ps(_mm256_set1_ps(d * dx), _mm256_cvtepi32_ps(sums[r]), acc[r]);
                acc[r] = _mm256_fnmadd_ps(
                    _mm256_set1_ps(dmin * dx),
                    _mm256_cvtepi32_ps(min_sum),
                    acc[r],
                );
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

    use super::avx2::{block_head, lane_broadcast};
    use super::{slot, Layout, QuantizedRow, BLOCK, SUB, SUBS};

    /// A `pshufb` control for a 512-bit register of two sub-blocks: sub-block `a`'s scale in
    /// the low 256 bits, `b`'s in the high.
    #[target_feature(enable = "avx512f,avx512bw,avx2")]
    fn pair_broadcast(a: usize, b: usize) -> __m512i {
        _mm512_inserti64x4(
            _mm512_castsi256_si512(lane_broadcast(a)),
            lane_broadcast(b),
            1,
        )
    }

    /// As [`super::avx2::dot_rows`], 64 weights (two sub-blocks) per instruction: a 64-byte
    /// load of nibbles holds sub-blocks `4h` and `4h + 2` in its low nibbles and `4h + 1` and
    /// `4h + 3` in its high ones, which [`slot`] lays out side by side in the activations.
    ///
    /// # Safety
    /// The CPU has AVX-512 F and BW besides AVX2, FMA and F16C
    /// (`quantized_columns::x86::has_avx512`); `w` holds `x[r].d.len()` blocks for every row.
    #[target_feature(enable = "avx512f,avx512bw,avx2,fma,f16c")]
    pub unsafe fn dot_rows<L: Layout, const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        let low = _mm512_set1_epi8(0x0F);
        let fifth = _mm512_set1_epi8(0x10);
        let mut acc = [_mm512_setzero_ps(); R];
        for b in 0..x[0].d.len() {
            let block = w.as_ptr().add(b * L::BYTES);
            let (d, dmin, scales, mins) = block_head(block);
            let scales = _mm512_broadcast_i32x4(scales);
            // The low 256 bits serve sub-blocks 4h and 4h + 1 (bits 4h, 4h + 1), the high
            // 256 bits 4h + 2 and 4h + 3: the same 32 bytes, the high copy two bits down.
            let mut high = match L::HIGH_BITS {
                Some(at) => {
                    let bits = _mm256_loadu_si256(block.add(at) as *const __m256i);
                    _mm512_inserti64x4(_mm512_castsi256_si512(bits), _mm256_srli_epi16(bits, 2), 1)
                }
                None => _mm512_setzero_si512(),
            };
            let mut sums = [_mm512_setzero_si512(); R];
            for h in 0..2 {
                let packed =
                    _mm512_loadu_si512(block.add(L::NIBBLES + h * 2 * SUB) as *const __m512i);
                let mut lo = _mm512_and_si512(packed, low);
                let mut hi = _mm512_and_si512(_mm512_srli_epi16(packed, 4), low);
                if L::HIGH_BITS.is_some() {
                    lo = _mm512_or_si512(lo, _mm512_and_si512(_mm512_slli_epi16(high, 4), fifth));
                    hi = _mm512_or_si512(hi, _mm512_and_si512(_mm512_slli_epi16(high, 3), fifth));
                    high = _mm512_srli_epi16(high, 4);
                }
                let scale_lo = _mm512_shuffle_epi8(scales, pair_broadcast(4 * h, 4 * h + 2));
                let scale_hi = _mm512_shuffle_epi8(scales, pair_broadcast(4 * h + 1, 4 * h + 3));
                for r in 0..R {
                    let q = x[r].q.as_ptr().add(b * BLOCK);
                    let x_lo = _mm512_loadu_si512(q.add(slot(4 * h) * SUB) as *const __m512i);
                    let x_hi = _mm512_loadu_si512(q.add(slot(4 * h + 1) * SUB) as *const __m512i);
                    let p_lo = _mm512_madd_epi16(_mm512_maddubs_epi16(lo, x_lo), scale_lo);
                    let p_hi = _mm512_madd_epi16(_mm512_maddubs_epi16(hi, x_hi), scale_hi);
                    sums[r] = _mm512_add_epi32(sums[r], _mm512_add_epi32(p_lo, p_hi));
                }
            }
            for r in 0..R {
                let dx = x[r].d[b];
                let x_sums = _mm_loadu_si128(x[r].sums.as_ptr().add(b * SUBS) as *const __m128i);
                let min_sum = _mm512_zextsi128_si512(_mm_madd_epi16(mins, x_sums));
                acc[r] =
                    _mm512_fmadd_ps(_mm512_set1_ps(d * dx), _mm512_cvtepi32_ps(sums[r]), acc[r]);
                acc[r] = _mm512_fnmadd_ps(
                    _mm512_set1_ps(dmin * dx),
                    _mm512_cvtepi32_ps(min_sum),
                    acc[r],
                );
            }
        }
        let mut out = [0f32; R];
        for r in 0..R {
            out[r] = _mm512_reduce_add_ps(acc[r]);
        }
        out
    }
}

/// The kernels of Q4_K ([`Q4`]) or Q5_K ([`Q5`]) for [`crate::quantized_columns::matmul_t`].
pub struct Kernel<L>(PhantomData<L>);

impl<L: Layout> Blocks for Kernel<L> {
    const NAME: &'static str = L::NAME;
    const VALUES: usize = BLOCK;
    const BYTES: usize = L::BYTES;

    fn quantize_row(x: &[f32]) -> QuantizedRow {
        crate::quantized_columns::quantize_row(x, BLOCK, SUB, slot)
    }

    fn dot_scalar(w: &[u8], x: &QuantizedRow) -> f32 {
        dot_scalar::<L>(w, x)
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn dot_rows_avx2<const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        avx2::dot_rows::<L, R>(w, x)
    }

    #[cfg(target_arch = "x86_64")]
    const HAS_AVX512: bool = true;

    #[cfg(target_arch = "x86_64")]
    unsafe fn dot_rows_avx512<const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        avx512::dot_rows::<L, R>(w, x)
    }

    #[cfg(target_arch = "x86_64")]
    type Tiles = tiles::KTiles<L>;
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::quantized_columns::{check_kernel, check_weights};

    /// The format's rule for scale and minimum `j`, one at a time.
    fn scale_and_min(j: usize, s: &[u8]) -> (u8, u8) {
        if j < 4 {
            (s[j] & 63, s[j + 4] & 63)
        } else {
            (
                (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4),
                (s[j + 4] >> 4) | ((s[j] >> 6) << 4),
            )
        }
    }

    #[test]
    fn scales_and_minimums_unpack_by_the_formats_rule() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let bytes: [u8; 12] = std::array::from_fn(|_| rng.random());
            let (scales, mins) = scales_and_mins(&bytes);
            for j in 0..SUBS {
                assert_eq!(
                    (scales[j], mins[j]),
                    scale_and_min(j, &bytes),
                    "{bytes:?} {j}"
                );
            }
        }
    }

    #[test]
    fn the_values_are_the_ones_candle_dequantizes() {
        fn weight<L: Layout>(block: &[u8], j: usize) -> f32 {
            let (d, dmin) = d_and_dmin(block);
            let (scales, mins) = scales_and_mins(&block[SCALES..SCALES + 12]);
            let (s, q) = (j / SUB, value::<L>(block, j / SUB, j % SUB) as f32);
            d * scales[s] as f32 * q - dmin * mins[s] as f32
        }
        check_weights::<Kernel<Q4>>(GgmlDType::Q4K, weight::<Q4>);
        check_weights::<Kernel<Q5>>(GgmlDType::Q5K, weight::<Q5>);
    }

    #[test]
    fn the_product_matches_the_dequantized_weight_and_each_path_the_portable_one() {
        // 768 columns: three blocks; 80 rows: a chunk of four tiles and one of one.
        check_kernel::<Kernel<Q4>>(GgmlDType::Q4K, (768, 80));
        check_kernel::<Kernel<Q5>>(GgmlDType::Q5K, (768, 80));
    }
}
