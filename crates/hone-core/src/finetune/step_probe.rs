//! What a LoRA training step's two kinds of work cost on this CPU, measured rather than assumed:
//! the forward and backward of a real step (LoRA r 16 on every projection, 4 rows of 64
//! tokens, the log-probs of their last 32) on two models built in memory, one of SmolLM2's
//! width and one about three times as wide. The wide one spends a larger share of its step in
//! products (they grow with the width squared, the values streamed around them with the
//! width), so the two step times give both rates: a product FLOP's and a streamed value's
//! (`step_time::TokenWork`).
//!
//! Why not one matmul rate: on a 2-core AVX-512 VM a 1024³ product ran 1.5 times as fast as on
//! the 2-core VM the plan's constants were fitted on, while the same SmolLM2 runs took as long
//! on both; a plan scaled by the product rate alone put them at 0.63 of their time (BENCHMARKS
//! "Plan estimates", session 37).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::step_time::{CpuRates, TokenWork, FALLBACK_CPU as FALLBACK};
use candle_core::Device;
use hone_model::lora::{Adapter, LoraConfig, LoraContext};
use hone_model::score::{completion_logprobs, SequencePair};
use hone_model::tiny::{patterned_llama, TinySize};
use hone_model::Model;
use rand::SeedableRng;

/// The probe's narrow model: SmolLM2-135M's layer (hidden 576, MLP 1536, 9 heads / 3
/// key-value), two of them.
const NARROW: TinySize = TinySize {
    hidden: 576,
    intermediate: 1536,
    layers: 2,
    heads: 9,
    kv_heads: 3,
    vocab: 512,
    max_positions: 256,
    tie_embeddings: true,
};

/// The wide one: hidden 1536, MLP 4096, 24 heads of 64 / 8 key-value, one layer (~25 M
/// parameters, 100 MB: a step takes ~0.1 s on a 2-core VM).
const WIDE: TinySize = TinySize {
    hidden: 1536,
    intermediate: 4096,
    layers: 1,
    heads: 24,
    kv_heads: 8,
    vocab: 512,
    max_positions: 256,
    tie_embeddings: true,
};

const ROWS: usize = 4;
const PROMPT_TOKENS: usize = 32;
const COMPLETION_TOKENS: usize = 32;

/// Each shape's time is the best of this many steps, spaced apart, after one warm-up step: on
/// a 2-core VM another process can hold a core for a fraction of a second (session 36's
/// half-rate matmul probes), and a fresh process's first steps fault in their pages.
const ROUNDS: usize = 6;
const ROUND_GAP: Duration = Duration::from_millis(25);

/// Measures `device`'s rates (the CPU: the probe runs wherever `device` is, but only the CPU's
/// plan uses it). The models are dropped and their memory handed back before it returns.
pub fn measure(device: &Device) -> hone_model::Result<CpuRates> {
    let rates = {
        let probes = [NARROW, WIDE]
            .into_iter()
            .map(|size| Probe::new(size, device))
            .collect::<hone_model::Result<Vec<_>>>()?;
        let mut best = [f64::INFINITY; 2];
        for round in 0..=ROUNDS {
            if round > 1 {
                std::thread::sleep(ROUND_GAP);
            }
            for (probe, best) in probes.iter().zip(&mut best) {
                let seconds = probe.step_seconds()?;
                tracing::debug!(round, hidden = probe.hidden, seconds, "a probe step");
                // Round 0 is the warm-up.
                if round > 0 {
                    *best = best.min(seconds);
                }
            }
        }
        solve(
            [probes[0].work, probes[1].work],
            best,
            (ROWS * (PROMPT_TOKENS + COMPLETION_TOKENS)) as f64,
        )
    };
    // The wide model's weights and the steps' buffers are freed: hand them back so that the
    // plan's own measure of the process (and a training's peak) does not count them.
    hone_train::step_end::run_hook();
    Ok(rates)
}

/// One shape's model, adapter and batch.
struct Probe {
    model: Model,
    adapter: Adapter,
    pairs: Vec<SequencePair>,
    work: TokenWork,
    hidden: usize,
}

impl Probe {
    fn new(size: TinySize, device: &Device) -> hone_model::Result<Self> {
        let model = patterned_llama(size, device)?;
        let lora = LoraConfig::new(16, 32.0, 0.0, &["all-linear"], false)?;
        let adapter = Adapter::new("probe", lora, &model.linear_specs(), 0, device)?;
        let vocab = size.vocab as u32;
        let pairs = (0..ROWS)
            .map(|r| {
                let token = |i: usize| (r * 131 + i * 7) as u32 % (vocab - 3) + 3;
                SequencePair {
                    prompt: (0..PROMPT_TOKENS).map(token).collect(),
                    completion: (PROMPT_TOKENS..PROMPT_TOKENS + COMPLETION_TOKENS)
                        .map(token)
                        .collect(),
                }
            })
            .collect();
        // The head is left out of the work: over a 512-token vocabulary and only the
        // completion's positions it is ~2% of the narrow step.
        let work = TokenWork::new(
            model.config(),
            false,
            (PROMPT_TOKENS + COMPLETION_TOKENS) as f64,
        );
        Ok(Self {
            model,
            adapter,
            pairs,
            work,
            hidden: size.hidden,
        })
    }

