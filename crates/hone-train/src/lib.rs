//! Hone's training, on `hone-model`: the objectives of TRL ([`losses`]), AdamW with a state
//! that can be saved ([`optim`]), learning-rate schedules ([`schedule`]), and losses on the
//! tokens an expert's edit or marked span points at ([`token_weights`], [`token_losses`]).

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
pub mod step_end;
pub mod token_losses;
pub mod token_weights;
pub mod trainer;

pub use error::{Result, TrainError};
pub use metrics::Metrics;
