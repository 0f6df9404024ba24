//! Promotion: the user makes a version the one the app generates with. Before that, its
//! evaluation is compared with its parent's, and a regression beyond the interval on any
//! measure is reported; promoting a regressing version takes an explicit `force`.

use hone_store::{models, projects};
use serde::{Deserialize, Serialize};

use crate::version_eval::VersionEvaluation;
use crate::{CoreError, Hone, Result, VersionId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Promotion {
    pub version_id: VersionId,
    pub promoted: bool,
    /// Each measure on which the version is worse than its parent beyond its interval.
    pub regressions: Vec<String>,
    pub evaluation: VersionEvaluation,
}

/// The regressions `e` shows against the parent. The preference accuracy is that of the
/// implicit reward log π_version − log π_parent, so it measures the change from the parent:
/// below ½ beyond its interval, the version moved toward the rejected answers.
pub fn regressions(e: &VersionEvaluation) -> Vec<String> {
    let mut out = Vec::new();
    let pct = |x: f64| format!("{:.0}%", 100.0 * x);
    if let Some(h) = e.preference_accuracy {
        if let (Some(acc), Some((_, hi))) = (h.win_rate(), h.interval95()) {
            if hi < 0.5 {
                out.push(format!(
                    "preference accuracy on held-out pairs against {} is {} (95% interval up to {}): it moved toward the rejected answers",
                    e.against,
                    pct(acc),
                    pct(hi)
                ));
            }
        }
    }
    if let Some((change, half_width)) = e
        .completion_loss_change
        .and_then(|c| Some((c, c.half_width95?)))
    {
        if change.mean - half_width > 0.0 {
            out.push(format!("completion loss on held-out examples is higher than {}'s by {:.3} ± {:.3} nats per token", e.against, change.mean, half_width));
        }
    }
    if let Some(h) = e.versus_parent {
        if let (Some(w), Some((_, hi))) = (h.win_rate(), h.interval95()) {
            if hi < 0.5 {
                out.push(format!(
                    "the reward model prefers {}'s answers: win-rate {} (95% interval up to {})",
                    e.against,
                    pct(w),
                    pct(hi)
                ));
            }
        }
    }
    if let Some(a) = &e.arena_versus_parent {
        if let (Some(w), Some((_, hi))) = (a.win_rate, a.interval95) {
            if hi < 0.5 {
                out.push(format!(
                    "the arena prefers {}: win-rate {} (95% interval up to {})",
                    e.against,
                    pct(w),
                    pct(hi)
                ));
            }
        }
    }
    out
}

impl Hone {
    /// Evaluates version `version_id` and promotes it, unless it regresses against its parent
    /// and `force` is not given: then nothing changes and the regressions are returned.
    pub async fn promote_version(&self, version_id: VersionId, force: bool) -> Result<Promotion> {
        let version = models::get_version(&mut *self.store().conn().await?, version_id).await?;
        if version.trained_with(crate::finetune::StageMethod::RewardModel.as_str()) {
            return Err(CoreError::invalid(
                "version",
                format!(
                    "{} is a reward model; it scores answers but does not write them",
                    version.name
                ),
            ));
        }
        let evaluation = self.evaluate_version(version_id).await?;
        let regressions = regressions(&evaluation);
        let promoted = regressions.is_empty() || force;
        if promoted {
            projects::set_promoted(
                &mut *self.store().conn().await?,
                version.project_id,
                Some(version_id),
            )
            .await?;
        }
        Ok(Promotion {
            version_id,
            promoted,
            regressions,
            evaluation,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head_to_head::HeadToHead;
    use crate::version_eval::Estimate;

    fn evaluation(accuracy: (usize, usize), loss_change: Option<Estimate>) -> VersionEvaluation {
        VersionEvaluation {
            version_id: VersionId(2),
            against: "v1".into(),
            held_out_prompts: 10,
            preference_accuracy: Some(HeadToHead {
                wins: accuracy.0,
                ties: 0,
                losses: accuracy.1,
            }),
            completion_loss: None,
            parent_completion_loss: None,
            completion_loss_change: loss_change,
            kl_to_base: None,
            versus_parent: None,
            judged_by: None,
            arena_versus_parent: None,
        }
    }

    #[test]
    fn a_version_regresses_when_it_moves_toward_the_rejected_answers_beyond_its_interval() {
        // 7 of 10 against the parent is an improvement, whatever the parent scored against its own parent.
        assert!(regressions(&evaluation((7, 3), None)).is_empty());
        // 0 of 10: Wilson upper bound 27.8% < 50%.
        let r = regressions(&evaluation((0, 10), None));
        assert_eq!(r.len(), 1, "{r:?}");
        assert!(
            r[0].starts_with("preference accuracy on held-out pairs against v1 is 0%"),
            "{r:?}"
        );
        // 3 of 10: upper bound 60.8%, not beyond chance.
        assert!(regressions(&evaluation((3, 7), None)).is_empty());
    }

    #[test]
    fn a_single_example_gives_no_interval_and_no_loss_regression() {
        let one = Estimate::of(&[0.4]).unwrap();
        assert_eq!((one.mean, one.half_width95, one.n), (0.4, None, 1));
        assert!(
            regressions(&evaluation((5, 5), Some(one))).is_empty(),
            "one held-out example cannot show a regression"
        );
        let many = Estimate::of(&[0.4, 0.5, 0.6, 0.5]).unwrap();
        assert_eq!(
            regressions(&evaluation((5, 5), Some(many))).len(),
            1,
            "a consistent loss increase is one"
        );
    }
}
