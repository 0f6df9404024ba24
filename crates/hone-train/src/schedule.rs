//! Learning-rate schedules with warmup, as transformers' `get_*_schedule_with_warmup` define
//! them: the multiplier at scheduler step `s` (0 for the first optimiser step when warming up).

use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    Constant,
    #[default]
    Linear,
    Cosine,
}

impl Schedule {
    /// The learning rate at step `step` (0-based) of `total`, after `warmup` steps of ramp.
    pub fn lr(self, base_lr: f64, step: u64, warmup: u64, total: u64) -> f64 {
        if step < warmup {
            return base_lr * step as f64 / warmup.max(1) as f64;
        }
        let progress = (step - warmup) as f64 / (total.saturating_sub(warmup)).max(1) as f64;
        base_lr
            * match self {
                Schedule::Constant => 1.0,
                Schedule::Linear => (1.0 - progress).max(0.0),
                Schedule::Cosine => {
                    (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0)
                }
            }
    }
}
