//! Log-probabilities of completions given prompts, batched with right padding. The LM head
//! runs only at the positions that predict completion tokens, and the log-softmax is a
//! log-sum-exp and a gather, never a full `[batch, seq, vocab]` tensor. The result is
//! differentiable: training losses are built on it.

use candle_core::{DType, Tensor, D};
use serde::{Deserialize, Serialize};

use crate::chat_template::Message;
use crate::lora::{Adapter, LoraContext};
use crate::{LoadedModel, Model, ModelError, Result};

/// A tokenised prompt and completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencePair {
    pub prompt: Vec<u32>,
    pub completion: Vec<u32>,
}

/// What a prompt is: raw text, or a conversation for the chat template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PromptInput {
    Raw(String),
    Chat(Vec<Message>),
}

impl LoadedModel {
    /// Tokenises prompt and completion separately. Raw: the prompt with the tokenizer's special
    /// tokens (BOS), the completion without. Chat: the rendered conversation (which holds its
    /// own special tokens) and the answer up to and including the end-of-turn token.
    pub fn encode_pair(&self, prompt: &PromptInput, completion: &str) -> Result<SequencePair> {
        let (prompt, completion) = match prompt {
            PromptInput::Raw(text) => (
                self.tokenizer.encode(text, true)?,
                self.tokenizer.encode(completion, false)?,
            ),
            PromptInput::Chat(messages) => {
                let (p, c) = self
                    .template()?
                    .prompt_and_completion(messages, completion)?;
                (
                    self.tokenizer.encode(&p, false)?,
                    self.tokenizer.encode(&c, false)?,
                )
            }
        };
        Ok(SequencePair { prompt, completion })
    }

    /// [`Self::encode_pair`] with each completion token's character range in `answer`
    /// (`start..end`, clipped to the answer), `None` for a token outside it: a chat template's
    /// end of turn, or one that only touches the answer's edge. Token-level feedback maps an
    /// expert's marked characters to tokens with it.
    pub fn encode_pair_with_answer_ranges(
        &self,
        prompt: &PromptInput,
        answer: &str,
    ) -> Result<AnswerTokens> {
        let (prompt, completion_text) = match prompt {
            PromptInput::Raw(text) => (self.tokenizer.encode(text, true)?, answer.to_owned()),
            PromptInput::Chat(messages) => {
                let (p, c) = self.template()?.prompt_and_completion(messages, answer)?;
                (self.tokenizer.encode(&p, false)?, c)
            }
        };
        let (completion, ranges) = self
            .tokenizer
            .encode_with_char_ranges(&completion_text, false)?;
        // Where the answer sits in the completion text (chat: before the end of turn).
        let start = completion_text
            .find(answer)
            .map(|byte| completion_text[..byte].chars().count())
            .ok_or_else(|| {
                ModelError::invalid(
                    "answer",
                    "is not found verbatim in the chat template's rendering of it",
                )
            })?;
        let end = start + answer.chars().count();
        let ranges = ranges
            .into_iter()
            .map(|(s, e)| {
                let (s, e) = (s.max(start), e.min(end));
                (s < e).then(|| (s - start, e - start))
            })
            .collect();
        Ok(AnswerTokens {
            pair: SequencePair { prompt, completion },
            ranges,
        })
    }

    /// The prompt's token ids, ready for generation (chat: with the generation prompt).
    pub fn encode_prompt(&self, prompt: &PromptInput) -> Result<Vec<u32>> {
        match prompt {
            PromptInput::Raw(text) => self.tokenizer.encode(text, true),
            PromptInput::Chat(messages) => self
                .tokenizer
                .encode(&self.template()?.render(messages, true)?, false),
        }
    }
}

/// A tokenised prompt and answer, with each completion token's character range in the
/// answer (see [`LoadedModel::encode_pair_with_answer_ranges`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerTokens {
    pub pair: SequencePair,
    pub ranges: Vec<Option<(usize, usize)>>,
}

/// Per-token log-probs `[batch, longest completion]`, 0 at padding, and the 0/1 mask.
#[derive(Debug, Clone)]
pub struct CompletionLogprobs {
    pub per_token: Tensor,
    pub mask: Tensor,
    pub lengths: Vec<usize>,
}

impl CompletionLogprobs {
    /// The sum over each completion's tokens, `[batch]`.
    pub fn sums(&self) -> Result<Tensor> {
        Ok(self.per_token.sum(D::Minus1)?)
    }
}

/// What one forward pass over prompt + completion gives, per completion token, padded to
/// `[batch, longest completion]`.
#[derive(Debug, Clone)]
pub struct CompletionOutputs {
    pub logprobs: CompletionLogprobs,
    /// The final hidden state at each position that predicts a completion token
    /// `[batch, longest, hidden]` (a value head reads it), when asked for.
    pub hidden: Option<Tensor>,
    /// The entropy of the next-token distribution at those positions, when asked for.
    pub entropy: Option<Tensor>,
}

/// Log-probs of every completion token given what precedes it.
pub fn completion_logprobs(
    model: &Model,
    batch: &[SequencePair],
    lora: &LoraContext,
) -> Result<CompletionLogprobs> {
    Ok(completion_outputs(model, batch, lora, false, false)?.logprobs)
}

