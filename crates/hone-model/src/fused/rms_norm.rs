//! RMSNorm with a frozen weight, differentiable in its input: as its own op, and as the
//! normalisation a LoRA projection applies to its input itself (`lora_projection`'s pre-norm).

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::kernels::{each_row, f32s, last_dim, row_kernel2, sum_pairs, sum_triples, with_f32s};

/// `1 / sqrt(mean(x²) + eps)` of one row.
fn inverse_rms(row: &[f32], eps: f32) -> f32 {
    let squares = sum_pairs(row, row, |a, _| a * a);
    1.0 / (squares / row.len() as f32 + eps).sqrt()
}

/// `x · r · w` of one row.
fn normalize_row(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let r = inverse_rms(x, eps);
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(w) {
        *o = v * r * w;
    }
}

/// With `r = 1/sqrt(mean(x²) + eps)` and `g = dy·w`: `dx = r·g − x·r³·mean(g·x)`, one row.
fn input_gradient_row(x: &[f32], dy: &[f32], w: &[f32], eps: f32, dx: &mut [f32]) {
    let r = inverse_rms(x, eps);
    let gx = sum_triples(x, dy, w, |x, g, w| x * g * w);
    let k = r * r * r * gx / x.len() as f32;
    for (((o, &x), &g), &w) in dx.iter_mut().zip(x).zip(dy).zip(w) {
        *o = r * g * w - x * k;
    }
}

pub(super) struct RmsNorm {
    /// `[hidden]`, contiguous, no gradient.
    pub(super) weight: Tensor,
    pub(super) eps: f32,
}

impl RmsNorm {
    /// A frozen norm for the fused ops: the weight detached and contiguous.
    pub(super) fn frozen(weight: &Tensor, eps: f32) -> candle_core::Result<Self> {
        Ok(Self {
            weight: weight.detach().contiguous()?,
            eps,
        })
    }

    pub(super) fn check(&self, width: usize) -> candle_core::Result<()> {
        if self.weight.dims() != [width] {
            bail!(
                "fused rms-norm: input has {width} features, weight is {:?}",
                self.weight.shape()
            );
        }
        Ok(())
    }

    /// The normalised rows of `x` (rows of the weight's width), on the worker threads.
    pub(super) fn normalize(&self, x: &[f32]) -> candle_core::Result<Vec<f32>> {
        let width = self.weight.elem_count();
        let mut y = vec![0f32; x.len()];
        with_f32s(&self.weight, |w| {
            each_row(&mut y, width, |i, out| {
                normalize_row(&x[i * width..(i + 1) * width], w, self.eps, out)
            });
            Ok(())
        })?;
        Ok(y)
    }

    /// The gradient of `x` for the normalised rows' gradient `dy`.
    pub(super) fn input_gradient(&self, x: &[f32], dy: &[f32]) -> candle_core::Result<Vec<f32>> {
        let width = self.weight.elem_count();
        if x.len() != dy.len() {
            bail!(
                "fused rms-norm: {} inputs and {} gradients",
                x.len(),
                dy.len()
            );
        }
        let mut dx = vec![0f32; x.len()];
        with_f32s(&self.weight, |w| {
            each_row(&mut dx, width, |i, out| {
                let span = i * width..(i + 1) * width;
                input_gradient_row(&x[span.clone()], &dy[span], w, self.eps, out)
            });
            Ok(())
        })?;
        Ok(dx)
    }
}

impl CustomOp1 for RmsNorm {
    fn name(&self) -> &'static str {
        "hone-rms-norm"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        self.check(last_dim(layout)?)?;
        let y = self.normalize(f32s(storage, layout)?)?;
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    /// [`input_gradient_row`]; the weight gets none.
    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        self.check(x.dim(candle_core::D::Minus1)?)?;
        let eps = self.eps;
        let dx = with_f32s(&self.weight, |w| {
            row_kernel2("hone-rms-norm-bwd", x, dy, |x, dy, dx| {
                input_gradient_row(x, dy, w, eps, dx)
            })
        })?;
        Ok(Some(dx))
    }
}
