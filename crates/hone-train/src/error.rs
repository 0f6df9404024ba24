/// Errors of training.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{what} is not finite at step {step}; the last good checkpoint is kept")]
    NonFinite { what: String, step: u64 },
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Model(#[from] hone_model::ModelError),
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = TrainError> = std::result::Result<T, E>;
