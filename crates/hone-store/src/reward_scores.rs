//! Reward-model scores of responses, kept once computed: a version's weights never change, so
//! its score of a response does not either.

use std::collections::HashMap;

use crate::Conn;

use crate::{ResponseId, Result, VersionId};

/// The stored scores by `version_id` of those of `response_ids` it has scored.
pub async fn get_many(
    conn: &mut Conn,
    version_id: VersionId,
    response_ids: &[ResponseId],
) -> Result<HashMap<ResponseId, f64>> {
    let mut out = HashMap::with_capacity(response_ids.len());
    // SQLite limits bound parameters; 500 ids per query stays well below.
    for chunk in response_ids.chunks(500) {
        let marks = crate::dialect::params(2, chunk.len());
        let sql = format!("SELECT response_id, score FROM reward_scores WHERE version_id = $1 AND response_id IN ({marks})");
        let mut query = sqlx::query_as::<_, (ResponseId, f64)>(&sql).bind(version_id);
        for id in chunk {
            query = query.bind(id);
        }
        out.extend(query.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// Stores `scores` (response id, score) of `version_id`, replacing any earlier value.
pub async fn put_many(
    conn: &mut Conn,
    version_id: VersionId,
    scores: &[(ResponseId, f64)],
) -> Result<()> {
    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
    for (response_id, score) in scores {
        sqlx::query("INSERT INTO reward_scores (version_id, response_id, score) VALUES ($1, $2, $3) ON CONFLICT (version_id, response_id) DO UPDATE SET score = excluded.score")
            .bind(version_id)
            .bind(response_id)
            .bind(score)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
