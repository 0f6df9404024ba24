//! The tokenizer of a GGUF file (`tokenizer.ggml.*`) as a Hugging Face `tokenizer.json`,
//! built and checked by the `tokenizers` crate.
//!
//! Byte-level BPE (`tokenizer.ggml.model = gpt2`) only: the vocabulary and merges are the
//! file's; the pre-tokenizer is the one the original `tokenizer.json` of that family uses, chosen
//! by `tokenizer.ggml.pre` (llama.cpp names it after the regex it applies, `llama-vocab.cpp`).
//! SentencePiece vocabularies (`llama`) are refused with a clear message.

use serde_json::{json, Value};

use super::file::GgufFile;
use crate::{ModelError, Result};

/// llama.cpp's token types (`llama_token_type`).
const CONTROL: i64 = 3;
const USER_DEFINED: i64 = 4;

/// GPT-2's split regex applied by `ByteLevel(use_regex=true)`; digits first isolated one by one.
fn starcoder_family() -> Value {
    json!({"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": true},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
    ]})
}

fn split_then_bytes(regex: &str) -> Value {
    json!({"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false},
        {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}
    ]})
}

const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The `pre` names understood, for the error message.
pub const SUPPORTED_PRE: &[&str] = &[
    "gpt-2",
    "default",
    "smollm",
    "starcoder",
    "refact",
    "llama-bpe",
    "llama3",
    "qwen2",
];

/// (normalizer, pre-tokenizer, BPE `ignore_merges`) for a `tokenizer.ggml.pre` name.
fn pre_tokenizer(pre: &str) -> Option<(Value, Value, bool)> {
    let gpt2 = json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true});
    Some(match pre {
        "gpt-2" | "default" => (Value::Null, gpt2, false),
        "smollm" | "starcoder" | "refact" => (Value::Null, starcoder_family(), false),
        "llama-bpe" | "llama3" => (Value::Null, split_then_bytes(LLAMA3_REGEX), true),
        "qwen2" => (json!({"type": "NFC"}), split_then_bytes(QWEN2_REGEX), false),
        _ => return None,
    })
}

/// What the tokenizer files need besides `tokenizer.json`.
#[derive(Debug, Clone)]
pub struct SpecialTokens {
    pub bos: Option<String>,
    pub eos: Option<String>,
    pub pad: Option<String>,
    pub unk: Option<String>,
    pub bos_id: Option<u32>,
    pub eos_id: Option<u32>,
    pub pad_id: Option<u32>,
    pub add_bos: bool,
}

