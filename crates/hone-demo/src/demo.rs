//! `hone demo`: the whole human-feedback loop on the starter model, stage by stage —
//! starter model, project and prompts, candidates, the simulated expert's feedback, the
//! one-click fine-tune, evaluation on held-out prompts, export — with the time of each stage.
//! Every number in the report is measured by this run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use hone_core::feedback::{FeedbackInput, FeedbackKind};
use hone_core::finetune::{FineTuneEvent, Method, Plan, Recipe, VersionFormat};
use hone_core::generation::{Candidates, GenerationRequest};
use hone_core::import::ImportOptions;
use hone_core::inference::ModelRef;
use hone_core::model::sampling::SamplingParams;
use hone_core::projects::ProjectSpec;
use hone_core::store::models::ModelVersion;
use hone_core::store::projects::{NamedItem, NewProject, SpanLabel};
use hone_core::store::prompts::Prompt;
use hone_core::train::trainer::TrainConfig;
use hone_core::{Choice, Hone, JudgmentKind, ProjectId, PromptId, ResponseId, Split};
use serde::{Deserialize, Serialize};

use crate::domain::{prompt_sets, topic_index, DomainPrompt, TOPICS};
use crate::expert::{self, assess, Assessment, CRITERIA, SPAN_LABELS};
use crate::starter::{self, StarterSpec};
use crate::{DemoError, Result};
use hone_core::head_to_head::HeadToHead;

/// The simulated expert's annotator name.
pub const EXPERT: &str = "expert (simulated)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Starter,
    Setup,
    Candidates,
    Feedback,
    FineTune,
    Rlhf,
    Evaluate,
    Export,
}

impl Stage {
    pub fn label(self) -> &'static str {
        match self {
            Stage::Starter => "starter model",
            Stage::Setup => "project and prompts",
            Stage::Candidates => "candidates",
            Stage::Feedback => "expert feedback",
            Stage::FineTune => "fine-tune (auto)",
            Stage::Rlhf => "RLHF (reward model + PPO)",
            Stage::Evaluate => "evaluation",
            Stage::Export => "export",
        }
    }
}

/// What the demo reports as it goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum DemoEvent {
    StageStarted {
        stage: Stage,
    },
    /// `done` of `total` units of the stage (steps, prompts, judgments).
    StageProgress {
        stage: Stage,
        done: u64,
        total: u64,
        message: String,
    },
    Plan {
        plan: Plan,
    },
    Note {
        stage: Stage,
        message: String,
    },
    StageFinished {
        stage: Stage,
        seconds: f64,
    },
}

/// How big a run is. `standard` is `hone demo`; tests use `small`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoOptions {
    pub starter: StarterSpec,
    /// Where the starter model is built (reused when it matches the spec).
    pub starter_dir: Option<PathBuf>,
    /// Run the loop on this model (a folder or a GGUF file) instead of the starter model.
    #[serde(default)]
    pub base: Option<PathBuf>,
    pub candidates_per_prompt: usize,
    /// Answers per held-out prompt from each model in the evaluation.
    pub eval_samples: usize,
    pub max_new_tokens: usize,
    pub temperature: f64,
    pub sft: TrainConfig,
    pub dpo: TrainConfig,
    /// The reward model (with `rlhf`): its score head starts from noise, so it needs a larger
    /// step than DPO's.
    pub rm: TrainConfig,
    pub beta: f64,
    pub lora_r: usize,
    /// Also train a reward model and run PPO against it.
    pub rlhf: bool,
    pub ppo_iterations: usize,
    pub seed: u64,
    pub export_dir: Option<PathBuf>,
    /// Where the loop's models run (the starter model is always built on the CPU, so its
    /// bytes are reproducible).
    #[serde(default)]
    pub device: hone_core::model::DeviceChoice,
    /// Token-level feedback for the fine-tune (edits and marked spans trained on their
    /// tokens); off as in the app's default recipe.
    #[serde(default)]
    pub token_level: hone_core::finetune::TokenLevel,
}

