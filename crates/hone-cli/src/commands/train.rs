use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use hone_core::finetune::{BaseWeights, FineTuneEvent, FineTuneOutcome, Method, Plan, Recipe};
use hone_core::train::checkpointing::Checkpointing;
use hone_core::train::losses::DpoLossType;
use indicatif::{ProgressBar, ProgressStyle};

use crate::output;
use crate::output::say;

#[derive(clap::Args)]
pub struct TrainArgs {
    #[arg(long)]
    project: String,
    /// The base model's Hugging Face folder.
    #[arg(long)]
    model: PathBuf,
    /// auto (SFT on demonstrations and edits, then DPO on pairs), sft, dpo, kto, rm (reward
    /// model), ppo (RLHF against --reward-model) or rlhf (a reward model, then PPO against it).
    #[arg(long, default_value = "auto")]
    method: Method,
    /// PPO: the reward-model version (its id) to optimise against.
    #[arg(long)]
    reward_model: Option<hone_core::VersionId>,
    /// Do not evaluate the new version on the held-out data after training (`hone eval` later).
    #[arg(long)]
    no_eval: bool,
    /// PPO iterations.
    #[arg(long)]
    ppo_iterations: Option<usize>,
    /// Continue from this version (its id).
    #[arg(long)]
    parent: Option<hone_core::VersionId>,
    /// Show the plan and stop.
    #[arg(long)]
    plan_only: bool,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    lr: Option<f64>,
    #[arg(long)]
    batch_size: Option<usize>,
    #[arg(long)]
    lora_r: Option<usize>,
    #[arg(long)]
    lora_alpha: Option<f64>,
    /// LoRA dropout on each adapted projection's input, in [0, 1) (default 0.05, as PEFT's
    /// examples; 0 makes runs comparable step by step with another trainer's).
    #[arg(long)]
    lora_dropout: Option<f64>,
    #[arg(long)]
    beta: Option<f64>,
    /// sigmoid, ipo or hinge.
    #[arg(long)]
    dpo_loss: Option<String>,
    #[arg(long)]
    seed: Option<u64>,
    /// Write a checkpoint every this many steps (a stopped or killed job resumes from the
    /// last one with `hone resume`); default 50, and always at a stage's end.
    #[arg(long)]
    save_steps: Option<u64>,
    /// Train on held-out prompts too.
    #[arg(long)]
    include_heldout: bool,
    /// dense (the device's dtype) or quantized: the frozen base stays in the quantized blocks
    /// of the GGUF file the model was imported from (QLoRA-style; far less memory).
    #[arg(long, default_value = "dense")]
    base_weights: BaseWeights,
    /// auto, on or off: recompute each decoder layer in the backward instead of keeping its
    /// activations (less memory, about a fifth more time). auto: when the plan's memory
    /// estimate would not fit the device otherwise.
    #[arg(long, default_value = "auto")]
    gradient_checkpointing: Checkpointing,
    #[command(flatten)]
    token_level: super::token_level::TokenLevelArgs,
    /// Do not train here: write this recipe as a TRL job into this new folder, to train on a
    /// cluster (TRL, PEFT, accelerate; README.md inside), then `hone versions import --from`.
    #[arg(long, conflicts_with = "plan_only")]
    trl_job: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

/// The recipe the flags say, token-level feedback starting from the project's settings.
fn recipe(
    args: &TrainArgs,
    token_level: hone_core::finetune::TokenLevel,
) -> anyhow::Result<Recipe> {
    let mut r = Recipe::new(args.method, args.model.clone());
    r.token_level = token_level;
    r.parent_version = args.parent;
    r.reward_model = args.reward_model;
    if let Some(n) = args.ppo_iterations {
        r.ppo_iterations = n;
    }
    r.version_name = args.name.clone();
    r.evaluate = !args.no_eval;
    r.base_weights = args.base_weights;
    for config in [&mut r.sft, &mut r.preference] {
        if let Some(e) = args.epochs {
            config.epochs = e;
        }
        if let Some(b) = args.batch_size {
            config.batch_size = b;
        }
        if let Some(s) = args.seed {
            config.seed = s;
        }
        if let Some(n) = args.save_steps {
            config.save_steps = n;
        }
        config.gradient_checkpointing = args.gradient_checkpointing;
    }
    if let Some(lr) = args.lr {
        r.sft.learning_rate = lr;
        r.preference.learning_rate = lr;
    }
    if let Some(rank) = args.lora_r {
        r.lora.r = rank;
        r.lora.alpha = args.lora_alpha.unwrap_or(2.0 * rank as f64);
    } else if let Some(alpha) = args.lora_alpha {
        r.lora.alpha = alpha;
    }
    if let Some(dropout) = args.lora_dropout {
        r.lora.dropout = dropout;
    }
    if let Some(beta) = args.beta {
        r.beta = beta;
    }
    if let Some(loss) = &args.dpo_loss {
        r.dpo_loss = match loss.as_str() {
            "sigmoid" => DpoLossType::Sigmoid,
            "ipo" => DpoLossType::Ipo,
            "hinge" => DpoLossType::Hinge,
            other => {
                return Err(super::BadInput(format!(
                    "--dpo-loss {other:?}: expected sigmoid, ipo or hinge"
                ))
                .into())
            }
        };
    }
    if args.include_heldout {
        r.filter.split = None;
    }
    args.token_level.apply(&mut r.token_level)?;
    Ok(r)
}

pub fn print_plan(plan: &Plan) {
    say!(
        "plan: {:.1}M parameters, {:.2}M trainable (LoRA), about {:.0} MiB",
        plan.parameters as f64 / 1e6,
        plan.trainable_parameters as f64 / 1e6,
        plan.estimated_memory_mib
    );
    let d = &plan.device;
    say!(
        "device: {} — {}{}, base weights in {} — {}",
        d.name,
        d.description,
        d.memory_mib
            .map(|m| format!(", {:.1} GiB", m / 1024.0))
            .unwrap_or_default(),
        d.dtype,
        d.reason
    );
    let rows: Vec<Vec<String>> = plan
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            vec![
                (i + 1).to_string(),
                s.method.as_str().into(),
                s.examples.to_string(),
                s.steps.to_string(),
                s.tokens.to_string(),
                format!("{:.0}", s.estimated_seconds),
                format!("{:.0}", s.step_memory_mib),
                if s.gradient_checkpointing {
                    "on"
                } else {
                    "off"
                }
                .into(),
            ]
        })
        .collect();
    output::table(
        &[
            "stage",
            "method",
            "examples",
            "steps",
            "tokens",
            "est. seconds",
            "step MiB",
            "checkpointing",
        ],
        &rows,
    );
    for note in &plan.notes {
        say!("note: {note}");
    }
}

