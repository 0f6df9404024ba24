//! Running a fine-tune as a job: the snapshot is frozen first, the stages run on a blocking
//! thread (training is CPU-bound), progress comes back over a channel and is written as the
//! job's progress and metric curves, and the result becomes a model version.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use hone_model::device::{select, DeviceChoice};
use hone_model::lora::Adapter;
use hone_model::LoadedModel;
use hone_store::jobs::{self, MetricPoint};
use hone_store::models::{self, ModelVersion, NewBaseModel, NewModelVersion, VersionFile};
use hone_store::JobState;
use hone_train::checkpointing::Checkpointing;
use hone_train::ppo::{Ppo, RewardModel};
use hone_train::preference::{Dpo, DpoSettings, Kto, KtoSettings};
use hone_train::reward::{RewardModelTraining, ScoreHead, SCORE_KEY};
use hone_train::sft::Sft;
use hone_train::trainer::save_vars;
use hone_train::trainer::{train, Progress, TrainConfig};
use hone_train::{Metrics, TrainError};
use serde::{Deserialize, Serialize};
use sha2::Digest;

use super::recipe::{
    estimate_seconds, BaseWeights, Method, Plan, PlanDevice, PlanStage, Recipe, Speed,
};
use super::tokens::{tokenize, TokenizedData};
use crate::dataset::TrainingData;
use crate::{CoreError, Hone, Result};

/// What a running fine-tune reports.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FineTuneEvent {
    Planned {
        plan: Plan,
    },
    StageStarted {
        index: usize,
        method: Method,
        examples: usize,
        steps: u64,
    },
    Progress {
        method: Method,
        progress: Progress,
    },
    /// The new version is being evaluated on the held-out data (after training).
    Evaluating {
        version_id: i64,
    },
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuneOutcome {
    pub job_id: i64,
    /// With its `eval/` metrics when it was evaluated.
    pub version: ModelVersion,
    pub plan: Plan,
    /// The automatic evaluation against the parent (`Recipe::evaluate`); `None` when it was
    /// off or failed (the version is kept either way; `evaluate_version` can run it again).
    pub evaluation: Option<crate::version_eval::VersionEvaluation>,
    /// The process's peak resident memory while it trained (MiB; Linux only), to set beside
    /// the plan's `estimated_memory_mib`. The evaluation after it is not counted.
    pub peak_memory_mib: Option<f64>,
}

/// What the training thread hands back.
struct Trained {
    plan: Plan,
    /// Each stage's final metrics.
    finals: Vec<(Method, Metrics)>,
    files: Vec<VersionFile>,
    peak_memory_mib: Option<f64>,
}

/// A reward-model version's scalar head, beside its adapter.
pub const SCORE_FILE: &str = "score.safetensors";

/// The job's parameters: the recipe and the snapshot it trains on.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobParams {
    recipe: Recipe,
    snapshot_id: i64,
    /// The train prompts PPO samples from, frozen with the job (as the snapshot freezes the
    /// judgments) so a resumed run sees the same ones; `None` in jobs made before.
    #[serde(default)]
    prompt_ids: Option<Vec<i64>>,
}

/// Each example's (prompt, longest completion) in tokens, for the stages that train on
/// examples (a pair's completion is the longer of chosen and rejected).
fn example_lengths(method: Method, tokens: &TokenizedData) -> Vec<(usize, usize)> {
    match method {
        Method::Sft => tokens
            .sft
            .iter()
            .map(|p| (p.prompt.len(), p.completion.len()))
            .collect(),
        Method::Kto => tokens
            .kto
            .iter()
            .map(|e| (e.prompt.len(), e.completion.len()))
            .collect(),
        Method::Dpo | Method::RewardModel | Method::Auto | Method::Rlhf => tokens
            .pairs
            .iter()
            .map(|p| (p.prompt.len(), p.chosen.len().max(p.rejected.len())))
            .collect(),
        Method::Ppo => Vec::new(),
    }
}

/// The training-token equivalents a stage computes: every batch's rows padded to its longest
/// (in the order the run draws them), and for DPO and KTO the reference pass made once before
/// training (a forward without backward: half a training token's work per token).
fn computed_tokens(method: Method, tokens: &TokenizedData, config: &TrainConfig) -> usize {
    let longest: Vec<usize> = example_lengths(method, tokens)
        .iter()
        .map(|(p, c)| p + c)
        .collect();
    let padded = config.padded_tokens(&longest, rows_per_example(method));
    match method {
        Method::Sft | Method::RewardModel => padded,
        Method::Dpo => {
            let pair_tokens: usize = tokens
                .pairs
                .iter()
                .map(|p| 2 * p.prompt.len() + p.chosen.len() + p.rejected.len())
                .sum();
            padded + pair_tokens / 2
        }
        Method::Kto => padded + longest.iter().sum::<usize>() / 2,
        Method::Ppo | Method::Auto | Method::Rlhf => 0,
    }
}

/// The largest batch a stage runs with a graph: its rows (a pair's chosen and rejected; KTO's
/// KL rows run without one), the longest row and the longest completion.
fn batch_shape(
    method: Method,
    recipe: &Recipe,
    tokens: &TokenizedData,
) -> super::memory::BatchShape {
    let (rows, lengths) = match method {
        Method::Sft => (
            recipe.sft.batch_size.min(tokens.sft.len()),
            example_lengths(method, tokens),
        ),
        Method::Kto => (
            recipe.preference.batch_size.min(tokens.kto.len()),
            example_lengths(method, tokens),
        ),
        Method::Ppo => (
            recipe.ppo_batch_size,
            tokens
                .prompts
                .iter()
                .map(|p| (p.len(), recipe.ppo.max_new_tokens))
                .collect(),
        ),
        Method::Dpo | Method::RewardModel | Method::Auto | Method::Rlhf => (
            2 * recipe.preference.batch_size.min(tokens.pairs.len()),
            example_lengths(method, tokens),
        ),
    };
    let (all, completion) = lengths.iter().fold((0, 0), |(all, completion), (p, c)| {
        (all.max(p + c), completion.max(*c))
    });
    super::memory::BatchShape {
        rows,
        tokens: all,
        completion_tokens: completion,
    }
}

