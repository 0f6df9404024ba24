//! The memory a LoRA fine-tune holds at its peak, as the plan states it before the run.
//!
//! The peak comes at the end of a training step's forward pass, when every activation the
//! backward needs is alive, plus the backward's first gradients. Its parts:
//! - what the process holds before it loads the model (code, the runtime's buffers, whatever
//!   else a server holds): measured when the plan is made ([`runtime_bytes`]), and what the
//!   allocator commits beyond live data ([`ALLOCATOR_MIB`]);
//! - the frozen base weights in the device's dtype;
//! - the adapter in f32 with its gradients and AdamW's two moments (4 × 4 bytes a value);
//! - the activations of one batch: per token and layer, what the fused CPU path keeps
//!   (counted below from the layer's sizes) times [`BACKWARD_FACTOR`] for what the backward
//!   allocates before the forward's tensors are freed;
//! - the completion positions' logits over the vocabulary, and their gradient (f32).
//!
//! The constants were fitted on measured runs (`hone bench engine`, SmolLM2-135M's shape at
//! 512 and 1,024 tokens a batch; BENCHMARKS.md "Plan estimates"), and the estimate is checked
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

/// Peak activation memory over the activations a step's forward keeps.
pub const BACKWARD_FACTOR: f64 = 1.6;

/// One batch of a training stage, as the plan sizes it.
#[derive(Debug, Clone, Copy)]
pub struct BatchShape {
    /// Sequences a forward pass holds (DPO: chosen and rejected of each pair).
    pub rows: usize,
    /// The longest sequence (rows are padded to it).
    pub tokens: usize,
    /// The longest completion (the LM head runs at completion positions only).
    pub completion_tokens: usize,
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

/// Values one token keeps per decoder layer for the backward on the fused path: the two
/// norms' outputs, q/k/v and their RoPE copies, attention's output, the projections'
/// outputs and the residual sums (10 × hidden and 5 × the K/V width), and the MLP's gate, up
/// and product (3 × intermediate). A composed projection keeps more: its LoRA branch's
/// intermediates (3 × every projection's output); composed attention keeps its scores.
fn values_per_token_layer(c: &Config, path: StepPath, tokens: usize) -> f64 {
    let (h, i) = (c.hidden_size as f64, c.intermediate_size as f64);
    let kv = (c.num_key_value_heads * c.head_dim) as f64;
    let q = (c.num_attention_heads * c.head_dim) as f64;
    let kept = 10.0 * h + 5.0 * kv + 3.0 * i;
    let branches = 3.0 * (2.0 * q + 2.0 * kv + 2.0 * i + h);
    let scores = 4.0 * c.num_attention_heads as f64 * tokens as f64;
    match path {
        StepPath::Fused | StepPath::QuantizedBase => kept,
        StepPath::Composed => kept + branches + scores,
    }
}

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

/// The estimated peak in bytes. `weight_bytes`: what the loaded base weights hold (quantized
/// matrices at their stored size).
pub fn peak_bytes(
    runtime_bytes: f64,
    c: &Config,
    weight_bytes: usize,
    trainable: usize,
    step: StepKind,
    batch: BatchShape,
) -> f64 {
    let mut weights = weight_bytes as f64;
    if step.path == StepPath::QuantizedBase && batch.rows > 0 {
        // The LM head dequantized to f32 for the backward's first product.
        weights += (c.vocab_size * c.hidden_size * 4) as f64;
    }
    let adapter = (trainable * 4 * 4) as f64;
    let layer = values_per_token_layer(c, step.path, batch.tokens);
    let layers = c.num_hidden_layers as f64;
    let per_token = if step.checkpointed {
        // Each layer's input, and its gradient (candle's backward keeps every node's
        // gradient until it returns).
        2.0 * layers * c.hidden_size as f64 + BACKWARD_FACTOR * layer
    } else {
        BACKWARD_FACTOR * layer * layers
    } * step.activation_bytes as f64;
    let activations = per_token * (batch.rows * batch.tokens) as f64;
    let logits = 2.0 * 4.0 * (batch.rows * batch.completion_tokens * c.vocab_size) as f64;
    runtime_bytes + ALLOCATOR_MIB * 1024.0 * 1024.0 + weights + adapter + activations + logits
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
        let batch = BatchShape {
            rows: 8,
            tokens: 256,
            completion_tokens: 128,
        };
        let peak = |checkpointed| {
            peak_bytes(
                0.0,
                &c,
                0,
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
}
