//! Plain f32 products on the fused ops' kernel (OpenBLAS where linked: [`super::gemm`]) for the
//! frozen weights' products outside the LoRA ops: a pass without an adapter branch (DPO's
//! reference pass, scoring and generation with the base alone) and the frozen product's
//! backward. candle's matmul would run them on gemm, ~1.5× slower on the projections' shapes
//! (BENCHMARKS, session 39).

use candle_core::{bail, Tensor};

use super::gemm::{product, Mat};
use super::kernels::with_f32s;

/// `x [m, k] · wᵀ` for `w` `[n, k]`, both row-major; `[m, n]` row-major.
pub(crate) fn product_t_f32(xs: &[f32], (m, k): (usize, usize), ws: &[f32], n: usize) -> Vec<f32> {
    product(xs, Mat::rows(0, m, k, k), ws, Mat::rows(0, n, k, k).t())
}

/// `g [m, n] · w` for `w` `[n, k]`, both f32, contiguous, on the CPU; `[m, k]`, without a
/// graph (the frozen product's backward).
pub(crate) fn product_n(g: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let ((m, n), (n_w, k)) = (g.dims2()?, w.dims2()?);
    if n != n_w {
        bail!("product: gradient has {n} columns, weight [{n_w}, {k}] expects {n_w}");
    }
    let out = with_f32s(g, |gs| {
        with_f32s(w, |ws| {
            Ok(product(
                gs,
                Mat::rows(0, m, n, n),
                ws,
                Mat::rows(0, n, k, k),
            ))
        })
    })?;
    Tensor::from_vec(out, (m, k), g.device())
}