/// Sequence rows one example puts through the model per epoch: a pair's chosen and rejected,
/// KTO's completion and its mismatched KL row.
fn rows_per_example(method: Method) -> usize {
    match method {
        Method::Sft => 1,
        _ => 2,
    }
}

const MIB: f64 = 1024.0 * 1024.0;

fn plan_for(
    recipe: &Recipe,
    data: &TrainingData,
    tokens: &TokenizedData,
    lm: &LoadedModel,
    speed: Speed,
    runtime_bytes: f64,
) -> Plan {
    let r = recipe.lora.r;
    let trainable: usize = lm
        .model
        .linear_specs()
        .iter()
        .filter(|s| recipe.lora.target_modules.iter().any(|t| t == s.module))
        .map(|s| r * (s.in_dim + s.out_dim))
        .sum();
    let path = if lm.model.is_quantized() {
        super::memory::StepPath::QuantizedBase
    } else if hone_model::fused::runs_on(&lm.device.device, lm.device.dtype) {
        super::memory::StepPath::Fused
    } else {
        super::memory::StepPath::Composed
    };
    tracing::debug!(
        runtime_mib = runtime_bytes / (1024.0 * 1024.0),
        "the process's memory before loading the model"
    );
    let peak = |batch, checkpointed| {
        super::memory::peak_bytes(
            runtime_bytes,
            lm.model.config(),
            lm.model.weight_bytes(),
            trainable,
            super::memory::StepKind {
                path,
                activation_bytes: lm.device.dtype.size_in_bytes(),
                checkpointed,
            },
            batch,
        )
    };
    let device = PlanDevice::from(&lm.device);
    let mut notes = Vec::new();
    // Gradient checkpointing where the recipe asks for it, or (auto) where the step would
    // not fit in the device's memory without it.
    let mut checkpointing = |method: Method, config: &TrainConfig| -> bool {
        let needed = peak(batch_shape(method, recipe, tokens), false) / MIB;
        let (on, note) =
            super::memory::checkpointing(config.gradient_checkpointing, needed, device.memory_mib);
        if let Some(note) = note {
            notes.push(format!("{} on {}: {note}", method.as_str(), device.name));
        }
        on
    };

    let parameters = lm.model.config().parameter_count();
    let mut stages = Vec::new();
    let mut used_rows = 0;
    for method in recipe.stages(data) {
        let (examples, tokens_per_epoch, config) = match method {
            Method::Sft => (
                tokens.sft.len(),
                tokens
                    .sft
                    .iter()
                    .map(|p| p.prompt.len() + p.completion.len())
                    .sum::<usize>(),
                &recipe.sft,
            ),
            Method::Dpo => (
                tokens.pairs.len(),
                tokens
                    .pairs
                    .iter()
                    .map(|p| 2 * p.prompt.len() + p.chosen.len() + p.rejected.len())
                    .sum(),
                &recipe.preference,
            ),
            Method::Kto => (
                tokens.kto.len(),
                tokens
                    .kto
                    .iter()
                    .map(|e| 2 * (e.prompt.len() + e.completion.len()))
                    .sum(),
                &recipe.preference,
            ),
            Method::RewardModel => (
                tokens.pairs.len(),
                tokens
                    .pairs
                    .iter()
                    .map(|p| 2 * p.prompt.len() + p.chosen.len() + p.rejected.len())
                    .sum(),
                &recipe.preference,
            ),
            Method::Ppo => {
                // Each iteration: sampling, 3 scoring passes and ppo_epochs updates per response.
                let per_prompt = tokens.prompts.iter().map(Vec::len).sum::<usize>()
                    / tokens.prompts.len().max(1)
                    + recipe.ppo.max_new_tokens;
                let total_tokens = recipe.ppo_iterations
                    * recipe.ppo_batch_size
                    * per_prompt
                    * (4 + recipe.ppo.ppo_epochs);
                stages.push(PlanStage {
                    method,
                    examples: tokens.prompts.len(),
                    steps: if tokens.prompts.is_empty() {
                        0
                    } else {
                        recipe.ppo_iterations as u64
                    },
                    tokens: total_tokens,
                    estimated_seconds: estimate_seconds(parameters, total_tokens, speed),
                    gradient_checkpointing: false,
                });
                continue;
            }
            Method::Auto | Method::Rlhf => unreachable!("auto and rlhf expand into stages"),
        };
        used_rows += match method {
            Method::Sft => data.sft.len(),
            Method::Dpo | Method::RewardModel => data.preferences.len(),
            _ => data.kto.len(),
        };
        let total_tokens = tokens_per_epoch * config.epochs;
        let checkpointed = examples > 0 && checkpointing(method, config);
        stages.push(PlanStage {
            method,
            examples,
            gradient_checkpointing: checkpointed,
            steps: if examples == 0 {
                0
            } else {
                config.total_steps(examples)
            },
            tokens: total_tokens,
            estimated_seconds: estimate_seconds(
                parameters,
                computed_tokens(method, tokens, config),
                speed,
            ) * if checkpointed {
                super::recipe::CHECKPOINTING_TIME_FACTOR
            } else {
                1.0
            } + super::recipe::row_overhead_seconds(
                examples * rows_per_example(method) * config.epochs,
                lm.model.config().num_hidden_layers,
                speed,
            ),
        });
    }
    // The run's peak is its most demanding stage's; with no data, the model and adapter alone.
    let memory = stages
        .iter()
        .filter(|s| s.examples > 0)
        .map(|s| {
            peak(
                batch_shape(s.method, recipe, tokens),
                s.gradient_checkpointing,
            )
        })
        .fold(
            peak(
                super::memory::BatchShape {
                    rows: 0,
                    tokens: 0,
                    completion_tokens: 0,
                },
                false,
            ),
            f64::max,
        );
    if let Some(available) = device.memory_mib {
        let needed = memory / MIB;
        if needed > available {
            notes.push(format!(
                "the estimated {needed:.0} MiB exceed {}'s {available:.0} MiB: lower the batch size or train on a larger device",
                device.name
            ));
        }
    }
    if let Speed::Gpu { matmul_flops } = speed {
        notes.push(format!(
            "times on {} assume {:.0}% of its measured {:.0} TFLOP/s {} matmul peak until a run on it is measured",
            device.name,
            super::recipe::GPU_STEP_EFFICIENCY * 100.0,
            matmul_flops / 1e12,
            device.dtype
        ));
    }
    if tokens.too_long > 0 {
        notes.push(format!(
            "{} row(s) are longer than the model's context and are left out",
            tokens.too_long
        ));
    }
    if stages.is_empty() {
        notes.push("the snapshot holds no data this recipe can train on".into());
    }
    Plan {
        stages,
        parameters,
        trainable_parameters: trainable,
        estimated_memory_mib: memory / MIB,
        unused_rows: (data.preferences.len() + data.sft.len() + data.kto.len())
            .saturating_sub(used_rows),
        notes,
        device,
    }
}

