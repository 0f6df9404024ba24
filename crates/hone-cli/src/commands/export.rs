use std::path::{Path, PathBuf};

use hone_core::dataset::{SnapshotFilter, TrlFormat};
use hone_core::finetune::VersionFormat;

use super::BadInput;
use crate::output;
use crate::output::say;

#[derive(clap::Args)]
pub struct Args {
    /// The project (name or id) whose feedback to export.
    #[arg(long, required_unless_present = "version")]
    project: Option<String>,
    /// Export a model version instead (its id): --format peft, merged, gguf, gguf-lora, trl or
    /// trl-job (its training as a TRL job to run on a cluster), --out a folder.
    #[arg(long, conflicts_with_all = ["project", "snapshot"])]
    version: Option<hone_core::VersionId>,
    /// Feedback: preference, sft, kto, or all (then --out is a folder that gets one file per
    /// format). A version: peft, merged, gguf (the merged model for llama.cpp/Ollama/LM Studio),
    /// gguf-lora (a llama.cpp adapter and an Ollama Modelfile), trl, or trl-job (the version's
    /// snapshot, recipe and parent as a job for TRL + accelerate elsewhere; `hone versions
    /// import` takes its adapter back).
    #[arg(long)]
    format: String,
    /// With --format gguf: the element type, f16 (default), f32, q8_0, q4_0 or q4_k.
    #[arg(long, default_value = "f16")]
    quant: hone_core::model::gguf::GgufQuant,
    /// The file (or folder, with --format all) to write.
    #[arg(long)]
    out: PathBuf,
    /// Export this existing snapshot instead of freezing a new one.
    #[arg(long)]
    snapshot: Option<hone_core::SnapshotId>,
    /// Freeze judgments on held-out prompts too (default: train only).
    #[arg(long)]
    include_heldout: bool,
    /// Leave out judgments by these annotators (comma separated).
    #[arg(long, value_delimiter = ',')]
    exclude_annotator: Vec<String>,
    #[arg(long)]
    json: bool,
}

pub async fn run(workspace: Option<&Path>, args: Args) -> anyhow::Result<()> {
    if args.format == "trl-job" {
        let Some(version) = args.version else {
            return Err(BadInput(
                "--format trl-job exports a version's training (--version); for the project's feedback now, use hone train --project P --model M … --trl-job DIR".into(),
            )
            .into());
        };
        let hone = super::open(workspace).await?;
        let source = hone_core::finetune::TrlJobSource::Version(version);
        return super::trl_job::export(&hone, source, &args.out, args.json).await;
    }
    if let Some(version) = args.version {
        let format: VersionFormat = args
            .format
            .parse()
            .map_err(|e: String| BadInput(format!("--format: {e}")))?;
        let hone = super::open(workspace).await?;
        let files = hone
            .export_version_as(version, format, &args.out, args.quant)
            .await?;
        if args.json {
            return output::json(&files);
        }
        say!(
            "exported version {version} as {} to {}",
            args.format,
            args.out.display()
        );
        for f in files {
            say!("  {}", f.display());
        }
        return Ok(());
    }
    let project_key = args
        .project
        .clone()
        .expect("clap requires --project without --version");
    let formats: Vec<TrlFormat> = match args.format.as_str() {
        "all" => TrlFormat::ALL.to_vec(),
        one => vec![one
            .parse()
            .map_err(|e: String| BadInput(format!("--format: {e}, or all")))?],
    };
    let hone = super::open(workspace).await?;
    let project = super::project(&hone, &project_key).await?;
    let snapshot_id = match args.snapshot {
        Some(id) => id,
        None => {
            let filter = SnapshotFilter {
                split: if args.include_heldout {
                    None
                } else {
                    SnapshotFilter::default().split
                },
                exclude_annotators: args.exclude_annotator,
                ..SnapshotFilter::default()
            };
            hone.freeze_snapshot(project.id, &filter).await?.0.id
        }
    };
    let mut reports = Vec::new();
    for format in formats {
        let path = if args.format == "all" {
            args.out.join(format!("{}.jsonl", format.as_str()))
        } else {
            args.out.clone()
        };
        reports.push(hone.export_snapshot(snapshot_id, format, &path).await?);
    }
    if args.json {
        return output::json(&reports);
    }
    for r in &reports {
        say!(
            "wrote {} {} row(s) of snapshot {} to {}",
            r.rows,
            r.format.as_str(),
            r.snapshot_id,
            r.path.display()
        );
    }
    Ok(())
}
