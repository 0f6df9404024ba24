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
        let tensor = view.load(dev)?.to_dtype(dtype)?;
        release(view.data());
        Ok(tensor)
    }
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
