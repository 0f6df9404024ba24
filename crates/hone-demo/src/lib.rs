//! Hone's demo: everything `hone demo` needs to show the human-feedback loop working, offline,
//! on a laptop CPU.
//!
//! - [`domain`]: a help desk whose answer quality a program can judge.
//! - [`corpus`] and [`starter`]: the starter model, trained here from a generated corpus.
//! - [`expert`]: the simulated expert that gives feedback through `hone-core`'s API.
//! - [`demo`]: the whole loop, stage by stage.

pub mod corpus;
pub mod demo;
pub mod domain;
mod error;
pub mod expert;
pub mod starter;

pub use error::{DemoError, Result};
