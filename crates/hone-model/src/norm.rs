//! RMSNorm (Zhang & Sennrich 2019) as Llama uses it: normalise in f32, scale by the weight.

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
