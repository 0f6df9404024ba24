use std::path::{Path, PathBuf};

use hone_core::import::{ImportOptions, InputFormat, DEFAULT_MAX_BYTES};
use hone_core::Split;

use crate::output;

#[derive(clap::Args)]
pub struct Args {
    /// The file to import.
    file: PathBuf,
    /// The project (name or id) to import into.
    #[arg(long)]
    project: String,
    /// jsonl, csv or text (default: from the extension).
    #[arg(long)]
    format: Option<InputFormat>,
    /// The split of new prompts, unless a line says otherwise.
    #[arg(long, default_value = "train")]
    split: Split,
    /// Who imported judgments are attributed to.
    #[arg(long, default_value = "import")]
    annotator: String,
    /// Import the valid lines and report the others, instead of refusing the file.
    #[arg(long)]
    skip_invalid: bool,
    /// Refuse files larger than this many bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BYTES)]
    max_bytes: u64,
    #[arg(long)]
    json: bool,
}

pub async fn run(workspace: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let project = super::project(&hone, &args.project).await?;
    let options = ImportOptions {
        format: args.format,
        split: args.split,
        annotator: args.annotator,
        skip_invalid: args.skip_invalid,
        max_bytes: args.max_bytes,
    };
    let report = hone.import_file(project.id, &args.file, &options).await?;
    if args.json {
        return output::json(&report);
    }
    println!(
        "imported {}: {} record(s), {} new prompt(s) ({} already there), {} new response(s)",
        report.path.display(),
        report.records - report.skipped.len(),
        report.prompts_created,
        report.prompts_existing,
        report.responses_created
    );
    for (kind, n) in &report.judgments {
        println!("  {n} {kind} judgment(s)");
    }
    if report.judgments_existing > 0 {
        println!(
            "  {} judgment(s) were already recorded and were left as they are",
            report.judgments_existing
        );
    }
    if !report.skipped.is_empty() {
        println!("skipped {} invalid line(s):", report.skipped.len());
        for e in &report.skipped {
            println!("  {}: {e}", report.path.display());
        }
    }
    Ok(())
}
