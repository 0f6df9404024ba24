//! Measuring versions on stored responses: a reward model's scores, and a version's KL
//! divergence from its base model on what it generates.

use hone_model::lora::LoraContext;
use hone_model::score::{score, SequencePair};
use hone_store::{prompts, responses, reward_scores};
use hone_train::reward::rewards;
use serde::{Deserialize, Serialize};

use crate::inference::{encode_answer, ModelRef};
use crate::{CoreError, Hone, ProjectId, ResponseId, Result, VersionId};

/// Responses scored per forward pass.
pub(crate) const BATCH: usize = 8;

/// A version's divergence from its base on a set of its own answers.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KlReport {
    /// Mean over responses of Σ_t [log π(y_t) − log π_base(y_t)]: the sampled estimate of
    /// KL(π ‖ π_base) per response that TRL logs as `objective/kl`, when the responses were
    /// sampled from π.
    pub mean_kl: f64,
    pub per_response: Vec<f64>,
}

impl Hone {
    /// The project's most recent reward-model version, other than `except`.
    pub async fn latest_reward_model(
        &self,
        project_id: ProjectId,
        except: Option<VersionId>,
    ) -> Result<Option<hone_store::models::ModelVersion>> {
        Ok(
            hone_store::models::list_versions(&mut *self.store().conn().await?, project_id)
                .await?
                .into_iter()
                .filter(|v| {
                    Some(v.id) != except
                        && v.trained_with(crate::finetune::StageMethod::RewardModel.as_str())
                })
                .max_by_key(|v| v.id),
        )
    }

    /// (prompt, response) token pairs for `response_ids`, for the model `lm`.
    async fn answer_pairs(
        &self,
        lm: &hone_model::LoadedModel,
        response_ids: &[ResponseId],
    ) -> Result<Vec<SequencePair>> {
        let mut conn = self.store().conn().await?;
        let mut pairs = Vec::with_capacity(response_ids.len());
        for &id in response_ids {
            let r = responses::get(&mut conn, id).await?;
            let p = prompts::get(&mut conn, r.prompt_id).await?;
            if r.text.is_empty() {
                return Err(CoreError::invalid(
                    format!("response {id}"),
                    "is empty; nothing to score",
                ));
            }
            pairs.push(encode_answer(lm, &p, &r.text)?);
        }
        Ok(pairs)
    }

    /// The scalar score of each response by reward-model version `reward_model`. Scores are
    /// kept in the store once computed (a version never changes), so asking again is cheap.
    pub async fn score_responses(
        &self,
        reward_model: VersionId,
        response_ids: &[ResponseId],
    ) -> Result<Vec<f64>> {
        let mut known =
            reward_scores::get_many(&mut *self.store().conn().await?, reward_model, response_ids)
                .await?;
        let missing: Vec<ResponseId> = response_ids
            .iter()
            .copied()
            .filter(|id| !known.contains_key(id))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !missing.is_empty() {
            let fresh: Vec<(ResponseId, f64)> = missing
                .iter()
                .copied()
                .zip(self.compute_scores(reward_model, &missing).await?)
                .collect();
            reward_scores::put_many(&mut *self.store().conn().await?, reward_model, &fresh).await?;
            known.extend(fresh);
        }
        Ok(response_ids.iter().map(|id| known[id]).collect())
    }

    /// Scores every response of the project that the latest reward model has not scored yet,
    /// so that the active queue and the reports find them ready; returns how many it scored.
    /// Run after a reward model is trained and after candidates are generated.
    pub async fn prescore(&self, project_id: ProjectId) -> Result<usize> {
        let Some(rm) = self.latest_reward_model(project_id, None).await? else {
            return Ok(0);
        };
        let mut conn = self.store().conn().await?;
        let ids: Vec<ResponseId> = responses::list_for_project(&mut conn, project_id)
            .await?
            .into_iter()
            .filter(|r| !r.text.is_empty())
            .map(|r| r.id)
            .collect();
        let known = reward_scores::get_many(&mut conn, rm.id, &ids).await?;
        drop(conn);
        let missing: Vec<ResponseId> = ids
            .into_iter()
            .filter(|id| !known.contains_key(id))
            .collect();
        if !missing.is_empty() {
            self.score_responses(rm.id, &missing).await?;
        }
        Ok(missing.len())
    }

    async fn compute_scores(
        &self,
        reward_model: VersionId,
        response_ids: &[ResponseId],
    ) -> Result<Vec<f64>> {
        let resolved = self
            .resolve_model(&ModelRef::Version { id: reward_model })
            .await?;
        let loaded = crate::blocking::run(move || resolved.load()).await??;
        if loaded.score_head.is_none() {
            return Err(CoreError::invalid(
                "reward_model",
                format!("version {reward_model} is not a reward model (it has no score head)"),
            ));
        }
        let pairs = self.answer_pairs(&loaded.lm, response_ids).await?;
        crate::blocking::run(move || -> Result<Vec<f64>> {
            let head = loaded.score_head.as_ref().expect("checked above");
            let lora = LoraContext::inference(loaded.adapter.as_ref());
            let mut out = Vec::with_capacity(pairs.len());
            for chunk in pairs.chunks(BATCH) {
                let r = rewards(&loaded.lm.model, head, chunk, &lora)?;
                out.extend(
                    r.to_vec1::<f32>()
                        .map_err(hone_model::ModelError::from)?
                        .into_iter()
                        .map(f64::from),
                );
            }
            Ok(out)
        })
        .await?
    }

    /// KL of version `version_id` to its base, estimated on `response_ids` (answers it sampled).
    pub async fn kl_to_base(
        &self,
        version_id: VersionId,
        response_ids: &[ResponseId],
    ) -> Result<KlReport> {
        if response_ids.is_empty() {
            return Err(CoreError::invalid("response_ids", "is empty"));
        }
        let resolved = self
            .resolve_model(&ModelRef::Version { id: version_id })
            .await?;
        let loaded = crate::blocking::run(move || resolved.load()).await??;
        let pairs = self.answer_pairs(&loaded.lm, response_ids).await?;
        crate::blocking::run(move || -> Result<KlReport> {
            let mut per_response = Vec::with_capacity(pairs.len());
            for chunk in pairs.chunks(BATCH) {
                let policy = score(&loaded.lm, loaded.adapter.as_ref(), chunk)?;
                let base = score(&loaded.lm, None, chunk)?;
                per_response.extend(
                    policy
                        .iter()
                        .zip(&base)
                        .map(|(p, b)| (p.sum - b.sum) as f64),
                );
            }
            let mean_kl = per_response.iter().sum::<f64>() / per_response.len() as f64;
            Ok(KlReport {
                mean_kl,
                per_response,
            })
        })
        .await?
    }
}
