//! Gold items: judgments the lead marked as the known answer of their item. The queue mixes
//! their items into other annotators' work, and each annotator's verdicts on them are scored
//! against the gold answer.

use crate::Conn;

use crate::{JudgmentId, ProjectId, Result, StoreError};

/// Marks judgment `judgment_id` as gold; marking it again changes nothing.
pub async fn mark(conn: &mut Conn, judgment_id: JudgmentId) -> Result<()> {
    let done = sqlx::query(
        "INSERT INTO gold_items (judgment_id, project_id)
         SELECT id, project_id FROM judgments WHERE id = $1 ON CONFLICT (judgment_id) DO NOTHING",
    )
    .bind(judgment_id)
    .execute(&mut *conn)
    .await?;
    if done.rows_affected() == 0 {
        // Either already gold, or no such judgment.
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM judgments WHERE id = $1")
            .bind(judgment_id)
            .fetch_optional(&mut *conn)
            .await?;
        exists.ok_or_else(|| StoreError::not_found("judgment", judgment_id))?;
    }
    Ok(())
}

/// Unmarks judgment `judgment_id`; returns whether it was gold.
pub async fn unmark(conn: &mut Conn, judgment_id: JudgmentId) -> Result<bool> {
    let done = sqlx::query("DELETE FROM gold_items WHERE judgment_id = $1")
        .bind(judgment_id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() > 0)
}

/// The project's gold judgments, oldest first.
pub async fn list(conn: &mut Conn, project_id: ProjectId) -> Result<Vec<JudgmentId>> {
    Ok(sqlx::query_scalar(
        "SELECT judgment_id FROM gold_items WHERE project_id = $1 ORDER BY judgment_id",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}
