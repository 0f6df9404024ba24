//! Llama 3.1-style RoPE scaling in GGUF files. llama.cpp's converter does not write the scaling's
//! parameters; it writes the factor each frequency is divided by, as the tensor
//! `rope_freqs.weight` (`[head_dim / 2]`, f32). Export writes those factors from the config; import
//! finds the Llama 3 parameters that give them (the factor is the largest one; the frequency
//! band, as Meta's releases set it, is 1 and 4, over the original context the file names or 8192)
//! and refuses factors no such parameters explain.

use crate::config::{Config, RopeScaling};
use crate::rope::scaling_factors;

/// The name of the tensor.
pub const TENSOR: &str = "rope_freqs.weight";

/// The factors to write for `cfg`, or `None` when it has no scaling.
pub fn factors(cfg: &Config) -> Option<Vec<f32>> {
    match cfg.rope_scaling {
        RopeScaling::Default => None,
        RopeScaling::Llama3 { .. } => {
            Some(scaling_factors(cfg).into_iter().map(|f| f as f32).collect())
        }
    }
}

/// The Llama 3 scaling of a model with `cfg` (its scaling unknown) whose factors are `stored`.
pub fn recover(
    cfg: &Config,
    stored: &[f32],
    original_context: Option<usize>,
) -> Option<RopeScaling> {
    let factor = stored.iter().copied().fold(f32::MIN, f32::max) as f64;
    if stored.len() != cfg.head_dim / 2 || factor < 1.0 {
        return None;
    }
    if stored.iter().all(|f| (f - 1.0).abs() < 1e-6) {
        return Some(RopeScaling::Default);
    }
    // Meta's Llama 3.1–3.3 releases all use the frequency band 1–4.
    let (low_freq_factor, high_freq_factor) = (1.0, 4.0);
    original_context
        .into_iter()
        .chain([8192])
        .find_map(|original| {
            let candidate = RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: original,
            };
            let with = Config {
                rope_scaling: candidate.clone(),
                ..cfg.clone()
            };
            let matches = scaling_factors(&with)
                .iter()
                .zip(stored)
                .all(|(want, got)| (want - *got as f64).abs() <= 1e-4 * want.max(1.0));
            matches.then_some(candidate)
        })
}
