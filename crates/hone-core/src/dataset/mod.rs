//! Feedback → training data.
//!
//! - [`rows`]: the three kinds of training rows (preference pairs, SFT examples, unpaired KTO
//!   examples) and their canonical TRL JSON form, and the rows token-level training reads
//!   beside them (an edit's two answers, an answer's marked characters).
//! - [`build`]: turns judgments into rows, with majority resolution of conflicting votes.
//! - [`snapshot`]: freezes a project's judgments into a hashed dataset snapshot.

pub mod build;
pub mod rows;
pub mod snapshot;

pub use build::{build_training_data, Conflict, ConflictSubject, RowRules, TrainingData};
pub use rows::{EditRow, KtoRow, PreferenceRow, PromptContent, SftRow, SpanRow, TrlFormat};
pub use snapshot::SnapshotFilter;
