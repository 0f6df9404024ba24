//! A GGUF model file → a Hugging Face model folder that every other part of Hone loads:
//! `config.json` from the metadata, the tensors dequantized to f32 safetensors (Q/K rows
//! un-permuted for llama files), `tokenizer.json` rebuilt from `tokenizer.ggml.*`, the chat
//! template and special tokens in `tokenizer_config.json`, and `gguf_source.json` naming the
//! source file and its sha256.
//!
//! The folder is written beside `out` under a temporary name and renamed into place, so `out`
//! is either absent or whole. Tensors are dequantized one at a time while the safetensors file
//! is written, so memory stays at about one tensor whatever the model's size.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::{json, Value};

use super::file::GgufFile;
use super::names::TensorName;
use super::{permute, rope_freqs, tokenizer};
use crate::config::Config;
use crate::files::{sha256_file, write_atomically};
use crate::{ModelError, Result};

/// The architectures whose tensors this engine knows (Mistral files say `llama`).
pub const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2"];

/// The name of the provenance file in an imported folder.
pub const SOURCE_FILE: &str = "gguf_source.json";

/// Where an imported folder came from.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct GgufSource {
    pub file_name: String,
    /// The source file's absolute path at import time (generation from its quantized weights reads it).
    pub path: PathBuf,
    pub sha256: String,
    pub size: u64,
    pub architecture: String,
    /// `general.name`, when the file has one.
    pub name: Option<String>,
    /// How many tensors of each stored type (`Q4_1`, `F32`, …).
    pub tensor_types: BTreeMap<String, usize>,
    pub imported_by: String,
}

impl GgufSource {
    /// Reads `gguf_source.json` of an imported folder, if it has one.
    pub fn read(dir: &Path) -> Option<Self> {
        let text = std::fs::read_to_string(dir.join(SOURCE_FILE)).ok()?;
        serde_json::from_str(&text).ok()
    }
}

/// What an import produced.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    pub out: PathBuf,
    pub source: GgufSource,
    pub parameters: usize,
    pub tensors: usize,
    pub config: Value,
}

/// One tensor to write: its GGUF name, its Hugging Face name and shape, and the heads of the
/// rotary permutation to undo (Q and K of llama files).
pub(crate) struct Planned {
    pub gguf_name: String,
    pub hf_name: String,
    pub shape: Vec<usize>,
    pub unpermute_heads: Option<usize>,
}

/// The model's sizes read from the metadata, each from the key that llama.cpp writes.
struct Sizes {
    arch: String,
    vocab: usize,
    hidden: usize,
    intermediate: usize,
    layers: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
}

fn key_error(gguf: &GgufFile, key: &str, message: impl Into<String>) -> ModelError {
    ModelError::Config {
        path: gguf.path().to_owned(),
        field: key.into(),
        message: message.into(),
    }
}

fn sizes(gguf: &GgufFile) -> Result<Sizes> {
    let arch = gguf.string("general.architecture")?.to_owned();
    if !SUPPORTED_ARCHITECTURES.contains(&arch.as_str()) {
        return Err(key_error(
            gguf,
            "general.architecture",
            format!(
                "{arch:?} is not supported; supported: {}",
                SUPPORTED_ARCHITECTURES.join(", ")
            ),
        ));
    }
    let k = |name: &str| format!("{arch}.{name}");
    let hidden = gguf.usize(&k("embedding_length"))?;
    let heads = gguf.usize(&k("attention.head_count"))?;
    if heads == 0 {
        return Err(key_error(
            gguf,
            &k("attention.head_count"),
            "must be at least 1",
        ));
    }
    let kv_heads = gguf
        .opt_usize(&k("attention.head_count_kv"))?
        .unwrap_or(heads);
    if kv_heads == 0 || heads % kv_heads != 0 {
        return Err(key_error(
            gguf,
            &k("attention.head_count_kv"),
            format!("{kv_heads} does not divide the head count {heads}"),
        ));
    }
    let head_dim = match gguf.opt_usize(&k("attention.key_length"))? {
        Some(d) => d,
        None if hidden % heads == 0 => hidden / heads,
        None => {
            return Err(key_error(
                gguf,
                &k("embedding_length"),
                format!("{hidden} is not a multiple of the head count {heads}"),
            ))
        }
    };
    let vocab = match gguf.opt_usize(&k("vocab_size"))? {
        Some(v) => v,
        None => gguf.strings("tokenizer.ggml.tokens")?.len(),
    };
    Ok(Sizes {
        vocab,
        hidden,
        intermediate: gguf.usize(&k("feed_forward_length"))?,
        layers: gguf.usize(&k("block_count"))?,
        heads,
        kv_heads,
        head_dim,
        arch,
    })
}

