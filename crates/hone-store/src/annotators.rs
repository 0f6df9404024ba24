//! The people (and stand-ins) who give feedback.

use serde::{Deserialize, Serialize};
use sqlx::SqliteConnection;

use crate::{AnnotatorKind, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Annotator {
    pub id: i64,
    pub name: String,
    pub kind: AnnotatorKind,
    pub created_at: String,
}

/// The annotator with this name, created with `kind` if new.
pub async fn get_or_create(
    conn: &mut SqliteConnection,
    name: &str,
    kind: AnnotatorKind,
) -> Result<Annotator> {
    sqlx::query("INSERT OR IGNORE INTO annotators (name, kind) VALUES (?, ?)")
        .bind(name)
        .bind(kind)
        .execute(&mut *conn)
        .await?;
    get_by_name(conn, name).await
}

pub async fn get(conn: &mut SqliteConnection, id: i64) -> Result<Annotator> {
    sqlx::query_as("SELECT id, name, kind, created_at FROM annotators WHERE id = ?")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("annotator", id))
}

pub async fn get_by_name(conn: &mut SqliteConnection, name: &str) -> Result<Annotator> {
    sqlx::query_as("SELECT id, name, kind, created_at FROM annotators WHERE name = ?")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("annotator", format!("{name:?}")))
}

pub async fn list(conn: &mut SqliteConnection) -> Result<Vec<Annotator>> {
    Ok(
        sqlx::query_as("SELECT id, name, kind, created_at FROM annotators ORDER BY id")
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// How many judgments the annotator called `name` has made (0 when there is none).
pub async fn judgment_count(conn: &mut SqliteConnection, name: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM judgments j JOIN annotators a ON a.id = j.annotator_id WHERE a.name = ?",
    )
    .bind(name)
    .fetch_one(&mut *conn)
    .await?)
}
