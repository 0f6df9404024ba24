//! Training rows → token sequences for one model.

use hone_model::chat_template::Message;
use hone_model::score::{PromptInput, SequencePair};
use hone_model::LoadedModel;
use hone_train::preference::{LabeledExample, TokenPair};

use crate::dataset::{KtoRow, PreferenceRow, PromptContent, SftRow, TrainingData};
use crate::Result;

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
    pub sft: Vec<SequencePair>,
    pub pairs: Vec<TokenPair>,
    pub kto: Vec<LabeledExample>,
    /// The prompts PPO samples from (the train split's, ready for generation).
    pub prompts: Vec<Vec<u32>>,
    pub too_long: usize,
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

pub fn tokenize(
    lm: &LoadedModel,
    data: &TrainingData,
    prompts: &[PromptContent],
) -> Result<TokenizedData> {
    let max = lm.model.config().max_position_embeddings;
    let mut out = TokenizedData {
        prompts: tokenize_prompts(lm, prompts)?,
        ..TokenizedData::default()
    };
    for SftRow {
        prompt, completion, ..
    } in &data.sft
    {
        let pair = lm.encode_pair(&prompt_input(lm, prompt), completion)?;
        if pair.prompt.len() + pair.completion.len() > max {
            out.too_long += 1;
            continue;
        }
        out.sft.push(pair);
    }
    for PreferenceRow {
        prompt,
        chosen,
        rejected,
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
        out.pairs.push(TokenPair {
            prompt: c.prompt,
            chosen: c.completion,
            rejected: r.completion,
            focus: None,
        });
    }
    for KtoRow {
        prompt,
        completion,
        label,
        ..
    } in &data.kto
    {
        let pair = lm.encode_pair(&prompt_input(lm, prompt), completion)?;
        if pair.prompt.len() + pair.completion.len() > max {
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
