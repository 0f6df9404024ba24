//! Dataset snapshots: a frozen list of judgment ids and the hash of the rows they produced.
//! Written whole ([`insert`]) or, when large, in parts ([`start`], [`add_judgments`],
//! [`complete`]) so that no one write transaction holds the writer long.

use serde::{Deserialize, Serialize};
use sqlx::Connection;

use crate::Conn;

use crate::error::{parse_json, to_json};
use crate::{JudgmentId, ProjectId, Result, SnapshotId, StoreError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Snapshot {
    pub id: SnapshotId,
    pub project_id: ProjectId,
    pub content_hash: String,
    /// The filter and row counts that produced it.
    pub description: serde_json::Value,
    pub judgment_ids: Vec<JudgmentId>,
    pub created_at: String,
}

pub async fn insert(
    conn: &mut Conn,
    project_id: ProjectId,
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
    insert_ids(&mut tx, id, judgment_ids).await?;
    tx.commit().await?;
    get(conn, id).await
}

/// Starts a snapshot to be written in parts (migration 0014): incomplete, so `get` and `list`
/// see it only once [`complete`] is called. [`add_judgments`] adds its judgment ids, each call
/// in a write transaction of its own; [`delete_incomplete`] drops it if its writer gives up.
pub async fn start(
    conn: &mut Conn,
    project_id: ProjectId,
    content_hash: &str,
    description: &serde_json::Value,
) -> Result<SnapshotId> {
    Ok(sqlx::query_scalar(
        "INSERT INTO dataset_snapshots (project_id, content_hash, description, complete) VALUES ($1, $2, $3, 0) RETURNING id",
    )
    .bind(project_id)
    .bind(content_hash)
    .bind(to_json("dataset_snapshots.description", description)?)
    .fetch_one(&mut *conn)
    .await?)
}

/// Adds judgment ids to a snapshot that [`start`] began and is not complete yet.
pub async fn add_judgments(
    conn: &mut Conn,
    id: SnapshotId,
    judgment_ids: &[JudgmentId],
) -> Result<()> {
    let open: Option<i64> =
        sqlx::query_scalar("SELECT complete FROM dataset_snapshots WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    if open != Some(0) {
        return Err(StoreError::not_found("incomplete dataset snapshot", id));
    }
    insert_ids(conn, id, judgment_ids).await
}

/// The rows saying that snapshot `id` holds `judgment_ids`, in one statement.
async fn insert_ids(conn: &mut Conn, id: SnapshotId, judgment_ids: &[JudgmentId]) -> Result<()> {
    let ids = crate::dialect::backend(conn).json_ids(2);
    sqlx::query(&format!(
        "INSERT INTO snapshot_judgments (snapshot_id, judgment_id) SELECT $1, id FROM ({ids}) AS ids"
    ))
    .bind(id)
    .bind(to_json("ids", &judgment_ids)?)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Marks a snapshot that [`start`] began complete: from now on `get` and `list` see it. (It
/// does not read the snapshot back: a large one's ids are read after the commit, outside the
/// writer's turn.)
pub async fn complete(conn: &mut Conn, id: SnapshotId) -> Result<()> {
    let done =
        sqlx::query("UPDATE dataset_snapshots SET complete = 1 WHERE id = $1 AND complete = 0")
            .bind(id)
            .execute(&mut *conn)
            .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::not_found("incomplete dataset snapshot", id));
    }
    Ok(())
}

/// Deletes an incomplete snapshot (its judgment ids go with it); a complete one is kept.
pub async fn delete_incomplete(conn: &mut Conn, id: SnapshotId) -> Result<()> {
    sqlx::query("DELETE FROM dataset_snapshots WHERE id = $1 AND complete = 0")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Whether any snapshot is incomplete (being written, or abandoned).
pub async fn any_incomplete(conn: &mut Conn) -> Result<bool> {
    let one: Option<i64> =
        sqlx::query_scalar("SELECT 1 FROM dataset_snapshots WHERE complete = 0 LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    Ok(one.is_some())
}

/// Deletes the snapshots left incomplete over `seconds` ago (their writer died: writing one
/// takes seconds); how many.
pub async fn delete_abandoned(conn: &mut Conn, seconds: u32) -> Result<u64> {
    let before = crate::dialect::backend(conn).seconds_ago(seconds);
    Ok(sqlx::query(&format!(
        "DELETE FROM dataset_snapshots WHERE complete = 0 AND created_at < {before}"
    ))
    .execute(&mut *conn)
    .await?
    .rows_affected())
}

pub async fn get(conn: &mut Conn, id: SnapshotId) -> Result<Snapshot> {
    let (project_id, content_hash, description, created_at): (ProjectId, String, String, String) =
        sqlx::query_as("SELECT project_id, content_hash, description, created_at FROM dataset_snapshots WHERE id = $1 AND complete = 1")
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

pub async fn list(conn: &mut Conn, project_id: ProjectId) -> Result<Vec<Snapshot>> {
    let ids: Vec<SnapshotId> = sqlx::query_scalar(
        "SELECT id FROM dataset_snapshots WHERE project_id = $1 AND complete = 1 ORDER BY id",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?;
    let mut snapshots = Vec::with_capacity(ids.len());
    for id in ids {
        snapshots.push(get(conn, id).await?);
    }
    Ok(snapshots)
}
