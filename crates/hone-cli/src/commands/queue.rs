//! `hone queue next`: the item an annotator would be given now, and why; `hone gold`: mark,
//! unmark and list the gold items (judgments whose answer is known).

use std::path::Path;

use hone_core::JudgmentKind;

use crate::output;
use crate::output::say;

#[derive(clap::Subcommand)]
pub enum QueueCommand {
    /// The next item for an annotator, by the project's queue order, with the reason.
    Next {
        #[arg(long)]
        project: String,
        #[arg(long)]
        annotator: String,
        /// comparison, ranking, rating, edit, span, thumbs, demonstration or critique.
        #[arg(long, default_value = "comparison")]
        kind: JudgmentKind,
        #[arg(long)]
        json: bool,
    },
    /// How far labeling has come: per kind, units complete, under way, untouched and held now.
    Progress {
        #[arg(long)]
        project: String,
        /// Kinds, comma separated (default: every kind).
        #[arg(long, value_delimiter = ',')]
        kind: Vec<JudgmentKind>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum GoldCommand {
    /// Mark a judgment as the known answer of its item.
    Mark {
        #[arg(long)]
        judgment: hone_core::JudgmentId,
    },
    /// Unmark a gold judgment (the judgment stays).
    Unmark {
        #[arg(long)]
        judgment: hone_core::JudgmentId,
    },
    /// A project's gold items.
    List {
        #[arg(long)]
        project: String,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run_queue(workspace: Option<&Path>, command: QueueCommand) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let (project, annotator, kind, json) = match command {
        QueueCommand::Next {
            project,
            annotator,
            kind,
            json,
        } => (project, annotator, kind, json),
        QueueCommand::Progress {
            project,
            kind,
            json,
        } => return progress(&hone, &project, kind, json).await,
    };
    let project = super::project(&hone, &project).await?;
    let item = hone.next_item(project.id, &annotator, kind).await?;
    if json {
        return output::json(&item);
    }
    let Some(item) = item else {
        say!("nothing left for {annotator} to judge ({kind})");
        return Ok(());
    };
    say!("prompt {}: {}", item.prompt.id, item.prompt.text);
    for (i, r) in item.responses.iter().enumerate() {
        say!(
            "  {} response {}: {}",
            (b'A' + i as u8) as char,
            r.id,
            r.text
        );
    }
    say!("why: {}", item.reason);
    say!(
        "judged by {} of {}; {} left for {annotator}",
        item.judged_by,
        item.overlap,
        item.remaining
    );
    Ok(())
}

async fn progress(
    hone: &hone_core::Hone,
    project: &str,
    kinds: Vec<JudgmentKind>,
    json: bool,
) -> anyhow::Result<()> {
    let project = super::project(hone, project).await?;
    let kinds = if kinds.is_empty() {
        // The kinds the queue offers (a critique is written beside another judgment).
        JudgmentKind::ALL
            .iter()
            .copied()
            .filter(|k| *k != JudgmentKind::Critique)
            .collect()
    } else {
        kinds
    };
    let mut all = Vec::new();
    for kind in kinds {
        all.push(hone.queue_progress(project.id, kind).await?);
    }
    if json {
        return output::json(&all);
    }
    let rows: Vec<Vec<String>> = all
        .iter()
        .filter(|p| p.units > 0)
        .map(|p| {
            vec![
                p.kind.to_string(),
                p.units.to_string(),
                p.complete.to_string(),
                p.started.to_string(),
                p.untouched.to_string(),
                p.held.to_string(),
                p.verdicts.to_string(),
            ]
        })
        .collect();
    output::table(
        &[
            "kind",
            "units",
            "complete",
            "under way",
            "untouched",
            "held",
            "verdicts",
        ],
        &rows,
    );
    say!("overlap {}", all.first().map_or(1, |p| p.overlap));
    Ok(())
}

pub async fn run_gold(workspace: Option<&Path>, command: GoldCommand) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    match command {
        GoldCommand::Mark { judgment } => {
            let g = hone.mark_gold(judgment).await?;
            say!(
                "judgment {} is gold: {} ({} by {})",
                g.judgment_id,
                g.answer,
                g.kind,
                g.annotator
            );
        }
        GoldCommand::Unmark { judgment } => {
            hone.unmark_gold(judgment).await?;
            say!("judgment {judgment} is no longer gold");
        }
        GoldCommand::List { project, json } => {
            let project = super::project(&hone, &project).await?;
            let items = hone.gold_items(project.id).await?;
            if json {
                return output::json(&items);
            }
            let rows: Vec<Vec<String>> = items
                .iter()
                .map(|g| {
                    vec![
                        g.judgment_id.to_string(),
                        g.kind.to_string(),
                        g.prompt_id.to_string(),
                        g.answer.clone(),
                        g.annotator.clone(),
                    ]
                })
                .collect();
            output::table(&["judgment", "kind", "prompt", "gold answer", "by"], &rows);
        }
    }
    Ok(())
}
