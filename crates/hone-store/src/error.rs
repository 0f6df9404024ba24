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
    /// The database could not be reached or was busy for a while (a lost connection, a full
    /// pool, a server shutting down, a lock held too long, a serialization conflict): the same
    /// request may succeed when sent again, unlike a refused one.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Open { .. } => true,
            Self::Sqlx(e) => match e {
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_)
                | sqlx::Error::WorkerCrashed => true,
                sqlx::Error::Database(db) => db.code().is_some_and(|code| {
                    // PostgreSQL: connection exceptions (08…), shutdown (57P0x), serialization
                    // failure and deadlock; SQLite: busy and locked, with their extended codes.
                    code.starts_with("08")
                        || code.starts_with("57P0")
                        || matches!(
                            &*code,
                            "40001" | "40P01" | "5" | "6" | "261" | "262" | "517"
                        )
                }),
                _ => false,
            },
            _ => false,
        }
    }

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

#[cfg(test)]
mod tests {
    use super::StoreError;

    #[test]
    fn a_database_out_of_reach_is_unavailable_and_a_refusal_is_not() {
        assert!(StoreError::Sqlx(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(StoreError::Sqlx(sqlx::Error::Io(std::io::Error::other("reset"))).is_unavailable());
        assert!(!StoreError::Sqlx(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::not_found("judgment", 1).is_unavailable());
    }
}
