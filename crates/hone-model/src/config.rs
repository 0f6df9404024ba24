//! `config.json` of a Hugging Face Llama-family model, read field by field as transformers
//! names them. Nothing about a model is hard-coded: sizes, RoPE, biases and tying all come
//! from here.

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ModelError, Result};

/// The `model_type`s this engine runs; all are the same decoder with different switches.
pub const SUPPORTED_MODEL_TYPES: &[&str] = &["llama", "mistral", "qwen2"];

/// RoPE frequency scaling (`rope_scaling`, or `rope_parameters` in transformers ≥ 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rope_type", rename_all = "snake_case")]
pub enum RopeScaling {
    /// Plain RoPE.
    Default,
    /// Llama 3.1+: low frequencies divided by `factor`, high ones kept, a smooth ramp between.
    Llama3 {
        factor: f64,
        low_freq_factor: f64,
        high_freq_factor: f64,
        original_max_position_embeddings: usize,
    },
}

/// The decoder's configuration, normalised from `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Config {
    pub model_type: String,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub rope_scaling: RopeScaling,
    pub max_position_embeddings: usize,
    pub tie_word_embeddings: bool,
    /// Bias on q/k/v (Qwen2 always; Llama when `attention_bias`).
    pub qkv_bias: bool,
    /// Bias on o_proj (Llama's `attention_bias` covers it too; Qwen2 has none).
    pub o_bias: bool,
    pub mlp_bias: bool,
    pub bos_token_id: Option<u32>,
    pub eos_token_ids: Vec<u32>,
    /// Mistral/Qwen2 sliding-window attention, when the config enables it.
    pub sliding_window: Option<usize>,
}

/// The raw JSON, kept loose so that each problem can be reported with its field.
struct Raw<'a> {
    path: &'a Path,
    json: serde_json::Map<String, Value>,
}

impl Raw<'_> {
    fn err(&self, field: &str, message: impl Into<String>) -> ModelError {
        ModelError::Config {
            path: self.path.to_owned(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn usize(&self, field: &str) -> Result<usize> {
        self.opt_usize(field)?
            .ok_or_else(|| self.err(field, "is missing"))
    }

    fn opt_usize(&self, field: &str) -> Result<Option<usize>> {
        match self.json.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(|v| Some(v as usize))
                .ok_or_else(|| self.err(field, format!("{n} is not a non-negative integer"))),
            Some(other) => Err(self.err(field, format!("expected an integer, found {other}"))),
        }
    }

    fn opt_f64(&self, field: &str) -> Result<Option<f64>> {
        match self.json.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(self.err(field, format!("expected a number, found {other}"))),
        }
    }

    fn bool_or(&self, field: &str, default: bool) -> Result<bool> {
        match self.json.get(field) {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(other) => Err(self.err(field, format!("expected true or false, found {other}"))),
        }
    }

    fn token_ids(&self, field: &str) -> Result<Vec<u32>> {
        token_ids(self.json.get(field)).map_err(|m| self.err(field, m))
    }

    /// `rope_scaling` (transformers ≤ 4) or `rope_parameters` (≥ 5); `None` / "default" is plain.
    fn rope(&self) -> Result<(Option<f64>, RopeScaling)> {
        let (field, value) = match (
            self.json.get("rope_parameters"),
            self.json.get("rope_scaling"),
        ) {
            (Some(v), _) if !v.is_null() => ("rope_parameters", v),
            (_, Some(v)) if !v.is_null() => ("rope_scaling", v),
            _ => return Ok((None, RopeScaling::Default)),
        };
        let Value::Object(map) = value else {
            return Err(self.err(field, "expected an object"));
        };
        let theta = map.get("rope_theta").and_then(Value::as_f64);
        let kind = map
            .get("rope_type")
            .or_else(|| map.get("type"))
            .and_then(Value::as_str)
            .unwrap_or("default");
        let number = |key: &str| {
            map.get(key)
                .and_then(Value::as_f64)
                .ok_or_else(|| self.err(&format!("{field}.{key}"), "is missing"))
        };
        let scaling = match kind {
            "default" => RopeScaling::Default,
            "llama3" => RopeScaling::Llama3 {
                factor: number("factor")?,
                low_freq_factor: number("low_freq_factor")?,
                high_freq_factor: number("high_freq_factor")?,
                original_max_position_embeddings: number("original_max_position_embeddings")?
                    as usize,
            },
            other => {
                return Err(self.err(
                    &format!("{field}.rope_type"),
                    format!("{other:?} is not supported (default, llama3)"),
                ))
            }
        };
        Ok((theta, scaling))
    }
}

/// A token id or a list of them (`eos_token_id` may be either).
pub(crate) fn token_ids(value: Option<&Value>) -> std::result::Result<Vec<u32>, String> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Number(n)) => n
            .as_u64()
            .map(|v| vec![v as u32])
            .ok_or_else(|| format!("{n} is not a token id")),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_u64()
                    .map(|v| v as u32)
                    .ok_or_else(|| format!("{v} is not a token id"))
            })
            .collect(),
        Some(other) => Err(format!(
            "expected a token id or a list of them, found {other}"
        )),
    }
}

