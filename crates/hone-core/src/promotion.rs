//! Promotion: the user makes a version the one the app generates with. Before that, its
//! evaluation is compared with its parent's, and a regression beyond the interval on any
//! measure is reported; promoting a regressing version takes an explicit `force`.

use hone_store::{models, projects};
use serde::{Deserialize, Serialize};

use crate::version_eval::VersionEvaluation;
use crate::{CoreError, Hone, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Promotion {
    pub version_id: i64,
    pub promoted: bool,
    /// Each measure on which the version is worse than its parent beyond its interval.
    pub regressions: Vec<String>,
    pub evaluation: VersionEvaluation,
}

/// The regressions `e` shows against the parent whose own preference accuracy is `parent_accuracy`.
pub fn regressions(e: &VersionEvaluation, parent_accuracy: Option<f64>) -> Vec<String> {
    let mut out = Vec::new();
    let pct = |x: f64| format!("{:.0}%", 100.0 * x);
    if let (Some(h), Some(parent)) = (e.preference_accuracy, parent_accuracy) {
        if let (Some(acc), Some((_, hi))) = (h.win_rate(), h.interval95()) {
            if hi < parent {
                out.push(format!("preference accuracy on held-out pairs {} (95% interval up to {}) is below {}'s {}", pct(acc), pct(hi), e.against, pct(parent)));
            }
        }
    }
    if let Some(change) = e.completion_loss_change {
        if change.mean - change.half_width95 > 0.0 {
            out.push(format!("completion loss on held-out examples is higher than {}'s by {:.3} ± {:.3} nats per token", e.against, change.mean, change.half_width95));
        }
    }
    if let Some(h) = e.versus_parent {
        if let (Some(w), Some((_, hi))) = (h.win_rate(), h.interval95()) {
            if hi < 0.5 {
                out.push(format!("the reward model prefers {}'s answers: win-rate {} (95% interval up to {})", e.against, pct(w), pct(hi)));
            }
        }
    }
    if let Some(a) = &e.arena_versus_parent {
        if let (Some(w), Some((_, hi))) = (a.win_rate, a.interval95) {
            if hi < 0.5 {
                out.push(format!("the arena prefers {}: win-rate {} (95% interval up to {})", e.against, pct(w), pct(hi)));
            }
        }
    }
    out
}

impl Hone {
    /// Evaluates version `version_id` and promotes it, unless it regresses against its parent
    /// and `force` is not given: then nothing changes and the regressions are returned.
    pub async fn promote_version(&self, version_id: i64, force: bool) -> Result<Promotion> {
        let version = models::get_version(&mut *self.store().conn().await?, version_id).await?;
        if version.trained_with("rm") {
            return Err(CoreError::invalid("version", format!("{} is a reward model; it scores answers but does not write them", version.name)));
        }
        let evaluation = self.evaluate_version(version_id).await?;
        let parent_accuracy = match version.parent_id {
            Some(id) => {
                let parent = models::get_version(&mut *self.store().conn().await?, id).await?;
                match parent.metrics.get("eval/preference_accuracy").and_then(|v| v.as_f64()) {
                    Some(a) => Some(a),
                    None => self.evaluate_version(id).await?.preference_accuracy.and_then(|h| h.win_rate()),
                }
            }
            None => None,
        };
        let regressions = regressions(&evaluation, parent_accuracy);
        let promoted = regressions.is_empty() || force;
        if promoted {
            projects::set_promoted(&mut *self.store().conn().await?, version.project_id, Some(version_id)).await?;
        }
        Ok(Promotion { version_id, promoted, regressions, evaluation })
    }
}
