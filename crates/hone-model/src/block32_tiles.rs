//! A prompt's product with a weight of 32-value blocks (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): 16 of
//! the weight's rows at a time laid side by side in a worker's scratch (as
//! `q4_k_q5_k_kernel::tiles` does for the k-quants), each weight's value an unsigned byte, so
//! that one `vpdpbusd` multiplies 4 weights of each of the 16 rows with the same 4
//! activations. The scratch lives only while those 16 columns of the output are computed for
//! all the prompt's rows: the blocks stay the one copy of the weight. x86 only (AVX-512 VNNI).

#[cfg(target_arch = "x86_64")]
use crate::quantized_columns::{QuantizedRow, Tiles, TILE};

/// Values in a block.
pub(crate) const BLOCK: usize = 32;
/// 4-byte words of values in a block.
#[cfg(target_arch = "x86_64")]
const WORDS: usize = BLOCK / 4;

/// A block type of 32 values as the tiles take it: weight `j` of a block is
/// `d·(value_j − BIAS) + m`, `value_j` an unsigned byte.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
pub(crate) trait Block32 {
    const BYTES: usize;
    /// What each unsigned value stands above the weight's integer (Q8_0 128, Q5_0 16, Q4_0 8;
    /// none where the block has a minimum). Taken off in integers, as `BIAS·Σ q_x`.
    const BIAS: i32;
    /// Whether blocks have a minimum `m` (Q4_1, Q5_1).
    const HAS_MIN: bool;
    /// A block's 32 values, `d` and `m` (0 without one). Packing a tile unpacks every block
    /// of 16 rows, once per product: for a short prompt, as much work as the products.
    ///
    /// # Safety
    /// The CPU has AVX2 and F16C (which the tiles' AVX-512 VNNI implies).
    #[cfg(target_arch = "x86_64")]
    unsafe fn unpack(block: &[u8]) -> ([u8; BLOCK], f32, f32);
}

/// One block of 16 weight rows: each row's `w`-th word of values side by side, and each row's
/// `d` and `m`.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
pub(crate) struct TileBlock {
    words: [[u32; TILE]; WORDS],
    d: [f32; TILE],
    m: [f32; TILE],
}

#[cfg(target_arch = "x86_64")]
const EMPTY: TileBlock = TileBlock {
    words: [[0; TILE]; WORDS],
    d: [0.0; TILE],
    m: [0.0; TILE],
};

/// Weight rows `first..first + 16` into `tile` (one [`TileBlock`] per block of a row).
///
/// # Safety
/// The CPU has AVX2 and F16C.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,f16c")]
unsafe fn pack<B: Block32>(weight: &[u8], row_bytes: usize, first: usize, tile: &mut [TileBlock]) {
    for r in 0..TILE {
        let row = &weight[(first + r) * row_bytes..(first + r + 1) * row_bytes];
        for (t, block) in tile.iter_mut().zip(row.chunks_exact(B::BYTES)) {
            let (values, d, m) = B::unpack(block);
            (t.d[r], t.m[r]) = (d, m);
            for (w, word) in values.chunks_exact(4).enumerate() {
                t.words[w][r] = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod vnni {
    use std::arch::x86_64::*;

    use super::{Block32, QuantizedRow, TileBlock, BLOCK, TILE, WORDS};

    /// The 16 outputs of a tile for `R` rows of `x`.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI (`quantized_columns::x86::has_vnni`); `tile` holds
    /// `x[r].d.len()` blocks.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn rows<B: Block32, const R: usize>(
        tile: &[TileBlock],
        x: [&QuantizedRow; R],
    ) -> [[f32; TILE]; R] {
        let mut acc = [_mm512_setzero_ps(); R];
        for (b, t) in tile.iter().enumerate() {
            let mut sums = [_mm512_setzero_si512(); R];
            for (q, word) in t.words.iter().enumerate().take(WORDS) {
                let w = _mm512_loadu_si512(word.as_ptr() as *const __m512i);
                for r in 0..R {
                    let at = x[r].q.as_ptr().add(b * BLOCK + 4 * q) as *const i32;
                    sums[r] =
                        _mm512_dpbusd_epi32(sums[r], w, _mm512_set1_epi32(at.read_unaligned()));
                }
            }
            let d = _mm512_loadu_ps(t.d.as_ptr());
            let m = _mm512_loadu_ps(t.m.as_ptr());
            for r in 0..R {
                let x_sum = x[r].sums[b] as i32;
                let bias = _mm512_set1_epi32(B::BIAS * x_sum);
                let sum = _mm512_cvtepi32_ps(_mm512_sub_epi32(sums[r], bias));
                let dx = _mm512_set1_ps(x[r].d[b]);
                acc[r] = _mm512_fmadd_ps(sum, _mm512_mul_ps(d, dx), acc[r]);
                if B::HAS_MIN {
                    let scaled_sum = _mm512_set1_ps(x[r].d[b] * x_sum as f32);
                    acc[r] = _mm512_fmadd_ps(m, scaled_sum, acc[r]);
                }
            }
        }
        let mut out = [[0f32; TILE]; R];
        for r in 0..R {
            _mm512_storeu_ps(out[r].as_mut_ptr(), acc[r]);
        }
        out
    }
}

/// The tiles of a 32-value block type for [`crate::quantized_columns::by_tiles`].
#[cfg(target_arch = "x86_64")]
pub(crate) struct Block32Tiles<B>(std::marker::PhantomData<B>);

#[cfg(target_arch = "x86_64")]
impl<B: Block32> Tiles for Block32Tiles<B> {
    type Block = TileBlock;
    const EMPTY: TileBlock = EMPTY;
    const BYTES: usize = B::BYTES;

    unsafe fn pack(weight: &[u8], row_bytes: usize, first: usize, tile: &mut [TileBlock]) {
        pack::<B>(weight, row_bytes, first, tile)
    }

    unsafe fn rows<const R: usize>(tile: &[TileBlock], x: [&QuantizedRow; R]) -> [[f32; TILE]; R] {
        vnni::rows::<B, R>(tile, x)
    }
}
