//! Gradient checkpointing per decoder layer (Chen et al. 2016, "Training Deep Nets with
//! Sublinear Memory Cost"; PyTorch's `torch.utils.checkpoint`, which PEFT/TRL turn on with
//! `gradient_checkpointing=True`): the training forward runs each layer without keeping its
//! activations, and the backward runs the layer again, with gradients, when it reaches it. A
//! step then holds every layer's input and one layer's activations at a time, for one more
//! forward pass (about a third more compute).
//!
//! candle's autograd has no such hook, so a layer is one custom op over two tensors: its input,
//! and the adapter's matrices of that layer flattened into one vector (a `cat` of the
//! variables, so the gradient the op returns for it flows back to each A and B through candle's
//! own graph; nothing outside the op learns about checkpointing). The op's forward hands over
//! the output of the untracked pass; its backward re-runs the layer from the saved input with
//! the same dropout masks (the same seed) and returns the input's and the matrices' gradients.

use std::sync::{Arc, Mutex};

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Storage, Tensor, Var};
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::lora::{Adapter, LoraContext};
use crate::Result;

/// One decoder layer's forward from its input under an adapter context.
pub(crate) type LayerForward = dyn Fn(&Tensor, &LoraContext) -> Result<Tensor> + Send + Sync;

/// The dropout generator a layer's pass draws its masks from: the same seed gives the
/// recomputation the masks of the first pass.
pub(crate) fn layer_rng(seed: u64) -> Mutex<StdRng> {
    Mutex::new(StdRng::seed_from_u64(seed))
}

/// Runs `layer` on `x` with the branches of `adapter` under `paths` trained, keeping only `x`
/// (and the layer's adapter matrices) for the backward.
pub(crate) fn checkpointed_layer(
    x: &Tensor,
    adapter: &Adapter,
    paths: &[&str],
    dropout_seed: Option<u64>,
    layer: Arc<LayerForward>,
) -> Result<Tensor> {
    let adapter = adapter.subset(paths.iter().copied());
    let params = flat_params(&adapter)?;
    let rng = dropout_seed.map(layer_rng);
    let untracked = LoraContext {
        adapter: Some(&adapter),
        dropout_rng: rng.as_ref(),
        grad: false,
        checkpoint_layers: false,
    };
    let mut y = layer(&x.detach(), &untracked)?;
    if !y.is_contiguous() || y.layout().start_offset() != 0 {
        y = y.copy()?;
    }
    let op = CheckpointedLayer {
        layer,
        adapter,
        dropout_seed,
        output: Mutex::new(Some(y)),
    };
    Ok(x.apply_op2(&params, op)?)
}

/// Every A and B of `adapter`, flattened and concatenated in the adapter's order: a tracked
/// tensor whose gradient reaches each variable.
fn flat_params(adapter: &Adapter) -> Result<Tensor> {
    let flat = adapter
        .vars()
        .iter()
        .map(|v| v.as_tensor().flatten_all())
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok(Tensor::cat(&flat, 0)?)
}

struct CheckpointedLayer {
    layer: Arc<LayerForward>,
    /// The layer's branches (the trained variables themselves).
    adapter: Adapter,
    dropout_seed: Option<u64>,
    /// The untracked pass's output, handed over by the op's forward (which runs once).
    output: Mutex<Option<Tensor>>,
}

const OTHER_DEVICE: &str = "checkpointed layer: output on another device";

impl CheckpointedLayer {
    fn hand_over<S: BackendStorage>(
        &self,
        pick: impl Fn(&Storage) -> Option<&S>,
    ) -> candle_core::Result<(S, Shape)> {
        let y = self
            .output
            .lock()
            .expect("checkpoint output")
            .take()
            .ok_or_else(|| candle_core::Error::Msg("checkpointed layer: run twice".into()))?;
        let (storage, layout) = y.storage_and_layout();
        let storage = pick(&storage).ok_or_else(|| candle_core::Error::Msg(OTHER_DEVICE.into()))?;
        Ok((storage.try_clone(layout)?, layout.shape().clone()))
    }

    /// The layer's gradients for `grad_out`: recomputed from `x` with gradients.
    fn gradients(&self, x: &Tensor, grad_out: &Tensor) -> Result<(Tensor, Tensor)> {
        let x = Var::from_tensor(&x.detach())?;
        let rng = self.dropout_seed.map(layer_rng);
        let tracked = LoraContext {
            adapter: Some(&self.adapter),
            dropout_rng: rng.as_ref(),
            grad: true,
            checkpoint_layers: false,
        };
        let y = (self.layer)(x.as_tensor(), &tracked)?;
        let grads = (y * grad_out.detach())?.sum_all()?.backward()?;
        let grad_x = match grads.get(x.as_tensor()) {
            Some(g) => g.clone(),
            None => x.as_tensor().zeros_like()?,
        };
        let grad_params = self
            .adapter
            .vars()
            .iter()
            .map(|v| match grads.get(v.as_tensor()) {
                Some(g) => g.flatten_all(),
                None => v.as_tensor().zeros_like()?.flatten_all(),
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok((grad_x, Tensor::cat(&grad_params, 0)?))
    }
}

impl CustomOp2 for CheckpointedLayer {
    fn name(&self) -> &'static str {
        "checkpointed-layer"
    }

    fn cpu_fwd(
        &self,
        _: &CpuStorage,
        _: &Layout,
        _: &CpuStorage,
        _: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.hand_over(|s| match s {
            Storage::Cpu(s) => Some(s),
            _ => None,
        })
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        _: &candle_core::CudaStorage,
        _: &Layout,
        _: &candle_core::CudaStorage,
        _: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        self.hand_over(|s| match s {
            Storage::Cuda(s) => Some(s),
            _ => None,
        })
    }

    #[cfg(feature = "metal")]
    fn metal_fwd(
        &self,
        _: &candle_core::MetalStorage,
        _: &Layout,
        _: &candle_core::MetalStorage,
        _: &Layout,
    ) -> candle_core::Result<(candle_core::MetalStorage, Shape)> {
        self.hand_over(|s| match s {
            Storage::Metal(s) => Some(s),
            _ => None,
        })
    }

    fn bwd(
        &self,
        x: &Tensor,
        _params: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let (grad_x, grad_params) = self
            .gradients(x, grad_res)
            .map_err(|e| candle_core::Error::Msg(format!("checkpointed layer backward: {e}")))?;
        Ok((Some(grad_x), Some(grad_params)))
    }
}
