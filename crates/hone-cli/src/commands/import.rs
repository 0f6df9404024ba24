use std::path::{Path, PathBuf};

use hone_core::import::{
    ImportOptions, ImportProgress, ImportStage, InputFormat, DEFAULT_MAX_BYTES,
};
use hone_core::Split;
use indicatif::{ProgressBar, ProgressStyle};

use crate::output;
use crate::output::say;

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
    // A bar over the file's bytes, once for checking and once for writing (on stderr; hidden
    // when that is not a terminal, so scripts and --json output stay clean).
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{prefix:>8} [{bar:30}] {bytes}/{total_bytes} {msg} ({eta} left)",
        )
        .expect("template")
        .progress_chars("=> "),
    );
    let shown = bar.clone();
    let progress = move |p: ImportProgress| {
        let prefix = match p.stage {
            ImportStage::Checking => "checking",
            ImportStage::Writing => "writing",
        };
        if shown.prefix() != prefix {
            shown.reset();
            shown.set_prefix(prefix);
        }
        shown.set_length(p.bytes_total);
        shown.set_position(p.bytes_done);
        shown.set_message(format!("{} records", p.records));
    };
    let result = hone
        .import_file_with_progress(project.id, &args.file, &options, &progress)
        .await;
    bar.finish_and_clear();
    let report = result?;
    if args.json {
        return output::json(&report);
    }
    say!(
        "imported {}: {} record(s), {} new prompt(s) ({} already there), {} new response(s)",
        report.path.display(),
        report.records - report.skipped_total,
        report.prompts_created,
        report.prompts_existing,
        report.responses_created
    );
    for (kind, n) in &report.judgments {
        say!("  {n} {kind} judgment(s)");
    }
    if report.judgments_existing > 0 {
        say!(
            "  {} judgment(s) were already recorded and were left as they are",
            report.judgments_existing
        );
    }
    if report.skipped_total > 0 {
        say!("skipped {} invalid line(s):", report.skipped_total);
        for e in &report.skipped {
            say!("  {}: {e}", report.path.display());
        }
        if report.skipped_total > report.skipped.len() {
            say!(
                "  … and {} more",
                report.skipped_total - report.skipped.len()
            );
        }
    }
    Ok(())
}
