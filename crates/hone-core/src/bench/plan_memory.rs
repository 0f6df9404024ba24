//! The plan's predicted training peak for Llama shapes, in each mode of the frozen base:
//! f32 (the CPU's), bf16 (a GPU's, or a CPU's to halve the weights) and a GGUF file's Q4_K_M
//! blocks (QLoRA-style, `--base-weights quantized`). The 3B and 8B shapes are too large to build
//! on a 24 GiB machine in f32, so this is the same arithmetic as a plan
//! ([`crate::finetune::memory::peak_bytes`]) on their configs, without loading weights.

use hone_model::config::Config;
use hone_model::tiny::Shape;
use serde::Serialize;

use crate::finetune::memory::{peak_bytes, BatchShape, Resident, StepKind, StepPath, RUNTIME_MIB};

/// llama.cpp's Q4_K_M: bits per weight over a Llama-3 8B file (Q4_K for most matrices, Q6_K
/// for half of `attn_v` and `ffn_down` and for the output).
pub const Q4_K_M_BITS_PER_WEIGHT: f64 = 4.89;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseMode {
    F32,
    Bf16,
    Q4KM,
}

impl BaseMode {
    pub const ALL: [BaseMode; 3] = [BaseMode::F32, BaseMode::Bf16, BaseMode::Q4KM];

    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::Q4KM => "Q4_K_M (GGUF)",
        }
    }

    fn weight_bytes(self, parameters: usize) -> usize {
        match self {
            Self::F32 => parameters * 4,
            Self::Bf16 => parameters * 2,
            Self::Q4KM => (parameters as f64 * Q4_K_M_BITS_PER_WEIGHT / 8.0) as usize,
        }
    }

    /// The step's path and the size of an activation value.
    fn path(self) -> (StepPath, usize) {
        match self {
            Self::F32 => (StepPath::Fused, 4),
            Self::Bf16 => (StepPath::Composed, 2),
            Self::Q4KM => (StepPath::QuantizedBase, 4),
        }
    }
}

/// LoRA's parameters at rank `r` on all seven projections of every layer.
pub fn lora_parameters(c: &Config, r: usize) -> usize {
    let (h, i) = (c.hidden_size, c.intermediate_size);
    let q = c.num_attention_heads * c.head_dim;
    let kv = c.num_key_value_heads * c.head_dim;
    let per_layer = (h + q) + 2 * (h + kv) + (q + h) + 2 * (h + i) + (i + h);
    r * per_layer * c.num_hidden_layers
}

#[derive(Debug, Clone, Serialize)]
pub struct Prediction {
    pub shape: String,
    pub parameters: usize,
    pub mode: BaseMode,
    pub weights_mib: f64,
    pub peak_mib: f64,
    /// The same with gradient checkpointing.
    pub checkpointed_peak_mib: f64,
}

const MIB: f64 = 1024.0 * 1024.0;

/// The predicted peak of one training step of `batch` with LoRA rank `r`.
pub fn predict(shape: &str, c: &Config, mode: BaseMode, batch: BatchShape, r: usize) -> Prediction {
    let parameters = c.parameter_count();
    let weights = mode.weight_bytes(parameters);
    let (path, activation_bytes) = mode.path();
    let step = |checkpointed| StepKind {
        path,
        activation_bytes,
        checkpointed,
    };
    let peak = |checkpointed| {
        peak_bytes(
            Resident::Host {
                runtime_bytes: RUNTIME_MIB * MIB,
                weight_bytes: weights,
            },
            c,
            lora_parameters(c, r),
            step(checkpointed),
            batch,
        ) / MIB
    };
    Prediction {
        shape: shape.into(),
        parameters,
        mode,
        weights_mib: weights as f64 / MIB,
        peak_mib: peak(false),
        checkpointed_peak_mib: peak(true),
    }
}

/// [`predict`] for the 1B, 3B and 8B Llama shapes in every mode.
pub fn llama_table(batch: BatchShape, r: usize) -> Vec<Prediction> {
    let mut rows = Vec::new();
    for (name, shape) in [
        ("llama-1b", Shape::Llama1b),
        ("llama-3b", Shape::Llama3b),
        ("llama-8b", Shape::Llama8b),
    ] {
        for mode in BaseMode::ALL {
            rows.push(predict(name, &shape.config(), mode, batch, r));
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lora_parameters_count_every_projection() {
        // SmolLM2-135M, r 16: 30 layers × 16 × (1,152 + 1,536 + 1,152 + 4,224 + 2,112).
        assert_eq!(
            lora_parameters(&Shape::Smollm2_135m.config(), 16),
            4_884_480
        );
    }

    #[test]
    fn a_quantized_base_needs_the_least_and_f32_puts_8b_past_24_gib() {
        let batch = BatchShape::uniform(4, 256, 128);
        let table = llama_table(batch, 16);
        assert_eq!(table.len(), 9);
        let peak = |shape: &str, mode| {
            table
                .iter()
                .find(|p| p.shape == shape && p.mode == mode)
                .unwrap()
                .peak_mib
        };
        for shape in ["llama-1b", "llama-3b", "llama-8b"] {
            let q = peak(shape, BaseMode::Q4KM);
            assert!(
                q < peak(shape, BaseMode::Bf16) && q < peak(shape, BaseMode::F32),
                "{shape}"
            );
        }
        assert!(peak("llama-8b", BaseMode::F32) > 24.0 * 1024.0);
        for p in &table {
            assert!(
                p.checkpointed_peak_mib < p.peak_mib && p.checkpointed_peak_mib > p.weights_mib,
                "{p:?}: checkpointing keeps less than the plain step, more than the weights"
            );
        }
    }
}
