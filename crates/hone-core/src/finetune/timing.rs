//! How long a plan's stages will take, from what this machine measured: every stage records
//! its wall time and training tokens with the version (`<method>/train_seconds`,
//! `<method>/train_tokens`), and a new plan on the same base model takes the latest such
//! throughput per method instead of the FLOP-count guess (which is far off for small models,
//! where per-step overheads dominate).

use std::collections::HashMap;
use std::path::Path;

use hone_store::models;

use super::recipe::{Method, Plan};
use crate::{Hone, Result};

/// Metric names a stage records about itself (beside its training metrics).
pub const SECONDS: &str = "train_seconds";
pub const TOKENS: &str = "train_tokens";

/// Training tokens per second, per method, measured on one base model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Throughput(pub HashMap<Method, f64>);

impl Throughput {
    /// Replaces the guessed times of the stages this machine has measured, and says so.
    pub fn apply(&self, plan: &mut Plan) {
        let mut measured = Vec::new();
        for stage in &mut plan.stages {
            if let Some(rate) = self.0.get(&stage.method).filter(|r| **r > 0.0) {
                stage.estimated_seconds = stage.tokens as f64 / rate;
                measured.push(stage.method.as_str());
            }
        }
        if !measured.is_empty() {
            plan.notes.push(format!(
                "times of {} are from this machine's last run of that method on this model",
                measured.join(", ")
            ));
        }
    }
}

impl Hone {
    /// The latest measured throughput of each method on the base model in `model_dir`, over
    /// every project's versions.
    pub async fn measured_throughput(&self, model_dir: &Path) -> Result<Throughput> {
        let location = std::fs::canonicalize(model_dir)
            .unwrap_or_else(|_| model_dir.to_owned())
            .display()
            .to_string();
        let mut conn = self.store().conn().await?;
        let Some(base) = models::list_bases(&mut conn)
            .await?
            .into_iter()
            .find(|b| b.location == location)
        else {
            return Ok(Throughput::default());
        };
        let mut versions = Vec::new();
        for project in hone_store::projects::list(&mut conn).await? {
            versions.extend(
                models::list_versions(&mut conn, project.id)
                    .await?
                    .into_iter()
                    .filter(|v| v.base_model_id == base.id),
            );
        }
        versions.sort_by_key(|v| std::cmp::Reverse(v.id));
        let mut rates = HashMap::new();
        for method in Method::STAGES {
            let metric = |v: &models::ModelVersion, name: &str| {
                v.metrics
                    .get(format!("{}/{name}", method.as_str()))
                    .and_then(|x| x.as_f64())
            };
            if let Some((seconds, tokens)) = versions
                .iter()
                .find_map(|v| Some((metric(v, SECONDS)?, metric(v, TOKENS)?)))
                .filter(|(s, _)| *s > 0.0)
            {
                rates.insert(*method, tokens / seconds);
            }
        }
        Ok(Throughput(rates))
    }
}
