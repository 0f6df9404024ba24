//! The memory a LoRA fine-tune holds at its peak, as the plan states it before the run.
//!
//! The peak comes at the end of a training step's forward pass, when every activation the
//! backward needs is alive, plus the backward's first gradients. Its parts:
//! - what is resident before the first step ([`Resident`]): on the CPU, what the process holds
//!   before it loads the model (code, the runtime's buffers, the training data, whatever else
//!   a server holds), measured when the plan is made ([`runtime_bytes`]) less what a GGUF
//!   file's import or an RLHF run's reward model just before left with the allocator
//!   ([`Leftover`]), what the allocator commits beyond
//!   live data ([`ALLOCATOR_MIB`]) and the frozen base weights; on a GPU, the device's memory
//!   in use once the model is loaded, read when the plan is made;
//! - the adapter in f32 with its gradients and AdamW's two moments (4 × 4 bytes a value);
//! - the activations of one batch: per token and layer, what the step's path keeps (counted
//!   below from the layer's sizes) times [`BACKWARD_FACTOR`] (the fused CPU path's
//!   [`FUSED_BACKWARD_FACTOR`]) for what the backward allocates before the forward's tensors
//!   are freed;
//! - the completion positions' log-probs (each row's own completion tokens, not padded): on
//!   the fused CPU path each position's hidden state and gradient direction and one block of
//!   logits, else the logits over the vocabulary and their gradient.
//!
//! The constants were fitted on measured runs (`hone bench engine`, SmolLM2-135M's shape at
//! 512 and 1,024 tokens a batch, and `bench/plan.sh`'s `hone train` runs of 4 to 32 rows a
//! batch; BENCHMARKS.md "Plan estimates"), and the estimate is checked
//! against a measured `hone train` run by the CLI tests.

use hone_model::config::Config;
use hone_train::checkpointing::Checkpointing;

/// What a `hone` process holds before it loads a model, where the OS does not say (MiB;
/// Linux measures it): about 40 MiB for `hone train`.
pub const RUNTIME_MIB: f64 = 40.0;

/// What the allocator commits beyond the live data once training threads run (MiB): each
/// thread's pages for each size class. Measured as the rest of a tiny-model run's peak
/// (82 MiB against 41 MiB of process, model and step; mimalloc reported 60 MiB committed).
pub const ALLOCATOR_MIB: f64 = 40.0;

/// What this process holds now, before the model is loaded: its resident memory, else
/// [`RUNTIME_MIB`].
pub fn runtime_bytes() -> f64 {
    hone_model::device::process_resident_memory_bytes()
        .map(|b| b as f64)
        .unwrap_or(RUNTIME_MIB * 1024.0 * 1024.0)
}

/// What work done just before a plan or a training left in the process: a GGUF file's first
/// import, or in RLHF the reward model's training before PPO's. The allocator keeps that
/// work's freed buffers (it never returns memory) and the training reuses them, so they are
/// not counted as the process's own. Zero when the model was a folder or imported before.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Leftover(pub f64);

impl Leftover {
    /// The process's growth across `work` (an import that makes sure the model is a folder,
    /// a reward model's training).
    pub async fn across<T>(work: impl std::future::Future<Output = T>) -> (T, Self) {
        let before = runtime_bytes();
        let out = work.await;
        (out, Self((runtime_bytes() - before).max(0.0)))
    }

    /// Both leftovers, this one's work and then `later`'s.
    pub fn and(self, later: Leftover) -> Self {
        Self(self.0 + later.0)
    }

    /// [`runtime_bytes`] without the leftover.
    pub fn runtime_bytes(self) -> f64 {
        (runtime_bytes() - self.0).max(0.0)
    }
}

/// The share of the device's memory a plan fills before it turns gradient checkpointing on
/// by itself: the rest is the OS's, the desktop's and the estimate's margin.
pub const MEMORY_HEADROOM: f64 = 0.9;

