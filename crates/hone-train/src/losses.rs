//! The objectives, as TRL defines them (names, formulas and defaults users know).
//!
//! Inputs are per-example sums of completion log-probs (`[batch]`), from
//! `hone_model::score::completion_logprobs`. ℓ = log πθ(y|x) − log πref(y|x), Δ = ℓc − ℓr.

use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use crate::Result;

/// log σ(x), computed stably as min(x, 0) − log(1 + e^−|x|).
pub fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    // min(x, 0) written as (x − |x|)/2: candle's |x| has slope 1 at 0 and its minimum halves
    // the gradient at a tie, which together gave log σ a slope of 1 instead of ½ at exactly 0
    // (where DPO's first step is when policy and reference compute the same log-probs).
    let abs = x.abs()?;
    let min_zero = ((x - &abs)? * 0.5)?;
    Ok((min_zero - (abs.neg()?.exp()? + 1.0)?.log()?)?)
}

pub fn sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok(log_sigmoid(x)?.exp()?)
}

fn mean(x: &Tensor) -> Result<f64> {
    Ok(x.mean_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()?)
}

/// Masked mean negative log-likelihood of completion tokens: the SFT loss (prompt masked).
/// `per_token` and `mask` are `[batch, tokens]`.
pub fn sft_loss(per_token: &Tensor, mask: &Tensor) -> Result<(Tensor, Metrics)> {
    let tokens = mask.sum_all()?;
    let loss = (per_token.mul(mask)?.sum_all()?.neg()? / tokens)?;
    let mut metrics = Metrics::default();
    metrics.insert(
        "loss",
        loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?,
    );
    Ok((loss, metrics))
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DpoLossType {
    /// −log σ(βΔ) (Rafailov et al. 2023).
    #[default]
    Sigmoid,
    /// (Δ̄ − 1/(2β))² on length-averaged log-ratios (Azar et al. 2023).
    Ipo,
    /// relu(1 − βΔ) (SLiC).
    Hinge,
}

/// The per-example inputs of a preference loss.
pub struct PreferenceLogps<'a> {
    pub policy_chosen: &'a Tensor,
    pub policy_rejected: &'a Tensor,
    pub reference_chosen: &'a Tensor,
    pub reference_rejected: &'a Tensor,
    /// Completion lengths (tokens), for IPO's length averaging: `[batch]` f32.
    pub chosen_tokens: &'a Tensor,
    pub rejected_tokens: &'a Tensor,
}

/// DPO and its variants. `label_smoothing` ε gives cDPO for the sigmoid loss.
pub fn dpo_loss(
    x: &PreferenceLogps,
    loss_type: DpoLossType,
    beta: f64,
    label_smoothing: f64,
) -> Result<(Tensor, Metrics)> {
    let chosen_ratio = (x.policy_chosen - x.reference_chosen)?;
    let rejected_ratio = (x.policy_rejected - x.reference_rejected)?;
    let losses = match loss_type {
        DpoLossType::Sigmoid => {
            let logits = ((&chosen_ratio - &rejected_ratio)? * beta)?;
            let pos = (log_sigmoid(&logits)? * -(1.0 - label_smoothing))?;
            let neg = (log_sigmoid(&logits.neg()?)? * -label_smoothing)?;
            (pos + neg)?
        }
        DpoLossType::Hinge => ((&chosen_ratio - &rejected_ratio)? * -beta)?
            .affine(1.0, 1.0)?
            .relu()?,
        DpoLossType::Ipo => {
            let logits = ((chosen_ratio.div(x.chosen_tokens)?
                - rejected_ratio.div(x.rejected_tokens)?)?
                - 1.0 / (2.0 * beta))?;
            logits.sqr()?
        }
    };
    let loss = losses.mean_all()?;
    let chosen_rewards = (chosen_ratio.detach() * beta)?;
    let rejected_rewards = (rejected_ratio.detach() * beta)?;
    let mut m = Metrics::default();
    m.insert("loss", mean(&loss)?);
    m.insert("rewards/chosen", mean(&chosen_rewards)?);
    m.insert("rewards/rejected", mean(&rejected_rewards)?);
    m.insert(
        "rewards/accuracies",
        mean(
            &chosen_rewards
                .gt(&rejected_rewards)?
                .to_dtype(candle_core::DType::F32)?,
        )?,
    );
    m.insert(
        "rewards/margins",
        mean(&(&chosen_rewards - &rejected_rewards)?)?,
    );
    m.insert("logps/chosen", mean(&x.policy_chosen.detach())?);
    m.insert("logps/rejected", mean(&x.policy_rejected.detach())?);
    Ok((loss, m))
}

