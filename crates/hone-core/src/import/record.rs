//! One imported line, classified by its keys and checked field by field.

use hone_store::prompts::{ChatMessage, NewPrompt};
use hone_store::Split;
use serde_json::{Map, Value};

use super::LineError;

/// What a line holds. The prompt carries the line's tags and split.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A prompt alone (`prompt` or `text`, or `messages` without a final assistant turn).
    Prompt { prompt: NewPrompt },
    /// TRL preference: `{"prompt", "chosen", "rejected"}`.
    Preference {
        prompt: NewPrompt,
        chosen: String,
        rejected: String,
    },
    /// TRL SFT: `{"messages"}` ending with the assistant's turn, or `{"prompt", "completion"}`.
    Sft {
        prompt: NewPrompt,
        completion: String,
    },
    /// TRL unpaired KTO: `{"prompt", "completion", "label"}`.
    Kto {
        prompt: NewPrompt,
        completion: String,
        label: bool,
    },
}

impl Record {
    pub fn prompt(&self) -> &NewPrompt {
        match self {
            Record::Prompt { prompt }
            | Record::Preference { prompt, .. }
            | Record::Sft { prompt, .. }
            | Record::Kto { prompt, .. } => prompt,
        }
    }
}

struct Line<'a> {
    number: usize,
    object: &'a Map<String, Value>,
}

impl Line<'_> {
    fn error(&self, field: &str, message: impl Into<String>) -> LineError {
        LineError {
            line: self.number,
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    fn non_empty_string(&self, field: &str, value: &Value) -> Result<String, LineError> {
        match value {
            Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
            Value::String(_) => Err(self.error(field, "is empty")),
            other => Err(self.error(field, format!("must be a string, found {}", kind_of(other)))),
        }
    }

    fn messages(&self, field: &str, value: &Value) -> Result<Vec<ChatMessage>, LineError> {
        let Value::Array(items) = value else {
            return Err(self.error(
                field,
                format!("must be a list of messages, found {}", kind_of(value)),
            ));
        };
        if items.is_empty() {
            return Err(self.error(field, "has no messages"));
        }
        items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("{field}[{i}]");
                let Value::Object(m) = item else {
                    return Err(self.error(
                        &at,
                        format!(
                            "must be an object {{\"role\", \"content\"}}, found {}",
                            kind_of(item)
                        ),
                    ));
                };
                let role = m
                    .get("role")
                    .ok_or_else(|| self.error(&format!("{at}.role"), "is missing"))?;
                let role = self.non_empty_string(&format!("{at}.role"), role)?;
                if !matches!(role.as_str(), "system" | "user" | "assistant" | "tool") {
                    return Err(self.error(
                        &format!("{at}.role"),
                        format!("{role:?} is not one of system, user, assistant, tool"),
                    ));
                }
                let content = m
                    .get("content")
                    .ok_or_else(|| self.error(&format!("{at}.content"), "is missing"))?;
                let content = match content {
                    Value::String(s) => s.clone(),
                    other => {
                        return Err(self.error(
                            &format!("{at}.content"),
                            format!("must be a string, found {}", kind_of(other)),
                        ))
                    }
                };
                Ok(ChatMessage { role, content })
            })
            .collect()
    }

    /// `prompt` as a string or a conversation.
    fn prompt(
        &self,
        field: &str,
        value: &Value,
        split: Split,
        tags: Vec<String>,
    ) -> Result<NewPrompt, LineError> {
        match value {
            Value::Array(_) => {
                let messages = self.messages(field, value)?;
                Ok(NewPrompt {
                    text: prompt_text(&messages),
                    messages: Some(messages),
                    split,
                    tags,
                })
            }
            _ => Ok(NewPrompt {
                text: self.non_empty_string(field, value)?,
                messages: None,
                split,
                tags,
            }),
        }
    }

    /// A completion in the prompt's form: a string for a text prompt, a single assistant
    /// message for a conversation.
    fn completion(&self, field: &str, prompt: &NewPrompt) -> Result<String, LineError> {
        let value = self
            .object
            .get(field)
            .ok_or_else(|| self.error(field, "is missing"))?;
        if prompt.messages.is_none() {
            if value.is_array() {
                return Err(self.error(field, "is a list of messages, but the prompt is a plain string; use the same form for both"));
            }
            return self.non_empty_string(field, value);
        }
        if !value.is_array() {
            return Err(self.error(
                field,
                "must be a list with one assistant message, because the prompt is a conversation",
            ));
        }
        let messages = self.messages(field, value)?;
        match messages.as_slice() {
            [m] if m.role == "assistant" && !m.content.trim().is_empty() => Ok(m.content.clone()),
            [m] if m.role == "assistant" => {
                Err(self.error(&format!("{field}[0].content"), "is empty"))
            }
            _ => Err(self.error(
                field,
                "must hold exactly one message, with role \"assistant\"",
            )),
        }
    }

    fn split(&self, default: Split) -> Result<Split, LineError> {
        match self.object.get("split") {
            None | Some(Value::Null) => Ok(default),
            Some(Value::String(s)) => match s.as_str() {
                "train" => Ok(Split::Train),
                "heldout" | "held_out" | "held-out" | "test" | "eval" => Ok(Split::Heldout),
                _ => Err(self.error("split", format!("{s:?} is not train or heldout"))),
            },
            Some(other) => Err(self.error(
                "split",
                format!("must be a string, found {}", kind_of(other)),
            )),
        }
    }

    fn tags(&self) -> Result<Vec<String>, LineError> {
        let tags: Vec<String> = match self.object.get("tags") {
            None | Some(Value::Null) => Vec::new(),
            // CSV cells hold tags separated by ';'
            Some(Value::String(s)) => s
                .split(';')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(String::from)
                .collect(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, t)| self.non_empty_string(&format!("tags[{i}]"), t))
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(self.error(
                    "tags",
                    format!("must be a list of strings, found {}", kind_of(other)),
                ))
            }
        };
        Ok(tags)
    }

    fn label(&self) -> Result<bool, LineError> {
        match self.object.get("label") {
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => Ok(true),
                "false" | "0" | "no" => Ok(false),
                _ => Err(self.error("label", format!("{s:?} is not true or false"))),
            },
            Some(Value::Null) | None => Err(self.error("label", "is missing")),
            Some(other) => Err(self.error(
                "label",
                format!("must be true or false, found {}", kind_of(other)),
            )),
        }
    }
}

