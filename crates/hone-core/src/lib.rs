//! Hone's application API: the one entry point that the CLI, the HTTP server and the desktop
//! shell call. Everything a user can get wrong is validated here and refused with a typed error
//! that names the field ([`CoreError::Invalid`]).
//!
//! - [`Hone`] is an open workspace (one SQLite store plus files beside it).
//! - [`projects`] create and configure projects (guidelines, criteria, span labels).
//! - [`feedback`] validates and records judgments of every kind.
//! - [`queue`] hands an annotator the next item to judge; [`triage`] records skips and flags.
//! - [`history`] lists an annotator's judgments and shows one as recorded, to re-judge it.
//! - [`dataset`] turns judgments into training rows and freezes them into snapshots.
//! - [`agreement`] measures inter-annotator agreement.
//! - [`import`] and [`export`] read and write prompts and TRL datasets.
//! - [`finetune`] turns a snapshot into a model version; [`inference`] loads a base or a
//!   version, [`generation`] makes candidate answers, [`evaluation`] scores and compares them.
//! - [`bench`] measures the engine on a device (`hone bench`, `scripts/gpu-check.sh`).

pub mod accounts;
pub mod agreement;
pub mod annotator_report;
pub mod arena;
pub mod bench;
mod blocking;
mod catalog;
pub mod content;
pub mod dataset;
mod error;
pub mod evaluation;
pub mod export;
pub mod feedback;
pub mod finetune;
pub mod generation;
pub mod gold;
pub mod head_to_head;
pub mod history;
pub mod import;
pub mod inference;
pub mod members;
pub mod model_files;
mod numbers;
mod owner_lock;
pub mod playground;
pub mod projects;
pub mod promotion;
pub mod provenance;
pub mod queue;
pub mod retrain;
pub mod stats;
pub mod suggestion;
pub mod triage;
pub mod verdict;
pub mod version_eval;
mod workspace;

pub use error::{CoreError, Result};
pub use hone_model as model;
pub use hone_store as store;
pub use hone_store::{
    AnnotatorId, AnnotatorKind, BaseModelId, Choice, FlagId, FlagReason, ImportRunId, JobId,
    JobState, JudgmentId, JudgmentKind, ProjectId, PromptId, QueueOrder, ResponseId,
    ResponseSource, SnapshotId, Split, UserId, VersionId,
};
pub use hone_train as train;
pub use workspace::{
    bind_database, database_location, resolve_workspace_dir, Hone, WorkspaceSource,
    DATABASE_URL_FILE,
};
