//! Loading a Hugging Face model folder: `config.json`, `generation_config.json`, the
//! safetensors weights (one file, several, or sharded with an index; memory-mapped),
//! `tokenizer.json`, and the chat template (`chat_template.jinja`, else `tokenizer_config.json`).

use std::path::{Path, PathBuf};

use candle_nn::VarBuilder;
use serde_json::Value;

use crate::chat_template::ChatTemplate;
use crate::config::{token_ids, Config};
use crate::device::DeviceInfo;
use crate::tokenizer::Tokenizer;
use crate::weights::Weights;
use crate::{Model, ModelError, Result};

/// A loaded model with everything needed to talk to it.
#[derive(Debug)]
pub struct LoadedModel {
    pub dir: PathBuf,
    pub model: Model,
    pub tokenizer: Tokenizer,
    pub chat_template: Option<ChatTemplate>,
    /// Generation stops at any of these (config, generation config and tokenizer together).
    pub eos_token_ids: Vec<u32>,
    pub device: DeviceInfo,
}

pub(crate) fn read_json(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).map_err(|e| ModelError::file(path, e))?;
    serde_json::from_str(&text).map_err(|e| ModelError::file(path, format!("not valid JSON: {e}")))
}

/// The weight files of the folder: the shards named by `model.safetensors.index.json`, or
/// every `*.safetensors` file (adapters excluded). Each is checked to be a whole safetensors file.
pub fn weight_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let index = dir.join("model.safetensors.index.json");
    let mut files: Vec<PathBuf> = if index.is_file() {
        let json = read_json(&index)?;
        let map = json
            .get("weight_map")
            .and_then(Value::as_object)
            .ok_or_else(|| ModelError::Config {
                path: index.clone(),
                field: "weight_map".into(),
                message: "is missing".into(),
            })?;
        let mut names: Vec<&str> = map.values().filter_map(Value::as_str).collect();
        names.sort_unstable();
        names.dedup();
        // A shard is a file of this folder: "../x" or "/etc/x" would read outside it.
        for name in &names {
            let plain = Path::new(name)
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if !plain || name.contains(['/', '\\']) {
                return Err(ModelError::Config {
                    path: index.clone(),
                    field: "weight_map".into(),
                    message: format!("{name:?} is not a file name in the model folder"),
                });
            }
        }
        names.into_iter().map(|n| dir.join(n)).collect()
    } else {
        let entries = std::fs::read_dir(dir).map_err(|e| ModelError::file(dir, e))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n != crate::lora::WEIGHTS_FILE && n != "expected.safetensors")
            })
            .collect();
        found.sort();
        found
    };
    if files.is_empty() {
        return Err(ModelError::file(dir, "holds no *.safetensors weights"));
    }
    for file in &mut files {
        if !file.is_file() {
            return Err(ModelError::file(
                &*file,
                "is missing (named by model.safetensors.index.json)",
            ));
        }
        // Safety: the file is mapped read-only; Hone never writes model files in place.
        let mapped =
            unsafe { candle_core::safetensors::MmapedSafetensors::new(&*file) }.map_err(|e| {
                ModelError::file(
                    &*file,
                    format!("not a whole safetensors file (truncated or damaged?): {e}"),
                )
            })?;
        // One pass over the bytes (the load reads them all anyway): NaN or infinite weights
        // would load silently and give NaN scores much later.
        if let Some(name) = crate::finite::first_non_finite(&mapped) {
            return Err(ModelError::file(
                &*file,
                format!("tensor {name} holds NaN or infinite values; the checkpoint is damaged"),
            ));
        }
    }
    Ok(files)
}

/// Whether the model folder has a chat template (without loading the model): a prompt given as
/// text is then one user turn through it, as [`LoadedModel`]'s callers render it.
pub fn has_chat_template(dir: &Path) -> Result<bool> {
    let path = dir.join("tokenizer_config.json");
    let config: Option<Value> = if path.is_file() {
        let bytes = std::fs::read(&path).map_err(|e| ModelError::file(&path, e))?;
        Some(
            serde_json::from_slice(&bytes)
                .map_err(|e| ModelError::file(&path, format!("not JSON: {e}")))?,
        )
    } else {
        None
    };
    Ok(chat_template_source(dir, config.as_ref())?.is_some())
}

