//! A frozen base weight `[out, in]`: a dense tensor, or a GGUF file's quantized blocks.
//!
//! Quantized weights are what llama.cpp runs: a Q4 matrix is an eighth of its f32 size, and
//! generation, which reads every weight once per token, is bound by memory bandwidth. The
//! product `x · Wᵀ` runs candle's quantized kernels (the activations are quantized to 8 bits
//! per block, as llama.cpp does). A gradient can still flow to `x` — QLoRA-style training on a
//! quantized base: the backward dequantizes the weight for that one product and drops it.

use std::borrow::Cow;
use std::sync::Arc;

use candle_core::backend::BackendStorage;
use candle_core::quantized::{GgmlDType, QStorage, QTensor};
use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};

use crate::Result;

#[derive(Clone)]
pub enum BaseWeight {
    Dense(Tensor),
    Quantized(Arc<QTensor>),
}

impl std::fmt::Debug for BaseWeight {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dense(t) => write!(f, "Dense({:?}, {:?})", t.dims(), t.dtype()),
            Self::Quantized(q) => write!(f, "Quantized({:?}, {:?})", q.shape().dims(), q.dtype()),
        }
    }
}

impl BaseWeight {
    /// `[out, in]`.
    pub fn dims(&self) -> &[usize] {
        match self {
            Self::Dense(t) => t.dims(),
            Self::Quantized(q) => q.shape().dims(),
        }
    }

    /// The bytes it holds.
    pub fn bytes(&self) -> usize {
        match self {
            Self::Dense(t) => t.elem_count() * t.dtype().size_in_bytes(),
            Self::Quantized(q) => q.storage_size_in_bytes(),
        }
    }

    pub fn is_quantized(&self) -> bool {
        matches!(self, Self::Quantized(_))
    }

    /// The weight as a dense tensor in `dtype` (a copy when quantized).
    pub fn dense(&self, dtype: DType) -> Result<Tensor> {
        Ok(match self {
            Self::Dense(t) => t.to_dtype(dtype)?,
            Self::Quantized(q) => q.dequantize(&q.device())?.to_dtype(dtype)?,
        })
    }

    /// The dense tensor itself, when the weight is dense.
    pub fn as_dense(&self) -> Option<&Tensor> {
        match self {
            Self::Dense(t) => Some(t),
            Self::Quantized(_) => None,
        }
    }

    /// `x [.., in] · Wᵀ`; gradients flow to `x` only.
    pub fn matmul_t(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Dense(w) => Ok(crate::frozen::frozen_matmul_t(x, w)?),
            Self::Quantized(q) => {
                let dims = x.dims();
                let (lead, inner) = dims.split_at(dims.len() - 1);
                let rows: usize = lead.iter().product();
                let x2 = x
                    .to_dtype(DType::F32)?
                    .reshape((rows, inner[0]))?
                    .contiguous()?;
                let op = QuantizedMatmul { weight: q.clone() };
                let y = if x2.track_op() {
                    x2.apply_op1_arc(Arc::new(Box::new(op)))?
                } else {
                    x2.apply_op1_no_bwd(&op)?
                };
                let mut shape = lead.to_vec();
                shape.push(q.shape().dims2()?.0);
                Ok(y.reshape(shape)?.to_dtype(x.dtype())?)
            }
        }
    }

    /// Rows `ids` of the weight (an embedding lookup), `[.., in]` for ids `[..]`.
    pub fn rows(&self, ids: &Tensor, dtype: DType) -> Result<Tensor> {
        Ok(match self {
            Self::Dense(w) => {
                let mut dims = ids.dims().to_vec();
                dims.push(w.dim(1)?);
                w.index_select(&ids.flatten_all()?, 0)?.reshape(dims)?
            }
            Self::Quantized(q) => q.embedding(ids)?.to_dtype(dtype)?,
        })
    }
}

/// Rows of `x` up to which the product runs on the quantized blocks (decoding a token, a few
/// sequences at a time). Longer inputs — a prompt, scoring, training — dequantize the weight
/// for the one product and run the dense matmul: as fast there, and exact in the activations.
pub const QUANTIZED_ROWS: usize = 16;

/// The product with a quantized weight as an op with a backward: the input's gradient is
/// `grad · W`, with `W` dequantized only for that product.
struct QuantizedMatmul {
    weight: Arc<QTensor>,
}

impl QuantizedMatmul {
    fn dense_cpu(
        &self,
        x: &CpuStorage,
        layout: &Layout,
        m: usize,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let w = self.weight.dequantize(&Device::Cpu)?;
        let (n, k) = w.dims2()?;
        let (storage, w_layout) = w.storage_and_layout();
        let candle_core::Storage::Cpu(w) = &*storage else {
            candle_core::bail!("quantized matmul: the dequantized weight is not on the CPU");
        };
        let y = x.matmul(w, (1, m, n, k), layout, &w_layout.transpose(0, 1)?)?;
        Ok((y, Shape::from((m, n))))
    }
}

