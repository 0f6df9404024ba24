//! A device against the CPU on the same weights: per-token log-probs in f32 and in the
//! device's low precision (bf16 or f16), and the loss curves of a few LoRA SFT and DPO steps
//! from the same initial adapter. On the CPU itself the comparisons are those a GPU run takes,
//! made on the CPU: candle's composed ops against Hone's fused kernels (f32), and a bf16 base.

use std::path::Path;
use std::sync::atomic::AtomicBool;

use candle_core::DType;
use hone_model::device::{dtype_name, DeviceReport};
use hone_model::lora::{Adapter, LoraConfig, LoraContext};
use hone_model::score::{completion_logprobs, SequencePair};
use hone_model::{DeviceInfo, LoadedModel};
use hone_train::preference::{Dpo, DpoSettings, TokenPair};
use hone_train::sft::Sft;
use hone_train::trainer::{train, Objective, TrainConfig};
use serde::Serialize;

use super::token_ids;
use crate::Result;

/// Sizes of the comparison.
#[derive(Debug, Clone, Copy)]
pub struct ParityOptions {
    pub batch: usize,
    pub seq: usize,
    /// Optimiser steps of each of SFT and DPO.
    pub steps: usize,
}

impl Default for ParityOptions {
    fn default() -> Self {
        Self {
            batch: 4,
            seq: 64,
            steps: 5,
        }
    }
}

/// Two loss curves of the same steps.
#[derive(Debug, Clone, Serialize)]
pub struct Curves {
    pub reference: Vec<f64>,
    pub device: Vec<f64>,
    pub max_abs_diff: f64,
}

/// What `hone bench parity --json` prints.
#[derive(Debug, Clone, Serialize)]
pub struct ParityReport {
    pub device: DeviceReport,
    /// What the device is compared with: the CPU in f32 with its fused kernels.
    pub reference: String,
    /// The device in f32 (the composed ops on the CPU) vs the reference: max |Δ log-prob|.
    pub f32_max_abs_diff: f64,
    /// The dtype of the low-precision run: the device's (bf16 on a CPU).
    pub low_dtype: String,
    /// The device in `low_dtype` vs the reference: max and mean |Δ log-prob| per token.
    pub low_max_abs_diff: f64,
    pub low_mean_abs_diff: f64,
    /// LoRA SFT and DPO, the reference in f32, the device in `low_dtype` with f32 LoRA.
    pub sft: Curves,
    pub dpo: Curves,
}

/// Compares `device` with the CPU on the model in `dir`.
pub fn run(dir: &Path, device: &DeviceInfo, options: &ParityOptions) -> Result<ParityReport> {
    let reference = LoadedModel::load(dir, DeviceInfo::cpu("the reference"))?;
    let on_cpu = !device.is_gpu();
    let (f32_device, low_device) = if on_cpu {
        let bf16 = device.clone().with_dtype(DType::BF16);
        (device.clone().with_dtype(DType::F32), bf16)
    } else {
        (device.clone().with_dtype(DType::F32), device.clone())
    };
    let vocab = reference.model.config().vocab_size;
    let (batch, seq) = (options.batch, options.seq.max(4));
    let ids = token_ids(batch * seq, vocab);
    let pairs: Vec<SequencePair> = ids
        .chunks(seq)
        .enumerate()
        .map(|(i, row)| {
            // Uneven prompt lengths, so padding is part of what is compared.
            let cut = seq / 2 - (i % 3).min(seq / 2 - 1);
            SequencePair {
                prompt: row[..cut].to_vec(),
                completion: row[cut..].to_vec(),
            }
        })
        .collect();

    let want = logprobs(&reference, &pairs, false)?;
    let f32_run = {
        let lm = LoadedModel::load(dir, f32_device)?;
        logprobs(&lm, &pairs, on_cpu)?
    };
    let low = LoadedModel::load(dir, low_device.clone())?;
    let low_run = logprobs(&low, &pairs, false)?;
    let diffs: Vec<f64> = want
        .iter()
        .zip(&low_run)
        .map(|(a, b)| (a - b).abs() as f64)
        .collect();

    let sft = Curves::new(
        sft_curve(&reference, &pairs, options.steps)?,
        sft_curve(&low, &pairs, options.steps)?,
    );
    let token_pairs: Vec<TokenPair> = pairs
        .iter()
        .map(|p| TokenPair {
            prompt: p.prompt.clone(),
            chosen: p.completion.clone(),
            rejected: p
                .completion
                .iter()
                .map(|t| (t + 1) % vocab as u32)
                .collect(),
            focus: None,
        })
        .collect();
    let dpo = Curves::new(
        dpo_curve(&reference, &token_pairs, options.steps)?,
        dpo_curve(&low, &token_pairs, options.steps)?,
    );
    Ok(ParityReport {
        device: device.report(),
        reference: "cpu, f32, fused kernels".into(),
        f32_max_abs_diff: max_abs_diff(&want, &f32_run),
        low_dtype: dtype_name(low_device.dtype).into(),
        low_max_abs_diff: diffs.iter().copied().fold(0.0, f64::max),
        low_mean_abs_diff: diffs.iter().sum::<f64>() / diffs.len().max(1) as f64,
        sft,
        dpo,
    })
}