fn load_model(dir: &Path, device: DeviceChoice, base: BaseWeights) -> Result<LoadedModel> {
    let device = select(device)?;
    match base {
        BaseWeights::Dense => Ok(LoadedModel::load(dir, device)?),
        BaseWeights::Quantized => {
            let gguf = hone_model::loader::quantized_source(dir).ok_or_else(|| {
                CoreError::invalid(
                    "recipe.base_weights",
                    format!(
                        "quantized base weights need a model imported from a quantized GGUF file that is still where it was; {} is not",
                        dir.display()
                    ),
                )
            })?;
            Ok(LoadedModel::load_quantized(dir, &gguf, device)?)
        }
    }
}

/// A version name is also a folder name: 1–64 letters, digits, `-`, `_` or `.`, not starting with `.`.
pub(crate) fn validate_version_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "recipe.version_name",
            format!("{name:?}: use 1–64 letters, digits, '-', '_' or '.', not starting with '.'"),
        ))
    }
}

fn validate(recipe: &Recipe) -> Result<()> {
    recipe.lora.config()?;
    for (field, config) in [("sft", &recipe.sft), ("preference", &recipe.preference)] {
        config
            .validate()
            .map_err(|e| CoreError::invalid(format!("recipe.{field}"), e.to_string()))?;
    }
    if recipe.beta.is_nan() || recipe.beta <= 0.0 {
        return Err(CoreError::invalid("recipe.beta", "must be positive"));
    }
    Ok(())
}

/// The kind of task in a fine-tune job's lock file name (`crate::owner_lock`).
const JOB_LOCK: &str = "job";

impl Hone {
    /// The train prompts, without those whose tags the filter leaves out.
    async fn train_prompt_list(
        &self,
        project_id: i64,
        filter: &crate::dataset::SnapshotFilter,
    ) -> Result<Vec<hone_store::prompts::Prompt>> {
        let mut prompts = self
            .list_prompts(project_id, Some(hone_store::Split::Train))
            .await?;
        prompts.retain(|p| !p.tags.iter().any(|t| filter.exclude_tags.contains(t)));
        Ok(prompts)
    }

    async fn train_prompts(&self, project_id: i64) -> Result<Vec<crate::dataset::PromptContent>> {
        Ok(self
            .list_prompts(project_id, Some(hone_store::Split::Train))
            .await?
            .iter()
            .map(crate::dataset::PromptContent::from)
            .collect())
    }

    /// The plan of `recipe` on the project's data now (nothing is frozen or trained).
    pub async fn plan_fine_tune(&self, project_id: i64, recipe: &Recipe) -> Result<Plan> {
        validate(recipe)?;
        let recipe = &self.recipe_on_folder(recipe).await?;
        let data = self.training_data(project_id, &recipe.filter).await?;
        let prompts: Vec<crate::dataset::PromptContent> = self
            .train_prompt_list(project_id, &recipe.filter)
            .await?
            .iter()
            .map(crate::dataset::PromptContent::from)
            .collect();
        let dir = recipe.model_dir.clone();
        let throughput = self.measured_throughput(&dir).await?;
        let recipe = recipe.clone();
        let (device, workspace) = (self.device_choice(), self.dir().to_owned());
        let mut plan = tokio::task::spawn_blocking(move || -> Result<Plan> {
            let runtime = super::memory::runtime_bytes();
            let lm = load_model(&dir, device, recipe.base_weights)?;
            let tokens = tokenize(&lm, &data, &prompts)?;
            let speed = super::device_speed::speed(&workspace, &lm.device);
            Ok(plan_for(&recipe, &data, &tokens, &lm, speed, runtime))
        })
        .await
        .expect("the planning thread does not panic")?;
        throughput.apply(&mut plan);
        Ok(plan)
    }

