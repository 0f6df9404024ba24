//! Errors as the UI receives them: a stable `code` to branch on, a sentence for people, and
//! the field at fault when there is one.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error, ts_rs::TS)]
#[error("{message}")]
pub struct ApiError {
    /// `invalid`, `not_found`, `duplicate`, `bad_import`, `io`, `store`, `unavailable` (the
    /// database out of reach or busy: send again), `model`, `training`,
    /// `cancelled`, `unknown_command`, `bad_arguments`, `unauthorized`, `too_large`, `internal`.
    pub code: String,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
            field: None,
        }
    }

    /// The HTTP status the server answers with.
    pub fn http_status(&self) -> u16 {
        match self.code.as_str() {
            "invalid" | "bad_import" | "bad_arguments" | "unknown_command" | "model" => 400,
            "unauthorized" => 401,
            "forbidden" => 403,
            "not_found" => 404,
            "duplicate" => 409,
            "too_large" => 413,
            // The database was out of reach or busy: try again (the UI's outbox does).
            "unavailable" => 503,
            _ => 500,
        }
    }
}

impl From<hone_core::CoreError> for ApiError {
    fn from(e: hone_core::CoreError) -> Self {
        let field = match &e {
            hone_core::CoreError::Invalid { field, .. } => Some(field.clone()),
            _ => None,
        };
        let code = if matches!(&e, hone_core::CoreError::Model(_)) && !e.is_bad_input() {
            "internal"
        } else {
            e.code()
        };
        Self {
            code: code.into(),
            message: e.to_string(),
            field,
        }
    }
}

impl From<hone_starter::StarterError> for ApiError {
    fn from(e: hone_starter::StarterError) -> Self {
        match e {
            hone_starter::StarterError::Model(model) => model.into(),
            other => ApiError::new("internal", other.to_string()),
        }
    }
}

impl From<hone_core::model::ModelError> for ApiError {
    fn from(e: hone_core::model::ModelError) -> Self {
        hone_core::CoreError::from(e).into()
    }
}

impl From<hone_core::store::StoreError> for ApiError {
    fn from(e: hone_core::store::StoreError) -> Self {
        hone_core::CoreError::from(e).into()
    }
}
