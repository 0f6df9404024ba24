//! A whole LoRA projection as one differentiable op on the CPU:
//! `y = x·Wᵀ (+ bias) + scale · (dropout(x)·Aᵀ)·Bᵀ`, differentiable in `x`, A and B.
//!
//! candle's backward sums every gradient a node receives into a fresh zero tensor
//! (`zeros + grad`), and every reshape is a node. Built from the first factor's op, the
//! branch's op and the reshapes that flatten `[batch, seq, in]` for each, one projection was
//! eight nodes, three of them reshapes as large as its input or output, and `x` took two
//! gradients (the base's and the branch's). A `perf` profile of an SFT step on SmolLM2 put those
//! sums at ~10% of the step (candle's `zeros_impl` and `Tensor::add` under `backward`). This op
//! takes `x` with any leading dimensions and returns them: one node, one gradient for `x`. The
//! rank-r factor `dropout(x)·Aᵀ` is recomputed in the backward (`tokens × in × r`
//! multiply-adds, a few percent of the base product's), so the op keeps only its inputs.

use candle_core::{bail, CpuStorage, CustomOp3, Device, Layout, Shape, Tensor, D};

use super::dropout_matmul::Dropout;
use super::gemm::{add_product, product, Mat};
use super::kernels::{each_row, f32s, last_dim, with_f32s};
use super::rms_norm::RmsNorm;
use crate::base_weight::BaseWeight;

/// What a LoRA projection applies besides its input and factors: the frozen `weight`
/// `[out, in]` and `bias` `[out]`, the branch's scale and its dropout (`None` keeps every
/// element). The three projection ops take it.
#[derive(Clone, Copy)]
pub(crate) struct Projection<'a> {
    pub(crate) weight: &'a BaseWeight,
    pub(crate) bias: Option<&'a Tensor>,
    pub(crate) scale: f64,
    pub(crate) dropout: Option<Dropout>,
}

/// The RMSNorm a projection applies to its input itself: its frozen weight `[in]` and eps.
#[derive(Clone, Copy)]
pub(crate) struct PreNorm<'a> {
    pub(crate) weight: &'a Tensor,
    pub(crate) eps: f32,
}

/// `x [.., in] · Wᵀ (+ bias) + scale · (dropout(x)·Aᵀ)·Bᵀ` with `a` `[r, in]` and `b`
/// `[out, r]`; `[.., out]`. f32 on the CPU (see [`super::supports`]).
///
/// With `pre_norm`, the projection of `rms_norm(x)`: the normalised input is made for the
/// forward's products and again in the backward, never kept. Composed, the norm's output
/// `[tokens, in]` stays alive until the backward ends for the projections that read it (q, k
/// and v; gate and up): two `[tokens, hidden]` tensors a decoder layer. Normalising is one
/// pass over a row against a product over it, so each projection repeats it.
pub(crate) fn lora_projection(
    x: &Tensor,
    pre_norm: Option<PreNorm>,
    a: &Tensor,
    b: &Tensor,
    projection: Projection,
) -> candle_core::Result<Tensor> {
    let op = ProjectionOp {
        pre_norm: pre_norm
            .map(|n| RmsNorm::frozen(n.weight, n.eps))
            .transpose()?,
        projection: LoraProjection::new(projection)?,
    };
    x.contiguous()?
        .apply_op3(&a.contiguous()?, &b.contiguous()?, op)
}

/// A and B as one tensor, A's values then B's: the ops that take two more inputs than the
/// projection's `x` (a residual, SwiGLU's gate and up) have one slot left for both factors
/// (candle's custom ops take at most three). Both are `r × (in or out)` values, a copy of
/// each the size of the adapter's.
pub(super) fn packed_factors(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    Tensor::cat(&[a.flatten_all()?, b.flatten_all()?], 0)
}

