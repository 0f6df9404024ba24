//! The training of a job's stages, on a blocking thread (training is CPU-bound): the model is
//! loaded and the data tokenized, the plan made and sent, each stage trained (continuing from
//! its checkpoint in the job's folder), and the adapter written into the job's staging folder.
//! Progress goes back over a channel; `run` records it and makes the version.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use hone_model::device::{select, DeviceChoice};
use hone_model::lora::{Adapter, LinearSpec};
use hone_model::LoadedModel;
use hone_store::models::VersionFile;
use hone_train::checkpointing::Checkpointing;
use hone_train::ppo::{Ppo, PpoSchedule, RewardModel};
use hone_train::preference::{Dpo, DpoSettings, Kto, KtoSettings, Watch};
use hone_train::reward::{RewardModelTraining, ScoreHead, SCORE_KEY};
use hone_train::sft::Sft;
use hone_train::token_losses::TokenWeighted;
use hone_train::trainer::{save_vars, train, Objective, Progress, TrainConfig};
use hone_train::Metrics;
use sha2::Digest;
use tokio::sync::mpsc::UnboundedSender;

use super::plan::plan_for;
use super::recipe::{BaseWeights, Plan, PlanStage, Recipe, StageMethod};
use super::run::{FineTuneEvent, SCORE_FILE};
use super::tokens::{tokenize, TokenizedData};
use crate::dataset::{PromptContent, TrainingData};
use crate::{CoreError, Result};

/// What the stages train on and where they write.
pub(super) struct StageInputs {
    pub recipe: Recipe,
    pub data: TrainingData,
    /// The train prompts PPO samples from.
    pub prompts: Vec<PromptContent>,
    /// The parent version's adapter: the policy starts from it, and it is the reference.
    pub parent_dir: Option<PathBuf>,
    /// The reward model PPO optimises against.
    pub reward_dir: Option<PathBuf>,
    /// Each stage checkpoints into `<job_dir>/<index>-<method>/`.
    pub job_dir: PathBuf,
    /// Where the finished adapter is written (the version's files move from there).
    pub staged_dir: PathBuf,
    pub device: DeviceChoice,
    pub workspace: PathBuf,
    /// What a GGUF import just before left with the allocator, for the plan.
    pub leftover: super::memory::Leftover,
}

/// What the training thread hands back.
pub(super) struct Trained {
    pub plan: Plan,
    /// Each stage's final metrics (with its wall time and tokens when it ran whole here).
    pub finals: Vec<(StageMethod, Metrics)>,
    pub files: Vec<VersionFile>,
    pub peak_memory_mib: Option<f64>,
}

pub(super) fn load_model(
    dir: &Path,
    device: DeviceChoice,
    base: BaseWeights,
) -> Result<LoadedModel> {
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

/// Trains every stage of the plan in turn and writes the adapter.
pub(super) fn train_stages(
    inputs: StageInputs,
    cancel: &AtomicBool,
    events: &UnboundedSender<FineTuneEvent>,
) -> Result<Trained> {
    let StageInputs {
        recipe,
        data,
        prompts,
        parent_dir,
        reward_dir,
        job_dir,
        staged_dir,
        device,
        workspace,
        leftover,
    } = inputs;
    // The peak from here on is the training's (a server may have peaked before).
    hone_model::device::reset_process_peak_memory();
    let runtime = leftover.runtime_bytes();
    let lm = load_model(&recipe.model_dir, device, recipe.base_weights)?;
    trace_memory(&lm, "model loaded");
    let tokens = tokenize(&lm, &data, &prompts, &recipe.token_level)?;
    let speed = super::device_speed::speed(&workspace, &lm.device);
    // Again, after the speed probe of a workspace's first plan (its models and steps are not
    // the training's); what the loaded model holds is resident and still counts. (PPO's plan
    // decodes a few steps, `decode_probe`, after this: an adapter and a short cache, less than
    // the PPO updates themselves hold.)
    hone_model::device::reset_process_peak_memory();
    let plan = plan_for(&recipe, &data, &tokens, &lm, speed, runtime)?;
    let _ = events.send(FineTuneEvent::Planned { plan: plan.clone() });
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
    // The reference of preference stages: the parent adapter, or after an SFT stage the SFT
    // result, else the base model.
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
        let _ = events.send(FineTuneEvent::StageStarted {
            index,
            method: stage.method,
            examples: stage.examples,
            steps: stage.steps,
        });
        let dir = job_dir.join(format!("{index}-{}", stage.method.as_str()));
        // A stage resumed from a checkpoint ran only partly here: its time says nothing.
        let (timer, fresh) = (std::time::Instant::now(), !dir.exists());
        let run = StageRun {
            stage,
            recipe: &recipe,
            lm: &lm,
            tokens: &tokens,
            specs: &specs,
            adapter: &adapter,
            reference: reference.as_ref(),
            reward_dir: reward_dir.as_deref(),
            dir: &dir,
            base_name: &base_name,
            cancel,
            events,
        };
        let mut metrics = run.train(&mut score_head)?;
        if fresh {
            metrics.insert(super::timing::SECONDS, timer.elapsed().as_secs_f64());
            metrics.insert(super::timing::TOKENS, stage.tokens as f64);
            if stage.gradient_checkpointing {
                metrics.insert(super::timing::CHECKPOINTING, 1.0);
            }
        }
        finals.push((stage.method, metrics));
        // Copied only when a later stage reads it: the copy is as large as the adapter.
        let later = plan.stages[index + 1..].iter().any(|s| s.examples > 0);
        if stage.method == StageMethod::Sft && later {
            reference = Some(adapter.duplicate("reference")?);
        }
    }
    let files = write_adapter(&adapter, score_head.as_ref(), &staged_dir, &base_name)?;
    let peak_memory_mib =
        hone_model::device::process_peak_memory_bytes().map(|b| b as f64 / (1024.0 * 1024.0));
    Ok(Trained {
        plan,
        finals,
        files,
        peak_memory_mib,
    })
}

