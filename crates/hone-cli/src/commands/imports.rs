//! `hone imports`: a project's import runs, newest first.

use std::path::Path;

use crate::output;
use crate::output::say;

/// A project and `--json`: all this command takes.
pub type Args = super::ProjectArgs;

pub async fn run(workspace: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let hone = super::open(workspace).await?;
    let project = super::project(&hone, &args.project).await?;
    let runs = hone.import_runs(project.id).await?;
    if args.json {
        return output::json(&runs);
    }
    if runs.is_empty() {
        say!("no imports into {:?} yet", project.name);
    }
    for run in runs {
        say!(
            "#{} {} {} ({} records, by {}, {})",
            run.id,
            run.state,
            run.path,
            run.records,
            run.annotator,
            run.finished_at.as_deref().unwrap_or(&run.started_at)
        );
        if let Some(error) = &run.error {
            say!("    undone: {error}");
        }
    }
    Ok(())
}
