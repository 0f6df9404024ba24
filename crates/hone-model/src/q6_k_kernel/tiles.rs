//! A prompt's product with a Q6_K weight: 16 of the weight's rows at a time laid side by side
//! in a worker's scratch (as `q4_k_q5_k_kernel::tiles` does for Q4_K), each weight's 6-bit value a
//! byte, so that one `vpdpbusd` multiplies 4 weights of each of the 16 rows with the same 4
//! activations; the offset of 32 comes off as `32·Σ x` per 16 weights. x86 only (AVX-512 VNNI).

use super::{d_of, QuantizedRow, BLOCK, BLOCK_BYTES, SCALE, SCALES};
use crate::quantized_columns::{Tiles, TILE};

/// 4-byte words of values in a block.
const WORDS: usize = BLOCK / 4;

/// One block of 16 weight rows: each row's `w`-th word of values side by side, and each run
/// of 16's scale (`d·scale_s`) per row.
#[derive(Clone, Copy)]
pub(crate) struct TileBlock {
    words: [[u32; TILE]; WORDS],
    scales: [[f32; TILE]; SCALES],
}

const EMPTY: TileBlock = TileBlock {
    words: [[0; TILE]; WORDS],
    scales: [[0.0; TILE]; SCALES],
};

/// Weight rows `first..first + 16` into `tile` (one [`TileBlock`] per block of a row).
///
/// # Safety
/// The CPU has AVX2.
#[target_feature(enable = "avx2")]
unsafe fn pack(weight: &[u8], row_bytes: usize, first: usize, tile: &mut [TileBlock]) {
    let mut values = [0u32; WORDS];
    for r in 0..TILE {
        let row = &weight[(first + r) * row_bytes..(first + r + 1) * row_bytes];
        for (t, block) in tile.iter_mut().zip(row.chunks_exact(BLOCK_BYTES)) {
            let d = d_of(block);
            for s in 0..SCALES {
                t.scales[s][r] = d * block[SCALE + s] as i8 as f32;
            }
            for h in 0..2 {
                for j in 0..4 {
                    let at = values.as_mut_ptr().add((128 * h + 32 * j) / 4);
                    let q = super::avx2::values(block.as_ptr(), h, j);
                    std::arch::x86_64::_mm256_storeu_si256(at as *mut _, q);
                }
            }
            for (word, value) in t.words.iter_mut().zip(values) {
                word[r] = value;
            }
        }
    }
}

mod vnni {
    use std::arch::x86_64::*;

    use super::super::{QuantizedRow, BLOCK, SCALES};
    use super::{TileBlock, TILE};

    /// The 16 outputs of a tile for `R` rows of `x`.
    ///
    /// # Safety
    /// The CPU has AVX-512 F, BW and VNNI (`quantized_columns::x86::has_vnni`); `tile` holds
    /// `x[r].d.len()` blocks.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub unsafe fn rows<const R: usize>(
        tile: &[TileBlock],
        x: [&QuantizedRow; R],
    ) -> [[f32; TILE]; R] {
        let mut acc = [_mm512_setzero_ps(); R];
        for (b, t) in tile.iter().enumerate() {
            for s in 0..SCALES {
                let mut sums = [_mm512_setzero_si512(); R];
                for g in 4 * s..4 * (s + 1) {
                    let w = _mm512_loadu_si512(t.words[g].as_ptr() as *const __m512i);
                    for r in 0..R {
                        let at = x[r].q.as_ptr().add(b * BLOCK + 4 * g) as *const i32;
                        let xq = _mm512_set1_epi32(at.read_unaligned());
                        sums[r] = _mm512_dpbusd_epi32(sums[r], w, xq);
                    }
                }
                let scale = _mm512_loadu_ps(t.scales[s].as_ptr());
                for r in 0..R {
                    let offset = _mm512_set1_epi32(32 * x[r].sums[b * SCALES + s] as i32);
                    let sum = _mm512_cvtepi32_ps(_mm512_sub_epi32(sums[r], offset));
                    let scale = _mm512_mul_ps(scale, _mm512_set1_ps(x[r].d[b]));
                    acc[r] = _mm512_fmadd_ps(sum, scale, acc[r]);
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

/// Q6_K's tiles for [`crate::quantized_columns::by_tiles`].
pub(crate) struct Q6Tiles;

impl Tiles for Q6Tiles {
    type Block = TileBlock;
    const EMPTY: TileBlock = EMPTY;
    const BYTES: usize = BLOCK_BYTES;

    unsafe fn pack(weight: &[u8], row_bytes: usize, first: usize, tile: &mut [TileBlock]) {
        pack(weight, row_bytes, first, tile)
    }

    unsafe fn rows<const R: usize>(tile: &[TileBlock], x: [&QuantizedRow; R]) -> [[f32; TILE]; R] {
        vnni::rows(tile, x)
    }
}
