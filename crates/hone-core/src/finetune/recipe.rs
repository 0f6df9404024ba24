//! Recipes and plans.

use std::path::PathBuf;

use hone_model::lora::{LoraConfig, ALL_LINEAR};
use hone_train::losses::DpoLossType;
use hone_train::token_losses::NegativeTerm;
use hone_train::token_weights::{EditWeights, SpanWeights};
use hone_train::trainer::TrainConfig;
use serde::{Deserialize, Serialize};

use crate::dataset::{SnapshotFilter, TrainingData};
use crate::{CoreError, Result, VersionId};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// From what the feedback holds: SFT on demonstrations and edits, then DPO on the pairs;
    /// KTO when there are unpaired verdicts but no pairs.
    Auto,
    Sft,
    Dpo,
    Kto,
    /// A reward model: LoRA + a scalar head, Bradley–Terry on the pairs.
    #[serde(rename = "rm")]
    RewardModel,
    /// RLHF: PPO against a reward-model version (`Recipe::reward_model`) on the train prompts.
    Ppo,
    /// RLHF from scratch: a reward model on the pairs (its own version), then PPO against it
    /// (`Hone::rlhf`).
    Rlhf,
}

/// What one stage of a plan trains: the methods [`Method::Auto`] and [`Method::Rlhf`] expand
/// into, and the others stand for. Stored and sent under the names `Method` uses.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageMethod {
    Sft,
    Dpo,
    Kto,
    #[serde(rename = "rm")]
    RewardModel,
    Ppo,
}

impl StageMethod {
    pub const ALL: &'static [StageMethod] = &[
        StageMethod::Sft,
        StageMethod::Dpo,
        StageMethod::Kto,
        StageMethod::RewardModel,
        StageMethod::Ppo,
    ];

    /// The name in version methods (`sft+dpo`), metric names (`dpo/loss`) and stage folders.
    pub fn as_str(self) -> &'static str {
        Method::from(self).as_str()
    }
}

impl From<StageMethod> for Method {
    fn from(stage: StageMethod) -> Self {
        match stage {
            StageMethod::Sft => Method::Sft,
            StageMethod::Dpo => Method::Dpo,
            StageMethod::Kto => Method::Kto,
            StageMethod::RewardModel => Method::RewardModel,
            StageMethod::Ppo => Method::Ppo,
        }
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "sft" => Ok(Self::Sft),
            "dpo" => Ok(Self::Dpo),
            "kto" => Ok(Self::Kto),
            "rm" => Ok(Self::RewardModel),
            "ppo" => Ok(Self::Ppo),
            "rlhf" => Ok(Self::Rlhf),
            other => Err(format!(
                "unknown method {other:?}; expected auto, sft, dpo, kto, rm, ppo or rlhf"
            )),
        }
    }
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Sft => "sft",
            Method::Dpo => "dpo",
            Method::Kto => "kto",
            Method::RewardModel => "rm",
            Method::Ppo => "ppo",
            Method::Rlhf => "rlhf",
        }
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraSpec {
    pub r: usize,
    pub alpha: f64,
    pub dropout: f64,
    pub target_modules: Vec<String>,
    pub use_rslora: bool,
}

impl Default for LoraSpec {
    fn default() -> Self {
        Self {
            r: 16,
            alpha: 32.0,
            dropout: 0.05,
            target_modules: ALL_LINEAR.map(String::from).to_vec(),
            use_rslora: false,
        }
    }
}

impl LoraSpec {
    pub fn config(&self) -> Result<LoraConfig> {
        let targets: Vec<&str> = self.target_modules.iter().map(String::as_str).collect();
        LoraConfig::new(self.r, self.alpha, self.dropout, &targets, self.use_rslora)
            .map_err(|e| CoreError::invalid("lora", e.to_string()))
    }
}

/// What the frozen base weights are during training. LoRA's matrices, their gradients and
/// the optimizer's moments are f32 either way.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BaseWeights {
    /// Dense, in the device's dtype (f32 on the CPU, bf16/f16 on a GPU).
    #[default]
    Dense,
    /// The quantized blocks of the GGUF file the model was imported from (QLoRA-style): a
    /// quarter to an eighth of f32's memory; each matrix is dequantized only for its product.
    Quantized,
}

impl std::str::FromStr for BaseWeights {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "dense" => Ok(Self::Dense),
            "quantized" => Ok(Self::Quantized),
            other => Err(format!(
                "unknown base weights {other:?}; expected dense or quantized"
            )),
        }
    }
}

