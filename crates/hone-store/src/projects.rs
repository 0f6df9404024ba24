//! Projects and what belongs to them alone: versioned guidelines, rating criteria, span labels.

use crate::{dialect, Conn};
use serde::{Deserialize, Serialize};

use crate::{ProjectId, QueueOrder, Result, SpanPolarity, StoreError, VersionId};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub task_description: String,
    pub rating_min: i64,
    pub rating_max: i64,
    pub kto_threshold: f64,
    pub overlap: i64,
    pub created_at: String,
    /// The version the app generates with, promoted by the user; `None`: the base model.
    pub promoted_version_id: Option<VersionId>,
    pub queue_order: QueueOrder,
    /// The share of queue items drawn from the gold items an annotator has not judged yet.
    pub gold_rate: f64,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewProject {
    pub name: String,
    pub task_description: String,
    pub rating_min: i64,
    pub rating_max: i64,
    pub kto_threshold: f64,
    pub overlap: i64,
    #[serde(default = "in_order")]
    pub queue_order: QueueOrder,
    #[serde(default)]
    pub gold_rate: f64,
}

fn in_order() -> QueueOrder {
    QueueOrder::InOrder
}

impl NewProject {
    /// A project with the defaults: ratings 1–7, desirable from 5, one annotator per item.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            task_description: String::new(),
            rating_min: 1,
            rating_max: 7,
            kto_threshold: 5.0,
            overlap: 1,
            queue_order: QueueOrder::InOrder,
            gold_rate: 0.0,
        }
    }
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Guideline {
    pub version: i64,
    pub text: String,
    pub created_at: String,
}

/// A rating criterion: a name the project defines, with a description.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct NamedItem {
    pub name: String,
    pub description: String,
}

/// A span label: a name the project defines, with a description, and whether its marks point
/// at something wrong (the default) or something good.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct SpanLabel {
    pub name: String,
    pub description: String,
    #[serde(default)]
    pub polarity: SpanPolarity,
}

impl SpanLabel {
    /// A label for something wrong.
    pub fn error(name: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            description: description.into(),
            polarity: SpanPolarity::Error,
        }
    }
}

const COLUMNS: &str = "id, name, task_description, rating_min, rating_max, kto_threshold, overlap, created_at, promoted_version_id, queue_order, gold_rate";

/// Makes `version_id` (or the base, with `None`) the project's promoted version.
pub async fn set_promoted(
    conn: &mut Conn,
    project_id: ProjectId,
    version_id: Option<VersionId>,
) -> Result<()> {
    let done = sqlx::query("UPDATE projects SET promoted_version_id = $1 WHERE id = $2")
        .bind(version_id)
        .bind(project_id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("project", project_id));
    }
    Ok(())
}

pub async fn create(conn: &mut Conn, new: &NewProject) -> Result<Project> {
    let sql = format!(
        "INSERT INTO projects (name, task_description, rating_min, rating_max, kto_threshold, overlap, queue_order, gold_rate)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    );
    sqlx::query_as(&sql)
        .bind(&new.name)
        .bind(&new.task_description)
        .bind(new.rating_min)
        .bind(new.rating_max)
        .bind(new.kto_threshold)
        .bind(new.overlap)
        .bind(new.queue_order)
        .bind(new.gold_rate)
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::unique("project", &new.name))
}

pub async fn get(conn: &mut Conn, id: ProjectId) -> Result<Project> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM projects WHERE id = $1"))
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("project", id))
}

pub async fn get_by_name(conn: &mut Conn, name: &str) -> Result<Project> {
    sqlx::query_as(&format!("SELECT {COLUMNS} FROM projects WHERE name = $1"))
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or_else(|| StoreError::not_found("project", format!("{name:?}")))
}

