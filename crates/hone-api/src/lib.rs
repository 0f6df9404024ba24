//! The UI's API: every command the web UI and the desktop shell call, dispatched by name over
//! `hone-core` (see `API.md`). The HTTP server and the Tauri shell are thin transports around
//! [`Api::call`] and [`Api::subscribe`]; neither knows a command.

mod commands;
mod error;
pub mod jobs;
pub mod paths;
pub mod remote;
pub mod roles;
pub mod types;
mod uploads;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hone_core::Hone;

pub use error::ApiError;
pub use jobs::{JobEvent, JobStream, Jobs};
pub use remote::RemoteApi;
pub use roles::Caller;
pub use uploads::{Split, UPLOAD_LIMIT_BYTES};

/// An open workspace with its running jobs.
#[derive(Clone)]
pub struct Api {
    hone: Arc<Hone>,
    jobs: Jobs,
    starter_dir: PathBuf,
    /// Folders besides the workspace that team accounts may name models in (`paths`).
    model_roots: Arc<Vec<PathBuf>>,
}

impl Api {
    /// Opens the workspace in `dir`. The starter model lives in `<dir>/models/hone-starter`,
    /// as `hone demo` puts it.
    pub async fn open(dir: &Path) -> Result<Self, ApiError> {
        Self::open_on(dir, hone_core::model::DeviceChoice::Auto).await
    }

    /// Opens the workspace in `dir`, running its models on `device`.
    pub async fn open_on(
        dir: &Path,
        device: hone_core::model::DeviceChoice,
    ) -> Result<Self, ApiError> {
        // Leases: annotators of a shared server asking at once get different units. Jobs
        // train at background priority: the people labeling meanwhile are answered first.
        let hone = Hone::open(dir)
            .await?
            .with_device(device)
            .with_leases()
            .with_background_training();
        Ok(Self {
            hone: Arc::new(hone),
            jobs: Jobs::default(),
            starter_dir: dir.join("models").join("hone-starter"),
            model_roots: Arc::default(),
        })
    }

    /// Lets team accounts name models inside `roots` too (`hone serve --team --models DIR`).
    pub fn with_model_roots(mut self, roots: Vec<PathBuf>) -> Self {
        self.model_roots = Arc::new(roots);
        self
    }

    pub(crate) fn model_roots(&self) -> &[PathBuf] {
        &self.model_roots
    }

    pub fn hone(&self) -> &Hone {
        &self.hone
    }

    /// Runs `command` with `args` (a JSON object) and returns its JSON result, as the
    /// workspace's own user (the desktop, a server without accounts).
    pub async fn call(
        &self,
        command: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        self.call_as(&Caller::Local, command, args).await
    }

    /// [`Api::call`] for `caller`: refused when their role does not allow it (see `roles`);
    /// a team account labels under its own name.
    pub async fn call_as(
        &self,
        caller: &Caller,
        command: &str,
        mut args: serde_json::Value,
    ) -> Result<serde_json::Value, ApiError> {
        roles::authorize(self, caller, command, &mut args).await?;
        if command == "whoami" {
            return Ok(match caller {
                Caller::Local => serde_json::Value::Null,
                Caller::Account(account) => {
                    serde_json::to_value(account).expect("an account serialises")
                }
            });
        }
        let answer = commands::dispatch(self, command, args).await?;
        roles::visible(self, caller, command, answer).await
    }

    /// A job's events: those so far, then the ones to come, ending after the last.
    pub fn subscribe(&self, job_id: u64) -> Result<JobStream, ApiError> {
        let (history, live) = self.jobs.subscribe(job_id)?;
        Ok(JobStream::new(history, live))
    }
}