/// The expected row-major shape of a tensor, and the metadata keys that determine it (for errors).
fn expected_shape(s: &Sizes, name: &TensorName) -> (Vec<usize>, &'static str) {
    let (q, kv) = (s.heads * s.head_dim, s.kv_heads * s.head_dim);
    let weight = name.suffix == "weight";
    let pick = |w: Vec<usize>, b: Vec<usize>| if weight { w } else { b };
    match name.gguf_module {
        "token_embd" | "output" => (vec![s.vocab, s.hidden], "vocab_size, embedding_length"),
        "output_norm" | "attn_norm" | "ffn_norm" => (vec![s.hidden], "embedding_length"),
        "attn_q" => (
            pick(vec![q, s.hidden], vec![q]),
            "attention.head_count, embedding_length",
        ),
        "attn_k" | "attn_v" => (
            pick(vec![kv, s.hidden], vec![kv]),
            "attention.head_count_kv, embedding_length",
        ),
        "attn_output" => (
            pick(vec![s.hidden, q], vec![s.hidden]),
            "embedding_length, attention.head_count",
        ),
        "ffn_gate" | "ffn_up" => (
            pick(vec![s.intermediate, s.hidden], vec![s.intermediate]),
            "feed_forward_length",
        ),
        "ffn_down" => (
            pick(vec![s.hidden, s.intermediate], vec![s.hidden]),
            "feed_forward_length",
        ),
        other => unreachable!("names.rs lists no module {other}"),
    }
}

/// Every tensor of a supported GGUF model file, with its Hugging Face name and the Q/K rows
/// to un-permute, checked as an import checks them.
pub(crate) fn planned_tensors(gguf: &GgufFile) -> Result<Vec<Planned>> {
    Ok(plan(gguf, &sizes(gguf)?)?.0)
}

