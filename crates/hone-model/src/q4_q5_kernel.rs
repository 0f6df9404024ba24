//! `x · Wᵀ` for a Q4_0, Q4_1, Q5_0 or Q5_1 weight and up to a prompt's rows of `x`, on the
//! CPU, read from the file's blocks as they are.
//!
//! candle runs Q4_1, Q5_0 and Q5_1 with a scalar loop only (its SIMD kernels cover Q4_0, Q8_0
//! and the k-quants), several times slower than llama.cpp, so the loader had requantized them
//! to Q8_0: 1.5–1.7× the bytes per token, and not the file's weights. A Q4_K_M or Q5_K_M file
//! holds Q5_0 or Q5_1 wherever a row is not a multiple of 256 (SmolLM2's 576 columns). This is
//! the product llama.cpp computes (`ggml_vec_dot_q4_1_q8_1` and its kin): each row of `x`
//! rounded to 8 bits per block of 32 with its scale `d_x` and its sum `Σ q_x`, a block
//! contributing `d_w·d_x·(Σ v·q_x − bias·Σ q_x) + m_w·d_x·Σ q_x` for the block's values `v`.
//! A prompt's pass takes `block32_tiles` where the CPU has VNNI.
//!
//! The blocks (32 weights): `d` as f16, then `m` as f16 (Q4_1, Q5_1), then 32 fifth bits as a
//! little-endian `u32` (Q5_0, Q5_1: bit `j` tops weight `j`), then 16 bytes whose low nibbles
//! are weights 0–15 and high nibbles 16–31. A weight is `d·(v − bias) + m`: the bias is 8
//! (Q4_0) or 16 (Q5_0) where there is no minimum.

use std::marker::PhantomData;

use half::f16;

use crate::block32_tiles::{Block32, BLOCK};
use crate::quantized_columns::{Blocks, QuantizedRow};

/// What sets the four types apart: a minimum, and fifth bits.
pub trait Layout: Send + Sync + 'static {
    const NAME: &'static str;
    /// Whether a block holds `m` after `d` (Q4_1, Q5_1).
    const HAS_MIN: bool;
    /// Whether a block holds 32 fifth bits (Q5_0, Q5_1).
    const HAS_FIFTH: bool;
    /// Where the fifth bits and the nibbles start, and the block's size.
    const FIFTH: usize = if Self::HAS_MIN { 4 } else { 2 };
    const NIBBLES: usize = Self::FIFTH + if Self::HAS_FIFTH { 4 } else { 0 };
    const BYTES: usize = Self::NIBBLES + BLOCK / 2;
    /// What each value stands above the weight's integer where there is no minimum.
    const BIAS: i32 = match (Self::HAS_MIN, Self::HAS_FIFTH) {
        (true, _) => 0,
        (false, false) => 8,
        (false, true) => 16,
    };
}

pub struct Q4_0;
pub struct Q4_1;
pub struct Q5_0;
pub struct Q5_1;

impl Layout for Q4_0 {
    const NAME: &'static str = "Q4_0";
    const HAS_MIN: bool = false;
    const HAS_FIFTH: bool = false;
}

impl Layout for Q4_1 {
    const NAME: &'static str = "Q4_1";
    const HAS_MIN: bool = true;
    const HAS_FIFTH: bool = false;
}

impl Layout for Q5_0 {
    const NAME: &'static str = "Q5_0";
    const HAS_MIN: bool = false;
    const HAS_FIFTH: bool = true;
}

impl Layout for Q5_1 {
    const NAME: &'static str = "Q5_1";
    const HAS_MIN: bool = true;
    const HAS_FIFTH: bool = true;
}

/// A block's `d` and `m` (0 without one).
#[inline(always)]
fn d_and_m<L: Layout>(block: &[u8]) -> (f32, f32) {
    let d = f16::from_le_bytes([block[0], block[1]]).to_f32();
    let m = if L::HAS_MIN {
        f16::from_le_bytes([block[2], block[3]]).to_f32()
    } else {
        0.0
    };
    (d, m)
}

/// The block's 32 values (0–15, or 0–31 with fifth bits).
#[inline(always)]
fn values<L: Layout>(block: &[u8]) -> [u8; BLOCK] {
    let fifth = if L::HAS_FIFTH {
        u32::from_le_bytes(std::array::from_fn(|i| block[L::FIFTH + i]))
    } else {
        0
    };
    std::array::from_fn(|j| {
        let byte = block[L::NIBBLES + j % 16];
        let nibble = if j < 16 { byte & 0x0F } else { byte >> 4 };
        nibble | (((fifth >> j) & 1) as u8) << 4
    })
}

