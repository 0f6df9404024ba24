//! Text generation with a KV cache: N samples of one prompt (or one of each of N prompts,
//! padded on the left to the longest) decoded as one batch, each with its own seeded
//! generator (sample i of seed s is the same whatever N is), streamed token by token through a
//! callback.

use std::ops::ControlFlow;

use candle_core::{DType, Tensor};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::lora::{Adapter, LoraContext};
use crate::sampling::{sample, SamplingParams};
use crate::{KvCache, LoadedModel, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// An end-of-sequence / end-of-turn token.
    Eos,
    /// A stop string.
    Stop,
    /// `max_new_tokens` reached.
    Length,
    /// The caller stopped it (its `on_token` answered [`ControlFlow::Break`]).
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    pub text: String,
    pub token_ids: Vec<u32>,
    pub finish_reason: FinishReason,
}

/// A newly decoded piece of sample `sample`'s text.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenEvent<'a> {
    pub sample: usize,
    pub token_id: u32,
    pub text: &'a str,
}

struct Row {
    rng: StdRng,
    ids: Vec<u32>,
    text: String,
    finished: Option<FinishReason>,
}

/// Times one generation as a user waits for it (and as llama.cpp and `ollama run --verbose`
/// count): the prompt's pass until the first piece of text, then the tokens after it. Call
/// [`FirstTokenClock::token`] from the token callback.
pub struct FirstTokenClock {
    started: std::time::Instant,
    first: Option<std::time::Duration>,
}

impl FirstTokenClock {
    pub fn start() -> Self {
        Self {
            started: std::time::Instant::now(),
            first: None,
        }
    }

    /// A piece of text came; the first one ends the prompt's phase.
    pub fn token(&mut self) {
        if self.first.is_none() {
            self.first = Some(self.started.elapsed());
        }
    }

    /// (the prompt's pass with the first token, the rest) so far; none before any text.
    pub fn phases(&self) -> Option<(std::time::Duration, std::time::Duration)> {
        let first = self.first?;
        Some((first, self.started.elapsed().saturating_sub(first)))
    }

    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }
}

/// Generates `n` continuations of `prompt_ids`, applying `adapter` when given.
pub fn generate(
    lm: &LoadedModel,
    adapter: Option<&Adapter>,
    prompt_ids: &[u32],
    n: usize,
    params: &SamplingParams,
    mut on_token: impl FnMut(TokenEvent),
) -> Result<Vec<Generation>> {
    generate_until(lm, adapter, prompt_ids, n, params, |event| {
        on_token(event);
        ControlFlow::Continue(())
    })
}

/// [`generate`], stoppable: when `on_token` answers [`ControlFlow::Break`], decoding ends
/// there and every unfinished sample keeps the text it has, finished as
/// [`FinishReason::Cancelled`].
pub fn generate_until(
    lm: &LoadedModel,
    adapter: Option<&Adapter>,
    prompt_ids: &[u32],
    n: usize,
    params: &SamplingParams,
    on_token: impl FnMut(TokenEvent) -> ControlFlow<()>,
) -> Result<Vec<Generation>> {
    // The checks in the order callers have always met them.
    params.validate()?;
    if prompt_ids.is_empty() {
        return Err(crate::ModelError::invalid("prompt", "is empty (no tokens)"));
    }
    if n == 0 {
        return Err(crate::ModelError::invalid("n", "must be at least 1"));
    }
    decode_rows(lm, adapter, &vec![prompt_ids; n], params, on_token)
}

/// One continuation of each of `prompts` (of any lengths), decoded as one batch: each prompt
/// is padded on the left to the longest, so every decoding step reads the weights once for
/// all of them (PPO's rollouts; TRL generates its batch the same way). Sample `i` draws from
/// `params.seed + i`, as sample `i` of [`generate`] does.
pub fn generate_each(
    lm: &LoadedModel,
    adapter: Option<&Adapter>,
    prompts: &[Vec<u32>],
    params: &SamplingParams,
    mut on_token: impl FnMut(TokenEvent),
) -> Result<Vec<Generation>> {
    params.validate()?;
    if prompts.is_empty() {
        return Err(crate::ModelError::invalid("prompts", "none was given"));
    }
    if let Some(i) = prompts.iter().position(|p| p.is_empty()) {
        return Err(crate::ModelError::invalid(
            format!("prompts[{i}]"),
            "is empty (no tokens)",
        ));
    }
    let prompts: Vec<&[u32]> = prompts.iter().map(Vec::as_slice).collect();
    decode_rows(lm, adapter, &prompts, params, |event| {
        on_token(event);
        ControlFlow::Continue(())
    })
}

