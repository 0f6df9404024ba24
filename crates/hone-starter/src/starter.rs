//! The starter model: a small Llama trained from scratch, by Hone's own full-parameter
//! training, on the generated help-desk corpus. `build` is deterministic — the same spec gives
//! the same bytes on the same machine — and crash-safe: it works in `<out>.partial`, resumes
//! from its last checkpoint there, and renames the finished folder into place.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use hone_core::model::chat_template::ChatTemplate;
use hone_core::model::score::SequencePair;
use hone_core::model::tiny::{
    train_tokenizer, write_model_folder, write_weights, TinyArch, TinySize, CHATML_TEMPLATE,
};
use hone_core::model::{DeviceInfo, LoadedModel};
use hone_core::train::checkpointing::Checkpointing;
use hone_core::train::schedule::Schedule;
use hone_core::train::sft::Sft;
use hone_core::train::trainer::{train, Progress, TrainConfig, Trainable};
use serde::{Deserialize, Serialize};

use crate::corpus::{conversations, Conversation};
use crate::domain::prompt_sets;
use crate::{Result, StarterError};

/// What the starter build is made of; everything that changes the bytes is here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StarterSpec {
    pub hidden: usize,
    pub intermediate: usize,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    /// The BPE tokenizer's target vocabulary.
    pub vocab: usize,
    pub conversations_per_prompt: usize,
    /// Seeds the prompt split, the corpus, the weights and the data order.
    pub seed: u64,
    pub train: TrainConfig,
    /// The demo's prompts per topic, kept out of the corpus.
    pub demo_train_per_topic: usize,
    pub demo_held_out_per_topic: usize,
}

impl StarterSpec {
    /// The model `hone demo` uses (1.8 M parameters; about 85 s to build on 2 cores).
    pub fn standard() -> Self {
        Self {
            hidden: 192,
            intermediate: 512,
            layers: 4,
            heads: 6,
            kv_heads: 2,
            vocab: 640,
            conversations_per_prompt: 4,
            seed: 7,
            train: TrainConfig {
                learning_rate: 3e-3,
                schedule: Schedule::Cosine,
                warmup_steps: 30,
                epochs: 4,
                batch_size: 16,
                gradient_accumulation_steps: 1,
                max_grad_norm: Some(1.0),
                weight_decay: 0.0,
                seed: 7,
                save_steps: 100,
                gradient_checkpointing: Checkpointing::Auto,
            },
            demo_train_per_topic: 8,
            demo_held_out_per_topic: 4,
        }
    }

    /// A smaller model for the quick demo and its test: the same corpus, half the width.
    pub fn small() -> Self {
        Self {
            hidden: 96,
            intermediate: 256,
            layers: 2,
            heads: 4,
            kv_heads: 2,
            train: TrainConfig {
                epochs: 3,
                ..Self::standard().train
            },
            ..Self::standard()
        }
    }

    /// A very small build for tests (seconds).
    pub fn tiny() -> Self {
        Self {
            hidden: 32,
            intermediate: 64,
            layers: 1,
            heads: 2,
            kv_heads: 1,
            vocab: 400,
            conversations_per_prompt: 1,
            train: TrainConfig {
                epochs: 1,
                batch_size: 32,
                warmup_steps: 2,
                save_steps: 4,
                ..Self::standard().train
            },
            ..Self::standard()
        }
    }

    fn size(&self) -> TinySize {
        TinySize {
            hidden: self.hidden,
            intermediate: self.intermediate,
            layers: self.layers,
            heads: self.heads,
            kv_heads: self.kv_heads,
            vocab: self.vocab,
            max_positions: 256,
            tie_embeddings: false,
        }
    }

    /// The corpus this spec trains on.
    pub fn corpus(&self) -> Vec<Conversation> {
        let sets = prompt_sets(
            self.seed,
            self.demo_train_per_topic,
            self.demo_held_out_per_topic,
        );
        conversations(&sets.corpus, self.conversations_per_prompt, self.seed)
    }
}

/// What `build` wrote, saved as `starter.json` beside the model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StarterManifest {
    pub spec: StarterSpec,
    pub parameters: usize,
    pub conversations: usize,
    pub steps: u64,
    pub final_loss: f64,
    /// sha256 of each file of the folder (but this one), by name.
    pub sha256: std::collections::BTreeMap<String, String>,
    pub command: String,
}

