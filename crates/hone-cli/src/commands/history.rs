//! `hone history`: a project's judgments, newest first, filtered as the UI's history screen
//! filters them (annotator, kind, verdict, time, tag, text).

use std::path::Path;

use hone_core::history::HistoryQuery;
use hone_core::JudgmentKind;

use crate::output;
use crate::output::say;

#[derive(clap::Args)]
pub struct Args {
    /// The project (name or id).
    #[arg(long)]
    project: String,
    /// Only this annotator's judgments.
    #[arg(long)]
    annotator: Option<String>,
    /// comparison, ranking, rating, edit, span, thumbs, demonstration or critique.
    #[arg(long)]
    kind: Option<JudgmentKind>,
    /// a, b, tie, both_bad, ranked, rated, edited, accepted, marked, up, down, written, critique.
    #[arg(long)]
    verdict: Option<String>,
    /// Made at or after this date (YYYY-MM-DD) or RFC 3339 time.
    #[arg(long)]
    since: Option<String>,
    /// Made before this date or time.
    #[arg(long)]
    until: Option<String>,
    /// Only prompts with this tag.
    #[arg(long)]
    tag: Option<String>,
    /// Text in the prompt, the answers, the critique, a reason or a note (any case).
    #[arg(long)]
    text: Option<String>,
    /// Also judgments replaced by a re-judgment.
    #[arg(long)]
    all: bool,
    /// Rows to show (at most 500).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Rows to pass over.
    #[arg(long, default_value_t = 0)]
    offset: usize,
    #[arg(long)]
    json: bool,
}

/// `text` cut to `n` characters on one line.
fn cut(text: &str, n: usize) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(n) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}

pub async fn run(workspace: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let project = super::project(&hone, &args.project).await?;
    let page = hone
        .judgment_history(&HistoryQuery {
            annotator: args.annotator,
            kind: args.kind,
            verdict: args.verdict,
            since: args.since,
            until: args.until,
            tag: args.tag,
            text: args.text,
            include_superseded: args.all,
            limit: Some(args.limit),
            offset: args.offset,
            ..HistoryQuery::new(project.id)
        })
        .await?;
    if args.json {
        return output::json(&page);
    }
    let rows: Vec<Vec<String>> = page
        .entries
        .iter()
        .map(|e| {
            let mut notes = Vec::new();
            if let Some(by) = e.superseded_by {
                notes.push(format!("replaced by {by}"));
            }
            if let Some(old) = e.supersedes {
                notes.push(format!("replaces {old}"));
            }
            if e.in_snapshot {
                notes.push("in a snapshot".into());
            }
            if e.gold {
                notes.push("gold".into());
            }
            vec![
                e.judgment_id.to_string(),
                e.created_at
                    .chars()
                    .take(19)
                    .collect::<String>()
                    .replace('T', " "),
                e.annotator.clone(),
                e.kind.to_string(),
                e.summary.clone(),
                cut(&e.prompt_text, 50),
                notes.join(", "),
            ]
        })
        .collect();
    output::table(
        &[
            "judgment",
            "made (UTC)",
            "by",
            "kind",
            "verdict",
            "prompt",
            "",
        ],
        &rows,
    );
    say!("{} of {} judgment(s) shown", page.entries.len(), page.total);
    Ok(())
}
