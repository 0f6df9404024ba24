//! "Retrain without": the same fine-tune as a version — same parent, same recipe — on a new
//! snapshot that leaves out an annotator, a tag or a time range, so the two versions can be
//! compared (in the arena, or with `evaluate_version`).

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use hone_store::models;
use serde::{Deserialize, Serialize};

use crate::finetune::{FineTuneEvent, FineTuneOutcome, Recipe};
use crate::{CoreError, Hone, Result, VersionId};

/// What to leave out, on top of what the version's own filter left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Exclusions {
    #[serde(default)]
    pub annotators: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Judgments made from this time (inclusive) …
    #[serde(default)]
    pub from: Option<String>,
    /// … until this one (exclusive).
    #[serde(default)]
    pub until: Option<String>,
}

impl Exclusions {
    fn is_empty(&self) -> bool {
        self.annotators.is_empty()
            && self.tags.is_empty()
            && self.from.is_none()
            && self.until.is_none()
    }
}

impl Hone {
    /// Trains version `version_id`'s recipe again, from its parent, without `exclusions`; the
    /// new version is named `name` (default `<version>-without`).
    pub async fn retrain_without(
        &self,
        version_id: VersionId,
        exclusions: &Exclusions,
        name: Option<String>,
        cancel: Arc<AtomicBool>,
        on_event: impl FnMut(&FineTuneEvent) + Send,
    ) -> Result<FineTuneOutcome> {
        if exclusions.is_empty() {
            return Err(CoreError::invalid(
                "exclusions",
                "name an annotator, a tag or a time range to leave out",
            ));
        }
        let version = models::get_version(&mut *self.store().conn().await?, version_id).await?;
        if version.trained_with("ppo") {
            // PPO learns from its reward model, not from the judgments: leaving some out of its
            // snapshot would change nothing.
            return Err(CoreError::invalid(
                "version",
                format!("{} was trained with PPO against a reward model: retrain that reward model without them, then run PPO against the new one", version.name),
            ));
        }
        let mut recipe: Recipe =
            serde_json::from_value(version.hyperparams.clone()).map_err(|e| {
                CoreError::invalid(
                    "version",
                    format!("{} has no recipe to train again ({e})", version.name),
                )
            })?;
        recipe.parent_version = version.parent_id;
        // `v2-without`, then `v2-without-2`, … (each retrain is its own version).
        let stem = format!("{}-without", version.name);
        recipe.version_name = Some(
            self.version_name_for(version.project_id, name.as_deref(), Some(&stem))
                .await?,
        );
        let f = &mut recipe.filter;
        f.exclude_annotators
            .extend(exclusions.annotators.iter().cloned());
        f.exclude_tags.extend(exclusions.tags.iter().cloned());
        if exclusions.from.is_some() || exclusions.until.is_some() {
            if f.exclude_from.is_some() || f.exclude_until.is_some() {
                return Err(CoreError::invalid(
                    "exclusions.from",
                    format!(
                        "{} already leaves out a time range; one range per retrain",
                        version.name
                    ),
                ));
            }
            f.exclude_from = exclusions.from.clone();
            f.exclude_until = exclusions.until.clone();
        }
        self.fine_tune(version.project_id, &recipe, cancel, on_event)
            .await
    }
}
