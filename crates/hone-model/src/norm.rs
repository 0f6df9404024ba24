//! RMSNorm (Zhang & Sennrich 2019) as Llama uses it: normalise in f32, scale by the weight.

use std::cell::OnceCell;

use candle_core::{Module, Tensor};
use candle_nn::VarBuilder;

use crate::Result;

#[derive(Debug, Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    pub fn new(size: usize, eps: f64, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            weight: vb.get(size, "weight")?,
            eps: eps as f32,
        })
    }

    pub fn weight(&self) -> &Tensor {
        &self.weight
    }
}

impl Module for RmsNorm {
    /// candle's fused kernel has no backward: it is used only when no gradient flows. When
    /// one flows to the input only (LoRA: the weight is frozen), Hone's fused op on the CPU;
    /// otherwise candle's composition.
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if !x.track_op() && !self.weight.track_op() {
            candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)
        } else if !self.weight.track_op()
            && crate::fused::supports(x)
            && crate::fused::supports(&self.weight)
        {
            crate::fused::rms_norm_frozen_weight(x, &self.weight, self.eps)
        } else {
            candle_nn::ops::rms_norm_slow(x, &self.weight, self.eps)
        }
    }
}

/// The input of the projections that read `norm(x)` (q, k and v; gate and up). A training
/// projection on the CPU's fused path normalises `x` itself, forward and backward, so no op
/// keeps the norm's output for the backward ([`crate::fused::lora_projection`]); every other
/// projection reads `norm(x)`, made once for all of them.
pub(crate) struct NormedInput<'a> {
    x: &'a Tensor,
    norm: &'a RmsNorm,
    normed: OnceCell<Tensor>,
}

impl<'a> NormedInput<'a> {
    pub(crate) fn new(x: &'a Tensor, norm: &'a RmsNorm) -> Self {
        Self {
            x,
            norm,
            normed: OnceCell::new(),
        }
    }

    /// `x` itself, before the norm.
    pub(crate) fn input(&self) -> &'a Tensor {
        self.x
    }

    /// `norm(x)`, made on first use.
    pub(crate) fn normed(&self) -> candle_core::Result<&Tensor> {
        if let Some(y) = self.normed.get() {
            return Ok(y);
        }
        let y = self.norm.forward(self.x)?;
        Ok(self.normed.get_or_init(|| y))
    }

    /// The norm for a fused projection to apply itself: its weight frozen, both operands on
    /// the fused ops' dtype and device.
    pub(crate) fn fused_pre_norm(&self) -> Option<crate::fused::PreNorm<'_>> {
        let w = &self.norm.weight;
        (!w.track_op() && crate::fused::supports(self.x) && crate::fused::supports(w)).then_some(
            crate::fused::PreNorm {
                weight: w,
                eps: self.norm.eps,
            },
        )
    }
}
