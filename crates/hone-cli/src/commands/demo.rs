//! `hone demo`: the whole loop on the starter model, with progress bars and a summary.

use std::path::{Path, PathBuf};

use hone_demo::demo::{run, DemoEvent, DemoOptions, DemoReport, Evaluation, Quality, Stage};
use indicatif::ProgressBar;

use crate::output;
use crate::output::say;

#[derive(clap::Args)]
pub struct Args {
    /// Also train a reward model and run PPO against it (RLHF) → version v2.
    #[arg(long)]
    rlhf: bool,
    /// Where to build (or find) the starter model; default <workspace>/models/hone-starter.
    #[arg(long)]
    starter: Option<PathBuf>,
    /// Where to export v1's PEFT adapter; default <workspace>/exports/<project>-v1-peft.
    #[arg(long)]
    export: Option<PathBuf>,
    /// A reduced run (fewer prompts, a smaller starter): the same code path in a minute.
    #[arg(long)]
    quick: bool,
    /// Run the loop on this model instead of the starter: a Hugging Face folder or a GGUF file
    /// (LM Studio's, Ollama's; imported into the workspace once), with settings for a
    /// pretrained model (see `DemoOptions::for_pretrained`).
    #[arg(long, value_name = "PATH")]
    base: Option<PathBuf>,
    /// Settings as JSON (every field of the demo's options: sizes, hyper-parameters, seed),
    /// instead of the standard ones.
    #[arg(long, value_name = "FILE")]
    options: Option<PathBuf>,
    /// Token-level feedback for the loop's fine-tune, as `hone train` takes it.
    #[command(flatten)]
    token_level: super::token_level::TokenLevelArgs,
    /// Print the report as JSON (progress still goes to stderr).
    #[arg(long)]
    json: bool,
}

fn percent(part: usize, whole: usize) -> String {
    if whole == 0 {
        "n/a".into()
    } else {
        format!("{:.0}%", 100.0 * part as f64 / whole as f64)
    }
}

fn quality_row(name: &str, q: &Quality) -> Vec<String> {
    vec![
        name.into(),
        q.answers.to_string(),
        percent(q.correct, q.answers),
        percent(q.polite, q.answers),
        percent(q.concise, q.answers),
        percent(q.perfect, q.answers),
    ]
}

fn evaluation_lines(name: &str, e: &Evaluation) {
    let h = e.versus_base;
    let interval = e.interval95.map_or("n/a".to_string(), |(lo, hi)| {
        format!("{:.0}%–{:.0}%", lo * 100.0, hi * 100.0)
    });
    say!(
        "{name} vs base on held-out prompts: {} wins, {} ties, {} losses → win-rate {} (ties excluded; 95% interval {interval}); KL to base {:.2} nats per answer",
        h.wins,
        h.ties,
        h.losses,
        e.win_rate.map_or("n/a".to_string(), |w| format!("{:.0}%", w * 100.0)),
        e.kl_to_base
    );
}

