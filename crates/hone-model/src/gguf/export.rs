//! Writing GGUF files llama.cpp, Ollama and LM Studio run: a whole model from a Hugging Face
//! folder ([`export_model_gguf`], f32/f16 or quantized by candle's quantizer), and a LoRA
//! adapter in llama.cpp's adapter layout ([`export_lora_gguf`], what `llama-cli --lora` and
//! Ollama's `ADAPTER` load). Files are written to a temporary name and renamed into place.
//!
//! The layout follows llama.cpp's converters (`convert_hf_to_gguf.py`, `convert_lora_to_gguf.py`):
//! llama.cpp's tensor names, Q and K rows permuted for llama-architecture files (also on the
//! adapter's B side, which produces those rows), 1-D tensors kept in f32.

use std::io::BufWriter;
use std::path::Path;

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{DType, Device, Tensor};
use serde::Serialize;
use serde_json::Value as Json;

use super::names::TensorName;
use super::{permute, rope_freqs, tokenizer};
use crate::config::{Config, RopeScaling};
use crate::loader::read_json;
use crate::lora::Adapter;
use crate::{ModelError, Result};

/// The element type of a whole-model export's matrices.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GgufQuant {
    F32,
    F16,
    Q8_0,
    Q4_0,
    Q4K,
}

impl std::str::FromStr for GgufQuant {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "f32" => Self::F32,
            "f16" => Self::F16,
            "q8_0" => Self::Q8_0,
            "q4_0" => Self::Q4_0,
            "q4_k" | "q4_k_m" => Self::Q4K,
            other => {
                return Err(format!(
                    "unknown GGUF type {other:?}; expected f32, f16, q8_0, q4_0 or q4_k"
                ))
            }
        })
    }
}

impl GgufQuant {
    /// The name `--quant` takes and export file names carry (`q8_0`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Q8_0 => "q8_0",
            Self::Q4_0 => "q4_0",
            Self::Q4K => "q4_k",
        }
    }

    fn dtype(self) -> GgmlDType {
        match self {
            Self::F32 => GgmlDType::F32,
            Self::F16 => GgmlDType::F16,
            Self::Q8_0 => GgmlDType::Q8_0,
            Self::Q4_0 => GgmlDType::Q4_0,
            Self::Q4K => GgmlDType::Q4K,
        }
    }

    /// llama.cpp's `general.file_type` (`llama_ftype`).
    fn file_type(self) -> u32 {
        match self {
            Self::F32 => 0,
            Self::F16 => 1,
            Self::Q4_0 => 2,
            Self::Q8_0 => 7,
            Self::Q4K => 15,
        }
    }
}

/// llama.cpp's architecture name for a `model_type`.
pub fn gguf_architecture(model_type: &str) -> Result<&'static str> {
    match model_type {
        "llama" | "mistral" => Ok("llama"),
        "qwen2" => Ok("qwen2"),
        other => Err(ModelError::invalid(
            "model_type",
            format!("{other:?} has no GGUF export"),
        )),
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize)]
pub struct GgufExport {
    pub file: std::path::PathBuf,
    pub bytes: u64,
    pub tensors: usize,
    /// Matrices whose rows do not fill whole quantization blocks, kept in f16 instead.
    pub kept_f16: Vec<String>,
}

fn write_gguf(
    out: &Path,
    metadata: &[(String, Value)],
    tensors: &[(String, QTensor)],
) -> Result<GgufExport> {
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| ModelError::file(dir, e))?;
    let tmp = tempfile::Builder::new()
        .prefix(".hone-")
        .suffix(".gguf")
        .tempfile_in(dir)
        .map_err(|e| ModelError::file(dir, e))?;
    {
        let mut w = BufWriter::new(tmp.as_file());
        let md: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let ts: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
        gguf_file::write(&mut w, &md, &ts).map_err(|e| ModelError::file(out, e))?;
        std::io::Write::flush(&mut w).map_err(|e| ModelError::file(out, e))?;
    }
    tmp.as_file()
        .sync_all()
        .map_err(|e| ModelError::file(out, e))?;
    tmp.persist(out)
        .map_err(|e| ModelError::file(out, e.error))?;
    let bytes = std::fs::metadata(out)
        .map_err(|e| ModelError::file(out, e))?
        .len();
    Ok(GgufExport {
        file: out.to_owned(),
        bytes,
        tensors: tensors.len(),
        kept_f16: Vec::new(),
    })
}

