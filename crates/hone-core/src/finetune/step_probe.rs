//! What a LoRA training step's two kinds of work cost on this CPU, measured rather than assumed:
//! the products' rates from products of a step's shapes (wide: 256 rows through a 1536 → 4096
//! projection; thin: through 576 → 192 and 192 → 512, which run on another kernel where
//! OpenBLAS is linked), and a streamed value's cost from the rest of a real step (LoRA r 16 on every
//! projection, 4 rows of 64 tokens, the log-probs of their last 32, forward and backward) on a
//! model of SmolLM2's layer built in memory, whose time goes about half to values
//! (`step_time::TokenWork`).
//!
//! Why not one matmul rate: on a 2-core AVX-512 VM a 1024³ product ran 1.5 times as fast as on
//! the 2-core VM the plan's constants were fitted on, while the same SmolLM2 runs took as long
//! on both; a plan scaled by the product rate alone put them at 0.63 of their time (BENCHMARKS
//! "Plan estimates", session 37). Solving both rates from two steps of different widths was
//! tried first: their difference made the product rate swing from 174 to 358 GFLOP/s between
//! plans on one VM.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::step_time::{CpuRates, TokenWork, FALLBACK_CPU as FALLBACK};
use candle_core::Device;
use hone_model::lora::{Adapter, LoraConfig, LoraContext};
use hone_model::score::{completion_logprobs, SequencePair};
use hone_model::tiny::{patterned, patterned_llama, TinySize};
use hone_model::Model;
use rand::SeedableRng;

/// The probe's model: SmolLM2-135M's layer (hidden 576, MLP 1536, 9 heads / 3 key-value),
/// two of them.
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

/// The wide products' shape: rows × inner → outer, timed `PRODUCTS` at a time (~3 GFLOP
/// each), on the kernel a frozen weight's products run on (OpenBLAS where linked:
/// `fused::product_kernel`).
const PRODUCT: (usize, usize, usize) = (256, 1536, 4096);
const PRODUCTS: usize = 3;

/// The thin products' shapes (SmolLM2's key/value projection, the starter's MLP), each timed
/// `THIN_PRODUCTS` times (~0.9 GFLOP in all): they run on gemm where the wide ones run on
/// OpenBLAS.
const THIN: [(usize, usize, usize); 2] = [(256, 576, 192), (256, 192, 512)];
const THIN_PRODUCTS: usize = 8;

const ROWS: usize = 4;
const PROMPT_TOKENS: usize = 32;
const COMPLETION_TOKENS: usize = 32;

/// Each time is the best of this many rounds, spaced apart, after one warm-up round: on a
/// 2-core VM another process can hold a core for a fraction of a second (session 36's
/// half-rate matmul probes), and a fresh process's first steps fault in their pages.
const ROUNDS: usize = 6;
const ROUND_GAP: Duration = Duration::from_millis(25);

/// Measures the CPU's rates on `device` (where the plan's device is the CPU). The model and
/// products are dropped and their memory handed back before it returns.
pub fn measure(device: &Device) -> hone_model::Result<CpuRates> {
    let rates = {
        let step = Probe::new(NARROW, device)?;
        let wide = Products::new(&[PRODUCT], PRODUCTS, device)?;
        let thin = Products::new(&THIN, THIN_PRODUCTS, device)?;
        let (mut best_wide, mut best_thin, mut best_step) = (0.0f64, 0.0f64, f64::INFINITY);
        for round in 0..=ROUNDS {
            if round > 1 {
                std::thread::sleep(ROUND_GAP);
            }
            let (w, t, s) = (wide.flops()?, thin.flops()?, step.step_seconds()?);
            tracing::debug!(round, wide = w, thin = t, step = s, "a probe round");
            // Round 0 is the warm-up.
            if round > 0 {
                best_wide = best_wide.max(w);
                best_thin = best_thin.max(t);
                best_step = best_step.min(s);
            }
        }
        solve(
            (best_wide, best_thin),
            step.work,
            best_step,
            (ROWS * (PROMPT_TOKENS + COMPLETION_TOKENS)) as f64,
        )
    };
    // The probe's buffers are freed: hand them back so that the plan's own measure of the
    // process (and a training's peak) does not count them.
    hone_train::step_end::run_hook();
    Ok(rates)
}

