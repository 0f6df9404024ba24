use std::path::{Path, PathBuf};

use hone_core::model::device::{select, DeviceChoice};
use hone_core::model::gguf::import_gguf;
use hone_core::model::tiny::{write_shape_model, write_tiny_model, Shape, TinyArch, TinySize};
use hone_core::model::LoadedModel;
use serde_json::json;

use crate::output;
use crate::output::say;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Write a tiny random model of the real format (for tests and first steps), or with
    /// --shape a random Llama of a real model's size (for benchmarks and the GPU check).
    NewTiny {
        #[arg(long, default_value = "llama")]
        arch: TinyArch,
        /// tiny, bench-125m, smollm2-135m or llama-1b (a Llama; --arch is then ignored).
        #[arg(long)]
        shape: Option<Shape>,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Load a model (a folder or a .gguf file) and describe it: architecture, size, device.
    Info {
        dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Download a model by Hugging Face Hub id into the Hub cache; prints its folder.
    Download { hub_id: String },
    /// Write a model folder as one GGUF file for llama.cpp, Ollama and LM Studio.
    ToGguf {
        dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// f16 (default), f32, q8_0, q4_0 or q4_k.
        #[arg(long, default_value = "f16")]
        quant: hone_core::model::gguf::GgufQuant,
        #[arg(long)]
        json: bool,
    },
    /// Turn a GGUF file (LM Studio's, Ollama's, llama.cpp's) into a Hugging Face model folder:
    /// config, f32 safetensors, tokenizer, chat template, and the source's sha256.
    ImportGguf {
        file: PathBuf,
        /// The folder to create (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(workspace: Option<&Path>, command: Command) -> anyhow::Result<()> {
    match command {
        Command::NewTiny {
            shape: Some(shape),
            out,
            seed,
            ..
        } => {
            let folder = out.clone();
            tokio::task::spawn_blocking(move || write_shape_model(shape, &folder, seed)).await??;
            say!(
                "wrote a random Llama of shape {shape:?} to {}",
                out.display()
            );
        }
        Command::NewTiny {
            arch,
            shape: None,
            out,
            seed,
        } => {
            write_tiny_model(arch, TinySize::default(), &out, seed)?;
            say!("wrote a tiny {arch:?} model to {}", out.display());
        }
        Command::Info { dir, json } => {
            let lm = load(workspace, &dir, super::device(), true)?;
            let c = lm.model.config();
            let report = json!({
                "folder": dir,
                "model_type": c.model_type,
                "parameters": c.parameter_count(),
                "layers": c.num_hidden_layers,
                "hidden_size": c.hidden_size,
                "heads": c.num_attention_heads,
                "kv_heads": c.num_key_value_heads,
                "vocab_size": c.vocab_size,
                "tied_embeddings": c.tie_word_embeddings,
                "chat_template": lm.chat_template.is_some(),
                "quantized": lm.model.is_quantized(),
                "device": lm.device.report(),
            });
            if json {
                return output::json(&report);
            }
            say!(
                "{} ({}), {:.1}M parameters",
                dir.display(),
                c.model_type,
                c.parameter_count() as f64 / 1e6
            );
            say!(
                "{} layers, hidden {}, {} heads ({} key/value), vocabulary {}{}",
                c.num_hidden_layers,
                c.hidden_size,
                c.num_attention_heads,
                c.num_key_value_heads,
                c.vocab_size,
                if c.tie_word_embeddings {
                    ", tied embeddings"
                } else {
                    ""
                }
            );
            say!(
                "chat template: {}",
                if lm.chat_template.is_some() {
                    "yes"
                } else {
                    "no"
                }
            );
            say!(
                "device: {} — {}, base weights in {} — {}",
                lm.device.name,
                lm.device.description,
                if lm.model.is_quantized() {
                    "the GGUF file's quantized blocks"
                } else {
                    hone_core::model::device::dtype_name(lm.device.dtype)
                },
                lm.device.reason
            );
        }
        Command::ImportGguf { file, out, json } => {
            let report = tokio::task::spawn_blocking(move || import_gguf(&file, &out))
                .await
                .expect("the import thread does not panic")?;
            if json {
                return output::json(&report);
            }
            let types: Vec<String> = report
                .source
                .tensor_types
                .iter()
                .map(|(t, n)| format!("{n} {t}"))
                .collect();
            say!(
                "imported {} ({}, {:.1}M parameters; tensors {}) into {}",
                report.source.file_name,
                report.source.architecture,
                report.parameters as f64 / 1e6,
                types.join(", "),
                report.out.display()
            );
            say!("source sha256 {}", report.source.sha256);
        }
        Command::ToGguf {
            dir,
            out,
            quant,
            json,
        } => {
            let name = dir
                .canonicalize()
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "model".into());
            let report = tokio::task::spawn_blocking(move || {
                hone_core::model::gguf::export_model_gguf(&dir, &out, quant, &name)
            })
            .await
            .expect("the export thread does not panic")?;
            if json {
                return output::json(&report);
            }
            say!(
                "wrote {} ({} tensors, {:.1} MB)",
                report.file.display(),
                report.tensors,
                report.bytes as f64 / 1e6
            );
        }
        Command::Download { hub_id } => {
            let dir = hone_core::model::loader::download(&hub_id)?;
            say!("{}", dir.display());
        }
    }
    Ok(())
}

/// Loads a model folder, or a GGUF file through the workspace's import cache, on the chosen
/// device, saying on stderr what was chosen and why. `inference`: from the GGUF file's
/// quantized weights where [`LoadedModel::load_for_inference`] would.
pub fn load(
    workspace: Option<&Path>,
    path: &Path,
    device: DeviceChoice,
    inference: bool,
) -> anyhow::Result<LoadedModel> {
    let (workspace, _) = hone_core::resolve_workspace_dir(workspace)?;
    let dir = hone_core::model_files::model_folder_in(&workspace, path)?;
    let device = select(device)?;
    tracing::info!(device = %device.name(), reason = %device.reason, "device");
    let lm = if inference {
        LoadedModel::load_for_inference(&dir, device)?
    } else {
        LoadedModel::load(&dir, device)?
    };
    tracing::info!(quantized = lm.model.is_quantized(), "weights");
    Ok(lm)
}
