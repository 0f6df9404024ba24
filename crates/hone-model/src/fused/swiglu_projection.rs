//! The MLP's down projection of SwiGLU's product, `projection(silu(gate) · up)`, as one node.
//! Composed, the product `[tokens, intermediate]` stays alive until the backward ends, for the
//! down projection's LoRA factors: after gate and up themselves, the largest activation a
//! decoder layer keeps (a fifth of a 1B Llama's). Here it lives for the forward's products
//! only, and the backward makes it again from gate and up (one element-wise pass).

use candle_core::{CpuStorage, CustomOp3, Device, Layout, Shape, Tensor, D};

use super::kernels::{f32s, last_dim, with_f32s};
use super::lora_projection::{packed_factors, unpacked_factors, LoraProjection, Projection};
use super::swiglu::{gradients_into, product, same_shape};

/// `y·Wᵀ (+ bias) + scale · (dropout(y)·Aᵀ)·Bᵀ` with `y = silu(gate) · up`, `gate` and `up`
/// `[.., in]`, differentiable in gate, up, A and B (see
/// [`super::lora_projection::lora_projection`]); f32 on the CPU.
pub(crate) fn swiglu_lora_projection(
    gate: &Tensor,
    up: &Tensor,
    a: &Tensor,
    b: &Tensor,
    projection: Projection,
) -> candle_core::Result<Tensor> {
    let op = SwigluProjection(LoraProjection::new(projection)?);
    gate.contiguous()?.apply_op3(
        &up.contiguous()?,
        &packed_factors(&a.contiguous()?, &b.contiguous()?)?,
        op,
    )
}

struct SwigluProjection(LoraProjection);

impl CustomOp3 for SwigluProjection {
    fn name(&self) -> &'static str {
        "hone-swiglu-lora-projection"
    }

    fn cpu_fwd(
        &self,
        gate: &CpuStorage,
        gate_l: &Layout,
        up: &CpuStorage,
        up_l: &Layout,
        ab: &CpuStorage,
        ab_l: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        same_shape(self.name(), gate_l, up_l)?;
        let k = last_dim(gate_l)?;
        let m = gate_l.shape().elem_count() / k.max(1);
        let n = self.0.outputs()?;
        let hidden = product(f32s(gate, gate_l)?, f32s(up, up_l)?);
        let ab = f32s(ab, ab_l)?;
        let r = ab.len() / (k + n).max(1);
        let (a, b) = ab.split_at(r * k);
        let y = self.0.project(&hidden, (m, k), a, b, None)?;
        let mut dims = gate_l.dims().to_vec();
        *dims.last_mut().expect("gate has a last axis") = n;
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }

    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        ab: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Detached: a gradient built on forward tensors would carry their graph.
        let (gate, up, ab, grad) = (gate.detach(), up.detach(), ab.detach(), grad.detach());
        let k = gate.dim(D::Minus1)?;
        let n = grad.dim(D::Minus1)?;
        let m = gate.elem_count() / k.max(1);
        let (a, b) = unpacked_factors(&ab, k, n)?;
        let (gate, up) = (gate.contiguous()?, up.contiguous()?);
        let (d_gate, d_up, da, db) = with_f32s(&gate, |gate_v| {
            with_f32s(&up, |up_v| {
                let hidden = Tensor::from_vec(product(gate_v, up_v), (m, k), &Device::Cpu)?;
                let (d_hidden, da, db) =
                    self.0.gradients(hidden, &a, &b, &grad.reshape((m, n))?)?;
                let (mut d_gate, mut d_up) = (vec![0f32; m * k], vec![0f32; m * k]);
                gradients_into(gate_v, up_v, &d_hidden, &mut d_gate, &mut d_up);
                Ok((d_gate, d_up, da, db))
            })
        })?;
        let d_gate = Tensor::from_vec(d_gate, gate.shape(), &Device::Cpu)?;
        let d_up = Tensor::from_vec(d_up, up.shape(), &Device::Cpu)?;
        Ok((Some(d_gate), Some(d_up), Some(packed_factors(&da, &db)?)))
    }
}
