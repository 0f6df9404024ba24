use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Core(#[from] hone_core::CoreError),
    #[error(transparent)]
    Model(#[from] hone_core::model::ModelError),
    #[error(transparent)]
    Train(#[from] hone_core::train::TrainError),
    #[error(transparent)]
    Starter(#[from] hone_starter::StarterError),
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{0}")]
    Invalid(String),
}

impl From<candle_core::Error> for DemoError {
    fn from(e: candle_core::Error) -> Self {
        DemoError::Model(e.into())
    }
}

pub type Result<T> = std::result::Result<T, DemoError>;
