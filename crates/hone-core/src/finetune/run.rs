//! Running a fine-tune as a job: the snapshot is frozen first, the stages run on a blocking
//! thread (training is CPU-bound), progress comes back over a channel and is written as the
//! job's progress and metric curves, and the result becomes a model version.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use hone_store::jobs::{self, MetricPoint};
use hone_store::models::{self, ModelVersion, NewBaseModel, NewModelVersion};
use hone_store::{JobId, JobState};
use hone_train::trainer::Progress;
use hone_train::TrainError;
use serde::{Deserialize, Serialize};

use super::memory::Leftover;
use super::plan::plan_for;
use super::recipe::{Method, Plan, Recipe, StageMethod};
use super::stages::{self, load_model, StageInputs, Trained};
use super::tokens::tokenize;
use crate::dataset::{PromptContent, TrainingData};
use crate::{BaseModelId, CoreError, Hone, ProjectId, PromptId, Result, SnapshotId, VersionId};

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
        method: StageMethod,
        examples: usize,
        steps: u64,
    },
    /// A preference stage's reference pass (before its first step): `scored` of its `total`
    /// answers scored under the reference model, said a second at most.
    ReferencePass {
        method: StageMethod,
        scored: usize,
        total: usize,
    },
    Progress {
        method: StageMethod,
        progress: Progress,
    },
    /// The new version is being evaluated on the held-out data (after training).
    Evaluating {
        version_id: VersionId,
    },
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FineTuneOutcome {
    pub job_id: JobId,
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

/// A reward-model version's scalar head, beside its adapter.
pub const SCORE_FILE: &str = "score.safetensors";

/// The job's parameters: the recipe and the snapshot it trains on.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct JobParams {
    recipe: Recipe,
    snapshot_id: SnapshotId,
    /// The train prompts PPO samples from, frozen with the job (as the snapshot freezes the
    /// judgments) so a resumed run sees the same ones; `None` in jobs made before.
    #[serde(default)]
    prompt_ids: Option<Vec<PromptId>>,
}

/// What a job's stages train on: its snapshot's rows and its prompts.
struct JobRows {
    data: TrainingData,
    prompts: Vec<PromptContent>,
}

/// What the call that starts a job knows before it runs: the rows a new job's freeze read
/// (`None` for a resumed job, which reads them from its snapshot), and what a GGUF import just
/// before left with the allocator, for the plan.
struct JobStart {
    rows: Option<JobRows>,
    leftover: Leftover,
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

pub(crate) fn validate(recipe: &Recipe) -> Result<()> {
    recipe.lora.config()?;
    for (field, config) in [("sft", &recipe.sft), ("preference", &recipe.preference)] {
        config
            .validate()
            .map_err(|e| CoreError::invalid(format!("recipe.{field}"), e.to_string()))?;
    }
    if recipe.beta.is_nan() || recipe.beta <= 0.0 {
        return Err(CoreError::invalid("recipe.beta", "must be positive"));
    }
    if recipe.ppo_batch_size == 0 {
        return Err(CoreError::invalid(
            "recipe.ppo_batch_size",
            "must be at least 1 (the prompts PPO samples from an iteration)",
        ));
    }
    recipe.token_level.validate("recipe.token_level")
}

/// The kind of a fine-tune's row in `jobs`.
pub const FINE_TUNE_JOB: &str = "fine_tune";

/// The kind of task in a fine-tune job's lock file name (`crate::owner_lock`).
const JOB_LOCK: &str = "job";

impl Hone {
    /// The train prompts, without those whose tags the filter leaves out.
    async fn train_prompt_list(
        &self,
        project_id: ProjectId,
        filter: &crate::dataset::SnapshotFilter,
    ) -> Result<Vec<hone_store::prompts::Prompt>> {
        let mut prompts = self
            .list_prompts(project_id, Some(hone_store::Split::Train))
            .await?;
        prompts.retain(|p| !p.tags.iter().any(|t| filter.exclude_tags.contains(t)));
        Ok(prompts)
    }

