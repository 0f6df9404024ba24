//! One-click fine-tuning: a recipe turns a frozen dataset snapshot into a new, tracked model
//! version (a LoRA adapter with its lineage, data, hyper-parameters, curves and files).
//!
//! - [`recipe`]: what to train and how, and the `auto` plan from what the feedback holds.
//! - [`tokens`]: training rows → token sequences for a given model (chat template or raw).
//! - [`run`]: the job: snapshot, progress and metric curves, the version, its evaluation.
//! - `stages`: the training of a job's stages on a blocking thread, and `plan`: what they
//!   will take (examples, steps, time, memory).
//! - [`memory`]: the peak memory a plan states.
//! - [`device_speed`]: the training speed a plan assumes on its device before one is measured,
//!   on the CPU from [`step_probe`]'s products and training step; PPO's sampling from
//!   [`decode_probe`]'s tokens decoded on the plan's model.
//! - [`trl_job`]: a job folder that trains the recipe with TRL elsewhere (a cluster), and
//!   `version_import`: its adapter taken back as a version.

pub mod decode_probe;
pub mod device_speed;
pub mod export;
pub mod memory;
mod plan;
mod project_token_level;
pub mod recipe;
mod run;
mod stages;
pub mod step_probe;
pub mod step_time;
pub mod timing;
pub mod tokens;
pub mod trl_job;
mod version_import;

pub use export::VersionFormat;
pub use recipe::{
    BaseWeights, LoraSpec, Method, Plan, PlanDevice, PlanStage, Recipe, StageMethod, TokenLevel,
};
pub(crate) use run::base_model_for;
pub use run::{FineTuneEvent, FineTuneOutcome, FINE_TUNE_JOB, SCORE_FILE};
pub use trl_job::{JobManifest, TrlJobReport, TrlJobSource};
pub use version_import::ImportVersion;