/// Products of frozen weights, timed together.
struct Products {
    operands: Vec<(candle_core::Tensor, candle_core::Tensor)>,
    repeats: usize,
    flops: f64,
}

impl Products {
    /// `shapes` are rows × inner → outer, each run `repeats` times a round.
    fn new(
        shapes: &[(usize, usize, usize)],
        repeats: usize,
        device: &Device,
    ) -> hone_model::Result<Self> {
        let operands = shapes
            .iter()
            .map(|&(rows, inner, outer)| {
                Ok((
                    patterned(&[rows, inner], device)?,
                    patterned(&[outer, inner], device)?,
                ))
            })
            .collect::<hone_model::Result<_>>()?;
        let flops = shapes
            .iter()
            .map(|&(rows, inner, outer)| (2 * rows * inner * outer * repeats) as f64)
            .sum();
        Ok(Self {
            operands,
            repeats,
            flops,
        })
    }

    /// One round's rate, FLOP/s.
    fn flops(&self) -> hone_model::Result<f64> {
        let start = Instant::now();
        for _ in 0..self.repeats {
            for (x, w) in &self.operands {
                hone_model::frozen::frozen_matmul_t(x, w)?;
            }
        }
        Ok(self.flops / start.elapsed().as_secs_f64())
    }
}

/// The probe step's model, adapter and batch.
struct Probe {
    model: Model,
    adapter: Adapter,
    pairs: Vec<SequencePair>,
    work: TokenWork,
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

/// The rates: the (wide, thin) products' as measured, and a streamed value's from what is
/// left of a step of `tokens` tokens of `work` that took `seconds` once its products are
/// priced. Where noise leaves nothing (the step faster than its products alone), the
/// fallback's proportion of a value to the wide products.
fn solve(
    (product_flops, thin_product_flops): (f64, f64),
    work: TokenWork,
    seconds: f64,
    tokens: f64,
) -> CpuRates {
    let mut rates = CpuRates {
        product_flops,
        thin_product_flops,
        seconds_per_value: 0.0,
    };
    let per_value =
        (seconds - tokens * work.product_seconds(&rates)) / (tokens * work.streamed_values);
    rates.seconds_per_value = if per_value.is_finite() && per_value > 0.0 {
        per_value
    } else {
        FALLBACK.seconds_per_value * FALLBACK.product_flops / product_flops
    };
    rates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_steps_time_less_its_products_is_its_streamed_values() {
        let work = TokenWork::new(&NARROW.llama_config().unwrap(), false, 64.0);
        let truth = CpuRates {
            product_flops: 300e9,
            thin_product_flops: 120e9,
            seconds_per_value: 4e-9,
        };
        let measured = (truth.product_flops, truth.thin_product_flops);
        let products = 256.0 * work.product_seconds(&truth);
        let values = 256.0 * work.streamed_values * truth.seconds_per_value;
        // SmolLM2's layer spends about as much on its values as on its products.
        assert!((0.3..0.7).contains(&(values / (products + values))));
        let got = solve(measured, work, products + values, 256.0);
        assert_eq!(got.product_flops, truth.product_flops);
        assert_eq!(got.thin_product_flops, truth.thin_product_flops);
        assert!((got.seconds_per_value / truth.seconds_per_value - 1.0).abs() < 1e-9);
        // A step measured faster than its products: the fallback's proportion.
        let got = solve(measured, work, products * 0.9, 256.0);
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
        assert!((1e9..1e14).contains(&rates.thin_product_flops), "{rates:?}");
        assert!((0.0..1e-6).contains(&rates.seconds_per_value), "{rates:?}");
    }
}