pub const MANIFEST_FILE: &str = "starter.json";

/// The manifest of a finished starter folder, if `dir` holds one built from `spec`.
pub fn existing(dir: &Path, spec: &StarterSpec) -> Option<StarterManifest> {
    let manifest: StarterManifest =
        serde_json::from_slice(&std::fs::read(dir.join(MANIFEST_FILE)).ok()?).ok()?;
    (manifest.spec == *spec && dir.join("model.safetensors").is_file()).then_some(manifest)
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StarterError + '_ {
    move |e| StarterError::File {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Builds the starter model into `out` (replacing an older build there), reporting each
/// training step. Resumes an interrupted build of the same spec.
pub fn build(
    out: &Path,
    spec: &StarterSpec,
    cancel: &AtomicBool,
    mut on_progress: impl FnMut(&Progress),
) -> Result<StarterManifest> {
    let partial = PathBuf::from(format!("{}.partial", out.display()));
    std::fs::create_dir_all(&partial).map_err(io_error(&partial))?;

    let corpus = spec.corpus();
    let template = ChatTemplate::new(CHATML_TEMPLATE, "<|endoftext|>", "<|im_end|>")?;
    let texts: Vec<String> = corpus
        .iter()
        .map(|c| {
            let messages = [hone_core::model::chat_template::Message::new(
                "user",
                c.question.clone(),
            )];
            let (prompt, completion) = template.prompt_and_completion(&messages, &c.answer)?;
            Ok(format!("{prompt}{completion}"))
        })
        .collect::<Result<_>>()?;
    let tokenizer = train_tokenizer(texts.iter().map(String::as_str), spec.vocab)?;
    let size = TinySize {
        vocab: tokenizer.get_vocab_size(true),
        ..spec.size()
    };
    write_model_folder(
        TinyArch::Llama,
        size,
        &tokenizer,
        &partial,
        spec.seed,
        "hone-starter",
    )?;

    let lm = LoadedModel::load(
        &partial,
        DeviceInfo::cpu("the starter build trains on the CPU so its bytes are reproducible"),
    )?;
    // Plain causal-LM loss: the whole conversation after its first token.
    let examples: Vec<SequencePair> = texts
        .iter()
        .map(|t| {
            let ids = lm.tokenizer.encode(t, false)?;
            Ok(SequencePair {
                prompt: ids[..1].to_vec(),
                completion: ids[1..].to_vec(),
            })
        })
        .collect::<Result<_>>()?;
    let (model, vars) = lm.model.with_trainable_weights()?;
    let checkpoints = partial.join("checkpoints");
    let mut last_loss = f64::NAN;
    let outcome = train(
        Trainable::Full(&vars),
        &mut Sft {
            model: &model,
            examples: &examples,
        },
        examples.len(),
        &spec.train,
        &checkpoints,
        "hone-starter",
        cancel,
        |p| {
            last_loss = p.loss;
            on_progress(p);
        },
    )?;
    let final_loss = outcome.last.as_ref().map(|p| p.loss).unwrap_or(last_loss);

    let tensors: Vec<(String, candle_core::Tensor)> = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    write_weights(&partial.join("model.safetensors"), &tensors)?;
    std::fs::remove_dir_all(&checkpoints).map_err(io_error(&checkpoints))?;

    let mut sha256 = std::collections::BTreeMap::new();
    for entry in std::fs::read_dir(&partial).map_err(io_error(&partial))? {
        let path = entry.map_err(io_error(&partial))?.path();
        let name = path
            .file_name()
            .expect("a file name")
            .to_string_lossy()
            .into_owned();
        if path.is_file() && name != MANIFEST_FILE {
            sha256.insert(name, hone_core::model::files::sha256_file(&path)?);
        }
    }
    let manifest = StarterManifest {
        spec: spec.clone(),
        parameters: model.config().parameter_count(),
        conversations: corpus.len(),
        steps: outcome.steps,
        final_loss,
        sha256,
        command: format!("hone starter build --out {}", out.display()),
    };
    hone_core::model::files::write_atomically(
        &partial.join(MANIFEST_FILE),
        &serde_json::to_vec_pretty(&manifest).expect("JSON"),
    )?;
    if out.exists() {
        std::fs::remove_dir_all(out).map_err(io_error(out))?;
    }
    std::fs::rename(&partial, out).map_err(io_error(out))?;
    Ok(manifest)
}
