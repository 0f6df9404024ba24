//! `x · Wᵀ` for a frozen weight, as a custom op whose backward returns only the input's
//! gradient. candle's matmul backward also computes the weight's gradient — a full extra
//! matmul per projection (and a `[vocab, hidden]` one for the LM head) that LoRA training
//! throws away. With this op a LoRA step costs what it costs in PyTorch with frozen weights.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Storage, Tensor};

struct FrozenMatmul {
    /// `[out, in]`
    weight: Tensor,
}

impl FrozenMatmul {
    /// (rows, in, out) and the weight's transposed layout, after checking the shapes.
    fn plan(&self, layout: &Layout) -> candle_core::Result<(usize, usize, usize, Layout)> {
        let (m, k) = layout.shape().dims2()?;
        let (n, k2) = self.weight.dims2()?;
        if k != k2 {
            candle_core::bail!("frozen matmul: input has {k} features, weight expects {k2}");
        }
        Ok((m, k, n, self.weight.layout().transpose(0, 1)?))
    }

    /// `x · Wᵀ` on one backend's storages (the same for CPU, CUDA and Metal).
    fn matmul<S: BackendStorage>(
        &self,
        x: &S,
        w: &S,
        layout: &Layout,
    ) -> candle_core::Result<(S, Shape)> {
        let (m, k, n, w_layout) = self.plan(layout)?;
        Ok((
            x.matmul(w, (1, m, n, k), layout, &w_layout)?,
            Shape::from((m, n)),
        ))
    }
}

const OTHER_DEVICE: &str = "frozen matmul: weight and input on different devices";

impl CustomOp1 for FrozenMatmul {
    fn name(&self) -> &'static str {
        "frozen-matmul"
    }

    fn cpu_fwd(&self, x: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (storage, w_layout) = self.weight.storage_and_layout();
        let Storage::Cpu(w) = &*storage else {
            return Err(candle_core::Error::Msg(OTHER_DEVICE.into()));
        };
        // f32 (the CPU's training dtype) on the fused ops' kernel; others, and everything inside
        // `fused::composed` (which mirrors a GPU's path), on candle's.
        if crate::fused::in_composed() {
            return self.matmul(x, w, layout);
        }
        if let (CpuStorage::F32(xs), CpuStorage::F32(ws)) = (x, w) {
            let (m, k, n, _) = self.plan(layout)?;
            let (Some((x0, x1)), Some((w0, w1))) =
                (layout.contiguous_offsets(), w_layout.contiguous_offsets())
            else {
                candle_core::bail!("frozen matmul: expects contiguous operands");
            };
            let y = crate::fused::product_t_f32(&xs[x0..x1], (m, k), &ws[w0..w1], n);
            return Ok((CpuStorage::F32(y), Shape::from((m, n))));
        }
        self.matmul(x, w, layout)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        x: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        let (storage, _) = self.weight.storage_and_layout();
        let Storage::Cuda(w) = &*storage else {
            return Err(candle_core::Error::Msg(OTHER_DEVICE.into()));
        };
        self.matmul(x, w, layout)
    }

    #[cfg(feature = "metal")]
    fn metal_fwd(
        &self,
        x: &candle_core::MetalStorage,
        layout: &Layout,
    ) -> candle_core::Result<(candle_core::MetalStorage, Shape)> {
        let (storage, _) = self.weight.storage_and_layout();
        let Storage::Metal(w) = &*storage else {
            return Err(candle_core::Error::Msg(OTHER_DEVICE.into()));
        };
        self.matmul(x, w, layout)
    }

    /// d(x Wᵀ)/dx = grad · W; nothing for W.
    fn bwd(
        &self,
        _x: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        if crate::fused::supports(grad) && crate::fused::supports(&self.weight) {
            let rows = grad.contiguous()?;
            return Ok(Some(crate::fused::product_n(&rows, &self.weight)?));
        }
        Ok(Some(grad.matmul(&self.weight)?))
    }
}

/// `x [.., in] · wᵀ`, flattening the leading dimensions. When a gradient flows through `x`,
/// the weight is treated as frozen (no gradient is computed for it).
pub fn frozen_matmul_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let dims = x.dims();
    let (lead, inner) = dims.split_at(dims.len() - 1);
    let rows: usize = lead.iter().product();
    let x2 = x.reshape((rows, inner[0]))?;
    let y = if x.track_op() && !w.track_op() {
        x2.contiguous()?
            .apply_op1_arc(std::sync::Arc::new(Box::new(FrozenMatmul {
                weight: w.contiguous()?,
            })))?
    } else if !w.track_op() && crate::fused::supports(&x2) && crate::fused::supports(w) {
        // No gradient through either (a reference or inference pass): the same op's forward,
        // whose f32 product runs on the fused ops' kernel.
        x2.contiguous()?.apply_op1_no_bwd(&FrozenMatmul {
            weight: w.contiguous()?,
        })?
    } else {
        x2.matmul(&w.t()?)?
    };
    let mut out_shape = lead.to_vec();
    out_shape.push(w.dim(0)?);
    y.reshape(out_shape)
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;

    #[test]
    fn forward_and_input_gradient_equal_the_plain_matmul_and_the_weight_gets_none() {
        let dev = Device::Cpu;
        let w = Tensor::new(
            &[[1f32, 2., 3.], [-1., 0.5, 2.], [0., 1., -2.], [3., -1., 1.]],
            &dev,
        )
        .unwrap();
        let x = Var::new(&[[[0.5f32, -1., 2.], [1., 1., 1.]]], &dev).unwrap();
        let frozen = frozen_matmul_t(x.as_tensor(), &w).unwrap();
        let plain = x.as_tensor().broadcast_matmul(&w.t().unwrap()).unwrap();
        assert_eq!(
            frozen.to_vec3::<f32>().unwrap(),
            plain.to_vec3::<f32>().unwrap()
        );
        let g1 = frozen.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let g2 = plain.sqr().unwrap().sum_all().unwrap().backward().unwrap();
        let (a, b) = (
            g1.get(x.as_tensor()).unwrap(),
            g2.get(x.as_tensor()).unwrap(),
        );
        assert_eq!(
            a.to_vec3::<f32>().unwrap(),
            b.to_vec3::<f32>().unwrap(),
            "same gradient for x"
        );
        assert!(
            g1.get(&w).is_none(),
            "no gradient is computed for the frozen weight"
        );
    }

    #[test]
    fn inside_composed_the_forward_is_candles_matmul_as_a_gpu_would_run_it() {
        // A shape the fused kernel takes outside `composed` (OpenBLAS where it is linked).
        let dev = Device::Cpu;
        let x = Var::from_tensor(&crate::tiny::patterned(&[64, 512], &dev).unwrap()).unwrap();
        let w = crate::tiny::patterned(&[512, 512], &dev).unwrap();
        let plain = x.as_tensor().matmul(&w.t().unwrap()).unwrap();
        let composed = crate::fused::composed(|| frozen_matmul_t(x.as_tensor(), &w).unwrap());
        assert_eq!(
            composed.to_vec2::<f32>().unwrap(),
            plain.to_vec2::<f32>().unwrap()
        );
    }
}
