//! Tiny random models of the real format: a Hugging Face folder (config, safetensors, a BPE
//! tokenizer trained here on a small corpus, a ChatML chat template) that the engine and
//! transformers both load. Tests, docs and first-time users use them; nothing is downloaded.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use rand::SeedableRng;
use serde_json::json;
use tokenizers::models::bpe::{BpeTrainerBuilder, BPE};
use tokenizers::models::TrainerWrapper;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::AddedToken;

use crate::files::write_atomically;
use crate::{ModelError, Result};

/// The text the tiny tokenizer is trained on.
pub const CORPUS: &str = include_str!("../assets/tiny-corpus.txt");

/// ChatML, as SmolLM2 and Qwen2.5 use it.
pub const CHATML_TEMPLATE: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

pub const SPECIAL_TOKENS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TinyArch {
    Llama,
    Qwen2,
}

impl std::str::FromStr for TinyArch {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "llama" => Ok(Self::Llama),
            "qwen2" => Ok(Self::Qwen2),
            other => Err(format!(
                "unknown architecture {other:?}; expected llama or qwen2"
            )),
        }
    }
}

/// The sizes of a tiny model.
#[derive(Debug, Clone, Copy)]
pub struct TinySize {
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub vocab: usize,
    pub max_positions: usize,
    /// The LM head shares the input embedding (always so for Qwen2's tiny models).
    pub tie_embeddings: bool,
}

impl TinySize {
    /// The config of a Llama of this size (what its `config.json` would say).
    pub fn llama_config(&self) -> Result<crate::Config> {
        crate::Config::from_value(json!({
            "model_type": "llama", "vocab_size": self.vocab, "hidden_size": self.hidden,
            "intermediate_size": self.intermediate, "num_hidden_layers": self.layers,
            "num_attention_heads": self.heads, "num_key_value_heads": self.kv_heads,
            "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
            "max_position_embeddings": self.max_positions,
            "tie_word_embeddings": self.tie_embeddings,
        }))
    }
}

impl Default for TinySize {
    fn default() -> Self {
        Self {
            hidden: 64,
            intermediate: 176,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            vocab: 512,
            max_positions: 1024,
            tie_embeddings: false,
        }
    }
}

/// The shapes of real models, for random models of real cost (benchmarks and the GPU check):
/// the weights are random, the sizes are the real model's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// [`TinySize::default`]: 2 layers, hidden 64 (tests).
    Tiny,
    /// The ~125M Llama of `bench/run.sh` (12 layers, hidden 768, vocabulary 32,000).
    Bench125m,
    /// SmolLM2-135M-Instruct (30 layers, hidden 576, 9 heads / 3 key-value, vocabulary 49,152,
    /// tied embeddings).
    Smollm2_135m,
    /// Llama-3.2-1B's body with SmolLM2's vocabulary (16 layers, hidden 2048, 32 heads / 8
    /// key-value, MLP 8192, tied embeddings): 1.07B parameters, the 1B shape of issue 16.
    Llama1b,
    /// Llama-3.2-3B (28 layers, hidden 3072, 24 heads / 8 key-value, MLP 8192, vocabulary
    /// 128,256, tied embeddings): 3.21B parameters. For plans; writing one takes 12.8 GB.
    Llama3b,
    /// Llama-3.1-8B (32 layers, hidden 4096, 32 heads / 8 key-value, MLP 14,336, vocabulary
    /// 128,256): 8.03B parameters. For plans; writing one takes 32 GB.
    Llama8b,
}

/// The names [`Shape`] parses, in order.
pub const SHAPE_NAMES: &[&str] = &[
    "tiny",
    "bench-125m",
    "smollm2-135m",
    "llama-1b",
    "llama-3b",
    "llama-8b",
];

impl std::str::FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "tiny" => Ok(Self::Tiny),
            "bench-125m" => Ok(Self::Bench125m),
            "smollm2-135m" => Ok(Self::Smollm2_135m),
            "llama-1b" => Ok(Self::Llama1b),
            "llama-3b" => Ok(Self::Llama3b),
            "llama-8b" => Ok(Self::Llama8b),
            other => Err(format!(
                "unknown shape {other:?}; expected {}",
                SHAPE_NAMES.join(", ")
            )),
        }
    }
}

