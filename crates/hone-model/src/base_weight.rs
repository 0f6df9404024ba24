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

use crate::q6_k_kernel::Kernel as Q6K;
use crate::q8_0_kernel::Kernel as Q8_0;
use crate::quantized_columns::Blocks;
use crate::Result;

type Q4_0 = crate::q4_q5_kernel::Kernel<crate::q4_q5_kernel::Q4_0>;
type Q4_1 = crate::q4_q5_kernel::Kernel<crate::q4_q5_kernel::Q4_1>;
type Q5_0 = crate::q4_q5_kernel::Kernel<crate::q4_q5_kernel::Q5_0>;
type Q5_1 = crate::q4_q5_kernel::Kernel<crate::q4_q5_kernel::Q5_1>;
type Q4K = crate::q4_k_q5_k_kernel::Kernel<crate::q4_k_q5_k_kernel::Q4>;
type Q5K = crate::q4_k_q5_k_kernel::Kernel<crate::q4_k_q5_k_kernel::Q5>;

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
            Self::Quantized(q) => crate::dequantize::dequantize(q, &q.device())?.to_dtype(dtype)?,
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
/// sequences at a time). Longer inputs — scoring, training — dequantize the weight for the
/// one product and run the dense matmul: exact in the activations. In [`generating`], the
/// types with a many-row kernel take it for a whole prompt too ([`prompt_rows_on_blocks`]).
pub const QUANTIZED_ROWS: usize = 16;