/// Everything a fine-tune needs. Serialised into its job, so an interrupted job resumes with
/// exactly the same recipe.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    pub method: Method,
    /// The base model's Hugging Face folder.
    pub model_dir: PathBuf,
    /// Continue from this version's adapter (which is then also the DPO/KTO reference).
    pub parent_version: Option<VersionId>,
    pub lora: LoraSpec,
    pub sft: TrainConfig,
    pub preference: TrainConfig,
    pub beta: f64,
    pub dpo_loss: DpoLossType,
    pub label_smoothing: f64,
    pub filter: SnapshotFilter,
    /// Defaults to v1, v2, … in the project.
    pub version_name: Option<String>,
    /// PPO: the reward-model version to optimise against.
    pub reward_model: Option<VersionId>,
    pub ppo: hone_train::ppo::PpoSettings,
    /// PPO iterations (each samples one response per prompt of a batch).
    pub ppo_iterations: usize,
    pub ppo_batch_size: usize,
    /// Evaluate the new version on the held-out data right after training (`evaluate_version`).
    #[serde(default = "yes")]
    pub evaluate: bool,
    #[serde(default)]
    pub base_weights: BaseWeights,
    #[serde(default)]
    pub token_level: TokenLevel,
}

/// Token-level feedback: which judgments train through losses on the exact tokens they point
/// at, instead of whole-answer rows, and how much each token counts (`hone_train::
/// token_weights`). Off by default until the ablation (`bench/token-level.sh`) shows it at
/// least as good as the whole-answer mapping.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct TokenLevel {
    /// An edit trains the SFT stage on the tokens the expert changed (likelihood on what they
    /// added, unlikelihood on what they removed) instead of the whole corrected answer.
    #[serde(default)]
    pub edits: bool,
    /// A marked answer trains the SFT stage on its marked tokens (unlikelihood on those marked
    /// wrong, likelihood on those marked good), instead of being a whole-answer KTO example
    /// (which the auto recipe uses only without pairs).
    #[serde(default)]
    pub spans: bool,
    /// An edit's preference pair (correction ≻ original) compares only the changed tokens
    /// (token-level DPO).
    #[serde(default)]
    pub edit_pairs: bool,
    #[serde(default)]
    pub edit_weights: EditWeights,
    #[serde(default)]
    pub span_weights: SpanWeights,
    /// The loss against a token the expert removed or marked: unlikelihood (the default), or
    /// NPO's bounded term anchored to the reference.
    #[serde(default)]
    pub negative: NegativeTerm,
}

impl TokenLevel {
    /// Whether any judgment trains through token-level losses.
    pub fn any(&self) -> bool {
        self.edits || self.spans || self.edit_pairs
    }

    /// Refuses a weight outside 0–100, naming it under `at` (`recipe.token_level`, …).
    pub fn validate(&self, at: &str) -> crate::Result<()> {
        for (field, weight) in [
            ("edit_weights.added", self.edit_weights.added),
            ("edit_weights.kept", self.edit_weights.kept),
            ("edit_weights.removed", self.edit_weights.removed),
            ("span_weights.inside", self.span_weights.inside),
            ("span_weights.outside", self.span_weights.outside),
            ("span_weights.good", self.span_weights.good),
        ] {
            // A weight is how much a token counts in its direction; the direction is the kind's.
            if !weight.is_finite() || !(0.0..=100.0).contains(&weight) {
                return Err(crate::CoreError::invalid(
                    format!("{at}.{field}"),
                    format!("{weight} is not a weight from 0 to 100"),
                ));
            }
        }
        if let crate::train::token_losses::NegativeTerm::Npo { beta } = self.negative {
            if !beta.is_finite() || beta <= 0.0 {
                return Err(crate::CoreError::invalid(
                    format!("{at}.negative.beta"),
                    format!("{beta} is not a positive number"),
                ));
            }
        }
        Ok(())
    }
}

fn yes() -> bool {
    true
}

impl Recipe {
    /// TRL-like defaults for a small model on a laptop.
    pub fn new(method: Method, model_dir: PathBuf) -> Self {
        Self {
            method,
            model_dir,
            parent_version: None,
            lora: LoraSpec::default(),
            sft: TrainConfig {
                learning_rate: 2e-4,
                epochs: 3,
                batch_size: 4,
                ..TrainConfig::default()
            },
            preference: TrainConfig {
                learning_rate: 5e-5,
                epochs: 1,
                batch_size: 4,
                ..TrainConfig::default()
            },
            beta: 0.1,
            dpo_loss: DpoLossType::Sigmoid,
            label_smoothing: 0.0,
            filter: SnapshotFilter::default(),
            version_name: None,
            reward_model: None,
            ppo: hone_train::ppo::PpoSettings {
                learning_rate: 1e-4,
                max_new_tokens: 48,
                ..Default::default()
            },
            ppo_iterations: 20,
            ppo_batch_size: 8,
            evaluate: true,
            base_weights: BaseWeights::Dense,
            token_level: TokenLevel::default(),
        }
    }

