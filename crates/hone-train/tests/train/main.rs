//! hone-train against the reference: every objective, the optimiser and the schedules equal
//! what PyTorch / transformers / TRL's formulas give on the same numbers (`reference.py` in
//! this folder printed the expected values pasted here).

mod losses;
mod optim;
mod ppo;
mod precision;
mod preference;
mod reward;
mod schedule;
mod token_level;
mod trainer;
mod trl_parity;

use candle_core::{Device, Tensor};

/// Read when the test runs, not when it is compiled: cargo reuses a test binary built from
/// another checkout of the same workspace (a shared target folder), and a compile-time path
/// would then point into that other checkout.
pub const RUNTIME_MANIFEST_DIR: &str = "cargo test sets CARGO_MANIFEST_DIR";

/// The hand-made tiny Llama of `tests/fixtures/models/tiny-llama`, on the CPU.
pub fn tiny_llama() -> hone_model::LoadedModel {
    let dir =
        std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect(RUNTIME_MANIFEST_DIR))
            .join("../../tests/fixtures/models/tiny-llama");
    hone_model::LoadedModel::load(&dir, hone_model::DeviceInfo::cpu("tests")).unwrap()
}

pub fn t(values: &[f32]) -> Tensor {
    Tensor::new(values, &Device::Cpu).unwrap()
}

pub fn scalar(x: &Tensor) -> f64 {
    x.to_dtype(candle_core::DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

#[track_caller]
pub fn close(got: f64, want: f64, tol: f64, what: &str) {
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got}, reference {want} (tolerance {tol})"
    );
}