fn print_report(r: &DemoReport) {
    say!("\n== Hone demo: summary ==");
    say!(
        "workspace {} · project {} · base model {} ({:.2}M parameters)",
        r.workspace.display(),
        r.project,
        r.starter_dir.display(),
        r.starter_parameters as f64 / 1e6
    );
    let kinds: Vec<String> = r
        .judgments
        .iter()
        .map(|(k, n)| format!("{n} {k}"))
        .collect();
    say!(
        "{} train prompts, {} candidates; the simulated expert gave {}",
        r.train_prompts,
        r.candidates,
        kinds.join(", ")
    );
    say!(
        "version {} ({}), trained on snapshot {}",
        r.v1.name,
        r.v1.method,
        r.v1.snapshot_id
            .map_or_else(|| "none".to_owned(), |s| s.to_string())
    );
    let metric = |k: &str| {
        r.v1.metrics
            .get(k)
            .and_then(|v| v.as_f64())
            .map_or("n/a".to_string(), |v| format!("{v:.3}"))
    };
    say!(
        "  last step: sft loss {}; dpo loss {}, rewards/accuracies {}, rewards/margins {}",
        metric("sft/loss"),
        metric("dpo/loss"),
        metric("dpo/rewards/accuracies"),
        metric("dpo/rewards/margins")
    );
    say!();
    say!(
        "held-out answers as the expert sees them ({} prompts):",
        r.held_out_prompts
    );
    let mut rows = vec![
        quality_row("base", &r.v1_eval.base_quality),
        quality_row(&r.v1.name, &r.v1_eval.version_quality),
    ];
    if let Some((v2, e)) = &r.ppo {
        rows.push(quality_row(&v2.name, &e.version_quality));
    }
    output::table(
        &[
            "model",
            "answers",
            "correct",
            "polite",
            "concise",
            "all three",
        ],
        &rows,
    );
    say!();
    evaluation_lines(&r.v1.name, &r.v1_eval);
    if let (Some(rm), Some(acc)) = (&r.reward_model, r.reward_model_accuracy) {
        say!(
            "reward model {}: accuracy {:.0}% on {} held-out pairs the expert decided",
            rm.name,
            acc * 100.0,
            r.held_out_pairs
        );
    }
    if let Some((v2, e)) = &r.ppo {
        evaluation_lines(&v2.name, e);
    }
    say!("v1's PEFT adapter: {}", r.export_dir.display());
    say!();
    let rows: Vec<Vec<String>> = r
        .stage_seconds
        .iter()
        .map(|(s, t)| vec![s.label().to_string(), format!("{t:.1} s")])
        .collect();
    output::table(&["stage", "time"], &rows);
    say!("total {:.1} s", r.total_seconds);
}

pub async fn run_demo(workspace: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let (dir, _) = hone_core::resolve_workspace_dir(workspace)?;
    let mut options = match &args.options {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| super::BadInput(format!("{}: {e}", path.display())))?;
            serde_json::from_str(&text)
                .map_err(|e| super::BadInput(format!("{}: {e}", path.display())))?
        }
        None if args.base.is_some() => DemoOptions::for_pretrained(args.quick),
        None if args.quick => DemoOptions::quick(),
        None => DemoOptions::standard(),
    };
    if args.base.is_some() {
        options.base = args.base.clone();
    }
    options.rlhf = args.rlhf;
    args.token_level.apply(&mut options.token_level)?;
    options.starter_dir = args.starter;
    options.export_dir = args.export;
    options.device = super::device();
    eprintln!(
        "Hone demo in {} — the human-feedback loop on {}",
        dir.display(),
        options
            .base
            .as_ref()
            .map_or("the bundled starter model".to_string(), |b| b
                .display()
                .to_string())
    );
    let mut bar: Option<(Stage, ProgressBar)> = None;
    let json = args.json;
    let report = run(&dir, &options, |event| match event {
        DemoEvent::StageStarted { stage } => eprintln!("\n▸ {}", stage.label()),
        DemoEvent::StageProgress {
            stage,
            done,
            total,
            message,
        } => {
            if bar.as_ref().is_none_or(|(s, b)| {
                s != stage || b.length() != Some(*total) || b.position() > *done
            }) {
                if let Some((_, b)) = bar.take() {
                    b.finish();
                }
                bar = Some((*stage, super::starter::step_bar(*total, "")));
            }
            if let Some((_, b)) = &bar {
                b.set_position(*done);
                b.set_message(message.clone());
            }
        }
        DemoEvent::Plan { plan } => {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            // With --json stdout is the report alone (which holds the plan).
            if !json {
                super::train::print_plan(plan)
            }
        }
        DemoEvent::Note { message, .. } => {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            eprintln!("  {message}")
        }
        DemoEvent::StageFinished { seconds, .. } => {
            if let Some((_, b)) = bar.take() {
                b.finish();
            }
            eprintln!("  done in {seconds:.1} s")
        }
    })
    .await?;
    if args.json {
        return output::json(&report);
    }
    print_report(&report);
    Ok(())
}
