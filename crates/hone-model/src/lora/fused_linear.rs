//! A LoRA projection `x·Wᵀ (+ bias) + scale · xa·Bᵀ` as one differentiable op, with
//! `xa = dropout(x)·Aᵀ` computed before it by candle (whose graph carries A's gradient).
//!
//! Composed from candle's ops, the branch keeps four `[tokens, out]` tensors alive until the
//! backward ends (the base output, `xa·Bᵀ`, its scaled copy and the sum) and its backward
//! allocates twice as many; over the seven projections of a layer that is more memory than
//! the rest of the layer's activations. This op keeps only its inputs (`x` is kept anyway,
//! `xa` is `[tokens, rank]`) and its output. Its backward returns the gradients of `x`
//! (through the frozen weight only: the branch's share reaches `x` through `xa`), `xa` and
//! B; the weight and bias are frozen. It runs on every backend (it is made of the backend's
//! own matmul, affine and add); the caller uses it when all operands share one dtype off the
//! CPU (on the CPU [`crate::fused::lora_projection`] takes the first factor in too). A
//! quantized weight is dequantized for the forward's product and again for the backward's,
//! and dropped after each (QLoRA-style training keeps only the quantized blocks).

use candle_core::backend::BackendStorage;
use candle_core::op::Add;
use candle_core::{CpuStorage, CustomOp3, Device, Layout, Shape, Storage, Tensor};

use crate::base_weight::BaseWeight;

/// `x [.., in] · wᵀ (+ bias) + scale · xa [.., r] · bᵀ`, flattening the leading dimensions.
/// `weight` `[out, in]` and `bias` `[out]` are frozen; `b` is `[out, r]`.
pub(crate) fn lora_matmul_t(
    x: &Tensor,
    xa: &Tensor,
    b: &Tensor,
    weight: &BaseWeight,
    bias: Option<&Tensor>,
    scale: f64,
) -> candle_core::Result<Tensor> {
    let dims = x.dims();
    let (lead, inner) = dims.split_at(dims.len() - 1);
    let rows: usize = lead.iter().product();
    let rank = b.dim(1)?;
    let x2 = x.reshape((rows, inner[0]))?.contiguous()?;
    let xa2 = xa.reshape((rows, rank))?.contiguous()?;
    let out = weight.dims()[0];
    let op = LoraMatmul {
        weight: match weight {
            BaseWeight::Dense(w) => BaseWeight::Dense(w.detach().contiguous()?),
            quantized => quantized.clone(),
        },
        bias: bias.map(|b| b.detach().contiguous()).transpose()?,
        scale,
    };
    let y = x2.apply_op3(&xa2, &b.contiguous()?, op)?;
    let mut out_shape = lead.to_vec();
    out_shape.push(out);
    y.reshape(out_shape)
}

struct LoraMatmul {
    /// `[out, in]`
    weight: BaseWeight,
    /// `[out]`
    bias: Option<Tensor>,
    scale: f64,
}

const OTHER_DEVICE: &str = "LoRA matmul: weight and input on different devices";

impl LoraMatmul {
    /// The frozen weight as a dense tensor on `device` (dequantized when quantized).
    fn dense_weight(&self, device: &Device) -> candle_core::Result<Tensor> {
        match &self.weight {
            BaseWeight::Dense(w) => Ok(w.clone()),
            BaseWeight::Quantized(q) => crate::dequantize::dequantize(q, device),
        }
    }

    /// The forward on one backend's storages, with the frozen weight `w` (and its storage) and
    /// the bias' storage.
    #[allow(clippy::too_many_arguments)]
    fn forward<S: BackendStorage>(
        &self,
        w: &Tensor,
        x: &S,
        x_l: &Layout,
        xa: &S,
        xa_l: &Layout,
        b: &S,
        b_l: &Layout,
        weight: &S,
        bias: Option<&S>,
    ) -> candle_core::Result<(S, Shape)> {
        let (m, k) = x_l.shape().dims2()?;
        let (n, k2) = w.dims2()?;
        let (m2, r) = xa_l.shape().dims2()?;
        let (n2, r2) = b_l.shape().dims2()?;
        if k != k2 || m != m2 || n != n2 || r != r2 {
            candle_core::bail!(
                "LoRA matmul: x {:?}, xa {:?}, B {:?} and weight {:?} do not fit",
                x_l.shape(),
                xa_l.shape(),
                b_l.shape(),
                w.shape()
            );
        }
        let out_l = Layout::contiguous((m, n));
        let w_t = w.layout().transpose(0, 1)?;
        let y = x.matmul(weight, (1, m, n, k), x_l, &w_t)?;
        // Scale the thin `[m, r]` factor rather than the `[m, n]` product.
        let xa_scaled = xa.affine(xa_l, self.scale, 0.0)?;
        let delta = xa_scaled.matmul(
            b,
            (1, m, n, r),
            &Layout::contiguous((m, r)),
            &b_l.transpose(0, 1)?,
        )?;
        let mut y = y.binary_impl::<Add>(&delta, &out_l, &out_l)?;
        if let (Some(bias), Some(bias_t)) = (bias, &self.bias) {
            let bias_l = bias_t.layout().broadcast_as((m, n))?;
            y = y.binary_impl::<Add>(bias, &out_l, &bias_l)?;
        }
        Ok((y, Shape::from((m, n))))
    }
}

