//! How long a plan expects training to take on a device before a run of the method on the
//! model has been measured there ([`super::timing`] takes over after one): the work of a
//! training token counted from the model's shape, at the device's measured rates
//! ([`super::device_speed`]), and on the CPU each pass over the weights.
//!
//! On the CPU a token's work is its products (4 × the parameters it goes through, and
//! attention's) and the values its layers stream outside them (norms, SwiGLU, residual adds,
//! LoRA's thin rank-r products, the gradients' sums). What each costs is measured on the CPU
//! itself ([`super::step_probe`]: wide and thin products of a step's shapes, and a real
//! training step), since the two do not scale together from one CPU to another;
//! [`CPU_RUN_FACTOR`] turns the probe's bare steps into a whole run's time.
//!
//! Known simplifications: `4 × parameters` also counts an untied input embedding and the norms
//! (a lookup and element-wise work, priced as wide products: ~7% of the starter's); and a
//! product is classed by its weight's sides only, while batches of fewer than 64 padded tokens
//! (and the LM head's last partial block of 64 rows) run on gemm even for a wide weight.

use hone_model::Config;
use serde::{Deserialize, Serialize};

/// The speed a plan assumes for its device, measured once and kept per device.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// The CPU: what a step's two kinds of work cost there, measured with the threads training
    /// uses (`step_probe`).
    Cpu(CpuRates),
    /// A GPU: its matmul rate in the base dtype. A LoRA step reaches about
    /// [`GPU_STEP_EFFICIENCY`] of it (small batches, f32 LoRA branches, the loss in f32).
    Gpu { matmul_flops: f64 },
}

/// A CPU's measured costs of a training step's work (`step_probe`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CpuRates {
    /// The rate the weights' wide products run at (both sides at least
    /// `hone_model::fused::WIDE_PRODUCT_SIDE`), FLOP/s.
    pub product_flops: f64,
    /// The rate the thin products run at (a narrower weight's, attention's per-head ones),
    /// FLOP/s. Where OpenBLAS (before it BLIS) is linked they run on another kernel than the
    /// wide ones (the starter's, all thin, ran at 0.61 of a plan that priced them at BLIS's
    /// rate). 0 in a
    /// `devices.json` entry from before it was measured, which is then measured again.
    #[serde(default)]
    pub thin_product_flops: f64,
    /// The seconds each value a layer streams outside its products costs (norms, SwiGLU,
    /// residual adds, LoRA's thin products, the gradients' sums).
    pub seconds_per_value: f64,
}

/// The rates assumed where the CPU cannot be measured: about what the probe measured with the
/// products on gemm on the 2-core VMs of the benchmarks (sessions 37–38; with BLIS the wide
/// products measured 176–298 GFLOP/s and the thin ones 140–205 in session 40): a cautious
/// guess.
pub const FALLBACK_CPU: CpuRates = CpuRates {
    product_flops: 150e9,
    thin_product_flops: 100e9,
    seconds_per_value: 6e-9,
};

/// A whole run's time over its tokens' work priced at the probe's rates: what the probe's
/// bare steps leave out (the optimiser, the loss, batching, the first steps' page faults):
/// the geometric mean of measured over estimated time on the 23 rows of one `bench/plan.sh`
/// run on a 2-core VM, the quantized rows aside, with the products on OpenBLAS and gemm's in
/// bands (BENCHMARKS.md "Plan estimates", session 41: 1.06 × 1/0.936; 1.06 on 11 rows of
/// session 37's, on gemm).
pub const CPU_RUN_FACTOR: f64 = 1.13;

/// What a pass over the weights costs on the CPU beyond its tokens' work: each product packs
/// its weight matrix anew (OpenBLAS and gemm alike) whatever the batch's size, and each layer's
/// ops have a fixed cost, once in the forward and once in the backward. Fitted on the
/// intercept of a LoRA step's time against its tokens (`hone bench engine --only train --seq
/// 64 --batch 2/8`, three rounds, and `--batch 2/4/8` once) with the products on OpenBLAS on a
/// 2-core VM: SmolLM2-135M (30 layers, 0.54 GB) 0.07 s a step, a 1B Llama (16 layers, 4.3 GB)
/// 0.25 s, the starter (4 layers) 0.02 s, each ±0.1 s between rounds (BENCHMARKS.md "Plan
/// estimates", session 41). On gemm (session 37) the 1B's was 2.0 s; on BLIS (session 40) ~0.
/// Memory bandwidth and the ops' overheads, not the products' rate, bound it, so the probe's
/// rates do not scale it.
pub const CPU_SECONDS_PER_LAYER_PASS: f64 = 1.5e-3;
/// The other part of a pass's cost ([`CPU_SECONDS_PER_LAYER_PASS`]), per byte of weights.
pub const CPU_SECONDS_PER_WEIGHT_BYTE: f64 = 0.024e-9;