impl Curves {
    fn new(reference: Vec<f64>, device: Vec<f64>) -> Self {
        let max_abs_diff = reference
            .iter()
            .zip(&device)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        Self {
            reference,
            device,
            max_abs_diff,
        }
    }
}

/// A LoRA adapter r = 8 on every projection, seed 0: the same start on every device; B = 0,
/// so it leaves the model's output as it is.
fn fresh_adapter(lm: &LoadedModel) -> Result<Adapter> {
    let lora = LoraConfig::new(8, 16.0, 0.0, &["all-linear"], false)?;
    Ok(Adapter::new(
        "parity",
        lora,
        &lm.model.linear_specs(),
        0,
        lm.model.device(),
    )?)
}

/// Per-token log-probs (padding left out), in f32, as a training step computes them (through
/// a fresh LoRA adapter, which leaves the output as it is but makes every op take its
/// differentiable path); `composed` forces candle's composed ops there.
fn logprobs(lm: &LoadedModel, pairs: &[SequencePair], composed: bool) -> Result<Vec<f32>> {
    let adapter = fresh_adapter(lm)?;
    let rng = std::sync::Mutex::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0));
    let training = LoraContext::training(&adapter, &rng);
    let score = || completion_logprobs(&lm.model, pairs, &training);
    let lp = if composed {
        hone_model::fused::composed(score)?
    } else {
        score()?
    };
    let to_vec = |t: &candle_core::Tensor| -> Result<Vec<f32>> {
        Ok(t.to_dtype(DType::F32)
            .and_then(|t| t.flatten_all())
            .and_then(|t| t.to_vec1::<f32>())
            .map_err(hone_model::ModelError::from)?)
    };
    let (values, mask) = (to_vec(&lp.per_token)?, to_vec(&lp.mask)?);
    Ok(values
        .into_iter()
        .zip(mask)
        .filter(|(_, m)| *m > 0.5)
        .map(|(v, _)| v)
        .collect())
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max)
}

/// A fresh adapter (the same seed on every device) and the loss at each of `steps` steps.
fn curve(
    lm: &LoadedModel,
    objective: &mut dyn Objective,
    examples: usize,
    steps: usize,
) -> Result<Vec<f64>> {
    let adapter = fresh_adapter(lm)?;
    // One batch of every example per step: `steps` epochs.
    let config = TrainConfig {
        learning_rate: 1e-3,
        batch_size: examples.max(1),
        epochs: steps.max(1),
        save_steps: u64::MAX,
        warmup_steps: 0,
        ..TrainConfig::default()
    };
    let dir = tempfile::tempdir().map_err(crate::CoreError::io(std::env::temp_dir()))?;
    let mut losses = Vec::new();
    train(
        &adapter,
        objective,
        examples,
        &config,
        dir.path(),
        "parity",
        &AtomicBool::new(false),
        |p| losses.push(p.loss),
    )?;
    Ok(losses)
}

fn sft_curve(lm: &LoadedModel, pairs: &[SequencePair], steps: usize) -> Result<Vec<f64>> {
    let mut sft = Sft {
        model: &lm.model,
        examples: pairs,
    };
    curve(lm, &mut sft, pairs.len(), steps)
}

fn dpo_curve(lm: &LoadedModel, pairs: &[TokenPair], steps: usize) -> Result<Vec<f64>> {
    let mut dpo = Dpo::new(&lm.model, pairs, None, DpoSettings::default())?;
    curve(lm, &mut dpo, pairs.len(), steps)
}