/// Shows the stages as progress bars; returns the callback the fine-tune calls.
fn progress_bars(quiet: bool) -> impl FnMut(&FineTuneEvent) + Send {
    let mut bar: Option<ProgressBar> = None;
    move |event| {
        if quiet {
            return;
        }
        match event {
            FineTuneEvent::Planned { plan } => print_plan(plan),
            FineTuneEvent::StageStarted { method, steps, .. } => {
                if let Some(b) = bar.take() {
                    b.finish();
                }
                let b = ProgressBar::new(*steps);
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>4} [{bar:30}] {pos}/{len} {msg} ({eta} left)",
                    )
                    .expect("template")
                    .progress_chars("=> "),
                );
                b.set_prefix(method.as_str());
                bar = Some(b);
            }
            FineTuneEvent::ReferencePass { scored, total, .. } => {
                if let Some(b) = &bar {
                    b.set_message(format!(
                        "scored {scored} of {total} answers under the reference model"
                    ));
                }
            }
            FineTuneEvent::Progress { progress, .. } => {
                if let Some(b) = &bar {
                    b.set_position(progress.step);
                    b.set_message(format!(
                        "loss {:.4}, {:.0} tok/s",
                        progress.loss, progress.tokens_per_second
                    ));
                }
            }
            FineTuneEvent::Evaluating { .. } => {
                if let Some(b) = bar.take() {
                    b.finish();
                }
                eprintln!("evaluating the new version on the held-out prompts and pairs…");
            }
        }
    }
}

fn cancel_on_ctrl_c() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ncancelling after this step (the job can be resumed with `hone resume`)");
            flag.store(true, Ordering::Relaxed);
        }
    });
    cancel
}

fn report(outcome: &FineTuneOutcome, json: bool) -> anyhow::Result<()> {
    if json {
        return output::json(outcome);
    }
    let v = &outcome.version;
    say!(
        "\nversion {} (id {}) trained with {} on snapshot {} — job {}",
        v.name,
        v.id,
        v.method,
        v.snapshot_id
            .map_or_else(|| "none".to_owned(), |s| s.to_string()),
        outcome.job_id
    );
    if let Some(dir) = &v.adapter_dir {
        say!("adapter: {dir}");
    }
    if let Some(peak) = outcome.peak_memory_mib {
        say!(
            "training peak memory {peak:.0} MiB (the plan estimated {:.0} MiB)",
            outcome.plan.estimated_memory_mib
        );
    }
    if let Some(e) = &outcome.evaluation {
        say!();
        super::evaluate::print_evaluation(e);
    }
    Ok(())
}

