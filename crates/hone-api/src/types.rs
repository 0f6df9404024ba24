//! Arguments and results of the commands that are not hone-core types themselves.

use std::path::PathBuf;

use hone_core::finetune::{Method, Recipe, VersionFormat};
use hone_core::inference::ModelRef;
use hone_core::model::gguf::GgufQuant;
use hone_core::store::projects::{NamedItem, SpanLabel};
use hone_core::{
    FlagId, JobId, JudgmentId, JudgmentKind, ProjectId, PromptId, ResponseId, Split, VersionId,
};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct WorkspaceInfo {
    pub dir: PathBuf,
    pub projects: usize,
    /// Where `build_starter` puts the starter model, and whether it is built.
    pub starter_dir: PathBuf,
    pub starter_built: bool,
}

/// What the UI shows about a model folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct ModelInfo {
    /// The model's folder (for a GGUF file, its imported copy in the workspace).
    pub dir: PathBuf,
    /// The GGUF file the folder was imported from, if it was.
    pub gguf_file: Option<PathBuf>,
    pub architecture: String,
    pub parameters: usize,
    pub hidden_size: usize,
    pub layers: usize,
    pub vocab_size: usize,
    pub max_positions: usize,
    pub has_chat_template: bool,
    /// `cpu`, `cuda:N` or `metal`.
    pub device: String,
    /// The GPU's name and compute capability, or the CPU's threads.
    pub device_description: String,
    /// The base weights' dtype there: f32 on the CPU, bf16 or f16 on a GPU.
    pub device_dtype: String,
    pub device_reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
pub struct JobStarted {
    pub job_id: u64,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ProjectArgs {
    pub project_id: ProjectId,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct GuidelinesArgs {
    pub project_id: ProjectId,
    pub text: String,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct NamedItemArgs {
    pub project_id: ProjectId,
    pub item: NamedItem,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct SpanLabelArgs {
    pub project_id: ProjectId,
    pub item: SpanLabel,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct DirArgs {
    pub dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ListPromptsArgs {
    pub project_id: ProjectId,
    #[serde(default)]
    pub split: Option<Split>,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ImportTextArgs {
    pub project_id: ProjectId,
    /// Its extension picks the format (.jsonl, .csv, .txt).
    pub file_name: String,
    pub content: String,
    pub split: Split,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct SetSplitArgs {
    pub prompt_id: PromptId,
    pub split: Split,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct PromptArgs {
    pub prompt_id: PromptId,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct NextItemArgs {
    pub project_id: ProjectId,
    pub annotator: String,
    pub kind: JudgmentKind,
    /// Response ids of units to skip (the one on screen, while the next is prefetched).
    #[serde(default)]
    #[ts(optional)]
    pub exclude: Option<Vec<Vec<ResponseId>>>,
}

/// `queue_progress`: one kind's labeling progress in a project (a lead's view).
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct QueueProgressArgs {
    pub project_id: ProjectId,
    pub kind: JudgmentKind,
}

/// `add_user`: a team account (owners only).
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct AddUserArgs {
    pub name: String,
    pub role: hone_core::accounts::Role,
    /// Make the judgments already made under this name the new account's.
    #[serde(default)]
    #[ts(optional)]
    pub claim: Option<bool>,
}

/// `add_member`, `remove_member`: an account joining or leaving a project.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct MemberArgs {
    pub project_id: ProjectId,
    pub name: String,
}

/// `new_token`, `revoke_user`.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct UserArgs {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct JudgmentArgs {
    pub judgment_id: JudgmentId,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct FlagArgs {
    pub flag_id: FlagId,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct DefaultRecipeArgs {
    pub method: Method,
    pub model_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct FineTuneArgs {
    pub project_id: ProjectId,
    pub recipe: Recipe,
}

/// A job of this session (`JobStarted::job_id`).
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct JobArgs {
    pub job_id: u64,
}

/// A fine-tune job recorded in the workspace (`Job::id`).
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct StoredJobArgs {
    pub job_id: JobId,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ListJobsArgs {
    #[serde(default)]
    pub project_id: Option<ProjectId>,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ExportVersionArgs {
    pub version_id: VersionId,
    pub format: VersionFormat,
    pub out: PathBuf,
    /// The element type of a `gguf` export; f16 when absent.
    #[serde(default)]
    #[ts(optional)]
    pub quant: Option<GgufQuant>,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ArenaArgs {
    pub project_id: ProjectId,
    pub a: ModelRef,
    pub b: ModelRef,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct DownloadArgs {
    /// A Hub id such as `HuggingFaceTB/SmolLM2-360M-Instruct`.
    pub repo_id: String,
}

/// What the UI remembers between sessions: in the desktop app in tauri-plugin-store
/// (`settings.json`, beside the last workspace), in a browser in its local storage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct UiSettings {
    /// `system`, `light` or `dark`.
    pub theme: String,
    /// Labeling action → key, for the actions the user rebound (the rest keep their defaults).
    pub shortcuts: std::collections::BTreeMap<String, String>,
    /// The desktop app's workspace folder (opened at the next start); `None` in a browser.
    pub workspace: Option<PathBuf>,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            theme: "system".into(),
            shortcuts: Default::default(),
            workspace: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct VersionArgs {
    pub version_id: VersionId,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct PromoteArgs {
    pub version_id: VersionId,
    /// Promote even when the version regresses against its parent.
    #[serde(default)]
    pub force: bool,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct RetrainArgs {
    pub version_id: VersionId,
    pub exclusions: hone_core::retrain::Exclusions,
    #[serde(default)]
    #[ts(optional)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct SuggestionArgs {
    pub project_id: ProjectId,
    /// The answers on screen (one prompt's).
    pub response_ids: Vec<ResponseId>,
    /// A local judge model to ask instead of the latest reward model.
    #[serde(default)]
    #[ts(optional)]
    pub judge: Option<hone_core::inference::ModelRef>,
}

#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ProjectSettingsArgs {
    pub project_id: ProjectId,
    /// Every setting but the name (which is ignored): overlap, queue order, gold rate, scale, …
    pub settings: hone_core::store::projects::NewProject,
}

/// `set_project_token_level`: a project's token-level feedback settings.
#[derive(Debug, Clone, Deserialize, ts_rs::TS)]
pub struct ProjectTokenLevelArgs {
    pub project_id: ProjectId,
    pub settings: hone_core::finetune::TokenLevel,
}
