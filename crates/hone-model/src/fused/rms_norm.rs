//! RMSNorm with a frozen weight, differentiable in its input.

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::kernels::{each_row, f32s, last_dim, row_kernel2, sum_pairs, sum_triples, with_f32s};

/// `1 / sqrt(mean(x²) + eps)` of one row.
fn inverse_rms(row: &[f32], eps: f32) -> f32 {
    let squares = sum_pairs(row, row, |a, _| a * a);
    1.0 / (squares / row.len() as f32 + eps).sqrt()
}

pub(super) struct RmsNorm {
    /// `[hidden]`, contiguous, no gradient.
    pub(super) weight: Tensor,
    pub(super) eps: f32,
}

impl RmsNorm {
    fn check(&self, width: usize) -> candle_core::Result<()> {
        if self.weight.dims() != [width] {
            bail!(
                "fused rms-norm: input has {width} features, weight is {:?}",
                self.weight.shape()
            );
        }
        Ok(())
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
        let x = f32s(storage, layout)?;
        let width = last_dim(layout)?;
        self.check(width)?;
        let mut y = vec![0f32; x.len()];
        with_f32s(&self.weight, |w| {
            each_row(&mut y, width, |i, out| {
                let row = &x[i * width..(i + 1) * width];
                let r = inverse_rms(row, self.eps);
                for ((o, &v), &w) in out.iter_mut().zip(row).zip(w) {
                    *o = v * r * w;
                }
            });
            Ok(())
        })?;
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    /// With `r = 1/sqrt(mean(x²) + eps)` and `g = dy·w`: `dx = r·g − x·r³·mean(g·x)`.
    /// The weight gets none.
    fn bwd(&self, x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        self.check(x.dim(candle_core::D::Minus1)?)?;
        let eps = self.eps;
        let dx = with_f32s(&self.weight, |w| {
            row_kernel2("hone-rms-norm-bwd", x, dy, |x, dy, dx| {
                let r = inverse_rms(x, eps);
                let gx = sum_triples(x, dy, w, |x, g, w| x * g * w);
                let k = r * r * r * gx / x.len() as f32;
                for (((o, &x), &g), &w) in dx.iter_mut().zip(x).zip(dy).zip(w) {
                    *o = r * g * w - x * k;
                }
            })
        })?;
        Ok(Some(dx))
    }
}
