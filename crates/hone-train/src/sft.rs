//! Supervised fine-tuning: the negative log-likelihood of the completion tokens, the prompt
//! masked (TRL's `completion_only_loss`).

use candle_core::Tensor;
use hone_model::lora::LoraContext;
use hone_model::score::{completion_logprobs, SequencePair};
use hone_model::Model;

use crate::losses::sft_loss;
use crate::metrics::Metrics;
use crate::trainer::Objective;
use crate::Result;

pub struct Sft<'a> {
    pub model: &'a Model,
    pub examples: &'a [SequencePair],
}

impl Sft<'_> {
    /// The mean completion loss over `examples` with `lora` (no gradient kept).
    pub fn evaluate(model: &Model, examples: &[SequencePair], lora: &LoraContext) -> Result<f64> {
        let lp = completion_logprobs(model, examples, lora)?;
        let (loss, _) = sft_loss(&lp.per_token.detach(), &lp.mask)?;
        Ok(loss.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?)
    }
}

impl Objective for Sft<'_> {
    fn loss(&mut self, batch: &[usize], lora: &LoraContext) -> Result<(Tensor, Metrics, usize)> {
        let pairs: Vec<SequencePair> = batch.iter().map(|&i| self.examples[i].clone()).collect();
        let tokens = pairs
            .iter()
            .map(|p| p.prompt.len() + p.completion.len())
            .sum();
        let lp = completion_logprobs(self.model, &pairs, lora)?;
        let (loss, metrics) = sft_loss(&lp.per_token, &lp.mask)?;
        Ok((loss, metrics, tokens))
    }
}
