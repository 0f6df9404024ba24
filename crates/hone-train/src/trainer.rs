//! The training loop shared by every method: batches in a seeded order, gradient
//! accumulation, AdamW with clipping, a learning-rate schedule, progress events, cancellation
//! within one step, a NaN guard, and checkpoints that a new process resumes from exactly.
//!
//! A checkpoint (`<dir>/checkpoint-<step>/`) holds the adapter in PEFT's layout (or, in
//! full-parameter mode, every weight as `model.safetensors`), the
//! optimiser's moments and `trainer_state.json`. Data order and dropout masks are functions
//! of (seed, epoch, step), so a resumed run draws exactly what the uninterrupted run drew.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use candle_core::{Tensor, Var};
use hone_model::lora::{Adapter, LoraContext};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::checkpointing::Checkpointing;
use crate::metrics::Metrics;
use crate::optim::{AdamW, AdamWParams};
use crate::schedule::Schedule;
use crate::{Result, TrainError};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub learning_rate: f64,
    pub schedule: Schedule,
    pub warmup_steps: u64,
    pub epochs: usize,
    /// Examples per forward pass.
    pub batch_size: usize,
    /// Forward passes per optimiser step.
    pub gradient_accumulation_steps: usize,
    pub max_grad_norm: Option<f64>,
    pub weight_decay: f64,
    pub seed: u64,
    /// Save a checkpoint every this many optimiser steps (and always at the end).
    pub save_steps: u64,
    /// Recompute each decoder layer in the backward (LoRA only; it changes no result).
    #[serde(default)]
    pub gradient_checkpointing: Checkpointing,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            learning_rate: 2e-4,
            schedule: Schedule::Linear,
            warmup_steps: 0,
            epochs: 1,
            batch_size: 4,
            gradient_accumulation_steps: 1,
            max_grad_norm: Some(1.0),
            weight_decay: 0.0,
            seed: 42,
            save_steps: 50,
            gradient_checkpointing: Checkpointing::Auto,
        }
    }
}

impl TrainConfig {
    /// Whether a checkpoint made under `other` continues this run: the same settings, up to
    /// gradient checkpointing (which changes memory and time, not results).
    fn same_run(&self, other: &TrainConfig) -> bool {
        let plain = |c: &TrainConfig| TrainConfig {
            gradient_checkpointing: Checkpointing::Auto,
            ..c.clone()
        };
        plain(self) == plain(other)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, message: &str| {
            Err(TrainError::Invalid {
                field: field.into(),
                message: message.into(),
            })
        };
        if !(self.learning_rate > 0.0 && self.learning_rate.is_finite()) {
            return bad("learning_rate", "must be a positive number");
        }
        if self.epochs == 0 {
            return bad("epochs", "must be at least 1");
        }
        if self.batch_size == 0 {
            return bad("batch_size", "must be at least 1");
        }
        if self.gradient_accumulation_steps == 0 {
            return bad("gradient_accumulation_steps", "must be at least 1");
        }
        if self.save_steps == 0 {
            return bad("save_steps", "must be at least 1");
        }
        Ok(())
    }

    /// Optimiser steps for `examples` examples.
    pub fn total_steps(&self, examples: usize) -> u64 {
        let batches = examples.div_ceil(self.batch_size);
        (batches.div_ceil(self.gradient_accumulation_steps) * self.epochs) as u64
    }

    /// The token positions a run computes, padding included: each batch, in the order the
    /// run draws it (the seeded shuffle of each epoch), is `rows_per_example` rows per
    /// example padded to its longest example (`lengths[i]`: example i's longest row).
    pub fn padded_tokens(&self, lengths: &[usize], rows_per_example: usize) -> usize {
        let batch = self.batch_size.max(1);
        (0..self.epochs)
            .map(|epoch| {
                epoch_order(lengths.len(), self.seed, epoch)
                    .chunks(batch)
                    .map(|b| {
                        let longest = b.iter().map(|&i| lengths[i]).max().unwrap_or(0);
                        b.len() * rows_per_example * longest
                    })
                    .sum::<usize>()
            })
            .sum()
    }
}

