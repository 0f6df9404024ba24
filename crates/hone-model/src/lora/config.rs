//! LoRA hyper-parameters, read and written as PEFT's `adapter_config.json`.

use std::path::Path;

use serde_json::{json, Value};

use crate::{ModelError, Result};

/// Every linear projection of a Llama-family decoder layer (PEFT's "all-linear" for these
/// models: `lm_head` is never targeted).
/// The largest LoRA rank accepted (PEFT's largest in practice is a few hundred).
pub const MAX_RANK: usize = 4096;

/// The largest `lora_alpha` accepted: far above any real adapter's, far below what turns the
/// branch's scale into overflow.
pub const MAX_ALPHA: f64 = 1e6;

pub const ALL_LINEAR: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    pub r: usize,
    pub lora_alpha: f64,
    pub lora_dropout: f64,
    /// Module names (`q_proj`, …), always explicit; "all-linear" is expanded on input.
    pub target_modules: Vec<String>,
    /// Scale alpha/√r instead of alpha/r (Kalajdzievski 2023).
    pub use_rslora: bool,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            r: 8,
            lora_alpha: 16.0,
            lora_dropout: 0.05,
            target_modules: ALL_LINEAR.map(String::from).to_vec(),
            use_rslora: false,
        }
    }
}

impl LoraConfig {
    /// Checks the values and expands `all-linear`.
    pub fn new(
        r: usize,
        lora_alpha: f64,
        lora_dropout: f64,
        target_modules: &[&str],
        use_rslora: bool,
    ) -> Result<Self> {
        let config = Self {
            r,
            lora_alpha,
            lora_dropout,
            target_modules: expand_targets(target_modules.iter().map(|s| s.to_string()).collect())
                .map_err(|m| ModelError::invalid("target_modules", m))?,
            use_rslora,
        };
        config
            .validate()
            .map_err(|(field, message)| ModelError::invalid(field, message))?;
        Ok(config)
    }

    fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        if self.r == 0 {
            return Err(("r", "the rank must be at least 1".into()));
        }
        if self.r > MAX_RANK {
            return Err((
                "r",
                format!("{} is over the largest rank, {MAX_RANK}", self.r),
            ));
        }
        if !(self.lora_alpha.is_finite() && self.lora_alpha > 0.0 && self.lora_alpha <= MAX_ALPHA) {
            return Err((
                "lora_alpha",
                format!(
                    "{} is not a positive number up to {MAX_ALPHA}",
                    self.lora_alpha
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.lora_dropout) {
            return Err((
                "lora_dropout",
                format!("{} is not in [0, 1)", self.lora_dropout),
            ));
        }
        Ok(())
    }

    /// The factor on the LoRA branch only: alpha/r, or alpha/√r with rsLoRA.
    pub fn scale(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / (self.r as f64).sqrt()
        } else {
            self.lora_alpha / self.r as f64
        }
    }

    /// PEFT's `adapter_config.json`, with every key PEFT needs to load it as is.
    pub fn to_peft_json(&self, base_model_name_or_path: &str) -> Value {
        json!({
            "peft_type": "LORA",
            "task_type": "CAUSAL_LM",
            "base_model_name_or_path": base_model_name_or_path,
            "r": self.r,
            "lora_alpha": self.lora_alpha,
            "lora_dropout": self.lora_dropout,
            "target_modules": self.target_modules,
            "bias": "none",
            "fan_in_fan_out": false,
            "use_rslora": self.use_rslora,
            "init_lora_weights": true,
            "modules_to_save": null,
            "inference_mode": true,
            "layers_to_transform": null,
            "rank_pattern": {},
            "alpha_pattern": {},
        })
    }

    /// Reads PEFT's `adapter_config.json`, refusing what this engine cannot apply faithfully.
    pub fn from_peft_file(path: &Path) -> Result<Self> {
        Self::from_peft_json(path, &read_peft_json(path)?)
    }

    /// [`Self::from_peft_file`] on the file's parsed JSON (`path` names it in errors).
    pub(crate) fn from_peft_json(path: &Path, json: &Value) -> Result<Self> {
        let err = |field: &str, message: String| ModelError::Config {
            path: path.to_owned(),
            field: field.into(),
            message,
        };
        let get = |k: &str| json.get(k).filter(|v| !v.is_null());
        match get("peft_type").and_then(Value::as_str) {
            Some("LORA") => {}
            other => return Err(err("peft_type", format!("{other:?} is not \"LORA\""))),
        }
        let r = get("r")
            .and_then(Value::as_u64)
            .ok_or_else(|| err("r", "is missing or not an integer".into()))?
            as usize;
        // PEFT's defaults where a key is absent; a key of the wrong type is an error, not the
        // default (a string "lora_alpha" once gave a silently different adapter).
        let number = |k: &str, default: f64| match get(k) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| err(k, format!("expected a number, found {v}"))),
        };
        let lora_alpha = number("lora_alpha", 8.0)?;
        let lora_dropout = number("lora_dropout", 0.0)?;
        let use_rslora = match get("use_rslora") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => {
                return Err(err(
                    "use_rslora",
                    format!("expected true or false, found {v}"),
                ))
            }
        };
        let targets = match get("target_modules") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect(),
            Some(Value::String(s)) if s == "all-linear" => vec![s.clone()],
            Some(Value::String(s)) => {
                return Err(err(
                    "target_modules",
                    format!("the pattern {s:?} is not supported; list the module names"),
                ))
            }
            _ => return Err(err("target_modules", "is missing".into())),
        };
        let target_modules = expand_targets(targets).map_err(|m| err("target_modules", m))?;
        if let Some(bias) = get("bias").and_then(Value::as_str) {
            if bias != "none" {
                return Err(err("bias", format!("{bias:?} is not supported (\"none\")")));
            }
        }
        if get("fan_in_fan_out").and_then(Value::as_bool) == Some(true) {
            return Err(err("fan_in_fan_out", "true is not supported".into()));
        }
        for key in ["modules_to_save", "layers_to_transform"] {
            if get(key).is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty())) {
                return Err(err(
                    key,
                    "is set; adapters with it are not supported".into(),
                ));
            }
        }
        for key in ["rank_pattern", "alpha_pattern"] {
            if get(key).is_some_and(|v| v.as_object().is_none_or(|o| !o.is_empty())) {
                return Err(err(
                    key,
                    "is set; per-layer ranks and alphas are not supported".into(),
                ));
            }
        }
        let config = Self {
            r,
            lora_alpha,
            lora_dropout,
            target_modules,
            use_rslora,
        };
        config
            .validate()
            .map_err(|(field, message)| err(field, message))?;
        Ok(config)
    }
}

/// The projection kinds `targets` name. PEFT matches an entry against a module's name or its
/// last dotted part, and writes "all-linear" out as every matched module's full path
/// (`model.layers.0.self_attn.q_proj`), so an entry names its kind by its last part; whether
/// listed paths cover every layer is checked against the model ([`listed_module_paths`]).
fn expand_targets(targets: Vec<String>) -> std::result::Result<Vec<String>, String> {
    if targets.iter().any(|t| t == "all-linear") {
        return Ok(ALL_LINEAR.map(String::from).to_vec());
    }
    if targets.is_empty() {
        return Err("no module is targeted".into());
    }
    let mut out: Vec<String> = Vec::new();
    for t in targets {
        let kind = t.rsplit('.').next().unwrap_or(&t).to_owned();
        if !ALL_LINEAR.contains(&kind.as_str()) {
            return Err(format!(
                "{t:?} is not a linear module of this model ({})",
                ALL_LINEAR.join(", ")
            ));
        }
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    // The canonical order, so that a saved config does not depend on the order given.
    out.sort_by_key(|t| ALL_LINEAR.iter().position(|a| a == t));
    Ok(out)
}

/// The entries of a PEFT config's `target_modules` that name a module by its path (they hold
/// a dot); empty when it lists kinds or says "all-linear".
pub(crate) fn listed_module_paths(json: &Value) -> Vec<String> {
    match json.get("target_modules") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .filter(|t| t.contains('.'))
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// `adapter_config.json` parsed, with errors that name the file.
pub(crate) fn read_peft_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::file(path, e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::file(path, format!("not valid JSON: {e}")))
}
