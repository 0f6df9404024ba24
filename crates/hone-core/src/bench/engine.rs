//! Engine throughput on one model and device: a forward pass, a LoRA SFT step (forward and
//! backward), a LoRA DPO step (chosen and rejected in one forward, reference log-probs
//! cached, TRL's sigmoid loss) and greedy generation, in tokens per second, with the same
//! sizes and token ids as the PyTorch + PEFT peer (`bench/peer_pytorch.py`).

use std::sync::Mutex;

use candle_core::{Device, Tensor};
use hone_model::chat_template::Message;
use hone_model::device::{dtype_name, matmul_flops, memory_in_use, DeviceReport};
use hone_model::generate::{generate, FirstTokenClock};
use hone_model::lora::{Adapter, LoraConfig, LoraContext};
use hone_model::sampling::SamplingParams;
use hone_model::score::{completion_logprobs, PromptInput, SequencePair};
use hone_model::LoadedModel;
use rand::SeedableRng;
use serde::Serialize;

use super::{median_seconds, peak_rss_mib, token_ids};
use crate::Result;

/// One of the measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Forward,
    Train,
    Dpo,
    Generate,
}

impl std::str::FromStr for Measure {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "forward" => Ok(Self::Forward),
            "train" => Ok(Self::Train),
            "dpo" => Ok(Self::Dpo),
            "generate" => Ok(Self::Generate),
            other => Err(format!(
                "unknown measure {other:?}; expected forward, train, dpo or generate"
            )),
        }
    }
}

/// Sizes of the measures (the peer's defaults).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Run only this measure (so the peak memory is its own), or all.
    pub only: Option<Measure>,
    pub batch: usize,
    pub seq: usize,
    pub new_tokens: usize,
    pub reps: usize,
    pub lora_rank: usize,
    /// Generate from this text as a user message in the model's chat template (as a desktop
    /// user meets generation), timing the prompt's pass apart; else from 16 fixed tokens.
    pub chat_prompt: Option<String>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            only: None,
            batch: 4,
            seq: 128,
            new_tokens: 64,
            reps: 5,
            lora_rank: 8,
            chat_prompt: None,
        }
    }
}

/// Seconds of each measure that ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Seconds {
    pub forward: Option<f64>,
    pub lora_train: Option<f64>,
    pub dpo: Option<f64>,
    pub generate: Option<f64>,
    /// With a chat prompt: its pass with the first token, and the tokens after the first.
    pub chat_prompt: Option<f64>,
    pub after_first_token: Option<f64>,
}

/// What `hone bench engine --json` prints; the keys `bench/run.sh` and
/// `scripts/gpu-check.sh` read are the peer's.
#[derive(Debug, Clone, Serialize)]
pub struct EngineReport {
    pub engine: String,
    pub device: DeviceReport,
    pub parameters: usize,
    pub threads: usize,
    pub forward_tokens_per_s: Option<f64>,
    pub lora_train_tokens_per_s: Option<f64>,
    pub dpo_tokens_per_s: Option<f64>,
    pub generate_tokens_per_s: Option<f64>,
    /// With a chat prompt: its tokens, and their rate through the prompt's pass (the first
    /// token's included, as a user waits for it); `generate_tokens_per_s` is then the rate
    /// of the tokens after the first.
    pub prompt_tokens: Option<usize>,
    pub prompt_tokens_per_s: Option<f64>,
    pub peak_rss_mib: Option<f64>,
    /// The most device memory seen in use after a step (a GPU's; every process's).
    pub peak_device_mib: Option<f64>,
    /// The device's matmul peak in the base dtype, measured (4096³ products on a GPU, 1024³ on
    /// the CPU).
    pub matmul_tflops: f64,
    /// Model FLOPs utilisation of the SFT step: 4 × matmul parameters × tokens/s (forward 2P,
    /// backward to the input 2P; frozen weights get no gradient) over the measured peak.
    pub train_mfu_of_measured_peak: Option<f64>,
    /// The same for the DPO step, over its tokens (chosen and rejected; the reference
    /// log-probs are computed once, before the steps).
    pub dpo_mfu_of_measured_peak: Option<f64>,
    pub seconds: Seconds,
    pub shape: serde_json::Value,
}

