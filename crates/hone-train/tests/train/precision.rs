//! Training in the GPU's mixed precision, on the CPU: a frozen bf16 base with f32 LoRA
//! weights, gradients and AdamW state gives the loss curve of an all-f32 run within a stated
//! band, for SFT and for DPO (candle's CPU backend runs bf16, widening its matmuls, so this
//! is the dtype flow a CUDA run takes, minus the kernels).

use std::path::Path;
use std::sync::atomic::AtomicBool;

use candle_core::DType;
use hone_model::lora::{Adapter, LoraConfig};
use hone_model::score::SequencePair;
use hone_model::{DeviceInfo, LoadedModel};
use hone_train::preference::{Dpo, DpoSettings, TokenPair};
use hone_train::sft::Sft;
use hone_train::trainer::{train, Objective, TrainConfig};

fn tiny_llama(dtype: DType) -> LoadedModel {
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect(crate::RUNTIME_MANIFEST_DIR))
        .join("../../tests/fixtures/models/tiny-llama");
    LoadedModel::load(&dir, DeviceInfo::cpu("tests").with_dtype(dtype)).unwrap()
}

fn adapter(lm: &LoadedModel) -> Adapter {
    let config = LoraConfig::new(8, 16.0, 0.0, &["all-linear"], false).unwrap();
    Adapter::new(
        "mixed",
        config,
        &lm.model.linear_specs(),
        3,
        lm.model.device(),
    )
    .unwrap()
}

fn config() -> TrainConfig {
    TrainConfig {
        learning_rate: 5e-3,
        epochs: 3,
        batch_size: 4,
        save_steps: 1000,
        ..TrainConfig::default()
    }
}

/// The loss at every step of `objective` trained from a fresh adapter.
fn curve(lm: &LoadedModel, objective: &mut dyn Objective, examples: usize) -> (Vec<f64>, Adapter) {
    let adapter = adapter(lm);
    let dir = tempfile::tempdir().unwrap();
    let mut losses = Vec::new();
    train(
        &adapter,
        objective,
        examples,
        &config(),
        dir.path(),
        "m",
        &AtomicBool::new(false),
        |p| losses.push(p.loss),
    )
    .unwrap();
    (losses, adapter)
}

/// Asserts two loss curves agree within `abs + rel·|f32 loss|` at every step, and that the run
/// learned something (so the comparison is not between two flat lines).
fn assert_same_curve(what: &str, f32_curve: &[f64], bf16_curve: &[f64], abs: f64, rel: f64) {
    println!("{what}: f32 {f32_curve:.4?}\n{what}: bf16 {bf16_curve:.4?}");
    assert_eq!(f32_curve.len(), bf16_curve.len());
    assert!(f32_curve.len() >= 5, "{what}: too few steps to compare");
    for (step, (a, b)) in f32_curve.iter().zip(bf16_curve).enumerate() {
        assert!(
            (a - b).abs() <= abs + rel * a.abs(),
            "{what}: step {step} loss {b} (bf16 base) vs {a} (f32)"
        );
    }
    let (first, last) = (f32_curve[0], f32_curve[f32_curve.len() - 1]);
    assert!(
        last < first,
        "{what}: the loss must fall ({first} → {last})"
    );
}

fn assert_f32_adapter(adapter: &Adapter) {
    for (name, v) in adapter.named_vars() {
        assert_eq!(
            v.dtype(),
            DType::F32,
            "{name} must stay f32 (master weights)"
        );
    }
}

#[test]
fn sft_on_a_bf16_base_follows_the_f32_loss_curve() {
    let data: Vec<SequencePair> = (0..12u32)
        .map(|i| SequencePair {
            prompt: vec![0, 10 + i, 20 + i],
            completion: vec![100 + i, 150 + i, 200 + i, 2],
        })
        .collect();
    let run = |dtype| {
        let lm = tiny_llama(dtype);
        let mut sft = Sft {
            model: &lm.model,
            examples: &data,
        };
        curve(&lm, &mut sft, data.len())
    };
    let (full, _) = run(DType::F32);
    let (half, adapter) = run(DType::BF16);
    assert_f32_adapter(&adapter);
    assert_same_curve("SFT", &full, &half, 0.02, 0.01);
}

#[test]
fn dpo_on_a_bf16_base_follows_the_f32_loss_curve() {
    let data: Vec<TokenPair> = (0..12u32)
        .map(|i| TokenPair {
            prompt: vec![0, 10 + i, 20 + i],
            chosen: vec![250, 30 + i, 250, 2],
            rejected: vec![90, 30 + i, 90, 2],
            focus: None,
        })
        .collect();
    let run = |dtype| {
        let lm = tiny_llama(dtype);
        let mut dpo = Dpo::new(&lm.model, &data, None, DpoSettings::default()).unwrap();
        curve(&lm, &mut dpo, data.len())
    };
    let (full, _) = run(DType::F32);
    let (half, adapter) = run(DType::BF16);
    assert_f32_adapter(&adapter);
    assert_same_curve("DPO", &full, &half, 0.02, 0.02);
}
