//! Training elsewhere: the TRL job a recipe or a version becomes (`hone train … --trl-job DIR`,
//! `hone export --version V --format trl-job`), and `hone versions import`, which takes the
//! adapter the job made back as a version.

use std::path::{Path, PathBuf};

use hone_core::finetune::{ImportVersion, TrlJobReport, TrlJobSource};

use crate::output;
use crate::output::say;

/// Writes the job and says what to do with it.
pub async fn export(
    hone: &hone_core::Hone,
    source: TrlJobSource,
    out: &Path,
    json: bool,
) -> anyhow::Result<()> {
    let report = hone.export_trl_job(source, out).await?;
    if json {
        return output::json(&report);
    }
    print_report(&report);
    Ok(())
}

fn print_report(report: &TrlJobReport) {
    let m = &report.manifest;
    say!(
        "wrote a TRL job to {} (snapshot {}, {})",
        report.folder.display(),
        m.snapshot.id,
        m.parent
            .as_ref()
            .map(|p| format!("continuing version {}", p.name))
            .unwrap_or_else(|| "a new adapter on the base".into())
    );
    for (i, s) in m.stages.iter().enumerate() {
        say!(
            "  stage {}: {} on {} rows ({})",
            i + 1,
            s.method.as_str(),
            s.rows,
            s.config
        );
    }
    for note in &m.notes {
        say!("note: {note}");
    }
    say!(
        "run it where TRL is: ACCELERATE_CONFIG=multi-gpu bash {}/launch.sh (README.md there says more)",
        report.folder.display()
    );
    say!(
        "then: hone versions import --from {}",
        report.folder.display()
    );
}

#[derive(clap::Subcommand)]
pub enum VersionsCommand {
    /// Take back the adapter a TRL job made (`--trl-job`, `--format trl-job`) as a new version.
    Import(ImportArgs),
}

#[derive(clap::Args)]
pub struct ImportArgs {
    /// The job folder, after launch.sh ran (with its output/).
    #[arg(long)]
    from: PathBuf,
    /// The parent version (its id), to confirm the job's: refused when it differs.
    #[arg(long)]
    parent: Option<hone_core::VersionId>,
    /// The new version's name (default vN).
    #[arg(long)]
    name: Option<String>,
    /// The adapter folder, when it is not where the job left it.
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// Evaluate the new version on the held-out data right away (as a fine-tune does).
    #[arg(long)]
    evaluate: bool,
    #[arg(long)]
    json: bool,
}

pub async fn import(workspace: Option<&Path>, args: ImportArgs) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let version = hone
        .import_trained_version(&ImportVersion {
            from: args.from,
            parent: args.parent,
            name: args.name,
            adapter: args.adapter,
        })
        .await?;
    let evaluation = if args.evaluate {
        Some(hone.evaluate_version(version.id).await?)
    } else {
        None
    };
    if args.json {
        return output::json(&serde_json::json!({ "version": version, "evaluation": evaluation }));
    }
    say!(
        "version {} (id {}) imported: {} on snapshot {}, parent {}",
        version.name,
        version.id,
        version.method,
        version
            .snapshot_id
            .map_or_else(|| "none".to_owned(), |s| s.to_string()),
        version
            .parent_id
            .map_or("none (the base model)".into(), |p| p.to_string())
    );
    if let Some(e) = &evaluation {
        say!();
        super::evaluate::print_evaluation(e);
    } else {
        say!("evaluate it with: hone eval --version {}", version.id);
    }
    Ok(())
}
