//! Finding NaN and infinite values in weights by their bit patterns: one pass over the bytes,
//! no copy, whatever the device the model goes to.

use candle_core::safetensors::MmapedSafetensors;
use candle_core::Tensor;
use safetensors::Dtype;

/// True when any element of a little-endian float buffer of this dtype is NaN or infinite
/// (all exponent bits set). Integer dtypes are always finite.
pub(crate) fn has_non_finite(dtype: Dtype, bytes: &[u8]) -> bool {
    match dtype {
        Dtype::BF16 => halves(bytes).any(|w| w & 0x7f80 == 0x7f80),
        Dtype::F16 => halves(bytes).any(|w| w & 0x7c00 == 0x7c00),
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .any(|w| w & 0x7f80_0000 == 0x7f80_0000),
        Dtype::F64 => bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .any(|w| w & 0x7ff0_0000_0000_0000 == 0x7ff0_0000_0000_0000),
        _ => false,
    }
}

fn halves(bytes: &[u8]) -> impl Iterator<Item = u16> + '_ {
    bytes
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
}

/// The name of the first tensor of the file holding a NaN or an infinity, if any.
pub(crate) fn first_non_finite(file: &MmapedSafetensors) -> Option<String> {
    let mut tensors = file.tensors();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
        .into_iter()
        .find(|(_, view)| has_non_finite(view.dtype(), view.data()))
        .map(|(name, _)| name)
}

/// True when a (small) tensor holds a NaN or an infinity; for adapters, read whole anyway.
pub(crate) fn tensor_has_non_finite(t: &Tensor) -> candle_core::Result<bool> {
    let values = t
        .to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    Ok(values.iter().any(|v| !v.is_finite()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_and_infinity_are_found_in_every_float_width_and_ordinary_values_are_not() {
        let f32s = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        assert!(!has_non_finite(
            Dtype::F32,
            &f32s(&[0.0, -1.5, 3.4e38, 1e-45])
        ));
        assert!(has_non_finite(Dtype::F32, &f32s(&[1.0, f32::NAN])));
        assert!(has_non_finite(Dtype::F32, &f32s(&[f32::NEG_INFINITY])));
        // bf16 is the top half of an f32; f16 written by its bits (65504 is its largest).
        let bf16 = |v: &[f32]| {
            v.iter()
                .flat_map(|x| ((x.to_bits() >> 16) as u16).to_le_bytes())
                .collect::<Vec<u8>>()
        };
        assert!(!has_non_finite(Dtype::BF16, &bf16(&[0.0, -2.0, 1e38])));
        assert!(has_non_finite(Dtype::BF16, &bf16(&[0.5, f32::INFINITY])));
        let f16 = |v: &[u16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        assert!(!has_non_finite(Dtype::F16, &f16(&[0x7bff, 0xbc00])));
        assert!(has_non_finite(Dtype::F16, &f16(&[0x7e00])));
        assert!(
            !has_non_finite(Dtype::I64, &[0xff; 16]),
            "integers are never NaN"
        );
    }
}
