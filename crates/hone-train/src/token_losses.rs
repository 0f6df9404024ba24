//! Losses on the tokens an expert pointed at ([`crate::token_weights`] says which and how
//! much):
//!
//! - **weighted likelihood, and a term against** each completion token with a weight:
//!   `L = Σ [w⁺·(−log p) + w⁻·against(p)] / Σ |w|`, where `w⁺ = max(w, 0)` and
//!   `w⁻ = max(−w, 0)`. With every weight 1 it is the SFT loss (mean NLL). Edits weighted this
//!   way follow FIGA (Guo et al. 2023). The term against a token ([`NegativeTerm`]) is
//!   Welleck et al.'s (2019) unlikelihood `−log(1 − p)` (the default; `1 − p` clamped to at
//!   least [`MIN_ONE_MINUS_P`] as their reference code does), or NPO's bounded form (Zhang et
//!   al. 2024, "Negative Preference Optimization") per token and anchored to the reference
//!   model: `(2/β)·log(1 + (p/p_ref)^β)`. NPO's gradient is at most 2 where unlikelihood's,
//!   `p/(1 − p)`, is unbounded; but per token at β 0.1 it keeps pushing until a token is ~10
//!   nats below the reference, and on the demo's loop it drove the model further from its
//!   base than unlikelihood did (KL 78 and 184 nats against 27 and 25, `bench/token-level.sh`
//!   in BENCHMARKS.md);
//! - **token-level DPO**: the preference margin over the tokens the two answers do not share
//!   (masked sums of log-probs for policy and reference), so a two-word correction is not
//!   drowned by the hundred tokens the answers have in common ([`masked_sums`], used by
//!   [`crate::preference::Dpo`] for pairs with a focus).

use candle_core::{DType, Tensor, D};
use hone_model::lora::LoraContext;
use hone_model::score::{completion_logprobs, SequencePair};
use hone_model::Model;
use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use crate::trainer::Objective;
use crate::{Result, TrainError};

/// The smallest `1 − p` the unlikelihood term takes the log of.
pub const MIN_ONE_MINUS_P: f64 = 1e-5;

/// The loss a negative weight puts on its token.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NegativeTerm {
    /// `−log(1 − p)` (Welleck et al. 2019).
    #[default]
    Unlikelihood,
    /// `(2/β)·log(1 + (p/p_ref)^β)`, per token (NPO, Zhang et al. 2024): bounded, and anchored
    /// to the reference model's probability of the token.
    Npo { beta: f64 },
}

/// The weighted likelihood / unlikelihood loss of `per_token` log-probs `[batch, tokens]`
/// under `weights` of the same shape (0 at padding). A batch in which no token carries
/// weight is refused: its loss would be 0/0.
pub fn weighted_token_loss(per_token: &Tensor, weights: &Tensor) -> Result<(Tensor, Metrics)> {
    weighted_token_loss_with(per_token, weights, NegativeTerm::Unlikelihood, None)
}

/// [`weighted_token_loss`] with the term against a token chosen; `reference` (the reference
/// model's per-token log-probs, same shape) is what NPO compares with.
pub fn weighted_token_loss_with(
    per_token: &Tensor,
    weights: &Tensor,
    term: NegativeTerm,
    reference: Option<&Tensor>,
) -> Result<(Tensor, Metrics)> {
    let positive = weights.relu()?;
    let negative = weights.neg()?.relu()?;
    let total = (&positive + &negative)?.sum_all()?;
    let total_value = total.to_dtype(DType::F64)?.to_scalar::<f64>()?;
    if total_value <= 0.0 {
        return Err(TrainError::Invalid {
            field: "weights".into(),
            message: "no token of the batch carries a weight".into(),
        });
    }
    let likelihood = per_token.neg()?.mul(&positive)?.sum_all()?;
    let against = match term {
        NegativeTerm::Unlikelihood => per_token
            .exp()?
            .neg()?
            .affine(1.0, 1.0)?
            .clamp(MIN_ONE_MINUS_P, 1.0)?
            .log()?
            .neg()?,
        NegativeTerm::Npo { beta } => {
            let reference = reference.ok_or_else(|| TrainError::Invalid {
                field: "reference".into(),
                message: "NPO compares with the reference's log-probs; none were given".into(),
            })?;
            let x = ((per_token - reference.detach())? * beta)?;
            (softplus(&x)? * (2.0 / beta))?
        }
    };
    let unlikelihood = against.mul(&negative)?.sum_all()?;
    let loss = ((likelihood + unlikelihood)? / total_value)?;
    let count = |w: &Tensor| -> Result<f64> {
        Ok(w.gt(0.0)?
            .to_dtype(DType::F64)?
            .sum_all()?
            .to_scalar::<f64>()?)
    };
    let mut metrics = Metrics::default();
    metrics.insert("loss", loss.to_dtype(DType::F64)?.to_scalar::<f64>()?);
    metrics.insert("likelihood_tokens", count(&positive)?);
    metrics.insert("unlikelihood_tokens", count(&negative)?);
    Ok((loss, metrics))
}