/// The packed factors' A `[r, k]` and B `[n, r]` (views into it).
pub(super) fn unpacked_factors(
    ab: &Tensor,
    k: usize,
    n: usize,
) -> candle_core::Result<(Tensor, Tensor)> {
    let r = ab.elem_count() / (k + n).max(1);
    if r * (k + n) != ab.elem_count() {
        bail!(
            "LoRA factors: {} values are not r × ({k} + {n})",
            ab.elem_count()
        );
    }
    let a = ab.narrow(0, 0, r * k)?.reshape((r, k))?;
    let b = ab.narrow(0, r * k, n * r)?.reshape((n, r))?;
    Ok((a, b))
}

impl LoraProjection {
    pub(super) fn new(p: Projection) -> candle_core::Result<Self> {
        Ok(Self {
            weight: match p.weight {
                BaseWeight::Dense(w) => BaseWeight::Dense(w.detach().contiguous()?),
                quantized => quantized.clone(),
            },
            bias: p.bias.map(|b| b.detach().contiguous()).transpose()?,
            scale: p.scale,
            dropout: p.dropout,
        })
    }

    /// The weight's output count.
    pub(super) fn outputs(&self) -> candle_core::Result<usize> {
        Ok(self.weight_dims()?.0)
    }
}

pub(super) struct LoraProjection {
    /// `[out, in]`
    weight: BaseWeight,
    /// `[out]`
    bias: Option<Tensor>,
    scale: f64,
    dropout: Option<Dropout>,
}

impl LoraProjection {
    /// The frozen weight as a dense CPU tensor (dequantized when quantized, for this product).
    fn dense_weight(&self) -> candle_core::Result<Tensor> {
        match &self.weight {
            BaseWeight::Dense(w) => Ok(w.clone()),
            BaseWeight::Quantized(q) => crate::dequantize::dequantize(q, &Device::Cpu),
        }
    }

    /// The weight's `[out, in]`.
    fn weight_dims(&self) -> candle_core::Result<(usize, usize)> {
        match &self.weight {
            BaseWeight::Dense(w) => w.dims2(),
            BaseWeight::Quantized(q) => q.shape().dims2(),
        }
    }

    /// `init + x·Wᵀ (+ bias) + scale · (dropout(x)·Aᵀ)·Bᵀ` for `x` `[m, k]`, A `[r, k]` and B
    /// `[n, r]`, `[m, n]`; `init` `None` starts from zero (without writing the zeros).
    pub(super) fn project(
        &self,
        xs: &[f32],
        (m, k): (usize, usize),
        a: &[f32],
        b: &[f32],
        init: Option<&[f32]>,
    ) -> candle_core::Result<Vec<f32>> {
        let (n, k_w) = self.weight_dims()?;
        let r = a.len() / k.max(1);
        if k_w != k || xs.len() != m * k || a.len() != r * k || b.len() != n * r {
            bail!(
                "LoRA projection: x [{m}, {k}], A of {}, B of {} and weight [{n}, {k_w}] do not fit",
                a.len(),
                b.len()
            );
        }
        if init.is_some_and(|init| init.len() != m * n) {
            bail!("LoRA projection: a residual of the wrong size for [{m}, {n}]");
        }
        let rows = |cols| Mat::rows(0, m, cols, cols);
        // The dropped copy lives only for the first factor's product.
        let dropped = self.dropout.map(|dropout| {
            let mut values = xs.to_vec();
            each_row(&mut values, k, |row, out| dropout.apply(row * k, out));
            values
        });
        let xd = dropped.as_deref().unwrap_or(xs);
        let mut xa = product(xd, rows(k), a, Mat::rows(0, r, k, k).t());
        // Scale the thin `[m, r]` factor rather than the `[m, n]` product.
        let scale = self.scale as f32;
        xa.iter_mut().for_each(|v| *v *= scale);
        let w = self.dense_weight()?;
        let mut y = with_f32s(&w, |w| {
            let wt = Mat::rows(0, n, k, k).t();
            Ok(match init {
                // gemm adds the product into a copy of the residual: no separate sum pass.
                Some(init) => {
                    let mut y = init.to_vec();
                    add_product(&mut y, xs, rows(k), w, wt, 1.0);
                    y
                }
                None => product(xs, rows(k), w, wt),
            })
        })?;
        // The branch is added into the base product by gemm itself, then the bias.
        add_product(&mut y, &xa, rows(r), b, Mat::rows(0, n, r, r).t(), 1.0);
        if let Some(bias) = &self.bias {
            let bias = bias.flatten_all()?.to_vec1::<f32>()?;
            if bias.len() != n {
                bail!("LoRA projection: a bias of {} for {n} outputs", bias.len());
            }
            each_row(&mut y, n, |_, out| {
                out.iter_mut().zip(&bias).for_each(|(o, c)| *o += c);
            });
        }
        Ok(y)
    }

