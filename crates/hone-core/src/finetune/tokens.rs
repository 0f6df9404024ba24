//! Training rows → token sequences for one model.

use std::collections::{HashMap, HashSet};

use hone_model::chat_template::Message;
use hone_model::score::{PromptInput, SequencePair};
use hone_model::LoadedModel;
use hone_train::preference::{LabeledExample, PairFocus, TokenPair};
use hone_train::token_losses::WeightedSequence;
use hone_train::token_weights::{changed_tokens, edit_token_weights, span_token_weights};

use super::recipe::TokenLevel;
use crate::dataset::{KtoRow, PreferenceRow, PromptContent, SftRow, TrainingData};
use crate::{ResponseId, Result};

/// A chat prompt goes through the model's chat template; a text prompt too when the model has
/// one (instruct models expect it), else it is used raw.
pub(crate) fn prompt_input(lm: &LoadedModel, prompt: &PromptContent) -> PromptInput {
    match (&prompt.messages, lm.chat_template.is_some()) {
        (Some(messages), true) => PromptInput::Chat(
            messages
                .iter()
                .map(|m| Message::new(&m.role, m.content.clone()))
                .collect(),
        ),
        (None, true) => PromptInput::Chat(vec![Message::new("user", prompt.text.clone())]),
        (_, false) => PromptInput::Raw(prompt.text.clone()),
    }
}

/// The token sequences of a snapshot's rows, and how many rows were too long for the model.
#[derive(Debug, Default)]
pub struct TokenizedData {
    /// Demonstrations (whole answers).
    pub sft: Vec<SequencePair>,
    /// Token-level rows the SFT stage trains on beside the demonstrations: an edit's two
    /// answers, a marked answer.
    pub weighted: Vec<WeightedSequence>,
    pub pairs: Vec<TokenPair>,
    pub kto: Vec<LabeledExample>,
    /// The prompts PPO samples from (the train split's, ready for generation).
    pub prompts: Vec<Vec<u32>>,
    pub too_long: usize,
    /// What token-level feedback gave, for the plan.
    pub token_level: TokenLevelCounts,
}

/// What token-level feedback put into a run.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct TokenLevelCounts {
    /// Edits trained on their changed tokens.
    pub edits: usize,
    /// Marked answers trained on their marked tokens (unlikelihood on those marked wrong,
    /// likelihood on those marked good).
    pub marked_answers: usize,
    /// Tokens asked for (positive weight) and against (negative weight).
    pub likelihood_tokens: usize,
    pub unlikelihood_tokens: usize,
    /// Edit pairs whose DPO margin covers only the changed tokens.
    pub focused_pairs: usize,
}

impl TokenizedData {
    /// The SFT stage's examples: each demonstration with weight 1 on every token, then the
    /// token-level rows.
    pub fn sft_stage(&self) -> Vec<WeightedSequence> {
        self.sft
            .iter()
            .cloned()
            .map(WeightedSequence::demonstration)
            .chain(self.weighted.iter().cloned())
            .collect()
    }

    /// How many examples the SFT stage trains on.
    pub fn sft_stage_len(&self) -> usize {
        self.sft.len() + self.weighted.len()
    }

    fn push_weighted(&mut self, sequence: WeightedSequence) {
        if sequence.carries_weight() {
            let counts = &mut self.token_level;
            counts.likelihood_tokens += sequence.weights.iter().filter(|w| **w > 0.0).count();
            counts.unlikelihood_tokens += sequence.weights.iter().filter(|w| **w < 0.0).count();
            self.weighted.push(sequence);
        }
    }
}

/// Prompts ready for generation (chat: with the generation prompt).
pub fn tokenize_prompts(lm: &LoadedModel, prompts: &[PromptContent]) -> Result<Vec<Vec<u32>>> {
    let max = lm.model.config().max_position_embeddings;
    let mut out = Vec::new();
    for p in prompts {
        let ids = lm.encode_prompt(&prompt_input(lm, p))?;
        if ids.len() < max / 2 {
            out.push(ids);
        }
    }
    Ok(out)
}

