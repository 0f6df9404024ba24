//! Rotary position embeddings (Su et al. 2021, "RoFormer"), in the half-rotation layout
//! Hugging Face's Llama uses (`rotate_half`), with Llama 3's frequency scaling.

use candle_core::{DType, Device, Tensor};

use crate::config::{Config, RopeScaling};
use crate::Result;

/// Precomputed cos/sin tables, `[max_positions, head_dim / 2]`.
#[derive(Debug, Clone)]
pub struct RotaryEmbedding {
    cos: Tensor,
    sin: Tensor,
}

/// The inverse frequencies, as transformers computes them (`_compute_default_rope_parameters`
/// and `_compute_llama3_parameters`).
pub fn inverse_frequencies(cfg: &Config) -> Vec<f64> {
    let dim = cfg.head_dim;
    let base: Vec<f64> = (0..dim / 2)
        .map(|i| 1.0 / cfg.rope_theta.powf((2 * i) as f64 / dim as f64))
        .collect();
    match cfg.rope_scaling {
        RopeScaling::Default => base,
        RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        } => {
            let old_context = original_max_position_embeddings as f64;
            let low_freq_wavelen = old_context / low_freq_factor;
            let high_freq_wavelen = old_context / high_freq_factor;
            base.into_iter()
                .map(|freq| {
                    let wavelen = 2.0 * std::f64::consts::PI / freq;
                    if wavelen < high_freq_wavelen {
                        freq
                    } else if wavelen > low_freq_wavelen {
                        freq / factor
                    } else {
                        let smooth = (old_context / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * freq / factor + smooth * freq
                    }
                })
                .collect()
        }
    }
}

impl RotaryEmbedding {
    pub fn new(cfg: &Config, dtype: DType, device: &Device) -> Result<Self> {
        let inv_freq = inverse_frequencies(cfg);
        let half = inv_freq.len();
        let positions = cfg.max_position_embeddings;
        let mut cos = Vec::with_capacity(positions * half);
        let mut sin = Vec::with_capacity(positions * half);
        for p in 0..positions {
            for f in &inv_freq {
                // f32 angles, as transformers multiplies in float32.
                let angle = (p as f32) * (*f as f32);
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        Ok(Self {
            cos: Tensor::from_vec(cos, (positions, half), device)?.to_dtype(dtype)?,
            sin: Tensor::from_vec(sin, (positions, half), device)?.to_dtype(dtype)?,
        })
    }

    /// The rows of the cos and sin tables for positions `offset..offset + len`,
    /// `[len, head_dim / 2]` each.
    pub fn tables(&self, offset: usize, len: usize) -> Result<(Tensor, Tensor)> {
        Ok((
            self.cos.narrow(0, offset, len)?,
            self.sin.narrow(0, offset, len)?,
        ))
    }

    /// Rotates `x` `[batch, heads, seq, head_dim]` whose first position is `offset`.
    /// Uses candle's fused kernel when no gradient flows (it has no backward), and the
    /// differentiable composition otherwise (training on the CPU in f32 rotates inside
    /// [`crate::fused::rotary_attention`] instead).
    pub fn apply(&self, x: &Tensor, offset: usize) -> Result<Tensor> {
        let (cos, sin) = self.tables(offset, x.dim(2)?)?;
        let x = x.contiguous()?;
        Ok(if !x.track_op() {
            candle_nn::rotary_emb::rope(&x, &cos, &sin)?
        } else {
            candle_nn::rotary_emb::rope_slow(&x, &cos, &sin)?
        })
    }

    pub fn max_positions(&self) -> usize {
        self.cos.dim(0).unwrap_or(0)
    }
}

/// How much each frequency is slowed by the config's scaling (base ÷ scaled inverse frequency;
/// all 1 without scaling): what llama.cpp stores as `rope_freqs.weight`.
pub fn scaling_factors(cfg: &Config) -> Vec<f64> {
    let unscaled = Config {
        rope_scaling: RopeScaling::Default,
        ..cfg.clone()
    };
    inverse_frequencies(&unscaled)
        .into_iter()
        .zip(inverse_frequencies(cfg))
        .map(|(base, scaled)| base / scaled)
        .collect()
}