/// Whether a stage runs with gradient checkpointing, for its `setting` and the MiB its step
/// needs without it against the device's `available` MiB; with why, when `auto` turned it on.
pub fn checkpointing(
    setting: Checkpointing,
    needed_mib: f64,
    available_mib: Option<f64>,
) -> (bool, Option<String>) {
    match (setting, available_mib) {
        (Checkpointing::On, _) => (true, None),
        (Checkpointing::Off, _) | (Checkpointing::Auto, None) => (false, None),
        (Checkpointing::Auto, Some(available)) => {
            if needed_mib > MEMORY_HEADROOM * available {
                let note = format!(
                    "gradient checkpointing is on: without it the estimated {needed_mib:.0} MiB exceed {:.0}% of the device's {available:.0} MiB; each layer's forward runs again in the backward (about 40% more time)",
                    MEMORY_HEADROOM * 100.0
                );
                (true, Some(note))
            } else {
                (false, None)
            }
        }
    }
}

/// Peak activation memory over the activations a step's forward keeps: candle's composition
/// (a GPU's path; measured on an H200, "GPU check"), and one recomputed layer of a
/// checkpointed step.
pub const BACKWARD_FACTOR: f64 = 1.6;

/// The same for a plain step of the CPU's fused ops, whose backward writes one gradient per
/// op: fitted on SmolLM2 runs of 4 to 32 rows a batch, DPO and SFT (BENCHMARKS.md "Plan
/// estimates": 1.6 over-counted each row by ~40%, 1.27× the measured peak at 32 rows).
pub const FUSED_BACKWARD_FACTOR: f64 = 1.3;

/// One batch of a training stage, as the plan sizes it.
#[derive(Debug, Clone, Copy)]
pub struct BatchShape {
    /// Sequences a forward pass holds (DPO: chosen and rejected of each pair).
    pub rows: usize,
    /// The longest sequence (rows are padded to it).
    pub tokens: usize,
    /// The completion tokens the rows hold together: the LM head runs at those positions
    /// only, each row's own (`hone_model::score`), never padded to the longest.
    pub completion_positions: usize,
}

impl BatchShape {
    /// `rows` rows of `tokens` tokens, each with a completion of `completion_tokens`.
    pub fn uniform(rows: usize, tokens: usize, completion_tokens: usize) -> Self {
        Self {
            rows,
            tokens,
            completion_positions: rows * completion_tokens,
        }
    }
}

/// How a training step runs, which decides what its forward keeps for the backward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepPath {
    /// The CPU's fused ops throughout, on dense f32 base weights.
    Fused,
    /// The same on a quantized base: each matrix is dequantized for its product only, the
    /// LM head (the largest) included.
    QuantizedBase,
    /// candle's composition (GPUs, and dense bf16/f16 bases).
    Composed,
}

/// Values one token keeps per decoder layer for the backward, in the base dtype and in f32.
///
/// The fused path: the layer's input, q/k/v (RoPE and attention read them as one op,
/// `hone_model::fused::rotary_attention`), attention's output, the residual sum after
/// attention (its output projection adds itself to the residual stream as one op,
/// `fused::lora_projection_added`) and the down projection's output (kept by the sum after
/// the MLP) — 3 × hidden, 2 × the query width (q and attention's output) and 2 × the K/V
/// width — and the MLP's gate and up (2 × intermediate: the down projection makes SwiGLU's
/// product from them, `fused::swiglu_lora_projection`), in the base dtype. The norms'
/// outputs are not kept: the projections that read them normalise their input themselves
/// (`fused::lora_projection` with a pre-norm).
///
/// The composed path (a GPU's) keeps those, the two norms' outputs, the output projection's
/// output and SwiGLU's product (3 × hidden + intermediate), q and k's head-major copies and
/// RoPE outputs and v's copy (2 × the query width and 3 × the K/V width), and, in f32
/// whatever the base dtype: each LoRA
/// branch's intermediates (3 × every projection's output) and the f32 copy of its input (the
/// attention input once per q, k and v, the MLP input once per gate and up), candle's RMSNorm
/// composition (3 × hidden per norm) and attention's scores (4 × heads × tokens). Counted
/// from the code; on an H200 a bf16 SmolLM2-shaped step measured 196 KB a token and layer
/// against the 219 KB this gives with [`BACKWARD_FACTOR`] (BENCHMARKS.md "GPU check").
fn values_per_token_layer(c: &Config, path: StepPath, tokens: usize) -> (f64, f64) {
    let (h, i) = (c.hidden_size as f64, c.intermediate_size as f64);
    let kv = (c.num_key_value_heads * c.head_dim) as f64;
    let q = (c.num_attention_heads * c.head_dim) as f64;
    let kept = 3.0 * h + 2.0 * q + 2.0 * kv + 2.0 * i;
    let branches = 3.0 * (2.0 * q + 2.0 * kv + 2.0 * i + h);
    let branch_inputs = 5.0 * h + q + i;
    let norms = 2.0 * 3.0 * h;
    let scores = 4.0 * c.num_attention_heads as f64 * tokens as f64;
    let composed_only = 3.0 * h + i + 2.0 * q + 3.0 * kv;
    match path {
        StepPath::Fused | StepPath::QuantizedBase => (kept, 0.0),
        StepPath::Composed => (
            kept + composed_only,
            branches + branch_inputs + norms + scores,
        ),
    }
}