/// The chat template source: `chat_template.jinja`, else `tokenizer_config.json`'s
/// `chat_template` (a string, or a list of named templates of which "default" is used).
fn chat_template_source(dir: &Path, tokenizer_config: Option<&Value>) -> Result<Option<String>> {
    let file = dir.join("chat_template.jinja");
    if file.is_file() {
        return Ok(Some(
            std::fs::read_to_string(&file).map_err(|e| ModelError::file(&file, e))?,
        ));
    }
    Ok(
        match tokenizer_config.and_then(|c| c.get("chat_template")) {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Array(items)) => items
                .iter()
                .find(|t| t.get("name").and_then(Value::as_str) == Some("default"))
                .or(items.first())
                .and_then(|t| t.get("template"))
                .and_then(Value::as_str)
                .map(String::from),
            _ => None,
        },
    )
}

impl LoadedModel {
    /// Loads the folder onto `device`, every weight dense (what training needs).
    pub fn load(dir: &Path, device: DeviceInfo) -> Result<Self> {
        if !dir.is_dir() {
            return Err(ModelError::file(dir, "is not a model folder"));
        }
        let config = Config::from_file(&dir.join("config.json"))?;
        let files = weight_files(dir)?;
        // Safety: as above, read-only maps of files Hone does not modify.
        let mapped = unsafe { candle_core::safetensors::MmapedSafetensors::multi(&files)? };
        let vb = VarBuilder::from_backend(
            Box::new(crate::released_weights::ReleasedSafetensors(mapped)),
            device.dtype,
            device.device.clone(),
        );
        let model = Model::from_weights(&config, Weights::with_source(vb, dir.to_owned()))?;
        Self::with_model(dir, model, device)
    }

    /// Loads the folder for generation and scoring: from its GGUF file's quantized weights
    /// when it was imported from one that is still there unchanged and the device is the CPU
    /// (memory bandwidth bounds generation there; see [`crate::base_weight`]); else as
    /// [`Self::load`]. `model.is_quantized()` tells which.
    pub fn load_for_inference(dir: &Path, device: DeviceInfo) -> Result<Self> {
        match quantized_source(dir) {
            Some(file) if device.device.is_cpu() => Self::load_quantized(dir, &file, device),
            _ => Self::load(dir, device),
        }
    }

    /// Loads an imported folder with its matrices from `gguf` (its source file), kept quantized.
    pub fn load_quantized(dir: &Path, gguf: &Path, device: DeviceInfo) -> Result<Self> {
        let config = Config::from_file(&dir.join("config.json"))?;
        let file = crate::gguf::GgufFile::open(gguf)?;
        file.check_tensor_bounds()?;
        let tensors = crate::gguf::quantized::read(&file, &device.device, device.dtype)?;
        let vb = VarBuilder::from_tensors(tensors.dense, device.dtype, &device.device);
        let weights = Weights::with_quantized(vb, gguf.to_owned(), tensors.quantized);
        let model = Model::from_weights(&config, weights)?;
        Self::with_model(dir, model, device)
    }

