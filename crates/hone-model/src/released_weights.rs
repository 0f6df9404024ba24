//! Safetensors weights read through a read-only map whose pages are handed back to the OS as
//! soon as each tensor is copied out.
//!
//! A mapped file's resident pages count in the process's memory while the map lives, so
//! loading through candle's `MmapedSafetensors` held every weight twice at its end: the pages
//! read and the tensors copied from them (a 4.0 GiB Llama-1B peaked at 8.1 GiB just loading).
//! Releasing each tensor's pages after its copy keeps the load's peak at the weights plus one
//! tensor. The file is untouched: a later read of the same tensor (tied embeddings) faults its
//! pages in again from the page cache.

use candle_core::safetensors::{Load, MmapedSafetensors};
use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;

pub(crate) struct ReleasedSafetensors(pub MmapedSafetensors);

impl ReleasedSafetensors {
    fn load(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        let view = self.0.get(name)?;
        let tensor = match f32_on_threads(&view, dtype, dev)? {
            Some(tensor) => tensor,
            None => view.load(dev)?.to_dtype(dtype)?,
        };
        release(view.data());
        Ok(tensor)
    }
}

/// Values a thread converts at a time.
const CHUNK: usize = 1 << 16;

/// An f32 CPU tensor of `view` (stored f32, bf16 or f16), read by the rayon pool's threads
/// together; `None` for any other case (candle reads it on one thread). Most of a load's time
/// is the kernel zeroing the new tensors' pages as they are first written, one thread's work
/// in candle's copy: a 2-core VM filled 4 GiB in 2.8–5.7 s on one thread and 0.8–2.2 s on two
/// (BENCHMARKS.md "Loading a model's weights").
fn f32_on_threads(
    view: &safetensors::tensor::TensorView<'_>,
    dtype: DType,
    dev: &Device,
) -> Result<Option<Tensor>> {
    use rayon::prelude::*;
    use safetensors::Dtype;
    if dtype != DType::F32 || !dev.is_cpu() {
        return Ok(None);
    }
    let width = match view.dtype() {
        Dtype::F32 => 4,
        Dtype::BF16 | Dtype::F16 => 2,
        _ => return Ok(None),
    };
    let bytes = view.data();
    let count: usize = view.shape().iter().product();
    if bytes.len() != count * width {
        return Ok(None);
    }
    // Fresh pages from the OS are already zero: the fill below is their first write.
    let mut values = vec![0f32; count];
    let source = view.dtype();
    values
        .par_chunks_mut(CHUNK)
        .zip(bytes.par_chunks(CHUNK * width))
        .for_each(|(out, raw)| match source {
            Dtype::F32 => {
                for (v, b) in out.iter_mut().zip(raw.chunks_exact(4)) {
                    *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
                }
            }
            Dtype::BF16 => {
                for (v, b) in out.iter_mut().zip(raw.chunks_exact(2)) {
                    *v = half::bf16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
            _ => {
                for (v, b) in out.iter_mut().zip(raw.chunks_exact(2)) {
                    *v = half::f16::from_le_bytes([b[0], b[1]]).to_f32();
                }
            }
        });
    Ok(Some(Tensor::from_vec(values, view.shape(), dev)?))
}

/// Drops the pages wholly inside `bytes` from this process's resident set.
#[cfg(unix)]
fn release(bytes: &[u8]) {
    // Safety: `_SC_PAGESIZE` has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p as usize,
        _ => return,
    };
    let start = (bytes.as_ptr() as usize).div_ceil(page) * page;
    let end = (bytes.as_ptr() as usize + bytes.len()) / page * page;
    if end > start {
        // Safety: the range lies inside a private read-only file map that outlives this call;
        // MADV_DONTNEED on it only drops pages, which the kernel reloads from the file if they
        // are read again.
        unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
    }
}

#[cfg(not(unix))]
fn release(_bytes: &[u8]) {}

impl SimpleBackend for ReleasedSafetensors {
    fn get(
        &self,
        s: Shape,
        name: &str,
        _: candle_nn::Init,
        dtype: DType,
        dev: &Device,
    ) -> Result<Tensor> {
        let tensor = self.load(name, dtype, dev)?;
        if tensor.shape() != &s {
            Err(candle_core::Error::UnexpectedShape {
                msg: format!("shape mismatch for {name}"),
                expected: s,
                got: tensor.shape().clone(),
            }
            .bt())?
        }
        Ok(tensor)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        self.load(name, dtype, dev)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0.get(name).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_read_on_threads_equal_candles_own_read_in_every_stored_type() {
        // Two chunks and a tail, so the threads' pieces must line up.
        let count = (CHUNK * 2 / 37 + 1) * 37;
        let values: Vec<f32> = (0..count)
            .map(|i| ((i * 7919) % 10007) as f32 / 313.0 - 16.0)
            .collect();
        let base = Tensor::from_vec(values, (count / 37, 37), &Device::Cpu).unwrap();
        let stored: std::collections::HashMap<String, Tensor> = [
            ("f32", DType::F32),
            ("bf16", DType::BF16),
            ("f16", DType::F16),
        ]
        .into_iter()
        .map(|(name, dtype)| (name.to_string(), base.to_dtype(dtype).unwrap()))
        .collect();
        let path = std::env::temp_dir().join(format!(
            "hone-released-weights-{}.safetensors",
            std::process::id()
        ));
        candle_core::safetensors::save(&stored, &path).unwrap();
        // Safety: the file is this test's own and is not changed while mapped.
        let mapped = unsafe { MmapedSafetensors::new(&path) }.unwrap();
        let weights = ReleasedSafetensors(mapped);
        for name in ["f32", "bf16", "f16"] {
            let view = weights.0.get(name).unwrap();
            let threaded = f32_on_threads(&view, DType::F32, &Device::Cpu)
                .unwrap()
                .expect("an f32 CPU read of a float type");
            let candle = view
                .load(&Device::Cpu)
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap();
            assert_eq!(threaded.shape(), candle.shape(), "{name}");
            let (a, b) = (
                threaded.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                candle.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            );
            assert!(
                a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits()),
                "{name}"
            );
            // The backend's read is the same values.
            let loaded = weights.load(name, DType::F32, &Device::Cpu).unwrap();
            assert_eq!(loaded.flatten_all().unwrap().to_vec1::<f32>().unwrap(), b);
        }
        // Another target type is left to candle.
        let view = weights.0.get("f32").unwrap();
        assert!(f32_on_threads(&view, DType::BF16, &Device::Cpu)
            .unwrap()
            .is_none());
        std::fs::remove_file(&path).unwrap();
    }
}