/// Seconds for `passes` passes over `weight_bytes` of weights in `layers` decoder layers
/// beyond their tokens' work (0 on a GPU, whose efficiency covers it).
pub fn weight_pass_seconds(weight_bytes: usize, layers: usize, passes: usize, speed: Speed) -> f64 {
    match speed {
        Speed::Cpu(_) => {
            let pass = layers as f64 * CPU_SECONDS_PER_LAYER_PASS
                + weight_bytes as f64 * CPU_SECONDS_PER_WEIGHT_BYTE;
            passes as f64 * pass * CPU_RUN_FACTOR
        }
        Speed::Gpu { .. } => 0.0,
    }
}

/// The share of a GPU's measured matmul peak a LoRA step is assumed to reach until a run on
/// it measures the real throughput.
pub const GPU_STEP_EFFICIENCY: f64 = 0.3;

/// A step's time with gradient checkpointing over its time without: one more forward pass
/// per step, measured on SmolLM2-135M beside the same run without it. On gemm (sessions
/// 33–34) 1.02–1.47 over eight pairs of runs, 1.28 on average; with the wide products on BLIS
/// (sessions 39–40) 0.96–1.34 over eight more, 1.13 on average (BENCHMARKS.md "Plan
/// estimates"; larger batches measured less).
pub const CHECKPOINTING_TIME_FACTOR: f64 = 1.2;

/// The work of one training token through a model, counted from its shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TokenWork {
    /// 4 × the parameters the token goes through (forward 2P, backward through the frozen
    /// weights 2P).
    pub weight_flops: f64,
    /// The part of `weight_flops` in thin products: weights with a side narrower than
    /// `hone_model::fused::WIDE_PRODUCT_SIDE` (SmolLM2's key and value projections, all of
    /// the starter's).
    pub thin_weight_flops: f64,
    /// Attention's products at the rows' mean length `t`: two forward and five backward (the
    /// scores recomputed), each `2 · t/2 · head_dim` a head under the causal mask.
    pub attention_flops: f64,
    /// The values the projections read and write, every layer's inputs and outputs.
    pub streamed_values: f64,
}

impl TokenWork {
    /// A training token of `config`'s model in rows of `row_tokens` tokens; `with_head`
    /// false for a reward model, which scores the last hidden state and never applies the LM
    /// head.
    pub fn new(config: &Config, with_head: bool, row_tokens: f64) -> Self {
        let (h, i) = (config.hidden_size as f64, config.intermediate_size as f64);
        let q = (config.num_attention_heads * config.head_dim) as f64;
        let kv = (config.num_key_value_heads * config.head_dim) as f64;
        let layers = config.num_hidden_layers as f64;
        let head = config.vocab_size * config.hidden_size;
        let parameters = if with_head {
            config.parameter_count()
        } else {
            config.parameter_count().saturating_sub(head)
        };
        // Inputs: q, k, v, gate and up read `h`, o reads `q`, down reads `i`; outputs: q, k,
        // v, o, gate, up, down.
        let inputs = 5.0 * h + q + i;
        let outputs = q + 2.0 * kv + h + 2.0 * i + h;
        let projections = [(h, q), (h, kv), (h, kv), (q, h), (h, i), (h, i), (i, h)];
        let thin = |(a, b): (f64, f64)| {
            if a.min(b) < hone_model::fused::WIDE_PRODUCT_SIDE as f64 {
                a * b
            } else {
                0.0
            }
        };
        let thin_layer: f64 = projections.into_iter().map(thin).sum();
        let thin_head = if with_head {
            thin((h, config.vocab_size as f64))
        } else {
            0.0
        };
        Self {
            weight_flops: 4.0 * parameters as f64,
            thin_weight_flops: 4.0 * (layers * thin_layer + thin_head),
            attention_flops: layers * 7.0 * row_tokens * q,
            streamed_values: layers * (inputs + outputs),
        }
    }

