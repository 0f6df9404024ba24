use std::path::Path;

use hone_core::{resolve_workspace_dir, WorkspaceSource};
use serde_json::json;

use crate::output;
use crate::output::say;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    json: bool,
    /// Keep the workspace's feedback in this PostgreSQL database (`postgres://user@host/db`;
    /// it must exist) instead of its `hone.sqlite`, for a team server: the workspace folder
    /// remembers it (`database.url`), so every later command uses it.
    #[arg(
        long,
        value_name = "URL",
        env = "HONE_DATABASE",
        hide_env_values = true
    )]
    database: Option<String>,
}

pub async fn run(workspace: Option<&Path>, args: Args) -> anyhow::Result<()> {
    let (dir, source) = resolve_workspace_dir(workspace)?;
    if let Some(url) = &args.database {
        hone_core::bind_database(&dir, url)?;
    }
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
            &json!({ "workspace": dir, "database": hone.store().location().to_string(), "projects": projects }),
        );
    }
    say!("workspace {} ({why})", dir.display());
    say!("database  {}", hone.store().location());
    say!("{projects} project(s)");
    Ok(())
}