    /// With `xd = dropout(x)` (its mask `M` recomputed) and `gB = scale · g·B`:
    /// `dx = g·W + (gB·A) ⊙ M`, `dA = gBᵀ·xd`, `dB = scale · gᵀ·(xd·Aᵀ)`; nothing for W and the
    /// bias (frozen). `x` `[m, k]` and `g` `[m, n]`, detached; `dx` as `[m, k]` values.
    pub(super) fn gradients(
        &self,
        x2: Tensor,
        a: &Tensor,
        b: &Tensor,
        g: &Tensor,
    ) -> candle_core::Result<(Vec<f32>, Tensor, Tensor)> {
        let (m, k) = x2.dims2()?;
        let n = g.dim(1)?;
        let g = g.contiguous()?;
        let mask = self
            .dropout
            .map(|dropout| dropout.mask(x2.shape(), x2.device()))
            .transpose()?;
        let xd = match &mask {
            Some(mask) => (&x2 * mask)?,
            None => x2.contiguous()?,
        };
        let r = b.dim(1)?;
        // The rank-r products on the fused ops' kernel rather than candle's matmul, whose gemm
        // splits them over rayon's threads at half the rate (`product_parts`).
        let rows = |rows, cols| Mat::rows(0, rows, cols, cols);
        let gb = (tensor_product((&g, rows(m, n)), (b, rows(n, r)))? * self.scale)?;
        // `dx = g·W`, then the branch added into it: by gemm itself without dropout, masked
        // in one pass with it.
        let mut dx = with_f32s(&g, |gs| {
            with_f32s(&self.dense_weight()?, |w| {
                Ok(product(gs, Mat::rows(0, m, n, n), w, Mat::rows(0, n, k, k)))
            })
        })?;
        match &mask {
            None => with_f32s(&gb, |gb| {
                with_f32s(a, |a| {
                    let (l, rt) = (Mat::rows(0, m, r, r), Mat::rows(0, r, k, k));
                    add_product(&mut dx, gb, l, a, rt, 1.0);
                    Ok(())
                })
            })?,
            Some(mask) => {
                let branch = tensor_product((&gb, rows(m, r)), (a, rows(r, k)))?;
                with_f32s(&branch, |branch| {
                    with_f32s(mask, |mask| {
                        each_row(&mut dx, k, |row, out| {
                            let span = row * k..(row + 1) * k;
                            for ((o, b), m) in
                                out.iter_mut().zip(&branch[span.clone()]).zip(&mask[span])
                            {
                                *o += b * m;
                            }
                        });
                        Ok(())
                    })
                })?
            }
        }
        let da = tensor_product((&gb, rows(m, r).t()), (&xd, rows(m, k)))?;
        let xa = tensor_product((&xd, rows(m, k)), (a, rows(r, k).t()))?;
        let db = (tensor_product((&g, rows(m, n).t()), (&xa, rows(m, r)))? * self.scale)?;
        Ok((dx, da, db))
    }
}

/// `l · r` of two contiguous f32 CPU tensors, each read as the matrix its [`Mat`] says, as a
/// `[l.rows, r.cols]` tensor.
fn tensor_product((lt, l): (&Tensor, Mat), (rt, r): (&Tensor, Mat)) -> candle_core::Result<Tensor> {
    let out = with_f32s(lt, |ls| with_f32s(rt, |rs| Ok(product(ls, l, rs, r))))?;
    Tensor::from_vec(out, (l.rows, r.cols), lt.device())
}

