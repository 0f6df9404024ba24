//! hone-model against the reference: fixture models and numbers written by transformers and
//! PEFT (`tests/fixtures/make_fixtures.py`), and the invariants of the field.

mod errors;
mod generation;
mod gguf;
mod hone_written;
mod invariants;
mod parity;
mod peft;
mod precision;
mod properties;
mod scoring;
mod templates;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{Device, Tensor};
use hone_model::{DeviceInfo, LoadedModel};

/// Read when the test runs, not when it is compiled: cargo reuses a test binary built from
/// another checkout of the same workspace (a shared target folder), and a compile-time path
/// would then point into that other checkout.
pub const RUNTIME_MANIFEST_DIR: &str = "cargo test sets CARGO_MANIFEST_DIR";

pub fn fixtures() -> PathBuf {
    PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect(RUNTIME_MANIFEST_DIR))
        .join("../../tests/fixtures")
}

pub fn model_dir(name: &str) -> PathBuf {
    fixtures().join("models").join(name)
}

pub fn load(name: &str) -> LoadedModel {
    LoadedModel::load(&model_dir(name), DeviceInfo::cpu("tests"))
        .unwrap_or_else(|e| panic!("load fixture {name}: {e}"))
}

pub fn expected(path: PathBuf) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(&path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Largest |a − b| over the positions where `mask` (`[batch, seq]`, 0/1) is 1.
pub fn max_diff_masked(a: &Tensor, b: &Tensor, mask: Option<&Tensor>) -> f32 {
    let a = a.to_dtype(candle_core::DType::F32).unwrap();
    let b = b.to_dtype(candle_core::DType::F32).unwrap();
    assert_eq!(a.dims(), b.dims(), "shapes differ");
    let diff = (a - b).unwrap().abs().unwrap();
    let diff = match mask {
        Some(mask) => diff
            .broadcast_mul(
                &mask
                    .to_dtype(candle_core::DType::F32)
                    .unwrap()
                    .unsqueeze(2)
                    .unwrap(),
            )
            .unwrap(),
        None => diff,
    };
    diff.flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

pub fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    let a = a
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap();
    let b = b
        .to_dtype(candle_core::DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap();
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// The tolerance for f32 parity with transformers.
pub const PARITY_TOL: f32 = 1e-4;