    /// What a resumed job trains on: its snapshot's rows, and its prompts as listed when it
    /// started (the project's train prompts now, for a job from before the list was kept). A
    /// prompt deleted since is an error, as it was when they were read one by one.
    async fn job_rows(&self, project_id: ProjectId, params: &JobParams) -> Result<JobRows> {
        let (_, data) = self.snapshot_data(params.snapshot_id).await?;
        let listed = self
            .list_prompts(project_id, Some(hone_store::Split::Train))
            .await?;
        let prompts = match &params.prompt_ids {
            Some(ids) => {
                // One listing, not a query per prompt (a job may have 100k).
                let by_id: HashMap<PromptId, &hone_store::prompts::Prompt> =
                    listed.iter().map(|p| (p.id, p)).collect();
                ids.iter()
                    .map(|id| {
                        by_id
                            .get(id)
                            .map(|&p| PromptContent::from(p))
                            .ok_or_else(|| CoreError::NotFound {
                                entity: "prompt",
                                key: id.to_string(),
                            })
                    })
                    .collect::<Result<_>>()?
            }
            None => listed.iter().map(PromptContent::from).collect(),
        };
        Ok(JobRows { data, prompts })
    }

    /// The plan of `recipe` on the project's data now (nothing is frozen or trained).
    pub async fn plan_fine_tune(&self, project_id: ProjectId, recipe: &Recipe) -> Result<Plan> {
        validate(recipe)?;
        let (recipe, leftover) = Leftover::across(self.recipe_on_folder(recipe)).await;
        let recipe = &recipe?;
        let data = self.training_data(project_id, &recipe.filter).await?;
        let prompts: Vec<PromptContent> = self
            .train_prompt_list(project_id, &recipe.filter)
            .await?
            .iter()
            .map(PromptContent::from)
            .collect();
        let dir = recipe.model_dir.clone();
        let throughput = self.measured_throughput(&dir).await?;
        let recipe = recipe.clone();
        let (device, workspace) = (self.device_choice(), self.dir().to_owned());
        let mut plan = crate::blocking::run(move || -> Result<Plan> {
            let runtime = leftover.runtime_bytes();
            let lm = load_model(&dir, device, recipe.base_weights)?;
            let tokens = tokenize(&lm, &data, &prompts, &recipe.token_level)?;
            let speed = super::device_speed::speed(&workspace, &lm.device);
            plan_for(&recipe, &data, &tokens, &lm, speed, runtime)
        })
        .await??;
        throughput.apply(&mut plan);
        Ok(plan)
    }

    /// Freezes a snapshot, trains the recipe's stages and records the new version.
    pub async fn fine_tune(
        &self,
        project_id: ProjectId,
        recipe: &Recipe,
        cancel: Arc<AtomicBool>,
        on_event: impl FnMut(&FineTuneEvent) + Send,
    ) -> Result<FineTuneOutcome> {
        self.fine_tune_after(project_id, recipe, cancel, on_event, Leftover::default())
            .await
    }

    /// [`Hone::fine_tune`] after work in this process whose freed buffers the allocator kept
    /// (`earlier`), which the plan's memory does not count as the process's own.
    async fn fine_tune_after(
        &self,
        project_id: ProjectId,
        recipe: &Recipe,
        cancel: Arc<AtomicBool>,
        on_event: impl FnMut(&FineTuneEvent) + Send,
        earlier: Leftover,
    ) -> Result<FineTuneOutcome> {
        // Beside labeling (a server, the desktop app) the whole job, its data included, runs
        // at background priority.
        let job = self.start_fine_tune(project_id, recipe, cancel, on_event, earlier);
        crate::blocking::at_priority(self.training_priority, job).await
    }