    /// A token's products on the CPU, in seconds: the wide ones at the wide rate, the thin
    /// ones and attention's (per head) at the thin rate.
    pub fn product_seconds(&self, rates: &CpuRates) -> f64 {
        (self.weight_flops - self.thin_weight_flops) / rates.product_flops
            + (self.thin_weight_flops + self.attention_flops) / rates.thin_product_flops
    }
}

/// Seconds for `tokens` training tokens of `work` each on a device of `speed`.
pub fn estimate_seconds(work: TokenWork, tokens: usize, speed: Speed) -> f64 {
    let tokens = tokens as f64;
    match speed {
        Speed::Cpu(rates) => {
            let seconds =
                work.product_seconds(&rates) + work.streamed_values * rates.seconds_per_value;
            tokens * seconds * CPU_RUN_FACTOR
        }
        Speed::Gpu { matmul_flops } => {
            tokens * work.weight_flops / (matmul_flops * GPU_STEP_EFFICIENCY)
        }
    }
}

/// What a forward pass without a graph (PPO's scoring, a prompt's prefill) costs against a
/// training step on the same rows: 1.28 s against 3.56 s on SmolLM2-135M's PPO batch.
pub const FORWARD_SHARE: f64 = 0.4;

#[cfg(test)]
mod tests {
    use super::*;

    use hone_model::tiny::Shape;

    #[test]
    fn a_token_of_a_wider_model_spends_a_larger_share_in_products() {
        // Products grow with the width squared, the streamed values with the width: the reason
        // one FLOP rate over-estimated a 1B model's run where it fitted SmolLM2's.
        let cpu = Speed::Cpu(FALLBACK_CPU);
        let share = |c: &Config| {
            let work = TokenWork::new(c, true, 64.0);
            let all = estimate_seconds(work, 1000, cpu);
            let products = estimate_seconds(
                TokenWork {
                    streamed_values: 0.0,
                    ..work
                },
                1000,
                cpu,
            );
            products / all
        };
        let (narrow, wide) = (Shape::Smollm2_135m.config(), Shape::Llama1b.config());
        assert!(
            share(&wide) > share(&narrow) + 0.1,
            "{} {}",
            share(&wide),
            share(&narrow)
        );
    }

    #[test]
    fn thin_products_are_the_weights_with_a_side_under_the_wide_kernels_width() {
        let work = |shape: Shape| TokenWork::new(&shape.config(), true, 64.0);
        // SmolLM2: its key and value projections (576 → 192) in each of 30 layers.
        let smollm2 = work(Shape::Smollm2_135m);
        assert_eq!(smollm2.thin_weight_flops, 4.0 * 30.0 * 2.0 * 576.0 * 192.0);
        // The 1B's are 2048 → 512: every product is wide.
        assert_eq!(work(Shape::Llama1b).thin_weight_flops, 0.0);
        // The tiny test model (hidden 64): every product, the head's included, is thin.
        let c = Shape::Tiny.config();
        let (h, i) = (c.hidden_size, c.intermediate_size);
        let (q, kv) = (
            c.num_attention_heads * c.head_dim,
            c.num_key_value_heads * c.head_dim,
        );
        let layer = h * q + 2 * h * kv + q * h + 3 * h * i;
        let products = c.num_hidden_layers * layer + h * c.vocab_size;
        assert_eq!(work(Shape::Tiny).thin_weight_flops, 4.0 * products as f64);
        // A reward model never applies the head: its thin products are the layers' alone.
        let reward = TokenWork::new(&c, false, 64.0);
        assert_eq!(
            reward.thin_weight_flops,
            4.0 * (c.num_hidden_layers * layer) as f64
        );
        // A thin rate half the wide one adds exactly the thin products' time again.
        let rates = CpuRates {
            thin_product_flops: FALLBACK_CPU.product_flops / 2.0,
            ..FALLBACK_CPU
        };
        let even = CpuRates {
            thin_product_flops: FALLBACK_CPU.product_flops,
            ..FALLBACK_CPU
        };
        let extra = smollm2.product_seconds(&rates) - smollm2.product_seconds(&even);
        let thin = (smollm2.thin_weight_flops + smollm2.attention_flops) / even.product_flops;
        assert!((extra / thin - 1.0).abs() < 1e-9, "{extra} {thin}");
    }

