//! Dequantizing a GGUF matrix's rows on the CPU, read in place and shared among candle's
//! worker threads.
//!
//! candle's `QTensor::dequantize` runs on one thread, and a band of rows taken as its own
//! `QTensor` first copies the band's blocks. Training on a quantized base dequantizes every
//! matrix twice a step (forward and backward; three times with gradient checkpointing), so that
//! one thread was most of what the quantized base cost over the dense one.

use std::sync::Mutex;

use candle_core::quantized::k_quants::{self, GgmlType};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

/// Elements a work item writes: enough that handing it out costs nothing beside it.
const GRAIN: usize = 1 << 16;

/// The matrix as f32 on `device`: on the CPU its blocks read in place by every worker thread,
/// elsewhere (and for float storage) candle's own dequantization.
pub(crate) fn dequantize(q: &QTensor, device: &Device) -> candle_core::Result<Tensor> {
    if device.is_cpu() && q.device().is_cpu() {
        let data = q.data()?;
        let mut out = vec![0f32; q.shape().elem_count()];
        if blocks_into(q.dtype(), &data, &mut out) {
            return Tensor::from_vec(out, q.shape().clone(), device);
        }
    }
    q.dequantize(device)
}

/// Dequantizes `bytes` (whole blocks of `dtype`, row after row) into `out`, which holds the
/// same number of elements. Returns false, having written nothing, where the blocks cannot be
/// read in place: float storage (F32/F16/BF16) or bytes not aligned for the block type. The
/// caller then takes candle's own path.
pub(crate) fn blocks_into(dtype: GgmlDType, bytes: &[u8], out: &mut [f32]) -> bool {
    match dtype {
        GgmlDType::Q4_0 => typed_blocks_into::<k_quants::BlockQ4_0>(bytes, out),
        GgmlDType::Q4_1 => typed_blocks_into::<k_quants::BlockQ4_1>(bytes, out),
        GgmlDType::Q5_0 => typed_blocks_into::<k_quants::BlockQ5_0>(bytes, out),
        GgmlDType::Q5_1 => typed_blocks_into::<k_quants::BlockQ5_1>(bytes, out),
        GgmlDType::Q8_0 => typed_blocks_into::<k_quants::BlockQ8_0>(bytes, out),
        GgmlDType::Q8_1 => typed_blocks_into::<k_quants::BlockQ8_1>(bytes, out),
        GgmlDType::Q2K => typed_blocks_into::<k_quants::BlockQ2K>(bytes, out),
        GgmlDType::Q3K => typed_blocks_into::<k_quants::BlockQ3K>(bytes, out),
        GgmlDType::Q4K => typed_blocks_into::<k_quants::BlockQ4K>(bytes, out),
        GgmlDType::Q5K => typed_blocks_into::<k_quants::BlockQ5K>(bytes, out),
        GgmlDType::Q6K => typed_blocks_into::<k_quants::BlockQ6K>(bytes, out),
        GgmlDType::Q8K => typed_blocks_into::<k_quants::BlockQ8K>(bytes, out),
        GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => false,
    }
}

fn typed_blocks_into<T: GgmlType>(bytes: &[u8], out: &mut [f32]) -> bool {
    let Some(blocks) = as_blocks::<T>(bytes) else {
        return false;
    };
    assert_eq!(
        blocks.len() * T::BLCK_SIZE,
        out.len(),
        "dequantize: {} blocks of {} do not fill {} elements",
        blocks.len(),
        T::BLCK_SIZE,
        out.len()
    );
    let per_item = (GRAIN / T::BLCK_SIZE).max(1);
    if blocks.len() <= per_item {
        T::to_float(blocks, out);
        return true;
    }
    // Each item is taken by exactly one thread: its lock is never contended.
    let items: Vec<Mutex<(&[T], &mut [f32])>> = blocks
        .chunks(per_item)
        .zip(out.chunks_mut(per_item * T::BLCK_SIZE))
        .map(Mutex::new)
        .collect();
    candle_core::utils::barrier_pool().execute_chunked(items.len(), |range| {
        for i in range {
            let mut item = items[i].lock().unwrap_or_else(|e| e.into_inner());
            let (from, to) = &mut *item;
            T::to_float(from, to);
        }
    });
    true
}

/// The bytes as blocks, where they are whole blocks at the block type's alignment (a CPU
/// `QTensor`'s data is its own `Vec` of blocks, so its bands are).
fn as_blocks<T: GgmlType>(bytes: &[u8]) -> Option<&[T]> {
    let size = std::mem::size_of::<T>();
    if size == 0
        || !bytes.len().is_multiple_of(size)
        || bytes.as_ptr().align_offset(std::mem::align_of::<T>()) != 0
    {
        return None;
    }
    // Safety: the pointer is aligned for `T`, the length is whole `T`s inside `bytes`, and a
    // block is plain integers and halves (`#[repr(C)]`), for which every bit pattern is a value:
    // candle reads a GGUF file's bytes as blocks the same way.
    Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), bytes.len() / size) })
}

#[cfg(test)]
mod tests {
    use candle_core::quantized::QTensor;
    use candle_core::Device;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn every_block_type_reads_in_place_as_candle_dequantizes_it() {
        // 600 rows of 256: 153,600 elements, so the work is split into several items.
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        let w = crate::test_tensors::random(&mut rng, &[600, 256]);
        for dtype in [
            GgmlDType::Q4_0,
            GgmlDType::Q4_1,
            GgmlDType::Q5_0,
            GgmlDType::Q5_1,
            GgmlDType::Q8_0,
            GgmlDType::Q2K,
            GgmlDType::Q3K,
            GgmlDType::Q4K,
            GgmlDType::Q5K,
            GgmlDType::Q6K,
        ] {
            let q = QTensor::quantize(&w, dtype).unwrap();
            let want = q
                .dequantize(&Device::Cpu)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap();
            let mut got = vec![f32::NAN; want.len()];
            assert!(
                blocks_into(dtype, &q.data().unwrap(), &mut got),
                "{dtype:?}"
            );
            assert_eq!(got, want, "{dtype:?}");
        }
    }

    #[test]
    fn float_storage_and_misaligned_bytes_are_left_to_candle() {
        let w = crate::test_tensors::random(&mut rand::rngs::StdRng::seed_from_u64(12), &[4, 64]);
        let f16 = QTensor::quantize(&w, GgmlDType::F16).unwrap();
        let mut out = vec![0f32; 256];
        assert!(!blocks_into(GgmlDType::F16, &f16.data().unwrap(), &mut out));

        // Q4_1 blocks hold halves (alignment 2): one byte in, they are not blocks.
        let q = QTensor::quantize(&w, GgmlDType::Q4_1).unwrap();
        let mut shifted = vec![0u8; q.data().unwrap().len() + 2];
        let start = if shifted.as_ptr().align_offset(2) == 0 {
            1
        } else {
            0
        };
        let len = q.data().unwrap().len();
        shifted[start..start + len].copy_from_slice(&q.data().unwrap());
        assert!(!blocks_into(
            GgmlDType::Q4_1,
            &shifted[start..start + len],
            &mut out
        ));
        assert!(out.iter().all(|&x| x == 0.0), "nothing written");
    }
}
