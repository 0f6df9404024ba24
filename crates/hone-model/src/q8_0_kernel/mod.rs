//! `x · Wᵀ` for a Q8_0 weight and up to a prompt's rows of `x`, on the CPU, read from the
//! file's blocks as they are.
//!
//! candle repacks a Q8_0 matrix into 16-row tiles the first time its VNNI kernel runs and
//! keeps them beside the blocks: two copies of every weight (a 1B model ran at 2.1× llama.cpp's
//! memory), and where the columns are not a multiple of 256 (SmolLM2's 576) it has a per-row
//! kernel only, slower than the dense path for a prompt. This is llama.cpp's product
//! (`ggml_vec_dot_q8_0_q8_0`): each row of `x` rounded to 8 bits per block of 32, a block
//! contributing `d_w·d_x·Σ q_w q_x`; a prompt's pass takes [`tiles`] where the CPU has VNNI.
//!
//! A Q8_0 block is 34 bytes: `d` as f16, then 32 signed 8-bit weights.

use half::f16;

#[cfg(target_arch = "x86_64")]
use crate::quantized_columns::in_groups;
use crate::quantized_columns::{by_columns, QuantizedRow};

#[cfg(target_arch = "x86_64")]
mod tiles;

pub const BLOCK: usize = 32;
const BLOCK_BYTES: usize = 34;

/// Each row of `x` rounded to 8 bits per block of 32.
fn quantize_row(x: &[f32]) -> QuantizedRow {
    crate::quantized_columns::quantize_row(x, BLOCK, |s| s)
}

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

    pub fn available() -> bool {
        is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
    }

    /// As [`super::dot_scalar`] for `R` rows of `x` at once, a block at a time: `maddubs`
    /// multiplies unsigned by signed bytes, so each product is taken as `|w| · (x with w's
    /// sign)`, summed in pairs to 16 bits (at most 2·128·127) and then to 32.
    ///
    /// # Safety
    /// The CPU has AVX2, FMA and F16C ([`available`]); `w` holds `x[r].d.len()` blocks for
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
            out[r] = horizontal_sum(_mm256_add_ps(acc[0][r], acc[1][r]));
        }
        out
    }

    #[target_feature(enable = "avx2,fma")]
    fn horizontal_sum(acc: __m256) -> f32 {
        let half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
        let quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
        _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)))
    }
}

/// Whether this CPU runs the kernel with SIMD (else candle's product runs).
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

/// The most rows of `x` an `[n, k]` weight takes here; longer inputs dequantize the weight and
/// run the dense matmul. Without the tiled kernel each row costs the same here while the dense
/// product's dequantizing and packing is paid once, so a prompt stops at 256 rows.
pub fn most_rows(n: usize) -> usize {
    #[cfg(target_arch = "x86_64")]
    if n.is_multiple_of(tiles::TILE) && tiles::available() {
        return usize::MAX;
    }
    let _ = n;
    256
}

/// Rows of `x` from which a product takes the tiled kernel (where the CPU has it).
#[cfg(target_arch = "x86_64")]
const TILED_FROM_ROWS: usize = 8;

/// Rows of `x` that share each loaded weight block.
#[cfg(target_arch = "x86_64")]
const ROWS_AT_ONCE: usize = 4;

/// The dot products of one weight row with every row of `x`, into `out` (one per row).
fn dots(w: &[u8], rows: &[QuantizedRow], simd: bool, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // Safety (both): `simd` is `has_simd()`; the caller passes whole rows.
        let group = |g: [&QuantizedRow; ROWS_AT_ONCE]| unsafe { avx2::dot_rows(w, g) };
        return in_groups(
            rows,
            out,
            group,
            |row| unsafe { avx2::dot_rows(w, [row]) }[0],
        );
    }
    let _ = simd;
    for (row, o) in rows.iter().zip(out) {
        *o = dot_scalar(w, row);
    }
}

/// `y [m, n] = x [m, k] · Wᵀ` for Q8_0 `weight` bytes of `n` rows of `k` (a multiple of 32)
/// elements. Columns are shared among candle's CPU workers.
pub fn matmul_t(x: &[f32], m: usize, k: usize, weight: &[u8], n: usize) -> Vec<f32> {
    assert_eq!(k % BLOCK, 0, "Q8_0 rows are whole blocks of {BLOCK}");
    assert_eq!(x.len(), m * k);
    let row_bytes = k / BLOCK * BLOCK_BYTES;
    assert_eq!(weight.len(), n * row_bytes);
    let rows: Vec<QuantizedRow> = x.chunks_exact(k).map(quantize_row).collect();
    #[cfg(target_arch = "x86_64")]
    if m >= TILED_FROM_ROWS && n.is_multiple_of(tiles::TILE) && tiles::available() {
        return tiles::matmul_t(&rows, weight, row_bytes, n);
    }
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
    fn the_product_matches_the_dequantized_weight_and_every_path_the_portable_one() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(13);
        // 576 columns (SmolLM2's, not a multiple of 256); 80 output columns: a chunk of four
        // tiles and one of one; 7 rows: a group of four and three.
        let (m, k, n) = (7, 576, 80);
        let w = crate::test_tensors::random(&mut rng, &[n, k]);
        let x = crate::test_tensors::random(&mut rng, &[m, k]);
        let q = QTensor::quantize(&w, GgmlDType::Q8_0).unwrap();
        let bytes = q.data().unwrap().to_vec();
        let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let got = matmul_t(&xs, m, k, &bytes, n);
        let want = x
            .matmul(&q.dequantize(&Device::Cpu).unwrap().t().unwrap())
            .unwrap();
        let got = Tensor::from_vec(got, (m, n), &Device::Cpu).unwrap();
        let scale = crate::test_tensors::max_abs(&want);
        let diff = crate::test_tensors::max_diff(&got, &want);
        assert!(
            diff > 0.0 && diff < 0.01 * scale,
            "off by {diff} (scale {scale})"
        );

        let rows: Vec<QuantizedRow> = xs.chunks_exact(k).map(quantize_row).collect();
        let row_bytes = k / BLOCK * BLOCK_BYTES;
        let close = |got: f32, want: f32| (got - want).abs() <= 1e-4 * want.abs().max(1.0);
        let mut column = vec![0f32; m];
        for col in 0..n {
            let wrow = &bytes[col * row_bytes..(col + 1) * row_bytes];
            dots(wrow, &rows, has_simd(), &mut column);
            for (row, got) in rows.iter().zip(&column) {
                let want = dot_scalar(wrow, row);
                assert!(close(*got, want), "column {col}: {got} against {want}");
            }
        }
        #[cfg(target_arch = "x86_64")]
        if tiles::available() {
            let tiled = tiles::matmul_t(&rows, &bytes, row_bytes, n);
            for (i, row) in rows.iter().enumerate() {
                for col in 0..n {
                    let want = dot_scalar(&bytes[col * row_bytes..(col + 1) * row_bytes], row);
                    let got = tiled[i * n + col];
                    assert!(
                        close(got, want),
                        "tiled: row {i}, column {col}: {got} against {want}"
                    );
                }
            }
            // A prompt's worth of rows takes that path.
            let xs: Vec<f32> = xs
                .iter()
                .cycle()
                .take(TILED_FROM_ROWS * k)
                .copied()
                .collect();
            let rows: Vec<QuantizedRow> = xs.chunks_exact(k).map(quantize_row).collect();
            assert_eq!(
                matmul_t(&xs, TILED_FROM_ROWS, k, &bytes, n),
                tiles::matmul_t(&rows, &bytes, row_bytes, n)
            );
        }
    }
}
