//! Idempotent submissions: a judgment sent again under the id its client gave it is found, not
//! recorded twice (see migration 0012).

use crate::{AnnotatorId, Conn, JudgmentId, Result};

/// A submission recorded before: who sent it and what recording it answered (JSON).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Submission {
    pub judgment_id: JudgmentId,
    pub annotator_id: AnnotatorId,
    pub recorded: String,
}

pub async fn find(conn: &mut Conn, submission_id: &str) -> Result<Option<Submission>> {
    Ok(sqlx::query_as(
        "SELECT judgment_id, annotator_id, recorded FROM submissions WHERE submission_id = $1",
    )
    .bind(submission_id)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Records that `submission_id` made `judgment_id`; in the judgment's own transaction.
pub async fn insert(
    conn: &mut Conn,
    submission_id: &str,
    judgment_id: JudgmentId,
    annotator_id: AnnotatorId,
    recorded: &str,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO submissions (submission_id, judgment_id, annotator_id, recorded) VALUES ($1, $2, $3, $4)",
    )
    .bind(submission_id)
    .bind(judgment_id)
    .bind(annotator_id)
    .bind(recorded)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