    /// Freezes a snapshot, trains the recipe's stages and records the new version.
    pub async fn fine_tune(
        &self,
        project_id: i64,
        recipe: &Recipe,
        cancel: Arc<AtomicBool>,
        on_event: impl FnMut(&FineTuneEvent) + Send,
    ) -> Result<FineTuneOutcome> {
        validate(recipe)?;
        if recipe.method == Method::Rlhf {
            return Err(CoreError::invalid(
                "recipe.method",
                "rlhf makes two versions; run it with Hone::rlhf",
            ));
        }
        let recipe = &self.recipe_on_folder(recipe).await?;
        if !recipe.model_dir.join("config.json").is_file() {
            return Err(CoreError::invalid(
                "recipe.model_dir",
                format!("{} is not a model folder", recipe.model_dir.display()),
            ));
        }
        let preview = self.training_data(project_id, &recipe.filter).await?;
        let stages = recipe.stages(&preview);
        if recipe.method == Method::Ppo && recipe.reward_model.is_none() {
            return Err(CoreError::invalid(
                "recipe.reward_model",
                "PPO needs a reward-model version to optimise against (train one with method rm)",
            ));
        }
        let has_prompts = !self
            .train_prompt_list(project_id, &recipe.filter)
            .await?
            .is_empty();
        let has_rows = |m: &Method| match m {
            Method::Sft => !preview.sft.is_empty(),
            Method::Dpo | Method::RewardModel => !preview.preferences.is_empty(),
            Method::Kto => !preview.kto.is_empty(),
            Method::Ppo => has_prompts,
            Method::Auto | Method::Rlhf => false,
        };
        if stages.is_empty() || !stages.iter().any(has_rows) {
            return Err(CoreError::invalid(
                "recipe.method",
                format!(
                    "the project's feedback has no rows for {} ({} preference pairs, {} SFT examples, {} KTO examples)",
                    recipe.method.as_str(),
                    preview.preferences.len(),
                    preview.sft.len(),
                    preview.kto.len()
                ),
            ));
        }
        self.check_lineage(project_id, recipe).await?;
        // The name is settled (and free) before anything is made; a resumed job keeps it.
        let name = self
            .version_name_for(project_id, recipe.version_name.as_deref(), None)
            .await?;
        let (snapshot, _) = self.freeze_snapshot(project_id, &recipe.filter).await?;
        let prompt_ids = self
            .train_prompt_list(project_id, &recipe.filter)
            .await?
            .iter()
            .map(|p| p.id)
            .collect();
        let params = JobParams {
            recipe: Recipe {
                version_name: Some(name),
                ..recipe.clone()
            },
            snapshot_id: snapshot.id,
            prompt_ids: Some(prompt_ids),
        };
        let job = jobs::create(
            &mut *self.store().conn().await?,
            Some(project_id),
            "fine_tune",
            &serde_json::to_value(&params).expect("JSON"),
        )
        .await?;
        self.run_job(job.id, project_id, params, cancel, on_event)
            .await
    }

