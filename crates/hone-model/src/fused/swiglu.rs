//! SwiGLU's gate, `silu(gate) · up` (Shazeer 2020), as one op: the composition keeps
//! `silu(gate)` alive beside its inputs and makes three passes each way; this op keeps only
//! `gate` and `up` and makes one.

use candle_core::{bail, CpuStorage, CustomOp2, CustomOp3, Layout, Shape, Tensor};

use super::kernels::{each_row, f32s};
use super::vector_math::{sigmoid, vectorized_fn};

/// `silu(gate) · up` for same-shaped f32 CPU tensors, differentiable in both.
pub fn swiglu(gate: &Tensor, up: &Tensor) -> candle_core::Result<Tensor> {
    gate.contiguous()?.apply_op2(&up.contiguous()?, SwiGlu)
}

/// Rows of this many elements are handed to worker threads (the ops are element-wise).
const ROW: usize = 1024;

pub(super) fn same_shape(name: &str, a: &Layout, b: &Layout) -> candle_core::Result<()> {
    if a.shape() != b.shape() {
        bail!("{name}: shapes {:?} and {:?} differ", a.shape(), b.shape());
    }
    Ok(())
}

vectorized_fn! {
    /// `silu(g) · u` element by element.
    fn forward_rows(gate: &[f32], up: &[f32], out: &mut [f32]) {
        for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
            *o = g * sigmoid(g) * u;
        }
    }
}

vectorized_fn! {
    /// With `s = σ(g)`: `d g = dy · u · s · (1 + g · (1 − s))`.
    fn gate_gradient_rows(gate: &[f32], up: &[f32], dy: &[f32], out: &mut [f32]) {
        for (((o, &g), &u), &d) in out.iter_mut().zip(gate).zip(up).zip(dy) {
            let s = sigmoid(g);
            *o = d * u * s * (1.0 + g * (1.0 - s));
        }
    }
}

vectorized_fn! {
    /// `d u = dy · g · σ(g)`.
    fn up_gradient_rows(gate: &[f32], dy: &[f32], out: &mut [f32]) {
        for ((o, &g), &d) in out.iter_mut().zip(gate).zip(dy) {
            *o = d * g * sigmoid(g);
        }
    }
}

/// `silu(gate) · up` of two same-sized slices, on the worker threads.
pub(super) fn product(gate: &[f32], up: &[f32]) -> Vec<f32> {
    let mut out = vec![0f32; gate.len()];
    each_row(&mut out, ROW, |i, o| {
        let start = i * ROW;
        let (g, u) = (&gate[start..start + o.len()], &up[start..start + o.len()]);
        forward_rows(g, u, o);
    });
    out
}

/// Writes gate's and up's gradients for the product's gradient `dy`.
pub(super) fn gradients_into(
    gate: &[f32],
    up: &[f32],
    dy: &[f32],
    d_gate: &mut [f32],
    d_up: &mut [f32],
) {
    each_row(d_gate, ROW, |i, o| {
        let start = i * ROW;
        let span = start..start + o.len();
        let (g, u, d) = (&gate[span.clone()], &up[span.clone()], &dy[span]);
        gate_gradient_rows(g, u, d, o);
    });
    each_row(d_up, ROW, |i, o| {
        let start = i * ROW;
        let span = start..start + o.len();
        up_gradient_rows(&gate[span.clone()], &dy[span], o);
    });
}

struct SwiGlu;

impl CustomOp2 for SwiGlu {
    fn name(&self) -> &'static str {
        "hone-swiglu"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        same_shape(self.name(), l1, l2)?;
        let out = product(f32s(s1, l1)?, f32s(s2, l2)?);
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    /// With `s = σ(gate)`: `d gate = dy · up · s · (1 + gate · (1 − s))`, `d up = dy · gate · s`.
    fn bwd(
        &self,
        gate: &Tensor,
        up: &Tensor,
        _res: &Tensor,
        dy: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let both = gate.contiguous()?.apply_op3_no_bwd(
            &up.contiguous()?,
            &dy.contiguous()?,
            &SwiGluBackward,
        )?;
        Ok((Some(both.get(0)?), Some(both.get(1)?)))
    }
}

/// Both input gradients in one pass, stacked `[2, ..]` (gate's, then up's).
struct SwiGluBackward;

impl CustomOp3 for SwiGluBackward {
    fn name(&self) -> &'static str {
        "hone-swiglu-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        same_shape(self.name(), l1, l2)?;
        same_shape(self.name(), l1, l3)?;
        let (gate, up, dy) = (f32s(s1, l1)?, f32s(s2, l2)?, f32s(s3, l3)?);
        let n = gate.len();
        let mut out = vec![0f32; 2 * n];
        let (d_gate, d_up) = out.split_at_mut(n);
        gradients_into(gate, up, dy, d_gate, d_up);
        let mut dims = vec![2];
        dims.extend_from_slice(l1.dims());
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}
