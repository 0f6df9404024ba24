//! A GGUF model file's tensors as the engine runs them without dequantizing: each matrix
//! kept in its quantized blocks (Q and K rows moved back to Hugging Face's order, whole rows
//! at a time), the small tensors (norms, biases) and any f32/f16 matrix dequantized. On the
//! CPU, types that neither Hone nor candle runs with SIMD there (Q4_1, Q5_0 and Q5_1 without
//! AVX2) are requantized to Q8_0.
//!
//! The file was checked when its folder was imported (every value finite, every shape as the
//! metadata say); [`super::import::GgufSource`] ties the folder to it.

use std::collections::HashMap;
use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QStorage, QTensor};
use candle_core::{DType, Device, Tensor};

use super::file::GgufFile;
use super::{import, permute};
use crate::base_weight::{has_fast_cpu_kernel, permute_rows};
use crate::Result;

/// The tensors under Hugging Face names: dense ones, and matrices kept quantized.
pub struct QuantizedTensors {
    pub dense: HashMap<String, Tensor>,
    pub quantized: HashMap<String, Arc<QTensor>>,
}

fn is_float(dtype: GgmlDType) -> bool {
    matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
}

/// The row order that undoes llama.cpp's Q/K permutation: row `i` of the result is row
/// `order[i]` of the file's tensor.
fn unpermuted_order(rows: usize, heads: usize) -> Result<Vec<usize>> {
    let index = Tensor::arange(0u32, rows as u32, &Device::Cpu)?.reshape((rows, 1))?;
    let order = permute::from_gguf(&index, heads)?
        .flatten_all()?
        .to_vec1::<u32>()?;
    Ok(order.into_iter().map(|i| i as usize).collect())
}

/// Reads every tensor of `gguf`, the dense ones in `dtype`, all on `device`.
pub fn read(gguf: &GgufFile, device: &Device, dtype: DType) -> Result<QuantizedTensors> {
    let mut out = QuantizedTensors {
        dense: HashMap::new(),
        quantized: HashMap::new(),
    };
    for planned in import::planned_tensors(gguf)? {
        let stored = gguf
            .dtype(&planned.gguf_name)
            .expect("planned from the file");
        if planned.shape.len() != 2 || is_float(stored) {
            let mut t = gguf.dequantized(&planned.gguf_name)?;
            if let Some(heads) = planned.unpermute_heads {
                t = permute::from_gguf(&t, heads)?;
            }
            out.dense
                .insert(planned.hf_name, t.to_dtype(dtype)?.to_device(device)?);
            continue;
        }
        let mut q = gguf.qtensor(&planned.gguf_name)?;
        if device.is_cpu() && !has_fast_cpu_kernel(stored) {
            // 8 bits per weight hold a 4- or 5-bit block's values to within 1/254 of the
            // block's largest, and run the SIMD kernels instead of a scalar loop.
            q = QTensor::quantize(
                &crate::dequantize::dequantize(&q, &Device::Cpu)?,
                GgmlDType::Q8_0,
            )?;
        }
        if let Some(heads) = planned.unpermute_heads {
            q = permute_rows(&q, &unpermuted_order(planned.shape[0], heads)?, device)?;
        } else if !device.is_cpu() {
            q = QTensor::new(
                QStorage::from_data(q.data()?, device, stored)?,
                q.shape().clone(),
            )?;
        }
        out.quantized.insert(planned.hf_name, Arc::new(q));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_order_undoes_the_export_permutation() {
        // 2 heads of 4 rows: export interleaves each head's halves; the order must restore them.
        let rows = 8;
        let hf = Tensor::arange(0f32, rows as f32, &Device::Cpu)
            .unwrap()
            .reshape((rows, 1))
            .unwrap();
        let file = permute::to_gguf(&hf, 2).unwrap().flatten_all().unwrap();
        let file = file.to_vec1::<f32>().unwrap();
        let order = unpermuted_order(rows, 2).unwrap();
        let restored: Vec<f32> = order.iter().map(|&i| file[i]).collect();
        assert_eq!(restored, (0..rows).map(|i| i as f32).collect::<Vec<_>>());
    }
}