impl DemoOptions {
    /// The reduced run: a smaller starter, three train and two held-out prompts per topic.
    pub fn quick() -> Self {
        let standard = Self::standard();
        Self {
            starter: StarterSpec {
                demo_train_per_topic: 3,
                demo_held_out_per_topic: 2,
                ..StarterSpec::small()
            },
            ppo_iterations: 4,
            ..standard
        }
    }

    /// The loop on a pretrained instruction model (`base`): the help-desk domain and the expert
    /// as in `standard` (or `quick`), with LoRA steps sized for a model that already writes
    /// well: SFT at half the starter's rate for six epochs (measured on SmolLM2-135M with
    /// `--quick`: lr 5e-4 for 3 epochs taught the form of the answers but none of the fictional
    /// app's procedures; this teaches 77% of them) and DPO at TRL's usual rate.
    pub fn for_pretrained(quick: bool) -> Self {
        let base = if quick {
            Self::quick()
        } else {
            Self::standard()
        };
        Self {
            sft: TrainConfig {
                learning_rate: 1e-3,
                epochs: 6,
                batch_size: 8,
                ..base.sft.clone()
            },
            dpo: TrainConfig {
                learning_rate: 5e-5,
                epochs: 1,
                batch_size: 8,
                ..base.dpo.clone()
            },
            temperature: 0.7,
            ..base
        }
    }

    pub fn standard() -> Self {
        Self {
            starter: StarterSpec::standard(),
            starter_dir: None,
            base: None,
            candidates_per_prompt: 4,
            eval_samples: 2,
            max_new_tokens: 64,
            temperature: 1.0,
            // Tuned on this model (see the demo's note in README): SFT does most of the work; a
            // gentle DPO pass (KL to base stays under 2 nats) — stronger ones over-optimise a
            // model this small into garbled openings.
            sft: TrainConfig {
                learning_rate: 2e-3,
                epochs: 8,
                batch_size: 8,
                warmup_steps: 5,
                save_steps: 50,
                ..TrainConfig::default()
            },
            dpo: TrainConfig {
                learning_rate: 1e-4,
                epochs: 1,
                batch_size: 8,
                warmup_steps: 5,
                save_steps: 50,
                ..TrainConfig::default()
            },
            rm: TrainConfig {
                learning_rate: 2e-3,
                epochs: 3,
                batch_size: 8,
                warmup_steps: 5,
                save_steps: 50,
                ..TrainConfig::default()
            },
            beta: 0.1,
            lora_r: 16,
            rlhf: false,
            ppo_iterations: 12,
            seed: 2026,
            export_dir: None,
            device: Default::default(),
            token_level: Default::default(),
        }
    }
}

/// One model's answers to the held-out prompts, as the expert sees them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    pub answers: usize,
    pub correct: usize,
    pub polite: usize,
    pub concise: usize,
    /// Correct, polite and concise.
    pub perfect: usize,
}