    /// The parent and the reward model must be versions of this project on the recipe's base
    /// model: an adapter on other base weights would load (same shapes) and mean nothing.
    async fn check_lineage(&self, project_id: i64, recipe: &Recipe) -> Result<()> {
        let location = std::fs::canonicalize(&recipe.model_dir)
            .unwrap_or_else(|_| recipe.model_dir.clone())
            .display()
            .to_string();
        let mut conn = self.store().conn().await?;
        for (field, id) in [
            ("recipe.parent_version", recipe.parent_version),
            ("recipe.reward_model", recipe.reward_model),
        ] {
            let Some(id) = id else { continue };
            let v = models::get_version(&mut conn, id).await?;
            if v.project_id != project_id {
                return Err(CoreError::invalid(
                    field,
                    format!("version {} belongs to another project", v.name),
                ));
            }
            let base = models::get_base(&mut conn, v.base_model_id).await?;
            if base.location != location {
                return Err(CoreError::invalid(
                    field,
                    format!(
                        "version {} was trained on {}, not on {}",
                        v.name,
                        base.location,
                        recipe.model_dir.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `wanted` checked (safe as a folder name, not taken in the project), or a free default:
    /// with a `stem`, `<stem>`, `<stem>-2`, …; without, `vN` from the number of versions plus one.
    pub(crate) async fn version_name_for(
        &self,
        project_id: i64,
        wanted: Option<&str>,
        stem: Option<&str>,
    ) -> Result<String> {
        let taken: Vec<String> =
            models::list_versions(&mut *self.store().conn().await?, project_id)
                .await?
                .into_iter()
                .map(|v| v.name)
                .collect();
        match (wanted, stem) {
            (Some(name), _) => {
                validate_version_name(name)?;
                if taken.iter().any(|t| t == name) {
                    return Err(CoreError::Duplicate {
                        entity: "version",
                        key: name.to_owned(),
                    });
                }
                Ok(name.to_owned())
            }
            (None, Some(stem)) => Ok(std::iter::once(stem.to_owned())
                .chain((2..).map(|k| format!("{stem}-{k}")))
                .find(|n| !taken.contains(n))
                .expect("a free name")),
            (None, None) => Ok((taken.len() + 1..)
                .map(|k| format!("v{k}"))
                .find(|n| !taken.contains(n))
                .expect("a free name")),
        }
    }

    /// RLHF: trains a reward model on the pairs (version `<name>-rm`), then PPO against it from
    /// the recipe's parent (version `<name>`). Returns both outcomes, reward model first.
    pub async fn rlhf(
        &self,
        project_id: i64,
        recipe: &Recipe,
        cancel: Arc<AtomicBool>,
        mut on_event: impl FnMut(&FineTuneEvent) + Send,
    ) -> Result<(FineTuneOutcome, FineTuneOutcome)> {
        let name = self
            .version_name_for(project_id, recipe.version_name.as_deref(), None)
            .await?;
        self.version_name_for(project_id, Some(&format!("{name}-rm")), None)
            .await?;
        let rm_recipe = Recipe {
            method: Method::RewardModel,
            version_name: Some(format!("{name}-rm")),
            parent_version: None,
            ..recipe.clone()
        };
        let rm = self
            .fine_tune(project_id, &rm_recipe, cancel.clone(), &mut on_event)
            .await?;
        let ppo_recipe = Recipe {
            method: Method::Ppo,
            version_name: Some(name),
            reward_model: Some(rm.version.id),
            ..recipe.clone()
        };
        let ppo = self
            .fine_tune(project_id, &ppo_recipe, cancel, on_event)
            .await?;
        Ok((rm, ppo))
    }

    /// Runs an interrupted, failed or cancelled fine-tune again; it continues from the last
    /// checkpoint of the stage it was in, on the same snapshot.
    pub async fn resume_fine_tune(
        &self,
        job_id: i64,
        cancel: Arc<AtomicBool>,
        on_event: impl FnMut(&FineTuneEvent) + Send,
    ) -> Result<FineTuneOutcome> {
        let job = jobs::get(&mut *self.store().conn().await?, job_id).await?;
        if job.kind != "fine_tune" {
            return Err(CoreError::invalid(
                "job",
                format!("job {job_id} is a {} job, not a fine-tune", job.kind),
            ));
        }
        if job.state == JobState::Succeeded {
            return Err(CoreError::invalid(
                "job",
                format!("job {job_id} already succeeded"),
            ));
        }
        let params: JobParams = serde_json::from_value(job.params)
            .map_err(|e| CoreError::invalid("job.params", e.to_string()))?;
        let project_id = job
            .project_id
            .ok_or_else(|| CoreError::invalid("job", "has no project"))?;
        // A job left running by a process that is gone (its lock is free) is interrupted now,
        // not after the heartbeat's silence runs out.
        if !job.state.is_finished() && !crate::owner_lock::is_held(self.dir(), JOB_LOCK, job_id)? {
            jobs::mark_one_interrupted(&mut *self.store().conn().await?, job_id).await?;
        }
        // Two resumes of one job would train into the same folders: only one may take it.
        if !jobs::claim_for_resume(&mut *self.store().conn().await?, job_id).await? {
            let why = if job.state.is_finished() {
                String::new()
            } else {
                " (another process is working on it)".to_owned()
            };
            return Err(CoreError::invalid("job", format!("job {job_id} is {}; only a failed, cancelled or interrupted job can be resumed{why}", job.state)));
        }
        self.run_job(job_id, project_id, params, cancel, on_event)
            .await
    }

    /// Runs the job; whatever goes wrong, the job ends failed (or cancelled) with the error.
    async fn run_job(
        &self,
        job_id: i64,
        project_id: i64,
        params: JobParams,
        cancel: Arc<AtomicBool>,
        on_event: impl FnMut(&FineTuneEvent) + Send,
    ) -> Result<FineTuneOutcome> {
        // While this process works on the job it holds the job's lock (a resume elsewhere
        // knows at once whether it is alive) and says so in a heartbeat (another process
        // opening the workspace then leaves the job alone, see `jobs::mark_interrupted`).
        let owner =
            crate::owner_lock::OwnerLock::take(self.dir(), JOB_LOCK, job_id)?.ok_or_else(|| {
                CoreError::invalid("job", format!("job {job_id} is run by another process"))
            })?;
        let store = self.store().clone();
        let heartbeat = tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(
                jobs::HEARTBEAT_SECONDS.into(),
            ));
            loop {
                every.tick().await;
                if let Ok(mut conn) = store.conn().await {
                    let _ = jobs::heartbeat(&mut conn, job_id).await;
                }
            }
        });
        let result = self
            .train_job(job_id, project_id, params, cancel, on_event)
            .await;
        heartbeat.abort();
        owner.release();
        if let Err(e) = &result {
            let mut conn = self.store().conn().await?;
            if !jobs::get(&mut conn, job_id).await?.state.is_finished() {
                let state = if matches!(e, CoreError::Train(TrainError::Cancelled)) {
                    JobState::Cancelled
                } else {
                    JobState::Failed
                };
                jobs::finish(&mut conn, job_id, state, None, Some(&e.to_string())).await?;
            }
        }
        result
    }

    async fn train_job(
        &self,
        job_id: i64,
        project_id: i64,
        params: JobParams,
        cancel: Arc<AtomicBool>,
        mut on_event: impl FnMut(&FineTuneEvent) + Send,
    ) -> Result<FineTuneOutcome> {
        let (_, data) = self.snapshot_data(params.snapshot_id).await?;
        let parent = match params.recipe.parent_version {
            Some(id) => Some(models::get_version(&mut *self.store().conn().await?, id).await?),
            None => None,
        };
        let parent_dir = parent
            .as_ref()
            .and_then(|v| v.adapter_dir.as_ref())
            .map(|d| self.dir().join(d));
        let reward_dir = match params.recipe.reward_model {
            Some(id) => {
                let rm = models::get_version(&mut *self.store().conn().await?, id).await?;
                if !rm.trained_with("rm") {
                    return Err(CoreError::invalid(
                        "recipe.reward_model",
                        format!(
                            "version {} was trained with {}, not as a reward model",
                            rm.name, rm.method
                        ),
                    ));
                }
                rm.adapter_dir.map(|d| self.dir().join(d))
            }
            None => None,
        };
        let prompts: Vec<crate::dataset::PromptContent> = match &params.prompt_ids {
            Some(ids) => {
                let mut conn = self.store().conn().await?;
                let mut list = Vec::with_capacity(ids.len());
                for &id in ids {
                    list.push(crate::dataset::PromptContent::from(
                        &hone_store::prompts::get(&mut conn, id).await?,
                    ));
                }
                list
            }
            None => self.train_prompts(project_id).await?,
        };
        jobs::update(
            &mut *self.store().conn().await?,
            job_id,
            JobState::Running,
            0.0,
            "loading the model",
        )
        .await?;

        let job_dir = self.dir().join("jobs").join(job_id.to_string());
        let version_name = match &params.recipe.version_name {
            Some(name) => name.clone(),
            // Jobs made before names were settled up front.
            None => self.version_name_for(project_id, None, None).await?,
        };
        let adapter_rel = PathBuf::from("versions").join(format!("{project_id}-{version_name}"));
        let adapter_dir = self.dir().join(&adapter_rel);
        // The adapter is written in the job's folder and moved into place with the version's
        // row, so a failed or clashing run never touches another version's files.
        let staged_dir = job_dir.join("adapter");

        let throughput = self.measured_throughput(&params.recipe.model_dir).await?;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<FineTuneEvent>();
        let recipe = params.recipe.clone();
        let staged = staged_dir.clone();
        let (device, workspace) = (self.device_choice(), self.dir().to_owned());
        let worker = tokio::task::spawn_blocking(move || -> Result<Trained> {
            let staged_dir = staged;
            // The peak from here on is the training's (a server may have peaked before).
            hone_model::device::reset_process_peak_memory();
            let runtime = super::memory::runtime_bytes();
            let lm = load_model(&recipe.model_dir, device, recipe.base_weights)?;
            let tokens = tokenize(&lm, &data, &prompts)?;
            let speed = super::device_speed::speed(&workspace, &lm.device);
            let plan = plan_for(&recipe, &data, &tokens, &lm, speed, runtime);
            let _ = tx.send(FineTuneEvent::Planned { plan: plan.clone() });
            if plan.stages.iter().all(|s| s.examples == 0) {
                return Err(CoreError::invalid(
                    "snapshot",
                    "holds no examples for this recipe",
                ));
            }
            let specs = lm.model.linear_specs();
            let device = lm.model.device().clone();
            let adapter = match &parent_dir {
                Some(dir) => Adapter::load_peft("policy", dir, &specs, &device)?,
                None => Adapter::new(
                    "policy",
                    recipe.lora.config()?,
                    &specs,
                    recipe.sft.seed,
                    &device,
                )?,
            };
            // The reference of preference stages: the parent adapter, or after an SFT stage
            // the SFT result, else the base model.
            let mut reference: Option<Adapter> = match &parent_dir {
                Some(_) => Some(adapter.duplicate("reference")?),
                None => None,
            };
            let base_name = recipe.model_dir.display().to_string();
            let mut finals = Vec::new();
            let mut score_head: Option<ScoreHead> = None;
            for (index, stage) in plan.stages.iter().enumerate() {
                if stage.examples == 0 {
                    continue;
                }
                let _ = tx.send(FineTuneEvent::StageStarted {
                    index,
                    method: stage.method,
                    examples: stage.examples,
                    steps: stage.steps,
                });
                let dir = job_dir.join(format!("{index}-{}", stage.method.as_str()));
                let method = stage.method;
                // A stage resumed from a checkpoint ran only partly here: its time says nothing.
                let (timer, fresh) = (std::time::Instant::now(), !dir.exists());
                let timed = |mut metrics: Metrics| {
                    if fresh {
                        metrics.insert(super::timing::SECONDS, timer.elapsed().as_secs_f64());
                        metrics.insert(super::timing::TOKENS, stage.tokens as f64);
                        if stage.gradient_checkpointing {
                            metrics.insert(super::timing::CHECKPOINTING, 1.0);
                        }
                    }
                    metrics
                };
                let report = |p: &Progress| {
                    let _ = tx.send(FineTuneEvent::Progress {
                        method,
                        progress: p.clone(),
                    });
                };
                // The plan's decision on gradient checkpointing, not the recipe's `auto`.
                let planned = |config: &TrainConfig| TrainConfig {
                    gradient_checkpointing: if stage.gradient_checkpointing {
                        Checkpointing::On
                    } else {
                        Checkpointing::Off
                    },
                    ..config.clone()
                };
                let run = |objective: &mut dyn hone_train::trainer::Objective,
                           config: &TrainConfig| {
                    train(
                        &adapter,
                        objective,
                        stage.examples,
                        config,
                        &dir,
                        &base_name,
                        &cancel,
                        report,
                    )
                };
                let outcome = match method {
                    Method::Sft => run(
                        &mut Sft {
                            model: &lm.model,
                            examples: &tokens.sft,
                        },
                        &planned(&recipe.sft),
                    )?,
                    Method::Dpo => {
                        let settings = DpoSettings {
                            beta: recipe.beta,
                            loss_type: recipe.dpo_loss,
                            label_smoothing: recipe.label_smoothing,
                        };
                        run(
                            &mut Dpo::new(&lm.model, &tokens.pairs, reference.as_ref(), settings)?,
                            &planned(&recipe.preference),
                        )?
                    }
                    Method::Kto => {
                        let settings = KtoSettings {
                            beta: recipe.beta,
                            ..KtoSettings::default()
                        };
                        run(
                            &mut Kto::new(&lm.model, &tokens.kto, reference.as_ref(), settings)?,
                            &planned(&recipe.preference),
                        )?
                    }
                    Method::RewardModel => {
                        let head = ScoreHead::new(
                            lm.model.config().hidden_size,
                            recipe.preference.seed,
                            &device,
                        )?;
                        let mut objective = RewardModelTraining {
                            model: &lm.model,
                            head: &head,
                            pairs: &tokens.pairs,
                            margins: None,
                            center_rewards_coefficient: 0.01,
                        };
                        let outcome = run(&mut objective, &planned(&recipe.preference))?;
                        score_head = Some(head);
                        outcome
                    }
                    Method::Ppo => {
                        let rm_dir = reward_dir.as_ref().ok_or_else(|| {
                            CoreError::invalid("recipe.reward_model", "has no adapter files")
                        })?;
                        let rm_adapter = Adapter::load_peft("reward", rm_dir, &specs, &device)?;
                        let rm_head = ScoreHead::load(&rm_dir.join(SCORE_FILE), &device)?;
                        // Checkpoints go to this job's stage folder (`dir`), never beside the
                        // reward model: another PPO job against it must not resume from them.
                        let mut reward = RewardModel {
                            lm: &lm,
                            adapter: &rm_adapter,
                            head: &rm_head,
                        };
                        let mut ppo = Ppo::new(&lm, &adapter, recipe.ppo.clone())?;
                        // A resumed job continues after the last saved iteration.
                        let first = ppo.restore_latest(&dir)?.unwrap_or(0) as usize;
                        let save_every = recipe.preference.save_steps.max(1) as usize;
                        let started = std::time::Instant::now();
                        let mut last = Metrics::default();
                        for iteration in first..recipe.ppo_iterations {
                            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                                return Err(TrainError::Cancelled.into());
                            }
                            let n = tokens.prompts.len();
                            let batch: Vec<Vec<u32>> = (0..recipe.ppo_batch_size.min(n))
                                .map(|k| {
                                    tokens.prompts[(iteration * recipe.ppo_batch_size + k) % n]
                                        .clone()
                                })
                                .collect();
                            last = ppo.step(&batch, &mut reward, iteration as u64)?;
                            let done = iteration as u64 + 1;
                            if (done as usize).is_multiple_of(save_every)
                                || done as usize == recipe.ppo_iterations
                            {
                                ppo.save_checkpoint(&dir, done, &base_name)?;
                            }
                            let elapsed = started.elapsed().as_secs_f64();
                            report(&Progress {
                                step: done,
                                total_steps: recipe.ppo_iterations as u64,
                                epoch: 0,
                                loss: last.get("loss/policy").unwrap_or(0.0),
                                learning_rate: recipe.ppo.learning_rate,
                                grad_norm: last.get("grad_norm").unwrap_or(0.0),
                                tokens_per_second: 0.0,
                                eta_seconds: elapsed / (done - first as u64) as f64
                                    * (recipe.ppo_iterations as u64 - done) as f64,
                                metrics: last.clone(),
                            });
                        }
                        finals.push((method, timed(last)));
                        continue;
                    }
                    Method::Auto | Method::Rlhf => unreachable!("auto and rlhf expand into stages"),
                };
                finals.push((
                    method,
                    timed(outcome.last.map(|p| p.metrics).unwrap_or_default()),
                ));
                if method == Method::Sft {
                    reference = Some(adapter.duplicate("reference")?);
                }
            }
            if staged_dir.exists() {
                std::fs::remove_dir_all(&staged_dir).map_err(CoreError::io(&staged_dir))?;
            }
            let written = adapter.save_peft(&staged_dir, &base_name)?;
            let mut files: Vec<VersionFile> = written
                .into_iter()
                .map(|f| VersionFile {
                    path: f.name,
                    sha256: f.sha256,
                    bytes: f.bytes as i64,
                })
                .collect();
            if let Some(head) = &score_head {
                let path = staged_dir.join(SCORE_FILE);
                save_vars(&[(SCORE_KEY.to_string(), head.weight.clone())], &path)?;
                let bytes = std::fs::read(&path).map_err(CoreError::io(&path))?;
                files.push(VersionFile {
                    path: SCORE_FILE.into(),
                    sha256: hex::encode(sha2::Sha256::digest(&bytes)),
                    bytes: bytes.len() as i64,
                });
            }
            let peak_memory_mib = hone_model::device::process_peak_memory_bytes()
                .map(|b| b as f64 / (1024.0 * 1024.0));
            Ok(Trained {
                plan,
                finals,
                files,
                peak_memory_mib,
            })
        });

        let mut plan_steps = 0u64;
        let mut done_before_stage = 0u64;
        let mut stage_steps = 0u64;
        while let Some(mut event) = rx.recv().await {
            if let FineTuneEvent::Planned { plan } = &mut event {
                throughput.apply(plan);
            }
            match &event {
                FineTuneEvent::Planned { plan } => {
                    plan_steps = plan.stages.iter().map(|s| s.steps).sum::<u64>().max(1)
                }
                FineTuneEvent::StageStarted { steps, .. } => {
                    done_before_stage += stage_steps;
                    stage_steps = *steps;
                }
                FineTuneEvent::Progress { method, progress } => {
                    let mut points = vec![
                        MetricPoint {
                            name: format!("{}/loss", method.as_str()),
                            step: progress.step as i64,
                            value: progress.loss,
                        },
                        MetricPoint {
                            name: format!("{}/learning_rate", method.as_str()),
                            step: progress.step as i64,
                            value: progress.learning_rate,
                        },
                    ];
                    points.extend(progress.metrics.0.iter().filter(|(k, _)| k != "loss").map(
                        |(k, v)| MetricPoint {
                            name: format!("{}/{k}", method.as_str()),
                            step: progress.step as i64,
                            value: *v,
                        },
                    ));
                    let mut conn = self.store().conn().await?;
                    jobs::record_metrics(&mut conn, job_id, &points).await?;
                    let fraction = (done_before_stage + progress.step) as f64 / plan_steps as f64;
                    let message = format!(
                        "{} step {}/{}, loss {:.4}",
                        method.as_str(),
                        progress.step,
                        progress.total_steps,
                        progress.loss
                    );
                    jobs::update(
                        &mut conn,
                        job_id,
                        JobState::Running,
                        fraction.min(1.0),
                        &message,
                    )
                    .await?;
                }
                FineTuneEvent::Evaluating { .. } => {}
            }
            on_event(&event);
        }
        let Trained {
            plan,
            finals,
            files,
            peak_memory_mib,
        } = worker.await.expect("the training thread does not panic")?;

        if adapter_dir.exists() {
            return Err(CoreError::Duplicate {
                entity: "version folder",
                key: adapter_dir.display().to_string(),
            });
        }
        let mut tx = self.store().begin().await?;
        let base = base_model_for(&mut tx, &params.recipe.model_dir).await?;
        let methods: Vec<&str> = finals.iter().map(|(m, _)| m.as_str()).collect();
        let metrics: serde_json::Map<String, serde_json::Value> = finals
            .iter()
            .flat_map(|(m, metrics)| {
                metrics
                    .0
                    .iter()
                    .map(move |(k, v)| (format!("{}/{k}", m.as_str()), serde_json::json!(v)))
            })
            .collect();
        let version = models::insert_version(
            &mut tx,
            &NewModelVersion {
                project_id,
                name: version_name,
                parent_id: params.recipe.parent_version,
                base_model_id: base,
                method: methods.join("+"),
                hyperparams: {
                    // The recipe, and the device it ran on (whose throughput the timings are).
                    let mut h = serde_json::to_value(&params.recipe).expect("JSON");
                    h[super::timing::DEVICE] = serde_json::to_value(&plan.device).expect("JSON");
                    h
                },
                snapshot_id: Some(params.snapshot_id),
                metrics: serde_json::Value::Object(metrics),
                adapter_dir: Some(adapter_rel.display().to_string()),
                job_id: Some(job_id),
                files,
            },
        )
        .await?;
        jobs::finish(
            &mut tx,
            job_id,
            JobState::Succeeded,
            Some(&serde_json::json!({ "version_id": version.id })),
            None,
        )
        .await?;
        if let Some(parent) = adapter_dir.parent() {
            std::fs::create_dir_all(parent).map_err(CoreError::io(parent))?;
        }
        std::fs::rename(&staged_dir, &adapter_dir).map_err(CoreError::io(&adapter_dir))?;
        if let Err(e) = tx.commit().await {
            // The row is not there: the files go back to the job's folder.
            let _ = std::fs::rename(&adapter_dir, &staged_dir);
            return Err(e.into());
        }
        if version.trained_with("rm") {
            // A new reward model scores the project's answers once, for the active queue.
            if let Err(e) = self.prescore(project_id).await {
                tracing::warn!(
                    version = version.id,
                    "scoring the project's answers with the new reward model failed: {e}"
                );
            }
        }
        if !params.recipe.evaluate {
            return Ok(FineTuneOutcome {
                job_id,
                version,
                plan,
                evaluation: None,
                peak_memory_mib,
            });
        }
        on_event(&FineTuneEvent::Evaluating {
            version_id: version.id,
        });
        let evaluation = match self.evaluate_version(version.id).await {
            Ok(e) => Some(e),
            Err(e) => {
                tracing::warn!(version = version.id, "the automatic evaluation failed: {e}");
                None
            }
        };
        let version = models::get_version(&mut *self.store().conn().await?, version.id).await?;
        Ok(FineTuneOutcome {
            job_id,
            version,
            plan,
            evaluation,
            peak_memory_mib,
        })
    }
}

/// The base model registered for this folder, registering it on first use.
pub(crate) async fn base_model_for(
    conn: &mut hone_store::SqliteConnection,
    dir: &Path,
) -> Result<i64> {
    let location = std::fs::canonicalize(dir)
        .unwrap_or_else(|_| dir.to_owned())
        .display()
        .to_string();
    if let Some(existing) = models::list_bases(conn)
        .await?
        .into_iter()
        .find(|b| b.location == location)
    {
        return Ok(existing.id);
    }
    let config: serde_json::Value = std::fs::read(dir.join("config.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(serde_json::json!({}));
    let architecture = config
        .get("model_type")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_owned();
    let folder = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let taken = models::list_bases(conn)
        .await?
        .iter()
        .any(|b| b.name == folder);
    let name = if taken {
        format!("{folder} ({location})")
    } else {
        folder
    };
    Ok(models::insert_base(
        conn,
        &NewBaseModel {
            name,
            location,
            architecture,
            sha256: None,
            config,
        },
    )
    .await?
    .id)
}
