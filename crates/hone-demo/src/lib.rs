//! Hone's demo: everything `hone demo` needs to show the human-feedback loop working, offline,
//! on a laptop CPU.
//!
//! - The help-desk domain and the starter model trained on it come from `hone-starter`
//!   (re-exported here as [`domain`], [`corpus`] and [`starter`]).
//! - [`expert`]: the simulated expert that gives feedback through `hone-core`'s API.
//! - [`demo`]: the whole loop, stage by stage.

pub mod demo;
mod error;
pub mod expert;

pub use error::{DemoError, Result};
pub use hone_starter::{corpus, domain, starter};