/// log(1 + eˣ), computed stably as max(x, 0) + log(1 + e^−|x|).
fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

/// Each row's sum of `per_token` log-probs over the tokens `mask` keeps, `[batch]`.
pub fn masked_sums(per_token: &Tensor, mask: &Tensor) -> Result<Tensor> {
    Ok(per_token.mul(mask)?.sum(D::Minus1)?)
}

/// `[rows, longest]` from per-row values, 0 past each row's end.
pub fn padded(rows: &[&[f32]], longest: usize, device: &candle_core::Device) -> Result<Tensor> {
    let mut flat = Vec::with_capacity(rows.len() * longest);
    for row in rows {
        flat.extend_from_slice(&row[..row.len().min(longest)]);
        flat.extend(std::iter::repeat_n(0.0, longest.saturating_sub(row.len())));
    }
    Ok(Tensor::from_vec(flat, (rows.len(), longest), device)?)
}

/// A completion with a loss weight per token (see [`weighted_token_loss`]).
#[derive(Debug, Clone, PartialEq)]
pub struct WeightedSequence {
    pub pair: SequencePair,
    /// One per completion token.
    pub weights: Vec<f32>,
}

/// The reference's per-token log-probs of each example that has a token against (NPO's
/// anchor), computed once without a graph, 8 sequences a pass.
pub fn reference_logprobs(
    model: &Model,
    examples: &[WeightedSequence],
    reference: &LoraContext,
) -> Result<Vec<Option<Vec<f32>>>> {
    let wanted: Vec<usize> = (0..examples.len())
        .filter(|&i| examples[i].weights.iter().any(|w| *w < 0.0))
        .collect();
    let mut out = vec![None; examples.len()];
    for chunk in wanted.chunks(8) {
        let pairs: Vec<SequencePair> = chunk.iter().map(|&i| examples[i].pair.clone()).collect();
        let rows = completion_logprobs(model, &pairs, reference)?
            .per_token
            .to_vec2::<f32>()?;
        for (&i, row) in chunk.iter().zip(rows) {
            out[i] = Some(row[..examples[i].pair.completion.len()].to_vec());
        }
    }
    Ok(out)
}

impl WeightedSequence {
    /// A demonstration: every completion token asked for with weight 1 (the SFT loss).
    pub fn demonstration(pair: SequencePair) -> Self {
        let weights = vec![1.0; pair.completion.len()];
        Self { pair, weights }
    }

    /// Whether any token carries a weight.
    pub fn carries_weight(&self) -> bool {
        self.weights.iter().any(|w| *w != 0.0)
    }
}

/// Token-weighted fine-tuning: demonstrations, corrections and marked answers in one stage.
pub struct TokenWeighted<'a> {
    pub model: &'a Model,
    pub examples: &'a [WeightedSequence],
    pub negative: NegativeTerm,
    /// [`reference_logprobs`] of the examples (NPO needs them where a token is against).
    pub reference: Vec<Option<Vec<f32>>>,
}

impl<'a> TokenWeighted<'a> {
    /// The objective with the term against tokens `negative`; NPO's reference log-probs are
    /// computed here, under `reference` (the base model, or a parent adapter).
    pub fn new(
        model: &'a Model,
        examples: &'a [WeightedSequence],
        negative: NegativeTerm,
        reference: Option<&hone_model::lora::Adapter>,
    ) -> Result<Self> {
        let reference = match negative {
            NegativeTerm::Npo { .. } => {
                reference_logprobs(model, examples, &LoraContext::inference(reference))?
            }
            NegativeTerm::Unlikelihood => vec![None; examples.len()],
        };
        Ok(Self {
            model,
            examples,
            negative,
            reference,
        })
    }
}

