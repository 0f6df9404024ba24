//! Hone's training, on `hone-model`: the objectives of TRL ([`losses`]), AdamW with a state
//! that can be saved ([`optim`]), learning-rate schedules ([`schedule`]).

pub mod checkpointing;
mod error;
pub mod losses;
pub mod metrics;
pub mod optim;
pub mod ppo;
pub mod preference;
pub mod reward;
pub mod schedule;
pub mod sft;
pub mod trainer;

pub use error::{Result, TrainError};
pub use metrics::Metrics;