impl Shape {
    pub fn size(self) -> TinySize {
        let real =
            |hidden, intermediate, layers, heads, kv_heads, vocab, tie_embeddings| TinySize {
                hidden,
                intermediate,
                layers,
                heads,
                kv_heads,
                vocab,
                max_positions: 8192,
                tie_embeddings,
            };
        match self {
            Self::Tiny => TinySize::default(),
            Self::Bench125m => TinySize {
                max_positions: 1024,
                ..real(768, 2048, 12, 12, 4, 32_000, false)
            },
            Self::Smollm2_135m => real(576, 1536, 30, 9, 3, 49_152, true),
            Self::Llama1b => real(2048, 8192, 16, 32, 8, 49_152, true),
            Self::Llama3b => real(3072, 8192, 28, 24, 8, 128_256, true),
            Self::Llama8b => real(4096, 14_336, 32, 32, 8, 128_256, false),
        }
    }

    /// The config of a Llama of this shape (what its `config.json` would say).
    pub fn config(self) -> crate::Config {
        self.size()
            .llama_config()
            .expect("the shapes are valid configs")
    }
}

/// Writes a random Llama of `shape` into `out`: the tiny tokenizer (its few hundred tokens are
/// enough to talk to it; the embedding has the shape's full vocabulary, which benchmarks use
/// through token ids). The same seed gives the same bytes.
pub fn write_shape_model(shape: Shape, out: &Path, seed: u64) -> Result<()> {
    if shape == Shape::Tiny {
        return write_tiny_model(TinyArch::Llama, TinySize::default(), out, seed);
    }
    let tokenizer = train_tokenizer(CORPUS.lines(), 512)?;
    write_model_folder(
        TinyArch::Llama,
        shape.size(),
        &tokenizer,
        out,
        seed,
        "random",
    )
}

/// Trains a byte-level BPE tokenizer on `texts` with the ChatML special tokens (ids 0, 1, 2).
pub fn train_tokenizer<'a>(
    texts: impl Iterator<Item = &'a str> + Send,
    vocab_size: usize,
) -> Result<tokenizers::Tokenizer> {
    let err = |e: tokenizers::Error| ModelError::Tokenizer(e.to_string());
    let mut tokenizer = tokenizers::Tokenizer::new(BPE::default());
    tokenizer.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
    tokenizer.with_decoder(Some(ByteLevel::default()));
    tokenizer.with_post_processor(Some(ByteLevel::new(false, true, true)));
    let specials: Vec<AddedToken> = SPECIAL_TOKENS
        .iter()
        .map(|t| AddedToken::from(t.to_string(), true))
        .collect();
    let mut trainer: TrainerWrapper = BpeTrainerBuilder::new()
        .vocab_size(vocab_size)
        .min_frequency(1)
        .show_progress(false)
        .special_tokens(specials.clone())
        .initial_alphabet(ByteLevel::alphabet().into_iter().collect())
        .build()
        .into();
    tokenizer.train(&mut trainer, texts).map_err(err)?;
    tokenizer.add_special_tokens(specials).map_err(err)?;
    Ok(tokenizer)
}

/// Writes a tiny random model of `arch` into `out` (created if needed). The same seed gives
/// the same bytes.
pub fn write_tiny_model(arch: TinyArch, size: TinySize, out: &Path, seed: u64) -> Result<()> {
    let tokenizer = train_tokenizer(CORPUS.lines(), size.vocab)?;
    let vocab = tokenizer.get_vocab_size(true);
    write_model_folder(
        arch,
        TinySize { vocab, ..size },
        &tokenizer,
        out,
        seed,
        "tiny",
    )
}