/// Runs the measures of `options` on `lm` (on its device and dtype).
pub fn run(lm: &LoadedModel, options: &EngineOptions) -> Result<EngineReport> {
    let model = &lm.model;
    let cfg = model.config().clone();
    let device: &Device = model.device();
    let (batch, seq) = (options.batch, options.seq);
    if seq < 4 || batch == 0 {
        return Err(crate::CoreError::invalid(
            "bench.seq",
            "needs a batch of at least 1 and sequences of at least 4 tokens",
        ));
    }
    let wanted = |m: Measure| options.only.is_none_or(|o| o == m);
    let peak_device = std::cell::Cell::new(0u64);
    let sample = || {
        if let Some(bytes) = memory_in_use(&lm.device) {
            peak_device.set(peak_device.get().max(bytes));
        }
    };
    let ids = token_ids(batch * seq, cfg.vocab_size);
    let input = Tensor::from_vec(ids.clone(), (batch, seq), device).map_err(model_err)?;
    let mut seconds = Seconds::default();

    if wanted(Measure::Forward) {
        seconds.forward = Some(median_seconds(
            device,
            options.reps,
            || {
                let h = model.hidden_states(&input, 0, None, &LoraContext::default())?;
                model.logits(&h)?;
                Ok(())
            },
            sample,
        )?);
    }

    let lora = LoraConfig::new(
        options.lora_rank,
        2.0 * options.lora_rank as f64,
        0.0,
        &["all-linear"],
        false,
    )?;
    let adapter = Adapter::new("bench", lora, &model.linear_specs(), 0, device)?;
    let rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(0));
    let half = seq / 2;
    let pairs: Vec<SequencePair> = ids
        .chunks(seq)
        .map(|row| SequencePair {
            prompt: row[..half].to_vec(),
            completion: row[half..].to_vec(),
        })
        .collect();
    if wanted(Measure::Train) {
        seconds.lora_train = Some(median_seconds(
            device,
            options.reps,
            || {
                let training = LoraContext::training(&adapter, &rng);
                let lp = completion_logprobs(model, &pairs, &training)?;
                let loss = lp.sums()?.neg().map_err(model_err)?;
                loss.mean_all()
                    .map_err(model_err)?
                    .backward()
                    .map_err(model_err)?;
                Ok(())
            },
            sample,
        )?);
    }

    if wanted(Measure::Dpo) {
        // Each pair's rejected answer: its completion tokens shifted by one, as the peer does.
        let dpo_pairs: Vec<SequencePair> = pairs
            .iter()
            .flat_map(|p| {
                let rejected = p
                    .completion
                    .iter()
                    .map(|t| (t + 1) % cfg.vocab_size as u32)
                    .collect();
                [
                    p.clone(),
                    SequencePair {
                        prompt: p.prompt.clone(),
                        completion: rejected,
                    },
                ]
            })
            .collect();
        let reference = completion_logprobs(model, &dpo_pairs, &LoraContext::default())?
            .sums()?
            .detach();
        seconds.dpo = Some(median_seconds(
            device,
            options.reps,
            || {
                let training = LoraContext::training(&adapter, &rng);
                let lp = completion_logprobs(model, &dpo_pairs, &training)?;
                let ratios = (lp.sums()? - &reference)
                    .and_then(|r| r.reshape((batch, 2)))
                    .map_err(model_err)?;
                let margin = (ratios.narrow(1, 0, 1).map_err(model_err)?
                    - ratios.narrow(1, 1, 1).map_err(model_err)?)
                .map_err(model_err)?;
                // TRL's sigmoid loss, −log σ(β·Δ), β = 0.1.
                let loss = hone_train::losses::log_sigmoid(&(margin * 0.1).map_err(model_err)?)?
                    .mean_all()
                    .and_then(|l| l.neg())
                    .map_err(model_err)?;
                loss.backward().map_err(model_err)?;
                Ok(())
            },
            sample,
        )?);
    }

    let mut generated = 0;
    let chat_ids = match &options.chat_prompt {
        Some(text) => {
            Some(lm.encode_prompt(&PromptInput::Chat(vec![Message::new("user", text.clone())]))?)
        }
        None => None,
    };
    if wanted(Measure::Generate) {
        let prompt = match &chat_ids {
            Some(ids) => ids.as_slice(),
            None => &ids[..16.min(seq)],
        };
        let new_tokens = options
            .new_tokens
            .min(cfg.max_position_embeddings.saturating_sub(prompt.len()));
        let params = SamplingParams::greedy(new_tokens);
        // The peer generates exactly new_tokens: no end-of-sequence stop.
        let lm = LoadedModel {
            dir: lm.dir.clone(),
            model: model.clone(),
            tokenizer: lm.tokenizer.clone(),
            chat_template: None,
            eos_token_ids: Vec::new(),
            device: lm.device.clone(),
        };
        // Each rep's (prompt pass with the first token, the rest) in seconds.
        let phases = std::cell::RefCell::new(Vec::new());
        seconds.generate = Some(median_seconds(
            device,
            options.reps,
            || {
                let mut clock = FirstTokenClock::start();
                let out = generate(&lm, None, prompt, 1, &params, |_| clock.token())?;
                generated = out[0].token_ids.len();
                if let Some((first, rest)) = clock.phases() {
                    phases
                        .borrow_mut()
                        .push((first.as_secs_f64(), rest.as_secs_f64()));
                }
                Ok(())
            },
            sample,
        )?);
        if chat_ids.is_some() {
            let phases = phases.into_inner();
            // The warm-up run is the first; the measured reps follow it.
            let measured = &phases[phases.len().saturating_sub(options.reps)..];
            seconds.chat_prompt = crate::numbers::median(measured.iter().map(|p| p.0).collect());
            seconds.after_first_token =
                crate::numbers::median(measured.iter().map(|p| p.1).collect());
        }
    }

    let tokens = (batch * seq) as f64;
    let per_s = |tokens: f64, s: Option<f64>| s.map(|s| tokens / s);
    // A GPU needs large products to reach its peak; a CPU reaches its own at 1024³ (and a
    // 4096³ product takes it seconds).
    let (n, reps) = if lm.device.is_gpu() {
        (4096, 10)
    } else {
        (1024, 3)
    };
    let peak = matmul_flops(&lm.device, n, reps).unwrap_or(f64::NAN);
    // The input embedding is a lookup, not a matmul (unless tied to the LM head).
    let embedding = if cfg.tie_word_embeddings {
        0
    } else {
        cfg.vocab_size * cfg.hidden_size
    };
    let matmul_parameters = cfg.parameter_count().saturating_sub(embedding) as f64;
    let lora_train_tokens_per_s = per_s(tokens, seconds.lora_train);
    let dpo_tokens_per_s = per_s(2.0 * tokens, seconds.dpo);
    let mfu = |tokens_per_s: Option<f64>| tokens_per_s.map(|t| 4.0 * matmul_parameters * t / peak);
    Ok(EngineReport {
        engine: format!(
            "hone {} (candle, {})",
            env!("CARGO_PKG_VERSION"),
            if model.is_quantized() {
                "the GGUF file's quantized weights"
            } else {
                dtype_name(lm.device.dtype)
            }
        ),
        device: lm.device.report(),
        parameters: cfg.parameter_count(),
        threads: candle_core::utils::get_num_threads(),
        forward_tokens_per_s: per_s(tokens, seconds.forward),
        lora_train_tokens_per_s,
        dpo_tokens_per_s,
        generate_tokens_per_s: match (&chat_ids, seconds.after_first_token) {
            (Some(_), Some(s)) => Some(generated.saturating_sub(1) as f64 / s),
            _ => seconds.generate.map(|s| generated as f64 / s),
        },
        prompt_tokens: chat_ids.as_ref().map(Vec::len),
        prompt_tokens_per_s: match (&chat_ids, seconds.chat_prompt) {
            (Some(ids), Some(s)) => Some(ids.len() as f64 / s),
            _ => None,
        },
        peak_rss_mib: peak_rss_mib(),
        peak_device_mib: (peak_device.get() > 0)
            .then(|| peak_device.get() as f64 / (1024.0 * 1024.0)),
        matmul_tflops: peak / 1e12,
        train_mfu_of_measured_peak: mfu(lora_train_tokens_per_s),
        dpo_mfu_of_measured_peak: mfu(dpo_tokens_per_s),
        seconds,
        shape: serde_json::json!({
            "batch": batch,
            "seq": seq,
            "new_tokens": options.new_tokens,
            "lora_rank": options.lora_rank,
        }),
    })
}

fn model_err(e: candle_core::Error) -> crate::CoreError {
    hone_model::ModelError::from(e).into()
}
