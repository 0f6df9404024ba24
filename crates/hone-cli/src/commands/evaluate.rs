//! `hone eval` and `hone promote`: a version measured on held-out data against its parent, and
//! made the version the app uses (refused when it regresses, unless forced).

use std::path::Path;

use hone_core::head_to_head::HeadToHead;
use hone_core::version_eval::VersionEvaluation;

use crate::output;
use crate::output::say;

#[derive(clap::Args)]
pub struct EvalArgs {
    #[arg(long)]
    version: hone_core::VersionId,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct PromoteArgs {
    #[arg(long)]
    version: hone_core::VersionId,
    /// Promote even when the version regresses against its parent.
    #[arg(long)]
    force: bool,
    #[arg(long)]
    json: bool,
}

fn rate(h: Option<HeadToHead>) -> String {
    match h.and_then(|h| {
        h.win_rate()
            .zip(h.interval95())
            .map(|(w, (lo, hi))| (h, w, lo, hi))
    }) {
        Some((h, w, lo, hi)) => format!(
            "{:.0}% (95% {:.0}–{:.0}%; {} / {} / {})",
            w * 100.0,
            lo * 100.0,
            hi * 100.0,
            h.wins,
            h.ties,
            h.losses
        ),
        None => "n/a".into(),
    }
}

pub fn print_evaluation(e: &VersionEvaluation) {
    say!(
        "against {} on {} held-out prompts",
        e.against,
        e.held_out_prompts
    );
    let loss = |x: Option<hone_core::version_eval::Estimate>| {
        x.map_or("n/a".into(), |e| match e.half_width95 {
            Some(h) => format!("{:.3} ± {:.3} (n={})", e.mean, h, e.n),
            None => format!("{:.3} (n=1)", e.mean),
        })
    };
    let rows = vec![
        vec![
            "preference accuracy (held-out pairs)".into(),
            rate(e.preference_accuracy),
        ],
        vec![
            "completion loss (held-out SFT)".into(),
            loss(e.completion_loss),
        ],
        vec![
            format!("completion loss of {}", e.against),
            loss(e.parent_completion_loss),
        ],
        vec![
            "KL to base (nats per answer)".into(),
            e.kl_to_base.map_or("n/a".into(), |k| format!("{k:.3}")),
        ],
        vec![
            format!(
                "win-rate vs {} (reward model {})",
                e.against,
                e.judged_by.map_or("none".into(), |id| id.to_string())
            ),
            rate(e.versus_parent),
        ],
        vec![
            format!("arena vs {}", e.against),
            rate(e.arena_versus_parent.as_ref().map(|a| a.results)),
        ],
    ];
    output::table(&["measure", "value"], &rows);
}

pub async fn run_eval(workspace: Option<&Path>, args: EvalArgs) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let e = hone.evaluate_version(args.version).await?;
    if args.json {
        return output::json(&e);
    }
    print_evaluation(&e);
    Ok(())
}

pub async fn run_promote(workspace: Option<&Path>, args: PromoteArgs) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let p = hone.promote_version(args.version, args.force).await?;
    if args.json {
        output::json(&p)?;
    } else {
        print_evaluation(&p.evaluation);
        for r in &p.regressions {
            say!("warning: {r}");
        }
        say!(
            "{}",
            if p.promoted {
                format!("version {} is now the promoted version", args.version)
            } else {
                "not promoted (it regresses against its parent; --force promotes anyway)"
                    .to_string()
            }
        );
    }
    if !p.promoted {
        return Err(super::BadInput(format!(
            "version {} regresses against its parent",
            args.version
        ))
        .into());
    }
    Ok(())
}