    /// One training step's forward and backward, in seconds.
    fn step_seconds(&self) -> hone_model::Result<f64> {
        let start = Instant::now();
        let rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(0));
        let lora = LoraContext::training(&self.adapter, &rng);
        let lp = completion_logprobs(&self.model, &self.pairs, &lora)?;
        lp.sums()?.mean_all()?.backward()?;
        Ok(start.elapsed().as_secs_f64())
    }
}

/// The rates that make both probes' `tokens` tokens of `work` take their measured `seconds`
/// (two equations, two unknowns). Where noise makes that solution meaningless (a negative
/// rate), the fallback rates scaled to the two steps' total.
fn solve(work: [TokenWork; 2], seconds: [f64; 2], tokens: f64) -> CpuRates {
    let products = work.map(|w| tokens * (w.weight_flops + w.attention_flops));
    let values = work.map(|w| tokens * w.streamed_values);
    let det = products[0] * values[1] - products[1] * values[0];
    let per_flop = (seconds[0] * values[1] - seconds[1] * values[0]) / det;
    let per_value = (products[0] * seconds[1] - products[1] * seconds[0]) / det;
    if per_flop.is_finite() && per_value.is_finite() && per_flop > 0.0 && per_value >= 0.0 {
        return CpuRates {
            product_flops: 1.0 / per_flop,
            seconds_per_value: per_value,
        };
    }
    let fallback = FALLBACK;
    let predicted: f64 = (0..2)
        .map(|i| products[i] / fallback.product_flops + values[i] * fallback.seconds_per_value)
        .sum();
    let scale = (seconds[0] + seconds[1]) / predicted;
    if !(scale.is_finite() && scale > 0.0) {
        return fallback;
    }
    CpuRates {
        product_flops: fallback.product_flops / scale,
        seconds_per_value: fallback.seconds_per_value * scale,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_steps_of_known_rates_give_those_rates_back() {
        let work = [NARROW, WIDE].map(|size| {
            let config = hone_model::Config::from_value(serde_json::json!({
                "model_type": "llama", "vocab_size": size.vocab, "hidden_size": size.hidden,
                "intermediate_size": size.intermediate, "num_hidden_layers": size.layers,
                "num_attention_heads": size.heads, "num_key_value_heads": size.kv_heads,
            }))
            .unwrap();
            TokenWork::new(&config, false, 64.0)
        });
        let truth = CpuRates {
            product_flops: 300e9,
            seconds_per_value: 4e-9,
        };
        let seconds = work.map(|w| {
            256.0
                * ((w.weight_flops + w.attention_flops) / truth.product_flops
                    + w.streamed_values * truth.seconds_per_value)
        });
        let got = solve(work, seconds, 256.0);
        assert!((got.product_flops / truth.product_flops - 1.0).abs() < 1e-9);
        assert!((got.seconds_per_value / truth.seconds_per_value - 1.0).abs() < 1e-9);
        // The wide step's products weigh more than the narrow one's.
        let share = |w: TokenWork| {
            (w.weight_flops / truth.product_flops)
                / (w.weight_flops / truth.product_flops
                    + w.streamed_values * truth.seconds_per_value)
        };
        assert!(share(work[1]) > share(work[0]) + 0.2);

        // The wide step measured slower per FLOP than the narrow one could explain: no
        // positive solution, so the fallback's proportions, scaled to the total.
        let noisy = [seconds[0], seconds[0] * 0.5];
        let got = solve(work, noisy, 256.0);
        let predicted: f64 = (0..2)
            .map(|i| {
                256.0
                    * ((work[i].weight_flops + work[i].attention_flops) / got.product_flops
                        + work[i].streamed_values * got.seconds_per_value)
            })
            .sum();
        assert!((predicted / (noisy[0] + noisy[1]) - 1.0).abs() < 1e-9);
        assert!(
            (got.product_flops * got.seconds_per_value
                - FALLBACK.product_flops * FALLBACK.seconds_per_value)
                .abs()
                < 1e-9 * FALLBACK.product_flops * FALLBACK.seconds_per_value
        );
    }

    #[test]
    fn the_cpu_measures_plausible_rates() {
        let rates = measure(&Device::Cpu).unwrap();
        // Any CPU of this century: 1 GFLOP/s to 100 TFLOP/s, 0.01 to 1,000 ns a value.
        assert!((1e9..1e14).contains(&rates.product_flops), "{rates:?}");
        assert!((0.0..1e-6).contains(&rates.seconds_per_value), "{rates:?}");
    }
}