/// Plans every tensor: known name, expected shape, nothing missing, nothing unknown.
fn plan(gguf: &GgufFile, s: &Sizes) -> Result<(Vec<Planned>, bool, bool)> {
    let mut planned = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for gguf_name in gguf.tensor_names() {
        if gguf_name == rope_freqs::TENSOR {
            // Not a weight: read into the config's RoPE scaling (see `rope_scaling`).
            let found = gguf.shape(gguf_name).expect("listed");
            if found != [s.head_dim / 2] {
                return Err(ModelError::file(
                    gguf.path(),
                    format!("tensor `{gguf_name}` has shape {found:?}, not [{}] (half the head dimension)", s.head_dim / 2),
                ));
            }
            continue;
        }
        let name = TensorName::from_gguf(gguf_name).ok_or_else(|| {
            ModelError::file(
                gguf.path(),
                format!(
                    "tensor `{gguf_name}` is not part of a {} model as Hone knows it",
                    s.arch
                ),
            )
        })?;
        if name.layer.is_some_and(|l| l >= s.layers) {
            return Err(ModelError::file(
                gguf.path(),
                format!(
                    "tensor `{gguf_name}` is in a block past {}.block_count = {}",
                    s.arch, s.layers
                ),
            ));
        }
        let (shape, keys) = expected_shape(s, &name);
        let found = gguf.shape(gguf_name).expect("listed").to_vec();
        if found != shape {
            return Err(ModelError::file(
                gguf.path(),
                format!("tensor `{gguf_name}` has shape {found:?}, but the metadata ({keys} under {}.*) say {shape:?}", s.arch),
            ));
        }
        let unpermute_heads = match (s.arch.as_str(), name.gguf_module) {
            ("llama", "attn_q") => Some(s.heads),
            ("llama", "attn_k") => Some(s.kv_heads),
            _ => None,
        };
        seen.insert(gguf_name.to_owned());
        planned.push(Planned {
            gguf_name: gguf_name.to_owned(),
            hf_name: name.hf(),
            shape,
            unpermute_heads,
        });
    }
    let mut required: Vec<String> = vec!["token_embd.weight".into(), "output_norm.weight".into()];
    for l in 0..s.layers {
        for m in [
            "attn_norm",
            "ffn_norm",
            "attn_q",
            "attn_k",
            "attn_v",
            "attn_output",
            "ffn_gate",
            "ffn_up",
            "ffn_down",
        ] {
            required.push(format!("blk.{l}.{m}.weight"));
        }
    }
    if let Some(missing) = required.iter().find(|n| !seen.contains(*n)) {
        return Err(ModelError::MissingTensor {
            name: missing.clone(),
            path: gguf.path().to_owned(),
        });
    }
    let tied = !seen.contains("output.weight");
    let qkv_bias = seen.contains("blk.0.attn_q.bias");
    for l in 0..s.layers {
        for m in ["attn_q", "attn_k", "attn_v"] {
            let name = format!("blk.{l}.{m}.bias");
            if seen.contains(&name) != qkv_bias {
                return Err(ModelError::file(
                    gguf.path(),
                    format!("tensor `{name}`: some q/k/v projections have a bias and others not"),
                ));
            }
        }
    }
    if s.arch == "qwen2" && !qkv_bias {
        return Err(ModelError::MissingTensor {
            name: "blk.0.attn_q.bias".into(),
            path: gguf.path().to_owned(),
        });
    }
    if seen
        .iter()
        .any(|n| n.ends_with("attn_output.bias") || n.contains(".ffn_") && n.ends_with(".bias"))
    {
        return Err(ModelError::file(
            gguf.path(),
            "biases on attn_output or the feed-forward projections are not supported",
        ));
    }
    Ok((planned, tied, qkv_bias))
}

fn config_json(
    gguf: &GgufFile,
    s: &Sizes,
    tied: bool,
    qkv_bias: bool,
    special: &tokenizer::SpecialTokens,
) -> Result<Value> {
    let k = |name: &str| format!("{}.{name}", s.arch);
    let qwen = s.arch == "qwen2";
    let rope_theta =
        gguf.opt_f64(&k("rope.freq_base"))?
            .unwrap_or(if qwen { 1_000_000.0 } else { 10_000.0 });
    let eps = gguf
        .opt_f64(&k("attention.layer_norm_rms_epsilon"))?
        .unwrap_or(if qwen { 1e-6 } else { 1e-5 });
    if let Some(kind) = gguf.opt_string(&k("rope.scaling.type"))? {
        if kind != "none" {
            return Err(key_error(
                gguf,
                &k("rope.scaling.type"),
                format!("{kind:?} RoPE scaling is not supported yet"),
            ));
        }
    }
    let mut config = json!({
        "architectures": [if qwen { "Qwen2ForCausalLM" } else { "LlamaForCausalLM" }],
        "model_type": s.arch,
        "_name_or_path": gguf.opt_string("general.name")?.unwrap_or_default(),
        "vocab_size": s.vocab,
        "hidden_size": s.hidden,
        "intermediate_size": s.intermediate,
        "num_hidden_layers": s.layers,
        "num_attention_heads": s.heads,
        "num_key_value_heads": s.kv_heads,
        "head_dim": s.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": gguf.opt_usize(&k("context_length"))?.unwrap_or(4096),
        "rms_norm_eps": eps,
        "rope_theta": rope_theta,
        "tie_word_embeddings": tied,
        "bos_token_id": special.bos_id,
        "eos_token_id": special.eos_id,
        "pad_token_id": special.pad_id,
        "torch_dtype": "float32",
    });
    if qwen {
        config["use_sliding_window"] = json!(false);
    } else {
        config["attention_bias"] = json!(qkv_bias);
        config["mlp_bias"] = json!(false);
    }
    // The engine's own check, so a config it would refuse is never written.
    Config::from_value(config.clone())?;
    Ok(config)
}