/// The dot product of one weight row (`k / 32` blocks) with one quantized row, portably.
fn dot_scalar<L: Layout>(w: &[u8], x: &QuantizedRow) -> f32 {
    let mut sum = 0f32;
    for (b, block) in w.chunks_exact(L::BYTES).enumerate() {
        let (d, m) = d_and_m::<L>(block);
        let xq = &x.q[b * BLOCK..(b + 1) * BLOCK];
        let dot: i32 = values::<L>(block)
            .iter()
            .zip(xq)
            .map(|(&v, &q)| v as i32 * q as i32)
            .sum();
        let x_sum = x.sums[b] as i32;
        sum += d * x.d[b] * (dot - L::BIAS * x_sum) as f32 + m * x.d[b] * x_sum as f32;
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::{Layout, QuantizedRow, BLOCK};

    /// Byte `j` of the result is 0x10 where bit `j` of `bits` is set, else 0.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn fifth_bits(bits: u32) -> __m256i {
        // Byte j takes byte j / 8 of the word, then tests its bit j % 8.
        let spread = _mm256_shuffle_epi8(
            _mm256_set1_epi32(bits as i32),
            _mm256_set_epi64x(
                0x0303_0303_0303_0303,
                0x0202_0202_0202_0202,
                0x0101_0101_0101_0101,
                0,
            ),
        );
        let mask = _mm256_set1_epi64x(0x8040_2010_0804_0201u64 as i64);
        let set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, mask), mask);
        _mm256_and_si256(set, _mm256_set1_epi8(0x10))
    }

    /// The block at `block`: its `d`, its `m` (meaningless without one) and its 32 values.
    ///
    /// # Safety
    /// `block` points at a whole block; the CPU has AVX2 and F16C.
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn unpack<L: Layout>(block: *const u8) -> (f32, f32, __m256i) {
        // Both halves at once (the first four bytes are in every block).
        let dm = _mm_cvtph_ps(_mm_cvtsi32_si128((block as *const i32).read_unaligned()));
        let (d, m) = (_mm_cvtss_f32(dm), _mm_cvtss_f32(_mm_shuffle_ps(dm, dm, 1)));
        let low = _mm_set1_epi8(0x0F);
        let packed = _mm_loadu_si128(block.add(L::NIBBLES) as *const __m128i);
        let lo = _mm_and_si128(packed, low);
        let hi = _mm_and_si128(_mm_srli_epi16(packed, 4), low);
        let mut values = _mm256_set_m128i(hi, lo);
        if L::HAS_FIFTH {
            let bits = (block.add(L::FIFTH) as *const u32).read_unaligned();
            values = _mm256_or_si256(values, fifth_bits(u32::from_le(bits)));
        }
        (d, m, values)
    }

    /// [`unpack`] with the values as bytes, and `m` 0 where the type has none.
    ///
    /// # Safety
    /// As [`unpack`].
    #[inline]
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn unpacked_bytes<L: Layout>(block: *const u8) -> ([u8; BLOCK], f32, f32) {
        let (d, m, values) = unpack::<L>(block);
        let mut out = [0u8; BLOCK];
        _mm256_storeu_si256(out.as_mut_ptr() as *mut __m256i, values);
        (out, d, if L::HAS_MIN { m } else { 0.0 })
    }

    /// As [`super::dot_scalar`] for `R` rows of `x` at once, a block at a time: each weight
    /// block is loaded and unpacked once for all of them (decoding takes one row, a prompt's
    /// pass `quantized_columns::ROWS_AT_ONCE`). The bias comes off in integers; even and odd
    /// blocks sum apart, so that decoding's one row does not wait on one chain of `fmadd`s.
    ///
    /// # Safety
    /// The CPU has AVX2, FMA and F16C (`quantized_columns::x86::has_avx2`); `w` holds
    /// `x[r].d.len()` blocks for every row.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn dot_rows<L: Layout, const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_ps(); R];
        let mut mins = [0f32; R];
        for b in 0..x[0].d.len() {
            let (d, m, qw) = unpack::<L>(w.as_ptr().add(b * L::BYTES));
            for r in 0..R {
                let row = x[r];
                let qx = _mm256_loadu_si256(row.q.as_ptr().add(b * BLOCK) as *const __m256i);
                // u8 × i8 pairs summed to i16 (at most 2·31·127), then to i32.
                let mut products = _mm256_madd_epi16(_mm256_maddubs_epi16(qw, qx), ones);
                let x_sum = row.sums[b] as i32;
                if L::BIAS != 0 {
                    let bias = _mm256_zextsi128_si256(_mm_cvtsi32_si128(L::BIAS * x_sum));
                    products = _mm256_sub_epi32(products, bias);
                }
                acc[r] = _mm256_fmadd_ps(
                    _mm256_set1_ps(d * row.d[b]),
                    _mm256_cvtepi32_ps(products),
                    acc[r],
                );
                if L::HAS_MIN {
                    mins[r] += m * row.d[b] * x_sum as f32;
                }
            }
        }
        let mut out = [0f32; R];
        for r in 0..R {
            out[r] = crate::quantized_columns::x86::horizontal_sum(acc[r]) + mins[r];
        }
        out
    }
}