/// One stage of a run, with what it trains from.
struct StageRun<'a> {
    stage: &'a PlanStage,
    recipe: &'a Recipe,
    lm: &'a LoadedModel,
    tokens: &'a TokenizedData,
    specs: &'a [LinearSpec],
    adapter: &'a Adapter,
    reference: Option<&'a Adapter>,
    reward_dir: Option<&'a Path>,
    /// The stage's checkpoint folder.
    dir: &'a Path,
    base_name: &'a str,
    cancel: &'a AtomicBool,
    events: &'a UnboundedSender<FineTuneEvent>,
}

/// How often a reference pass says how far it got (its last batch is always said).
const REFERENCE_PASS_TOLD_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl StageRun<'_> {
    /// What a preference stage's reference pass tells, as it scores: a
    /// [`FineTuneEvent::ReferencePass`] a second at most, and at its end.
    fn reference_pass_told(&self) -> impl Fn(usize, usize) + Sync + '_ {
        let last = std::sync::Mutex::new(None::<std::time::Instant>);
        move |scored, total| {
            let mut last = last.lock().expect("reference pass clock");
            if scored < total && last.is_some_and(|t| t.elapsed() < REFERENCE_PASS_TOLD_EVERY) {
                return;
            }
            *last = Some(std::time::Instant::now());
            let _ = self.events.send(FineTuneEvent::ReferencePass {
                method: self.stage.method,
                scored,
                total,
            });
        }
    }

    /// Trains the stage and returns its final metrics; a reward-model stage leaves its scalar
    /// head in `score_head`.
    fn train(&self, score_head: &mut Option<ScoreHead>) -> Result<Metrics> {
        let recipe = self.recipe;
        let model = &self.lm.model;
        match self.stage.method {
            StageMethod::Sft if self.tokens.weighted.is_empty() => self.run(
                &mut Sft {
                    model,
                    examples: &self.tokens.sft,
                },
                &recipe.sft,
            ),
            // Token-level rows beside the demonstrations (which weigh 1 on every token).
            StageMethod::Sft => {
                let examples = self.tokens.sft_stage();
                let mut objective = TokenWeighted::new(
                    model,
                    &examples,
                    recipe.token_level.negative,
                    self.reference,
                )?;
                self.run(&mut objective, &recipe.sft)
            }
            StageMethod::Dpo => {
                let settings = DpoSettings {
                    beta: recipe.beta,
                    loss_type: recipe.dpo_loss,
                    label_smoothing: recipe.label_smoothing,
                };
                let told = self.reference_pass_told();
                let watch = Watch {
                    cancel: self.cancel,
                    scored: &told,
                };
                let mut dpo =
                    Dpo::watched(model, &self.tokens.pairs, self.reference, settings, &watch)?;
                trace_memory(self.lm, "reference log-probs computed");
                self.run(&mut dpo, &recipe.preference)
            }
            StageMethod::Kto => {
                let settings = KtoSettings {
                    beta: recipe.beta,
                    ..KtoSettings::default()
                };
                let told = self.reference_pass_told();
                let watch = Watch {
                    cancel: self.cancel,
                    scored: &told,
                };
                let mut kto =
                    Kto::watched(model, &self.tokens.kto, self.reference, settings, &watch)?;
                self.run(&mut kto, &recipe.preference)
            }
            StageMethod::RewardModel => {
                let head = ScoreHead::new(
                    model.config().hidden_size,
                    recipe.preference.seed,
                    model.device(),
                )?;
                let mut objective = RewardModelTraining {
                    model,
                    head: &head,
                    pairs: &self.tokens.pairs,
                    margins: None,
                    center_rewards_coefficient: 0.01,
                };
                let metrics = self.run(&mut objective, &recipe.preference)?;
                *score_head = Some(head);
                Ok(metrics)
            }
            StageMethod::Ppo => self.ppo(),
        }
    }

    /// The trainer's loop over the stage's examples, with the plan's decision on gradient
    /// checkpointing (not the recipe's `auto`).
    fn run(&self, objective: &mut dyn Objective, config: &TrainConfig) -> Result<Metrics> {
        let config = TrainConfig {
            gradient_checkpointing: if self.stage.gradient_checkpointing {
                Checkpointing::On
            } else {
                Checkpointing::Off
            },
            ..config.clone()
        };
        let outcome = train(
            self.adapter,
            objective,
            self.stage.examples,
            &config,
            self.dir,
            self.base_name,
            self.cancel,
            |p| self.report(p),
        )?;
        Ok(outcome.last.map(|p| p.metrics).unwrap_or_default())
    }

    /// PPO against the recipe's reward model on the train prompts. Its checkpoints go to this
    /// job's stage folder, never beside the reward model: another PPO job against it must not
    /// resume from them.
    fn ppo(&self) -> Result<Metrics> {
        let recipe = self.recipe;
        let rm_dir = self
            .reward_dir
            .ok_or_else(|| CoreError::invalid("recipe.reward_model", "has no adapter files"))?;
        let device = self.lm.model.device();
        let rm_adapter = Adapter::load_peft("reward", rm_dir, self.specs, device)?;
        let rm_head = ScoreHead::load(&rm_dir.join(SCORE_FILE), device)?;
        let mut reward = RewardModel {
            lm: self.lm,
            adapter: &rm_adapter,
            head: &rm_head,
        };
        let mut ppo = Ppo::new(self.lm, self.adapter, recipe.ppo.clone())?
            .checkpointing(self.stage.gradient_checkpointing);
        let schedule = PpoSchedule {
            iterations: recipe.ppo_iterations,
            batch_size: recipe.ppo_batch_size,
            save_every: recipe.preference.save_steps as usize,
        };
        Ok(ppo.train(
            &self.tokens.prompts,
            &mut reward,
            schedule,
            self.dir,
            self.base_name,
            self.cancel,
            |p| self.report(p),
        )?)
    }

    fn report(&self, progress: &Progress) {
        trace_memory(self.lm, "step done");
        let _ = self.events.send(FineTuneEvent::Progress {
            method: self.stage.method,
            progress: progress.clone(),
        });
    }
}

