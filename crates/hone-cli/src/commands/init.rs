use std::path::Path;

use hone_core::{resolve_workspace_dir, WorkspaceSource};
use serde_json::json;

use crate::output;
use crate::output::say;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
}

pub async fn run(workspace: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let (dir, source) = resolve_workspace_dir(workspace)?;
    let hone = super::open(Some(&dir)).await?;
    let projects = hone.list_projects().await?.len();
    let why = match source {
        WorkspaceSource::Flag => "from --workspace",
        WorkspaceSource::Environment => "from $HONE_WORKSPACE",
        WorkspaceSource::PlatformDataDir => {
            "the platform data folder (set --workspace or $HONE_WORKSPACE to choose another)"
        }
    };
    if args.json {
        return output::json(
            &json!({ "workspace": dir, "database": hone.store().path(), "projects": projects }),
        );
    }
    say!("workspace {} ({why})", dir.display());
    say!("database  {}", hone.store().path().display());
    say!("{projects} project(s)");
    Ok(())
}