/// What a method computes on a batch of example indices.
pub trait Objective {
    /// The loss (a scalar tensor with a graph to the adapter), the metrics, and the number of
    /// tokens it covered (for tokens/s).
    fn loss(&mut self, batch: &[usize], lora: &LoraContext) -> Result<(Tensor, Metrics, usize)>;

    /// Trainable variables beyond the adapter's (a reward model's score head), by name; they
    /// are optimised and checkpointed with it.
    fn extra_vars(&self) -> Vec<(String, Var)> {
        Vec::new()
    }
}

/// A progress event after each optimiser step.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub step: u64,
    pub total_steps: u64,
    pub epoch: usize,
    pub loss: f64,
    pub learning_rate: f64,
    pub grad_norm: f64,
    pub tokens_per_second: f64,
    pub eta_seconds: f64,
    pub metrics: Metrics,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct TrainerState {
    step: u64,
    config: TrainConfig,
    examples: usize,
}

pub const STATE_FILE: &str = "trainer_state.json";
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The objective's own trainable tensors (e.g. a reward model's `score.weight`).
pub const EXTRA_FILE: &str = "extra.safetensors";

/// What a run optimises.
#[derive(Clone, Copy)]
pub enum Trainable<'a> {
    /// A LoRA adapter on frozen base weights; checkpoints hold it in PEFT's layout.
    Adapter(&'a Adapter),
    /// Every weight of a model made by `Model::with_trainable_weights` (full-parameter
    /// fine-tuning of small models, plain causal-LM loss); checkpoints hold the weights as
    /// `model.safetensors` under the checkpoint's names.
    Full(&'a [(String, Var)]),
}

impl<'a> From<&'a Adapter> for Trainable<'a> {
    fn from(adapter: &'a Adapter) -> Self {
        Trainable::Adapter(adapter)
    }
}

impl<'a> Trainable<'a> {
    fn vars(&self) -> Vec<Var> {
        match self {
            Trainable::Adapter(adapter) => adapter.vars(),
            Trainable::Full(vars) => vars.iter().map(|(_, v)| v.clone()).collect(),
        }
    }

    /// The forward pass's view of the trainable weights: the adapter with dropout, or no
    /// adapter (the model's own weights carry the gradient).
    fn context(&self, dropout: &'a Mutex<StdRng>) -> LoraContext<'a> {
        match self {
            Trainable::Adapter(adapter) => LoraContext::training(adapter, dropout),
            Trainable::Full(_) => LoraContext {
                adapter: None,
                dropout_rng: None,
                grad: true,
                checkpoint_layers: false,
            },
        }
    }

    fn save(&self, folder: &Path, base_model_name: &str) -> Result<()> {
        match self {
            Trainable::Adapter(adapter) => {
                adapter.save_peft(folder, base_model_name)?;
            }
            Trainable::Full(vars) => save_vars(vars, &folder.join(FULL_WEIGHTS_FILE))?,
        }
        Ok(())
    }

    fn restore(&self, folder: &Path) -> Result<()> {
        match self {
            Trainable::Adapter(adapter) => restore_vars(
                &adapter.named_vars(),
                &folder.join(hone_model::lora::WEIGHTS_FILE),
            ),
            Trainable::Full(vars) => restore_vars(vars, &folder.join(FULL_WEIGHTS_FILE)),
        }
    }
}

/// A full-parameter checkpoint's weights (Hugging Face's file name).
pub const FULL_WEIGHTS_FILE: &str = "model.safetensors";

/// The newest complete checkpoint in `dir` (a folder is complete once its state file exists,
/// which is written last).
pub fn latest_checkpoint(dir: &Path) -> Option<(u64, PathBuf)> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let step = name.strip_prefix("checkpoint-")?.parse::<u64>().ok()?;
            e.path()
                .join(STATE_FILE)
                .is_file()
                .then(|| (step, e.path()))
        })
        .max_by_key(|(step, _)| *step)
}

/// The outcome of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOutcome {
    pub steps: u64,
    pub resumed_from: Option<u64>,
    pub final_checkpoint: PathBuf,
    pub last: Option<Progress>,
}

/// The order of the examples in `epoch`: a permutation seeded by (seed, epoch).
fn epoch_order(examples: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..examples).collect();
    order.shuffle(&mut StdRng::seed_from_u64(
        seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(epoch as u64 + 1)),
    ));
    order
}

