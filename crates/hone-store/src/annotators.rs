//! The people (and stand-ins) who give feedback.

use crate::Conn;
use serde::{Deserialize, Serialize};

use crate::{AnnotatorId, AnnotatorKind, Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Annotator {
    pub id: AnnotatorId,
    pub name: String,
    pub kind: AnnotatorKind,
    pub created_at: String,
}

/// The annotator with this name, created with `kind` if new.
pub async fn get_or_create(conn: &mut Conn, name: &str, kind: AnnotatorKind) -> Result<Annotator> {
    sqlx::query("INSERT INTO annotators (name, kind) VALUES ($1, $2) ON CONFLICT DO NOTHING")
        .bind(name)
        .bind(kind)
        .execute(&mut *conn)
        .await?;
    get_by_name(conn, name).await
}

pub async fn get(conn: &mut Conn, id: AnnotatorId) -> Result<Annotator> {
    sqlx::query_as("SELECT id, name, kind, created_at FROM annotators WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("annotator", id))
}

pub async fn get_by_name(conn: &mut Conn, name: &str) -> Result<Annotator> {
    sqlx::query_as("SELECT id, name, kind, created_at FROM annotators WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("annotator", format!("{name:?}")))
}

pub async fn list(conn: &mut Conn) -> Result<Vec<Annotator>> {
    Ok(
        sqlx::query_as("SELECT id, name, kind, created_at FROM annotators ORDER BY id")
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// How many judgments the annotator called `name` has made (0 when there is none).
pub async fn judgment_count(conn: &mut Conn, name: &str) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM judgments j JOIN annotators a ON a.id = j.annotator_id WHERE a.name = $1",
    )
    .bind(name)
    .fetch_one(&mut *conn)
    .await?)
}
