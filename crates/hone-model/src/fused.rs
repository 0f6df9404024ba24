//! Fused differentiable kernels for training on the CPU: softmax over the last axis, RMSNorm
//! with a frozen weight, and half-rotation RoPE, each one pass over its rows forward and one
//! backward. candle's own fused kernels have no backward, and its differentiable versions are
//! compositions of broadcast ops whose forward and backward make a dozen passes and
//! allocations; these ops make one each way.
//!
//! Only f32 tensors on the CPU are handled ([`supports`]); callers choose at run time and keep
//! candle's composed paths for every other dtype and device (bf16 on CUDA, f16 on Metal).
//! [`composed`] forces the composed paths on the CPU too, so tests check them against the
//! fused ones on a machine without a GPU.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp1, CustomOp2, DType, Layout, Shape, Storage, Tensor};
use std::cell::Cell;
use std::sync::Mutex;

thread_local! {
    /// Set inside [`composed`]: the fused ops are declined on this thread.
    static COMPOSED_ONLY: Cell<bool> = const { Cell::new(false) };
}

/// Whether the fused ops can run on `x`: f32 on the CPU, outside [`composed`].
pub fn supports(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32 && !COMPOSED_ONLY.with(Cell::get)
}

/// Runs `f` with the fused ops declined on this thread: every op takes the composed path a GPU
/// takes (the model's forward and backward run on the calling thread; only the fused kernels'
/// insides use worker threads).
pub fn composed<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            COMPOSED_ONLY.with(|c| c.set(self.0));
        }
    }
    let _restore = Restore(COMPOSED_ONLY.with(|c| c.replace(true)));
    f()
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
    let weight = weight.detach().contiguous()?;
    x.contiguous()?.apply_op1(RmsNorm { weight, eps })
}

/// Rotates `x` `[batch, heads, seq, head_dim]` by `cos`/`sin` `[seq, head_dim / 2]` in the
/// half-rotation layout (`x·cos + rotate_half(x)·sin`), differentiable in `x`; f32 on the CPU.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    let (_, _, t, d) = x.dims4()?;
    if d % 2 != 0 || cos.dims2()? != (t, d / 2) || sin.dims2()? != (t, d / 2) {
        bail!(
            "fused rope: x {:?} needs cos/sin [{t}, {}], got {:?} and {:?}",
            x.shape(),
            d / 2,
            cos.shape(),
            sin.shape()
        );
    }
    let op = Rope {
        cos: cos.detach().contiguous()?,
        sin: sin.detach().contiguous()?,
        inverse: false,
    };
    x.contiguous()?.apply_op1(op)
}

/// Rows are handed to threads in chunks of about this many elements.
const GRAIN: usize = 1 << 14;

/// Fills `out` row by row (`width` elements each) with `f(row_index, out_row)`, in chunks of
/// rows shared among candle's CPU worker threads (the pool its element-wise ops run on, so
/// these kernels neither wait for nor compete with a second pool).
fn each_row(out: &mut [f32], width: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    if width == 0 || out.is_empty() {
        return;
    }
    let rows_per_chunk = (GRAIN / width).max(1);
    let chunk_len = rows_per_chunk * width;
    if out.len() <= chunk_len {
        out.chunks_mut(width)
            .enumerate()
            .for_each(|(i, row)| f(i, row));
        return;
    }
    // Each chunk is taken by exactly one thread: its lock is never contended.
    let chunks: Vec<Mutex<&mut [f32]>> = out.chunks_mut(chunk_len).map(Mutex::new).collect();
    candle_core::utils::barrier_pool().execute_chunked(chunks.len(), |range| {
        for c in range {
            let mut chunk = chunks[c].lock().unwrap_or_else(|e| e.into_inner());
            for (i, row) in chunk.chunks_mut(width).enumerate() {
                f(c * rows_per_chunk + i, row);
            }
        }
    });
}

/// The f32 elements of a contiguous tensor's storage, from its layout's start offset.
fn f32s<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(all) = storage else {
        bail!("fused op: expects f32, got {:?}", storage.dtype())
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&all[start..end]),
        None => bail!("fused op: expects a contiguous tensor"),
    }
}

