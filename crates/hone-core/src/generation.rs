//! Generating candidate answers for prompts with the base model or a version, stored as
//! responses (source `model`) with the settings that made them, ready to be judged.

use hone_model::generate::generate;
use hone_model::sampling::SamplingParams;
use hone_store::responses::{self, NewResponse, Response};
use hone_store::{prompts, ResponseSource};
use serde::{Deserialize, Serialize};

use crate::inference::{prompt_input, ModelRef, ResolvedModel};
use crate::{BaseModelId, CoreError, Hone, PromptId, Result, VersionId};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GenerationRequest {
    pub model: ModelRef,
    pub prompt_ids: Vec<PromptId>,
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
    pub prompt_id: PromptId,
    /// The distinct answers, in sample order (an answer the prompt already had is reused).
    pub responses: Vec<Response>,
    /// Samples that repeated an answer already listed.
    pub duplicates: usize,
    /// Samples that were empty (the model ended at once): not stored, nothing to judge.
    pub empty: usize,
}

pub fn prompt_seed(seed: u64, prompt_id: PromptId) -> u64 {
    seed.wrapping_add((prompt_id.0 as u64).wrapping_mul(7919))
}

/// The model an answer came from, and the settings that drew it, as a response records them.
pub(crate) struct MadeBy {
    pub version_id: Option<VersionId>,
    pub base_model_id: BaseModelId,
    /// `responses.generation`: see [`generation_settings`].
    pub generation: serde_json::Value,
}

/// What a response generated as sample `sample` with `params` records of its making.
pub(crate) fn generation_settings(params: &SamplingParams, sample: usize) -> serde_json::Value {
    serde_json::json!({
        "sampling": params,
        "sample": sample,
        "seed": params.seed.wrapping_add(sample as u64),
    })
}

/// The version (if any) and the base model id (the base registered on first use) that
/// answers come from when `resolved` generates them.
pub(crate) async fn generating_model(
    conn: &mut hone_store::Conn,
    resolved: &ResolvedModel,
) -> Result<(Option<VersionId>, BaseModelId)> {
    let base_model_id = match resolved.base_model_id {
        Some(id) => id,
        None => crate::finetune::base_model_for(conn, &resolved.base_dir).await?,
    };
    Ok((resolved.version.as_ref().map(|v| v.id), base_model_id))
}

/// Stores `text` (not empty, already trimmed) as a `model` answer to prompt `prompt_id`, or
/// returns the prompt's answer with that very text. `true` when the response is new.
pub(crate) async fn store_answer(
    conn: &mut hone_store::Conn,
    prompt_id: PromptId,
    text: String,
    made_by: &MadeBy,
) -> Result<(Response, bool)> {
    if let Some(existing) = responses::find_by_text(conn, prompt_id, &text).await? {
        return Ok((existing, false));
    }
    let new = NewResponse {
        model_version_id: made_by.version_id,
        base_model_id: Some(made_by.base_model_id),
        generation: made_by.generation.clone(),
        ..NewResponse::new(prompt_id, text, ResponseSource::Model)
    };
    Ok((responses::insert(conn, &new).await?, true))
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
        let (version_id, base_model_id) = {
            let mut conn = self.store().conn().await?;
            generating_model(&mut conn, &resolved).await?
        };
        let loaded = {
            let resolved = resolved.clone();
            crate::blocking::run(move || resolved.load()).await??
        };
        let loaded = std::sync::Arc::new(loaded);
        let total = prompt_list.len();
        let mut out = Vec::with_capacity(total);
        for (done, prompt) in prompt_list.into_iter().enumerate() {
            let mut params = request.sampling.clone();
            params.seed = prompt_seed(request.sampling.seed, prompt.id);
            let (n, model, p) = (request.n, loaded.clone(), prompt.clone());
            let settings = params.clone();
            let texts = crate::blocking::run(move || -> Result<Vec<String>> {
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
            .await??;

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
                let made_by = MadeBy {
                    version_id,
                    base_model_id,
                    generation: generation_settings(&params, i),
                };
                listed.push(store_answer(&mut tx, prompt.id, text, &made_by).await?.0);
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
                    project = %project_id,
                    "scoring the new candidates with the reward model failed: {e}"
                );
            }
        }
        Ok(out)
    }
}
