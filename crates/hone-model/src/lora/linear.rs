//! The linear layer every projection uses: a frozen base weight, and the branch of whichever
//! adapter the forward pass is given.

use std::sync::Mutex;

use candle_core::{DType, Tensor};
use rand::rngs::StdRng;
use rand::Rng;

use super::{Adapter, LinearSpec};
use crate::base_weight::BaseWeight;
use crate::fused::{self, Dropout};
use crate::norm::NormedInput;
use crate::Result;

/// Which adapter a forward pass applies, and whether it trains (dropout on).
/// `LoraContext::default()` is the base model: the reference pass of DPO/KTO/PPO.
#[derive(Default)]
pub struct LoraContext<'a> {
    pub adapter: Option<&'a Adapter>,
    /// Dropout masks come from this seeded generator, so a training run repeats exactly.
    pub dropout_rng: Option<&'a Mutex<StdRng>>,
    /// Whether gradients flow to the adapter. Without, its matrices enter the pass detached:
    /// no graph is kept and the fused (gradient-cutting) kernels can be used.
    pub grad: bool,
    /// Gradient checkpointing: a training pass keeps each decoder layer's input only and the
    /// backward runs the layer again ([`crate::checkpoint`]). Ignored without gradients.
    pub checkpoint_layers: bool,
}

impl<'a> LoraContext<'a> {
    /// Applies `adapter` (if any) without gradients: generation, scoring, reference passes.
    pub fn inference(adapter: Option<&'a Adapter>) -> Self {
        Self {
            adapter,
            dropout_rng: None,
            grad: false,
            checkpoint_layers: false,
        }
    }

    /// Applies `adapter` with gradients and dropout.
    pub fn training(adapter: &'a Adapter, dropout_rng: &'a Mutex<StdRng>) -> Self {
        Self {
            adapter: Some(adapter),
            dropout_rng: Some(dropout_rng),
            grad: true,
            checkpoint_layers: false,
        }
    }

    /// The same pass with gradient checkpointing on or off.
    pub fn checkpointing(self, on: bool) -> Self {
        Self {
            checkpoint_layers: on,
            ..self
        }
    }
}

/// One projection's share of the adapter in one pass.
struct Branch {
    a: Tensor,
    b: Tensor,
    scale: f64,
    dropout: Option<Dropout>,
}

#[derive(Debug, Clone)]
pub struct LoraLinear {
    spec: LinearSpec,
    /// `[out, in]`, frozen.
    weight: BaseWeight,
    bias: Option<Tensor>,
}

/// `x [.., in] · wᵀ [in, out]`, flattening the leading dimensions into one matmul.
pub(crate) fn matmul_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let dims = x.dims();
    let (lead, inner) = dims.split_at(dims.len() - 1);
    let rows: usize = lead.iter().product();
    let y = x.reshape((rows, inner[0]))?.matmul(&w.t()?)?;
    let mut out_shape = lead.to_vec();
    out_shape.push(w.dim(0)?);
    y.reshape(out_shape)
}

impl LoraLinear {
    pub fn new(spec: LinearSpec, weight: BaseWeight, bias: Option<Tensor>) -> Self {
        Self { spec, weight, bias }
    }

    pub fn spec(&self) -> &LinearSpec {
        &self.spec
    }

    pub fn weight(&self) -> &BaseWeight {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    fn base(&self, x: &Tensor) -> Result<Tensor> {
        let y = self.weight.matmul_t(x)?;
        Ok(match &self.bias {
            Some(bias) => y.broadcast_add(bias)?,
            None => y,
        })
    }

    /// The adapter's branch for this projection in this pass, if the adapter has one; its
    /// dropout seed is drawn here, once per projection and pass whichever path runs, so a run
    /// repeats.
    fn branch(&self, lora: &LoraContext) -> Option<Branch> {
        let (adapter, branch) = lora
            .adapter
            .and_then(|a| a.branch(&self.spec.path).map(|b| (a, b)))?;
        let (a, b) = if lora.grad {
            (branch.a.as_tensor().clone(), branch.b.as_tensor().clone())
        } else {
            (branch.a.as_tensor().detach(), branch.b.as_tensor().detach())
        };
        let p = adapter.config.lora_dropout;
        let dropout = match lora.dropout_rng {
            Some(rng) if p > 0.0 => {
                let seed = rng.lock().expect("dropout rng").random::<u64>();
                Some(Dropout::new(p, seed))
            }
            _ => None,
        };
        Some(Branch {
            a,
            b,
            scale: adapter.config.scale(),
            dropout,
        })
    }

    /// Whether base and branch run as one op, every operand f32 (the CPU's training dtype):
    /// it keeps a fraction of the composition's activations. A bf16/f16 base (GPUs) mixes
    /// dtypes with the f32 branch, and a trainable base weight needs its own gradient: those
    /// compose. A quantized base takes it too when training (its matrix dequantized per
    /// product); decoding with an adapter composes, so the base product stays on the quantized
    /// kernels.
    fn fused_base(&self, lora: &LoraContext) -> bool {
        match &self.weight {
            BaseWeight::Dense(w) => w.dtype() == DType::F32 && !w.track_op(),
            BaseWeight::Quantized(_) => lora.grad,
        }
    }

    /// The branch, and what the fused ops apply with it, when this projection runs as one
    /// fused op for `x` (see [`Self::fused_base`] and [`fused::supports`]).
    fn fused<'b>(
        &'b self,
        branch: &'b Option<Branch>,
        x: &Tensor,
        lora: &LoraContext,
    ) -> Option<(&'b Branch, fused::Projection<'b>)> {
        let br = branch.as_ref()?;
        (self.fused_base(lora) && fused::supports(x)).then(|| {
            let projection = fused::Projection {
                weight: &self.weight,
                bias: self.bias.as_ref(),
                scale: br.scale,
                dropout: br.dropout,
            };
            (br, projection)
        })
    }