impl Quality {
    fn add(&mut self, a: Assessment) {
        self.answers += 1;
        self.correct += a.correct as usize;
        self.polite += a.polite as usize;
        self.concise += a.concise as usize;
        self.perfect += a.is_perfect() as usize;
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The challenger against the base, judged by the expert on held-out prompts.
    pub versus_base: HeadToHead,
    pub win_rate: Option<f64>,
    pub interval95: Option<(f64, f64)>,
    pub base_quality: Quality,
    pub version_quality: Quality,
    /// Mean sampled KL(version ‖ base) per answer, on the version's held-out answers.
    pub kl_to_base: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DemoReport {
    pub workspace: PathBuf,
    pub project: String,
    pub starter_dir: PathBuf,
    pub starter_parameters: usize,
    pub train_prompts: usize,
    pub held_out_prompts: usize,
    pub candidates: usize,
    pub judgments: BTreeMap<JudgmentKind, usize>,
    pub plan: Option<Plan>,
    pub v1: ModelVersion,
    pub v1_eval: Evaluation,
    /// With `--rlhf`: the reward model, its accuracy on held-out pairs the expert decided, and
    /// the PPO version with its evaluation.
    pub reward_model: Option<ModelVersion>,
    pub reward_model_accuracy: Option<f64>,
    pub held_out_pairs: usize,
    pub ppo: Option<(ModelVersion, Evaluation)>,
    pub export_dir: PathBuf,
    pub stage_seconds: Vec<(Stage, f64)>,
    pub total_seconds: f64,
}

struct Clock<'a, F: FnMut(&DemoEvent)> {
    on_event: &'a mut F,
    times: Vec<(Stage, f64)>,
    current: Option<(Stage, Instant)>,
}

impl<F: FnMut(&DemoEvent)> Clock<'_, F> {
    fn start(&mut self, stage: Stage) {
        self.finish();
        (self.on_event)(&DemoEvent::StageStarted { stage });
        self.current = Some((stage, Instant::now()));
    }

    fn finish(&mut self) {
        if let Some((stage, started)) = self.current.take() {
            let seconds = started.elapsed().as_secs_f64();
            self.times.push((stage, seconds));
            (self.on_event)(&DemoEvent::StageFinished { stage, seconds });
        }
    }

    fn emit(&mut self, event: DemoEvent) {
        (self.on_event)(&event);
    }
}

