//! The reward model: the LM backbone with a LoRA adapter and a scalar `score` head read at the
//! last token of prompt + completion (transformers' `*ForSequenceClassification` with one
//! label), trained with the Bradley–Terry loss on preference pairs.

use std::path::Path;

use candle_core::{DType, Tensor, Var};
use hone_model::lora::LoraContext;
use hone_model::score::SequencePair;
use hone_model::Model;
use rand::SeedableRng;

use crate::losses::reward_loss;
use crate::metrics::Metrics;
use crate::preference::TokenPair;
use crate::trainer::Objective;
use crate::{Result, TrainError};

pub const SCORE_KEY: &str = "score.weight";

/// The scalar head, `[1, hidden]`, f32.
#[derive(Debug, Clone)]
pub struct ScoreHead {
    pub weight: Var,
}

impl ScoreHead {
    /// Initialised as transformers does: N(0, initializer_range = 0.02).
    pub fn new(hidden: usize, seed: u64, device: &candle_core::Device) -> Result<Self> {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let values: Vec<f32> = (0..hidden)
            .map(|_| 0.02 * hone_model::tiny::standard_normal(&mut rng))
            .collect();
        Ok(Self {
            weight: Var::from_tensor(&Tensor::from_vec(values, (1, hidden), device)?)?,
        })
    }

    pub fn load(path: &Path, device: &candle_core::Device) -> Result<Self> {
        let tensors = candle_core::safetensors::load(path, device)
            .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", path.display())))?;
        let weight = tensors
            .get(SCORE_KEY)
            .ok_or_else(|| TrainError::Checkpoint(format!("{}: no {SCORE_KEY}", path.display())))?;
        Ok(Self {
            weight: Var::from_tensor(&weight.to_dtype(DType::F32)?)?,
        })
    }
}

/// Rewards `[batch]` of whole sequences (prompt + completion), read at each one's last token.
pub fn rewards(
    model: &Model,
    head: &ScoreHead,
    sequences: &[SequencePair],
    lora: &LoraContext,
) -> Result<Tensor> {
    let device = model.device();
    let seq = sequences
        .iter()
        .map(|s| s.prompt.len() + s.completion.len())
        .max()
        .unwrap_or(0);
    if seq == 0 {
        return Err(TrainError::Invalid {
            field: "sequences".into(),
            message: "empty".into(),
        });
    }
    let mut ids = Vec::with_capacity(sequences.len() * seq);
    let mut last = Vec::with_capacity(sequences.len());
    for (r, s) in sequences.iter().enumerate() {
        let row: Vec<u32> = s.prompt.iter().chain(&s.completion).copied().collect();
        last.push((r * seq + row.len() - 1) as u32);
        ids.extend(&row);
        ids.extend(std::iter::repeat_n(0u32, seq - row.len()));
    }
    let input = Tensor::from_vec(ids, (sequences.len(), seq), device)?;
    let hidden = model.hidden_states(&input, 0, None, lora)?;
    let hidden = hidden.reshape((sequences.len() * seq, hidden.dim(2)?))?;
    let at_last = hidden
        .index_select(&Tensor::new(last.as_slice(), device)?, 0)?
        .to_dtype(DType::F32)?;
    let weight = if lora.grad {
        head.weight.as_tensor().clone()
    } else {
        head.weight.as_tensor().detach()
    };
    Ok(at_last.matmul(&weight.t()?)?.squeeze(1)?)
}

pub struct RewardModelTraining<'a> {
    pub model: &'a Model,
    pub head: &'a ScoreHead,
    pub pairs: &'a [TokenPair],
    /// Optional per-pair margins (e.g. from comparison strength).
    pub margins: Option<&'a [f32]>,
    /// TRL's `center_rewards_coefficient` (0.01 recommended; 0 disables).
    pub center_rewards_coefficient: f64,
}

impl Objective for RewardModelTraining<'_> {
    fn loss(&mut self, batch: &[usize], lora: &LoraContext) -> Result<(Tensor, Metrics, usize)> {
        let n = batch.len();
        let mut sequences: Vec<SequencePair> = batch
            .iter()
            .map(|&i| SequencePair {
                prompt: self.pairs[i].prompt.clone(),
                completion: self.pairs[i].chosen.clone(),
            })
            .collect();
        sequences.extend(batch.iter().map(|&i| SequencePair {
            prompt: self.pairs[i].prompt.clone(),
            completion: self.pairs[i].rejected.clone(),
        }));
        let tokens = sequences
            .iter()
            .map(|s| s.prompt.len() + s.completion.len())
            .sum();
        let r = rewards(self.model, self.head, &sequences, lora)?;
        let (chosen, rejected) = (r.narrow(0, 0, n)?, r.narrow(0, n, n)?);
        let margin = match self.margins {
            Some(m) => Some(Tensor::new(
                batch.iter().map(|&i| m[i]).collect::<Vec<_>>().as_slice(),
                r.device(),
            )?),
            None => None,
        };
        let (loss, metrics) = reward_loss(
            &chosen,
            &rejected,
            margin.as_ref(),
            self.center_rewards_coefficient,
        )?;
        Ok((loss, metrics, tokens))
    }

    fn extra_vars(&self) -> Vec<(String, Var)> {
        vec![(SCORE_KEY.to_string(), self.head.weight.clone())]
    }
}