/// Tokenizes a snapshot's rows for `lm`; `token_level` says which judgments train through
/// token-level losses (an edit's SFT row and a marked answer's KTO row, when the marks say the
/// same, are then replaced by their token-weighted rows:
/// [`TrainingData::kto_rows_replaced_by_spans`]).
pub fn tokenize(
    lm: &LoadedModel,
    data: &TrainingData,
    prompts: &[PromptContent],
    token_level: &TokenLevel,
) -> Result<TokenizedData> {
    let max = lm.model.config().max_position_embeddings;
    let mut out = TokenizedData {
        prompts: tokenize_prompts(lm, prompts)?,
        ..TokenizedData::default()
    };
    let fits = |pair: &SequencePair| pair.prompt.len() + pair.completion.len() <= max;
    // The corrections and marked answers whose whole-answer rows token-level rows replace.
    let corrected: HashSet<ResponseId> = match token_level.edits {
        true => data.edits.iter().map(|e| e.corrected_response_id).collect(),
        false => HashSet::new(),
    };
    let marked: HashSet<(ResponseId, bool)> = match token_level.spans {
        true => data.kto_rows_replaced_by_spans(),
        false => HashSet::new(),
    };
    for SftRow {
        prompt,
        completion,
        response_id,
        ..
    } in &data.sft
    {
        if corrected.contains(response_id) {
            continue;
        }
        let pair = lm.encode_pair(&prompt_input(lm, prompt), completion)?;
        if !fits(&pair) {
            out.too_long += 1;
            continue;
        }
        out.sft.push(pair);
    }
    // (correction, original) → the changed tokens of each, for token-level DPO.
    let mut focus: HashMap<(ResponseId, ResponseId), PairFocus> = HashMap::new();
    if token_level.edits || token_level.edit_pairs {
        for edit in &data.edits {
            let input = prompt_input(lm, &edit.prompt);
            let original = lm.encode_pair(&input, &edit.original)?;
            let correction = lm.encode_pair(&input, &edit.corrected)?;
            if !fits(&original) || !fits(&correction) {
                out.too_long += 1;
                continue;
            }
            if token_level.edit_pairs {
                let (old, new) = changed_tokens(&original.completion, &correction.completion);
                // A pure insertion or deletion leaves one side without a changed token: its
                // pair keeps the whole-answer margin.
                if old.contains(&1.0) && new.contains(&1.0) {
                    focus.insert(
                        (edit.corrected_response_id, edit.original_response_id),
                        PairFocus {
                            chosen: new,
                            rejected: old,
                        },
                    );
                }
            }
            if token_level.edits {
                let (old, new) = edit_token_weights(
                    &original.completion,
                    &correction.completion,
                    token_level.edit_weights,
                );
                out.token_level.edits += 1;
                out.push_weighted(WeightedSequence {
                    pair: correction,
                    weights: new,
                });
                out.push_weighted(WeightedSequence {
                    pair: original,
                    weights: old,
                });
            }
        }
    }
    if token_level.spans {
        for row in &data.spans {
            let tokens =
                lm.encode_pair_with_answer_ranges(&prompt_input(lm, &row.prompt), &row.completion)?;
            if !fits(&tokens.pair) {
                out.too_long += 1;
                continue;
            }
            let weights = span_token_weights(
                &tokens.ranges,
                &row.marked,
                &row.good,
                token_level.span_weights,
            );
            out.token_level.marked_answers += 1;
            out.push_weighted(WeightedSequence {
                pair: tokens.pair,
                weights,
            });
        }
    }
    for PreferenceRow {
        prompt,
        chosen,
        rejected,
        chosen_response_id,
        rejected_response_id,
        ..
    } in &data.preferences
    {
        let input = prompt_input(lm, prompt);
        let c = lm.encode_pair(&input, chosen)?;
        let r = lm.encode_pair(&input, rejected)?;
        if c.prompt.len() + c.completion.len().max(r.completion.len()) > max {
            out.too_long += 1;
            continue;
        }
        let focus = focus.remove(&(*chosen_response_id, *rejected_response_id));
        out.token_level.focused_pairs += usize::from(focus.is_some());
        out.pairs.push(TokenPair {
            prompt: c.prompt,
            chosen: c.completion,
            rejected: r.completion,
            focus,
        });
    }
    for KtoRow {
        prompt,
        completion,
        label,
        response_id,
        ..
    } in &data.kto
    {
        if marked.contains(&(*response_id, *label)) {
            continue;
        }
        let pair = lm.encode_pair(&prompt_input(lm, prompt), completion)?;
        if !fits(&pair) {
            out.too_long += 1;
            continue;
        }
        out.kto.push(LabeledExample {
            prompt: pair.prompt,
            completion: pair.completion,
            label: *label,
        });
    }
    Ok(out)
}