fn topic_of(prompt: &Prompt) -> Result<usize> {
    prompt
        .tags
        .iter()
        .find_map(|t| t.strip_prefix("topic:"))
        .and_then(topic_index)
        .ok_or_else(|| DemoError::Invalid(format!("prompt {} has no known topic tag", prompt.id)))
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> DemoError + '_ {
    move |e| DemoError::File {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Writes the demo's prompts as a JSONL file Hone imports (text, split, topic tag).
fn write_prompts(path: &Path, train: &[DomainPrompt], held_out: &[DomainPrompt]) -> Result<()> {
    let mut lines = String::new();
    for (split, prompts) in [("train", train), ("heldout", held_out)] {
        for p in prompts {
            let line = serde_json::json!({ "prompt": p.text, "split": split, "tags": [format!("topic:{}", TOPICS[p.topic].key)] });
            lines.push_str(&line.to_string());
            lines.push('\n');
        }
    }
    hone_core::export::write_atomically(path, lines.as_bytes())?;
    Ok(())
}

fn feedback(
    project_id: ProjectId,
    kind: FeedbackKind,
    shown_order: Vec<ResponseId>,
) -> FeedbackInput {
    FeedbackInput {
        shown_order,
        ..FeedbackInput::new(project_id, EXPERT, kind)
    }
}

/// The expert's judgments on one train prompt's candidates, all five kinds spread over the
/// prompts: a ranking (every third prompt) or a comparison of the first two, ratings of every
/// candidate (every fourth), an edit of the first flawed one, span marks on the flawed ones
/// (every other prompt).
fn judgments_for(
    project_id: ProjectId,
    index: usize,
    topic: usize,
    shown: &[(ResponseId, String)],
) -> Vec<FeedbackInput> {
    let mut out = Vec::new();
    let ids: Vec<ResponseId> = shown.iter().map(|(id, _)| *id).collect();
    if shown.len() >= 3 && index.is_multiple_of(3) {
        let list: Vec<(ResponseId, &str)> = shown.iter().map(|(id, t)| (*id, t.as_str())).collect();
        out.push(feedback(
            project_id,
            FeedbackKind::Ranking {
                ranked: expert::rank(topic, &list),
            },
            ids.clone(),
        ));
    } else if shown.len() >= 2 {
        let choice = expert::compare(topic, &shown[0].1, &shown[1].1);
        let kind = FeedbackKind::Comparison {
            response_a: shown[0].0,
            response_b: shown[1].0,
            choice,
            strength: None,
            reason: None,
        };
        out.push(feedback(project_id, kind, ids[..2].to_vec()));
    }
    if index % 4 == 1 {
        for (id, text) in shown {
            out.push(feedback(
                project_id,
                FeedbackKind::Rating {
                    response_id: *id,
                    scores: expert::rate(topic, text),
                },
                vec![*id],
            ));
        }
    }
    if let Some((id, corrected)) = shown
        .iter()
        .find_map(|(id, t)| expert::edit(topic, t).map(|c| (*id, c)))
    {
        out.push(feedback(
            project_id,
            FeedbackKind::Edit {
                response_id: id,
                corrected,
            },
            vec![id],
        ));
    }
    if index.is_multiple_of(2) {
        for (id, text) in shown {
            let spans = expert::spans(topic, text);
            if !spans.is_empty() {
                out.push(feedback(
                    project_id,
                    FeedbackKind::Span {
                        response_id: *id,
                        spans,
                    },
                    vec![*id],
                ));
            }
        }
    }
    out
}

fn sampling(options: &DemoOptions, seed: u64) -> SamplingParams {
    SamplingParams {
        temperature: options.temperature,
        top_p: None,
        max_new_tokens: options.max_new_tokens,
        seed,
        ..SamplingParams::default()
    }
}

impl DemoOptions {
    fn recipe(&self, method: Method, model_dir: &Path) -> Recipe {
        let mut r = Recipe::new(method, model_dir.to_owned());
        r.sft = self.sft.clone();
        r.preference = self.dpo.clone();
        r.beta = self.beta;
        r.lora.r = self.lora_r;
        r.lora.alpha = 2.0 * self.lora_r as f64;
        r.token_level = self.token_level;
        r
    }
}

/// Runs the demo in the workspace at `workspace` (created if needed).
pub async fn run(
    workspace: &Path,
    options: &DemoOptions,
    mut on_event: impl FnMut(&DemoEvent) + Send,
) -> Result<DemoReport> {
    let started = Instant::now();
    let mut clock = Clock {
        on_event: &mut on_event,
        times: Vec::new(),
        current: None,
    };

    // 1. The base model: the one given (a GGUF file is imported into the workspace once), or
    //    the starter model, reused when a build of this spec is there, else built.
    clock.start(Stage::Starter);
    let (starter_dir, starter_parameters) = match &options.base {
        Some(base) => {
            let (ws, given) = (workspace.to_owned(), base.clone());
            let dir = tokio::task::spawn_blocking(move || {
                hone_core::model_files::model_folder_in(&ws, &given)
            })
            .await
            .expect("the import does not panic")?;
            let config = hone_core::model::Config::from_file(&dir.join("config.json"))?;
            clock.emit(DemoEvent::Note {
                stage: Stage::Starter,
                message: format!(
                    "using {} ({}, {:.1}M parameters) instead of the starter model",
                    base.display(),
                    config.model_type,
                    config.parameter_count() as f64 / 1e6
                ),
            });
            (dir, config.parameter_count())
        }
        None => {
            let starter_dir = options
                .starter_dir
                .clone()
                .unwrap_or_else(|| workspace.join("models").join("hone-starter"));
            let parameters = starter_model(&starter_dir, &options.starter, &mut clock).await?;
            (starter_dir, parameters)
        }
    };

    // 2. Workspace, project, prompts.
    clock.start(Stage::Setup);
    let hone = Hone::open(workspace)
        .await?
        .with_seed(options.seed)
        .with_device(options.device);
    let existing: Vec<String> = hone
        .list_projects()
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    let name = (1..)
        .map(|i| {
            if i == 1 {
                "help-desk".to_string()
            } else {
                format!("help-desk-{i}")
            }
        })
        .find(|n| !existing.contains(n))
        .expect("a free name");
    let spec = ProjectSpec {
        settings: NewProject {
            task_description: "Answer questions about the Quill notes app: the right procedure, politely, in one sentence.".into(),
            rating_min: 1,
            rating_max: 5,
            kto_threshold: 4.0,
            ..NewProject::named(name.clone())
        },
        guidelines: Some(
            "Judge correctness first: the answer must give the right procedure for the question and no other. \
             Then tone: no remark at the user's expense. Then length: one sentence is enough."
                .into(),
        ),
        criteria: CRITERIA.iter().map(|(n, d)| NamedItem { name: (*n).into(), description: (*d).into() }).collect(),
        span_labels: SPAN_LABELS.iter().map(|(n, d)| SpanLabel::error(*n, *d)).collect(),
    };
    let project = hone.create_project(&spec).await?.project;
    let sets = prompt_sets(
        options.starter.seed,
        options.starter.demo_train_per_topic,
        options.starter.demo_held_out_per_topic,
    );
    let prompts_file = workspace.join("demo").join(format!("{name}-prompts.jsonl"));
    std::fs::create_dir_all(prompts_file.parent().expect("a folder"))
        .map_err(io_error(&prompts_file))?;
    write_prompts(&prompts_file, &sets.train, &sets.held_out)?;
    hone.import_file(project.id, &prompts_file, &ImportOptions::default())
        .await?;
    let train = hone.list_prompts(project.id, Some(Split::Train)).await?;
    let held_out = hone.list_prompts(project.id, Some(Split::Heldout)).await?;
    clock.emit(DemoEvent::Note {
        stage: Stage::Setup,
        message: format!(
            "project {name}: {} train and {} held-out prompts from {}",
            train.len(),
            held_out.len(),
            prompts_file.display()
        ),
    });

    // 3. Candidates from the starter model.
    clock.start(Stage::Candidates);
    let base = ModelRef::Base {
        dir: starter_dir.clone(),
    };
    let request = GenerationRequest {
        model: base.clone(),
        prompt_ids: train.iter().map(|p| p.id).collect(),
        n: options.candidates_per_prompt,
        sampling: sampling(options, options.seed),
    };
    let candidates = generate(&hone, &request, Stage::Candidates, &mut clock).await?;
    let candidate_count: usize = candidates.iter().map(|c| c.responses.len()).sum();

    // 4. The simulated expert's feedback.
    clock.start(Stage::Feedback);
    let mut inputs = Vec::new();
    for (index, (prompt, c)) in train.iter().zip(&candidates).enumerate() {
        let shown: Vec<(ResponseId, String)> =
            c.responses.iter().map(|r| (r.id, r.text.clone())).collect();
        inputs.extend(judgments_for(project.id, index, topic_of(prompt)?, &shown));
    }
    let mut judgments: BTreeMap<JudgmentKind, usize> = BTreeMap::new();
    for (done, input) in inputs.iter().enumerate() {
        hone.record_feedback(input).await?;
        let kind = match &input.kind {
            FeedbackKind::Comparison { .. } => JudgmentKind::Comparison,
            FeedbackKind::Ranking { .. } => JudgmentKind::Ranking,
            FeedbackKind::Rating { .. } => JudgmentKind::Rating,
            FeedbackKind::Edit { .. } => JudgmentKind::Edit,
            FeedbackKind::Span { .. } => JudgmentKind::Span,
            FeedbackKind::Thumbs { .. } => JudgmentKind::Thumbs,
            FeedbackKind::Demonstration { .. } => JudgmentKind::Demonstration,
            FeedbackKind::Critique { .. } => JudgmentKind::Critique,
        };
        *judgments.entry(kind).or_default() += 1;
        if (done + 1) % 20 == 0 || done + 1 == inputs.len() {
            clock.emit(DemoEvent::StageProgress {
                stage: Stage::Feedback,
                done: done as u64 + 1,
                total: inputs.len() as u64,
                message: String::new(),
            });
        }
    }

    // 5. The one-click fine-tune.
    clock.start(Stage::FineTune);
    let recipe = options.recipe(Method::Auto, &starter_dir);
    let (v1, plan) = fine_tune(
        &hone,
        project.id,
        &Recipe {
            version_name: Some("v1".into()),
            ..recipe
        },
        Stage::FineTune,
        &mut clock,
    )
    .await?;

    // 6. RLHF: reward model, then PPO from v1 against it.
    let mut reward_model = None;
    let mut ppo_version = None;
    if options.rlhf {
        clock.start(Stage::Rlhf);
        let rm_recipe = Recipe {
            version_name: Some("rm".into()),
            preference: options.rm.clone(),
            ..options.recipe(Method::RewardModel, &starter_dir)
        };
        let (rm, _) = fine_tune(&hone, project.id, &rm_recipe, Stage::Rlhf, &mut clock).await?;
        let mut ppo_recipe = options.recipe(Method::Ppo, &starter_dir);
        ppo_recipe.version_name = Some("v2".into());
        ppo_recipe.parent_version = Some(v1.id);
        ppo_recipe.reward_model = Some(rm.id);
        ppo_recipe.ppo_iterations = options.ppo_iterations;
        ppo_recipe.ppo.max_new_tokens = options.max_new_tokens.min(32);
        let (v2, _) = fine_tune(&hone, project.id, &ppo_recipe, Stage::Rlhf, &mut clock).await?;
        reward_model = Some(rm);
        ppo_version = Some(v2);
    }

    // 7. Evaluation on held-out prompts: each model answers with the same sampling seeds.
    clock.start(Stage::Evaluate);
    let held_ids: Vec<PromptId> = held_out.iter().map(|p| p.id).collect();
    let eval_request = |model: ModelRef| GenerationRequest {
        model,
        prompt_ids: held_ids.clone(),
        n: options.eval_samples,
        sampling: sampling(options, options.seed + 1),
    };
    let base_answers = generate_all(
        &hone,
        &eval_request(base.clone()),
        options.eval_samples,
        &mut clock,
    )
    .await?;
    let v1_answers = generate_all(
        &hone,
        &eval_request(ModelRef::Version { id: v1.id }),
        options.eval_samples,
        &mut clock,
    )
    .await?;
    let v1_eval = evaluate(
        &hone,
        project.id,
        &held_out,
        &base_answers,
        &v1_answers,
        v1.id,
    )
    .await?;
    let mut ppo = None;
    if let Some(v2) = &ppo_version {
        let v2_answers = generate_all(
            &hone,
            &eval_request(ModelRef::Version { id: v2.id }),
            options.eval_samples,
            &mut clock,
        )
        .await?;
        ppo = Some((
            v2.clone(),
            evaluate(
                &hone,
                project.id,
                &held_out,
                &base_answers,
                &v2_answers,
                v2.id,
            )
            .await?,
        ));
    }
    // The reward model against the expert on held-out pairs (base vs v1 answers the expert
    // decided one way or the other).
    let mut reward_model_accuracy = None;
    let mut held_out_pairs = 0;
    if let Some(rm) = &reward_model {
        let mut pairs = Vec::new();
        for (prompt, (b, v)) in held_out.iter().zip(base_answers.iter().zip(&v1_answers)) {
            let topic = topic_of(prompt)?;
            for (x, y) in b.iter().zip(v) {
                match expert::compare(topic, &x.1, &y.1) {
                    Choice::A => pairs.push((x.0, y.0)),
                    Choice::B => pairs.push((y.0, x.0)),
                    _ => {}
                }
            }
        }
        held_out_pairs = pairs.len();
        if !pairs.is_empty() {
            let ids: Vec<ResponseId> = pairs.iter().flat_map(|(c, r)| [*c, *r]).collect();
            let scores = hone.score_responses(rm.id, &ids).await?;
            let agree = scores.chunks(2).filter(|s| s[0] > s[1]).count();
            reward_model_accuracy = Some(agree as f64 / pairs.len() as f64);
        }
    }

    // 8. Export v1 as a PEFT adapter.
    clock.start(Stage::Export);
    let export_dir = options
        .export_dir
        .clone()
        .unwrap_or_else(|| workspace.join("exports").join(format!("{name}-v1-peft")));
    hone.export_version(v1.id, VersionFormat::Peft, &export_dir)
        .await?;
    clock.finish();

    Ok(DemoReport {
        workspace: workspace.to_owned(),
        project: name,
        starter_dir,
        starter_parameters,
        train_prompts: train.len(),
        held_out_prompts: held_out.len(),
        candidates: candidate_count,
        judgments,
        plan,
        v1,
        v1_eval,
        reward_model,
        reward_model_accuracy,
        held_out_pairs,
        ppo,
        export_dir,
        stage_seconds: clock.times,
        total_seconds: started.elapsed().as_secs_f64(),
    })
}

async fn generate<F: FnMut(&DemoEvent) + Send>(
    hone: &Hone,
    request: &GenerationRequest,
    stage: Stage,
    clock: &mut Clock<'_, F>,
) -> Result<Vec<Candidates>> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let work = hone.generate_candidates(request, move |done, total| {
        let _ = tx.send((done, total));
    });
    tokio::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => {
                while let Ok((done, total)) = rx.try_recv() {
                    clock.emit(DemoEvent::StageProgress { stage, done: done as u64, total: total as u64, message: String::new() });
                }
                return Ok(result?);
            }
            Some((done, total)) = rx.recv() => {
                clock.emit(DemoEvent::StageProgress { stage, done: done as u64, total: total as u64, message: String::new() });
            }
        }
    }
}