    /// The folder's tokenizer, chat template and stop tokens around `model`.
    fn with_model(dir: &Path, model: Model, device: DeviceInfo) -> Result<Self> {
        let config = model.config().clone();
        let tokenizer_config_path = dir.join("tokenizer_config.json");
        let tokenizer_config = if tokenizer_config_path.is_file() {
            Some(read_json(&tokenizer_config_path)?)
        } else {
            None
        };
        let tokenizer =
            Tokenizer::from_files(&dir.join("tokenizer.json"), tokenizer_config.as_ref())?;
        let chat_template = match chat_template_source(dir, tokenizer_config.as_ref())? {
            Some(source) => Some(
                ChatTemplate::new(
                    &source,
                    tokenizer.bos_token.as_deref().unwrap_or(""),
                    tokenizer.eos_token.as_deref().unwrap_or(""),
                )
                .map_err(|e| ModelError::file(dir.join("tokenizer_config.json"), e))?,
            ),
            None => None,
        };

        let mut eos_token_ids = config.eos_token_ids.clone();
        let generation_config = dir.join("generation_config.json");
        if generation_config.is_file() {
            let json = read_json(&generation_config)?;
            let ids =
                token_ids(json.get("eos_token_id")).map_err(|message| ModelError::Config {
                    path: generation_config.clone(),
                    field: "eos_token_id".into(),
                    message,
                })?;
            eos_token_ids.extend(ids);
        }
        eos_token_ids.extend(tokenizer.eos_token_id());
        eos_token_ids.sort_unstable();
        eos_token_ids.dedup();
        Ok(Self {
            dir: dir.to_owned(),
            model,
            tokenizer,
            chat_template,
            eos_token_ids,
            device,
        })
    }

    /// The chat template, or an error saying the model has none.
    pub fn template(&self) -> Result<&ChatTemplate> {
        self.chat_template.as_ref().ok_or_else(|| {
            ModelError::file(
                &self.dir,
                "has no chat template (tokenizer_config.json has no chat_template)",
            )
        })
    }
}

/// The GGUF file a folder was imported from, when it is still there with the size it had
/// (its sha256 was taken at import; hashing a multi-GiB file on every load would cost seconds),
/// and holds at least one quantized matrix.
pub fn quantized_source(dir: &Path) -> Option<PathBuf> {
    let source = crate::gguf::GgufSource::read(dir)?;
    let size = std::fs::metadata(&source.path).ok()?.len();
    let quantized = source
        .tensor_types
        .keys()
        .any(|t| !matches!(t.as_str(), "F32" | "F16" | "BF16"));
    (size == source.size && quantized).then_some(source.path)
}

/// Downloads a model by Hub id (e.g. `HuggingFaceTB/SmolLM2-135M-Instruct`) into the Hugging
/// Face cache and returns its folder. Never used by tests.
#[cfg(feature = "hub")]
pub fn download(repo_id: &str) -> Result<PathBuf> {
    download_with_progress(repo_id, |_, _, _| {})
}

/// As [`download`], calling `on_file(done, total, name)` after each file (`total` is 0 until
/// the list of weight shards is known).
#[cfg(feature = "hub")]
pub fn download_with_progress(
    repo_id: &str,
    mut on_file: impl FnMut(usize, usize, &str),
) -> Result<PathBuf> {
    let api =
        hf_hub::api::sync::Api::new().map_err(|e| ModelError::invalid("hub", e.to_string()))?;
    let repo = api.model(repo_id.to_owned());
    let mut done = 0;
    let mut fetched =
        |name: &str,
         total: usize,
         result: std::result::Result<PathBuf, hf_hub::api::sync::ApiError>| {
            done += 1;
            on_file(done, total, name);
            result.map_err(|e| ModelError::invalid("hub", format!("{repo_id}: {name}: {e}")))
        };
    let config = fetched("config.json", 0, repo.get("config.json"))?;
    for optional in [
        "generation_config.json",
        "tokenizer_config.json",
        "chat_template.jinja",
    ] {
        let _ = fetched(optional, 0, repo.get(optional));
    }
    fetched("tokenizer.json", 0, repo.get("tokenizer.json"))?;
    match repo.get("model.safetensors.index.json") {
        Ok(index) => {
            let json = read_json(&index)?;
            let mut shards: Vec<String> = json
                .get("weight_map")
                .and_then(Value::as_object)
                .map(|m| {
                    m.values()
                        .filter_map(Value::as_str)
                        .map(String::from)
                        .collect()
                })
                .unwrap_or_default();
            shards.sort();
            shards.dedup();
            let total = 5 + shards.len();
            for shard in shards {
                fetched(&shard, total, repo.get(&shard))?;
            }
        }
        Err(_) => {
            fetched("model.safetensors", 6, repo.get("model.safetensors"))?;
        }
    }
    Ok(config
        .parent()
        .expect("a file in the snapshot folder")
        .to_owned())
}
