//! Whether a run recomputes each decoder layer in the backward instead of keeping its
//! activations (gradient checkpointing, `hone_model`'s `LoraContext::checkpoint_layers`).
//! It changes no result, only memory (one layer's activations at a time) and time (one more
//! forward pass).

use serde::{Deserialize, Serialize};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Checkpointing {
    /// The caller decides: Hone's plan turns it on when the step would not fit in memory
    /// otherwise. The trainer itself runs `Auto` as `Off`.
    #[default]
    Auto,
    On,
    Off,
}

impl Checkpointing {
    /// Whether the trainer recomputes layers.
    pub fn is_on(self) -> bool {
        self == Self::On
    }
}

impl std::str::FromStr for Checkpointing {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "on" => Ok(Self::On),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "unknown gradient checkpointing {other:?}; expected auto, on or off"
            )),
        }
    }
}
