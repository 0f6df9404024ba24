//! Half-rotation RoPE with its backward (the inverse rotation).

use candle_core::{bail, CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::kernels::{each_row, f32s, with_f32s};

/// Half-rotation RoPE of `[.., seq, head_dim]` rows; `inverse` rotates by the opposite angle
/// (the transpose, which is the backward).
pub(super) struct Rope {
    /// `[seq, head_dim / 2]`, contiguous.
    pub(super) cos: Tensor,
    pub(super) sin: Tensor,
    pub(super) inverse: bool,
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "hone-rope"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32s(storage, layout)?;
        let (_, _, t, d) = layout.shape().dims4()?;
        let half = d / 2;
        if self.cos.dims() != [t, half] || self.sin.dims() != [t, half] || d % 2 != 0 {
            bail!(
                "fused rope: x {:?} and cos/sin {:?} do not match",
                layout.shape(),
                self.cos.shape()
            );
        }
        let mut y = vec![0f32; x.len()];
        let sign = if self.inverse { -1f32 } else { 1f32 };
        with_f32s(&self.cos, |cos| {
            with_f32s(&self.sin, |sin| {
                each_row(&mut y, d, |i, out| {
                    let row = &x[i * d..(i + 1) * d];
                    let pos = (i % t) * half;
                    let (cos, sin) = (&cos[pos..pos + half], &sin[pos..pos + half]);
                    let (x1, x2) = row.split_at(half);
                    let (y1, y2) = out.split_at_mut(half);
                    for j in 0..half {
                        let (c, s) = (cos[j], sign * sin[j]);
                        y1[j] = x1[j] * c - x2[j] * s;
                        y2[j] = x2[j] * c + x1[j] * s;
                    }
                });
                Ok(())
            })
        })?;
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    /// The rotation is orthogonal: its backward rotates the gradient back.
    fn bwd(&self, _x: &Tensor, _y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let back = Rope {
            cos: self.cos.clone(),
            sin: self.sin.clone(),
            inverse: !self.inverse,
        };
        Ok(Some(dy.contiguous()?.apply_op1_no_bwd(&back)?))
    }
}