/// Runs `f` on the f32 elements of a contiguous CPU tensor.
fn with_f32s<R>(
    t: &Tensor,
    f: impl FnOnce(&[f32]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let (storage, layout) = t.storage_and_layout();
    let Storage::Cpu(cpu) = &*storage else {
        bail!("fused op: tensor is not on the CPU")
    };
    f(f32s(cpu, layout)?)
}

/// The last axis' size, or an error for a scalar.
fn last_dim(layout: &Layout) -> candle_core::Result<usize> {
    match layout.dims().last() {
        Some(&d) => Ok(d),
        None => bail!("fused op: expects at least one dimension"),
    }
}

/// An element-wise kernel over two same-shaped contiguous f32 tensors (a saved forward value
/// and the incoming gradient), row by row: the backward passes, run with
/// `apply_op2_no_bwd`.
struct RowKernel2<F> {
    name: &'static str,
    row: F,
}

impl<F: Fn(&[f32], &[f32], &mut [f32]) + Sync> CustomOp2 for RowKernel2<F> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        if l1.shape() != l2.shape() {
            bail!(
                "{}: shapes {:?} and {:?} differ",
                self.name,
                l1.shape(),
                l2.shape()
            );
        }
        let (a, b) = (f32s(s1, l1)?, f32s(s2, l2)?);
        let width = last_dim(l1)?;
        let mut out = vec![0f32; a.len()];
        each_row(&mut out, width, |i, o| {
            let span = i * width..(i + 1) * width;
            (self.row)(&a[span.clone()], &b[span], o)
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

/// `apply_op2_no_bwd` with a row kernel, after making both operands contiguous.
fn row_kernel2(
    name: &'static str,
    a: &Tensor,
    b: &Tensor,
    row: impl Fn(&[f32], &[f32], &mut [f32]) + Sync,
) -> candle_core::Result<Tensor> {
    a.contiguous()?
        .apply_op2_no_bwd(&b.contiguous()?, &RowKernel2 { name, row })
}

struct Softmax;

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
            let max = row_max(row);
            for (o, &v) in out.iter_mut().zip(row) {
                *o = (v - max).exp();
            }
            let scale = 1.0 / sum_pairs(out, out, |e, _| e);
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

/// Independent accumulators in the row reductions, so that the compiler can vectorise them.
const LANES: usize = 8;

/// The largest element of a row (−∞ for an empty one).
fn row_max(row: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = row.chunks_exact(LANES);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..LANES {
            acc[k] = if c[k] > acc[k] { c[k] } else { acc[k] };
        }
    }
    acc.iter()
        .chain(rest)
        .fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// `Σ f(aᵢ, bᵢ)` over two rows of the same length.
fn sum_pairs(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let rest = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum::<f32>();
    for (x, y) in ca.zip(cb) {
        for k in 0..LANES {
            acc[k] += f(x[k], y[k]);
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `Σ f(aᵢ, bᵢ, cᵢ)` over three rows of the same length.
fn sum_triples(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let (ca, cb, cc) = (
        a.chunks_exact(LANES),
        b.chunks_exact(LANES),
        c.chunks_exact(LANES),
    );
    let rest = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .zip(cc.remainder())
        .map(|((&x, &y), &z)| f(x, y, z))
        .sum::<f32>();
    for ((x, y), z) in ca.zip(cb).zip(cc) {
        for k in 0..LANES {
            acc[k] += f(x[k], y[k], z[k]);
        }
    }
    acc.iter().sum::<f32>() + rest
}

/// `1 / sqrt(mean(x²) + eps)` of one row.
fn inverse_rms(row: &[f32], eps: f32) -> f32 {
    let squares = sum_pairs(row, row, |a, _| a * a);
    1.0 / (squares / row.len() as f32 + eps).sqrt()
}

struct RmsNorm {
    /// `[hidden]`, contiguous, no gradient.
    weight: Tensor,
    eps: f32,
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

/// Half-rotation RoPE of `[.., seq, head_dim]` rows; `inverse` rotates by the opposite angle
/// (the transpose, which is the backward).
struct Rope {
    /// `[seq, head_dim / 2]`, contiguous.
    cos: Tensor,
    sin: Tensor,
    inverse: bool,
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

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var, D};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn random(rng: &mut StdRng, shape: &[usize]) -> Tensor {
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect();
        Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.shape(), b.shape());
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    /// Runs `fused` and `slow` on the same variable: the outputs, and the gradients of
    /// `Σ op(x)·r` for a random `r`, must agree.
    fn check(
        rng: &mut StdRng,
        x: Tensor,
        input: impl Fn(&Tensor) -> Tensor,
        fused: impl Fn(&Tensor) -> Tensor,
        slow: impl Fn(&Tensor) -> Tensor,
    ) {
        let x = Var::from_tensor(&x).unwrap();
        let (a, b) = (fused(&input(x.as_tensor())), slow(&input(x.as_tensor())));
        let forward = max_diff(&a, &b);
        assert!(forward <= 1e-6, "forward differs by {forward}");
        let r = random(rng, a.dims());
        let grad = |y: &Tensor| {
            (y * &r)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap()
                .get(x.as_tensor())
                .unwrap()
                .clone()
        };
        let backward = max_diff(&grad(&a), &grad(&b));
        assert!(backward <= 1e-5, "input gradient differs by {backward}");
    }

    #[test]
    fn softmax_and_its_gradient_equal_candles_composed_softmax() {
        let mut rng = StdRng::seed_from_u64(1);
        let x = random(&mut rng, &[2, 3, 5, 7]);
        let same = |x: &Tensor| x.clone();
        check(
            &mut rng,
            x,
            same,
            |x| softmax_last_dim(x).unwrap(),
            |x| candle_nn::ops::softmax(x, D::Minus1).unwrap(),
        );
    }

    #[test]
    fn softmax_of_a_causally_masked_score_matrix_matches_the_composed_path() {
        let mut rng = StdRng::seed_from_u64(2);
        let (t, s) = (6, 6);
        let mask: Vec<f32> = (0..t * s)
            .map(|k| {
                if k % s > k / s {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::from_vec(mask, (t, s), &Device::Cpu).unwrap();
        let masked = |x: &Tensor| x.broadcast_add(&mask).unwrap();
        let x = random(&mut rng, &[2, t, s]);
        check(
            &mut rng,
            x,
            masked,
            |x| softmax_last_dim(x).unwrap(),
            |x| candle_nn::ops::softmax(x, D::Minus1).unwrap(),
        );
    }

    #[test]
    fn softmax_of_rows_split_across_threads_matches_the_composed_path() {
        let mut rng = StdRng::seed_from_u64(7);
        let x = random(&mut rng, &[3, 20, 700]);
        assert!(x.elem_count() > 2 * GRAIN, "several tasks");
        let same = |x: &Tensor| x.clone();
        check(
            &mut rng,
            x,
            same,
            |x| softmax_last_dim(x).unwrap(),
            |x| candle_nn::ops::softmax(x, D::Minus1).unwrap(),
        );
    }

    #[test]
    fn rms_norm_and_its_input_gradient_equal_candles_rms_norm_slow() {
        let mut rng = StdRng::seed_from_u64(3);
        let w = random(&mut rng, &[16]);
        let x = random(&mut rng, &[2, 5, 16]);
        let same = |x: &Tensor| x.clone();
        check(
            &mut rng,
            x,
            same,
            |x| rms_norm_frozen_weight(x, &w, 1e-5).unwrap(),
            |x| candle_nn::ops::rms_norm_slow(x, &w, 1e-5).unwrap(),
        );
    }

    #[test]
    fn rms_norm_leaves_its_weight_without_a_gradient() {
        let mut rng = StdRng::seed_from_u64(4);
        let w = Var::from_tensor(&random(&mut rng, &[8])).unwrap();
        let x = Var::from_tensor(&random(&mut rng, &[3, 8])).unwrap();
        let grads = rms_norm_frozen_weight(x.as_tensor(), w.as_tensor(), 1e-6)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(grads.get(x.as_tensor()).is_some());
        assert!(grads.get(w.as_tensor()).is_none());
    }

    #[test]
    fn rope_of_a_transposed_input_and_its_gradient_equal_candles_rope_slow() {
        let mut rng = StdRng::seed_from_u64(5);
        let (b, h, t, d, positions, offset) = (2, 3, 4, 8, 10, 3);
        // As rope.rs passes them: rows `offset..offset + t` of the full tables.
        let cos = random(&mut rng, &[positions, d / 2])
            .narrow(0, offset, t)
            .unwrap();
        let sin = random(&mut rng, &[positions, d / 2])
            .narrow(0, offset, t)
            .unwrap();
        // `[b, t, h, d]` seen as `[b, h, t, d]`, as the attention's heads are.
        let x = random(&mut rng, &[b, t, h, d]);
        let heads = |x: &Tensor| x.transpose(1, 2).unwrap();
        assert!(!heads(&x).is_contiguous());
        check(
            &mut rng,
            x,
            heads,
            |x| rope(x, &cos, &sin).unwrap(),
            |x| candle_nn::rotary_emb::rope_slow(&x.contiguous().unwrap(), &cos, &sin).unwrap(),
        );
    }

    #[test]
    fn fused_rope_equals_candles_fused_rope() {
        let mut rng = StdRng::seed_from_u64(6);
        let (cos, sin) = (random(&mut rng, &[5, 4]), random(&mut rng, &[5, 4]));
        let x = random(&mut rng, &[1, 2, 5, 8]);
        let ours = rope(&x, &cos, &sin).unwrap();
        let candle = candle_nn::rotary_emb::rope(&x, &cos, &sin).unwrap();
        assert!(max_diff(&ours, &candle) <= 1e-6);
    }
}