/// Trains `trainable` (an adapter, or a model's own weights) with `objective` on `examples` examples, checkpointing into
/// `checkpoint_dir`; resumes from the newest checkpoint there if one exists.
#[allow(clippy::too_many_arguments)] // each is a distinct input of a run; a struct would only rename them
pub fn train<'a>(
    trainable: impl Into<Trainable<'a>>,
    objective: &mut dyn Objective,
    examples: usize,
    config: &TrainConfig,
    checkpoint_dir: &Path,
    base_model_name: &str,
    cancel: &AtomicBool,
    mut on_progress: impl FnMut(&Progress),
) -> Result<TrainOutcome> {
    let trainable = trainable.into();
    config.validate()?;
    if examples == 0 {
        return Err(TrainError::Invalid {
            field: "dataset".into(),
            message: "has no examples".into(),
        });
    }
    let total_steps = config.total_steps(examples);
    let params = AdamWParams {
        lr: config.learning_rate,
        weight_decay: config.weight_decay,
        ..AdamWParams::default()
    };
    let extra = objective.extra_vars();
    let mut vars = trainable.vars();
    vars.extend(extra.iter().map(|(_, v)| v.clone()));
    let mut optimizer = AdamW::new(vars, params)?;

    let mut resumed_from = None;
    if let Some((step, dir)) = latest_checkpoint(checkpoint_dir) {
        let state: TrainerState = serde_json::from_slice(
            &std::fs::read(dir.join(STATE_FILE))
                .map_err(|e| TrainError::Checkpoint(e.to_string()))?,
        )
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", dir.join(STATE_FILE).display())))?;
        if state.examples != examples || !state.config.same_run(config) {
            return Err(TrainError::Checkpoint(format!(
                "{} was made with other data or settings; use a new checkpoint folder",
                dir.display()
            )));
        }
        trainable.restore(&dir)?;
        if !extra.is_empty() {
            restore_vars(&extra, &dir.join(EXTRA_FILE))?;
        }
        optimizer.restore(&dir.join(OPTIMIZER_FILE))?;
        resumed_from = Some(step);
        tracing::info!(step, "resumed from checkpoint");
    }

    let batches_per_epoch = examples.div_ceil(config.batch_size);
    let steps_per_epoch = batches_per_epoch.div_ceil(config.gradient_accumulation_steps) as u64;
    let mut step = resumed_from.unwrap_or(0);
    let mut last = None;
    let started = Instant::now();
    let mut tokens_seen = 0usize;
    let mut last_checkpoint = resumed_from.map(|s| checkpoint_dir.join(format!("checkpoint-{s}")));

    while step < total_steps {
        if cancel.load(Ordering::Relaxed) {
            return Err(TrainError::Cancelled);
        }
        let epoch = (step / steps_per_epoch) as usize;
        let order = epoch_order(examples, config.seed, epoch);
        let step_in_epoch = (step % steps_per_epoch) as usize;
        let first_batch = step_in_epoch * config.gradient_accumulation_steps;
        let last_batch = (first_batch + config.gradient_accumulation_steps).min(batches_per_epoch);
        let dropout = Mutex::new(StdRng::seed_from_u64(
            config.seed.wrapping_add(step.wrapping_mul(1_000_003)),
        ));
        let lora = trainable
            .context(&dropout)
            .checkpointing(config.gradient_checkpointing.is_on());

        // The adapter's gradients summed over the micro-batches (the graphs are dropped).
        let mut accumulated: Vec<Option<Tensor>> = vec![None; optimizer.vars().len()];
        let mut loss_sum = 0.0;
        let mut metrics = Metrics::default();
        let micro = last_batch - first_batch;
        for b in first_batch..last_batch {
            let indices =
                &order[b * config.batch_size..((b + 1) * config.batch_size).min(examples)];
            let (loss, m, tokens) = objective.loss(indices, &lora)?;
            let value = loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
            if !value.is_finite() {
                return Err(TrainError::NonFinite {
                    what: "loss".into(),
                    step,
                });
            }
            loss_sum += value;
            tokens_seen += tokens;
            // What a step's memory and time are read against (BENCHMARKS.md, issue 16).
            tracing::debug!(
                step,
                batch = b,
                examples = indices.len(),
                tokens,
                "a micro-batch"
            );
            for (name, v) in m.0 {
                let prev = metrics.get(&name).unwrap_or(0.0);
                metrics.insert(&name, prev + v / micro as f64);
            }
            let store = (loss / micro as f64)?.backward()?;
            for (sum, g) in accumulated.iter_mut().zip(optimizer.grads_from(&store)) {
                *sum = match (sum.take(), g) {
                    (Some(prev), Some(g)) => Some((prev + g)?),
                    (prev, g) => prev.or(g),
                };
            }
        }
        let lr = config
            .schedule
            .lr(config.learning_rate, step, config.warmup_steps, total_steps);
        let grad_norm = optimizer
            .step_with(&accumulated, lr, config.max_grad_norm)
            .map_err(|e| match e {
                TrainError::NonFinite { what, .. } => TrainError::NonFinite { what, step },
                other => other,
            })?;
        step += 1;

        let elapsed = started.elapsed().as_secs_f64().max(1e-9);
        let done = step - resumed_from.unwrap_or(0);
        let progress = Progress {
            step,
            total_steps,
            epoch,
            loss: loss_sum / micro as f64,
            learning_rate: lr,
            grad_norm,
            tokens_per_second: tokens_seen as f64 / elapsed,
            eta_seconds: elapsed / done as f64 * (total_steps - step) as f64,
            metrics,
        };
        crate::step_end::run_hook();
        on_progress(&progress);
        last = Some(progress);
        if step % config.save_steps == 0 || step == total_steps {
            last_checkpoint = Some(save_checkpoint(
                trainable,
                &extra,
                &optimizer,
                checkpoint_dir,
                step,
                config,
                examples,
                base_model_name,
            )?);
        }
    }
    Ok(TrainOutcome {
        steps: step,
        resumed_from,
        final_checkpoint: last_checkpoint.expect("a run ends with a checkpoint"),
        last,
    })
}

