//! A prompt's product with a Q8_0 weight: 16 of the weight's rows at a time laid side by side
//! in a worker's scratch (as `q4_k_kernel::tiles` does for Q4_K), so that one `vpdpbusd`
//! multiplies 4 weights of each of the 16 rows with the same 4 activations. `vpdpbusd` takes
//! its weights unsigned: they are stored plus 128, and each block's sum takes back
//! `128 · Σ q_x`. x86 only (AVX-512 VNNI).

use super::{scale, QuantizedRow, BLOCK, BLOCK_BYTES};
use crate::quantized_columns::by_tiles;
use crate::quantized_columns::TILE;

/// 4-byte words of weights in a block.
const WORDS: usize = BLOCK / 4;

/// One block of 16 weight rows: each row's `w`-th word of weights (plus 128) side by side,
/// and each row's scale.
#[derive(Clone, Copy)]
struct TileBlock {
    words: [[u32; TILE]; WORDS],
    d: [f32; TILE],
}

const EMPTY: TileBlock = TileBlock {
    words: [[0; TILE]; WORDS],
    d: [0.0; TILE],
};

/// Weight rows `first..first + 16` into `tile` (one [`TileBlock`] per block of a row).
fn pack(weight: &[u8], row_bytes: usize, first: usize, tile: &mut [TileBlock]) {
    for r in 0..TILE {
        let row = &weight[(first + r) * row_bytes..(first + r + 1) * row_bytes];
        for (t, block) in tile.iter_mut().zip(row.chunks_exact(BLOCK_BYTES)) {
            t.d[r] = scale(block);
            for (w, word) in block[2..].chunks_exact(4).enumerate() {
                // A signed byte plus 128 is the byte with its top bit flipped.
                let word = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
                t.words[w][r] = word ^ 0x8080_8080;
            }
        }
    }
}

mod vnni {
    use std::arch::x86_64::*;

    use super::super::{QuantizedRow, BLOCK};
    use super::{TileBlock, TILE, WORDS};

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
            for r in 0..R {
                let offset = _mm512_set1_epi32(128 * x[r].sums[b] as i32);
                let sum = _mm512_cvtepi32_ps(_mm512_sub_epi32(sums[r], offset));
                acc[r] = _mm512_fmadd_ps(sum, _mm512_mul_ps(d, _mm512_set1_ps(x[r].d[b])), acc[r]);
            }
        }
        let mut out = [[0f32; TILE]; R];
        for r in 0..R {
            _mm512_storeu_ps(out[r].as_mut_ptr(), acc[r]);
        }
        out
    }
}

/// `y [m, n] = x · Wᵀ` for the quantized rows of `x` and Q8_0 `weight` bytes of `n` rows (a
/// multiple of [`TILE`]) of `row_bytes`. Needs AVX-512 VNNI.
pub(super) fn matmul_t(
    rows: &[QuantizedRow],
    weight: &[u8],
    row_bytes: usize,
    n: usize,
) -> Vec<f32> {
    assert!(crate::quantized_columns::x86::has_vnni());
    let empty = vec![EMPTY; row_bytes / BLOCK_BYTES];
    // Safety (both kernels): the CPU has VNNI; a tile holds every row's blocks.
    by_tiles(
        rows,
        n,
        empty,
        |first, tile| pack(weight, row_bytes, first, tile),
        |tile, rows| unsafe { vnni::rows(tile, rows) },
        |tile, row| unsafe { vnni::rows(tile, [row]) }[0],
    )
}
