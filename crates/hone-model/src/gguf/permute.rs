//! llama.cpp's row permutation of Q and K for llama-architecture files.
//!
//! Hugging Face's Llama rotates each head's first half against its second half
//! (`rotate_half`); llama.cpp rotates adjacent pairs. Its converter (`convert_hf_to_gguf.py`,
//! `LlamaModel.permute`) therefore reorders each head's rows from `[half0 | half1]` to
//! interleaved pairs; transformers' GGUF loader (`_reverse_permute_weights`) undoes it.
//! The permutation acts on rows (the output dimension), with `heads` = the attention heads
//! for Q and the key/value heads for K. Qwen2 files are not permuted.

use candle_core::Tensor;

use crate::Result;

/// Hugging Face layout → llama.cpp layout (what export writes).
pub fn to_gguf(t: &Tensor, heads: usize) -> Result<Tensor> {
    let rows = t.dim(0)?;
    let rest = &t.dims()[1..];
    let half = rows / heads / 2;
    let mut split = vec![heads, 2, half];
    split.extend_from_slice(rest);
    Ok(t.reshape(split)?
        .transpose(1, 2)?
        .contiguous()?
        .reshape(t.shape())?)
}

/// llama.cpp layout → Hugging Face layout (what import writes).
pub fn from_gguf(t: &Tensor, heads: usize) -> Result<Tensor> {
    let rows = t.dim(0)?;
    let rest = &t.dims()[1..];
    let half = rows / heads / 2;
    let mut split = vec![heads, half, 2];
    split.extend_from_slice(rest);
    Ok(t.reshape(split)?
        .transpose(1, 2)?
        .contiguous()?
        .reshape(t.shape())?)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::*;

    #[test]
    fn rows_of_each_head_interleave_and_come_back() {
        // 2 heads of dimension 4: rows [a0 a1 b0 b1 | c0 c1 d0 d1] as 0..8, one column.
        let t = Tensor::arange(0f32, 8., &Device::Cpu)
            .unwrap()
            .reshape((8, 1))
            .unwrap();
        let permuted = to_gguf(&t, 2).unwrap();
        // Within a head, first-half and second-half rows alternate: 0 2 1 3 | 4 6 5 7.
        assert_eq!(
            permuted.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            [0., 2., 1., 3., 4., 6., 5., 7.]
        );
        let back = from_gguf(&permuted, 2).unwrap();
        assert_eq!(
            back.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            (0..8).map(|v| v as f32).collect::<Vec<_>>()
        );
        // A bias (one dimension) permutes the same way.
        let bias = Tensor::arange(0f32, 8., &Device::Cpu).unwrap();
        assert_eq!(
            from_gguf(&to_gguf(&bias, 2).unwrap(), 2)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap(),
            bias.to_vec1::<f32>().unwrap()
        );
    }
}
