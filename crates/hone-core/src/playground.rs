//! The playground: a free prompt answered by the base model or a version, one sample streamed
//! piece by piece, and an answer worth judging added to the project as a candidate of its
//! prompt (the prompt created when the project does not have it yet).

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hone_model::generate::{generate_until, FinishReason};
use hone_model::sampling::SamplingParams;
use hone_store::projects;
use hone_store::prompts::{self, NewPrompt};
use serde::{Deserialize, Serialize};

use crate::content::validate_prompt;
use crate::dataset::PromptContent;
use crate::generation::{generating_model, generation_settings, store_answer, MadeBy};
use crate::inference::ModelRef;
use crate::{CoreError, Hone, ProjectId, PromptId, ResponseId, Result};

/// The longest prompt the playground takes, in characters.
pub const MAX_PROMPT_CHARS: usize = 100_000;

/// A free prompt for one model.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaygroundRequest {
    pub model: ModelRef,
    /// Asked as one user turn through the model's chat template (raw without one), as
    /// candidates are generated.
    pub prompt: String,
    /// One sample, drawn with `seed` itself.
    pub sampling: SamplingParams,
}

/// The playground's answer.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlaygroundAnswer {
    /// The streamed pieces put together, white space trimmed at both ends (as candidates are).
    pub text: String,
    /// `eos` (the model ended its turn), `stop` (a stop string), `length` (`max_new_tokens`
    /// reached) or `cancelled` (the job was stopped; `text` is what came before).
    pub finish_reason: String,
    /// Tokens generated (the end-of-turn token not counted).
    pub new_tokens: usize,
    /// The time spent generating (the model's loading not counted).
    pub seconds: f64,
    /// The settings used: the request's, with `max_new_tokens` lowered to what the model's
    /// context leaves after the prompt when it asked for more.
    pub sampling: SamplingParams,
}

/// An answer to add to a project as a candidate of its prompt.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CandidateInput {
    pub project_id: ProjectId,
    /// The prompt's text: the project's text prompt with this very text, else a new one
    /// (train split).
    pub prompt: String,
    /// The answer (trimmed as generated candidates are).
    pub text: String,
    /// The model that wrote it.
    pub model: ModelRef,
    /// The settings it was drawn with, recorded with the response.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub sampling: Option<SamplingParams>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CandidateAdded {
    pub prompt_id: PromptId,
    /// The response: new, or the prompt's answer that already had this text.
    pub response_id: ResponseId,
    /// Whether the prompt was created by this call.
    pub new_prompt: bool,
}

impl PlaygroundRequest {
    /// The checks that need no model: a prompt that is not empty nor over
    /// [`MAX_PROMPT_CHARS`], and valid sampling settings.
    pub fn validate(&self) -> Result<()> {
        if self.prompt.trim().is_empty() {
            return Err(CoreError::invalid("prompt", "the prompt is empty"));
        }
        let chars = self.prompt.chars().count();
        if chars > MAX_PROMPT_CHARS {
            return Err(CoreError::invalid(
                "prompt",
                format!("{chars} characters; the playground takes at most {MAX_PROMPT_CHARS}"),
            ));
        }
        self.sampling
            .validate()
            .map_err(|e| CoreError::invalid("sampling", e.to_string()))
    }
}

fn finish_reason(reason: FinishReason) -> &'static str {
    match reason {
        FinishReason::Eos => "eos",
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
        FinishReason::Cancelled => "cancelled",
    }
}

impl Hone {
    /// Answers `request.prompt` with one sample; `on_text` gets each newly decoded piece.
    pub async fn playground(
        &self,
        request: &PlaygroundRequest,
        on_text: impl FnMut(&str) + Send + 'static,
    ) -> Result<PlaygroundAnswer> {
        self.playground_until(request, Arc::new(AtomicBool::new(false)), on_text)
            .await
    }

