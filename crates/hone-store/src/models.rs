//! Base models and the model versions (LoRA adapters) trained on them, with their files.

use crate::Conn;
use serde::{Deserialize, Serialize};

use crate::error::{parse_json, to_json};
use crate::{BaseModelId, JobId, ProjectId, Result, SnapshotId, StoreError, VersionId};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaseModel {
    pub id: BaseModelId,
    pub name: String,
    /// A local Hugging Face folder or a Hub id.
    pub location: String,
    pub architecture: String,
    pub sha256: Option<String>,
    pub config: serde_json::Value,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewBaseModel {
    pub name: String,
    pub location: String,
    pub architecture: String,
    pub sha256: Option<String>,
    pub config: serde_json::Value,
}

#[derive(sqlx::FromRow)]
struct BaseModelRow {
    id: BaseModelId,
    name: String,
    location: String,
    architecture: String,
    sha256: Option<String>,
    config: String,
    created_at: String,
}

impl TryFrom<BaseModelRow> for BaseModel {
    type Error = StoreError;
    fn try_from(r: BaseModelRow) -> Result<Self> {
        Ok(BaseModel {
            id: r.id,
            name: r.name,
            location: r.location,
            architecture: r.architecture,
            sha256: r.sha256,
            config: parse_json("base_models.config", &r.config)?,
            created_at: r.created_at,
        })
    }
}

const BASE_COLUMNS: &str = "id, name, location, architecture, sha256, config, created_at";

pub async fn insert_base(conn: &mut Conn, new: &NewBaseModel) -> Result<BaseModel> {
    let row: BaseModelRow = sqlx::query_as(&format!(
        "INSERT INTO base_models (name, location, architecture, sha256, config) VALUES ($1, $2, $3, $4, $5) RETURNING {BASE_COLUMNS}"
    ))
    .bind(&new.name)
    .bind(&new.location)
    .bind(&new.architecture)
    .bind(&new.sha256)
    .bind(to_json("base_models.config", &new.config)?)
    .fetch_one(&mut *conn)
    .await
    .map_err(StoreError::unique("base model", &new.name))?;
    row.try_into()
}

pub async fn get_base(conn: &mut Conn, id: BaseModelId) -> Result<BaseModel> {
    let row: BaseModelRow = sqlx::query_as(&format!(
        "SELECT {BASE_COLUMNS} FROM base_models WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::not_found("base model", id))?;
    row.try_into()
}

pub async fn list_bases(conn: &mut Conn) -> Result<Vec<BaseModel>> {
    let rows: Vec<BaseModelRow> = sqlx::query_as(&format!(
        "SELECT {BASE_COLUMNS} FROM base_models ORDER BY id"
    ))
    .fetch_all(&mut *conn)
    .await?;
    rows.into_iter().map(BaseModel::try_from).collect()
}

/// A file of a version's adapter, relative to its folder, with its content hash.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct VersionFile {
    pub path: String,
    pub sha256: String,
    pub bytes: i64,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub id: VersionId,
    pub project_id: ProjectId,
    pub name: String,
    pub parent_id: Option<VersionId>,
    pub base_model_id: BaseModelId,
    pub method: String,
    pub hyperparams: serde_json::Value,
    pub snapshot_id: Option<SnapshotId>,
    pub metrics: serde_json::Value,
    pub adapter_dir: Option<String>,
    pub job_id: Option<JobId>,
    pub files: Vec<VersionFile>,
    pub created_at: String,
}

impl ModelVersion {
    /// Whether `method` was one of the stages that made this version (`method` is e.g. `sft+dpo`).
    pub fn trained_with(&self, method: &str) -> bool {
        self.method.split('+').any(|m| m == method)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewModelVersion {
    pub project_id: ProjectId,
    pub name: String,
    pub parent_id: Option<VersionId>,
    pub base_model_id: BaseModelId,
    pub method: String,
    pub hyperparams: serde_json::Value,
    pub snapshot_id: Option<SnapshotId>,
    pub metrics: serde_json::Value,
    pub adapter_dir: Option<String>,
    pub job_id: Option<JobId>,
    pub files: Vec<VersionFile>,
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: VersionId,
    project_id: ProjectId,
    name: String,
    parent_id: Option<VersionId>,
    base_model_id: BaseModelId,
    method: String,
    hyperparams: String,
    snapshot_id: Option<SnapshotId>,
    metrics: String,
    adapter_dir: Option<String>,
    job_id: Option<JobId>,
    created_at: String,
}

const VERSION_COLUMNS: &str =
    "id, project_id, name, parent_id, base_model_id, method, hyperparams, snapshot_id, metrics, adapter_dir, job_id, created_at";

async fn hydrate(conn: &mut Conn, r: VersionRow) -> Result<ModelVersion> {
    let files = sqlx::query_as(
        "SELECT path, sha256, bytes FROM version_files WHERE version_id = $1 ORDER BY path",
    )
    .bind(r.id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(ModelVersion {
        id: r.id,
        project_id: r.project_id,
        name: r.name,
        parent_id: r.parent_id,
        base_model_id: r.base_model_id,
        method: r.method,
        hyperparams: parse_json("model_versions.hyperparams", &r.hyperparams)?,
        snapshot_id: r.snapshot_id,
        metrics: parse_json("model_versions.metrics", &r.metrics)?,
        adapter_dir: r.adapter_dir,
        job_id: r.job_id,
        files,
        created_at: r.created_at,
    })
}

pub async fn insert_version(conn: &mut Conn, new: &NewModelVersion) -> Result<ModelVersion> {
    use sqlx::Connection;
    let mut tx = conn.begin().await?;
    let id: VersionId = sqlx::query_scalar(
        "INSERT INTO model_versions (project_id, name, parent_id, base_model_id, method, hyperparams, snapshot_id, metrics, adapter_dir, job_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
    )
    .bind(new.project_id)
    .bind(&new.name)
    .bind(new.parent_id)
    .bind(new.base_model_id)
    .bind(&new.method)
    .bind(to_json("model_versions.hyperparams", &new.hyperparams)?)
    .bind(new.snapshot_id)
    .bind(to_json("model_versions.metrics", &new.metrics)?)
    .bind(&new.adapter_dir)
    .bind(new.job_id)
    .fetch_one(&mut *tx)
    .await
    .map_err(StoreError::unique("model version", &new.name))?;
    for file in &new.files {
        sqlx::query(
            "INSERT INTO version_files (version_id, path, sha256, bytes) VALUES ($1, $2, $3, $4)",
        )
        .bind(id)
        .bind(&file.path)
        .bind(&file.sha256)
        .bind(file.bytes)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    get_version(conn, id).await
}

pub async fn get_version(conn: &mut Conn, id: VersionId) -> Result<ModelVersion> {
    let row: VersionRow = sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM model_versions WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::not_found("model version", id))?;
    hydrate(conn, row).await
}

pub async fn list_versions(conn: &mut Conn, project_id: ProjectId) -> Result<Vec<ModelVersion>> {
    let rows: Vec<VersionRow> = sqlx::query_as(&format!(
        "SELECT {VERSION_COLUMNS} FROM model_versions WHERE project_id = $1 ORDER BY id"
    ))
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut versions = Vec::with_capacity(rows.len());
    for row in rows {
        versions.push(hydrate(conn, row).await?);
    }
    Ok(versions)
}

/// Replaces a version's metrics (evaluation results arrive after training).
pub async fn set_version_metrics(
    conn: &mut Conn,
    id: VersionId,
    metrics: &serde_json::Value,
) -> Result<()> {
    let done = sqlx::query("UPDATE model_versions SET metrics = $1 WHERE id = $2")
        .bind(to_json("model_versions.metrics", metrics)?)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("model version", id));
    }
    Ok(())
}