/// A tensor dequantized (and un-permuted) only when the safetensors writer asks for its bytes.
struct LazyTensor<'a> {
    gguf: &'a GgufFile,
    planned: &'a Planned,
    bytes: usize,
    /// The first failure: `View::data` cannot return an error, so it is kept here and the
    /// import fails after the writer returns (the temporary folder is then removed).
    error: &'a Mutex<Option<ModelError>>,
}

impl LazyTensor<'_> {
    fn read(&self) -> Result<Vec<u8>> {
        let mut t = self.gguf.dequantized(&self.planned.gguf_name)?;
        if let Some(heads) = self.planned.unpermute_heads {
            t = permute::from_gguf(&t, heads)?;
        }
        let values = t.flatten_all()?.to_vec1::<f32>()?;
        drop(t);
        Ok(values.iter().flat_map(|v| v.to_le_bytes()).collect())
    }
}

impl safetensors::View for LazyTensor<'_> {
    fn dtype(&self) -> safetensors::Dtype {
        safetensors::Dtype::F32
    }

    fn shape(&self) -> &[usize] {
        &self.planned.shape
    }

    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        match self.read() {
            Ok(bytes) => bytes.into(),
            Err(e) => {
                self.error.lock().expect("not poisoned").get_or_insert(e);
                vec![0u8; self.bytes].into()
            }
        }
    }

    fn data_len(&self) -> usize {
        self.bytes
    }
}

fn tokenizer_config(
    gguf: &GgufFile,
    s: &Sizes,
    special: &tokenizer::SpecialTokens,
) -> Result<Value> {
    let mut config = json!({
        "tokenizer_class": "PreTrainedTokenizerFast",
        "model_max_length": gguf.opt_usize(&format!("{}.context_length", s.arch))?.unwrap_or(4096),
        "add_bos_token": special.add_bos,
        "clean_up_tokenization_spaces": false,
    });
    for (key, value) in [
        ("bos_token", &special.bos),
        ("eos_token", &special.eos),
        ("pad_token", &special.pad),
        ("unk_token", &special.unk),
    ] {
        if let Some(token) = value {
            config[key] = json!(token);
        }
    }
    if let Some(template) = gguf.opt_string("tokenizer.chat_template")? {
        config["chat_template"] = json!(template);
    }
    Ok(config)
}

/// Sets `config`'s `rope_scaling` to the Llama 3 parameters that explain `rope_freqs.weight`.
fn rope_scaling(gguf: &GgufFile, s: &Sizes, config: &mut Value) -> Result<()> {
    let stored = gguf.dequantized(rope_freqs::TENSOR)?.to_vec1::<f32>()?;
    let original = gguf.opt_usize(&format!("{}.rope.scaling.original_context_length", s.arch))?;
    let unscaled = Config::from_value(config.clone())?;
    match rope_freqs::recover(&unscaled, &stored, original) {
        Some(crate::config::RopeScaling::Default) => Ok(()),
        Some(crate::config::RopeScaling::Llama3 {
            factor,
            low_freq_factor,
            high_freq_factor,
            original_max_position_embeddings,
        }) => {
            config["rope_scaling"] = json!({
                "rope_type": "llama3",
                "factor": factor,
                "low_freq_factor": low_freq_factor,
                "high_freq_factor": high_freq_factor,
                "original_max_position_embeddings": original_max_position_embeddings,
            });
            Config::from_value(config.clone())?;
            Ok(())
        }
        None => Err(ModelError::file(
            gguf.path(),
            format!(
                "tensor `{}`: these RoPE frequency factors match no Llama 3 scaling (factor = the largest, frequency band 1–4, original context {})",
                rope_freqs::TENSOR,
                original.map_or("8192".to_string(), |o| format!("{o} or 8192"))
            ),
        )),
    }
}

