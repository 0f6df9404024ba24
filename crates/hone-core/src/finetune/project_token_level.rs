//! A project's token-level feedback settings (issue 19): which judgments train on their tokens
//! and with which weights, kept with the project so that its one-click fine-tune (the app's,
//! `hone train` without `--token-level`) uses what the lead chose. No settings stored: the
//! documented defaults ([`TokenLevel::default`]: off, weights 1/1/1 and 1/0, unlikelihood).

use hone_store::projects;

use super::TokenLevel;
use crate::{CoreError, Hone, ProjectId, Result};

impl Hone {
    /// The project's token-level settings, or the defaults.
    pub async fn project_token_level(&self, project_id: ProjectId) -> Result<TokenLevel> {
        let mut conn = self.store().conn().await?;
        projects::get(&mut conn, project_id).await?;
        match projects::token_level(&mut conn, project_id).await? {
            None => Ok(TokenLevel::default()),
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                CoreError::invalid(
                    "project_token_level.settings",
                    format!("project {project_id}'s stored settings do not read: {e}"),
                )
            }),
        }
    }

    /// Sets the project's token-level settings; refused (nothing stored) with a weight out of
    /// range, named.
    pub async fn set_project_token_level(
        &self,
        project_id: ProjectId,
        settings: &TokenLevel,
    ) -> Result<TokenLevel> {
        settings.validate("settings")?;
        let json = serde_json::to_string(settings).expect("settings serialise");
        let mut tx = self.store().begin().await?;
        projects::get(&mut tx, project_id).await?;
        projects::set_token_level(&mut tx, project_id, &json).await?;
        tx.commit().await?;
        Ok(*settings)
    }
}