    #[test]
    fn a_cpu_twice_as_fast_takes_half_the_time_and_a_reward_model_skips_the_head() {
        let c = Shape::Smollm2_135m.config();
        let work = TokenWork::new(&c, true, 100.0);
        let at = |flops| {
            estimate_seconds(
                work,
                5000,
                Speed::Cpu(CpuRates {
                    product_flops: flops,
                    thin_product_flops: flops / 2.0,
                    seconds_per_value: 6e-9 * 200e9 / flops,
                }),
            )
        };
        assert!((at(100e9) / at(200e9) - 2.0).abs() < 1e-9);
        let reward = TokenWork::new(&c, false, 100.0);
        let head = (c.vocab_size * c.hidden_size) as f64;
        assert!((work.weight_flops - reward.weight_flops - 4.0 * head).abs() < 1.0);
        // Longer rows cost more attention, nothing else.
        let long = TokenWork::new(&c, true, 1000.0);
        assert!((long.attention_flops / work.attention_flops - 10.0).abs() < 1e-9);
        assert_eq!(long.weight_flops, work.weight_flops);
    }

    #[test]
    fn each_pass_over_the_weights_costs_the_same_on_any_cpu_and_nothing_on_a_gpu() {
        let slow = Speed::Cpu(FALLBACK_CPU);
        let fast = Speed::Cpu(CpuRates {
            product_flops: 4.0 * FALLBACK_CPU.product_flops,
            thin_product_flops: 4.0 * FALLBACK_CPU.thin_product_flops,
            seconds_per_value: FALLBACK_CPU.seconds_per_value / 4.0,
        });
        let one = weight_pass_seconds(1 << 30, 16, 1, slow);
        let expected = (16.0 * CPU_SECONDS_PER_LAYER_PASS
            + (1u64 << 30) as f64 * CPU_SECONDS_PER_WEIGHT_BYTE)
            * CPU_RUN_FACTOR;
        assert!((one - expected).abs() < 1e-12, "{one} {expected}");
        assert!((weight_pass_seconds(1 << 30, 16, 6, slow) - 6.0 * one).abs() < 1e-9);
        // More layers or more bytes cost more.
        assert!(weight_pass_seconds(1 << 30, 30, 1, slow) > one);
        assert!(weight_pass_seconds(2 << 30, 16, 1, slow) > one);
        // The 1B's pass (4.3 GB, 16 layers) measured 0.125 s and is priced at 0.14;
        // SmolLM2's (0.54 GB, 30 layers) measured 0.035 s and is priced at 0.066, the
        // per-layer part a compromise with the starter's 0.01 s a pass over 4 layers.
        let pass = |gb: f64, layers| weight_pass_seconds((gb * 1e9) as usize, layers, 1, slow);
        assert!((0.1..0.16).contains(&pass(4.3, 16)), "{}", pass(4.3, 16));
        assert!((0.03..0.08).contains(&pass(0.54, 30)), "{}", pass(0.54, 30));
        // Memory bandwidth and overheads bound it, not the products' rate.
        assert_eq!(weight_pass_seconds(1 << 30, 16, 1, fast), one);
        assert_eq!(
            weight_pass_seconds(1 << 30, 16, 6, Speed::Gpu { matmul_flops: 1e12 }),
            0.0
        );
    }

    #[test]
    fn a_gpu_counts_the_weights_products_at_its_efficiency() {
        let c = Shape::Smollm2_135m.config();
        let work = TokenWork::new(&c, true, 100.0);
        let seconds = estimate_seconds(work, 1000, Speed::Gpu { matmul_flops: 1e12 });
        let expected = 1000.0 * 4.0 * c.parameter_count() as f64 / (1e12 * GPU_STEP_EFFICIENCY);
        assert!((seconds - expected).abs() < 1e-12);
    }
}