/// The decoding both front doors share; they have checked `params` and that every prompt
/// has tokens.
fn decode_rows(
    lm: &LoadedModel,
    adapter: Option<&Adapter>,
    prompts: &[&[u32]],
    params: &SamplingParams,
    mut on_token: impl FnMut(TokenEvent) -> ControlFlow<()>,
) -> Result<Vec<Generation>> {
    let n = prompts.len();
    let longest = prompts.iter().map(|p| p.len()).max().unwrap_or(0);
    // Said now rather than after minutes of decoding, when the positions run out.
    let room = lm.model.config().max_position_embeddings;
    if longest + params.max_new_tokens > room {
        return Err(crate::ModelError::invalid(
            "max_new_tokens",
            format!(
                "the prompt's {longest} tokens and {} new ones exceed the model's context of {room} positions; ask for at most {}",
                params.max_new_tokens,
                room.saturating_sub(longest)
            ),
        ));
    }
    let model = &lm.model;
    let device = model.device();
    let lora = LoraContext::inference(adapter);
    let pad_id = *lm.eos_token_ids.first().unwrap_or(&0);
    let left_padding: Vec<usize> = prompts.iter().map(|p| longest - p.len()).collect();
    let mut cache = KvCache::left_padded(model.config().num_hidden_layers, left_padding.clone());
    let mut rows: Vec<Row> = (0..n)
        .map(|i| Row {
            rng: StdRng::seed_from_u64(params.seed.wrapping_add(i as u64)),
            ids: Vec::new(),
            text: String::new(),
            finished: None,
        })
        .collect();

    let padded: Vec<u32> = prompts
        .iter()
        .zip(&left_padding)
        .flat_map(|(p, &pad)| std::iter::repeat_n(pad_id, pad).chain(p.iter().copied()))
        .collect();
    let mut input = Tensor::from_vec(padded, (n, longest), device)?;
    for _ in 0..params.max_new_tokens {
        let logits = decode_step(model, &input, &mut cache, &lora)?;
        let mut next = Vec::with_capacity(n);
        let mut stopped = false;
        for (i, (row, mut row_logits)) in rows.iter_mut().zip(logits).enumerate() {
            if row.finished.is_some() {
                // Finished rows keep decoding a pad in the batch; their output is ignored.
                next.push(pad_id);
                continue;
            }
            let context: Vec<u32> = prompts[i].iter().chain(&row.ids).copied().collect();
            let token = sample(&mut row_logits, &context, params, &mut row.rng);
            next.push(token);
            if lm.eos_token_ids.contains(&token) {
                row.finished = Some(FinishReason::Eos);
                continue;
            }
            row.ids.push(token);
            let text = lm.tokenizer.decode(&row.ids, true)?;
            // A token may end inside a multi-byte character: wait for the rest.
            if text.ends_with('\u{fffd}') {
                continue;
            }
            let previous = row.text.len();
            row.text = text;
            // A stop string may end anywhere in the new piece, and may have begun before it.
            if let Some(cut) = find_stop(&row.text, previous, &params.stop) {
                row.text.truncate(cut);
                row.finished = Some(FinishReason::Stop);
                if cut > previous {
                    stopped |= on_token(TokenEvent {
                        sample: i,
                        token_id: token,
                        text: &row.text[previous..],
                    })
                    .is_break();
                }
                continue;
            }
            stopped |= on_token(TokenEvent {
                sample: i,
                token_id: token,
                text: &row.text[previous..],
            })
            .is_break();
        }
        if stopped {
            for row in rows.iter_mut().filter(|r| r.finished.is_none()) {
                row.finished = Some(FinishReason::Cancelled);
            }
        }
        if rows.iter().all(|r| r.finished.is_some()) {
            break;
        }
        input = Tensor::new(next.as_slice(), device)?.unsqueeze(1)?;
    }
    Ok(rows
        .into_iter()
        .map(|r| {
            let text = if r.finished.is_none() {
                lm.tokenizer.decode(&r.ids, true).unwrap_or(r.text)
            } else {
                r.text
            };
            Generation {
                text,
                token_ids: r.ids,
                finish_reason: r.finished.unwrap_or(FinishReason::Length),
            }
        })
        .collect())
}

/// One decoding step: `input` `[rows, new]` through every layer after what `cache` holds
/// (which it then holds too), and each row's logits at its last position, read back to the
/// host (on a GPU, the step's end).
pub fn decode_step(
    model: &crate::Model,
    input: &Tensor,
    cache: &mut KvCache,
    lora: &LoraContext,
) -> Result<Vec<Vec<f32>>> {
    let hidden = crate::base_weight::generating(|| {
        model.hidden_states(input, cache.len(), Some(cache), lora)
    })?;
    let last = hidden.narrow(1, hidden.dim(1)? - 1, 1)?.squeeze(1)?;
    Ok(model
        .logits(&last)?
        .to_dtype(DType::F32)?
        .to_vec2::<f32>()?)
}

/// The earliest byte offset at which a stop string occurs in `text`, looking only at
/// occurrences that end after `previous` (the text already checked).
fn find_stop(text: &str, previous: usize, stops: &[String]) -> Option<usize> {
    stops
        .iter()
        .filter(|s| !s.is_empty())
        .filter_map(|stop| {
            let mut from = previous.saturating_sub(stop.len() - 1);
            while !text.is_char_boundary(from) {
                from -= 1;
            }
            text[from..].find(stop.as_str()).map(|i| from + i)
        })
        .min()
}
