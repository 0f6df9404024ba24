//! Generating candidate answers for prompts with the base model or a version, stored as
//! responses (source `model`) with the settings that made them, ready to be judged.

use hone_model::generate::generate;
use hone_model::sampling::SamplingParams;
use hone_store::responses::{self, NewResponse, Response};
use hone_store::{prompts, ResponseSource};
use serde::{Deserialize, Serialize};

use crate::inference::{prompt_input, ModelRef};
use crate::{CoreError, Hone, Result};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRequest {
    pub model: ModelRef,
    pub prompt_ids: Vec<i64>,
    /// Candidates per prompt.
    pub n: usize,
    /// `seed` is the run's seed: prompt `p` samples with `seed + p·7919` (sample `i` adds `i`),
    /// so each prompt's candidates are drawn independently of the others and repeatably.
    pub sampling: SamplingParams,
}

/// One prompt's candidates.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidates {
    pub prompt_id: i64,
    /// The distinct answers, in sample order (an answer the prompt already had is reused).
    pub responses: Vec<Response>,
    /// Samples that repeated an answer already listed.
    pub duplicates: usize,
    /// Samples that were empty (the model ended at once): not stored, nothing to judge.
    pub empty: usize,
}

pub fn prompt_seed(seed: u64, prompt_id: i64) -> u64 {
    seed.wrapping_add((prompt_id as u64).wrapping_mul(7919))
}

impl Hone {
    /// Generates `n` candidates for each prompt and stores them; each prompt's responses are
    /// committed before the next prompt starts. `on_progress(done, total)` after each prompt.
    pub async fn generate_candidates(
        &self,
        request: &GenerationRequest,
        mut on_progress: impl FnMut(usize, usize) + Send,
    ) -> Result<Vec<Candidates>> {
        if request.n == 0 {
            return Err(CoreError::invalid("n", "must be at least 1"));
        }
        request
            .sampling
            .validate()
            .map_err(|e| CoreError::invalid("sampling", e.to_string()))?;
        let mut prompt_list: Vec<hone_store::prompts::Prompt> =
            Vec::with_capacity(request.prompt_ids.len());
        {
            let mut conn = self.store().conn().await?;
            for &id in &request.prompt_ids {
                prompt_list.push(prompts::get(&mut conn, id).await?);
            }
        }
        let project_id = prompt_list.first().map(|p| p.project_id);
        let resolved = self.resolve_model(&request.model).await?;
        let base_model_id = match resolved.base_model_id {
            Some(id) => id,
            None => {
                let mut conn = self.store().conn().await?;
                crate::finetune::base_model_for(&mut conn, &resolved.base_dir).await?
            }
        };
        let version_id = resolved.version.as_ref().map(|v| v.id);
        let loaded = {
            let resolved = resolved.clone();
            tokio::task::spawn_blocking(move || resolved.load())
                .await
                .expect("the loading thread does not panic")?
        };
        let loaded = std::sync::Arc::new(loaded);
        let total = prompt_list.len();
        let mut out = Vec::with_capacity(total);
        for (done, prompt) in prompt_list.into_iter().enumerate() {
            let mut params = request.sampling.clone();
            params.seed = prompt_seed(request.sampling.seed, prompt.id);
            let (n, model, p) = (request.n, loaded.clone(), prompt.clone());
            let settings = params.clone();
            let texts = tokio::task::spawn_blocking(move || -> Result<Vec<String>> {
                let ids = model.lm.encode_prompt(&prompt_input(&model.lm, &p))?;
                Ok(generate(
                    &model.lm,
                    model.adapter.as_ref(),
                    &ids,
                    n,
                    &settings,
                    |_| {},
                )?
                .into_iter()
                .map(|g| g.text.trim().to_owned())
                .collect())
            })
            .await
            .expect("the generation thread does not panic")?;

            let mut tx = self.store().begin().await?;
            let mut listed: Vec<Response> = Vec::new();
            let (mut duplicates, mut empty) = (0, 0);
            for (i, text) in texts.into_iter().enumerate() {
                if text.is_empty() {
                    empty += 1;
                    continue;
                }
                if listed.iter().any(|r| r.text == text) {
                    duplicates += 1;
                    continue;
                }
                let response = match responses::find_by_text(&mut tx, prompt.id, &text).await? {
                    Some(existing) => existing,
                    None => {
                        let generation = serde_json::json!({ "sampling": params, "sample": i, "seed": params.seed.wrapping_add(i as u64) });
                        let new = NewResponse {
                            model_version_id: version_id,
                            base_model_id: Some(base_model_id),
                            generation,
                            ..NewResponse::new(prompt.id, text, ResponseSource::Model)
                        };
                        responses::insert(&mut tx, &new).await?
                    }
                };
                listed.push(response);
            }
            tx.commit().await?;
            out.push(Candidates {
                prompt_id: prompt.id,
                responses: listed,
                duplicates,
                empty,
            });
            on_progress(done + 1, total);
        }
        // The latest reward model scores the new answers now, not when the queue needs them.
        if let Some(project_id) = project_id {
            if let Err(e) = self.prescore(project_id).await {
                tracing::warn!(
                    project = project_id,
                    "scoring the new candidates with the reward model failed: {e}"
                );
            }
        }
        Ok(out)
    }
}
