use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StarterError {
    #[error(transparent)]
    Model(#[from] hone_core::model::ModelError),
    #[error(transparent)]
    Train(#[from] hone_core::train::TrainError),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
}

impl From<candle_core::Error> for StarterError {
    fn from(e: candle_core::Error) -> Self {
        StarterError::Model(e.into())
    }
}

pub type Result<T> = std::result::Result<T, StarterError>;
