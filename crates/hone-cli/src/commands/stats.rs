use std::path::Path;

use crate::output;
use crate::output::say;

/// A project and `--json`: all this command takes.
pub type Args = super::ProjectArgs;

pub async fn run(workspace: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let project = super::project(&hone, &args.project).await?;
    let stats = hone.stats(project.id).await?;
    if args.json {
        return output::json(&stats);
    }
    say!("project {}", stats.project);
    say!(
        "prompts {} train, {} held-out; {} responses",
        stats.prompts_train,
        stats.prompts_heldout,
        stats.responses
    );
    say!();
    let kinds: Vec<Vec<String>> = stats
        .judgments
        .iter()
        .map(|(k, n)| vec![k.to_string(), n.to_string()])
        .collect();
    output::table(&["judgments", "count"], &kinds);
    say!();
    let annotators: Vec<Vec<String>> = stats
        .annotators
        .iter()
        .map(|a| {
            let kinds = a
                .judgments
                .iter()
                .map(|(k, n)| format!("{k} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                a.name.clone(),
                a.total.to_string(),
                format!("{:.1}", a.mean_time_ms / 1000.0),
                kinds,
            ]
        })
        .collect();
    output::table(
        &["annotator", "total", "s/judgment", "by kind"],
        &annotators,
    );
    if stats.skips > 0 || !stats.flags.is_empty() {
        let flags = stats
            .flags
            .iter()
            .map(|(reason, n)| format!("{reason} {n}"))
            .collect::<Vec<_>>()
            .join(", ");
        say!();
        say!(
            "skipped {} time(s); flags: {}",
            stats.skips,
            if flags.is_empty() { "none" } else { &flags }
        );
        for p in &stats.flagged_prompts {
            let reasons = p
                .flags
                .iter()
                .map(|(reason, n)| format!("{reason} {n}"))
                .collect::<Vec<_>>()
                .join(", ");
            say!(
                "  prompt {} ({reasons}; by {}): {}",
                p.prompt_id,
                p.annotators.join(", "),
                p.text
            );
            for note in &p.notes {
                say!("    note: {note}");
            }
        }
    }
    say!();
    let agreement: Vec<Vec<String>> = stats
        .agreement
        .iter()
        .map(|a| {
            vec![
                a.kind.to_string(),
                format!("{:?}", a.level).to_lowercase(),
                a.units.to_string(),
                output::figure(a.alpha),
                output::figure(a.percent_agreement),
            ]
        })
        .collect();
    output::table(
        &[
            "agreement on",
            "level",
            "shared items",
            "krippendorff alpha",
            "percent agreement",
        ],
        &agreement,
    );
    say!();
    say!(
        "training data (train split): {} preference pairs, {} SFT examples, {} KTO examples; {} conflict(s)",
        stats.rows_preference, stats.rows_sft, stats.rows_kto, stats.conflicts
    );
    Ok(())
}
