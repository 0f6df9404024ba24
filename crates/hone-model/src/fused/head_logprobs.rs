//! The LM head and `log softmax(logits)[target]` in one op, a block of rows at a time, so the
//! `[tokens, vocab]` logits never exist whole: at SmolLM2's 49k vocabulary they and their
//! gradient were 0.4 MB a completion token, the largest tensors of a LoRA step after the
//! weights.
//!
//! The head is frozen, so the only gradient is the hidden states': `d logprob_i / d hidden_i =
//! W[t_i] − Σ_j softmax_ij · W_j`. With `with_gradient` the forward computes that direction for
//! each row from the block's softmax (the product the composed backward would make from the
//! logits' gradient), and the backward only scales it by the incoming gradient: the same
//! products as the composed head's forward and backward, and one `[tokens, hidden]` tensor kept
//! instead of the logits.

use std::sync::Mutex;

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::gemm::{add_product, product, Mat};
use super::kernels::{each_row, each_row_weighted, f32s, with_f32s};
use super::target_logprobs::log_sum_exp;
use super::vector_math::{exp, vectorized_fn};

/// Rows of logits computed at once: 12.6 MB at a 49k vocabulary (the plan counts one block).
pub const HEAD_BLOCK_ROWS: usize = 64;

/// `(hidden · headᵀ)[i, targets[i]] − logsumexp((hidden · headᵀ)[i])` for `hidden` `[n,
/// hidden]` and a frozen `head` `[vocab, hidden]`, both f32 on the CPU; differentiable in
/// `hidden` when `with_gradient` (a backward through an op made without it is an error).
pub fn head_target_logprobs(
    hidden: &Tensor,
    head: &Tensor,
    targets: &[u32],
    with_gradient: bool,
) -> candle_core::Result<Tensor> {
    let (n, width) = hidden.dims2()?;
    let (vocab, head_width) = head.dims2()?;
    if head_width != width {
        bail!("head log-probs: hidden states of width {width}, a head of width {head_width}");
    }
    if targets.len() != n {
        bail!("head log-probs: {n} rows, {} targets", targets.len());
    }
    if let Some(&t) = targets.iter().find(|&&t| t as usize >= vocab) {
        bail!("head log-probs: token {t} is outside the vocabulary of {vocab}");
    }
    hidden.contiguous()?.apply_op1(HeadLogprobs {
        head: head.contiguous()?,
        targets: targets.to_vec(),
        with_gradient,
        directions: Mutex::new(None),
    })
}

struct HeadLogprobs {
    head: Tensor,
    targets: Vec<u32>,
    with_gradient: bool,
    /// `d logprob_i / d hidden_i`, `[n, hidden]`, written by the forward.
    directions: Mutex<Option<Vec<f32>>>,
}

impl CustomOp1 for HeadLogprobs {
    fn name(&self) -> &'static str {
        "hone-head-logprobs"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32s(storage, layout)?;
        let (n, width) = layout.shape().dims2()?;
        let vocab = self.head.dim(0)?;
        let mut out = vec![0f32; n];
        let mut directions = if self.with_gradient {
            vec![0f32; n * width]
        } else {
            Vec::new()
        };
        with_f32s(&self.head, |w| {
            let head_t = Mat::rows(0, vocab, width, width).t();
            for start in (0..n).step_by(HEAD_BLOCK_ROWS) {
                let rows = HEAD_BLOCK_ROWS.min(n - start);
                let targets = &self.targets[start..start + rows];
                let mut logits =
                    product(x, Mat::rows(start * width, rows, width, width), w, head_t);
                let mut lse = vec![0f32; rows];
                each_row_weighted(&mut lse, 1, vocab, |i, o| {
                    o[0] = log_sum_exp(&logits[i * vocab..(i + 1) * vocab]);
                });
                for (i, &t) in targets.iter().enumerate() {
                    out[start + i] = logits[i * vocab + t as usize] - lse[i];
                }
                if !self.with_gradient {
                    continue;
                }
                // The direction starts at the target's row of the head; the softmax-weighted
                // rows are subtracted by one product.
                let block = &mut directions[start * width..(start + rows) * width];
                for (i, &t) in targets.iter().enumerate() {
                    let t = t as usize;
                    block[i * width..(i + 1) * width]
                        .copy_from_slice(&w[t * width..(t + 1) * width]);
                }
                each_row(&mut logits, vocab, |i, row| softmax_in_place(row, lse[i]));
                add_product(
                    block,
                    &logits,
                    Mat::rows(0, rows, vocab, vocab),
                    w,
                    Mat::rows(0, vocab, width, width),
                    -1.0,
                );
            }
            Ok(())
        })?;
        if self.with_gradient {
            *self.directions.lock().unwrap_or_else(|e| e.into_inner()) = Some(directions);
        }
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }

    fn bwd(
        &self,
        hidden: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let directions = self
            .directions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let Some(directions) = directions else {
            bail!("head log-probs: a backward through an op made without its gradient")
        };
        let directions = Tensor::from_vec(directions, hidden.shape(), hidden.device())?;
        Ok(Some(directions.broadcast_mul(&grad.unsqueeze(1)?)?))
    }
}

vectorized_fn! {
    fn softmax_in_place(row: &mut [f32], lse: f32) {
        for v in row.iter_mut() {
            *v = exp(*v - lse);
        }
    }
}
