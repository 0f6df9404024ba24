//! Training rows and their canonical JSON in TRL's dataset formats.
//!
//! A text prompt gives TRL's "standard" form (`{"prompt": "...", "chosen": "..."}`); a chat
//! prompt gives the "conversational" form (lists of `{"role","content"}` messages). The key
//! order and spelling here are the canonical form that export → import → export keeps.

use hone_store::prompts::{ChatMessage, Prompt};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::{JudgmentId, ResponseId};

/// The prompt side of a row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PromptContent {
    pub text: String,
    pub messages: Option<Vec<ChatMessage>>,
}

impl From<&Prompt> for PromptContent {
    fn from(p: &Prompt) -> Self {
        Self {
            text: p.text.clone(),
            messages: p.messages.clone(),
        }
    }
}

impl PromptContent {
    /// A plain prompt as the one user message of a chat (a chat stays as it is).
    pub fn make_chat(&mut self) {
        if self.messages.is_none() {
            self.messages = Some(vec![ChatMessage {
                role: "user".into(),
                content: self.text.clone(),
            }]);
        }
    }

    fn to_json(&self) -> Value {
        match &self.messages {
            Some(messages) => json!(messages),
            None => json!(self.text),
        }
    }

    /// A completion in the prompt's form: a string, or one assistant message in a list.
    fn completion_json(&self, completion: &str) -> Value {
        match &self.messages {
            Some(_) => json!([{"role": "assistant", "content": completion}]),
            None => json!(completion),
        }
    }
}

/// `chosen` is preferred to `rejected` for `prompt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreferenceRow {
    pub prompt: PromptContent,
    pub chosen: String,
    pub rejected: String,
    pub chosen_response_id: ResponseId,
    pub rejected_response_id: ResponseId,
    /// The judgments whose votes made this row.
    pub judgment_ids: Vec<JudgmentId>,
}

/// A demonstration: imitate `completion` for `prompt`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SftRow {
    pub prompt: PromptContent,
    pub completion: String,
    pub response_id: ResponseId,
    pub judgment_ids: Vec<JudgmentId>,
}

/// An unpaired example: `completion` is desirable (`label` true) or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KtoRow {
    pub prompt: PromptContent,
    pub completion: String,
    pub label: bool,
    pub response_id: ResponseId,
    pub judgment_ids: Vec<JudgmentId>,
}

/// An expert's correction of an answer, for token-level training: the tokens they changed.
/// (The same edit also gives an [`SftRow`] of the correction and a [`PreferenceRow`].)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EditRow {
    pub prompt: PromptContent,
    pub original: String,
    pub corrected: String,
    pub original_response_id: ResponseId,
    pub corrected_response_id: ResponseId,
    pub judgment_ids: Vec<JudgmentId>,
}

/// An answer with the characters its annotators marked (`start..end`, in the answer's
/// characters, merged and in order): those a majority of the annotators who marked spans on it
/// marked. (The same judgments also give a [`KtoRow`]: undesirable when errors are marked.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpanRow {
    pub prompt: PromptContent,
    pub completion: String,
    /// Marked under an error label.
    pub marked: Vec<(usize, usize)>,
    /// Marked under a good label (a project's labels of [`SpanPolarity::Good`](hone_store::SpanPolarity::Good)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub good: Vec<(usize, usize)>,
    pub response_id: ResponseId,
    pub judgment_ids: Vec<JudgmentId>,
}

impl EditRow {
    /// What the snapshot's hash covers: the texts on both sides (the ids are the store's).
    pub(crate) fn to_hashed(&self) -> Value {
        json!({
            "prompt": self.prompt.to_json(),
            "original": self.original,
            "corrected": self.corrected,
        })
    }
}

impl SpanRow {
    /// What the snapshot's hash covers: the answer and the characters marked in it (the good
    /// ones only when there are, so rows from before good labels hash as they did).
    pub(crate) fn to_hashed(&self) -> Value {
        let mut hashed = json!({
            "prompt": self.prompt.to_json(),
            "completion": self.completion,
            "marked": self.marked,
        });
        if !self.good.is_empty() {
            hashed["good"] = json!(self.good);
        }
        hashed
    }
}

impl PreferenceRow {
    pub fn to_trl(&self) -> Value {
        json!({
            "prompt": self.prompt.to_json(),
            "chosen": self.prompt.completion_json(&self.chosen),
            "rejected": self.prompt.completion_json(&self.rejected),
        })
    }
}

impl SftRow {
    pub fn to_trl(&self) -> Value {
        match &self.prompt.messages {
            Some(messages) => {
                let mut all = messages.clone();
                all.push(ChatMessage {
                    role: "assistant".into(),
                    content: self.completion.clone(),
                });
                json!({ "messages": all })
            }
            None => json!({ "prompt": self.prompt.text, "completion": self.completion }),
        }
    }
}

impl KtoRow {
    pub fn to_trl(&self) -> Value {
        json!({
            "prompt": self.prompt.to_json(),
            "completion": self.prompt.completion_json(&self.completion),
            "label": self.label,
        })
    }
}

/// A row of one of TRL's formats, with its prompt.
pub trait TrlRow {
    fn prompt(&self) -> &PromptContent;
    fn prompt_mut(&mut self) -> &mut PromptContent;
    fn to_trl(&self) -> Value;
}

macro_rules! trl_row {
    ($($row:ty),+) => {$(
        impl TrlRow for $row {
            fn prompt(&self) -> &PromptContent {
                &self.prompt
            }
            fn prompt_mut(&mut self) -> &mut PromptContent {
                &mut self.prompt
            }
            fn to_trl(&self) -> Value {
                <$row>::to_trl(self)
            }
        }
    )+};
}
trl_row!(PreferenceRow, SftRow, KtoRow);

/// The three TRL dataset formats Hone reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrlFormat {
    Preference,
    Sft,
    Kto,
}

impl TrlFormat {
    pub const ALL: [TrlFormat; 3] = [TrlFormat::Preference, TrlFormat::Sft, TrlFormat::Kto];

    pub fn as_str(self) -> &'static str {
        match self {
            TrlFormat::Preference => "preference",
            TrlFormat::Sft => "sft",
            TrlFormat::Kto => "kto",
        }
    }
}

impl std::str::FromStr for TrlFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "preference" => Ok(TrlFormat::Preference),
            "sft" => Ok(TrlFormat::Sft),
            "kto" => Ok(TrlFormat::Kto),
            _ => Err(format!(
                "unknown format {s:?}; expected preference, sft or kto"
            )),
        }
    }
}

/// One JSON object per line, each line ending in `\n`.
pub fn to_jsonl(values: impl IntoIterator<Item = Value>) -> String {
    let mut out = String::new();
    for v in values {
        out.push_str(&serde_json::to_string(&v).expect("JSON values serialize"));
        out.push('\n');
    }
    out
}