    pub fn forward(&self, x: &Tensor, lora: &LoraContext) -> Result<Tensor> {
        self.forward_with(x, self.branch(lora), lora)
    }

    /// `self.forward(norm(x))` for `input` = `(x, norm)`; when training on the CPU's fused
    /// path one op that normalises `x` itself and keeps only `x`
    /// ([`fused::lora_projection`] with a pre-norm). Without a graph to keep, `norm(x)` is
    /// made once for every projection that reads it.
    pub(crate) fn forward_normed(&self, input: &NormedInput, lora: &LoraContext) -> Result<Tensor> {
        let branch = self.branch(lora);
        let x = input.input();
        if let (true, Some(pre_norm), Some((br, projection))) = (
            lora.grad,
            input.fused_pre_norm(),
            self.fused(&branch, x, lora),
        ) {
            return Ok(fused::lora_projection(
                x,
                Some(pre_norm),
                &br.a,
                &br.b,
                projection,
            )?);
        }
        self.forward_with(input.normed()?, branch, lora)
    }

    /// `residual + self.forward(x)`; on the CPU's fused path one op, which keeps no
    /// `[tokens, out]` output of the projection's own ([`fused::lora_projection_added`]).
    pub fn forward_added_to(
        &self,
        x: &Tensor,
        residual: &Tensor,
        lora: &LoraContext,
    ) -> Result<Tensor> {
        let branch = self.branch(lora);
        if let Some((br, projection)) = self.fused(&branch, x, lora) {
            return Ok(fused::lora_projection_added(
                x, residual, &br.a, &br.b, projection,
            )?);
        }
        Ok((residual + self.forward_with(x, branch, lora)?)?)
    }

    /// `self.forward(silu(gate) · up)`; on the CPU's fused path one op, which keeps only gate
    /// and up ([`fused::swiglu_lora_projection`]).
    pub fn forward_swiglu(&self, gate: &Tensor, up: &Tensor, lora: &LoraContext) -> Result<Tensor> {
        let branch = self.branch(lora);
        if let Some((br, projection)) = self.fused(&branch, gate, lora) {
            return Ok(fused::swiglu_lora_projection(
                gate, up, &br.a, &br.b, projection,
            )?);
        }
        let hidden = if fused::supports(gate) {
            fused::swiglu(gate, up)?
        } else {
            (candle_nn::ops::silu(gate)? * up)?
        };
        self.forward_with(&hidden, branch, lora)
    }

    fn forward_with(
        &self,
        x: &Tensor,
        branch: Option<Branch>,
        lora: &LoraContext,
    ) -> Result<Tensor> {
        // On the CPU the whole projection, dropout and first factor included, is one node.
        if let Some((br, projection)) = self.fused(&branch, x, lora) {
            return Ok(fused::lora_projection(x, None, &br.a, &br.b, projection)?);
        }
        let Some(Branch {
            a,
            b,
            scale,
            dropout,
        }) = branch
        else {
            return self.base(x);
        };
        // The branch runs in f32 whatever the base dtype (bf16/f16 on GPU).
        let h = x.to_dtype(DType::F32)?;
        let fused_base = self.fused_base(lora);
        let xa = match dropout {
            Some(dropout) if fused::supports(&h) => fused::dropout_matmul_t(&h, &a, dropout)?,
            Some(dropout) => matmul_t(&(&h * dropout.mask(h.shape(), h.device())?)?, &a)?,
            None => matmul_t(&h, &a)?,
        };
        if x.dtype() == DType::F32 && fused_base {
            return Ok(super::fused_linear::lora_matmul_t(
                x,
                &xa,
                &b,
                &self.weight,
                self.bias.as_ref(),
                scale,
            )?);
        }
        let y = self.base(x)?;
        let delta = (matmul_t(&xa, &b)? * scale)?.to_dtype(y.dtype())?;
        Ok((y + delta)?)
    }

    /// The base weight as a dense tensor in `dtype` (dequantized when quantized).
    pub fn dense_weight(&self, dtype: DType) -> Result<Tensor> {
        self.weight.dense(dtype)
    }

    /// `W + scale · B A`: the base weight with the adapter folded in, in `dtype`.
    pub fn merged_weight(&self, adapter: &Adapter, dtype: DType) -> Result<Tensor> {
        let weight = self.dense_weight(dtype)?;
        match adapter.branch(&self.spec.path) {
            None => Ok(weight),
            Some(branch) => {
                let delta =
                    (branch.b.as_tensor().matmul(branch.a.as_tensor())? * adapter.config.scale())?;
                Ok((weight.to_dtype(DType::F32)? + delta)?.to_dtype(dtype)?)
            }
        }
    }

    /// Folds the adapter into the base weight for good (merge-and-unload). A quantized base
    /// becomes dense: the sum is not on the quantization grid.
    pub fn merge(&mut self, adapter: &Adapter, dtype: DType) -> Result<()> {
        self.weight = BaseWeight::Dense(self.merged_weight(adapter, dtype)?);
        Ok(())
    }
}