/// Bradley–Terry reward-model loss: −log σ(rc − rr − margin) + λ·mean((rc + rr)²), λ being
/// `center_rewards_coefficient` (0 disables it). `margin` is `[batch]` or `None`.
pub fn reward_loss(
    chosen: &Tensor,
    rejected: &Tensor,
    margin: Option<&Tensor>,
    center_rewards_coefficient: f64,
) -> Result<(Tensor, Metrics)> {
    let mut diff = (chosen - rejected)?;
    if let Some(margin) = margin {
        diff = (diff - margin)?;
    }
    let mut loss = log_sigmoid(&diff)?.neg()?.mean_all()?;
    if center_rewards_coefficient != 0.0 {
        loss = (loss + ((chosen + rejected)?.sqr()?.mean_all()? * center_rewards_coefficient)?)?;
    }
    let (c, r) = (chosen.detach(), rejected.detach());
    let all = Tensor::cat(&[&c, &r], 0)?;
    let mut m = Metrics::default();
    m.insert("loss", mean(&loss)?);
    m.insert(
        "accuracy",
        mean(&c.gt(&r)?.to_dtype(candle_core::DType::F32)?)?,
    );
    m.insert("margin", mean(&(&c - &r)?)?);
    m.insert("reward/mean", mean(&all)?);
    m.insert(
        "reward/min",
        all.min(D::Minus1)?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?,
    );
    m.insert(
        "reward/max",
        all.max(D::Minus1)?
            .to_dtype(candle_core::DType::F64)?
            .to_scalar::<f64>()?,
    );
    Ok((loss, m))
}

/// The inputs of the KTO loss: log-ratios of the desirable and undesirable examples of the
/// batch, and the batch's KL estimate from mismatched prompt/completion pairs.
pub struct KtoInputs<'a> {
    /// ℓ of desirable examples, `[n_desirable]` (may be empty).
    pub desirable: &'a Tensor,
    pub undesirable: &'a Tensor,
    /// ℓ of mismatched pairs; z = max(0, mean), detached.
    pub kl_pairs: &'a Tensor,
}

/// KTO (Ethayarajh et al. 2024): desirable λD·(1 − σ(β(ℓ − z))), undesirable
/// λU·(1 − σ(β(z − ℓ))), mean over all examples.
pub fn kto_loss(
    x: &KtoInputs,
    beta: f64,
    desirable_weight: f64,
    undesirable_weight: f64,
) -> Result<(Tensor, Metrics)> {
    let z = x
        .kl_pairs
        .detach()
        .mean_all()?
        .to_dtype(candle_core::DType::F64)?
        .to_scalar::<f64>()?
        .max(0.0);
    let mut parts = Vec::new();
    if x.desirable.elem_count() > 0 {
        let s = sigmoid(&((x.desirable - z)? * beta)?)?;
        parts.push((s.affine(-1.0, 1.0)? * desirable_weight)?);
    }
    if x.undesirable.elem_count() > 0 {
        let s = sigmoid(&(x.undesirable.affine(-1.0, z)? * beta)?)?;
        parts.push((s.affine(-1.0, 1.0)? * undesirable_weight)?);
    }
    if parts.is_empty() {
        return Err(crate::TrainError::Invalid {
            field: "batch".into(),
            message: "has no KTO example".into(),
        });
    }
    let loss = Tensor::cat(&parts, 0)?.mean_all()?;
    let mut m = Metrics::default();
    m.insert("loss", mean(&loss)?);
    m.insert("kl", z);
    if x.desirable.elem_count() > 0 {
        m.insert("rewards/chosen", mean(&(x.desirable.detach() * beta)?)?);
    }
    if x.undesirable.elem_count() > 0 {
        m.insert("rewards/rejected", mean(&(x.undesirable.detach() * beta)?)?);
    }
    Ok((loss, m))
}