/// The projection alone, of `x` or of its normalisation.
struct ProjectionOp {
    pre_norm: Option<RmsNorm>,
    projection: LoraProjection,
}

impl ProjectionOp {
    /// `x`'s rows normalised, or `None` without a pre-norm.
    fn normalized(&self, x: &[f32], k: usize) -> candle_core::Result<Option<Vec<f32>>> {
        let Some(norm) = &self.pre_norm else {
            return Ok(None);
        };
        norm.check(k)?;
        Ok(Some(norm.normalize(x)?))
    }
}

impl CustomOp3 for ProjectionOp {
    fn name(&self) -> &'static str {
        "hone-lora-projection"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_l: &Layout,
        a: &CpuStorage,
        a_l: &Layout,
        b: &CpuStorage,
        b_l: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let k = last_dim(x_l)?;
        let m = x_l.shape().elem_count() / k.max(1);
        let (r, k_a) = a_l.shape().dims2()?;
        let (n, r_b) = b_l.shape().dims2()?;
        if self.projection.weight_dims()? != (n, k) || k_a != k || r_b != r {
            bail!(
                "LoRA projection: x {:?}, A {:?}, B {:?} and weight {:?} do not fit",
                x_l.shape(),
                a_l.shape(),
                b_l.shape(),
                self.projection.weight_dims()?
            );
        }
        let (xs, a, b) = (f32s(x, x_l)?, f32s(a, a_l)?, f32s(b, b_l)?);
        let normed = self.normalized(xs, k)?;
        let input = normed.as_deref().unwrap_or(xs);
        let y = self.projection.project(input, (m, k), a, b, None)?;
        let mut dims = x_l.dims().to_vec();
        *dims.last_mut().expect("x has a last axis") = n;
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }

    /// [`LoraProjection::gradients`], then the norm's backward with a pre-norm.
    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        // Detached: a gradient built on forward tensors would carry their graph.
        let (x, a, b, grad) = (x.detach(), a.detach(), b.detach(), grad.detach());
        let k = x.dim(D::Minus1)?;
        let n = grad.dim(D::Minus1)?;
        let m = x.elem_count() / k.max(1);
        let x2 = x.reshape((m, k))?.contiguous()?;
        let grad = grad.reshape((m, n))?;
        let (dx, da, db) = match &self.pre_norm {
            None => self.projection.gradients(x2, &a, &b, &grad)?,
            Some(norm) => {
                norm.check(k)?;
                let normed = with_f32s(&x2, |xs| norm.normalize(xs))?;
                let normed = Tensor::from_vec(normed, (m, k), &Device::Cpu)?;
                let (d_normed, da, db) = self.projection.gradients(normed, &a, &b, &grad)?;
                let dx = with_f32s(&x2, |xs| norm.input_gradient(xs, &d_normed))?;
                (dx, da, db)
            }
        };
        let dx = Tensor::from_vec(dx, x.shape(), &Device::Cpu)?;
        Ok((Some(dx), Some(da), Some(db)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Var;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::test_tensors::{assert_same_output_and_gradients, random, values_and_gradients};

    /// The composition the model ran before this op: dropout, the first factor, the frozen
    /// product, the scaled branch and the bias.
    fn composed(
        x: &Tensor,
        a: &Tensor,
        b: &Tensor,
        weight: &Tensor,
        bias: Option<&Tensor>,
        scale: f64,
        dropout: Option<Dropout>,
    ) -> Tensor {
        let xd = match dropout {
            Some(d) => (x * d.mask(x.shape(), x.device()).unwrap()).unwrap(),
            None => x.clone(),
        };
        let xa = xd.broadcast_matmul(&a.t().unwrap()).unwrap();
        let base = x.broadcast_matmul(&weight.t().unwrap()).unwrap();
        let base = match bias {
            Some(bias) => base.broadcast_add(bias).unwrap(),
            None => base,
        };
        let delta = (xa.broadcast_matmul(&b.t().unwrap()).unwrap() * scale).unwrap();
        (base + delta).unwrap()
    }

    /// The tensors of shape `dims` that the graph behind `y` holds (`y` included).
    fn nodes_shaped(y: &Tensor, dims: &[usize]) -> Vec<candle_core::TensorId> {
        y.sorted_nodes()
            .iter()
            .filter(|t| t.dims() == dims)
            .map(|t| t.id())
            .collect()
    }

    #[test]
    fn output_and_gradients_equal_the_composition_with_and_without_dropout_bias_and_a_pre_norm() {
        let mut rng = StdRng::seed_from_u64(21);
        let (batch, seq, input, out, rank, scale, eps) = (2, 5, 12, 7, 3, 2.5, 1e-5);
        // Values in [−1, 1): the products stay small enough for f32 sums to agree to 1e-5.
        let random = |rng: &mut StdRng, shape: &[usize]| (random(rng, shape) * 0.5).unwrap();
        let weight = random(&mut rng, &[out, input]);
        let bias = random(&mut rng, &[out]);
        // A norm weight away from 1, so that a pre-norm that dropped it would be seen.
        let norm_weight = (random(&mut rng, &[input]) + 1.5).unwrap();
        let pre_norm = PreNorm {
            weight: &norm_weight,
            eps: eps as f32,
        };
        for (pre_norm, dropout, bias) in [
            (None, None, None),
            (None, None, Some(&bias)),
            (None, Some(Dropout::new(0.3, 9)), Some(&bias)),
            (Some(pre_norm), None, None),
            (Some(pre_norm), Some(Dropout::new(0.3, 9)), Some(&bias)),
        ] {
            let x = Var::from_tensor(&random(&mut rng, &[batch, seq, input])).unwrap();
            let a = Var::from_tensor(&random(&mut rng, &[rank, input])).unwrap();
            let b = Var::from_tensor(&random(&mut rng, &[out, rank])).unwrap();
            let (xt, at, bt) = (x.as_tensor(), a.as_tensor(), b.as_tensor());
            let dense = BaseWeight::Dense(weight.clone());
            let projection = Projection {
                weight: &dense,
                bias,
                scale,
                dropout,
            };
            let fused = lora_projection(xt, pre_norm, at, bt, projection).unwrap();
            assert_eq!(fused.dims(), &[batch, seq, out]);
            let vars = [("x", &x), ("A", &a), ("B", &b)];
            let Some(pre_norm) = pre_norm else {
                let composed = composed(xt, at, bt, &weight, bias, scale, dropout);
                assert_same_output_and_gradients(&mut rng, &fused, &composed, &vars, (1e-5, 1e-5));
                continue;
            };
            let normed = candle_nn::ops::rms_norm_slow(xt, pre_norm.weight, pre_norm.eps).unwrap();
            let composed = composed(&normed, at, bt, &weight, bias, scale, dropout);
            // Normalised rows reach ~5 here: f32 sums in another order differ by a few ulps.
            assert_same_output_and_gradients(&mut rng, &fused, &composed, &vars, (1e-4, 1e-4));
            // The graph is the op and its inputs: no normalised `[.., in]` tensor is kept.
            assert_eq!(nodes_shaped(&fused, &[batch, seq, input]), vec![xt.id()]);
        }
    }

    #[test]
    fn a_pre_norm_of_another_width_is_refused_naming_both() {
        let mut rng = StdRng::seed_from_u64(27);
        let (input, out, rank) = (12, 7, 3);
        let weight = random(&mut rng, &[out, input]);
        let x = random(&mut rng, &[2, 3, input]);
        let (a, b) = (
            random(&mut rng, &[rank, input]),
            random(&mut rng, &[out, rank]),
        );
        let narrow = random(&mut rng, &[input - 1]);
        let dense = BaseWeight::Dense(weight);
        let projection = Projection {
            weight: &dense,
            bias: None,
            scale: 1.0,
            dropout: None,
        };
        let pre_norm = PreNorm {
            weight: &narrow,
            eps: 1e-5,
        };
        let err = lora_projection(&x, Some(pre_norm), &a, &b, projection).unwrap_err();
        assert!(
            err.to_string()
                .contains("input has 12 features, weight is [11]"),
            "{err}"
        );
    }

    #[test]
    fn added_to_a_residual_it_equals_the_sum_with_every_gradient_and_keeps_no_projection_output() {
        use super::super::added_projection::lora_projection_added;
        let mut rng = StdRng::seed_from_u64(24);
        let (batch, seq, input, out, rank, scale) = (2, 5, 12, 7, 3, 2.5);
        let random = |rng: &mut StdRng, shape: &[usize]| (random(rng, shape) * 0.5).unwrap();
        let weight = random(&mut rng, &[out, input]);
        let bias = random(&mut rng, &[out]);
        for (dropout, bias) in [(None, None), (Some(Dropout::new(0.3, 9)), Some(&bias))] {
            let x = Var::from_tensor(&random(&mut rng, &[batch, seq, input])).unwrap();
            let residual = Var::from_tensor(&random(&mut rng, &[batch, seq, out])).unwrap();
            let a = Var::from_tensor(&random(&mut rng, &[rank, input])).unwrap();
            let b = Var::from_tensor(&random(&mut rng, &[out, rank])).unwrap();
            let (xt, rt, at, bt) = (
                x.as_tensor(),
                residual.as_tensor(),
                a.as_tensor(),
                b.as_tensor(),
            );
            let dense = BaseWeight::Dense(weight.clone());
            let projection = Projection {
                weight: &dense,
                bias,
                scale,
                dropout,
            };
            let fused = lora_projection_added(xt, rt, at, bt, projection).unwrap();
            let composed = (rt + composed(xt, at, bt, &weight, bias, scale, dropout)).unwrap();
            let vars = [("x", &x), ("residual", &residual), ("A", &a), ("B", &b)];
            assert_same_output_and_gradients(&mut rng, &fused, &composed, &vars, (1e-5, 1e-5));
            // The graph holds no `[.., out]` tensor but the output and the residual: the
            // projection's own output is never kept.
            let outputs = nodes_shaped(&fused, &[batch, seq, out]);
            assert_eq!(outputs.len(), 2, "{outputs:?}");
        }
        let x = random(&mut rng, &[2, 3, 12]);
        let (a, b) = (
            random(&mut rng, &[rank, 12]),
            random(&mut rng, &[out, rank]),
        );
        let wrong = random(&mut rng, &[2, 3, out + 1]);
        let dense = BaseWeight::Dense(weight);
        let projection = Projection {
            weight: &dense,
            bias: None,
            scale: 1.0,
            dropout: None,
        };
        let err = lora_projection_added(&x, &wrong, &a, &b, projection).unwrap_err();
        assert!(
            err.to_string().contains("the residual is [2, 3, 8]"),
            "{err}"
        );
    }

    #[test]
    fn of_swiglu_s_product_it_equals_the_composition_with_every_gradient_and_keeps_no_product() {
        use super::super::swiglu_projection::swiglu_lora_projection;
        let mut rng = StdRng::seed_from_u64(25);
        let (batch, seq, input, out, rank, scale) = (2, 5, 12, 7, 3, 2.5);
        let random = |rng: &mut StdRng, shape: &[usize]| (random(rng, shape) * 0.5).unwrap();
        let weight = random(&mut rng, &[out, input]);
        for dropout in [None, Some(Dropout::new(0.3, 9))] {
            let gate = Var::from_tensor(&random(&mut rng, &[batch, seq, input])).unwrap();
            let up = Var::from_tensor(&random(&mut rng, &[batch, seq, input])).unwrap();
            let a = Var::from_tensor(&random(&mut rng, &[rank, input])).unwrap();
            let b = Var::from_tensor(&random(&mut rng, &[out, rank])).unwrap();
            let (gt, ut, at, bt) = (
                gate.as_tensor(),
                up.as_tensor(),
                a.as_tensor(),
                b.as_tensor(),
            );
            let dense = BaseWeight::Dense(weight.clone());
            let projection = Projection {
                weight: &dense,
                bias: None,
                scale,
                dropout,
            };
            let fused = swiglu_lora_projection(gt, ut, at, bt, projection).unwrap();
            let product = (candle_nn::ops::silu(gt).unwrap() * ut).unwrap();
            let composed = composed(&product, at, bt, &weight, None, scale, dropout);
            let vars = [("gate", &gate), ("up", &up), ("A", &a), ("B", &b)];
            assert_same_output_and_gradients(&mut rng, &fused, &composed, &vars, (1e-5, 1e-5));
            // Of the `[.., in]` tensors, the graph holds gate and up only.
            assert_eq!(nodes_shaped(&fused, &[batch, seq, input]).len(), 2);
        }
    }

    #[test]
    fn packed_factors_unpack_to_a_and_b_and_a_wrong_count_is_refused() {
        let mut rng = StdRng::seed_from_u64(26);
        let (a, b) = (random(&mut rng, &[3, 5]), random(&mut rng, &[4, 3]));
        let ab = packed_factors(&a, &b).unwrap();
        let (a2, b2) = unpacked_factors(&ab, 5, 4).unwrap();
        assert_eq!(a2.to_vec2::<f32>().unwrap(), a.to_vec2::<f32>().unwrap());
        assert_eq!(b2.to_vec2::<f32>().unwrap(), b.to_vec2::<f32>().unwrap());
        let err = unpacked_factors(&ab, 6, 4).unwrap_err();
        assert!(
            err.to_string().contains("27 values are not r × (6 + 4)"),
            "{err}"
        );
    }

    #[test]
    fn the_graph_behind_the_output_is_the_op_and_its_three_inputs() {
        // What the op is for: no reshape or intermediate node whose gradient the backward
        // would sum (the composition had eight nodes per projection).
        let mut rng = StdRng::seed_from_u64(22);
        let x = Var::from_tensor(&random(&mut rng, &[2, 3, 8])).unwrap();
        let a = Var::from_tensor(&random(&mut rng, &[2, 8])).unwrap();
        let b = Var::from_tensor(&random(&mut rng, &[4, 2])).unwrap();
        let weight = BaseWeight::Dense(random(&mut rng, &[4, 8]));
        let (xt, at, bt) = (x.as_tensor(), a.as_tensor(), b.as_tensor());
        let projection = Projection {
            weight: &weight,
            bias: None,
            scale: 1.0,
            dropout: None,
        };
        let y = lora_projection(xt, None, at, bt, projection).unwrap();
        let nodes: Vec<_> = y.sorted_nodes().iter().map(|t| t.id()).collect();
        assert_eq!(nodes.len(), 4, "y, x, A and B");
        assert!([&y, xt, at, bt].iter().all(|t| nodes.contains(&t.id())));
    }

    #[test]
    fn a_quantized_weight_gives_what_its_dequantized_matrix_gives_with_every_gradient() {
        use candle_core::quantized::{GgmlDType, QTensor};
        let mut rng = StdRng::seed_from_u64(23);
        let (rows, input, out, rank) = (20, 64, 8, 4);
        let q = QTensor::quantize(&random(&mut rng, &[out, input]), GgmlDType::Q4_1).unwrap();
        let dense = q.dequantize(&Device::Cpu).unwrap();
        let quantized = BaseWeight::Quantized(std::sync::Arc::new(q));
        let x = Var::from_tensor(&random(&mut rng, &[rows, input])).unwrap();
        let a = Var::from_tensor(&random(&mut rng, &[rank, input])).unwrap();
        let b = Var::from_tensor(&random(&mut rng, &[out, rank])).unwrap();
        let dropout = Some(Dropout::new(0.1, 3));
        let run = |w: &BaseWeight| {
            let projection = Projection {
                weight: w,
                bias: None,
                scale: 2.0,
                dropout,
            };
            let y = lora_projection(
                x.as_tensor(),
                None,
                a.as_tensor(),
                b.as_tensor(),
                projection,
            )
            .unwrap();
            values_and_gradients(&y, &[&x, &a, &b])
        };
        assert_eq!(run(&quantized), run(&BaseWeight::Dense(dense)));
    }
}
