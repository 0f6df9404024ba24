//! RLHF with PPO (Schulman et al. 2017; Ouyang et al. 2022), as TRL's PPO trainer does it:
//! responses sampled from the policy (LoRA on), per-token reward −kl_coef·(log πθ − log πref)
//! plus the reward model's score at the last token, GAE, whitened advantages, clipped policy
//! and value losses, several PPO epochs over each batch of rollouts. The value head is a
//! scalar head on the policy's hidden states; the reference is the base model (adapter off).

use candle_core::{Tensor, Var};
use hone_model::generate::{generate_each, FinishReason};
use hone_model::lora::{Adapter, LoraContext};
use hone_model::sampling::SamplingParams;
use hone_model::score::{completion_logprobs, completion_outputs, SequencePair};
use hone_model::LoadedModel;
use serde::{Deserialize, Serialize};

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::metrics::Metrics;
use crate::optim::{AdamW, AdamWParams};
use crate::reward::{rewards, ScoreHead};
use crate::trainer::{
    latest_checkpoint, restore_vars, save_vars, Progress, EXTRA_FILE, OPTIMIZER_FILE, STATE_FILE,
};
use crate::{Result, TrainError};

/// TRL's defaults.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PpoSettings {
    pub kl_coef: f64,
    pub gamma: f64,
    pub lam: f64,
    pub cliprange: f64,
    pub cliprange_value: f64,
    pub vf_coef: f64,
    pub ppo_epochs: usize,
    pub temperature: f64,
    pub max_new_tokens: usize,
    pub learning_rate: f64,
    pub max_grad_norm: Option<f64>,
    pub seed: u64,
}

impl Default for PpoSettings {
    fn default() -> Self {
        Self {
            kl_coef: 0.05,
            gamma: 1.0,
            lam: 0.95,
            cliprange: 0.2,
            cliprange_value: 0.2,
            vf_coef: 0.1,
            ppo_epochs: 4,
            temperature: 0.7,
            max_new_tokens: 53,
            learning_rate: 3e-6,
            max_grad_norm: Some(1.0),
            seed: 42,
        }
    }
}

/// Scores a whole response (the reward model, or a program in tests).
pub trait Reward {
    fn score(&mut self, batch: &[SequencePair]) -> Result<Vec<f32>>;
}

/// A trained reward model as the reward.
pub struct RewardModel<'a> {
    pub lm: &'a LoadedModel,
    pub adapter: &'a Adapter,
    pub head: &'a ScoreHead,
}

impl Reward for RewardModel<'_> {
    fn score(&mut self, batch: &[SequencePair]) -> Result<Vec<f32>> {
        Ok(rewards(
            &self.lm.model,
            self.head,
            batch,
            &LoraContext::inference(Some(self.adapter)),
        )?
        .to_vec1::<f32>()?)
    }
}

/// The value head's tensor in a PPO checkpoint (TRL's name).
pub const VALUE_HEAD_KEY: &str = "v_head.weight";

pub struct Ppo<'a> {
    lm: &'a LoadedModel,
    policy: &'a Adapter,
    value_head: ScoreHead,
    optimizer: AdamW,
    pub settings: PpoSettings,
    /// Gradient checkpointing in the policy updates: the same results, less memory, one more
    /// forward pass per update (not a setting of the run: a checkpoint resumes either way).
    checkpoint_layers: bool,
}

fn masked_mean(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    Ok((x.mul(mask)?.sum_all()? / mask.sum_all()?)?)
}

fn scalar(x: &Tensor) -> Result<f64> {
    Ok(x.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?)
}

/// Generalised advantage estimation over one response: `(advantages, returns)`.
pub fn gae(rewards: &[f32], values: &[f32], gamma: f64, lam: f64) -> (Vec<f32>, Vec<f32>) {
    let n = rewards.len();
    let mut advantages = vec![0f32; n];
    let mut last = 0f64;
    for t in (0..n).rev() {
        let next = if t + 1 < n { values[t + 1] as f64 } else { 0.0 };
        let delta = rewards[t] as f64 + gamma * next - values[t] as f64;
        last = delta + gamma * lam * last;
        advantages[t] = last as f32;
    }
    let returns = advantages.iter().zip(values).map(|(a, v)| a + v).collect();
    (advantages, returns)
}

