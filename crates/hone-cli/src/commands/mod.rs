//! One module per subcommand.

pub mod annotators;
pub mod bench;
pub mod candidates;
pub mod demo;
pub mod evaluate;
pub mod export;
pub mod generate;
pub mod history;
pub mod import;
pub mod imports;
pub mod init;
pub mod model;
pub mod project;
pub mod provenance;
pub mod queue;
pub mod serve;
pub mod starter;
pub mod stats;
pub mod token_level;
pub mod train;
pub mod trl_job;
pub mod users;

use std::path::Path;
use std::sync::OnceLock;

use anyhow::Context;
use hone_core::model::DeviceChoice;
use hone_core::{resolve_workspace_dir, Hone};

/// The arguments of the commands that report on one project: which, and whether as JSON.
#[derive(clap::Args)]
pub struct ProjectArgs {
    /// The project (name or id).
    #[arg(long)]
    pub project: String,
    #[arg(long)]
    pub json: bool,
}

/// A mistake in the command line that clap cannot see (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

/// The `--device` of this command line (set once, in `main`).
static DEVICE: OnceLock<DeviceChoice> = OnceLock::new();

pub fn set_device(choice: DeviceChoice) {
    let _ = DEVICE.set(choice);
}

/// Where this command runs models (`--device`, `HONE_DEVICE`; `auto` by default).
pub fn device() -> DeviceChoice {
    DEVICE.get().copied().unwrap_or_default()
}

/// Opens the workspace the flags and environment point to, running models on `--device`.
pub async fn open(workspace: Option<&Path>) -> anyhow::Result<Hone> {
    let (dir, _) = resolve_workspace_dir(workspace)?;
    Ok(Hone::open(&dir)
        .await
        .with_context(|| format!("cannot open the workspace {}", dir.display()))?
        .with_device(device()))
}

/// The project named (or numbered) `key`.
pub async fn project(
    hone: &Hone,
    key: &str,
) -> anyhow::Result<hone_core::store::projects::Project> {
    Ok(hone.find_project(key).await?)
}
