//! LoRA's first factor behind dropout, `dropout(x)·Aᵀ`, as one op whose mask is a function of
//! a seed and the element's index, never stored.
//!
//! Composed, dropout keeps two `[tokens, in]` tensors alive per adapted projection until the
//! backward ends (the mask and `x·mask`): on a Llama layer's seven projections that is about
//! as much memory as the rest of the layer's activations. PEFT draws an independent mask per
//! projection; so does this op (one seed each), and it recomputes the mask in the backward
//! from the seed, so it keeps only `x` (kept anyway) and A.

use candle_core::backend::BackendStorage;
use candle_core::{bail, CpuStorage, CustomOp2, Device, Layout, Shape, Tensor};

use super::kernels::{each_row, f32s};

/// One dropout mask: element `i` is kept (scaled by `1/keep`) when a hash of `(seed, i)` falls
/// under `keep`, else zeroed. Counter-based, so any thread can compute any element.
#[derive(Debug, Clone, Copy)]
pub struct Dropout {
    seed: u64,
    keep: f32,
}

impl Dropout {
    /// Drops each element with probability `p` (in [0, 1)).
    pub fn new(p: f64, seed: u64) -> Self {
        Self {
            seed,
            keep: (1.0 - p) as f32,
        }
    }

    /// Uniform in [0, 1) from the element index (SplitMix64's finaliser over the seeded
    /// counter; 24 bits, an f32's mantissa).
    fn uniform(&self, index: usize) -> f32 {
        let mut z = self.seed.wrapping_add(
            (index as u64)
                .wrapping_add(1)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 40) as f32 / (1u32 << 24) as f32
    }

    /// The mask's value at element `index`: `1/keep` or 0.
    pub fn value(&self, index: usize) -> f32 {
        if self.uniform(index) < self.keep {
            1.0 / self.keep
        } else {
            0.0
        }
    }

    /// `values[i] · mask[first + i]`, in place.
    pub(super) fn apply(&self, first: usize, values: &mut [f32]) {
        for (i, v) in values.iter_mut().enumerate() {
            *v *= self.value(first + i);
        }
    }

    /// The whole mask of a `shape`-d tensor, for the composed path (GPUs) and the backward.
    pub fn mask(&self, shape: &Shape, device: &Device) -> candle_core::Result<Tensor> {
        let width = shape.dims().last().copied().unwrap_or(1).max(1);
        let mut values = vec![1f32; shape.elem_count()];
        each_row(&mut values, width, |row, out| self.apply(row * width, out));
        Tensor::from_vec(values, shape, &Device::Cpu)?.to_device(device)
    }
}

/// `dropout(x [.., in]) · aᵀ` with `a` `[r, in]`, flattening the leading dimensions;
/// differentiable in `x` and `a`; f32 on the CPU (see [`super::supports`]).
pub fn dropout_matmul_t(x: &Tensor, a: &Tensor, dropout: Dropout) -> candle_core::Result<Tensor> {
    let dims = x.dims();
    let (lead, inner) = dims.split_at(dims.len() - 1);
    let rows: usize = lead.iter().product();
    let x2 = x.reshape((rows, inner[0]))?.contiguous()?;
    let y = x2.apply_op2(&a.contiguous()?, DropoutMatmul(dropout))?;
    let mut out_shape = lead.to_vec();
    out_shape.push(a.dim(0)?);
    y.reshape(out_shape)
}

struct DropoutMatmul(Dropout);

impl CustomOp2 for DropoutMatmul {
    fn name(&self) -> &'static str {
        "hone-dropout-matmul"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_l: &Layout,
        a: &CpuStorage,
        a_l: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (m, k) = x_l.shape().dims2()?;
        let (r, k2) = a_l.shape().dims2()?;
        if k != k2 {
            bail!(
                "dropout matmul: x {:?} and A {:?} do not fit",
                x_l.shape(),
                a_l.shape()
            );
        }
        // The dropped copy lives only for this product.
        let xs = f32s(x, x_l)?;
        let mut dropped = vec![0f32; xs.len()];
        each_row(&mut dropped, k, |row, out| {
            out.copy_from_slice(&xs[row * k..(row + 1) * k]);
            self.0.apply(row * k, out);
        });
        let y = CpuStorage::F32(dropped).matmul(
            a,
            (1, m, r, k),
            &Layout::contiguous((m, k)),
            &a_l.transpose(0, 1)?,
        )?;
        Ok((y, Shape::from((m, r))))
    }

    /// With the mask `M` recomputed: `dx = (g·A) ⊙ M`, `dA = gᵀ·(x ⊙ M)`.
    fn bwd(
        &self,
        x: &Tensor,
        a: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        // Detached: a gradient built on forward tensors would carry their graph.
        let (x, a, grad) = (x.detach(), a.detach(), grad.detach());
        let mask = self.0.mask(x.shape(), x.device())?;
        let dx = (grad.matmul(&a)? * &mask)?;
        let da = grad.t()?.matmul(&(x * mask)?)?;
        Ok((Some(dx), Some(da)))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Var;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::test_tensors::{assert_same_output_and_gradients, random};

    #[test]
    fn output_and_gradients_equal_the_composition_with_the_same_mask() {
        let mut rng = StdRng::seed_from_u64(5);
        let dropout = Dropout::new(0.3, 77);
        let x = Var::from_tensor(&random(&mut rng, &[2, 9, 40])).unwrap();
        let a = Var::from_tensor(&random(&mut rng, &[4, 40])).unwrap();
        let fused = dropout_matmul_t(x.as_tensor(), a.as_tensor(), dropout).unwrap();
        let mask = dropout.mask(x.shape(), &Device::Cpu).unwrap();
        let composed = (x.as_tensor() * mask)
            .unwrap()
            .broadcast_matmul(&a.as_tensor().t().unwrap())
            .unwrap();
        let vars = [("x", &x), ("A", &a)];
        assert_same_output_and_gradients(&mut rng, &fused, &composed, &vars, (1e-4, 1e-4));
    }

    #[test]
    fn the_mask_drops_about_p_and_scales_the_rest_to_keep_the_mean() {
        let p = 0.25;
        let n = 200_000;
        let a = Dropout::new(p, 1);
        let mask = a.mask(&Shape::from((n / 100, 100)), &Device::Cpu).unwrap();
        let values = mask.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let dropped = values.iter().filter(|&&v| v == 0.0).count() as f64 / n as f64;
        assert!((dropped - p).abs() < 0.005, "dropped {dropped}, p {p}");
        assert!(values
            .iter()
            .all(|&v| v == 0.0 || (v - 1.0 / 0.75).abs() < 1e-6));
        let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
        assert!((mean - 1.0).abs() < 0.01, "mean {mean}");
        // Another seed, another mask; the same seed, the same mask.
        let b = Dropout::new(p, 2);
        let differ = (0..1000).filter(|&i| a.value(i) != b.value(i)).count();
        assert!(differ > 200, "seeds 1 and 2 differ at {differ} of 1000");
        assert!((0..1000).all(|i| a.value(i) == Dropout::new(p, 1).value(i)));
    }
}
