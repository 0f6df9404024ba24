//! Choosing the next token from logits, in the order transformers applies its processors:
//! repetition penalty, temperature, top-k, top-p, then a draw (or argmax when greedy).

use rand::rngs::StdRng;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{ModelError, Result};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// 0 means greedy (argmax).
    pub temperature: f64,
    pub top_k: Option<usize>,
    pub top_p: Option<f64>,
    /// 1.0 means off; > 1 discourages tokens already in the context (CTRL's penalty).
    pub repetition_penalty: f64,
    pub max_new_tokens: usize,
    /// Stop when the text ends with one of these (the stop string is not kept).
    pub stop: Vec<String>,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.7,
            top_k: None,
            top_p: Some(0.95),
            repetition_penalty: 1.0,
            max_new_tokens: 128,
            stop: Vec::new(),
            seed: 0,
        }
    }
}

impl SamplingParams {
    pub fn greedy(max_new_tokens: usize) -> Self {
        Self {
            temperature: 0.0,
            top_p: None,
            max_new_tokens,
            ..Self::default()
        }
    }

    pub fn validate(&self) -> Result<()> {
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return Err(ModelError::invalid(
                "temperature",
                format!("{} is not ≥ 0", self.temperature),
            ));
        }
        if self.top_k == Some(0) {
            return Err(ModelError::invalid("top_k", "must be at least 1"));
        }
        if let Some(p) = self.top_p {
            if !(p > 0.0 && p <= 1.0) {
                return Err(ModelError::invalid(
                    "top_p",
                    format!("{p} is not in (0, 1]"),
                ));
            }
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return Err(ModelError::invalid(
                "repetition_penalty",
                format!("{} is not > 0", self.repetition_penalty),
            ));
        }
        if self.max_new_tokens == 0 {
            return Err(ModelError::invalid("max_new_tokens", "must be at least 1"));
        }
        Ok(())
    }
}

/// Picks a token from `logits` (one row, f32); `context` holds the ids seen so far.
pub fn sample(
    logits: &mut [f32],
    context: &[u32],
    params: &SamplingParams,
    rng: &mut StdRng,
) -> u32 {
    if params.repetition_penalty != 1.0 {
        let penalty = params.repetition_penalty as f32;
        let mut seen = context.to_vec();
        seen.sort_unstable();
        seen.dedup();
        for &id in &seen {
            if let Some(l) = logits.get_mut(id as usize) {
                *l = if *l < 0.0 { *l * penalty } else { *l / penalty };
            }
        }
    }
    if params.temperature == 0.0 {
        return argmax(logits);
    }
    let t = params.temperature as f32;
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_unstable_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    if let Some(k) = params.top_k {
        order.truncate(k.min(order.len()));
    }
    let max = logits[order[0]] / t;
    let mut probs: Vec<f64> = order
        .iter()
        .map(|&i| f64::from(logits[i] / t - max).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if let Some(top_p) = params.top_p {
        // Keep the smallest prefix whose mass reaches top_p (at least one token).
        let mut mass = 0.0;
        let keep = probs.iter().position(|p| {
            mass += p;
            mass >= top_p
        });
        let keep = keep.map_or(probs.len(), |i| i + 1);
        probs.truncate(keep);
        order.truncate(keep);
    }
    let total: f64 = probs.iter().sum();
    let mut draw = rng.random::<f64>() * total;
    for (p, &i) in probs.iter().zip(&order) {
        draw -= p;
        if draw <= 0.0 {
            return i as u32;
        }
    }
    order[probs.len() - 1] as u32
}

fn argmax(logits: &[f32]) -> u32 {
    logits
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i as u32)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn greedy_takes_the_argmax_and_penalty_can_change_it() {
        let mut rng = StdRng::seed_from_u64(0);
        let params = SamplingParams::greedy(1);
        assert_eq!(sample(&mut [0.1, 3.0, 2.9], &[], &params, &mut rng), 1);
        let penalised = SamplingParams {
            repetition_penalty: 1.5,
            ..params
        };
        assert_eq!(
            sample(&mut [0.1, 3.0, 2.9], &[1], &penalised, &mut rng),
            2,
            "3.0/1.5 = 2.0 falls below 2.9"
        );
        let mut negative = [-1.0, -0.9, -5.0];
        assert_eq!(
            sample(&mut negative, &[1], &penalised, &mut rng),
            0,
            "a negative logit is multiplied: -0.9·1.5 < -1.0"
        );
    }

    #[test]
    fn top_k_one_and_tiny_top_p_are_greedy_and_draws_follow_the_distribution() {
        let mut rng = StdRng::seed_from_u64(3);
        let k1 = SamplingParams {
            temperature: 1.0,
            top_k: Some(1),
            top_p: None,
            ..SamplingParams::default()
        };
        let p_small = SamplingParams {
            temperature: 1.0,
            top_k: None,
            top_p: Some(0.01),
            ..SamplingParams::default()
        };
        for _ in 0..50 {
            assert_eq!(sample(&mut [1.0, 2.0, 0.5], &[], &k1, &mut rng), 1);
            assert_eq!(sample(&mut [1.0, 2.0, 0.5], &[], &p_small, &mut rng), 1);
        }
        // logits ln(1), ln(3): token 1 should win about 3/4 of the draws.
        let full = SamplingParams {
            temperature: 1.0,
            top_k: None,
            top_p: None,
            ..SamplingParams::default()
        };
        let wins = (0..4000)
            .filter(|_| sample(&mut [0.0, 3f32.ln()], &[], &full, &mut rng) == 1)
            .count();
        assert!(
            (2850..3150).contains(&wins),
            "expected ≈3000 of 4000, got {wins}"
        );
    }
}