    async fn start_fine_tune(
        &self,
        project_id: ProjectId,
        recipe: &Recipe,
        cancel: Arc<AtomicBool>,
        on_event: impl FnMut(&FineTuneEvent) + Send,
        earlier: Leftover,
    ) -> Result<FineTuneOutcome> {
        validate(recipe)?;
        if recipe.method == Method::Rlhf {
            return Err(CoreError::invalid(
                "recipe.method",
                "rlhf makes two versions; run it with Hone::rlhf",
            ));
        }
        let (recipe, imported) = Leftover::across(self.recipe_on_folder(recipe)).await;
        let leftover = earlier.and(imported);
        let recipe = &recipe?;
        if !recipe.model_dir.join("config.json").is_file() {
            return Err(CoreError::invalid(
                "recipe.model_dir",
                format!("{} is not a model folder", recipe.model_dir.display()),
            ));
        }
        if recipe.method == Method::Ppo && recipe.reward_model.is_none() {
            return Err(CoreError::invalid(
                "recipe.reward_model",
                "PPO needs a reward-model version to optimise against (train one with method rm)",
            ));
        }
        let train_prompts = self.train_prompt_list(project_id, &recipe.filter).await?;
        self.check_lineage(project_id, recipe).await?;
        // The name is settled (and free) before anything is made; a resumed job keeps it.
        let name = self
            .version_name_for(project_id, recipe.version_name.as_deref(), None)
            .await?;
        // The stages must have rows: checked on the rows the freeze reads, before it writes
        // (one read of the project, not a preview and then the freeze's).
        let has_prompts = !train_prompts.is_empty();
        let (snapshot, data) = self
            .freeze_snapshot_checked(project_id, &recipe.filter, &|data| {
                stages_have_rows(recipe, data, has_prompts)
            })
            .await?;
        let prompt_ids = train_prompts.iter().map(|p| p.id).collect();
        // What the job trains on, as frozen and listed here: at 100k judgments reading it
        // again from the snapshot takes seconds of the CPU that annotators' requests share.
        let read = JobRows {
            data,
            prompts: train_prompts.iter().map(PromptContent::from).collect(),
        };
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
            FINE_TUNE_JOB,
            &serde_json::to_value(&params).expect("JSON"),
        )
        .await?;
        let start = JobStart {
            rows: Some(read),
            leftover,
        };
        self.run_job(job.id, project_id, params, start, cancel, on_event)
            .await
    }

    /// The parent and the reward model must be versions of this project on the recipe's base
    /// model: an adapter on other base weights would load (same shapes) and mean nothing.
    pub(crate) async fn check_lineage(&self, project_id: ProjectId, recipe: &Recipe) -> Result<()> {
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
        project_id: ProjectId,
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
        project_id: ProjectId,
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
        // PPO's plan leaves out what the reward model's training left with the allocator.
        let (rm, rm_leftover) =
            Leftover::across(self.fine_tune(project_id, &rm_recipe, cancel.clone(), &mut on_event))
                .await;
        let rm = rm?;
        let ppo_recipe = Recipe {
            method: Method::Ppo,
            version_name: Some(name),
            reward_model: Some(rm.version.id),
            ..recipe.clone()
        };
        let ppo = self
            .fine_tune_after(project_id, &ppo_recipe, cancel, on_event, rm_leftover)
            .await?;
        Ok((rm, ppo))
    }

