//! A prompt's product with a Q4_K or Q5_K weight: 16 of the weight's rows at a time laid side by side
//! in a worker's scratch, so that one `vpdpbusd` multiplies 4 weights of each of the 16 rows
//! with the same 4 activations and no sum crosses lanes (the layout candle's and llama.cpp's
//! many-row kernels keep for the whole model). Here it lives only while those 16 columns of
//! the output are computed, for all the prompt's rows: the blocks stay the one copy of the
//! weight in memory, and the repacking, paid once per 16 rows of the weight, is shared by
//! every row of the prompt. x86 only (AVX-512 VNNI).

use super::{d_and_dmin, scales_and_mins, Layout, QuantizedRow, BLOCK, SCALES, SUBS};
use crate::quantized_columns::{Tiles, TILE};

/// 4-byte words of nibbles in a block.
const WORDS: usize = BLOCK / 8;

/// One block of 16 weight rows: each row's `w`-th word of nibbles side by side (and of fifth
/// bits for Q5_K: bit 4 of each byte tops the low nibble's weight, bit 5 the high one's), and
/// each sub-block's scale (`d·scale_s`) and minimum (`dmin·min_s`) per row.
#[derive(Clone, Copy)]
pub(crate) struct TileBlock {
    words: [[u32; TILE]; WORDS],
    high: [[u32; TILE]; WORDS],
    scales: [[f32; TILE]; SUBS],
    mins: [[f32; TILE]; SUBS],
}

const EMPTY: TileBlock = TileBlock {
    words: [[0; TILE]; WORDS],
    high: [[0; TILE]; WORDS],
    scales: [[0.0; TILE]; SUBS],
    mins: [[0.0; TILE]; SUBS],
};

/// Weight rows `first..first + 16` into `tile` (one [`TileBlock`] per block of a row).
fn pack<L: Layout>(weight: &[u8], row_bytes: usize, first: usize, tile: &mut [TileBlock]) {
    for r in 0..TILE {
        let row = &weight[(first + r) * row_bytes..(first + r + 1) * row_bytes];
        for (t, block) in tile.iter_mut().zip(row.chunks_exact(L::BYTES)) {
            let (d, dmin) = d_and_dmin(block);
            let (scales, mins) = scales_and_mins(&block[SCALES..SCALES + 12]);
            for s in 0..SUBS {
                t.scales[s][r] = d * scales[s] as f32;
                t.mins[s][r] = dmin * mins[s] as f32;
            }
            let nibbles = &block[L::NIBBLES..L::NIBBLES + BLOCK / 2];
            for (w, word) in nibbles.chunks_exact(4).enumerate() {
                t.words[w][r] = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
                if let Some(at) = L::HIGH_BITS {
                    // Word w holds weights 4(w % 8) ..+ 4 of sub-blocks 2c and 2c + 1.
                    let c = w / 8;
                    let bits = &block[at + 4 * (w % 8)..][..4];
                    let pair = |byte: u8| ((byte >> (2 * c)) & 3) << 4;
                    t.high[w][r] = u32::from_le_bytes(std::array::from_fn(|i| pair(bits[i])));
                }
            }
        }
    }
}

mod vnni {
    use std::arch::x86_64::*;

    use super::super::{slot, Layout, QuantizedRow, BLOCK, SUB, SUBS};
    use super::{TileBlock, TILE};

    /// The 16 outputs of a tile for `R` rows of `x`. Word `8c + q` of a block holds weights
    /// `64c + 4q ..+ 4` (sub-block `2c`) in its low nibbles and `64c + 32 + 4q ..+ 4`
    /// (sub-block `2c + 1`) in its high ones; each meets the 4 activations at the same place,
    /// broadcast to the 16 rows.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI (`quantized_columns::x86::has_vnni`); `tile` holds
    /// `x[r].d.len()` blocks.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn rows<L: Layout, const R: usize>(
        tile: &[TileBlock],
        x: [&QuantizedRow; R],
    ) -> [[f32; TILE]; R] {
        let low = _mm512_set1_epi8(0x0F);
        let fifth = _mm512_set1_epi8(0x10);
        let mut acc = [_mm512_setzero_ps(); R];
        for (b, t) in tile.iter().enumerate() {
            for c in 0..4 {
                let mut sums_lo = [_mm512_setzero_si512(); R];
                let mut sums_hi = [_mm512_setzero_si512(); R];
                for q in 0..8 {
                    let w = _mm512_loadu_si512(t.words[8 * c + q].as_ptr() as *const __m512i);
                    let mut lo = _mm512_and_si512(w, low);
                    let mut hi = _mm512_and_si512(_mm512_srli_epi16(w, 4), low);
                    if L::HIGH_BITS.is_some() {
                        let high = t.high[8 * c + q].as_ptr() as *const __m512i;
                        let high = _mm512_loadu_si512(high);
                        lo = _mm512_or_si512(lo, _mm512_and_si512(high, fifth));
                        let shifted = _mm512_srli_epi16(high, 1);
                        hi = _mm512_or_si512(hi, _mm512_and_si512(shifted, fifth));
                    }
                    for r in 0..R {
                        let xq = x[r].q.as_ptr().add(b * BLOCK);
                        let at = |s: usize| {
                            (xq.add(slot(s) * SUB + 4 * q) as *const i32).read_unaligned()
                        };
                        sums_lo[r] =
                            _mm512_dpbusd_epi32(sums_lo[r], lo, _mm512_set1_epi32(at(2 * c)));
                        sums_hi[r] =
                            _mm512_dpbusd_epi32(sums_hi[r], hi, _mm512_set1_epi32(at(2 * c + 1)));
                    }
                }
                for (s, sums) in [(2 * c, &sums_lo), (2 * c + 1, &sums_hi)] {
                    let scale = _mm512_loadu_ps(t.scales[s].as_ptr());
                    let min = _mm512_loadu_ps(t.mins[s].as_ptr());
                    for r in 0..R {
                        let dx = x[r].d[b];
                        let x_sum = x[r].sums[b * SUBS + s] as f32;
                        let scale = _mm512_mul_ps(scale, _mm512_set1_ps(dx));
                        acc[r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums[r]), scale, acc[r]);
                        acc[r] = _mm512_fnmadd_ps(min, _mm512_set1_ps(dx * x_sum), acc[r]);
                    }
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

/// Q4_K's or Q5_K's tiles for [`crate::quantized_columns::by_tiles`].
pub(crate) struct KTiles<L>(std::marker::PhantomData<L>);

impl<L: Layout> Tiles for KTiles<L> {
    type Block = TileBlock;
    const EMPTY: TileBlock = EMPTY;
    const BYTES: usize = L::BYTES;

    unsafe fn pack(weight: &[u8], row_bytes: usize, first: usize, tile: &mut [TileBlock]) {
        pack::<L>(weight, row_bytes, first, tile)
    }

    unsafe fn rows<const R: usize>(tile: &[TileBlock], x: [&QuantizedRow; R]) -> [[f32; TILE]; R] {
        vnni::rows::<L, R>(tile, x)
    }
}
