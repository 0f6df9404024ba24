//! The starter model Hone offers before a user has one of their own, and the domain it is
//! trained on. The desktop and web UI build it (`hone-api`), and so does `hone demo`.
//!
//! - [`domain`]: a help desk whose answer quality a program can judge.
//! - [`corpus`]: the conversations the starter model is trained on.
//! - [`starter`]: the deterministic, resumable build of the model folder.

pub mod corpus;
pub mod domain;
mod error;
pub mod starter;

pub use error::{Result, StarterError};