/// Builds `tokenizer.json` (as a JSON value already checked by the `tokenizers` crate) and the
/// special tokens.
pub fn build(gguf: &GgufFile) -> Result<(Value, SpecialTokens)> {
    let model = gguf.string("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(ModelError::Config {
            path: gguf.path().to_owned(),
            field: "tokenizer.ggml.model".into(),
            message: format!("{model:?} is not supported yet (byte-level BPE, \"gpt2\", is)"),
        });
    }
    let pre_name = gguf.opt_string("tokenizer.ggml.pre")?.unwrap_or("default");
    let (normalizer, pre, ignore_merges) =
        pre_tokenizer(pre_name).ok_or_else(|| ModelError::Config {
            path: gguf.path().to_owned(),
            field: "tokenizer.ggml.pre".into(),
            message: format!(
                "{pre_name:?} is not supported yet; supported: {}",
                SUPPORTED_PRE.join(", ")
            ),
        })?;
    let tokens = gguf.strings("tokenizer.ggml.tokens")?;
    let types = match gguf.get("tokenizer.ggml.token_type") {
        Some(_) => gguf.integers("tokenizer.ggml.token_type")?,
        None => vec![1; tokens.len()],
    };
    if types.len() != tokens.len() {
        return Err(ModelError::Config {
            path: gguf.path().to_owned(),
            field: "tokenizer.ggml.token_type".into(),
            message: format!("has {} entries for {} tokens", types.len(), tokens.len()),
        });
    }
    let merges = gguf
        .strings("tokenizer.ggml.merges")?
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            m.split_once(' ')
                .map(|(a, b)| json!([a, b]))
                .ok_or_else(|| ModelError::Config {
                    path: gguf.path().to_owned(),
                    field: format!("tokenizer.ggml.merges[{i}]"),
                    message: format!("{m:?} is not two tokens separated by a space"),
                })
        })
        .collect::<Result<Vec<_>>>()?;

    let vocab: serde_json::Map<String, Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.to_string(), json!(i)))
        .collect();
    if vocab.len() != tokens.len() {
        return Err(ModelError::Config {
            path: gguf.path().to_owned(),
            field: "tokenizer.ggml.tokens".into(),
            message: format!(
                "{} tokens but only {} distinct ones",
                tokens.len(),
                vocab.len()
            ),
        });
    }
    let added: Vec<Value> = tokens
        .iter()
        .zip(&types)
        .enumerate()
        .filter(|(_, (_, t))| **t == CONTROL || **t == USER_DEFINED)
        .map(|(id, (content, kind))| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": *kind == CONTROL})
        })
        .collect();

    let token_at = |key: &str| -> Result<(Option<u32>, Option<String>)> {
        match gguf.opt_usize(key)? {
            None => Ok((None, None)),
            Some(id) => {
                let token = tokens.get(id).ok_or_else(|| ModelError::Config {
                    path: gguf.path().to_owned(),
                    field: key.into(),
                    message: format!(
                        "token id {id} is outside the vocabulary of {}",
                        tokens.len()
                    ),
                })?;
                Ok((Some(id as u32), Some(token.to_string())))
            }
        }
    };
    let (bos_id, bos) = token_at("tokenizer.ggml.bos_token_id")?;
    let (eos_id, eos) = token_at("tokenizer.ggml.eos_token_id")?;
    let (pad_id, pad) = token_at("tokenizer.ggml.padding_token_id")?;
    let (_, unk) = token_at("tokenizer.ggml.unknown_token_id")?;
    let add_bos = gguf
        .opt_bool("tokenizer.ggml.add_bos_token")?
        .unwrap_or(false);

    let post_processor = match (&bos, bos_id, add_bos) {
        (Some(bos), Some(id), true) => json!({
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {bos.clone(): {"id": bos, "ids": [id], "tokens": [bos]}}
        }),
        _ => {
            json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": false, "use_regex": true})
        }
    };
    let tokenizer = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {
            "type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
            "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false, "ignore_merges": ignore_merges,
            "vocab": vocab, "merges": merges
        }
    });
    // Let the crate that will read it check it now, so a bad vocabulary fails the import.
    tokenizers::Tokenizer::from_bytes(serde_json::to_vec(&tokenizer).expect("JSON")).map_err(
        |e| {
            ModelError::file(
                gguf.path(),
                format!("the tokenizer built from tokenizer.ggml.* does not load: {e}"),
            )
        },
    )?;
    Ok((
        tokenizer,
        SpecialTokens {
            bos,
            eos,
            pad,
            unk,
            bos_id,
            eos_id,
            pad_id,
            add_bos,
        },
    ))
}

/// llama.cpp's `tokenizer.ggml.pre` name for a `tokenizer.json` pre-tokenizer: the inverse of
/// [`pre_tokenizer`], by structure (the split regex, digits isolated or not).
pub fn pre_name(pre: &Value) -> Option<&'static str> {
    let byte_level_regex =
        |v: &Value| v["type"] == "ByteLevel" && v["use_regex"].as_bool().unwrap_or(true);
    if byte_level_regex(pre) {
        return Some("gpt-2");
    }
    let parts = pre["pretokenizers"].as_array()?;
    match parts.as_slice() {
        [digits, bytes]
            if digits["type"] == "Digits"
                && digits["individual_digits"] == true
                && byte_level_regex(bytes) =>
        {
            Some("smollm")
        }
        [split, bytes] if split["type"] == "Split" && bytes["type"] == "ByteLevel" => {
            match split["pattern"]["Regex"].as_str()? {
                LLAMA3_REGEX => Some("llama-bpe"),
                QWEN2_REGEX => Some("qwen2"),
                _ => None,
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pre_tokenizer_maps_back_to_a_name_that_builds_it() {
        for name in ["gpt-2", "smollm", "llama-bpe", "qwen2"] {
            let (_, pre, _) = pre_tokenizer(name).expect("supported");
            let back = pre_name(&pre).unwrap_or_else(|| panic!("{name} should map back"));
            assert_eq!(
                pre_tokenizer(back).expect("supported").1,
                pre,
                "{name} → {back} builds the same pre-tokenizer"
            );
        }
        assert_eq!(pre_name(&json!({"type": "Whitespace"})), None);
    }
}
