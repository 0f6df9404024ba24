//! A LoRA projection added to the residual stream, `residual + projection(x)`, as one node.
//! Composed, the sum's node keeps the projection's own `[tokens, out]` output alive until the
//! backward ends, though an addition's backward never reads its inputs: one such tensor per
//! decoder layer for attention's output projection. Here gemm adds the products into a copy of
//! the residual, and the residual's gradient is the output's.

use candle_core::{bail, CpuStorage, CustomOp3, Device, Layout, Shape, Tensor, D};

use super::kernels::{f32s, last_dim};
use super::lora_projection::{packed_factors, unpacked_factors, LoraProjection, Projection};

/// `residual + x·Wᵀ (+ bias) + scale · (dropout(x)·Aᵀ)·Bᵀ` with `x` `[.., in]` and `residual`
/// `[.., out]`, differentiable in `x`, `residual`, A and B (see
/// [`super::lora_projection::lora_projection`]); f32 on the CPU.
pub(crate) fn lora_projection_added(
    x: &Tensor,
    residual: &Tensor,
    a: &Tensor,
    b: &Tensor,
    projection: Projection,
) -> candle_core::Result<Tensor> {
    let op = AddedProjection(LoraProjection::new(projection)?);
    x.contiguous()?.apply_op3(
        &residual.contiguous()?,
        &packed_factors(&a.contiguous()?, &b.contiguous()?)?,
        op,
    )
}

struct AddedProjection(LoraProjection);

impl CustomOp3 for AddedProjection {
    fn name(&self) -> &'static str {
        "hone-lora-projection-added"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_l: &Layout,
        residual: &CpuStorage,
        residual_l: &Layout,
        ab: &CpuStorage,
        ab_l: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let k = last_dim(x_l)?;
        let m = x_l.shape().elem_count() / k.max(1);
        let n = self.0.outputs()?;
        let mut dims = x_l.dims().to_vec();
        *dims.last_mut().expect("x has a last axis") = n;
        if residual_l.dims() != dims.as_slice() {
            bail!(
                "LoRA projection added to a residual: x {:?} gives {dims:?}, the residual is {:?}",
                x_l.shape(),
                residual_l.shape()
            );
        }
        let ab = f32s(ab, ab_l)?;
        let r = ab.len() / (k + n).max(1);
        let (a, b) = ab.split_at(r * k);
        let y = self.0.project(
            f32s(x, x_l)?,
            (m, k),
            a,
            b,
            Some(f32s(residual, residual_l)?),
        )?;
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        _residual: &Tensor,
        ab: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Detached: a gradient built on forward tensors would carry their graph.
        let (x, ab, grad) = (x.detach(), ab.detach(), grad.detach());
        let k = x.dim(D::Minus1)?;
        let n = grad.dim(D::Minus1)?;
        let m = x.elem_count() / k.max(1);
        let (a, b) = unpacked_factors(&ab, k, n)?;
        let (dx, da, db) = self
            .0
            .gradients(x.reshape((m, k))?, &a, &b, &grad.reshape((m, n))?)?;
        let dx = Tensor::from_vec(dx, x.shape(), &Device::Cpu)?;
        Ok((Some(dx), Some(grad), Some(packed_factors(&da, &db)?)))
    }
}