    /// [`Hone::playground`], stopped within one token once `cancel` is set: the answer is then
    /// the text so far, finished `cancelled`.
    ///
    /// The pieces `on_text` gets put together are the untrimmed text: the answer's `text` is
    /// them with white space trimmed at both ends.
    pub async fn playground_until(
        &self,
        request: &PlaygroundRequest,
        cancel: Arc<AtomicBool>,
        mut on_text: impl FnMut(&str) + Send + 'static,
    ) -> Result<PlaygroundAnswer> {
        request.validate()?;
        let resolved = self.resolve_model(&request.model).await?;
        let loaded = crate::blocking::run(move || resolved.load()).await??;
        let prompt = PromptContent {
            text: request.prompt.clone(),
            messages: None,
        };
        let mut sampling = request.sampling.clone();
        crate::blocking::run(move || -> Result<PlaygroundAnswer> {
            let lm = &loaded.lm;
            let ids = lm.encode_prompt(&crate::finetune::tokens::prompt_input(lm, &prompt))?;
            let positions = lm.model.config().max_position_embeddings;
            let room = positions.saturating_sub(ids.len());
            if room == 0 {
                return Err(CoreError::invalid(
                    "prompt",
                    format!(
                        "{} tokens leave no room for an answer (the model reads at most {positions})",
                        ids.len()
                    ),
                ));
            }
            sampling.max_new_tokens = sampling.max_new_tokens.min(room);
            let started = Instant::now();
            let mut streamed = String::new();
            let generation = generate_until(
                lm,
                loaded.adapter.as_ref(),
                &ids,
                1,
                &sampling,
                |event| {
                    if !event.text.is_empty() {
                        streamed.push_str(event.text);
                        on_text(event.text);
                    }
                    if cancel.load(Ordering::Relaxed) {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
            )?
            .remove(0);
            // A sample cut by the length limit inside a character is decoded whole at the
            // end: stream the rest too, so that the pieces add up to the text.
            if let Some(rest) = generation.text.strip_prefix(streamed.as_str()) {
                if !rest.is_empty() {
                    on_text(rest);
                }
            }
            Ok(PlaygroundAnswer {
                text: generation.text.trim().to_owned(),
                finish_reason: finish_reason(generation.finish_reason).to_owned(),
                new_tokens: generation.token_ids.len(),
                seconds: started.elapsed().as_secs_f64(),
                sampling,
            })
        })
        .await?
    }

    /// Adds `input.text` as a `model` answer (with its model and settings) to the project's
    /// text prompt `input.prompt`, creating the prompt (train split) when the project has no
    /// prompt with that content. An answer the prompt already has is reused. One transaction.
    pub async fn add_candidate(&self, input: &CandidateInput) -> Result<CandidateAdded> {
        let text = input.text.trim();
        if text.is_empty() {
            return Err(CoreError::invalid("text", "the answer is empty"));
        }
        let new_prompt = NewPrompt::text(input.prompt.clone());
        validate_prompt("prompt", &new_prompt)?;
        if let Some(sampling) = &input.sampling {
            sampling
                .validate()
                .map_err(|e| CoreError::invalid("sampling", e.to_string()))?;
        }
        let resolved = self.resolve_model(&input.model).await?;
        let mut tx = self.store().begin().await?;
        projects::get(&mut tx, input.project_id).await?;
        let (prompt, created) =
            prompts::insert_or_get(&mut tx, input.project_id, &new_prompt).await?;
        let (version_id, base_model_id) = generating_model(&mut tx, &resolved).await?;
        let made_by = MadeBy {
            version_id,
            base_model_id,
            generation: match &input.sampling {
                Some(sampling) => generation_settings(sampling, 0),
                None => serde_json::json!({}),
            },
        };
        let (response, _) = store_answer(&mut tx, prompt.id, text.to_owned(), &made_by).await?;
        tx.commit().await?;
        Ok(CandidateAdded {
            prompt_id: prompt.id,
            response_id: response.id,
            new_prompt: created,
        })
    }
}
