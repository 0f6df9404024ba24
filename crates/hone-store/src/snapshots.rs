//! Dataset snapshots: a frozen list of judgment ids and the hash of the rows they produced.

use serde::{Deserialize, Serialize};
use sqlx::Connection;

use crate::Conn;

use crate::error::{parse_json, to_json};
use crate::{JudgmentId, Result, SnapshotId, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Snapshot {
    pub id: SnapshotId,
    pub project_id: i64,
    pub content_hash: String,
    /// The filter and row counts that produced it.
    pub description: serde_json::Value,
    pub judgment_ids: Vec<JudgmentId>,
    pub created_at: String,
}

pub async fn insert(
    conn: &mut Conn,
    project_id: i64,
    judgment_ids: &[JudgmentId],
    content_hash: &str,
    description: &serde_json::Value,
) -> Result<Snapshot> {
    let mut tx = conn.begin().await?;
    let id: SnapshotId =
        sqlx::query_scalar("INSERT INTO dataset_snapshots (project_id, content_hash, description) VALUES ($1, $2, $3) RETURNING id")
            .bind(project_id)
            .bind(content_hash)
            .bind(to_json("dataset_snapshots.description", description)?)
            .fetch_one(&mut *tx)
            .await?;
    let ids = crate::dialect::backend(&tx).json_ids(2);
    sqlx::query(&format!(
        "INSERT INTO snapshot_judgments (snapshot_id, judgment_id) SELECT $1, id FROM ({ids}) AS ids"
    ))
        .bind(id)
        .bind(to_json("ids", &judgment_ids)?)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    get(conn, id).await
}

pub async fn get(conn: &mut Conn, id: SnapshotId) -> Result<Snapshot> {
    let (project_id, content_hash, description, created_at): (i64, String, String, String) =
        sqlx::query_as("SELECT project_id, content_hash, description, created_at FROM dataset_snapshots WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::not_found("dataset snapshot", id))?;
    let judgment_ids = sqlx::query_scalar(
        "SELECT judgment_id FROM snapshot_judgments WHERE snapshot_id = $1 ORDER BY judgment_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Snapshot {
        id,
        project_id,
        content_hash,
        description: parse_json("dataset_snapshots.description", &description)?,
        judgment_ids,
        created_at,
    })
}

pub async fn list(conn: &mut Conn, project_id: i64) -> Result<Vec<Snapshot>> {
    let ids: Vec<SnapshotId> =
        sqlx::query_scalar("SELECT id FROM dataset_snapshots WHERE project_id = $1 ORDER BY id")
            .bind(project_id)
            .fetch_all(&mut *conn)
            .await?;
    let mut snapshots = Vec::with_capacity(ids.len());
    for id in ids {
        snapshots.push(get(conn, id).await?);
    }
    Ok(snapshots)
}