/// The text shown for a chat prompt: its last user message (or last message).
pub(crate) fn prompt_text(messages: &[ChatMessage]) -> String {
    messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .or(messages.last())
        .map(|m| m.content.clone())
        .unwrap_or_default()
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Classifies one JSON object (a JSONL line or a CSV row) and checks its fields.
pub(crate) fn classify(
    number: usize,
    object: &Map<String, Value>,
    default_split: Split,
) -> Result<Record, LineError> {
    let line = Line { number, object };
    let split = line.split(default_split)?;
    let tags = line.tags()?;
    let has = |k: &str| object.get(k).is_some_and(|v| !v.is_null());

    if has("chosen") || has("rejected") {
        let prompt_value = object.get("prompt").ok_or_else(|| {
            line.error("prompt", "is missing: a preference row needs prompt, chosen and rejected (explicit-prompt form)")
        })?;
        let prompt = line.prompt("prompt", prompt_value, split, tags)?;
        let chosen = line.completion("chosen", &prompt)?;
        let rejected = line.completion("rejected", &prompt)?;
        if chosen == rejected {
            return Err(line.error("rejected", "is identical to chosen"));
        }
        return Ok(Record::Preference {
            prompt,
            chosen,
            rejected,
        });
    }
    if has("messages") {
        let mut messages = line.messages("messages", &object["messages"])?;
        if messages.last().is_some_and(|m| m.role == "assistant") {
            let answer = messages.pop().expect("checked non-empty");
            if answer.content.trim().is_empty() {
                return Err(line.error(
                    &format!("messages[{}].content", messages.len()),
                    "the assistant's answer is empty",
                ));
            }
            if messages.is_empty() {
                return Err(line.error(
                    "messages",
                    "holds only the assistant's answer; there is no prompt before it",
                ));
            }
            let prompt = NewPrompt {
                text: prompt_text(&messages),
                messages: Some(messages),
                split,
                tags,
            };
            return Ok(Record::Sft {
                prompt,
                completion: answer.content,
            });
        }
        let prompt = NewPrompt {
            text: prompt_text(&messages),
            messages: Some(messages),
            split,
            tags,
        };
        return Ok(Record::Prompt { prompt });
    }
    let prompt_key = if has("prompt") {
        "prompt"
    } else if has("text") {
        "text"
    } else {
        return Err(LineError {
            line: number,
            field: None,
            message: "no `prompt`, `text` or `messages` field: expected a prompt, or a TRL preference, SFT or KTO row".into(),
        });
    };
    let prompt = line.prompt(prompt_key, &object[prompt_key], split, tags)?;
    if has("completion") {
        let completion = line.completion("completion", &prompt)?;
        if object.contains_key("label") {
            return Ok(Record::Kto {
                label: line.label()?,
                prompt,
                completion,
            });
        }
        return Ok(Record::Sft { prompt, completion });
    }
    if object.contains_key("label") {
        return Err(line.error(
            "completion",
            "is missing: a KTO row needs prompt, completion and label",
        ));
    }
    Ok(Record::Prompt { prompt })
}