/// Writes a folder for `tokenizer` with random weights of `size` (N(0, 0.02), norms 1, biases 0,
/// as transformers initialises). `name` goes into the config's `_name_or_path`.
pub fn write_model_folder(
    arch: TinyArch,
    size: TinySize,
    tokenizer: &tokenizers::Tokenizer,
    out: &Path,
    seed: u64,
    name: &str,
) -> Result<()> {
    let id = |t: &str| {
        tokenizer
            .token_to_id(t)
            .ok_or_else(|| ModelError::Tokenizer(format!("the tokenizer lacks {t}")))
    };
    let (bos, eos, pad) = (
        id("<|endoftext|>")?,
        id("<|im_end|>")?,
        id("<|endoftext|>")?,
    );
    let head_dim = size.hidden / size.heads;
    let qwen = arch == TinyArch::Qwen2;
    let config = json!({
        "architectures": [if qwen { "Qwen2ForCausalLM" } else { "LlamaForCausalLM" }],
        "model_type": if qwen { "qwen2" } else { "llama" },
        "_name_or_path": name,
        "vocab_size": size.vocab,
        "hidden_size": size.hidden,
        "intermediate_size": size.intermediate,
        "num_hidden_layers": size.layers,
        "num_attention_heads": size.heads,
        "num_key_value_heads": size.kv_heads,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": size.max_positions,
        "rms_norm_eps": if qwen { 1e-6 } else { 1e-5 },
        "rope_theta": if qwen { 1_000_000.0 } else { 10_000.0 },
        "tie_word_embeddings": qwen || size.tie_embeddings,
        "attention_bias": false,
        "use_sliding_window": false,
        "bos_token_id": bos,
        "eos_token_id": eos,
        "pad_token_id": pad,
        "torch_dtype": "float32",
    });
    let generation = json!({ "bos_token_id": bos, "eos_token_id": eos, "pad_token_id": pad });
    let tokenizer_config = json!({
        "bos_token": "<|endoftext|>",
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "model_max_length": size.max_positions,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHATML_TEMPLATE,
    });

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let tensors = llama_tensors(arch, size, &mut |shape| {
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| 0.02 * standard_normal(&mut rng)).collect();
        Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
    })?;
    write_weights(&out.join("model.safetensors"), &tensors)?;

    let tokenizer_json = tokenizer
        .to_string(true)
        .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
    write_atomically(&out.join("tokenizer.json"), tokenizer_json.as_bytes())?;
    for (file, value) in [
        ("config.json", config),
        ("generation_config.json", generation),
        ("tokenizer_config.json", tokenizer_config),
    ] {
        write_atomically(
            &out.join(file),
            &serde_json::to_vec_pretty(&value).expect("JSON"),
        )?;
    }
    Ok(())
}

/// A model of `size`'s shape (Llama) built in memory on `device`, its matrices filled by a
/// cheap pattern of small values rather than drawn: for measuring what the shape's steps cost
/// (the plan's CPU probe), where the values do not matter and drawing ~25 M normals would take
/// longer than the steps measured.
pub fn patterned_llama(size: TinySize, device: &Device) -> Result<crate::Model> {
    let tensors = llama_tensors(TinyArch::Llama, size, &mut |shape| {
        patterned(shape, &Device::Cpu)
    })?;
    let config = size.llama_config()?;
    let tensors = tensors
        .into_iter()
        .map(|(name, t)| Ok((name, t.to_device(device)?)))
        .collect::<Result<HashMap<_, _>>>()?;
    let vb = candle_nn::VarBuilder::from_tensors(tensors, DType::F32, device);
    crate::Model::new(&config, vb)
}

/// A tensor of `shape` on `device` filled by a multiplicative hash of each index: values
/// spread over ±0.02 with no structure a kernel could shortcut, at a fraction of a random
/// draw's cost.
pub fn patterned(shape: &[usize], device: &Device) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let values: Vec<f32> = (0..n)
        .map(|i| {
            ((i as u32).wrapping_mul(2_654_435_761) >> 8) as f32 / (1u32 << 24) as f32 * 0.04 - 0.02
        })
        .collect();
    Ok(Tensor::from_vec(values, shape, device)?)
}