/// The architecture keys llama.cpp reads.
fn architecture_metadata(arch: &str, c: &Config) -> Vec<(String, Value)> {
    let k = |name: &str| format!("{arch}.{name}");
    let mut md = vec![
        (
            "general.architecture".to_string(),
            Value::String(arch.into()),
        ),
        (
            k("context_length"),
            Value::U32(c.max_position_embeddings as u32),
        ),
        (k("embedding_length"), Value::U32(c.hidden_size as u32)),
        (k("block_count"), Value::U32(c.num_hidden_layers as u32)),
        (
            k("feed_forward_length"),
            Value::U32(c.intermediate_size as u32),
        ),
        (
            k("attention.head_count"),
            Value::U32(c.num_attention_heads as u32),
        ),
        (
            k("attention.head_count_kv"),
            Value::U32(c.num_key_value_heads as u32),
        ),
        (
            k("attention.layer_norm_rms_epsilon"),
            Value::F32(c.rms_norm_eps as f32),
        ),
        (k("rope.freq_base"), Value::F32(c.rope_theta as f32)),
        (k("rope.dimension_count"), Value::U32(c.head_dim as u32)),
        (k("vocab_size"), Value::U32(c.vocab_size as u32)),
    ];
    if c.head_dim * c.num_attention_heads != c.hidden_size {
        md.push((k("attention.key_length"), Value::U32(c.head_dim as u32)));
        md.push((k("attention.value_length"), Value::U32(c.head_dim as u32)));
    }
    md
}

/// `tokenizer.ggml.*` from a byte-level BPE `tokenizer.json` and the folder's special tokens.
fn tokenizer_metadata(dir: &Path, c: &Config) -> Result<Vec<(String, Value)>> {
    let path = dir.join("tokenizer.json");
    let json = read_json(&path)?;
    let model = &json["model"];
    if model["type"] != "BPE" {
        return Err(ModelError::file(
            &path,
            format!(
                "model.type {}: only byte-level BPE tokenizers export to GGUF",
                model["type"]
            ),
        ));
    }
    let pre = tokenizer::pre_name(&json["pre_tokenizer"]).ok_or_else(|| {
        ModelError::file(
            &path,
            "its pre_tokenizer matches none llama.cpp knows (gpt-2, smollm, llama-bpe, qwen2)",
        )
    })?;
    let mut tokens: Vec<Option<(String, i32)>> = vec![None; c.vocab_size];
    let mut put = |id: u64, token: &str, kind: i32| -> Result<()> {
        let slot = tokens.get_mut(id as usize).ok_or_else(|| {
            ModelError::file(
                &path,
                format!(
                    "token {token:?} has id {id}, outside the model's vocabulary of {}",
                    c.vocab_size
                ),
            )
        })?;
        *slot = Some((token.to_owned(), kind));
        Ok(())
    };
    for (token, id) in model["vocab"]
        .as_object()
        .ok_or_else(|| ModelError::file(&path, "model.vocab is not an object"))?
    {
        put(id.as_u64().unwrap_or(u64::MAX), token, 1)?;
    }
    for added in json["added_tokens"].as_array().into_iter().flatten() {
        let kind = if added["special"].as_bool().unwrap_or(false) {
            3
        } else {
            4
        };
        put(
            added["id"].as_u64().unwrap_or(u64::MAX),
            added["content"].as_str().unwrap_or_default(),
            kind,
        )?;
    }
    // Ids the tokenizer never produces (a vocabulary padded to a round size) get placeholder
    // names, as llama.cpp's converter writes them.
    let (names, kinds): (Vec<Value>, Vec<Value>) = tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.unwrap_or_else(|| (format!("[PAD{i}]"), 4)))
        .map(|(t, k)| (Value::String(t), Value::I32(k)))
        .unzip();
    let merges: Vec<Value> = model["merges"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| match m {
            Json::String(s) => Value::String(s.clone()),
            Json::Array(pair) => Value::String(format!(
                "{} {}",
                pair[0].as_str().unwrap_or_default(),
                pair[1].as_str().unwrap_or_default()
            )),
            _ => Value::String(String::new()),
        })
        .collect();

    let config_path = dir.join("tokenizer_config.json");
    let tc = if config_path.is_file() {
        read_json(&config_path)?
    } else {
        Json::Null
    };
    let token_id = |key: &str| -> Option<u32> {
        let token = crate::tokenizer::token_string(tc.get(key))?;
        names
            .iter()
            .position(|n| matches!(n, Value::String(s) if *s == token))
            .map(|i| i as u32)
    };
    let mut md = vec![
        (
            "tokenizer.ggml.model".to_string(),
            Value::String("gpt2".into()),
        ),
        ("tokenizer.ggml.pre".to_string(), Value::String(pre.into())),
        (
            "tokenizer.ggml.tokens".to_string(),
            Value::Array(names.clone()),
        ),
        ("tokenizer.ggml.token_type".to_string(), Value::Array(kinds)),
        ("tokenizer.ggml.merges".to_string(), Value::Array(merges)),
    ];
    let bos = token_id("bos_token").or(c.bos_token_id);
    let eos = token_id("eos_token").or(c.eos_token_ids.first().copied());
    for (key, id) in [
        ("bos_token_id", bos),
        ("eos_token_id", eos),
        ("padding_token_id", token_id("pad_token").or(eos)),
    ] {
        if let Some(id) = id {
            md.push((format!("tokenizer.ggml.{key}"), Value::U32(id)));
        }
    }
    let add_bos = tc
        .get("add_bos_token")
        .and_then(Json::as_bool)
        .unwrap_or(json_has_bos_template(&json));
    md.push(("tokenizer.ggml.add_bos_token".into(), Value::Bool(add_bos)));
    let template_file = dir.join("chat_template.jinja");
    let template = if template_file.is_file() {
        Some(
            std::fs::read_to_string(&template_file)
                .map_err(|e| ModelError::file(&template_file, e))?,
        )
    } else {
        tc.get("chat_template")
            .and_then(Json::as_str)
            .map(String::from)
    };
    if let Some(template) = template {
        md.push(("tokenizer.chat_template".into(), Value::String(template)));
    }
    Ok(md)
}