/// The kernels of one of the four types for [`crate::quantized_columns::matmul_t`]. Without
/// AVX2 the portable loop is slower than requantizing to Q8_0, which the loader then does
/// (`base_weight::has_fast_cpu_kernel`).
pub struct Kernel<L>(PhantomData<L>);

impl<L: Layout> Blocks for Kernel<L> {
    const NAME: &'static str = L::NAME;
    const VALUES: usize = BLOCK;
    const BYTES: usize = L::BYTES;

    /// Per block of 32, with each block's sum (what a bias or a minimum multiplies).
    fn quantize_row(x: &[f32]) -> QuantizedRow {
        crate::quantized_columns::quantize_row(x, BLOCK, BLOCK, |s| s)
    }

    fn dot_scalar(w: &[u8], x: &QuantizedRow) -> f32 {
        dot_scalar::<L>(w, x)
    }

    #[cfg(target_arch = "x86_64")]
    unsafe fn dot_rows_avx2<const R: usize>(w: &[u8], x: [&QuantizedRow; R]) -> [f32; R] {
        avx2::dot_rows::<L, R>(w, x)
    }

    #[cfg(target_arch = "x86_64")]
    type Tiles = crate::block32_tiles::Block32Tiles<Self>;
}

impl<L: Layout> Block32 for Kernel<L> {
    const BYTES: usize = L::BYTES;
    const BIAS: i32 = L::BIAS;
    const HAS_MIN: bool = L::HAS_MIN;

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn unpack(block: &[u8]) -> ([u8; BLOCK], f32, f32) {
        debug_assert!(block.len() >= L::BYTES);
        avx2::unpacked_bytes::<L>(block.as_ptr())
    }
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::GgmlDType;

    use super::*;
    use crate::quantized_columns::{check_kernel, check_weights};

    #[test]
    fn the_values_are_the_ones_candle_dequantizes() {
        fn weight<L: Layout>(block: &[u8], j: usize) -> f32 {
            let (d, m) = d_and_m::<L>(block);
            d * (values::<L>(block)[j] as i32 - L::BIAS) as f32 + m
        }
        check_weights::<Kernel<Q4_0>>(GgmlDType::Q4_0, weight::<Q4_0>);
        check_weights::<Kernel<Q4_1>>(GgmlDType::Q4_1, weight::<Q4_1>);
        check_weights::<Kernel<Q5_0>>(GgmlDType::Q5_0, weight::<Q5_0>);
        check_weights::<Kernel<Q5_1>>(GgmlDType::Q5_1, weight::<Q5_1>);
    }

    #[test]
    fn the_product_matches_the_dequantized_weight_and_each_path_the_portable_one() {
        // 96 columns: three blocks; 80 rows: a chunk of four tiles and one of one.
        check_kernel::<Kernel<Q4_0>>(GgmlDType::Q4_0, (96, 80));
        check_kernel::<Kernel<Q4_1>>(GgmlDType::Q4_1, (96, 80));
        check_kernel::<Kernel<Q5_0>>(GgmlDType::Q5_0, (96, 80));
        check_kernel::<Kernel<Q5_1>>(GgmlDType::Q5_1, (96, 80));
    }
}
