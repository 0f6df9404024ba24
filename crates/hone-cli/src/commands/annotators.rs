//! `hone annotators`: agreement and bias of each annotator of a project, next to the group.

use std::path::Path;

use crate::output;
use crate::output::say;

/// A project and `--json`: all this command takes.
pub type Args = super::ProjectArgs;

fn pct(x: Option<f64>) -> String {
    x.map_or("n/a".into(), |v| format!("{:.0}%", v * 100.0))
}

pub async fn run(workspace: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let project = super::project(&hone, &args.project).await?;
    let r = hone.annotator_report(project.id).await?;
    if args.json {
        return output::json(&r);
    }
    let rows: Vec<Vec<String>> = r
        .annotators
        .iter()
        .chain(std::iter::once(&r.group))
        .map(|a| {
            vec![
                a.name.clone(),
                a.judgments.to_string(),
                format!("{} of {}", pct(a.with_majority), a.majority_units),
                format!(
                    "{} of {} (p={})",
                    pct(a.position.first_share),
                    a.position.decided,
                    a.position
                        .p_value
                        .map_or("n/a".into(), |p| format!("{p:.3}"))
                ),
                format!(
                    "{} (r={})",
                    pct(a.length.longer_share),
                    a.length
                        .correlation
                        .map_or("n/a".into(), |c| format!("{c:.2}"))
                ),
                a.median_seconds
                    .map_or("n/a".into(), |s| format!("{s:.1} s")),
                format!("{} of {}", pct(a.gold.share), a.gold.items),
                format!(
                    "{} of {} / {} of {} (p={})",
                    pct(a.suggestion.shown_share),
                    a.suggestion.shown,
                    pct(a.suggestion.hidden_share),
                    a.suggestion.hidden,
                    a.suggestion
                        .p_value
                        .map_or("n/a".into(), |p| format!("{p:.3}"))
                ),
            ]
        })
        .collect();
    output::table(
        &[
            "annotator",
            "judgments",
            "with majority",
            "first shown wins",
            "longer wins",
            "median time",
            "with gold",
            "with RM: shown / hidden",
        ],
        &rows,
    );
    say!(
        "gold items: {}; reward model for the suggestion columns: {}",
        r.gold_items,
        r.reward_model.as_deref().unwrap_or("none yet")
    );
    if !r.pairs.is_empty() {
        say!();
        let rows: Vec<Vec<String>> = r
            .pairs
            .iter()
            .map(|p| {
                vec![
                    format!("{} · {}", p.a, p.b),
                    p.kind.to_string(),
                    p.units.to_string(),
                    pct(p.percent_agreement),
                    p.alpha.map_or("n/a".into(), |a| format!("{a:.3}")),
                ]
            })
            .collect();
        output::table(
            &["pair", "kind", "shared units", "agreement", "alpha"],
            &rows,
        );
    }
    Ok(())
}