impl<'a> Ppo<'a> {
    pub fn new(lm: &'a LoadedModel, policy: &'a Adapter, settings: PpoSettings) -> Result<Self> {
        let value_head = ScoreHead::new(
            lm.model.config().hidden_size,
            settings.seed ^ 0xA11CE,
            lm.model.device(),
        )?;
        let mut vars = policy.vars();
        vars.push(value_head.weight.clone());
        let optimizer = AdamW::new(
            vars,
            AdamWParams {
                lr: settings.learning_rate,
                ..AdamWParams::default()
            },
        )?;
        Ok(Self {
            lm,
            policy,
            value_head,
            optimizer,
            settings,
            checkpoint_layers: false,
        })
    }

    /// Recomputes each decoder layer's activations in the updates' backward pass instead of
    /// keeping them (see `hone_model::checkpoint`).
    pub fn checkpointing(self, on: bool) -> Self {
        Self {
            checkpoint_layers: on,
            ..self
        }
    }

    pub fn value_head(&self) -> &ScoreHead {
        &self.value_head
    }

    /// The optimiser's variables (adapter, then value head), for checkpoints.
    pub fn vars(&self) -> &[Var] {
        self.optimizer.vars()
    }

    /// Saves the state after `iterations` iterations into `<dir>/checkpoint-<iterations>/`: the
    /// policy adapter (PEFT), the value head, the optimiser's moments, and the state file
    /// last, as the trainer's checkpoints. Each iteration's draws depend only on its number, so
    /// a run resumed from here repeats what an uninterrupted run does.
    pub fn save_checkpoint(
        &self,
        dir: &Path,
        iterations: u64,
        base_model_name: &str,
    ) -> Result<PathBuf> {
        let folder = dir.join(format!("checkpoint-{iterations}"));
        self.policy.save_peft(&folder, base_model_name)?;
        save_vars(
            &[(VALUE_HEAD_KEY.to_string(), self.value_head.weight.clone())],
            &folder.join(EXTRA_FILE),
        )?;
        self.optimizer.save(&folder.join(OPTIMIZER_FILE))?;
        let state = serde_json::json!({ "step": iterations, "settings": self.settings });
        hone_model::files::write_atomically(
            &folder.join(STATE_FILE),
            &serde_json::to_vec_pretty(&state).expect("JSON"),
        )?;
        Ok(folder)
    }

    /// Restores the newest complete checkpoint in `dir`, if any, and returns the iterations it
    /// had done. A checkpoint made with other settings is refused.
    pub fn restore_latest(&mut self, dir: &Path) -> Result<Option<u64>> {
        let Some((iterations, folder)) = latest_checkpoint(dir) else {
            return Ok(None);
        };
        let state: serde_json::Value = serde_json::from_slice(
            &std::fs::read(folder.join(STATE_FILE))
                .map_err(|e| TrainError::Checkpoint(e.to_string()))?,
        )
        .map_err(|e| {
            TrainError::Checkpoint(format!("{}: {e}", folder.join(STATE_FILE).display()))
        })?;
        if state.get("settings") != Some(&serde_json::to_value(&self.settings).expect("JSON")) {
            return Err(TrainError::Checkpoint(format!(
                "{} was made with other PPO settings; use a new checkpoint folder",
                folder.display()
            )));
        }
        restore_vars(
            &self.policy.named_vars(),
            &folder.join(hone_model::lora::WEIGHTS_FILE),
        )?;
        restore_vars(
            &[(VALUE_HEAD_KEY.to_string(), self.value_head.weight.clone())],
            &folder.join(EXTRA_FILE),
        )?;
        self.optimizer.restore(&folder.join(OPTIMIZER_FILE))?;
        Ok(Some(iterations))
    }

    fn values(&self, hidden: &Tensor, grad: bool) -> Result<Tensor> {
        let w = if grad {
            self.value_head.weight.as_tensor().clone()
        } else {
            self.value_head.weight.as_tensor().detach()
        };
        let (b, c, h) = hidden.dims3()?;
        Ok(hidden
            .to_dtype(candle_core::DType::F32)?
            .reshape((b * c, h))?
            .matmul(&w.t()?)?
            .reshape((b, c))?)
    }

