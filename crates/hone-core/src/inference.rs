//! Running a model of the workspace: the base model or a version (base + its adapter).
//! Generating candidates for prompts (stored as responses), scoring responses with a
//! reward-model version, and measuring a version's KL to its base all start here.

use std::path::PathBuf;

use hone_model::chat_template::Message;
use hone_model::lora::Adapter;
use hone_model::score::{PromptInput, SequencePair};
use hone_model::LoadedModel;
use hone_store::models::{self, ModelVersion};
use hone_store::prompts::Prompt;
use hone_train::reward::ScoreHead;
use serde::{Deserialize, Serialize};

use crate::finetune::SCORE_FILE;
use crate::{BaseModelId, CoreError, Hone, Result, VersionId};

/// Which model answers: a base model folder, or a version of a project.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ModelRef {
    Base { dir: PathBuf },
    Version { id: VersionId },
}

/// A [`ModelRef`] looked up: the base folder and, for a version, its record and adapter folder.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    pub base_dir: PathBuf,
    pub base_model_id: Option<BaseModelId>,
    pub version: Option<ModelVersion>,
    pub adapter_dir: Option<PathBuf>,
    /// Where it will run (the workspace's choice).
    pub device: hone_model::DeviceChoice,
}

/// A model loaded for inference: the base weights, the version's adapter, and a reward model's
/// score head when the version is one.
pub struct Loaded {
    pub lm: LoadedModel,
    pub adapter: Option<Adapter>,
    pub score_head: Option<ScoreHead>,
}

impl ResolvedModel {
    /// Loads the weights (on the chosen device; a GGUF model's quantized ones on the CPU) and
    /// the adapter.
    pub fn load(&self) -> Result<Loaded> {
        let device = hone_model::device::select(self.device)?;
        let lm = LoadedModel::load_for_inference(&self.base_dir, device)?;
        let (adapter, score_head) = match &self.adapter_dir {
            Some(dir) => {
                let adapter = Adapter::load_peft(
                    "version",
                    dir,
                    &lm.model.linear_specs(),
                    lm.model.device(),
                )?;
                let head_path = dir.join(SCORE_FILE);
                let head = if head_path.is_file() {
                    Some(ScoreHead::load(&head_path, lm.model.device())?)
                } else {
                    None
                };
                (Some(adapter), head)
            }
            None => (None, None),
        };
        Ok(Loaded {
            lm,
            adapter,
            score_head,
        })
    }
}

/// The chat (or raw) form the model is given for a stored prompt.
pub fn prompt_input(lm: &LoadedModel, prompt: &Prompt) -> PromptInput {
    crate::finetune::tokens::prompt_input(lm, &crate::dataset::PromptContent::from(prompt))
}

/// Prompt + completion token ids of `text` answering `prompt`.
pub fn encode_answer(lm: &LoadedModel, prompt: &Prompt, text: &str) -> Result<SequencePair> {
    Ok(lm.encode_pair(&prompt_input(lm, prompt), text)?)
}

/// Messages for a plain-text prompt (what a chat model is shown).
pub fn user_message(text: &str) -> Vec<Message> {
    vec![Message::new("user", text.to_owned())]
}

impl Hone {
    /// Looks up the base folder (and adapter) of `model`.
    pub async fn resolve_model(&self, model: &ModelRef) -> Result<ResolvedModel> {
        match model {
            ModelRef::Base { dir } => {
                let dir = &self
                    .model_folder(dir)
                    .await
                    .map_err(|e| e.for_field("model.dir"))?;
                if !dir.join("config.json").is_file() {
                    return Err(CoreError::invalid(
                        "model.dir",
                        format!("{} is not a model folder (no config.json)", dir.display()),
                    ));
                }
                let location = std::fs::canonicalize(dir)
                    .unwrap_or_else(|_| dir.clone())
                    .display()
                    .to_string();
                let mut conn = self.store().conn().await?;
                let base_model_id = models::list_bases(&mut conn)
                    .await?
                    .into_iter()
                    .find(|b| b.location == location)
                    .map(|b| b.id);
                Ok(ResolvedModel {
                    base_dir: dir.clone(),
                    base_model_id,
                    version: None,
                    adapter_dir: None,
                    device: self.device_choice(),
                })
            }
            ModelRef::Version { id } => {
                let mut conn = self.store().conn().await?;
                let version = models::get_version(&mut conn, *id).await?;
                let base = models::get_base(&mut conn, version.base_model_id).await?;
                let adapter_dir = version.adapter_dir.as_ref().map(|d| self.dir().join(d));
                Ok(ResolvedModel {
                    base_dir: PathBuf::from(&base.location),
                    base_model_id: Some(base.id),
                    version: Some(version),
                    adapter_dir,
                    device: self.device_choice(),
                })
            }
        }
    }
}
