//! The model's tokenizer (`tokenizer.json`, through the `tokenizers` crate) and its special
//! tokens from `tokenizer_config.json`.

use std::path::Path;

use serde_json::Value;

use crate::{ModelError, Result};

/// A token's `start..end` in the text it was encoded from, in characters.
pub type CharRange = (usize, usize);
#[derive(Debug, Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    pub bos_token: Option<String>,
    pub eos_token: Option<String>,
    pub pad_token: Option<String>,
}

/// A special token in `tokenizer_config.json`: a string, or an AddedToken object `{"content": …}`.
pub(crate) fn token_string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Object(map) => map.get("content").and_then(Value::as_str).map(String::from),
        _ => None,
    }
}

impl Tokenizer {
    /// Loads `tokenizer.json`; special tokens come from `tokenizer_config` when given.
    pub fn from_files(tokenizer_json: &Path, tokenizer_config: Option<&Value>) -> Result<Self> {
        if !tokenizer_json.is_file() {
            return Err(ModelError::file(tokenizer_json, "is missing"));
        }
        let inner = tokenizers::Tokenizer::from_file(tokenizer_json).map_err(|e| {
            ModelError::file(tokenizer_json, format!("not a readable tokenizer: {e}"))
        })?;
        let get = |key: &str| token_string(tokenizer_config.and_then(|c| c.get(key)));
        Ok(Self {
            inner,
            bos_token: get("bos_token"),
            eos_token: get("eos_token"),
            pad_token: get("pad_token"),
        })
    }

    pub fn from_tokenizer(inner: tokenizers::Tokenizer) -> Self {
        Self {
            inner,
            bos_token: None,
            eos_token: None,
            pad_token: None,
        }
    }

    pub fn inner(&self) -> &tokenizers::Tokenizer {
        &self.inner
    }

    /// Token ids of `text`; `add_special_tokens` applies the tokenizer's post-processor (BOS
    /// for Llama). Text rendered by a chat template already holds its special tokens: encode
    /// it without, so BOS is not added twice.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Vec<u32>> {
        let encoding = self
            .inner
            .encode(text, add_special_tokens)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// [`Self::encode`] with each token's range in `text`, in characters (`start..end`; an
    /// added special token's range is empty).
    pub fn encode_with_char_ranges(
        &self,
        text: &str,
        add_special_tokens: bool,
    ) -> Result<(Vec<u32>, Vec<CharRange>)> {
        let encoding = self
            .inner
            .encode_char_offsets(text, add_special_tokens)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok((encoding.get_ids().to_vec(), encoding.get_offsets().to_vec()))
    }

    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.inner
            .decode(ids, skip_special_tokens)
            .map_err(|e| ModelError::Tokenizer(e.to_string()))
    }

    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    pub fn eos_token_id(&self) -> Option<u32> {
        self.eos_token.as_deref().and_then(|t| self.token_id(t))
    }

    pub fn pad_token_id(&self) -> Option<u32> {
        self.pad_token
            .as_deref()
            .and_then(|t| self.token_id(t))
            .or_else(|| self.eos_token_id())
    }
}
