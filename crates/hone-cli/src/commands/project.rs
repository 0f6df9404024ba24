use std::path::{Path, PathBuf};

use anyhow::Context;
use hone_core::projects::ProjectSpec;
use hone_core::store::projects::{NamedItem, NewProject, SpanLabel};
use hone_core::store::SpanPolarity;
use hone_core::QueueOrder;

use super::BadInput;
use crate::output;
use crate::output::say;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a project.
    Create(CreateArgs),
    /// List the workspace's projects.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show a project's settings, guidelines, criteria and span labels.
    Show {
        project: String,
        #[arg(long)]
        json: bool,
    },
    /// Change a project's settings; those not given stay as they are.
    Settings(SettingsArgs),
    /// Show the project's token-level feedback settings, or change them with the flags
    /// `hone train` takes (its fine-tunes then start from them).
    TokenLevel {
        project: String,
        #[command(flatten)]
        token_level: super::token_level::TokenLevelArgs,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
pub struct SettingsArgs {
    project: String,
    #[arg(long)]
    description: Option<String>,
    /// The rating scale, as MIN-MAX.
    #[arg(long)]
    scale: Option<String>,
    #[arg(long)]
    kto_threshold: Option<f64>,
    /// How many annotators judge each item.
    #[arg(long)]
    overlap: Option<i64>,
    /// in_order, random, least_sure (the latest reward model's smallest margin first) or
    /// disagreement (where annotators disagree first).
    #[arg(long)]
    queue_order: Option<QueueOrder>,
    /// The share of queue items drawn from gold items, 0 to 1.
    #[arg(long)]
    gold_rate: Option<f64>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct CreateArgs {
    name: String,
    /// What the model should do, in a sentence or two.
    #[arg(long, default_value = "")]
    description: String,
    /// A file with the labeling guidelines (version 1).
    #[arg(long, value_name = "FILE")]
    guidelines: Option<PathBuf>,
    /// Rating criteria, comma separated (default: overall).
    #[arg(long, value_delimiter = ',')]
    criteria: Vec<String>,
    /// Span labels for what is wrong, comma separated (default: factual_error, unsafe,
    /// off_topic, style).
    #[arg(long, value_delimiter = ',')]
    span_labels: Vec<String>,
    /// Span labels for what is right, comma separated (none by default): their marks train
    /// for the tokens they cover. Added after --span-labels (or after the default labels).
    #[arg(long, value_delimiter = ',')]
    good_span_labels: Vec<String>,
    /// The rating scale, as MIN-MAX.
    #[arg(long, default_value = "1-7")]
    scale: String,
    /// A rating whose mean reaches this is a desirable example (default: the upper third, 5 on 1–7).
    #[arg(long)]
    kto_threshold: Option<f64>,
    /// How many annotators judge each item.
    #[arg(long, default_value_t = 1)]
    overlap: i64,
    /// How the labeling queue orders items: in_order, random, least_sure or disagreement.
    #[arg(long, default_value = "in_order")]
    queue_order: QueueOrder,
    /// The share of queue items drawn from gold items, 0 to 1.
    #[arg(long, default_value_t = 0.0)]
    gold_rate: f64,
    #[arg(long)]
    json: bool,
}

fn parse_scale(scale: &str) -> Result<(i64, i64), BadInput> {
    scale
        .split_once('-')
        .and_then(|(a, b)| Some((a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?)))
        .ok_or_else(|| BadInput(format!("--scale {scale:?}: expected MIN-MAX, e.g. 1-7")))
}

/// The upper third of the scale counts as desirable: 5 on 1–7, 4 on 1–5, 7 on 1–10.
fn default_kto_threshold(min: i64, max: i64) -> f64 {
    (min as f64 + (max - min) as f64 * 2.0 / 3.0).ceil()
}

fn named(names: &[String]) -> Vec<NamedItem> {
    names
        .iter()
        .map(|n| NamedItem {
            name: n.trim().to_owned(),
            description: String::new(),
        })
        .collect()
}

/// The project's span labels: the error labels, then the good ones (the core puts the default
/// error labels first when none is given).
fn span_labels(errors: &[String], good: &[String]) -> Vec<SpanLabel> {
    let error = errors.iter().map(|n| SpanLabel::error(n.trim(), ""));
    let good = good.iter().map(|n| SpanLabel {
        polarity: SpanPolarity::Good,
        ..SpanLabel::error(n.trim(), "")
    });
    error.chain(good).collect()
}

pub async fn run(workspace: Option<&Path>, command: Command) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    match command {
        Command::TokenLevel {
            project,
            token_level,
            json,
        } => {
            let project = super::project(&hone, &project).await?;
            let mut settings = hone.project_token_level(project.id).await?;
            if !token_level.is_empty() {
                token_level.apply(&mut settings)?;
                settings = hone.set_project_token_level(project.id, &settings).await?;
            }
            if json {
                return output::json(&settings);
            }
            super::token_level::print(&project.name, &settings);
        }
        Command::Create(args) => {
            let (min, max) = parse_scale(&args.scale)?;
            let mut spec = ProjectSpec::named(&args.name);
            spec.settings.task_description = args.description;
            spec.settings.rating_min = min;
            spec.settings.rating_max = max;
            spec.settings.kto_threshold = args
                .kto_threshold
                .unwrap_or_else(|| default_kto_threshold(min, max));
            spec.settings.overlap = args.overlap;
            spec.settings.queue_order = args.queue_order;
            spec.settings.gold_rate = args.gold_rate;
            spec.criteria = named(&args.criteria);
            spec.span_labels = span_labels(&args.span_labels, &args.good_span_labels);
            if let Some(path) = &args.guidelines {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read the guidelines file {}", path.display()))
                    .map_err(|e| BadInput(format!("{e:#}")))?;
                spec.guidelines = Some(text);
            }
            let details = hone.create_project(&spec).await?;
            if args.json {
                return output::json(&details);
            }
            say!(
                "created project {:?} (id {})",
                details.project.name,
                details.project.id
            );
        }
        Command::List { json } => {
            let projects = hone.list_projects().await?;
            if json {
                return output::json(&projects);
            }
            let rows: Vec<Vec<String>> = projects
                .iter()
                .map(|p| {
                    vec![
                        p.id.to_string(),
                        p.name.clone(),
                        p.task_description.clone(),
                        p.created_at.clone(),
                    ]
                })
                .collect();
            output::table(&["id", "name", "task", "created"], &rows);
        }
        Command::Show { project, json } => {
            let project = super::project(&hone, &project).await?;
            let details = hone.project_details(project.id).await?;
            if json {
                return output::json(&details);
            }
            let p = &details.project;
            say!("project   {} (id {})", p.name, p.id);
            say!("task      {}", p.task_description);
            say!(
                "ratings   {}–{}, desirable from {}, overlap {}",
                p.rating_min,
                p.rating_max,
                p.kto_threshold,
                p.overlap
            );
            say!(
                "queue     {}, gold items {:.0}%",
                p.queue_order,
                p.gold_rate * 100.0
            );
            let names = |items: &[NamedItem]| {
                items
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            say!("criteria  {}", names(&details.criteria));
            let labels = |polarity: SpanPolarity| {
                details
                    .span_labels
                    .iter()
                    .filter(|l| l.polarity == polarity)
                    .map(|l| l.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            say!("labels    {}", labels(SpanPolarity::Error));
            if details
                .span_labels
                .iter()
                .any(|l| l.polarity == SpanPolarity::Good)
            {
                say!("good      {}", labels(SpanPolarity::Good));
            }
            match &details.guideline {
                Some(g) => say!("guidelines v{}:\n{}", g.version, g.text),
                None => say!("guidelines (none yet)"),
            }
        }
        Command::Settings(args) => {
            let p = super::project(&hone, &args.project).await?;
            let (rating_min, rating_max) = match &args.scale {
                Some(scale) => parse_scale(scale)?,
                None => (p.rating_min, p.rating_max),
            };
            let settings = NewProject {
                name: p.name.clone(),
                task_description: args.description.unwrap_or(p.task_description),
                rating_min,
                rating_max,
                kto_threshold: args.kto_threshold.unwrap_or(p.kto_threshold),
                overlap: args.overlap.unwrap_or(p.overlap),
                queue_order: args.queue_order.unwrap_or(p.queue_order),
                gold_rate: args.gold_rate.unwrap_or(p.gold_rate),
            };
            let updated = hone.update_project_settings(p.id, &settings).await?;
            if args.json {
                return output::json(&updated);
            }
            say!(
                "project {:?}: overlap {}, queue {}, gold items {:.0}%, ratings {}–{} (desirable from {})",
                updated.name,
                updated.overlap,
                updated.queue_order,
                updated.gold_rate * 100.0,
                updated.rating_min,
                updated.rating_max,
                updated.kto_threshold
            );
        }
    }
    Ok(())
}