pub async fn list(conn: &mut Conn) -> Result<Vec<Project>> {
    Ok(
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM projects ORDER BY id"))
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// Replaces the tunable settings (everything but the name).
pub async fn update_settings(
    conn: &mut Conn,
    id: ProjectId,
    settings: &NewProject,
) -> Result<Project> {
    sqlx::query_as(&format!(
        "UPDATE projects SET task_description = $1, rating_min = $2, rating_max = $3, kto_threshold = $4, overlap = $5,
         queue_order = $6, gold_rate = $7 WHERE id = $8 RETURNING {COLUMNS}"
    ))
    .bind(&settings.task_description)
    .bind(settings.rating_min)
    .bind(settings.rating_max)
    .bind(settings.kto_threshold)
    .bind(settings.overlap)
    .bind(settings.queue_order)
    .bind(settings.gold_rate)
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::not_found("project", id))
}

/// Adds a new guideline version (1, 2, …) and returns it; old versions stay, judgments cite them.
pub async fn add_guideline(
    conn: &mut Conn,
    project_id: ProjectId,
    text: &str,
) -> Result<Guideline> {
    Ok(sqlx::query_as(
        "INSERT INTO guidelines (project_id, version, text)
         VALUES ($1, (SELECT COALESCE(MAX(version), 0) + 1 FROM guidelines WHERE project_id = $1), $2)
         RETURNING version, text, created_at",
    )
    .bind(project_id)
    .bind(text)
    .fetch_one(&mut *conn)
    .await?)
}

pub async fn latest_guideline(conn: &mut Conn, project_id: ProjectId) -> Result<Option<Guideline>> {
    Ok(sqlx::query_as(
        "SELECT version, text, created_at FROM guidelines WHERE project_id = $1 ORDER BY version DESC LIMIT 1",
    )
    .bind(project_id)
    .fetch_optional(&mut *conn)
    .await?)
}

pub async fn guidelines(conn: &mut Conn, project_id: ProjectId) -> Result<Vec<Guideline>> {
    Ok(sqlx::query_as(
        "SELECT version, text, created_at FROM guidelines WHERE project_id = $1 ORDER BY version",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Appends a rating criterion at the end of the project's list.
pub async fn add_criterion(conn: &mut Conn, project_id: ProjectId, item: &NamedItem) -> Result<()> {
    sqlx::query(
        "INSERT INTO rating_criteria (project_id, name, description, position)
         VALUES ($1, $2, $3, (SELECT COALESCE(MAX(position), -1) + 1 FROM rating_criteria WHERE project_id = $1))",
    )
    .bind(project_id)
    .bind(&item.name)
    .bind(&item.description)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::unique("rating criterion", &item.name))?;
    Ok(())
}

/// The project's rating criteria, in order.
pub async fn criteria(conn: &mut Conn, project_id: ProjectId) -> Result<Vec<NamedItem>> {
    Ok(sqlx::query_as(
        "SELECT name, description FROM rating_criteria WHERE project_id = $1 ORDER BY position",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// Appends a span label at the end of the project's list.
pub async fn add_span_label(
    conn: &mut Conn,
    project_id: ProjectId,
    label: &SpanLabel,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO span_labels (project_id, name, description, polarity, position)
         VALUES ($1, $2, $3, $4, (SELECT COALESCE(MAX(position), -1) + 1 FROM span_labels WHERE project_id = $1))",
    )
    .bind(project_id)
    .bind(&label.name)
    .bind(&label.description)
    .bind(label.polarity)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::unique("span label", &label.name))?;
    Ok(())
}

/// The project's span labels, in order.
pub async fn span_labels(conn: &mut Conn, project_id: ProjectId) -> Result<Vec<SpanLabel>> {
    Ok(sqlx::query_as(
        "SELECT name, description, polarity FROM span_labels WHERE project_id = $1 ORDER BY position",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// The project's token-level feedback settings as stored (JSON), if it has any.
pub async fn token_level(conn: &mut Conn, project_id: ProjectId) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT settings FROM project_token_level WHERE project_id = $1")
            .bind(project_id)
            .fetch_optional(&mut *conn)
            .await?,
    )
}

/// Stores the project's token-level feedback settings (JSON), replacing any before.
pub async fn set_token_level(conn: &mut Conn, project_id: ProjectId, settings: &str) -> Result<()> {
    let now = dialect::backend(conn).now();
    sqlx::query(&format!(
        "INSERT INTO project_token_level (project_id, settings) VALUES ($1, $2) \
         ON CONFLICT (project_id) DO UPDATE SET settings = excluded.settings, updated_at = {now}"
    ))
    .bind(project_id)
    .bind(settings)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
