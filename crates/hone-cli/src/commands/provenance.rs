//! `hone provenance`: what trained a version, or what a judgment trained.

use std::path::Path;

use crate::output;
use crate::output::say;

#[derive(clap::Args)]
pub struct Args {
    /// A version (its id): its parents, base, snapshot and the judgments behind it.
    #[arg(
        long,
        conflicts_with = "judgment",
        required_unless_present = "judgment"
    )]
    version: Option<hone_core::VersionId>,
    /// A judgment (its id): the versions it trained.
    #[arg(long)]
    judgment: Option<hone_core::JudgmentId>,
    #[arg(long)]
    json: bool,
}

pub async fn run(workspace: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    if let Some(id) = args.version {
        let p = hone.version_provenance(id).await?;
        if args.json {
            return output::json(&p);
        }
        let chain: Vec<String> = std::iter::once(p.version.name.clone())
            .chain(p.ancestors.iter().map(|v| v.name.clone()))
            .chain([p.base.name.clone()])
            .collect();
        say!(
            "{} ({}): {}",
            p.version.name,
            p.version.method,
            chain.join(" ← ")
        );
        match &p.snapshot {
            Some(s) => say!(
                "snapshot {} (sha256 {}): {} judgments",
                s.id,
                &s.content_hash[..12.min(s.content_hash.len())],
                p.judgments.len()
            ),
            None => say!("no snapshot"),
        }
        let rows: Vec<Vec<String>> = p
            .annotators
            .iter()
            .map(|(name, n)| vec![name.clone(), n.to_string()])
            .collect();
        output::table(&["annotator", "judgments"], &rows);
        let rows: Vec<Vec<String>> = p
            .guideline_versions
            .iter()
            .map(|(v, n)| vec![v.clone(), n.to_string()])
            .collect();
        output::table(&["guidelines", "judgments"], &rows);
        return Ok(());
    }
    let id = args.judgment.expect("clap requires one of them");
    let p = hone.judgment_provenance(id).await?;
    if args.json {
        return output::json(&p);
    }
    say!(
        "judgment {} ({} by {} on prompt {}), in snapshots {:?}",
        id,
        p.judgment.kind,
        p.judgment.annotator,
        p.judgment.prompt_id,
        p.snapshot_ids
    );
    let rows: Vec<Vec<String>> = p
        .versions
        .iter()
        .map(|v| vec![v.id.to_string(), v.name.clone(), v.method.clone()])
        .collect();
    output::table(&["version", "name", "method"], &rows);
    Ok(())
}