pub async fn run_train(workspace: Option<&Path>, args: TrainArgs) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let project = super::project(&hone, &args.project).await?;
    let recipe = recipe(&args, hone.project_token_level(project.id).await?)?;
    if let Some(out) = &args.trl_job {
        let source = hone_core::finetune::TrlJobSource::Project {
            project_id: project.id,
            recipe: Box::new(recipe),
        };
        return super::trl_job::export(&hone, source, out, args.json).await;
    }
    if args.plan_only {
        let plan = hone.plan_fine_tune(project.id, &recipe).await?;
        if args.json {
            return output::json(&plan);
        }
        print_plan(&plan);
        return Ok(());
    }
    if recipe.method == Method::Rlhf {
        let (rm, ppo) = hone
            .rlhf(
                project.id,
                &recipe,
                cancel_on_ctrl_c(),
                progress_bars(args.json),
            )
            .await?;
        if args.json {
            return output::json(&serde_json::json!({ "reward_model": rm, "ppo": ppo }));
        }
        report(&rm, false)?;
        return report(&ppo, false);
    }
    let outcome = hone
        .fine_tune(
            project.id,
            &recipe,
            cancel_on_ctrl_c(),
            progress_bars(args.json),
        )
        .await?;
    report(&outcome, args.json)
}

#[derive(clap::Args)]
pub struct ResumeArgs {
    job: hone_core::JobId,
    #[arg(long)]
    json: bool,
}

pub async fn run_resume(workspace: Option<&Path>, args: ResumeArgs) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let outcome = hone
        .resume_fine_tune(args.job, cancel_on_ctrl_c(), progress_bars(args.json))
        .await?;
    report(&outcome, args.json)
}

#[derive(clap::Args)]
pub struct ListArgs {
    #[arg(long)]
    project: Option<String>,
    #[arg(long)]
    json: bool,
}

pub async fn run_jobs(workspace: Option<&Path>, args: ListArgs) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let project = match &args.project {
        Some(p) => Some(super::project(&hone, p).await?.id),
        None => None,
    };
    let list = hone.jobs(project).await?;
    if args.json {
        return output::json(&list);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|j| {
            vec![
                j.id.to_string(),
                j.kind.clone(),
                j.state.to_string(),
                format!("{:.0}%", j.progress * 100.0),
                j.error.clone().unwrap_or_else(|| j.message.clone()),
            ]
        })
        .collect();
    output::table(&["job", "kind", "state", "progress", "message"], &rows);
    Ok(())
}

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct VersionsArgs {
    #[command(subcommand)]
    command: Option<super::trl_job::VersionsCommand>,
    #[command(flatten)]
    list: ListArgs,
}

pub async fn run_versions(workspace: Option<&Path>, args: VersionsArgs) -> anyhow::Result<()> {
    let args = match args.command {
        Some(super::trl_job::VersionsCommand::Import(import)) => {
            return super::trl_job::import(workspace, import).await
        }
        None => args.list,
    };
    let hone = super::open(workspace).await?;
    let Some(project) = &args.project else {
        return Err(super::BadInput("--project is required".into()).into());
    };
    let project = super::project(&hone, project).await?;
    let list = hone.versions(project.id).await?;
    if args.json {
        return output::json(&list);
    }
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|v| {
            vec![
                v.id.to_string(),
                v.name.clone(),
                v.parent_id.map_or("base".into(), |p| p.to_string()),
                v.method.clone(),
                v.snapshot_id.map_or(String::new(), |s| s.to_string()),
                v.created_at.clone(),
            ]
        })
        .collect();
    output::table(
        &["id", "name", "parent", "method", "snapshot", "created"],
        &rows,
    );
    Ok(())
}

#[derive(clap::Args)]
pub struct RetrainArgs {
    /// The version to train again (same parent, same recipe).
    #[arg(long)]
    version: hone_core::VersionId,
    /// Leave out this annotator's judgments (repeatable).
    #[arg(long)]
    exclude_annotator: Vec<String>,
    /// Leave out the judgments of prompts with this tag (repeatable).
    #[arg(long)]
    exclude_tag: Vec<String>,
    /// Leave out judgments made from this date or time (YYYY-MM-DD or RFC 3339) …
    #[arg(long)]
    exclude_from: Option<String>,
    /// … until this one (exclusive).
    #[arg(long)]
    exclude_until: Option<String>,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    json: bool,
}

pub async fn run_retrain(workspace: Option<&Path>, args: RetrainArgs) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let exclusions = hone_core::retrain::Exclusions {
        annotators: args.exclude_annotator,
        tags: args.exclude_tag,
        from: args.exclude_from,
        until: args.exclude_until,
    };
    let outcome = hone
        .retrain_without(
            args.version,
            &exclusions,
            args.name,
            cancel_on_ctrl_c(),
            progress_bars(args.json),
        )
        .await?;
    report(&outcome, args.json)
}
