//! Fused differentiable kernels for training on the CPU: softmax over the last axis, RMSNorm
//! with a frozen weight, SwiGLU's `silu(gate)·up`, the log-prob of target tokens under
//! logits (alone, or with the LM head that makes them), RoPE and causal attention from the projections, LoRA's `dropout(x)·Aᵀ` and a whole LoRA
//! projection with it (alone or of its input's RMSNorm, added to the residual stream, or of
//! SwiGLU's product), each one pass over its rows forward and one backward. candle's own fused kernels have no backward, and its differentiable versions are
//! compositions of broadcast ops whose forward and backward make a dozen passes and
//! allocations, and every intermediate they create stays alive until the backward ends; these
//! ops make one each way and keep only their inputs.
//!
//! Only f32 tensors on the CPU are handled ([`supports`]); callers choose at run time and keep
//! candle's composed paths for every other dtype and device (bf16 on CUDA, f16 on Metal).
//! [`composed`] forces the composed paths on the CPU too, so tests check them against the
//! fused ones on a machine without a GPU.

use std::cell::Cell;

use candle_core::{DType, Device, Tensor};

mod added_projection;
mod attention;
mod dense_product;
mod dropout_matmul;
mod gemm;
mod head_logprobs;
mod kernels;
mod lora_projection;
#[cfg(hone_openblas)]
mod openblas;
mod product_parts;
mod rms_norm;
mod rotary;
mod rotary_attention;
mod softmax;
mod swiglu;
mod swiglu_projection;
mod target_logprobs;
#[cfg(test)]
mod tests;
mod vector_math;

pub(crate) use added_projection::lora_projection_added;
pub(crate) use dense_product::{product_n, product_t_f32};
pub use dropout_matmul::{dropout_matmul_t, Dropout};
pub use head_logprobs::{head_target_logprobs, HEAD_BLOCK_ROWS};
pub(crate) use lora_projection::{lora_projection, PreNorm, Projection};
use rms_norm::RmsNorm;
pub use rotary_attention::rotary_attention;
use softmax::Softmax;
pub use swiglu::swiglu;
pub(crate) use swiglu_projection::swiglu_lora_projection;
pub use target_logprobs::target_logprobs;

thread_local! {
    /// Set inside [`composed`]: the fused ops are declined on this thread.
    static COMPOSED_ONLY: Cell<bool> = const { Cell::new(false) };
}

/// Whether the fused ops run for tensors of `dtype` on `device` (f32 on the CPU): what a
/// plan needs to know before there is a tensor.
pub fn runs_on(device: &Device, dtype: DType) -> bool {
    device.is_cpu() && dtype == DType::F32
}

/// What the fused ops' large f32 products run on: `OpenBLAS <kernels>` where the build linked
/// it (x86-64 Linux), `gemm` elsewhere. A plan's remembered CPU rates name it, so that rates
/// measured on another kernel are measured again.
pub fn product_kernel() -> String {
    #[cfg(hone_openblas)]
    return format!("OpenBLAS {}", openblas::configuration());
    #[cfg(not(hone_openblas))]
    return "gemm".to_string();
}

/// A weight's product is wide when both its sides (inputs and outputs) are at least this:
/// where OpenBLAS is linked, such products (of 64 rows or more) run on it and the thinner ones
/// on gemm. Wide and thin products run at different rates on either kernel, so a plan prices
/// them apart.
pub const WIDE_PRODUCT_SIDE: usize = 512;

/// Whether the fused ops can run on `x`: [`runs_on`] its device and dtype, outside
/// [`composed`].
pub fn supports(x: &Tensor) -> bool {
    runs_on(x.device(), x.dtype()) && !in_composed()
}

/// Whether this thread is inside [`composed`], for ops that see storages rather than tensors.
pub(crate) fn in_composed() -> bool {
    COMPOSED_ONLY.with(Cell::get)
}

/// Runs `f` with the fused ops declined on this thread: every op takes the composed path a GPU
/// takes (the model's forward and backward run on the calling thread; only the fused kernels'
/// insides use worker threads).
pub fn composed<R>(f: impl FnOnce() -> R) -> R {
    crate::scoped_flag::with_flag_set(&COMPOSED_ONLY, f)
}

/// Softmax over the last axis, differentiable; `x` must be f32 on the CPU.
pub fn softmax_last_dim(x: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(Softmax)
}

/// `x / sqrt(mean(x²) + eps) · weight` over the last axis, differentiable in `x` only (the
/// weight is treated as frozen); f32 on the CPU.
pub fn rms_norm_frozen_weight(
    x: &Tensor,
    weight: &Tensor,
    eps: f32,
) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1(RmsNorm::frozen(weight, eps)?)
}