    /// The stages this recipe runs on `data`, in order.
    pub fn stages(&self, data: &TrainingData) -> Vec<StageMethod> {
        match self.method {
            Method::Auto => {
                let mut stages = Vec::new();
                let marked = self.token_level.spans && !data.spans.is_empty();
                if !data.sft.is_empty() || marked {
                    stages.push(StageMethod::Sft);
                }
                // A marked answer's KTO row gives way to its token-level row.
                let replaced = match marked {
                    true => data.kto_rows_replaced_by_spans(),
                    false => Default::default(),
                };
                let whole_answer_kto = data
                    .kto
                    .iter()
                    .any(|k| !replaced.contains(&(k.response_id, k.label)));
                if !data.preferences.is_empty() {
                    stages.push(StageMethod::Dpo);
                } else if whole_answer_kto {
                    stages.push(StageMethod::Kto);
                }
                stages
            }
            Method::Rlhf => vec![StageMethod::RewardModel, StageMethod::Ppo],
            Method::Sft => vec![StageMethod::Sft],
            Method::Dpo => vec![StageMethod::Dpo],
            Method::Kto => vec![StageMethod::Kto],
            Method::RewardModel => vec![StageMethod::RewardModel],
            Method::Ppo => vec![StageMethod::Ppo],
        }
    }
}

/// One stage of a plan.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanStage {
    pub method: StageMethod,
    pub examples: usize,
    pub steps: u64,
    pub tokens: usize,
    /// A rough estimate from the model's size and this machine class (see `estimate`).
    pub estimated_seconds: f64,
    /// Whether the stage recomputes each layer in the backward: asked for by the recipe's
    /// `gradient_checkpointing`, or turned on by the plan when memory needs it.
    #[serde(default)]
    pub gradient_checkpointing: bool,
    /// What one step of this stage adds to the loaded model and adapter, in MiB: its largest
    /// batch's kept activations and logits, checkpointing counted (`finetune::memory`). Unlike
    /// the plan's `estimated_memory_mib` it leaves out the process, so two plans' steps
    /// compare exactly.
    #[serde(default)]
    pub step_memory_mib: f64,
}

/// The device a plan runs on, as the plan shows it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanDevice {
    /// `cpu`, `cuda:N` or `metal`.
    pub name: String,
    /// The GPU's name and compute capability, or the CPU's threads.
    pub description: String,
    /// The frozen base weights' dtype: `f32` on the CPU, `bf16` (or `f16`) on a GPU. LoRA
    /// weights, gradients, optimiser state and the loss are f32 everywhere.
    pub dtype: String,
    /// The device's memory (the machine's RAM for the CPU), when known.
    pub memory_mib: Option<f64>,
    /// Why this device: asked for, or what `auto` found.
    pub reason: String,
}

impl Default for PlanDevice {
    /// What plans made before devices were shown ran on.
    fn default() -> Self {
        Self {
            name: "cpu".into(),
            description: "CPU".into(),
            dtype: "f32".into(),
            memory_mib: None,
            reason: String::new(),
        }
    }
}

impl From<&hone_model::DeviceInfo> for PlanDevice {
    fn from(info: &hone_model::DeviceInfo) -> Self {
        let r = info.report();
        Self {
            name: r.device,
            description: r.description,
            dtype: r.dtype,
            memory_mib: r.memory_mib,
            reason: r.reason,
        }
    }
}

/// What a fine-tune will do, shown before it starts.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub stages: Vec<PlanStage>,
    pub parameters: usize,
    pub trainable_parameters: usize,
    /// The run's peak memory in MiB: the process, base weights (in the device's dtype),
    /// adapter with its gradients and optimiser state (f32), a batch's activations and
    /// logits (`finetune::memory`).
    pub estimated_memory_mib: f64,
    /// Rows the snapshot holds that no stage uses (e.g. KTO rows when there are pairs).
    pub unused_rows: usize,
    pub notes: Vec<String>,
    #[serde(default)]
    pub device: PlanDevice,
}