/// Whether the tokenizer's post-processor puts a BOS token in front (Llama 3's TemplateProcessing).
fn json_has_bos_template(tokenizer: &Json) -> bool {
    tokenizer["post_processor"]["type"] == "TemplateProcessing"
}

/// Quantizes a matrix to `dtype`, or keeps it in f16 when its rows do not fill whole blocks.
fn quantize(
    name: &str,
    t: &Tensor,
    dtype: GgmlDType,
    kept_f16: &mut Vec<String>,
) -> Result<QTensor> {
    if t.rank() == 1 {
        return Ok(QTensor::quantize(t, GgmlDType::F32)?);
    }
    let row = *t.dims().last().expect("rank 2");
    if !row.is_multiple_of(dtype.block_size()) {
        kept_f16.push(name.to_owned());
        return Ok(QTensor::quantize(t, GgmlDType::F16)?);
    }
    Ok(QTensor::quantize(t, dtype)?)
}

/// Writes the model in the Hugging Face folder `dir` (an adapter already merged into it, if
/// any) as one GGUF file with its tokenizer and chat template; `name` is its `general.name`.
pub fn export_model_gguf(
    dir: &Path,
    out: &Path,
    quant: GgufQuant,
    name: &str,
) -> Result<GgufExport> {
    let config = Config::from_file(&dir.join("config.json"))?;
    let arch = gguf_architecture(&config.model_type)?;
    let files = crate::loader::weight_files(dir)?;
    // Safety: read-only maps of files Hone does not modify.
    let st = unsafe { candle_core::safetensors::MmapedSafetensors::multi(&files)? };
    let mut metadata = vec![
        ("general.type".to_string(), Value::String("model".into())),
        ("general.name".to_string(), Value::String(name.into())),
        (
            "general.file_type".to_string(),
            Value::U32(quant.file_type()),
        ),
        ("general.quantization_version".to_string(), Value::U32(2)),
    ];
    metadata.extend(architecture_metadata(arch, &config));
    metadata.extend(tokenizer_metadata(dir, &config)?);

    let mut tensor_names: Vec<String> = st.tensors().into_iter().map(|(name, _)| name).collect();
    tensor_names.sort_by_key(|n| {
        (
            TensorName::from_hf(n)
                .and_then(|t| t.layer)
                .map_or(0, |l| l + 1),
            n.clone(),
        )
    });
    let mut tensors = Vec::new();
    let mut kept_f16 = Vec::new();
    if let (
        Some(factors),
        RopeScaling::Llama3 {
            original_max_position_embeddings,
            ..
        },
    ) = (rope_freqs::factors(&config), &config.rope_scaling)
    {
        let t = Tensor::new(factors, &Device::Cpu)?;
        tensors.push((
            rope_freqs::TENSOR.to_string(),
            QTensor::quantize(&t, GgmlDType::F32)?,
        ));
        metadata.push((
            format!("{arch}.rope.scaling.original_context_length"),
            Value::U32(*original_max_position_embeddings as u32),
        ));
    }
    for name in tensor_names {
        let parsed = TensorName::from_hf(&name)
            .ok_or_else(|| ModelError::file(dir, format!("tensor `{name}` has no GGUF name")))?;
        if parsed.gguf_module == "output" && config.tie_word_embeddings {
            continue;
        }
        let mut t = st.load(&name, &Device::Cpu)?.to_dtype(DType::F32)?;
        match (arch, parsed.gguf_module) {
            ("llama", "attn_q") => t = permute::to_gguf(&t, config.num_attention_heads)?,
            ("llama", "attn_k") => t = permute::to_gguf(&t, config.num_key_value_heads)?,
            _ => {}
        }
        let gguf_name = parsed.gguf();
        let q = quantize(&gguf_name, &t, quant.dtype(), &mut kept_f16)?;
        tensors.push((gguf_name, q));
    }
    let mut report = write_gguf(out, &metadata, &tensors)?;
    report.kept_f16 = kept_f16;
    Ok(report)
}