/// Bytes a value of the composed path's f32 intermediates holds.
const F32_BYTES: f64 = 4.0;

/// How a training step keeps its activations for the backward.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StepKind {
    pub path: StepPath,
    /// The size of an activation value (the base dtype's).
    pub activation_bytes: usize,
    /// Gradient checkpointing: each layer's input is kept, and one layer's activations at a
    /// time while the backward recomputes it.
    pub checkpointed: bool,
}

/// What is resident before the first step.
#[derive(Debug, Clone, Copy)]
pub enum Resident {
    /// The CPU: the process as measured before it loaded the model ([`runtime_bytes`]), the
    /// allocator's slack ([`ALLOCATOR_MIB`]) and the loaded base weights (quantized matrices at
    /// their stored size).
    Host {
        runtime_bytes: f64,
        weight_bytes: usize,
    },
    /// A GPU: the device's memory in use once the model is loaded (the CUDA context, its
    /// libraries' workspaces, the weights, and every other process's), as the plan reads it.
    Device { in_use_bytes: f64 },
}

/// The estimated peak in bytes: host memory on the CPU, the device's on a GPU. What the
/// process holds with the model loaded, the adapter with its gradients and AdamW's two moments
/// (f32), and one step ([`step_bytes`]).
pub fn peak_bytes(
    resident: Resident,
    c: &Config,
    trainable: usize,
    step: StepKind,
    batch: BatchShape,
) -> f64 {
    let loaded = match resident {
        Resident::Host {
            runtime_bytes,
            weight_bytes,
        } => runtime_bytes + ALLOCATOR_MIB * 1024.0 * 1024.0 + weight_bytes as f64,
        Resident::Device { in_use_bytes } => in_use_bytes,
    };
    let adapter = (trainable * 4 * 4) as f64;
    loaded + adapter + step_bytes(c, step, batch)
}

