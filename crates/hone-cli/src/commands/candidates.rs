//! `hone candidates`: generate answers for a project's prompts and store them for judging;
//! `hone reward`: score stored responses with a reward-model version.

use std::path::{Path, PathBuf};

use hone_core::generation::GenerationRequest;
use hone_core::inference::ModelRef;
use hone_core::model::sampling::SamplingParams;
use hone_core::Split;

use crate::output;
use crate::output::say;

#[derive(clap::Args)]
pub struct CandidatesArgs {
    #[arg(long)]
    project: String,
    /// A base model folder (give this or --version).
    #[arg(long, conflicts_with = "version", required_unless_present = "version")]
    model: Option<PathBuf>,
    /// A version (its id): the base with its adapter.
    #[arg(long)]
    version: Option<hone_core::VersionId>,
    /// Candidates per prompt.
    #[arg(short, long, default_value_t = 4)]
    n: usize,
    /// train or heldout; both when absent.
    #[arg(long)]
    split: Option<Split>,
    #[arg(long, default_value_t = 0.7)]
    temperature: f64,
    #[arg(long, default_value_t = 0.95)]
    top_p: f64,
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long)]
    json: bool,
}

pub async fn run_candidates(workspace: Option<&Path>, args: CandidatesArgs) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let project = super::project(&hone, &args.project).await?;
    let model = match (args.model, args.version) {
        (Some(dir), _) => ModelRef::Base { dir },
        (None, Some(id)) => ModelRef::Version { id },
        (None, None) => {
            return Err(super::BadInput("give --model DIR or --version ID".into()).into())
        }
    };
    let prompts = hone.list_prompts(project.id, args.split).await?;
    if prompts.is_empty() {
        return Err(super::BadInput(format!(
            "project {} has no prompts{}",
            project.name,
            args.split
                .map(|s| format!(" in the {s} split"))
                .unwrap_or_default()
        ))
        .into());
    }
    let request = GenerationRequest {
        model,
        prompt_ids: prompts.iter().map(|p| p.id).collect(),
        n: args.n,
        sampling: SamplingParams {
            temperature: args.temperature,
            top_p: Some(args.top_p),
            max_new_tokens: args.max_tokens,
            seed: args.seed,
            ..SamplingParams::default()
        },
    };
    let bar = if args.json {
        indicatif::ProgressBar::hidden()
    } else {
        super::starter::step_bar(prompts.len() as u64, "prompts")
    };
    let progress = bar.clone();
    let result = hone
        .generate_candidates(&request, move |done, _| progress.set_position(done as u64))
        .await?;
    bar.finish();
    if args.json {
        return output::json(&result);
    }
    let stored: usize = result.iter().map(|c| c.responses.len()).sum();
    let duplicates: usize = result.iter().map(|c| c.duplicates).sum();
    let empty: usize = result.iter().map(|c| c.empty).sum();
    say!("{stored} candidates for {} prompts ({duplicates} repeated and {empty} empty samples left out)", result.len());
    Ok(())
}

#[derive(clap::Args)]
pub struct RewardArgs {
    /// The reward-model version (its id).
    #[arg(long)]
    version: hone_core::VersionId,
    /// Response ids, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    responses: Vec<hone_core::ResponseId>,
    #[arg(long)]
    json: bool,
}

pub async fn run_reward(workspace: Option<&Path>, args: RewardArgs) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let scores = hone.score_responses(args.version, &args.responses).await?;
    if args.json {
        let rows: Vec<serde_json::Value> = args
            .responses
            .iter()
            .zip(&scores)
            .map(|(id, s)| serde_json::json!({ "response_id": id, "score": s }))
            .collect();
        return output::json(&rows);
    }
    let rows: Vec<Vec<String>> = args
        .responses
        .iter()
        .zip(&scores)
        .map(|(id, s)| vec![id.to_string(), format!("{s:.4}")])
        .collect();
    output::table(&["response", "score"], &rows);
    Ok(())
}

#[derive(clap::Args)]
pub struct SuggestArgs {
    #[arg(long)]
    project: String,
    /// The answers to one prompt, comma-separated response ids.
    #[arg(long, value_delimiter = ',', required = true)]
    responses: Vec<hone_core::ResponseId>,
    /// Ask this local model folder as a judge instead of the latest reward model.
    #[arg(long, value_name = "DIR", conflicts_with = "judge_version")]
    judge_model: Option<std::path::PathBuf>,
    /// Ask this version as a judge instead of the latest reward model.
    #[arg(long, value_name = "ID")]
    judge_version: Option<hone_core::VersionId>,
    #[arg(long)]
    json: bool,
}

/// `hone suggest`: the suggestion an annotator would see for these answers.
pub async fn run_suggest(workspace: Option<&Path>, args: SuggestArgs) -> anyhow::Result<()> {
    use hone_core::inference::ModelRef;
    let hone = super::open(workspace).await?;
    let project = super::project(&hone, &args.project).await?;
    let judge = match (args.judge_model, args.judge_version) {
        (Some(dir), _) => Some(ModelRef::Base { dir }),
        (None, Some(id)) => Some(ModelRef::Version { id }),
        (None, None) => None,
    };
    let s = match &judge {
        Some(judge) => {
            hone.judge_suggestion(project.id, &args.responses, judge)
                .await?
        }
        None => hone.suggestion(project.id, &args.responses).await?,
    };
    if args.json {
        return output::json(&s);
    }
    let rows: Vec<Vec<String>> = args
        .responses
        .iter()
        .zip(&s.scores)
        .map(|(id, score)| {
            vec![
                id.to_string(),
                format!("{score:.4}"),
                if *id == s.preferred {
                    "preferred".into()
                } else {
                    String::new()
                },
            ]
        })
        .collect();
    output::table(&["response", "score", ""], &rows);
    say!("suggested by {}", s.source);
    Ok(())
}