/// Log-probs of every completion token, and optionally the hidden states and entropies at the
/// positions that predict them.
pub fn completion_outputs(
    model: &Model,
    batch: &[SequencePair],
    lora: &LoraContext,
    want_hidden: bool,
    want_entropy: bool,
) -> Result<CompletionOutputs> {
    if batch.is_empty() {
        return Err(ModelError::invalid("batch", "is empty"));
    }
    for (i, pair) in batch.iter().enumerate() {
        if pair.prompt.is_empty() {
            return Err(ModelError::invalid(
                format!("batch[{i}].prompt"),
                "has no tokens",
            ));
        }
        if pair.completion.is_empty() {
            return Err(ModelError::invalid(
                format!("batch[{i}].completion"),
                "has no tokens",
            ));
        }
    }
    let device = model.device();
    let b = batch.len();
    let seq = batch
        .iter()
        .map(|p| p.prompt.len() + p.completion.len())
        .max()
        .unwrap_or(0);
    let longest = batch.iter().map(|p| p.completion.len()).max().unwrap_or(0);

    let mut ids = Vec::with_capacity(b * seq);
    let mut positions = Vec::new();
    let mut targets = Vec::new();
    for (r, pair) in batch.iter().enumerate() {
        let row: Vec<u32> = pair
            .prompt
            .iter()
            .chain(&pair.completion)
            .copied()
            .collect();
        ids.extend_from_slice(&row);
        ids.extend(std::iter::repeat_n(0u32, seq - row.len()));
        for (j, &token) in pair.completion.iter().enumerate() {
            // Position p−1+j predicts completion token j.
            positions.push((r * seq + pair.prompt.len() - 1 + j) as u32);
            targets.push(token);
        }
    }
    let n = positions.len();
    let input = Tensor::from_vec(ids, (b, seq), device)?;
    let hidden = model.hidden_states(&input, 0, None, lora)?;
    let hidden_size = hidden.dim(2)?;
    let hidden = hidden
        .reshape((b * seq, hidden_size))?
        .index_select(&Tensor::new(positions.as_slice(), device)?, 0)?;
    // log p(target) = logit[target] − logsumexp(logits). On the CPU with a frozen f32 head, the
    // head and the log-prob are one op over blocks of rows: no [n, vocab] tensor is kept. The
    // entropy needs the whole logits.
    let fused_head = model
        .frozen_dense_head()
        .filter(|_| !want_entropy && crate::fused::supports(&hidden));
    let (flat, logits) = if let Some(head) = fused_head {
        let with_gradient = hidden.track_op();
        let flat = crate::fused::head_target_logprobs(&hidden, head, &targets, with_gradient)?;
        (flat, None)
    } else {
        let logits = model.logits(&hidden)?.to_dtype(DType::F32)?;
        // Fused on the CPU (one pass; one [n, vocab] tensor kept for the backward, not three).
        let flat = if crate::fused::supports(&logits) {
            crate::fused::target_logprobs(&logits, &targets)?
        } else {
            let lse = log_sum_exp(&logits)?;
            let picked =
                logits.gather(&Tensor::new(targets.as_slice(), device)?.unsqueeze(1)?, 1)?;
            (picked - &lse)?.squeeze(1)?
        };
        (flat, Some(logits))
    };

    // Back to [batch, longest], padding from a zero row appended at index n.
    let mut index = Vec::with_capacity(b * longest);
    let mut mask = Vec::with_capacity(b * longest);
    let mut start = 0;
    for pair in batch {
        let c = pair.completion.len();
        for j in 0..longest {
            index.push(if j < c { (start + j) as u32 } else { n as u32 });
            mask.push(if j < c { 1f32 } else { 0.0 });
        }
        start += c;
    }
    let index = Tensor::new(index.as_slice(), device)?;
    let pad = |flat: &Tensor| -> Result<Tensor> {
        let zero = flat.narrow(0, 0, 1)?.zeros_like()?;
        Ok(Tensor::cat(&[flat, &zero], 0)?.index_select(&index, 0)?)
    };
    let per_token = pad(&flat)?.reshape((b, longest))?;
    let entropy = if let (true, Some(logits)) = (want_entropy, logits) {
        let logits = logits.detach();
        let logp = logits.broadcast_sub(&log_sum_exp(&logits)?)?;
        let h = (logp.exp()? * &logp)?.sum(D::Minus1)?.neg()?;
        Some(pad(&h)?.reshape((b, longest))?)
    } else {
        None
    };
    let hidden = if want_hidden {
        Some(pad(&hidden)?.reshape((b, longest, hidden_size))?)
    } else {
        None
    };
    Ok(CompletionOutputs {
        logprobs: CompletionLogprobs {
            per_token,
            mask: Tensor::from_vec(mask, (b, longest), device)?,
            lengths: batch.iter().map(|p| p.completion.len()).collect(),
        },
        hidden,
        entropy,
    })
}

/// `logsumexp` over the last axis, `[n, 1]`; the max shift carries no gradient.
fn log_sum_exp(logits: &Tensor) -> Result<Tensor> {
    let max = logits.max_keepdim(D::Minus1)?.detach();
    Ok((logits
        .broadcast_sub(&max)?
        .exp()?
        .sum_keepdim(D::Minus1)?
        .log()?
        + &max)?)
}

/// A completion's tokens and their log-probs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenLogprobs {
    pub prompt_tokens: usize,
    pub token_ids: Vec<u32>,
    pub logprobs: Vec<f32>,
    pub sum: f32,
}

/// Scores each pair without building a graph.
pub fn score(
    lm: &LoadedModel,
    adapter: Option<&Adapter>,
    batch: &[SequencePair],
) -> Result<Vec<TokenLogprobs>> {
    let lp = completion_logprobs(&lm.model, batch, &LoraContext::inference(adapter))?;
    let rows = lp.per_token.to_vec2::<f32>()?;
    Ok(batch
        .iter()
        .zip(rows)
        .map(|(pair, row)| {
            let logprobs = row[..pair.completion.len()].to_vec();
            TokenLogprobs {
                prompt_tokens: pair.prompt.len(),
                token_ids: pair.completion.clone(),
                sum: logprobs.iter().sum(),
                logprobs,
            }
        })
        .collect())
}
