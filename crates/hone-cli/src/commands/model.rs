use std::path::{Path, PathBuf};

use hone_core::model::device::{select, DeviceChoice};
use hone_core::model::tiny::{write_tiny_model, TinyArch, TinySize};
use hone_core::model::LoadedModel;
use serde_json::json;

use crate::output;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Write a tiny random model of the real format (for tests and first steps).
    NewTiny {
        #[arg(long, default_value = "llama")]
        arch: TinyArch,
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Load a model folder and describe it: architecture, size, device.
    Info {
        dir: PathBuf,
        #[arg(long, default_value = "auto")]
        device: DeviceChoice,
        #[arg(long)]
        json: bool,
    },
    /// Download a model by Hugging Face Hub id into the Hub cache; prints its folder.
    Download { hub_id: String },
}

pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::NewTiny { arch, out, seed } => {
            write_tiny_model(arch, TinySize::default(), &out, seed)?;
            println!("wrote a tiny {arch:?} model to {}", out.display());
        }
        Command::Info { dir, device, json } => {
            let lm = load(&dir, device)?;
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
                "device": lm.device.report(),
            });
            if json {
                return output::json(&report);
            }
            println!(
                "{} ({}), {:.1}M parameters",
                dir.display(),
                c.model_type,
                c.parameter_count() as f64 / 1e6
            );
            println!(
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
            println!(
                "chat template: {}",
                if lm.chat_template.is_some() {
                    "yes"
                } else {
                    "no"
                }
            );
            println!(
                "device: {} ({:?}) — {}",
                lm.device.name(),
                lm.device.dtype,
                lm.device.reason
            );
        }
        Command::Download { hub_id } => {
            let dir = hone_core::model::loader::download(&hub_id)?;
            println!("{}", dir.display());
        }
    }
    Ok(())
}

/// Loads the folder on the chosen device, saying on stderr what was chosen and why.
pub fn load(dir: &Path, device: DeviceChoice) -> anyhow::Result<LoadedModel> {
    let device = select(device)?;
    tracing::info!(device = %device.name(), reason = %device.reason, "device");
    Ok(LoadedModel::load(dir, device)?)
}
