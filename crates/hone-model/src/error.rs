use std::path::PathBuf;

/// Errors of the model engine. Every one a user can cause names the file, tensor or field.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    #[error("{}: field `{field}`: {message}", path.display())]
    Config {
        path: PathBuf,
        field: String,
        message: String,
    },
    #[error("model_type {found:?} is not supported; supported: {}", supported.join(", "))]
    UnsupportedArchitecture {
        found: String,
        supported: Vec<&'static str>,
    },
    #[error("tensor `{name}`: expected shape {expected:?}, found {found:?}")]
    Shape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("tensor `{name}` is missing from {}", path.display())]
    MissingTensor { name: String, path: PathBuf },
    #[error("chat template: {0}")]
    Template(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("adapter {name:?}: {message}")]
    Adapter { name: String, message: String },
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

impl ModelError {
    pub fn file(path: impl Into<PathBuf>, message: impl std::fmt::Display) -> Self {
        Self::File {
            path: path.into(),
            message: message.to_string(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }
}

pub type Result<T, E = ModelError> = std::result::Result<T, E>;
