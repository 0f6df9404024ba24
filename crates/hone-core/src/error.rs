use std::path::PathBuf;

use hone_store::StoreError;

/// Errors of the application API. Front doors map them to `{code, message}` with [`CoreError::code`];
/// the CLI exits with 2 for [`CoreError::is_bad_input`] and 1 otherwise.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// A value the caller gave is not acceptable; `field` names it (e.g. `ranking.ranked[2]`).
    #[error("invalid {field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{entity} {key} does not exist")]
    NotFound { entity: &'static str, key: String },
    #[error("{entity} {key} already exists")]
    Duplicate { entity: &'static str, key: String },
    /// An import refused because of its content; nothing was written.
    #[error(transparent)]
    Import(#[from] crate::import::ImportError),
    /// The I/O error is part of the message (not a `source`), so it is printed once.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Model(#[from] hone_model::ModelError),
    #[error(transparent)]
    Train(#[from] hone_train::TrainError),
    /// A panic in the training thread (a bug), caught so that its job ends failed.
    #[error("the training stopped on an internal error: {0}")]
    TrainingPanicked(String),
    /// The application is shutting down: work it had queued was dropped before it ran.
    #[error("Hone is shutting down; try again once it is back")]
    ShuttingDown,
}

impl CoreError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |error| Self::Io { path, error }
    }

    /// A model file the user named turned out unusable: said as a problem with `field`, the
    /// engine's message (file, key or tensor) kept whole. Other errors pass unchanged.
    pub fn for_field(self, field: &str) -> Self {
        match self {
            CoreError::Model(e) if !matches!(e, hone_model::ModelError::Candle(_)) => {
                CoreError::invalid(field, e.to_string())
            }
            other => other,
        }
    }

    /// A stable machine-readable code; the UI branches on it, never on the message.
    pub fn code(&self) -> &'static str {
        match self {
            CoreError::Invalid { .. } => "invalid",
            CoreError::NotFound { .. } => "not_found",
            CoreError::Duplicate { .. } => "duplicate",
            CoreError::Import(_) => "bad_import",
            CoreError::Io { .. } => "io",
            CoreError::Store(e) if e.is_unavailable() => "unavailable",
            CoreError::ShuttingDown => "unavailable",
            CoreError::Store(_) => "store",
            CoreError::Model(_) => "model",
            CoreError::Train(hone_train::TrainError::Cancelled) => "cancelled",
            CoreError::Train(hone_train::TrainError::Invalid { .. }) => "invalid",
            CoreError::Train(_) | CoreError::TrainingPanicked(_) => "training",
        }
    }

    /// Whether the user's input is at fault (as opposed to the machine or a bug).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            CoreError::Invalid { .. }
                | CoreError::NotFound { .. }
                | CoreError::Duplicate { .. }
                | CoreError::Import(_)
        ) || matches!(self, CoreError::Model(e) if !matches!(e, hone_model::ModelError::Candle(_)))
            || matches!(
                self,
                CoreError::Train(hone_train::TrainError::Invalid { .. })
            )
    }
}

impl From<StoreError> for CoreError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { entity, key } => CoreError::NotFound { entity, key },
            StoreError::Duplicate { entity, key } => CoreError::Duplicate { entity, key },
            other => CoreError::Store(other),
        }
    }
}

impl From<sqlx::Error> for CoreError {
    fn from(err: sqlx::Error) -> Self {
        CoreError::Store(StoreError::Sqlx(err))
    }
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;