/// The frozen weight (dense, on `$device`) and the storages of it and the bias on the
/// backend `$variant`.
macro_rules! frozen_storages {
    ($self:ident, $device:expr, $variant:path, |$t:ident, $w:ident, $bias:ident| $body:expr) => {{
        let $t = $self.dense_weight(&$device)?;
        let (w_guard, _) = $t.storage_and_layout();
        let $variant($w) = &*w_guard else {
            return Err(candle_core::Error::Msg(OTHER_DEVICE.into()));
        };
        let bias_guard = $self.bias.as_ref().map(|b| b.storage_and_layout().0);
        let $bias = match bias_guard.as_deref() {
            None => None,
            Some($variant(b)) => Some(b),
            Some(_) => return Err(candle_core::Error::Msg(OTHER_DEVICE.into())),
        };
        $body
    }};
}

impl CustomOp3 for LoraMatmul {
    fn name(&self) -> &'static str {
        "hone-lora-matmul"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_l: &Layout,
        xa: &CpuStorage,
        xa_l: &Layout,
        b: &CpuStorage,
        b_l: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        frozen_storages!(self, Device::Cpu, Storage::Cpu, |t, w, bias| self
            .forward(&t, x, x_l, xa, xa_l, b, b_l, w, bias))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        x: &candle_core::CudaStorage,
        x_l: &Layout,
        xa: &candle_core::CudaStorage,
        xa_l: &Layout,
        b: &candle_core::CudaStorage,
        b_l: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        frozen_storages!(
            self,
            Device::Cuda(x.device().clone()),
            Storage::Cuda,
            |t, w, bias| self.forward(&t, x, x_l, xa, xa_l, b, b_l, w, bias)
        )
    }

    #[cfg(feature = "metal")]
    fn metal_fwd(
        &self,
        x: &candle_core::MetalStorage,
        x_l: &Layout,
        xa: &candle_core::MetalStorage,
        xa_l: &Layout,
        b: &candle_core::MetalStorage,
        b_l: &Layout,
    ) -> candle_core::Result<(candle_core::MetalStorage, Shape)> {
        frozen_storages!(
            self,
            Device::Metal(x.device().clone()),
            Storage::Metal,
            |t, w, bias| self.forward(&t, x, x_l, xa, xa_l, b, b_l, w, bias)
        )
    }

    /// `dx = g·W`, `d xa = scale · g·B`, `dB = scale · gᵀ·xa`; nothing for W and the bias.
    fn bwd(
        &self,
        _x: &Tensor,
        xa: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Detached: a gradient built on forward tensors would carry their graph.
        let (grad, xa, b) = (grad.detach(), xa.detach(), b.detach());
        let dx = grad.matmul(&self.dense_weight(grad.device())?)?;
        let d_xa = grad.matmul(&(b * self.scale)?)?;
        let d_b = grad.t()?.matmul(&(xa * self.scale)?)?;
        Ok((Some(dx), Some(d_xa), Some(d_b)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Var;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::test_tensors::{assert_same_output_and_gradients, random, values_and_gradients};

    #[test]
    fn output_and_the_gradients_of_x_a_and_b_equal_candles_composition() {
        let mut rng = StdRng::seed_from_u64(11);
        let (batch, seq, input, out, rank, scale) = (2, 5, 12, 7, 3, 2.5);
        // Values in [−1, 1): the products stay small enough for f32 sums to agree to 1e-5.
        let random = |rng: &mut StdRng, shape: &[usize]| (random(rng, shape) * 0.5).unwrap();
        let weight = random(&mut rng, &[out, input]);
        let bias = random(&mut rng, &[out]);
        let x = Var::from_tensor(&random(&mut rng, &[batch, seq, input])).unwrap();
        let a = Var::from_tensor(&random(&mut rng, &[rank, input])).unwrap();
        let b = Var::from_tensor(&random(&mut rng, &[out, rank])).unwrap();
        let xa = |x: &Tensor| x.broadcast_matmul(&a.as_tensor().t().unwrap()).unwrap();
        let fused = lora_matmul_t(
            x.as_tensor(),
            &xa(x.as_tensor()),
            b.as_tensor(),
            &BaseWeight::Dense(weight.clone()),
            Some(&bias),
            scale,
        )
        .unwrap();
        let composed = {
            let base = x
                .as_tensor()
                .broadcast_matmul(&weight.t().unwrap())
                .unwrap()
                .broadcast_add(&bias)
                .unwrap();
            let delta = xa(x.as_tensor())
                .broadcast_matmul(&b.as_tensor().t().unwrap())
                .unwrap();
            (base + (delta * scale).unwrap()).unwrap()
        };
        let vars = [("x", &x), ("A", &a), ("B", &b)];
        assert_same_output_and_gradients(&mut rng, &fused, &composed, &vars, (1e-5, 1e-5));
    }

    #[test]
    fn a_quantized_weight_gives_what_its_dequantized_matrix_gives_with_every_gradient() {
        use candle_core::quantized::{GgmlDType, QTensor};
        let mut rng = StdRng::seed_from_u64(12);
        let (rows, input, out, rank) = (20, 64, 8, 4);
        let q = QTensor::quantize(&random(&mut rng, &[out, input]), GgmlDType::Q4_1).unwrap();
        let dense = q.dequantize(&candle_core::Device::Cpu).unwrap();
        let quantized = BaseWeight::Quantized(std::sync::Arc::new(q));
        let x = Var::from_tensor(&random(&mut rng, &[rows, input])).unwrap();
        let xa = Var::from_tensor(&random(&mut rng, &[rows, rank])).unwrap();
        let b = Var::from_tensor(&random(&mut rng, &[out, rank])).unwrap();
        let run = |w: &BaseWeight| {
            let y =
                lora_matmul_t(x.as_tensor(), xa.as_tensor(), b.as_tensor(), w, None, 2.0).unwrap();
            values_and_gradients(&y, &[&x, &xa, &b])
        };
        assert_eq!(run(&quantized), run(&BaseWeight::Dense(dense)));
    }
}