impl Objective for TokenWeighted<'_> {
    fn loss(&mut self, batch: &[usize], lora: &LoraContext) -> Result<(Tensor, Metrics, usize)> {
        let examples: Vec<&WeightedSequence> = batch.iter().map(|&i| &self.examples[i]).collect();
        let pairs: Vec<SequencePair> = examples.iter().map(|e| e.pair.clone()).collect();
        let tokens = pairs
            .iter()
            .map(|p| p.prompt.len() + p.completion.len())
            .sum();
        let lp = completion_logprobs(self.model, &pairs, lora)?;
        let longest = lp.per_token.dim(1)?;
        let rows: Vec<&[f32]> = examples.iter().map(|e| e.weights.as_slice()).collect();
        let device = lp.per_token.device();
        let weights = padded(&rows, longest, device)?;
        let reference = match self.negative {
            NegativeTerm::Npo { .. } => {
                // Rows without a token against have no reference; their NPO term weighs 0.
                let refs: Vec<&[f32]> = batch
                    .iter()
                    .map(|&i| self.reference[i].as_deref().unwrap_or(&[]))
                    .collect();
                Some(padded(&refs, longest, device)?)
            }
            NegativeTerm::Unlikelihood => None,
        };
        let (loss, metrics) =
            weighted_token_loss_with(&lp.per_token, &weights, self.negative, reference.as_ref())?;
        Ok((loss, metrics, tokens))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::losses::sft_loss;

    /// Two positions over a 5-token vocabulary: log-probs of targets 0 and 3.
    fn logits() -> Vec<f32> {
        vec![2.0, 1.0, 0.0, -1.0, 0.5, -0.5, 0.3, 1.5, 0.2, -1.0]
    }

    fn per_token(logits: &Tensor) -> Tensor {
        let logp = candle_nn::ops::log_softmax(logits, D::Minus1).unwrap();
        let targets = Tensor::new(&[[0u32], [3]], logits.device()).unwrap();
        logp.gather(&targets, 1).unwrap().reshape((1, 2)).unwrap()
    }

    #[test]
    fn the_loss_of_a_hand_computed_example() {
        let x = Tensor::from_vec(logits(), (2, 5), &Device::Cpu).unwrap();
        let lp = per_token(&x);
        // log p(0 | row 0) = 2 − logsumexp(row 0) = −0.574438;
        // p(3 | row 1) = e^(0.2 − logsumexp(row 1)) = 0.152155.
        let got = lp.to_vec2::<f32>().unwrap()[0].clone();
        assert!((got[0] as f64 + 0.5744379396277961).abs() < 1e-6, "{got:?}");
        assert!((got[1] as f64 + 1.8828557985854328).abs() < 1e-6, "{got:?}");
        // Likelihood on the first, unlikelihood on the second:
        // (0.574438 − log(1 − 0.152155)) / 2 = 0.369748.
        let w = Tensor::new(&[[1f32, -1.0]], &Device::Cpu).unwrap();
        let (loss, metrics) = weighted_token_loss(&lp, &w).unwrap();
        let loss = loss.to_scalar::<f32>().unwrap() as f64;
        assert!((loss - 0.3697476681471561).abs() < 1e-6, "{loss}");
        assert_eq!(metrics.get("likelihood_tokens"), Some(1.0));
        assert_eq!(metrics.get("unlikelihood_tokens"), Some(1.0));
        // Weights 2 and −0.5: (2·0.574438 − 0.5·log(0.847845)) / 2.5 = 0.492562.
        let w = Tensor::new(&[[2f32, -0.5]], &Device::Cpu).unwrap();
        let loss = weighted_token_loss(&lp, &w).unwrap().0;
        let loss = loss.to_scalar::<f32>().unwrap() as f64;
        assert!((loss - 0.4925618310355401).abs() < 1e-6, "{loss}");
    }

    #[test]
    fn the_gradient_matches_finite_differences() {
        let x = Var::from_vec(logits(), (2, 5), &Device::Cpu).unwrap();
        let w = Tensor::new(&[[1.5f32, -0.7]], &Device::Cpu).unwrap();
        let loss_at = |values: Vec<f32>| -> f64 {
            let x = Tensor::from_vec(values, (2, 5), &Device::Cpu)
                .unwrap()
                .to_dtype(DType::F64)
                .unwrap();
            let lp = per_token(&x);
            let w = w.to_dtype(DType::F64).unwrap();
            weighted_token_loss(&lp, &w)
                .unwrap()
                .0
                .to_scalar::<f64>()
                .unwrap()
        };
        let (loss, _) = weighted_token_loss(&per_token(x.as_tensor()), &w).unwrap();
        let grads = loss.backward().unwrap();
        let analytic = grads.get(x.as_tensor()).unwrap().flatten_all().unwrap();
        let analytic = analytic.to_vec1::<f32>().unwrap();
        let h = 1e-3;
        for (i, g) in analytic.iter().enumerate() {
            let (mut up, mut down) = (logits(), logits());
            up[i] += h as f32;
            down[i] -= h as f32;
            let numeric = (loss_at(up) - loss_at(down)) / (2.0 * h);
            assert!(
                (numeric - *g as f64).abs() < 1e-4,
                "logit {i}: analytic {g}, finite differences {numeric}"
            );
        }
        // The unlikelihood token's own logit: pushing it up must raise the loss.
        assert!(analytic[8] > 0.0, "{analytic:?}");
    }

    #[test]
    fn unit_weights_are_the_sft_loss_and_a_certain_token_stays_finite() {
        let lp = Tensor::new(&[[-0.5f32, -2.0, 0.0], [-1.0, 0.0, 0.0]], &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1f32, 1.0, 1.0], [1.0, 0.0, 0.0]], &Device::Cpu).unwrap();
        let (weighted, _) = weighted_token_loss(&lp, &mask).unwrap();
        let (sft, _) = sft_loss(&lp, &mask).unwrap();
        let (weighted, sft) = (
            weighted.to_scalar::<f32>().unwrap(),
            sft.to_scalar::<f32>().unwrap(),
        );
        assert!((weighted - sft).abs() < 1e-6, "{weighted} vs {sft}");
        // Unlikelihood on a token of probability 1: −log(1e-5), not infinity.
        let certain = Tensor::new(&[[0f32]], &Device::Cpu).unwrap();
        let w = Tensor::new(&[[-1f32]], &Device::Cpu).unwrap();
        let loss = weighted_token_loss(&certain, &w).unwrap().0;
        let loss = loss.to_scalar::<f32>().unwrap() as f64;
        assert!((loss + MIN_ONE_MINUS_P.ln()).abs() < 1e-3, "{loss}");
        // No weight at all: refused, not a NaN.
        let none = Tensor::zeros((1, 1), DType::F32, &Device::Cpu).unwrap();
        let err = weighted_token_loss(&certain, &none)
            .unwrap_err()
            .to_string();
        assert!(err.contains("no token"), "{err}");
    }

    #[test]
    fn npo_against_a_token_is_bounded_and_anchored_to_the_reference() {
        // One token against, log p = −0.5, reference log p = −1.0, β = 0.1:
        // (2/0.1)·log(1 + e^(0.1·0.5)) = 20·log(1 + e^0.05) = 14.369193.
        let lp = Var::new(&[[-0.5f64]], &Device::Cpu).unwrap();
        let reference = Tensor::new(&[[-1.0f64]], &Device::Cpu).unwrap();
        let w = Tensor::new(&[[-1.0f64]], &Device::Cpu).unwrap();
        let term = NegativeTerm::Npo { beta: 0.1 };
        let (loss, _) =
            weighted_token_loss_with(lp.as_tensor(), &w, term, Some(&reference)).unwrap();
        let value = loss.to_scalar::<f64>().unwrap();
        assert!((value - 14.369193).abs() < 1e-5, "{value}");
        // Its gradient is 2·σ(β(lp − ref)) = 2·σ(0.05) = 1.024995: at most 2, never the
        // unlikelihood's p/(1 − p).
        let grad = loss
            .backward()
            .unwrap()
            .get(lp.as_tensor())
            .unwrap()
            .clone();
        let grad = grad.flatten_all().unwrap().to_vec1::<f64>().unwrap()[0];
        assert!((grad - 1.024995).abs() < 1e-5, "{grad}");
        // A token the model is sure of: unlikelihood pushes with p/(1 − p) ≈ 5e4, NPO with < 2.
        let sure = Var::new(&[[-2e-5f64]], &Device::Cpu).unwrap();
        let push = |term| {
            let (loss, _) =
                weighted_token_loss_with(sure.as_tensor(), &w, term, Some(&reference)).unwrap();
            let g = loss
                .backward()
                .unwrap()
                .get(sure.as_tensor())
                .unwrap()
                .clone();
            g.flatten_all().unwrap().to_vec1::<f64>().unwrap()[0]
        };
        assert!(push(term) < 2.0);
        assert!(push(NegativeTerm::Unlikelihood) > 1e4);
        // Without a reference NPO is refused.
        let err = weighted_token_loss_with(lp.as_tensor(), &w, term, None).unwrap_err();
        assert!(err.to_string().contains("reference"), "{err}");
    }

    #[test]
    fn masked_sums_keep_only_the_differing_tokens() {
        let lp = Tensor::new(&[[-1f32, -2.0, -3.0]], &Device::Cpu).unwrap();
        let mask = padded(&[&[0.0, 1.0]], 3, &Device::Cpu).unwrap();
        assert_eq!(mask.to_vec2::<f32>().unwrap(), vec![vec![0.0, 1.0, 0.0]]);
        let sums = masked_sums(&lp, &mask).unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(sums, vec![-2.0]);
    }
}
