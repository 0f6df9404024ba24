//! Prompts and candidate responses, as the front doors add and read them.

use hone_store::prompts::{self, NewPrompt, Prompt};
use hone_store::responses::{self, NewResponse, Response};
use hone_store::{projects, Split};
use serde::{Deserialize, Serialize};

use crate::{CoreError, Hone, ProjectId, PromptId, Result};

/// A prompt with its candidate responses.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromptWithResponses {
    pub prompt: Prompt,
    pub responses: Vec<Response>,
}

pub(crate) fn validate_prompt(field: &str, new: &NewPrompt) -> Result<()> {
    if new.text.trim().is_empty() {
        return Err(CoreError::invalid(field, "the prompt text is empty"));
    }
    if new
        .text
        .chars()
        .all(|c| c.is_whitespace() || c.is_control())
    {
        return Err(CoreError::invalid(
            field,
            "the prompt text has no visible characters (only control characters)",
        ));
    }
    if let Some(messages) = &new.messages {
        if messages.is_empty() {
            return Err(CoreError::invalid(
                field,
                "the conversation has no messages",
            ));
        }
        for (i, m) in messages.iter().enumerate() {
            if !matches!(m.role.as_str(), "system" | "user" | "assistant" | "tool") {
                return Err(CoreError::invalid(
                    format!("{field}[{i}].role"),
                    format!("{:?} is not one of system, user, assistant, tool", m.role),
                ));
            }
        }
        if !messages.iter().any(|m| m.role == "user") {
            return Err(CoreError::invalid(
                field,
                "the conversation has no user message: there is nothing for the model to answer",
            ));
        }
    }
    for (i, tag) in new.tags.iter().enumerate() {
        if tag.trim().is_empty() {
            return Err(CoreError::invalid(
                format!("tags[{i}]"),
                "a tag must not be empty",
            ));
        }
    }
    Ok(())
}

impl Hone {
    /// Adds a prompt to the project, or returns the existing one with the same content.
    pub async fn add_prompt(&self, project_id: ProjectId, new: &NewPrompt) -> Result<Prompt> {
        validate_prompt("prompt", new)?;
        let mut tx = self.store().begin().await?;
        projects::get(&mut tx, project_id).await?;
        let (prompt, _) = prompts::insert_or_get(&mut tx, project_id, new).await?;
        tx.commit().await?;
        Ok(prompt)
    }

    pub async fn list_prompts(
        &self,
        project_id: ProjectId,
        split: Option<Split>,
    ) -> Result<Vec<Prompt>> {
        Ok(prompts::list(&mut *self.store().conn().await?, project_id, split).await?)
    }

    pub async fn set_prompt_split(&self, prompt_id: PromptId, split: Split) -> Result<()> {
        Ok(prompts::set_split(&mut *self.store().conn().await?, prompt_id, split).await?)
    }

    pub async fn add_response(&self, new: &NewResponse) -> Result<Response> {
        if new.text.trim().is_empty() {
            return Err(CoreError::invalid("response.text", "the response is empty"));
        }
        let mut conn = self.store().conn().await?;
        prompts::get(&mut conn, new.prompt_id).await?;
        Ok(responses::insert(&mut conn, new).await?)
    }

    pub async fn prompt_with_responses(&self, prompt_id: PromptId) -> Result<PromptWithResponses> {
        let mut conn = self.store().conn().await?;
        Ok(PromptWithResponses {
            prompt: prompts::get(&mut conn, prompt_id).await?,
            responses: responses::list_for_prompt(&mut conn, prompt_id).await?,
        })
    }
}
