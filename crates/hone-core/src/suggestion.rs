//! AI assistance for annotators: the project's latest reward model scores the answers on
//! screen and names the one it prefers. The UI shows it only when the annotator asks (off by
//! default, never pre-selected), and each judgment records whether it was visible
//! (`FeedbackInput::suggestion_visible`), so its pull on the verdicts can be measured.

use hone_store::responses;
use serde::{Deserialize, Serialize};

use crate::{CoreError, Hone, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Suggestion {
    /// The reward-model version that scored.
    pub reward_model: i64,
    pub reward_model_name: String,
    /// One score per response, in the order given.
    pub scores: Vec<f64>,
    /// The best-scored response (the first of equals).
    pub preferred: i64,
}

impl Hone {
    /// The latest reward model's scores of `response_ids` (answers to one prompt of the project).
    pub async fn suggestion(&self, project_id: i64, response_ids: &[i64]) -> Result<Suggestion> {
        if response_ids.is_empty() {
            return Err(CoreError::invalid("response_ids", "is empty"));
        }
        let mut conn = self.store().conn().await?;
        let mut prompt = None;
        for &id in response_ids {
            let r = responses::get(&mut conn, id).await?;
            if *prompt.get_or_insert(r.prompt_id) != r.prompt_id {
                return Err(CoreError::invalid("response_ids", "the responses answer different prompts"));
            }
        }
        drop(conn);
        let rm = self
            .latest_reward_model(project_id, None)
            .await?
            .ok_or_else(|| CoreError::invalid("project", "has no reward model yet: train one (method rm) to get suggestions"))?;
        let scores = self.score_responses(rm.id, response_ids).await?;
        let best = scores.iter().enumerate().fold(0, |best, (i, s)| if *s > scores[best] { i } else { best });
        Ok(Suggestion { reward_model: rm.id, reward_model_name: rm.name, scores, preferred: response_ids[best] })
    }
}