/// Imports `file` into the folder `out`, which must not exist or be empty.
pub fn import_gguf(file: &Path, out: &Path) -> Result<ImportReport> {
    let gguf = GgufFile::open(file)?;
    gguf.check_tensor_bounds()?;
    let s = sizes(&gguf)?;
    let (planned, tied, qkv_bias) = plan(&gguf, &s)?;
    let (tokenizer_json, special) = tokenizer::build(&gguf)?;
    let tokens = gguf.strings("tokenizer.ggml.tokens")?.len();
    if tokens > s.vocab {
        return Err(key_error(
            &gguf,
            "tokenizer.ggml.tokens",
            format!(
                "{tokens} tokens, more than the {} rows of token_embd.weight",
                s.vocab
            ),
        ));
    }
    let mut config = config_json(&gguf, &s, tied, qkv_bias, &special)?;
    if gguf.tensor_info(rope_freqs::TENSOR).is_some() {
        rope_scaling(&gguf, &s, &mut config)?;
    }
    let tokenizer_config = tokenizer_config(&gguf, &s, &special)?;
    let generation_config = json!({"bos_token_id": special.bos_id, "eos_token_id": special.eos_id, "pad_token_id": special.pad_id});

    if out.exists()
        && std::fs::read_dir(out)
            .map_err(|e| ModelError::file(out, e))?
            .next()
            .is_some()
    {
        return Err(ModelError::file(
            out,
            "already exists and is not empty; import into a new folder",
        ));
    }
    let parent = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| ModelError::file(parent, e))?;
    let staging = tempfile::Builder::new()
        .prefix(".hone-import-")
        .tempdir_in(parent)
        .map_err(|e| ModelError::file(parent, e))?;

    let error = Mutex::new(None);
    let views: Vec<(String, LazyTensor)> = planned
        .iter()
        .map(|p| {
            let bytes = p.shape.iter().product::<usize>() * 4;
            (
                p.hf_name.clone(),
                LazyTensor {
                    gguf: &gguf,
                    planned: p,
                    bytes,
                    error: &error,
                },
            )
        })
        .collect();
    let weights = staging.path().join("model.safetensors");
    let metadata = std::collections::HashMap::from([("format".to_string(), "pt".to_string())]);
    safetensors::serialize_to_file(views, Some(metadata), &weights)
        .map_err(|e| ModelError::file(&weights, e))?;
    if let Some(e) = error.into_inner().expect("not poisoned") {
        return Err(e);
    }

    let mut tensor_types = BTreeMap::new();
    for name in gguf.tensor_names() {
        *tensor_types
            .entry(format!("{:?}", gguf.dtype(name).expect("listed")))
            .or_insert(0) += 1;
    }
    let size = std::fs::metadata(file)
        .map_err(|e| ModelError::file(file, e))?
        .len();
    let source = GgufSource {
        file_name: file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: std::fs::canonicalize(file).unwrap_or_else(|_| file.to_owned()),
        sha256: sha256_file(file)?,
        size,
        architecture: s.arch.clone(),
        name: gguf.opt_string("general.name")?.map(String::from),
        tensor_types,
        imported_by: format!("hone {}", env!("CARGO_PKG_VERSION")),
    };
    let pretty = |v: &Value| serde_json::to_vec_pretty(v).expect("JSON");
    for (name, value) in [
        ("config.json", &config),
        ("generation_config.json", &generation_config),
        ("tokenizer_config.json", &tokenizer_config),
        ("tokenizer.json", &tokenizer_json),
    ] {
        write_atomically(&staging.path().join(name), &pretty(value))?;
    }
    write_atomically(
        &staging.path().join(SOURCE_FILE),
        &serde_json::to_vec_pretty(&source).expect("JSON"),
    )?;

    if out.exists() {
        std::fs::remove_dir(out).map_err(|e| ModelError::file(out, e))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, out).map_err(|e| {
        let _ = std::fs::remove_dir_all(&staged);
        ModelError::file(out, e)
    })?;
    let parameters = planned
        .iter()
        .map(|p| p.shape.iter().product::<usize>())
        .sum();
    Ok(ImportReport {
        out: out.to_owned(),
        source,
        parameters,
        tensors: planned.len(),
        config,
    })
}