    /// One PPO iteration on `prompts`: rollouts, rewards, advantages, `ppo_epochs` updates.
    pub fn step(
        &mut self,
        prompts: &[Vec<u32>],
        reward: &mut dyn Reward,
        iteration: u64,
    ) -> Result<Metrics> {
        if prompts.is_empty() {
            return Err(TrainError::Invalid {
                field: "prompts".into(),
                message: "no prompt to sample from".into(),
            });
        }
        let s = self.settings.clone();
        let started = std::time::Instant::now();
        // 1. Rollouts from the policy: the batch's prompts decoded together, so each step
        // reads the weights once for all of them. Response i draws from seed + i.
        let eos = self.lm.eos_token_ids.first().copied();
        let params = SamplingParams {
            temperature: s.temperature,
            top_k: None,
            top_p: None,
            repetition_penalty: 1.0,
            max_new_tokens: s.max_new_tokens,
            stop: Vec::new(),
            seed: s.seed.wrapping_add(iteration.wrapping_mul(100_003)),
        };
        let generations = generate_each(self.lm, Some(self.policy), prompts, &params, |_| {})?;
        let mut batch = Vec::with_capacity(prompts.len());
        for (prompt, g) in prompts.iter().zip(generations) {
            let mut response = g.token_ids;
            // The end-of-sequence token is part of the response: the policy learns to stop.
            if let (FinishReason::Eos, Some(eos)) = (g.finish_reason, eos) {
                response.push(eos);
            }
            if response.is_empty() {
                response.push(eos.unwrap_or(0));
            }
            batch.push(SequencePair {
                prompt: prompt.clone(),
                completion: response,
            });
        }

        // 2. Old log-probs and values (policy), reference log-probs (adapter off), scores.
        let sampled = started.elapsed();
        let model = &self.lm.model;
        let old = completion_outputs(
            model,
            &batch,
            &LoraContext::inference(Some(self.policy)),
            true,
            true,
        )?;
        let mask = old.logprobs.mask.clone();
        let old_logp = old.logprobs.per_token.clone();
        let old_values = self.values(old.hidden.as_ref().expect("asked for hidden"), false)?;
        let ref_logp = completion_logprobs(model, &batch, &LoraContext::default())?.per_token;
        let scores = reward.score(&batch)?;

        // 3. Per-token rewards, GAE, whitening.
        let kl = ((&old_logp - &ref_logp)? * &mask)?;
        let kl_rows = kl.to_vec2::<f32>()?;
        let value_rows = old_values.to_vec2::<f32>()?;
        let lengths = old.logprobs.lengths.clone();
        let longest = kl_rows[0].len();
        let mut advantages = Vec::with_capacity(batch.len() * longest);
        let mut returns = Vec::with_capacity(batch.len() * longest);
        for (r, len) in lengths.iter().enumerate() {
            let mut rewards: Vec<f32> = kl_rows[r][..*len]
                .iter()
                .map(|k| (-s.kl_coef * *k as f64) as f32)
                .collect();
            rewards[len - 1] += scores[r];
            let (a, ret) = gae(&rewards, &value_rows[r][..*len], s.gamma, s.lam);
            advantages.extend(a.into_iter().chain(std::iter::repeat_n(0.0, longest - len)));
            returns.extend(
                ret.into_iter()
                    .chain(std::iter::repeat_n(0.0, longest - len)),
            );
        }
        let device = model.device();
        let advantages = Tensor::from_vec(advantages, (batch.len(), longest), device)?;
        let returns = Tensor::from_vec(returns, (batch.len(), longest), device)?;
        let mean = masked_mean(&advantages, &mask)?;
        let centered = advantages.broadcast_sub(&mean)?;
        let var = masked_mean(&centered.sqr()?, &mask)?;
        let advantages = (centered.broadcast_div(&(var + 1e-8)?.sqrt()?)? * &mask)?;

        // 4. PPO epochs.
        let scored = started.elapsed();
        let mut last = Metrics::default();
        for epoch in 0..s.ppo_epochs {
            let rng =
                std::sync::Mutex::new(<rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(
                    s.seed ^ (iteration * 31 + epoch as u64),
                ));
            let out = completion_outputs(
                model,
                &batch,
                &LoraContext::training(self.policy, &rng).checkpointing(self.checkpoint_layers),
                true,
                false,
            )?;
            let new_logp = out.logprobs.per_token;
            let vpred = self.values(out.hidden.as_ref().expect("asked for hidden"), true)?;
            let ratio = (&new_logp - &old_logp)?.exp()?;
            let pg1 = (advantages.neg()? * &ratio)?;
            let pg2 = (advantages.neg()? * ratio.clamp(1.0 - s.cliprange, 1.0 + s.cliprange)?)?;
            let pg_loss = masked_mean(&pg1.maximum(&pg2)?, &mask)?;
            let vclipped = (&old_values
                + (&vpred - &old_values)?.clamp(-s.cliprange_value, s.cliprange_value)?)?;
            let vf1 = (&vpred - &returns)?.sqr()?;
            let vf2 = (&vclipped - &returns)?.sqr()?;
            let vf_loss = (masked_mean(&vf1.maximum(&vf2)?, &mask)? * 0.5)?;
            let loss = (&pg_loss + (&vf_loss * s.vf_coef)?)?;
            let value = scalar(&loss)?;
            if !value.is_finite() {
                return Err(TrainError::NonFinite {
                    what: "PPO loss".into(),
                    step: iteration,
                });
            }
            let grads = loss.backward()?;
            let grad_norm = self
                .optimizer
                .step(&grads, s.learning_rate, s.max_grad_norm)?;
            let clipped = (&ratio - 1.0)?
                .abs()?
                .gt(s.cliprange)?
                .to_dtype(candle_core::DType::F32)?;
            last = Metrics::default();
            last.insert("loss/policy", scalar(&pg_loss)?);
            last.insert("loss/value", scalar(&vf_loss)?);
            last.insert("clipfrac", scalar(&masked_mean(&clipped, &mask)?)?);
            last.insert("grad_norm", grad_norm);
        }
        // What the plan's PPO estimate is checked against (BENCHMARKS.md "Plan estimates").
        tracing::debug!(
            iteration,
            rows = batch.len(),
            response_tokens = lengths.iter().sum::<usize>(),
            sampling_ms = sampled.as_millis() as u64,
            scoring_ms = (scored - sampled).as_millis() as u64,
            updates_ms = (started.elapsed() - scored).as_millis() as u64,
            "a PPO iteration's phases"
        );
        let mut metrics = Metrics::default();
        metrics.insert(
            "score",
            scores.iter().map(|v| *v as f64).sum::<f64>() / scores.len() as f64,
        );
        metrics.insert("kl", scalar(&kl.sum(1)?.mean_all()?)?);
        metrics.insert(
            "entropy",
            scalar(&masked_mean(
                old.entropy.as_ref().expect("asked for entropy"),
                &mask,
            )?)?,
        );
        metrics.insert(
            "response_length",
            lengths.iter().sum::<usize>() as f64 / lengths.len() as f64,
        );
        for (k, v) in last.0 {
            metrics.insert(&k, v);
        }
        Ok(metrics)
    }
}