thread_local! {
    /// Set inside [`generating`].
    static GENERATING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f` (generation's forward passes, the prompt's included) with the products of
/// quantized weights on Hone's kernels for a whole prompt where this CPU has them
/// ([`prompt_rows_on_blocks`]), as llama.cpp runs a prompt: the prompt's activations rounded to
/// 8 bits as every decoded token's are. Scoring and training stay exact in the activations.
pub fn generating<T>(f: impl FnOnce() -> T) -> T {
    crate::scoped_flag::with_flag_set(&GENERATING, f)
}

/// Rows of a product inside [`generating`] (a prompt's pass) that run on the weight's blocks:
/// where this CPU has a Hone kernel that takes each block once for many rows — up to 256 rows
/// (`quantized_columns::most_rows`), or at any length where the CPU has VNNI and the kernel
/// lays 16 weight rows side by side (BENCHMARKS.md "Generation and prompts on Q4_K and Q8_0
/// blocks"). Other types (Q2_K, Q3_K) keep [`QUANTIZED_ROWS`]: candle's kernels for them read
/// the whole weight once per row.
fn prompt_rows_on_blocks(dtype: GgmlDType, n: usize) -> usize {
    use crate::quantized_columns::most_rows;
    match dtype {
        GgmlDType::Q4_0 if Q4_0::has_simd() => most_rows::<Q4_0>(n),
        GgmlDType::Q4_1 if Q4_1::has_simd() => most_rows::<Q4_1>(n),
        GgmlDType::Q5_0 if Q5_0::has_simd() => most_rows::<Q5_0>(n),
        GgmlDType::Q5_1 if Q5_1::has_simd() => most_rows::<Q5_1>(n),
        GgmlDType::Q4K if Q4K::has_simd() => most_rows::<Q4K>(n),
        GgmlDType::Q5K if Q5K::has_simd() => most_rows::<Q5K>(n),
        GgmlDType::Q6K if Q6K::has_simd() => most_rows::<Q6K>(n),
        GgmlDType::Q8_0 if Q8_0::has_simd() => most_rows::<Q8_0>(n),
        _ => QUANTIZED_ROWS,
    }
}

/// Hone's kernel for a block type where this CPU runs it with SIMD.
fn block_kernel(dtype: GgmlDType) -> Option<BlockKernel> {
    use crate::quantized_columns::matmul_t;
    match dtype {
        GgmlDType::Q4_0 if Q4_0::has_simd() => Some(matmul_t::<Q4_0>),
        GgmlDType::Q4_1 if Q4_1::has_simd() => Some(matmul_t::<Q4_1>),
        GgmlDType::Q5_0 if Q5_0::has_simd() => Some(matmul_t::<Q5_0>),
        GgmlDType::Q5_1 if Q5_1::has_simd() => Some(matmul_t::<Q5_1>),
        GgmlDType::Q4K if Q4K::has_simd() => Some(matmul_t::<Q4K>),
        GgmlDType::Q5K if Q5K::has_simd() => Some(matmul_t::<Q5K>),
        GgmlDType::Q6K if Q6K::has_simd() => Some(matmul_t::<Q6K>),
        GgmlDType::Q8_0 if Q8_0::has_simd() => Some(matmul_t::<Q8_0>),
        _ => None,
    }
}

/// `y [m, n] = x [m, k] · Wᵀ` on a weight's blocks (`x`, `m`, `k`, the bytes, `n`): Hone's
/// kernels for Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the k-quants Q4_K, Q5_K and Q6_K.
type BlockKernel = fn(&[f32], usize, usize, &[u8], usize) -> Vec<f32>;

/// The product with a quantized weight as an op with a backward: the input's gradient is
/// `grad · W`, with `W` dequantized only for that product.
struct QuantizedMatmul {
    weight: Arc<QTensor>,
}

/// The most bytes of a quantized weight dequantized at once for a long input's product (and
/// its backward): the weight goes through in bands of rows. An 8B model's LM head is 2 GiB in
/// f32; a band is 32 MiB, and costs the same arithmetic.
pub const DEQUANTIZED_BAND_BYTES: usize = 32 << 20;

/// Rows of a `[rows, cols]` weight per band of at most `band_bytes` dequantized.
fn band_rows(cols: usize, band_bytes: usize) -> usize {
    (band_bytes / (cols * std::mem::size_of::<f32>())).max(1)
}

/// Rows `[start, start + len)` of a quantized matrix on the CPU, dequantized. Blocks run along
/// a row, so a band of rows is a byte range of the data, read in place.
fn dequantize_band(
    q: &QTensor,
    data: &[u8],
    start: usize,
    len: usize,
) -> candle_core::Result<Tensor> {
    let (_, cols) = q.shape().dims2()?;
    let dtype = q.dtype();
    let row_bytes = cols / dtype.block_size() * dtype.type_size();
    let bytes = &data[start * row_bytes..(start + len) * row_bytes];
    let mut out = vec![0f32; len * cols];
    if crate::dequantize::blocks_into(dtype, bytes, &mut out) {
        return Tensor::from_vec(out, (len, cols), &Device::Cpu);
    }
    let band = QTensor::new(
        QStorage::from_data(Cow::Borrowed(bytes), &Device::Cpu, dtype)?,
        (len, cols),
    )?;
    band.dequantize(&Device::Cpu)
}

impl QuantizedMatmul {
    /// `x [m, k] · Wᵀ` with `W` dequantized a band of rows at a time.
    fn dense_cpu(
        &self,
        x: &CpuStorage,
        layout: &Layout,
        m: usize,
        band_bytes: usize,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (n, k) = self.weight.shape().dims2()?;
        let data = self.weight.data()?;
        let band = band_rows(k, band_bytes);
        let mut y = vec![0f32; m * n];
        for start in (0..n).step_by(band) {
            let len = band.min(n - start);
            let w = dequantize_band(&self.weight, &data, start, len)?;
            let (storage, w_layout) = w.storage_and_layout();
            let candle_core::Storage::Cpu(w) = &*storage else {
                candle_core::bail!("quantized matmul: the dequantized weight is not on the CPU");
            };
            let part = x.matmul(w, (1, m, len, k), layout, &w_layout.transpose(0, 1)?)?;
            let CpuStorage::F32(part) = part else {
                candle_core::bail!("quantized matmul: expects f32 input");
            };
            for (row, out) in part.chunks_exact(len).zip(y.chunks_exact_mut(n)) {
                out[start..start + len].copy_from_slice(row);
            }
        }
        Ok((CpuStorage::F32(y), Shape::from((m, n))))
    }

    /// `grad [m, n] · W`, on the CPU a band of `W`'s rows at a time.
    fn input_gradient(&self, grad: &Tensor, band_bytes: usize) -> candle_core::Result<Tensor> {
        if !grad.device().is_cpu() {
            let w = crate::dequantize::dequantize(&self.weight, grad.device())?;
            return grad.matmul(&w);
        }
        let (n, k) = self.weight.shape().dims2()?;
        let data = self.weight.data()?;
        let band = band_rows(k, band_bytes);
        let mut sum: Option<Tensor> = None;
        for start in (0..n).step_by(band) {
            let len = band.min(n - start);
            let w = dequantize_band(&self.weight, &data, start, len)?;
            let part = grad.narrow(1, start, len)?.contiguous()?.matmul(&w)?;
            sum = Some(match sum {
                Some(s) => (s + part)?,
                None => part,
            });
        }
        sum.ok_or_else(|| candle_core::Error::Msg("quantized matmul: an empty weight".into()))
    }
}

impl CustomOp1 for QuantizedMatmul {
    fn name(&self) -> &'static str {
        "quantized-matmul"
    }

    fn cpu_fwd(&self, x: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (m, k) = layout.shape().dims2()?;
        let dtype = self.weight.dtype();
        let kernel = block_kernel(dtype);
        let most = if GENERATING.with(|g| g.get()) {
            prompt_rows_on_blocks(dtype, self.weight.shape().dims2()?.0)
        } else {
            QUANTIZED_ROWS
        };
        if m > most {
            return self.dense_cpu(x, layout, m, DEQUANTIZED_BAND_BYTES);
        }
        if let Some(kernel) = kernel {
            let CpuStorage::F32(all) = x else {
                candle_core::bail!("quantized matmul: expects f32 input");
            };
            let Some((start, end)) = layout.contiguous_offsets() else {
                candle_core::bail!("quantized matmul: expects a contiguous input");
            };
            let n = self.weight.shape().dims2()?.0;
            let bytes = self.weight.data()?;
            let y = kernel(&all[start..end], m, k, &bytes, n);
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
        Ok(Some(self.input_gradient(grad, DEQUANTIZED_BAND_BYTES)?))
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

/// Whether this CPU runs the type with SIMD kernels (candle's or Hone's); the others (Q4_1,
/// Q5_0 and Q5_1 without AVX2, where candle has only a scalar loop) would run several times
/// slower than llama.cpp, and the loader requantizes them to Q8_0.
pub fn has_fast_cpu_kernel(dtype: GgmlDType) -> bool {
    match dtype {
        GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1 => block_kernel(dtype).is_some(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Var;
    use rand::SeedableRng;

    use super::*;
    use crate::test_tensors::{max_abs, max_diff};

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
    fn a_weight_dequantized_in_bands_gives_the_whole_weights_product_and_gradient() {
        // 40 rows in bands of 7 (the last one of 5): every band boundary is crossed.
        let (n, k, m) = (40, 64, QUANTIZED_ROWS + 3);
        let q = Arc::new(QTensor::quantize(&random(n, k, 6), GgmlDType::Q4_1).unwrap());
        let deq = q.dequantize(&Device::Cpu).unwrap();
        let op = QuantizedMatmul { weight: q };
        let band_bytes = 7 * k * 4;
        assert_eq!(band_rows(k, band_bytes), 7);
        let x = random(m, k, 7);
        let (storage, layout) = x.storage_and_layout();
        let candle_core::Storage::Cpu(cpu) = &*storage else {
            unreachable!("a CPU tensor")
        };
        let (y, shape) = op.dense_cpu(cpu, layout, m, band_bytes).unwrap();
        let y =
            Tensor::from_vec(y.as_slice::<f32>().unwrap().to_vec(), shape, &Device::Cpu).unwrap();
        let whole = x.matmul(&deq.t().unwrap()).unwrap();
        assert!(
            max_diff(&y, &whole) < 1e-5,
            "product off by {}",
            max_diff(&y, &whole)
        );

        let grad = random(m, n, 8);
        let banded = op.input_gradient(&grad, band_bytes).unwrap();
        let whole = grad.matmul(&deq).unwrap();
        assert!(
            max_diff(&banded, &whole) < 1e-4,
            "gradient off by {}",
            max_diff(&banded, &whole)
        );
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
    fn a_generated_prompt_runs_the_q4_1_kernel_and_scoring_the_exact_product() {
        let w = random(40, 64, 4);
        let q = Arc::new(QTensor::quantize(&w, GgmlDType::Q4_1).unwrap());
        let deq = q.dequantize(&Device::Cpu).unwrap();
        let rows = QUANTIZED_ROWS + 5;
        let x = random(rows, 64, 5).reshape((1, rows, 64)).unwrap();
        let weight = BaseWeight::Quantized(q.clone());
        let scored = weight.matmul_t(&x).unwrap();
        let prompt = generating(|| weight.matmul_t(&x)).unwrap();
        let dense = crate::frozen::frozen_matmul_t(&x, &deq).unwrap();
        // Outside generation: the dequantized weight, exact in the activations.
        assert!(max_diff(&scored, &dense) < 1e-5);
        if Q4_1::has_simd() {
            // Inside: the 8-bit kernel, as each decoded token runs (activations rounded to 8
            // bits: close to the exact product, not equal).
            let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            let kernel =
                crate::quantized_columns::matmul_t::<Q4_1>(&xs, rows, 64, &q.data().unwrap(), 40);
            assert_eq!(
                prompt.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                kernel
            );
            let off = max_diff(&prompt, &dense);
            assert!(off > 0.0 && off < 0.01 * max_abs(&dense), "{off}");
        }
        // The flag ends with the call.
        assert!(max_diff(&weight.matmul_t(&x).unwrap(), &dense) < 1e-5);
    }

    #[test]
    fn a_generated_prompt_runs_every_type_on_hones_kernels_and_scoring_the_exact_product() {
        let (n, k, rows) = (32, 512, QUANTIZED_ROWS + 7);
        let x = random(rows, k, 10).reshape((1, rows, k)).unwrap();
        let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        use crate::quantized_columns::matmul_t;
        let kernels: [(GgmlDType, bool, BlockKernel); 8] = [
            (GgmlDType::Q4_0, Q4_0::has_simd(), matmul_t::<Q4_0>),
            (GgmlDType::Q4_1, Q4_1::has_simd(), matmul_t::<Q4_1>),
            (GgmlDType::Q5_0, Q5_0::has_simd(), matmul_t::<Q5_0>),
            (GgmlDType::Q5_1, Q5_1::has_simd(), matmul_t::<Q5_1>),
            (GgmlDType::Q8_0, Q8_0::has_simd(), matmul_t::<Q8_0>),
            (GgmlDType::Q4K, Q4K::has_simd(), matmul_t::<Q4K>),
            (GgmlDType::Q5K, Q5K::has_simd(), matmul_t::<Q5K>),
            (GgmlDType::Q6K, Q6K::has_simd(), matmul_t::<Q6K>),
        ];
        for (dtype, has_kernel, kernel) in kernels {
            let q = Arc::new(QTensor::quantize(&random(n, k, 9), dtype).unwrap());
            let deq = q.dequantize(&Device::Cpu).unwrap();
            let weight = BaseWeight::Quantized(q.clone());
            let dense = crate::frozen::frozen_matmul_t(&x, &deq).unwrap();
            // Outside generation: the dequantized weight, exact in the activations.
            assert!(max_diff(&weight.matmul_t(&x).unwrap(), &dense) < 1e-4);
            let prompt = generating(|| weight.matmul_t(&x)).unwrap();
            if has_kernel {
                // Inside: Hone's kernel, the activations rounded to 8 bits as decoding's.
                let hones = kernel(&xs, rows, k, &q.data().unwrap(), n);
                let hones = Tensor::from_vec(hones, (1, rows, n), &Device::Cpu).unwrap();
                assert_eq!(max_diff(&prompt, &hones), 0.0, "{dtype:?}");
                let off = max_diff(&prompt, &dense);
                assert!(
                    off > 0.0 && off < 0.01 * max_abs(&dense),
                    "{dtype:?}: {off}"
                );
            } else {
                assert!(max_diff(&prompt, &dense) < 1e-4);
            }
        }
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