/// Each prompt's `n` sampled answers as (response id, text), duplicates included (the
/// evaluation counts every sample, not every distinct text).
async fn generate_all<F: FnMut(&DemoEvent) + Send>(
    hone: &Hone,
    request: &GenerationRequest,
    n: usize,
    clock: &mut Clock<'_, F>,
) -> Result<Vec<Vec<(ResponseId, String)>>> {
    // Sample i of a prompt is generated with its own seed, so asking for one sample at a time
    // with seed + i gives the same texts as one call with n — and keeps repeated texts.
    let mut per_prompt: Vec<Vec<(ResponseId, String)>> = vec![Vec::new(); request.prompt_ids.len()];
    for i in 0..n {
        let mut single = request.clone();
        single.n = 1;
        single.sampling.seed = request.sampling.seed.wrapping_add(i as u64);
        for (slot, c) in per_prompt
            .iter_mut()
            .zip(generate(hone, &single, Stage::Evaluate, clock).await?)
        {
            let r = c.responses.first().ok_or_else(|| {
                DemoError::Invalid(format!("prompt {} got no answer", c.prompt_id))
            })?;
            slot.push((r.id, r.text.clone()));
        }
    }
    Ok(per_prompt)
}

/// The expert judges the version's answers against the base's, sample by sample; the verdicts
/// are recorded as comparisons on the held-out prompts (held-out judgments never train).
async fn evaluate(
    hone: &Hone,
    project_id: ProjectId,
    held_out: &[Prompt],
    base_answers: &[Vec<(ResponseId, String)>],
    answers: &[Vec<(ResponseId, String)>],
    version_id: hone_core::VersionId,
) -> Result<Evaluation> {
    let mut h2h = HeadToHead::default();
    let (mut base_quality, mut version_quality) = (Quality::default(), Quality::default());
    for (prompt, (b, v)) in held_out.iter().zip(base_answers.iter().zip(answers)) {
        let topic = topic_of(prompt)?;
        for (x, y) in v.iter().zip(b) {
            version_quality.add(assess(topic, &x.1));
            base_quality.add(assess(topic, &y.1));
            let choice = expert::compare(topic, &x.1, &y.1);
            h2h.add(match choice {
                Choice::A => std::cmp::Ordering::Greater,
                Choice::B => std::cmp::Ordering::Less,
                Choice::Tie | Choice::BothBad => std::cmp::Ordering::Equal,
            });
            if x.0 != y.0 {
                let kind = FeedbackKind::Comparison {
                    response_a: x.0,
                    response_b: y.0,
                    choice,
                    strength: None,
                    reason: Some("held-out evaluation".into()),
                };
                hone.record_feedback(&feedback(project_id, kind, vec![x.0, y.0]))
                    .await?;
            }
        }
    }
    let ids: Vec<ResponseId> = answers.iter().flatten().map(|(id, _)| *id).collect();
    let kl = hone.kl_to_base(version_id, &ids).await?;
    Ok(Evaluation {
        versus_base: h2h,
        win_rate: h2h.win_rate(),
        interval95: h2h.interval95(),
        base_quality,
        version_quality,
        kl_to_base: kl.mean_kl,
    })
}