/// How long a PPO run goes: its iterations, the prompts each samples from, how often it saves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PpoSchedule {
    pub iterations: usize,
    pub batch_size: usize,
    /// A checkpoint every this many iterations, and after the last.
    pub save_every: usize,
}

impl Ppo<'_> {
    /// Runs `schedule` over `prompts`, iteration `i` sampling the `batch_size` prompts from
    /// `i * batch_size` on (wrapping around). A checkpoint in `dir` is continued from; each
    /// iteration reports its progress. Returns the last iteration's metrics.
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        &mut self,
        prompts: &[Vec<u32>],
        reward: &mut dyn Reward,
        schedule: PpoSchedule,
        dir: &Path,
        base_model_name: &str,
        cancel: &AtomicBool,
        mut on_progress: impl FnMut(&Progress),
    ) -> Result<Metrics> {
        if prompts.is_empty() {
            return Err(TrainError::Invalid {
                field: "prompts".into(),
                message: "no prompt to sample from".into(),
            });
        }
        let first = self.restore_latest(dir)?.unwrap_or(0) as usize;
        let save_every = schedule.save_every.max(1);
        let started = Instant::now();
        let mut last = Metrics::default();
        for iteration in first..schedule.iterations {
            if cancel.load(Ordering::Relaxed) {
                return Err(TrainError::Cancelled);
            }
            let batch: Vec<Vec<u32>> = (0..schedule.batch_size.min(prompts.len()))
                .map(|k| prompts[(iteration * schedule.batch_size + k) % prompts.len()].clone())
                .collect();
            last = self.step(&batch, reward, iteration as u64)?;
            crate::step_end::run_hook();
            let done = iteration + 1;
            if done.is_multiple_of(save_every) || done == schedule.iterations {
                self.save_checkpoint(dir, done as u64, base_model_name)?;
            }
            let per_iteration = started.elapsed().as_secs_f64() / (done - first) as f64;
            on_progress(&Progress {
                step: done as u64,
                total_steps: schedule.iterations as u64,
                epoch: 0,
                loss: last.get("loss/policy").unwrap_or(0.0),
                learning_rate: self.settings.learning_rate,
                grad_norm: last.get("grad_norm").unwrap_or(0.0),
                tokens_per_second: 0.0,
                eta_seconds: per_iteration * (schedule.iterations - done) as f64,
                metrics: last.clone(),
            });
        }
        Ok(last)
    }
}