#[allow(clippy::too_many_arguments)]
fn save_checkpoint(
    trainable: Trainable,
    extra: &[(String, Var)],
    optimizer: &AdamW,
    dir: &Path,
    step: u64,
    config: &TrainConfig,
    examples: usize,
    base_model_name: &str,
) -> Result<PathBuf> {
    let folder = dir.join(format!("checkpoint-{step}"));
    trainable.save(&folder, base_model_name)?;
    if !extra.is_empty() {
        save_vars(extra, &folder.join(EXTRA_FILE))?;
    }
    optimizer.save(&folder.join(OPTIMIZER_FILE))?;
    // Written last: a folder without it is an unfinished checkpoint and is ignored.
    let state = TrainerState {
        step,
        config: config.clone(),
        examples,
    };
    hone_model::files::write_atomically(
        &folder.join(STATE_FILE),
        &serde_json::to_vec_pretty(&state).expect("JSON"),
    )?;
    Ok(folder)
}

/// Copies the tensors of a checkpoint file into variables of the same names and shapes.
pub fn restore_vars(vars: &[(String, Var)], path: &Path) -> Result<()> {
    let tensors = candle_core::safetensors::load(path, &candle_core::Device::Cpu)
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", path.display())))?;
    for (key, var) in vars {
        let t = tensors.get(key).ok_or_else(|| {
            TrainError::Checkpoint(format!("{}: no tensor {key}", path.display()))
        })?;
        if t.dims() != var.dims() {
            return Err(TrainError::Checkpoint(format!(
                "{}: {key} has shape {:?}, expected {:?}",
                path.display(),
                t.dims(),
                var.dims()
            )));
        }
        var.set(&t.to_device(var.device())?.to_dtype(var.dtype())?)?;
    }
    Ok(())
}

/// Writes named variables as safetensors, atomically.
pub fn save_vars(vars: &[(String, Var)], path: &Path) -> Result<()> {
    let tensors = vars
        .iter()
        .map(|(k, v)| {
            Ok((
                k.clone(),
                v.as_tensor().to_device(&candle_core::Device::Cpu)?,
            ))
        })
        .collect::<Result<Vec<(String, Tensor)>>>()?;
    hone_model::tiny::write_weights(path, &tensors)?;
    Ok(())
}
