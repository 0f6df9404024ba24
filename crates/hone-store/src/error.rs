/// Errors of the store. Domain validation errors belong to `hone-core`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the database {location}")]
    Open {
        location: String,
        source: sqlx::Error,
    },
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{entity} {key} does not exist")]
    NotFound { entity: &'static str, key: String },
    #[error("{entity} {key} already exists")]
    Duplicate { entity: &'static str, key: String },
    #[error("stored JSON in {column} is invalid")]
    Json {
        column: &'static str,
        source: serde_json::Error,
    },
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
}

impl StoreError {
    pub(crate) fn not_found(entity: &'static str, key: impl ToString) -> Self {
        Self::NotFound {
            entity,
            key: key.to_string(),
        }
    }

    /// Maps a UNIQUE violation to `Duplicate`, anything else through unchanged.
    pub(crate) fn unique(
        entity: &'static str,
        key: impl ToString,
    ) -> impl FnOnce(sqlx::Error) -> Self {
        move |err| match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Duplicate {
                entity,
                key: key.to_string(),
            },
            _ => Self::Sqlx(err),
        }
    }
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    column: &'static str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|source| StoreError::Json { column, source })
}

pub(crate) fn to_json<T: serde::Serialize>(
    column: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|source| StoreError::Json { column, source })
}
