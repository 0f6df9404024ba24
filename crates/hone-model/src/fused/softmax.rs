//! Softmax over the last axis with its backward.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};

use super::kernels::{each_row, f32s, last_dim, row_kernel2, row_max, sum_pairs};
use super::vector_math::exp_shifted_in_place;

pub(super) struct Softmax;

impl CustomOp1 for Softmax {
    fn name(&self) -> &'static str {
        "hone-softmax-last-dim"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32s(storage, layout)?;
        let width = last_dim(layout)?;
        let mut y = vec![0f32; x.len()];
        each_row(&mut y, width, |i, out| {
            let row = &x[i * width..(i + 1) * width];
            out.copy_from_slice(row);
            let scale = 1.0 / exp_shifted_in_place(out, row_max(row));
            for o in out.iter_mut() {
                *o *= scale;
            }
        });
        Ok((CpuStorage::F32(y), layout.shape().clone()))
    }

    /// `dx = y · (dy − Σ dy·y)` per row, with the saved output `y`.
    fn bwd(&self, _x: &Tensor, y: &Tensor, dy: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let dx = row_kernel2("hone-softmax-last-dim-bwd", y, dy, |y, dy, dx| {
            let dot = sum_pairs(y, dy, |a, b| a * b);
            for ((o, &y), &g) in dx.iter_mut().zip(y).zip(dy) {
                *o = y * (g - dot);
            }
        })?;
        Ok(Some(dx))
    }
}