/// A debug event (`HONE_LOG=hone_core=debug`) with the device's memory in use (a GPU's) at a
/// phase of the run, to see where a run's memory goes.
fn trace_memory(lm: &LoadedModel, phase: &str) {
    if tracing::enabled!(tracing::Level::DEBUG) {
        let device_mib = hone_model::device::memory_in_use(&lm.device).map(|b| b / (1024 * 1024));
        let resident_mib =
            hone_model::device::process_resident_memory_bytes().map(|b| b / (1024 * 1024));
        tracing::debug!(device_mib, resident_mib, "{phase}");
    }
}

/// Writes the adapter (PEFT) and a reward model's head into `dir`, fresh, and lists the files.
fn write_adapter(
    adapter: &Adapter,
    score_head: Option<&ScoreHead>,
    dir: &Path,
    base_name: &str,
) -> Result<Vec<VersionFile>> {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(CoreError::io(dir))?;
    }
    let mut files: Vec<VersionFile> = adapter
        .save_peft(dir, base_name)?
        .into_iter()
        .map(|f| VersionFile {
            path: f.name,
            sha256: f.sha256,
            bytes: f.bytes as i64,
        })
        .collect();
    if let Some(head) = score_head {
        let path = dir.join(SCORE_FILE);
        save_vars(&[(SCORE_KEY.to_string(), head.weight.clone())], &path)?;
        let bytes = std::fs::read(&path).map_err(CoreError::io(&path))?;
        files.push(VersionFile {
            path: SCORE_FILE.into(),
            sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            bytes: bytes.len() as i64,
        });
    }
    Ok(files)
}
