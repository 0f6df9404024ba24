//! `log softmax(logits)[target]` per row: the log-prob of each completion token, which every
//! training loss is built on. The composed version (max, subtract, exp, sum, log, gather) keeps
//! three `[tokens, vocab]` tensors alive for the backward and allocates as many again in it;
//! this op keeps only the logits, and its backward writes the one `[tokens, vocab]` gradient.

use candle_core::{bail, CpuStorage, CustomOp1, CustomOp3, Layout, Shape, Tensor};

use super::kernels::{each_row_weighted, f32s, row_max, sum_pairs};
use super::vector_math::{exp, vectorized_fn};

/// `logits[i, targets[i]] − logsumexp(logits[i])` for logits `[n, vocab]` (f32 on the CPU),
/// differentiable in the logits.
pub fn target_logprobs(logits: &Tensor, targets: &[u32]) -> candle_core::Result<Tensor> {
    let (n, vocab) = logits.dims2()?;
    if targets.len() != n {
        bail!(
            "target log-probs: {n} rows of logits, {} targets",
            targets.len()
        );
    }
    if let Some(&t) = targets.iter().find(|&&t| t as usize >= vocab) {
        bail!("target log-probs: token {t} is outside the vocabulary of {vocab}");
    }
    logits.contiguous()?.apply_op1(TargetLogprobs {
        targets: targets.to_vec(),
    })
}

struct TargetLogprobs {
    targets: Vec<u32>,
}

impl CustomOp1 for TargetLogprobs {
    fn name(&self) -> &'static str {
        "hone-target-logprobs"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32s(storage, layout)?;
        let (n, vocab) = layout.shape().dims2()?;
        let mut out = vec![0f32; n];
        each_row_weighted(&mut out, 1, vocab, |i, o| {
            let row = &x[i * vocab..(i + 1) * vocab];
            o[0] = row[self.targets[i] as usize] - log_sum_exp(row);
        });
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }

    /// `d logits[i, j] = g[i] · (1[j = target] − softmax[i, j])`, the softmax recomputed from
    /// the logits and `logsumexp = logit[target] − result`.
    fn bwd(
        &self,
        logits: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let back = TargetLogprobsBackward {
            targets: &self.targets,
        };
        Ok(Some(logits.contiguous()?.apply_op3_no_bwd(
            &res.contiguous()?,
            &grad.contiguous()?,
            &back,
        )?))
    }
}

vectorized_fn! {
    /// `log Σ exp(row)`, shifted by the row's max.
    pub(super) fn log_sum_exp(row: &[f32]) -> f32 {
        let max = row_max(row);
        if max == f32::NEG_INFINITY {
            return max;
        }
        max + sum_pairs(row, row, |v, _| exp(v - max)).ln()
    }
}

vectorized_fn! {
    /// One row of the logits' gradient: `−g · softmax` (the target's `+g` is added after).
    fn minus_scaled_softmax(row: &[f32], lse: f32, g: f32, out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(row) {
            *o = -g * exp(v - lse);
        }
    }
}

struct TargetLogprobsBackward<'a> {
    targets: &'a [u32],
}

impl CustomOp3 for TargetLogprobsBackward<'_> {
    fn name(&self) -> &'static str {
        "hone-target-logprobs-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, y, g) = (f32s(s1, l1)?, f32s(s2, l2)?, f32s(s3, l3)?);
        let (n, vocab) = l1.shape().dims2()?;
        if y.len() != n || g.len() != n {
            bail!(
                "target log-probs backward: {n} rows, {} results, {} gradients",
                y.len(),
                g.len()
            );
        }
        let mut dx = vec![0f32; n * vocab];
        each_row_weighted(&mut dx, vocab, vocab, |i, out| {
            let row = &x[i * vocab..(i + 1) * vocab];
            let t = self.targets[i] as usize;
            let lse = row[t] - y[i];
            let gi = g[i];
            minus_scaled_softmax(row, lse, gi, out);
            out[t] += gi;
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}