/// Writes `adapter` (trained on a base with `config`) as a llama.cpp LoRA adapter GGUF.
pub fn export_lora_gguf(adapter: &Adapter, config: &Config, out: &Path) -> Result<GgufExport> {
    let arch = gguf_architecture(&config.model_type)?;
    let r = adapter.config.r as f64;
    // llama.cpp scales by alpha / r; rsLoRA's alpha / √r is the same with alpha·√r.
    let alpha = if adapter.config.use_rslora {
        adapter.config.lora_alpha * r.sqrt()
    } else {
        adapter.config.lora_alpha
    };
    let metadata = vec![
        (
            "general.architecture".to_string(),
            Value::String(arch.into()),
        ),
        ("general.type".to_string(), Value::String("adapter".into())),
        (
            "general.name".to_string(),
            Value::String(adapter.name.clone()),
        ),
        ("adapter.type".to_string(), Value::String("lora".into())),
        ("adapter.lora.alpha".to_string(), Value::F32(alpha as f32)),
    ];
    let mut tensors = Vec::new();
    for (path, branch) in adapter.branches() {
        let name = TensorName::from_hf_module(path).ok_or_else(|| ModelError::Adapter {
            name: adapter.name.clone(),
            message: format!("module `{path}` has no GGUF name"),
        })?;
        let a = branch
            .a
            .as_tensor()
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?;
        let mut b = branch
            .b
            .as_tensor()
            .to_device(&Device::Cpu)?
            .to_dtype(DType::F32)?;
        match (arch, name.gguf_module) {
            ("llama", "attn_q") => b = permute::to_gguf(&b, config.num_attention_heads)?,
            ("llama", "attn_k") => b = permute::to_gguf(&b, config.num_key_value_heads)?,
            _ => {}
        }
        let base = name.gguf();
        tensors.push((
            format!("{base}.lora_a"),
            QTensor::quantize(&a, GgmlDType::F32)?,
        ));
        tensors.push((
            format!("{base}.lora_b"),
            QTensor::quantize(&b, GgmlDType::F32)?,
        ));
    }
    write_gguf(out, &metadata, &tensors)
}

/// An Ollama `Modelfile`: the base model, the adapter if any, and the chat template's stop token.
pub fn ollama_modelfile(base: &str, adapter: Option<&str>, stop: Option<&str>) -> String {
    let mut text =
        format!("# Written by Hone. Run it with: ollama create NAME -f Modelfile\nFROM {base}\n");
    if let Some(adapter) = adapter {
        text.push_str(&format!("ADAPTER {adapter}\n"));
    }
    if let Some(stop) = stop {
        text.push_str(&format!("PARAMETER stop \"{stop}\"\n"));
    }
    text
}
