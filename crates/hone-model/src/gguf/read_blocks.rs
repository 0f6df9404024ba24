//! One tensor of a GGUF file read straight into the blocks a CPU `QTensor` keeps.
//!
//! candle's reader (`TensorInfo::read`) reads a tensor into a byte buffer, then copies it into
//! a vector of its block type, so each tensor is held twice while it loads; for the embedding,
//! the largest, that was while the other matrices were resident: `hone generate` on a 1B Q8_0
//! file peaked 118 MB higher for it (1,400 against 1,282 MB). Here the block vector is
//! allocated once and the file's bytes land in it.

use std::io::{Read, Seek, SeekFrom};

use candle_core::quantized::gguf_file::TensorInfo;
use candle_core::quantized::k_quants::{self, GgmlType};
use candle_core::quantized::{GgmlDType, QStorage, QTensor, QuantizedType};
use half::{bf16, f16};

/// `info`'s tensor from `reader` (its data section at `data_offset`), on the CPU.
pub(crate) fn read_qtensor<R: Read + Seek>(
    reader: &mut R,
    info: &TensorInfo,
    data_offset: u64,
) -> candle_core::Result<QTensor> {
    let dtype = info.ggml_dtype;
    let elements = info.shape.elem_count();
    if !elements.is_multiple_of(dtype.block_size()) {
        candle_core::bail!(
            "{elements} elements do not fill whole blocks of {}",
            dtype.block_size()
        );
    }
    let blocks = elements / dtype.block_size();
    let start = data_offset.saturating_add(info.offset);
    let file_size = reader.seek(SeekFrom::End(0))?;
    let bytes = blocks as u64 * dtype.type_size() as u64;
    if bytes > file_size.saturating_sub(start) {
        candle_core::bail!("tensor needs {bytes} bytes at offset {start}; the file ends first");
    }
    reader.seek(SeekFrom::Start(start))?;
    let storage = match dtype {
        GgmlDType::F32 => read::<f32, _>(reader, blocks, dtype)?,
        GgmlDType::F16 => read::<f16, _>(reader, blocks, dtype)?,
        GgmlDType::BF16 => read::<bf16, _>(reader, blocks, dtype)?,
        GgmlDType::Q4_0 => read::<k_quants::BlockQ4_0, _>(reader, blocks, dtype)?,
        GgmlDType::Q4_1 => read::<k_quants::BlockQ4_1, _>(reader, blocks, dtype)?,
        GgmlDType::Q5_0 => read::<k_quants::BlockQ5_0, _>(reader, blocks, dtype)?,
        GgmlDType::Q5_1 => read::<k_quants::BlockQ5_1, _>(reader, blocks, dtype)?,
        GgmlDType::Q8_0 => read::<k_quants::BlockQ8_0, _>(reader, blocks, dtype)?,
        GgmlDType::Q8_1 => read::<k_quants::BlockQ8_1, _>(reader, blocks, dtype)?,
        GgmlDType::Q2K => read::<k_quants::BlockQ2K, _>(reader, blocks, dtype)?,
        GgmlDType::Q3K => read::<k_quants::BlockQ3K, _>(reader, blocks, dtype)?,
        GgmlDType::Q4K => read::<k_quants::BlockQ4K, _>(reader, blocks, dtype)?,
        GgmlDType::Q5K => read::<k_quants::BlockQ5K, _>(reader, blocks, dtype)?,
        GgmlDType::Q6K => read::<k_quants::BlockQ6K, _>(reader, blocks, dtype)?,
        GgmlDType::Q8K => read::<k_quants::BlockQ8K, _>(reader, blocks, dtype)?,
    };
    QTensor::new(QStorage::Cpu(storage), info.shape.clone())
}

/// `blocks` blocks of `T` read into a vector of them.
fn read<T: GgmlType + Send + Sync + 'static, R: Read>(
    reader: &mut R,
    blocks: usize,
    dtype: GgmlDType,
) -> std::io::Result<Box<dyn QuantizedType>> {
    // A block type is its bytes as the file lays them out (candle reads them the same way).
    assert_eq!(std::mem::size_of::<T>(), dtype.type_size(), "{dtype:?}");
    let mut out = vec![T::zeros(); blocks];
    // Safety: the vector's elements are `blocks · size_of::<T>()` initialized bytes, and any
    // bytes are a valid block (integers and f16 halves).
    let bytes = unsafe {
        std::slice::from_raw_parts_mut(
            out.as_mut_ptr() as *mut u8,
            blocks * std::mem::size_of::<T>(),
        )
    };
    reader.read_exact(bytes)?;
    Ok(Box::new(out))
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use candle_core::Device;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn a_tensor_reads_as_candles_reader_reads_it_and_a_short_file_is_refused() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(2);
        let w = crate::test_tensors::random(&mut rng, &[8, 256]);
        for dtype in [
            GgmlDType::F32,
            GgmlDType::F16,
            GgmlDType::Q4_1,
            GgmlDType::Q5_0,
            GgmlDType::Q8_0,
            GgmlDType::Q4K,
            GgmlDType::Q6K,
        ] {
            let q = QTensor::quantize(&w, dtype).unwrap();
            let data = q.data().unwrap().to_vec();
            // Another tensor's 100 bytes before this one.
            let mut file = vec![7u8; 100];
            file.extend_from_slice(&data);
            let info = TensorInfo {
                ggml_dtype: dtype,
                shape: q.shape().clone(),
                offset: 100,
            };
            let mine = read_qtensor(&mut Cursor::new(&file), &info, 0).unwrap();
            let candles = info.read(&mut Cursor::new(&file), 0, &Device::Cpu).unwrap();
            assert_eq!(mine.dtype(), dtype);
            assert_eq!(mine.shape(), q.shape());
            assert_eq!(mine.data().unwrap(), candles.data().unwrap(), "{dtype:?}");
            assert_eq!(&*mine.data().unwrap(), &data[..], "{dtype:?}");
            let short = &file[..file.len() - 1];
            let err = read_qtensor(&mut Cursor::new(short), &info, 0).unwrap_err();
            assert!(err.to_string().contains("the file ends first"), "{err}");
        }
    }
}