impl CustomOp1 for QuantizedMatmul {
    fn name(&self) -> &'static str {
        "quantized-matmul"
    }

    fn cpu_fwd(&self, x: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (m, k) = layout.shape().dims2()?;
        if m > QUANTIZED_ROWS {
            return self.dense_cpu(x, layout, m);
        }
        if self.weight.dtype() == GgmlDType::Q4_1 && crate::q4_1_kernel::has_simd() {
            let CpuStorage::F32(all) = x else {
                candle_core::bail!("quantized matmul: expects f32 input");
            };
            let Some((start, end)) = layout.contiguous_offsets() else {
                candle_core::bail!("quantized matmul: expects a contiguous input");
            };
            let n = self.weight.shape().dims2()?.0;
            let bytes = self.weight.data()?;
            let y = crate::q4_1_kernel::matmul_t(&all[start..end], m, k, &bytes, n);
            return Ok((CpuStorage::F32(y), Shape::from((m, n))));
        }
        self.weight.cpu_fwd(x, layout)
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        x: &candle_core::CudaStorage,
        layout: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        self.weight.cuda_fwd(x, layout)
    }

    #[cfg(feature = "metal")]
    fn metal_fwd(
        &self,
        x: &candle_core::MetalStorage,
        layout: &Layout,
    ) -> candle_core::Result<(candle_core::MetalStorage, Shape)> {
        self.weight.metal_fwd(x, layout)
    }

    fn bwd(
        &self,
        _x: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        let w = self.weight.dequantize(grad.device())?;
        Ok(Some(grad.matmul(&w)?))
    }
}

/// Reorders the rows of a quantized `[rows, in]` matrix: row `i` of the result is row
/// `order[i]` of `q`. Blocks run along a row, so rows move as whole byte ranges and nothing
/// is requantized.
pub fn permute_rows(q: &QTensor, order: &[usize], device: &Device) -> Result<QTensor> {
    let (rows, cols) = q.shape().dims2()?;
    debug_assert_eq!(order.len(), rows);
    let dtype = q.dtype();
    let row_bytes = cols / dtype.block_size() * dtype.type_size();
    let data = q.data()?;
    let mut out = Vec::with_capacity(data.len());
    for &from in order {
        out.extend_from_slice(&data[from * row_bytes..(from + 1) * row_bytes]);
    }
    Ok(QTensor::new(
        QStorage::from_data(Cow::Owned(out), device, dtype)?,
        (rows, cols),
    )?)
}

/// Whether this CPU runs the type with SIMD kernels (candle's, or Hone's Q4_1 one); the
/// others (Q5_0, Q5_1, and Q4_1 without AVX2) would run a scalar loop several times slower
/// than llama.cpp.
pub fn has_fast_cpu_kernel(dtype: GgmlDType) -> bool {
    match dtype {
        GgmlDType::Q4_1 => crate::q4_1_kernel::has_simd(),
        GgmlDType::Q5_0 | GgmlDType::Q5_1 => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Var;
    use rand::SeedableRng;

    use super::*;
    use crate::test_tensors::max_diff;

    fn random(rows: usize, cols: usize, seed: u64) -> Tensor {
        crate::test_tensors::random(&mut rand::rngs::StdRng::seed_from_u64(seed), &[rows, cols])
    }

    #[test]
    fn quantized_product_is_close_to_the_dense_one_and_its_input_gradient_is_the_dequantized_one() {
        let w = random(64, 256, 1);
        let q = Arc::new(QTensor::quantize(&w, GgmlDType::Q8_0).unwrap());
        let deq = q.dequantize(&Device::Cpu).unwrap();
        let x = Var::from_tensor(&random(3, 256, 2)).unwrap();
        let base = BaseWeight::Quantized(q);
        let y = base.matmul_t(x.as_tensor()).unwrap();
        let dense = x.as_tensor().matmul(&deq.t().unwrap()).unwrap();
        let diff = max_diff(&y, &dense);
        let scale = crate::test_tensors::max_abs(&dense);
        assert!(
            diff < 0.02 * scale,
            "quantized product off by {diff} (scale {scale})"
        );

        let g = y.sum_all().unwrap().backward().unwrap();
        let got = g.get(x.as_tensor()).unwrap();
        let want = Tensor::ones((3, 64), DType::F32, &Device::Cpu)
            .unwrap()
            .matmul(&deq)
            .unwrap();
        assert!(max_diff(got, &want) < 1e-4);
    }

    #[test]
    fn long_inputs_run_the_dequantized_weight_exactly() {
        let w = random(40, 64, 4);
        let q = Arc::new(QTensor::quantize(&w, GgmlDType::Q4_1).unwrap());
        let deq = q.dequantize(&Device::Cpu).unwrap();
        let x = random(QUANTIZED_ROWS + 1, 64, 5)
            .reshape((1, QUANTIZED_ROWS + 1, 64))
            .unwrap();
        let y = BaseWeight::Quantized(q).matmul_t(&x).unwrap();
        let dense = crate::frozen::frozen_matmul_t(&x, &deq).unwrap();
        assert_eq!(y.dims(), &[1, QUANTIZED_ROWS + 1, 40]);
        assert!(max_diff(&y, &dense) < 1e-5);
    }

    #[test]
    fn rows_move_whole_and_an_embedding_lookup_reads_them() {
        let w = random(6, 64, 3);
        let q = QTensor::quantize(&w, GgmlDType::Q4_0).unwrap();
        let deq = q.dequantize(&Device::Cpu).unwrap();
        let order = [5, 0, 3, 1, 4, 2];
        let moved = permute_rows(&q, &order, &Device::Cpu).unwrap();
        let moved = BaseWeight::Quantized(Arc::new(moved));
        for (i, &from) in order.iter().enumerate() {
            let ids = Tensor::new(&[i as u32], &Device::Cpu).unwrap();
            let row = moved.rows(&ids, DType::F32).unwrap();
            assert_eq!(
                row.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                deq.get(from).unwrap().to_vec1::<f32>().unwrap(),
                "row {i} is row {from} of the source"
            );
        }
    }
}
