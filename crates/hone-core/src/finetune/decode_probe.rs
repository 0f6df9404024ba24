//! What a decoding step of PPO's rollouts costs, measured on the model the plan is for: PPO
//! decodes its batch's responses together, a token of each row a step, with the policy's
//! adapter applied beside the frozen weights, so a step's time is a pass over the weights at a
//! few rows plus each op's dispatch, bound by the machine's memory (or, on a GPU, its
//! launches) rather than its products' rate.
//!
//! Why measured, not counted: the plan priced it at constants fitted on one 2-core VM (18 GB/s
//! over the weights and 0.04 ms a layer: SmolLM2-135M at 31 ms a token). Another 2-core VM,
//! whose products ran 1.5 times as fast, decoded the same model at 53–58 ms a token, and
//! SmolLM2's PPO took 0.69 of the plan's time (BENCHMARKS.md "Plan estimates", session 38).

use std::time::{Duration, Instant};

use candle_core::Tensor;
use hone_model::generate::decode_step;
use hone_model::lora::{Adapter, LoraConfig, LoraContext};
use hone_model::{KvCache, Model};

/// The prompt the timed tokens follow: at most this many of the first PPO prompt's tokens, so
/// attention's share is a short response's, not a long context's.
const PROMPT_TOKENS: usize = 32;
/// Steps decoded untimed first (the first after a prompt faults in the cache's pages).
const WARM_UP: usize = 1;
/// Steps timed; their median is the answer (one step can lose its core on a busy machine).
const TIMED: usize = 6;

/// Seconds for one decoding step of `rows` responses after `prompt` on `model` with a fresh
/// adapter of `lora`'s shape (its values do not change the work): the median of [`TIMED`]
/// steps.
pub fn step_seconds(
    model: &Model,
    lora: LoraConfig,
    prompt: &[u32],
    rows: usize,
) -> hone_model::Result<f64> {
    let prompt = &prompt[..prompt.len().min(PROMPT_TOKENS)];
    if prompt.is_empty() {
        return Err(hone_model::ModelError::invalid(
            "prompt",
            "is empty (no tokens)",
        ));
    }
    if rows == 0 {
        return Err(hone_model::ModelError::invalid(
            "rows",
            "no row decodes the prompt",
        ));
    }
    let device = model.device();
    let adapter = Adapter::new("decode-probe", lora, &model.linear_specs(), 0, device)?;
    let context = LoraContext::inference(Some(&adapter));
    let mut cache = KvCache::new(model.config().num_hidden_layers);
    // One decoding step as `generate` runs it (`decode_step`), the first row's most likely
    // token next for every row.
    let mut step = |ids: &[u32]| -> hone_model::Result<u32> {
        let input = Tensor::new(ids, device)?.unsqueeze(0)?.repeat((rows, 1))?;
        let logits = decode_step(model, &input, &mut cache, &context)?;
        Ok(logits[0]
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i as u32))
    };
    let mut next = step(prompt)?;
    let mut times = Vec::with_capacity(TIMED);
    for i in 0..WARM_UP + TIMED {
        let started = Instant::now();
        next = step(&[next])?;
        if i >= WARM_UP {
            times.push(started.elapsed());
        }
    }
    Ok(median(&mut times).as_secs_f64())
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    use hone_model::tiny::{patterned_llama, TinySize};

    fn tiny_lm(size: TinySize) -> Model {
        patterned_llama(size, &candle_core::Device::Cpu).unwrap()
    }

    #[test]
    fn a_model_with_more_layers_takes_longer_a_token() {
        let size = |layers| TinySize {
            hidden: 256,
            intermediate: 768,
            layers,
            heads: 4,
            kv_heads: 2,
            vocab: 512,
            max_positions: 128,
            tie_embeddings: true,
        };
        let lora = || LoraConfig::new(8, 16.0, 0.0, &["all-linear"], false).unwrap();
        let prompt: Vec<u32> = (3..40).collect();
        // The best of three measures each, so one slow token on a busy machine cannot flip it.
        let best = |lm: &Model| {
            (0..3)
                .map(|_| step_seconds(lm, lora(), &prompt, 1).unwrap())
                .fold(f64::INFINITY, f64::min)
        };
        let (shallow, deep) = (tiny_lm(size(1)), tiny_lm(size(8)));
        let (one, eight) = (best(&shallow), best(&deep));
        assert!(one > 0.0 && one < 0.1, "{one}");
        assert!(eight > 2.0 * one, "1 layer {one} s, 8 layers {eight} s");
    }

    #[test]
    fn an_empty_prompt_or_no_row_is_refused() {
        let lm = tiny_lm(TinySize {
            hidden: 64,
            intermediate: 128,
            layers: 1,
            heads: 2,
            kv_heads: 1,
            vocab: 64,
            max_positions: 32,
            tie_embeddings: true,
        });
        let lora = LoraConfig::new(4, 8.0, 0.0, &["all-linear"], false).unwrap();
        let error = step_seconds(&lm, lora.clone(), &[], 1)
            .unwrap_err()
            .to_string();
        assert!(error.contains("prompt"), "{error}");
        let error = step_seconds(&lm, lora, &[5, 6], 0).unwrap_err().to_string();
        assert!(error.contains("no row"), "{error}");
    }
}