impl Config {
    /// Reads and checks `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ModelError::file(path, e))?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| ModelError::file(path, format!("not valid JSON: {e}")))?;
        let Value::Object(json) = json else {
            return Err(ModelError::file(path, "expected a JSON object"));
        };
        Self::from_json(path, json)
    }

    /// From a `config.json` already parsed (e.g. built in memory for a benchmark or a test).
    pub fn from_value(json: Value) -> Result<Self> {
        let path = Path::new("<config>");
        match json {
            Value::Object(map) => Self::from_json(path, map),
            _ => Err(ModelError::file(path, "expected a JSON object")),
        }
    }

    pub(crate) fn from_json(path: &Path, json: serde_json::Map<String, Value>) -> Result<Self> {
        let raw = Raw { path, json };
        let model_type = raw
            .json
            .get("model_type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        if !SUPPORTED_MODEL_TYPES.contains(&model_type.as_str()) {
            return Err(ModelError::UnsupportedArchitecture {
                found: model_type,
                supported: SUPPORTED_MODEL_TYPES.to_vec(),
            });
        }
        if let Some(act) = raw.json.get("hidden_act").and_then(Value::as_str) {
            if act != "silu" {
                return Err(raw.err("hidden_act", format!("{act:?} is not supported (silu)")));
            }
        }
        let hidden_size = raw.usize("hidden_size")?;
        if hidden_size == 0 {
            return Err(raw.err("hidden_size", "must be at least 1"));
        }
        let num_attention_heads = raw.usize("num_attention_heads")?;
        if num_attention_heads == 0 {
            return Err(raw.err("num_attention_heads", "must be at least 1"));
        }
        let num_key_value_heads = raw
            .opt_usize("num_key_value_heads")?
            .unwrap_or(num_attention_heads);
        if num_key_value_heads == 0 || num_attention_heads % num_key_value_heads != 0 {
            return Err(raw.err(
                "num_key_value_heads",
                format!("{num_key_value_heads} does not divide num_attention_heads ({num_attention_heads})"),
            ));
        }
        let head_dim = match raw.opt_usize("head_dim")? {
            Some(d) => d,
            None if hidden_size % num_attention_heads == 0 => hidden_size / num_attention_heads,
            None => {
                return Err(raw.err(
                    "hidden_size",
                    "is not a multiple of num_attention_heads and head_dim is not given",
                ))
            }
        };
        if head_dim % 2 != 0 {
            return Err(raw.err(
                "head_dim",
                format!("{head_dim} is odd; RoPE needs an even head dimension"),
            ));
        }
        let (rope_theta_nested, rope_scaling) = raw.rope()?;
        let rope_theta = raw
            .opt_f64("rope_theta")?
            .or(rope_theta_nested)
            .unwrap_or(10_000.0);
        let is_qwen2 = model_type == "qwen2";
        let attention_bias = raw.bool_or("attention_bias", false)?;
        let sliding_window = match model_type.as_str() {
            "mistral" => raw.opt_usize("sliding_window")?,
            "qwen2" if raw.bool_or("use_sliding_window", false)? => {
                raw.opt_usize("sliding_window")?
            }
            _ => None,
        };
        // Values that load without complaint and give NaN scores or a wrong model later.
        let rms_norm_eps = raw.opt_f64("rms_norm_eps")?.unwrap_or(1e-6);
        if !(rms_norm_eps.is_finite() && rms_norm_eps > 0.0 && rms_norm_eps < 1.0) {
            return Err(raw.err(
                "rms_norm_eps",
                format!("{rms_norm_eps} is not a small positive number (1e-6 or 1e-5 are usual)"),
            ));
        }
        if !(rope_theta.is_finite() && rope_theta > 1.0) {
            return Err(raw.err(
                "rope_theta",
                format!("{rope_theta} is not a base above 1 (10000 is usual)"),
            ));
        }
        let positive = |field: &str| -> Result<usize> {
            match raw.usize(field)? {
                0 => Err(raw.err(field, "must be at least 1")),
                v => Ok(v),
            }
        };
        let max_position_embeddings = raw.opt_usize("max_position_embeddings")?.unwrap_or(4096);
        if max_position_embeddings == 0 {
            return Err(raw.err("max_position_embeddings", "must be at least 1"));
        }
        Ok(Config {
            vocab_size: positive("vocab_size")?,
            hidden_size,
            intermediate_size: positive("intermediate_size")?,
            num_hidden_layers: positive("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rms_norm_eps,
            rope_theta,
            rope_scaling,
            max_position_embeddings,
            tie_word_embeddings: raw.bool_or("tie_word_embeddings", false)?,
            qkv_bias: is_qwen2 || attention_bias,
            o_bias: !is_qwen2 && attention_bias,
            mlp_bias: raw.bool_or("mlp_bias", false)?,
            bos_token_id: raw.opt_usize("bos_token_id")?.map(|v| v as u32),
            eos_token_ids: raw.token_ids("eos_token_id")?,
            sliding_window,
            model_type,
        })
    }

    /// Parameters of the base model (embeddings counted once when tied).
    pub fn parameter_count(&self) -> usize {
        let (h, i, v) = (self.hidden_size, self.intermediate_size, self.vocab_size);
        let q = self.num_attention_heads * self.head_dim;
        let kv = self.num_key_value_heads * self.head_dim;
        let attention = h * q + 2 * h * kv + q * h + if self.qkv_bias { q + 2 * kv } else { 0 };
        let layer = attention + 3 * h * i + 2 * h;
        let embeddings = v * h * if self.tie_word_embeddings { 1 } else { 2 };
        self.num_hidden_layers * layer + embeddings + h
    }
}