/// Every tensor of a model of `arch` and `size` by its Hugging Face name: the matrices from
/// `fill` (given their shape), norms 1 and biases 0.
fn llama_tensors(
    arch: TinyArch,
    size: TinySize,
    fill: &mut dyn FnMut(&[usize]) -> Result<Tensor>,
) -> Result<Vec<(String, Tensor)>> {
    let qwen = arch == TinyArch::Qwen2;
    let head_dim = size.hidden / size.heads;
    let mut tensors: Vec<(String, Tensor)> = Vec::new();
    let mut matrix = |name: String, shape: &[usize]| -> Result<()> {
        tensors.push((name, fill(shape)?));
        Ok(())
    };
    let (h, i, v) = (size.hidden, size.intermediate, size.vocab);
    let (q, kv) = (size.heads * head_dim, size.kv_heads * head_dim);
    matrix("model.embed_tokens.weight".into(), &[v, h])?;
    for l in 0..size.layers {
        let p = format!("model.layers.{l}");
        for (m, o, inp) in [
            ("q_proj", q, h),
            ("k_proj", kv, h),
            ("v_proj", kv, h),
            ("o_proj", h, q),
        ] {
            matrix(format!("{p}.self_attn.{m}.weight"), &[o, inp])?;
        }
        for (m, o, inp) in [("gate_proj", i, h), ("up_proj", i, h), ("down_proj", h, i)] {
            matrix(format!("{p}.mlp.{m}.weight"), &[o, inp])?;
        }
    }
    if !(qwen || size.tie_embeddings) {
        matrix("lm_head.weight".into(), &[v, h])?;
    }
    for l in 0..size.layers {
        let p = format!("model.layers.{l}");
        tensors.push((
            format!("{p}.input_layernorm.weight"),
            Tensor::ones(h, DType::F32, &Device::Cpu)?,
        ));
        tensors.push((
            format!("{p}.post_attention_layernorm.weight"),
            Tensor::ones(h, DType::F32, &Device::Cpu)?,
        ));
        if qwen {
            for (m, o) in [("q_proj", q), ("k_proj", kv), ("v_proj", kv)] {
                tensors.push((
                    format!("{p}.self_attn.{m}.bias"),
                    Tensor::zeros(o, DType::F32, &Device::Cpu)?,
                ));
            }
        }
    }
    tensors.push((
        "model.norm.weight".into(),
        Tensor::ones(h, DType::F32, &Device::Cpu)?,
    ));
    Ok(tensors)
}

/// Writes tensors as safetensors (`{"format": "pt"}`), atomically.
pub fn write_weights(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let metadata = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes =
        safetensors::serialize(tensors.iter().map(|(k, t)| (k.as_str(), t)), Some(metadata))
            .map_err(|e| ModelError::file(path, format!("cannot serialise: {e}")))?;
    write_atomically(path, &bytes)
}

/// A standard normal draw (Box–Muller), so no extra crate is needed for it. Seeded weight
/// initialisation everywhere in Hone draws from it.
pub fn standard_normal(rng: &mut impl rand::Rng) -> f32 {
    let u1: f64 = rng.random_range(f64::EPSILON..1.0);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parameter count a config of `shape`'s size declares.
    fn parameters(shape: Shape) -> usize {
        shape.config().parameter_count()
    }

    #[test]
    fn real_shapes_have_their_models_parameter_counts() {
        // SmolLM2-135M-Instruct: 134,515,008 parameters (transformers' count).
        assert_eq!(parameters(Shape::Smollm2_135m), 134_515_008);
        // Llama-3.2-1B's body with a 49,152-token vocabulary: 1.07B.
        let llama = parameters(Shape::Llama1b) as f64 / 1e9;
        assert!((1.06..1.08).contains(&llama), "{llama}");
        let bench = parameters(Shape::Bench125m) as f64 / 1e6;
        assert!((120.0..130.0).contains(&bench), "{bench}");
        // Llama-3.2-3B: 3,212,749,824; Llama-3.1-8B: 8,030,261,248 (their model cards' counts).
        assert_eq!(parameters(Shape::Llama3b), 3_212_749_824);
        assert_eq!(parameters(Shape::Llama8b), 8_030_261_248);
        for name in SHAPE_NAMES {
            assert!(name.parse::<Shape>().is_ok(), "{name}");
        }
        let err = "llama-7b".parse::<Shape>().unwrap_err();
        assert!(
            err.contains("expected tiny, bench-125m, smollm2-135m, llama-1b, llama-3b, llama-8b"),
            "{err}"
        );
    }
}