    /// Runs an interrupted, failed or cancelled fine-tune again; it continues from the last
    /// checkpoint of the stage it was in, on the same snapshot.
    pub async fn resume_fine_tune(
        &self,
        job_id: JobId,
        cancel: Arc<AtomicBool>,
        on_event: impl FnMut(&FineTuneEvent) + Send,
    ) -> Result<FineTuneOutcome> {
        let job = jobs::get(&mut *self.store().conn().await?, job_id).await?;
        if job.kind != FINE_TUNE_JOB {
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
        // The stored recipe names the imported folder: nothing to import.
        let start = JobStart {
            rows: None,
            leftover: Leftover::default(),
        };
        let job = self.run_job(job_id, project_id, params, start, cancel, on_event);
        crate::blocking::at_priority(self.training_priority, job).await
    }

    /// Runs the job; whatever goes wrong, the job ends failed (or cancelled) with the error.
    async fn run_job(
        &self,
        job_id: JobId,
        project_id: ProjectId,
        params: JobParams,
        start: JobStart,
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
        // Stopped however this call ends: returned, failed, or unwound by a panic.
        let heartbeat = AbortOnDrop(tokio::spawn(async move {
            let mut every = tokio::time::interval(std::time::Duration::from_secs(
                jobs::HEARTBEAT_SECONDS.into(),
            ));
            loop {
                every.tick().await;
                if let Ok(mut conn) = store.conn().await {
                    let _ = jobs::heartbeat(&mut conn, job_id).await;
                }
            }
        }));
        let result = self
            .train_job(job_id, project_id, params, start, cancel, on_event)
            .await;
        drop(heartbeat);
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

    /// The job's stages: what they read is gathered here, the training runs on a blocking
    /// thread (`stages`), its events are recorded as they come, and the adapter becomes the
    /// version; the version is then evaluated when the recipe asks.
    async fn train_job(
        &self,
        job_id: JobId,
        project_id: ProjectId,
        params: JobParams,
        start: JobStart,
        cancel: Arc<AtomicBool>,
        mut on_event: impl FnMut(&FineTuneEvent) + Send,
    ) -> Result<FineTuneOutcome> {
        let job_dir = self.dir().join("jobs").join(job_id.to_string());
        // The adapter is written in the job's folder and moved into place with the version's
        // row, so a failed or clashing run never touches another version's files.
        let staged_dir = job_dir.join("adapter");
        let inputs = self
            .stage_inputs(project_id, &params, start, job_dir, staged_dir.clone())
            .await?;
        jobs::update(
            &mut *self.store().conn().await?,
            job_id,
            JobState::Running,
            0.0,
            "loading the model",
        )
        .await?;
        let throughput = self.measured_throughput(&params.recipe.model_dir).await?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<FineTuneEvent>();
        let stop = cancel.clone();
        // Beside labeling (a server, the desktop app) the job trains at background priority.
        let priority = self.training_priority;
        let worker = tokio::task::spawn_blocking(move || {
            priority.run(|| stages::train_stages(inputs, &cancel, &tx))
        });
        if let Err(e) = self
            .record_progress(job_id, rx, &throughput, &mut on_event)
            .await
        {
            // Progress that cannot be recorded stops the training (it would not be seen).
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            let _ = worker.await;
            return Err(e);
        }
        let trained = joined(worker.await)?;
        let plan = trained.plan.clone();
        let peak_memory_mib = trained.peak_memory_mib;
        let version = self
            .record_version(job_id, project_id, &params, trained, &staged_dir)
            .await?;
        if version.trained_with(StageMethod::RewardModel.as_str()) {
            // A new reward model scores the project's answers once, for the active queue.
            if let Err(e) = self.prescore(project_id).await {
                tracing::warn!(
                    version = %version.id,
                    "scoring the project's answers with the new reward model failed: {e}"
                );
            }
        }
        let mut outcome = FineTuneOutcome {
            job_id,
            version,
            plan,
            evaluation: None,
            peak_memory_mib,
        };
        if params.recipe.evaluate {
            on_event(&FineTuneEvent::Evaluating {
                version_id: outcome.version.id,
            });
            outcome.evaluation = match self.evaluate_version(outcome.version.id).await {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::warn!(
                        version = %outcome.version.id,
                        "the automatic evaluation failed: {e}"
                    );
                    None
                }
            };
            outcome.version =
                models::get_version(&mut *self.store().conn().await?, outcome.version.id).await?;
        }
        Ok(outcome)
    }

    /// What the stages train on: the frozen snapshot's rows and the job's prompts (read by a
    /// new job's start; read here for a resumed one), the parent's and the reward model's
    /// adapters.
    async fn stage_inputs(
        &self,
        project_id: ProjectId,
        params: &JobParams,
        start: JobStart,
        job_dir: PathBuf,
        staged_dir: PathBuf,
    ) -> Result<StageInputs> {
        let JobStart { rows, leftover } = start;
        let JobRows { data, prompts } = match rows {
            Some(rows) => rows,
            None => self.job_rows(project_id, params).await?,
        };
        let mut conn = self.store().conn().await?;
        let parent_dir = match params.recipe.parent_version {
            Some(id) => models::get_version(&mut conn, id)
                .await?
                .adapter_dir
                .map(|d| self.dir().join(d)),
            None => None,
        };
        let reward_dir = match params.recipe.reward_model {
            Some(id) => {
                let rm = models::get_version(&mut conn, id).await?;
                if !rm.trained_with(StageMethod::RewardModel.as_str()) {
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
        Ok(StageInputs {
            recipe: params.recipe.clone(),
            data,
            prompts,
            parent_dir,
            reward_dir,
            job_dir,
            staged_dir,
            device: self.device_choice(),
            workspace: self.dir().to_owned(),
            leftover,
        })
    }

    /// Records the training's events as they come (the job's progress and message, its metric
    /// curves) and hands each on; a plan's times are replaced by this machine's measures.
    async fn record_progress(
        &self,
        job_id: JobId,
        mut events: tokio::sync::mpsc::UnboundedReceiver<FineTuneEvent>,
        throughput: &super::timing::Throughput,
        on_event: &mut (impl FnMut(&FineTuneEvent) + Send),
    ) -> Result<()> {
        let mut plan_steps = 1u64;
        let mut done_before_stage = 0u64;
        let mut stage_steps = 0u64;
        while let Some(mut event) = events.recv().await {
            match &mut event {
                FineTuneEvent::Planned { plan } => {
                    throughput.apply(plan);
                    plan_steps = plan.stages.iter().map(|s| s.steps).sum::<u64>().max(1)
                }
                FineTuneEvent::StageStarted {
                    method,
                    examples,
                    steps,
                    ..
                } => {
                    done_before_stage += stage_steps;
                    stage_steps = *steps;
                    // Until its first step the stage says what it is doing: a preference
                    // stage's reference pass takes minutes on a large project.
                    let fraction = done_before_stage as f64 / plan_steps as f64;
                    jobs::update(
                        &mut *self.store().conn().await?,
                        job_id,
                        JobState::Running,
                        fraction.min(1.0),
                        &stage_start_message(*method, *examples, *steps),
                    )
                    .await?;
                }
                FineTuneEvent::ReferencePass {
                    method,
                    scored,
                    total,
                } => {
                    let fraction = done_before_stage as f64 / plan_steps as f64;
                    jobs::update(
                        &mut *self.store().conn().await?,
                        job_id,
                        JobState::Running,
                        fraction.min(1.0),
                        &reference_pass_message(*method, *scored, *total, stage_steps),
                    )
                    .await?;
                }
                FineTuneEvent::Progress { method, progress } => {
                    let name = method.as_str();
                    let step = progress.step as i64;
                    let point = |metric: &str, value: f64| MetricPoint {
                        name: format!("{name}/{metric}"),
                        step,
                        value,
                    };
                    let mut points = vec![
                        point("loss", progress.loss),
                        point("learning_rate", progress.learning_rate),
                    ];
                    points.extend(
                        progress
                            .metrics
                            .0
                            .iter()
                            .filter(|(k, _)| k != "loss")
                            .map(|(k, v)| point(k, *v)),
                    );
                    let mut conn = self.store().conn().await?;
                    jobs::record_metrics(&mut conn, job_id, &points).await?;
                    let fraction = (done_before_stage + progress.step) as f64 / plan_steps as f64;
                    let message = format!(
                        "{name} step {}/{}, loss {:.4}",
                        progress.step, progress.total_steps, progress.loss
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
        Ok(())
    }

    /// The trained adapter becomes the project's new version: its row (lineage, recipe and
    /// device, each stage's final metrics, files) and the job's success commit together with
    /// the adapter's move from the job's folder into `versions/`.
    async fn record_version(
        &self,
        job_id: JobId,
        project_id: ProjectId,
        params: &JobParams,
        trained: Trained,
        staged_dir: &Path,
    ) -> Result<ModelVersion> {
        let version_name = match &params.recipe.version_name {
            Some(name) => name.clone(),
            // Jobs made before names were settled up front.
            None => self.version_name_for(project_id, None, None).await?,
        };
        let adapter_rel = PathBuf::from("versions").join(format!("{project_id}-{version_name}"));
        let adapter_dir = self.dir().join(&adapter_rel);
        if adapter_dir.exists() {
            return Err(CoreError::Duplicate {
                entity: "version folder",
                key: adapter_dir.display().to_string(),
            });
        }
        let mut tx = self.store().begin().await?;
        let base = base_model_for(&mut tx, &params.recipe.model_dir).await?;
        let methods: Vec<&str> = trained.finals.iter().map(|(m, _)| m.as_str()).collect();
        let metrics: serde_json::Map<String, serde_json::Value> = trained
            .finals
            .iter()
            .flat_map(|(m, metrics)| {
                metrics
                    .0
                    .iter()
                    .map(move |(k, v)| (format!("{}/{k}", m.as_str()), serde_json::json!(v)))
            })
            .collect();
        // The recipe, and the device it ran on (whose throughput the timings are).
        let mut hyperparams = serde_json::to_value(&params.recipe).expect("JSON");
        hyperparams[super::timing::DEVICE] =
            serde_json::to_value(&trained.plan.device).expect("JSON");
        let version = models::insert_version(
            &mut tx,
            &NewModelVersion {
                project_id,
                name: version_name,
                parent_id: params.recipe.parent_version,
                base_model_id: base,
                method: methods.join("+"),
                hyperparams,
                snapshot_id: Some(params.snapshot_id),
                metrics: serde_json::Value::Object(metrics),
                adapter_dir: Some(adapter_rel.display().to_string()),
                job_id: Some(job_id),
                files: trained.files,
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
        std::fs::rename(staged_dir, &adapter_dir).map_err(CoreError::io(&adapter_dir))?;
        if let Err(e) = tx.commit().await {
            // The row is not there: the files go back to the job's folder.
            let _ = std::fs::rename(&adapter_dir, staged_dir);
            return Err(e.into());
        }
        Ok(version)
    }
}

/// A task aborted when this is dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Refuses a recipe none of whose stages has rows in `data` (PPO's rows are the train
/// prompts: `has_prompts`).
fn stages_have_rows(recipe: &Recipe, data: &TrainingData, has_prompts: bool) -> Result<()> {
    let has_rows = |m: &StageMethod| match m {
        StageMethod::Sft => {
            !data.sft.is_empty() || (recipe.token_level.spans && !data.spans.is_empty())
        }
        StageMethod::Dpo | StageMethod::RewardModel => !data.preferences.is_empty(),
        StageMethod::Kto => !data.kto.is_empty(),
        StageMethod::Ppo => has_prompts,
    };
    let stages = recipe.stages(data);
    if stages.is_empty() || !stages.iter().any(has_rows) {
        return Err(CoreError::invalid(
            "recipe.method",
            format!(
                "the project's feedback has no rows for {} ({} preference pairs, {} SFT examples, {} KTO examples)",
                recipe.method.as_str(),
                data.preferences.len(),
                data.sft.len(),
                data.kto.len()
            ),
        ));
    }
    Ok(())
}

/// The training thread's result; a panic in it is the job's error (the job then ends failed
/// and its heartbeat stops, as for any other error), not a panic of the caller.
fn joined(result: std::result::Result<Result<Trained>, tokio::task::JoinError>) -> Result<Trained> {
    match result {
        Ok(trained) => trained,
        Err(e) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            Err(CoreError::TrainingPanicked(message))
        }
        Err(e) => Err(CoreError::TrainingPanicked(e.to_string())),
    }
}

/// The base model registered for this folder, registering it on first use.
pub(crate) async fn base_model_for(conn: &mut hone_store::Conn, dir: &Path) -> Result<BaseModelId> {
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

/// What a job says while a stage prepares its first step.
/// The job's message while a preference stage's reference pass scores.
fn reference_pass_message(method: StageMethod, scored: usize, total: usize, steps: u64) -> String {
    format!(
        "{}: scored {scored} of {total} answers under the reference model before step 1 of \
         {steps}",
        method.as_str()
    )
}

fn stage_start_message(method: StageMethod, examples: usize, steps: u64) -> String {
    let name = method.as_str();
    match method {
        StageMethod::Dpo | StageMethod::Kto => format!(
            "{name}: scoring {examples} examples under the reference model before step 1 of \
             {steps}"
        ),
        _ => format!("{name}: starting, {examples} examples in {steps} steps"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ppo_batch_of_no_prompts_is_refused_by_name() {
        let mut recipe = Recipe::new(Method::Rlhf, "model".into());
        assert!(validate(&recipe).is_ok());
        recipe.ppo_batch_size = 0;
        let error = validate(&recipe).unwrap_err().to_string();
        assert!(error.contains("recipe.ppo_batch_size"), "{error}");
    }

    /// `events` handed to `record_progress` for a fresh job: the events it handed on, and the
    /// job's row after them.
    async fn recorded(events: Vec<FineTuneEvent>) -> (Vec<FineTuneEvent>, jobs::Job) {
        let dir = tempfile::tempdir().unwrap();
        let hone = Hone::open(dir.path()).await.unwrap();
        let mut conn = hone.store().conn().await.unwrap();
        let job = jobs::create(&mut conn, None, "fine_tune", &serde_json::json!({}))
            .await
            .unwrap();
        drop(conn);
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        for event in events {
            tx.send(event).unwrap();
        }
        drop(tx);
        let mut seen = Vec::new();
        hone.record_progress(job.id, rx, &Default::default(), &mut |e| {
            seen.push(e.clone())
        })
        .await
        .unwrap();
        let row = jobs::get(&mut hone.store().conn().await.unwrap(), job.id)
            .await
            .unwrap();
        (seen, row)
    }

    /// A stage's start is on the job's row at once: a DPO job's reference pass (minutes on a
    /// large project) used to show the message before it ("loading the model") throughout.
    #[tokio::test]
    async fn a_stage_says_it_started_before_its_first_step() {
        let (seen, row) = recorded(vec![FineTuneEvent::StageStarted {
            index: 0,
            method: StageMethod::Dpo,
            examples: 2_000,
            steps: 1_500,
        }])
        .await;
        assert_eq!(seen.len(), 1, "the event is handed on");
        assert_eq!(
            (row.state, row.progress, row.message.as_str()),
            (
                JobState::Running,
                0.0,
                "dpo: scoring 2000 examples under the reference model before step 1 of 1500"
            )
        );
    }

    /// During the reference pass the job's row says how far it got (it showed the stage's start
    /// for minutes on a large project).
    #[tokio::test]
    async fn the_reference_pass_says_how_far_it_got() {
        let stage = FineTuneEvent::StageStarted {
            index: 0,
            method: StageMethod::Kto,
            examples: 300,
            steps: 75,
        };
        let pass = FineTuneEvent::ReferencePass {
            method: StageMethod::Kto,
            scored: 120,
            total: 300,
        };
        let (seen, row) = recorded(vec![stage, pass.clone()]).await;
        assert_eq!(seen.last(), Some(&pass), "the event is handed on");
        assert_eq!(
            (row.progress, row.message.as_str()),
            (
                0.0,
                "kto: scored 120 of 300 answers under the reference model before step 1 of 75"
            )
        );
    }

    /// A resumed job reads its prompts as its start listed them, in that order, in one
    /// listing (they were read one query each: seconds at 100k prompts beside labeling).
    #[tokio::test]
    async fn a_resumed_job_reads_the_prompts_it_listed_and_misses_none() {
        let dir = tempfile::tempdir().unwrap();
        let hone = Hone::open(dir.path()).await.unwrap();
        let project = hone
            .create_project(&crate::projects::ProjectSpec::named("p"))
            .await
            .unwrap()
            .project
            .id;
        let mut ids = Vec::new();
        for text in ["first?", "second?", "third?"] {
            let prompt = hone_store::prompts::NewPrompt::text(text);
            ids.push(hone.add_prompt(project, &prompt).await.unwrap().id);
        }
        let (snapshot, _) = hone
            .freeze_snapshot(project, &Default::default())
            .await
            .unwrap();
        let params = |prompt_ids| JobParams {
            recipe: Recipe::new(Method::Sft, PathBuf::from("model")),
            snapshot_id: snapshot.id,
            prompt_ids,
        };
        let texts =
            |rows: JobRows| -> Vec<String> { rows.prompts.into_iter().map(|p| p.text).collect() };
        let listed = params(Some(vec![ids[2], ids[0]]));
        let rows = hone.job_rows(project, &listed).await.unwrap();
        assert_eq!(texts(rows), ["third?", "first?"]);
        // A job from before the list was kept trains on the train prompts as they are.
        let rows = hone.job_rows(project, &params(None)).await.unwrap();
        assert_eq!(texts(rows), ["first?", "second?", "third?"]);
        // A listed prompt gone since is an error that names it.
        let mut conn = hone.store().conn().await.unwrap();
        sqlx::query("DELETE FROM prompts WHERE id = $1")
            .bind(ids[0].0)
            .execute(&mut *conn)
            .await
            .unwrap();
        drop(conn);
        let err = hone.job_rows(project, &listed).await.err().unwrap();
        assert!(
            matches!(&err, CoreError::NotFound { entity: "prompt", key } if *key == ids[0].to_string()),
            "{err}"
        );
    }

    #[tokio::test]
    async fn a_panic_in_the_training_thread_is_the_jobs_error() {
        let worker = tokio::task::spawn_blocking(|| -> Result<Trained> { panic!("stage 2 broke") });
        let error = joined(worker.await).err().expect("an error, not a panic");
        assert_eq!(error.code(), "training");
        assert_eq!(
            error.to_string(),
            "the training stopped on an internal error: stage 2 broke"
        );
        let formatted =
            tokio::task::spawn_blocking(|| -> Result<Trained> { panic!("step {} of {}", 3, 9) });
        let error = joined(formatted.await).err().expect("an error");
        assert!(error.to_string().ends_with("step 3 of 9"), "{error}");
    }

    #[tokio::test]
    async fn the_heartbeat_stops_when_its_guard_is_dropped() {
        let beats = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = beats.clone();
        let guard = AbortOnDrop(tokio::spawn(async move {
            loop {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
        }));
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let handle_finished = {
            drop(guard);
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            beats.load(std::sync::atomic::Ordering::SeqCst)
        };
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(handle_finished > 0, "it beat while held");
        assert_eq!(
            beats.load(std::sync::atomic::Ordering::SeqCst),
            handle_finished,
            "no beat after the guard is gone"
        );
    }
}