async fn fine_tune<F: FnMut(&DemoEvent) + Send>(
    hone: &Hone,
    project_id: ProjectId,
    recipe: &Recipe,
    stage: Stage,
    clock: &mut Clock<'_, F>,
) -> Result<(ModelVersion, Option<Plan>)> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let cancel = Arc::new(AtomicBool::new(false));
    let work = hone.fine_tune(project_id, recipe, cancel, move |e| {
        let _ = tx.send(e.clone());
    });
    tokio::pin!(work);
    let mut plan = None;
    let mut forward = |event: FineTuneEvent, clock: &mut Clock<'_, F>| match event {
        FineTuneEvent::Planned { plan: p } => {
            clock.emit(DemoEvent::Plan { plan: p.clone() });
            plan = Some(p);
        }
        FineTuneEvent::StageStarted {
            method,
            examples,
            steps,
            ..
        } => clock.emit(DemoEvent::Note {
            stage,
            message: format!("{}: {examples} examples, {steps} steps", method.as_str()),
        }),
        // The demo's pairs are few: its reference pass is over in a moment.
        FineTuneEvent::ReferencePass { .. } => {}
        FineTuneEvent::Progress { method, progress } => clock.emit(DemoEvent::StageProgress {
            stage,
            done: progress.step,
            total: progress.total_steps,
            message: format!("{} loss {:.4}", method.as_str(), progress.loss),
        }),
        FineTuneEvent::Evaluating { .. } => clock.emit(DemoEvent::Note {
            stage,
            message: "evaluating the new version on held-out data".into(),
        }),
    };
    let outcome = loop {
        tokio::select! {
            result = &mut work => {
                while let Ok(e) = rx.try_recv() {
                    forward(e, clock);
                }
                break result?;
            }
            Some(e) = rx.recv() => forward(e, clock),
        }
    };
    Ok((outcome.version, plan))
}

/// The starter model in `starter_dir`: reused when a build of `spec` is there, else built (with
/// progress). Returns its parameter count.
async fn starter_model<F: FnMut(&DemoEvent) + Send>(
    starter_dir: &Path,
    spec: &StarterSpec,
    clock: &mut Clock<'_, F>,
) -> Result<usize> {
    if let Some(manifest) = starter::existing(starter_dir, spec) {
        clock.emit(DemoEvent::Note {
            stage: Stage::Starter,
            message: format!(
                "using the starter model built earlier in {}",
                starter_dir.display()
            ),
        });
        return Ok(manifest.parameters);
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (dir, spec) = (starter_dir.to_owned(), spec.clone());
    let worker = tokio::task::spawn_blocking(move || {
        starter::build(&dir, &spec, &AtomicBool::new(false), |p| {
            let _ = tx.send((p.step, p.total_steps, p.loss));
        })
    });
    while let Some((done, total, loss)) = rx.recv().await {
        clock.emit(DemoEvent::StageProgress {
            stage: Stage::Starter,
            done,
            total,
            message: format!("loss {loss:.3}"),
        });
    }
    Ok(worker
        .await
        .expect("the starter build does not panic")?
        .parameters)
}