/// What one training step adds on top of the loaded model and adapter, in bytes: the
/// activations the forward keeps for its batch and the backward's own allocations, the
/// completion positions' logits and their gradient, and on a quantized base a dequantized band
/// of the LM head. It does not depend on the process, so two plans' steps compare exactly.
pub fn step_bytes(c: &Config, step: StepKind, batch: BatchShape) -> f64 {
    if batch.rows == 0 {
        return 0.0;
    }
    // A band of the LM head's rows dequantized to f32 for a product (the whole head once,
    // 2 GiB at 8B; `hone_model::base_weight::DEQUANTIZED_BAND_BYTES` since).
    let head_band = if step.path == StepPath::QuantizedBase {
        (c.vocab_size * c.hidden_size * 4).min(hone_model::base_weight::DEQUANTIZED_BAND_BYTES)
            as f64
    } else {
        0.0
    };
    let (kept, f32_values) = values_per_token_layer(c, step.path, batch.tokens);
    let layer = kept * step.activation_bytes as f64 + f32_values * F32_BYTES;
    let layers = c.num_hidden_layers as f64;
    let per_token = if step.checkpointed {
        // Each layer's input, and its gradient (candle's backward keeps every node's
        // gradient until it returns).
        2.0 * layers * (c.hidden_size * step.activation_bytes) as f64 + BACKWARD_FACTOR * layer
    } else {
        let factor = match step.path {
            StepPath::Fused | StepPath::QuantizedBase => FUSED_BACKWARD_FACTOR,
            StepPath::Composed => BACKWARD_FACTOR,
        };
        factor * layer * layers
    };
    let activations = per_token * (batch.rows * batch.tokens) as f64;
    // The completion positions' log-probs. Fused, the head and the log-prob are one op over
    // blocks of rows (`hone_model::fused::head_target_logprobs`): each position's hidden state
    // and its gradient direction, and one block of f32 logits. From a quantized base, the f32
    // logits and their gradient; composed, the base dtype's logits, their f32 copy, its
    // shifted and exponentiated copies, and two f32 gradients at a time in the backward.
    let positions = batch.completion_positions as f64;
    let vocab = c.vocab_size as f64;
    let logits = match step.path {
        StepPath::Fused => {
            let block = batch
                .completion_positions
                .min(hone_model::fused::HEAD_BLOCK_ROWS) as f64;
            F32_BYTES * (2.0 * positions * c.hidden_size as f64 + block * vocab)
        }
        StepPath::QuantizedBase => 2.0 * F32_BYTES * positions * vocab,
        StepPath::Composed => (step.activation_bytes as f64 + 5.0 * F32_BYTES) * positions * vocab,
    };
    head_band + activations + logits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_checkpointing_turns_on_only_past_the_headroom_and_says_why() {
        assert_eq!(
            checkpointing(Checkpointing::Auto, 1_000.0, Some(24_000.0)),
            (false, None)
        );
        let (on, note) = checkpointing(Checkpointing::Auto, 23_000.0, Some(24_000.0));
        assert!(on);
        let note = note.unwrap();
        assert!(
            note.contains("23000 MiB") && note.contains("24000 MiB"),
            "{note}"
        );
        // Unknown memory: auto stays off; on and off are obeyed whatever the estimate.
        assert_eq!(checkpointing(Checkpointing::Auto, 1e9, None), (false, None));
        assert_eq!(
            checkpointing(Checkpointing::On, 1.0, Some(24_000.0)),
            (true, None)
        );
        assert_eq!(
            checkpointing(Checkpointing::Off, 1e9, Some(24_000.0)),
            (false, None)
        );
    }

    #[test]
    fn checkpointing_keeps_less_the_more_layers_and_tokens() {
        let c = hone_model::tiny::Shape::Smollm2_135m.config();
        let batch = BatchShape::uniform(8, 256, 128);
        let peak = |checkpointed| {
            peak_bytes(
                Resident::Host {
                    runtime_bytes: 0.0,
                    weight_bytes: 0,
                },
                &c,
                0,
                StepKind {
                    path: StepPath::Fused,
                    activation_bytes: 4,
                    checkpointed,
                },
                batch,
            )
        };
        let (plain, ckpt) = (peak(false), peak(true));
        // 30 layers: the plain step keeps 30 layers' activations, the checkpointed one a
        // layer's and 30 hidden states and their gradients.
        assert!(ckpt < 0.5 * plain, "{ckpt} vs {plain}");
    }

    #[test]
    fn a_gpu_step_starts_from_the_devices_memory_in_use_and_keeps_what_an_h200_measured() {
        let c = hone_model::tiny::Shape::Smollm2_135m.config();
        // `hone bench engine --only train` on an H200 (BENCHMARKS.md "GPU check"): 4 rows of
        // 128 tokens, 64 of them completion; nvidia-smi's peak 3,921 MiB, its forward-only
        // process 1,069 MiB; the DPO step (8 rows) 6,865 MiB: 196 KB a token and layer.
        let batch = BatchShape::uniform(4, 128, 64);
        let in_use = 1_069.0 * 1024.0 * 1024.0;
        let gpu = StepKind {
            path: StepPath::Composed,
            activation_bytes: 2,
            checkpointed: false,
        };
        let peak = peak_bytes(
            Resident::Device {
                in_use_bytes: in_use,
            },
            &c,
            0,
            gpu,
            batch,
        );
        let measured = 3_921.0 * 1024.0 * 1024.0;
        assert!(
            (peak / measured - 1.0).abs() < 0.25,
            "estimated {:.0} MiB against 3,921 measured",
            peak / 1024.0 / 1024.0
        );
        // Without the f32 intermediates (the estimate before the H200 run) it was far under.
        let fused_like = peak_bytes(
            Resident::Device {
                in_use_bytes: in_use,
            },
            &c,
            0,
            StepKind {
                path: StepPath::Fused,
                ..gpu
            },
            batch,
        );
        assert!(fused_like < 0.6 * measured, "{fused_like}");
        // The device's memory in use is the whole of what is resident: no host runtime added.
        let more = peak_bytes(
            Resident::Device {
                in_use_bytes: in_use + 1e9,
            },
            &c,
            0,
            gpu,
            batch,
        );
        assert!((more - peak - 1e9).abs() < 1.0);
    }
}
