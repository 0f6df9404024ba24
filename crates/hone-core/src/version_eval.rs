//! Evaluating a version on the project's held-out prompts and judgments, against its parent
//! (or the base model when it has none):
//! - preference accuracy on held-out pairs: of its implicit reward, log π(y|x) − log π_ref(y|x)
//!   with the parent as reference (DPO's reward), or of its scores for a reward model;
//! - completion loss (mean per-token NLL) on held-out SFT examples, its and the parent's, with
//!   the paired difference's 95% interval;
//! - KL to the base on its own answers to the held-out prompts;
//! - win-rate against the parent judged by the project's latest reward model, with a 95% interval;
//! - the human arena's results against the parent, when there are any.
//!
//! The figures are stored in the version's metrics under `eval/`.

use hone_model::lora::Adapter;
use hone_model::sampling::SamplingParams;
use hone_model::score::{score, SequencePair};
use hone_store::models::{self, ModelVersion};
use hone_store::Split;
use hone_train::reward::rewards;
use serde::{Deserialize, Serialize};

use crate::arena::ArenaResults;
use crate::dataset::SnapshotFilter;
use crate::generation::GenerationRequest;
use crate::head_to_head::HeadToHead;
use crate::inference::ModelRef;
use crate::{CoreError, Hone, PromptId, ResponseId, Result, VersionId};

/// A mean with the half-width of its 95% interval (normal approximation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Estimate {
    pub mean: f64,
    /// `None` from a single value (it says nothing of the spread).
    pub half_width95: Option<f64>,
    pub n: usize,
}

impl Estimate {
    pub fn of(values: &[f64]) -> Option<Self> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        if n < 2 {
            return Some(Self {
                mean,
                half_width95: None,
                n,
            });
        }
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        Some(Self {
            mean,
            half_width95: Some(1.959_963_984_540_054 * (var / n as f64).sqrt()),
            n,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VersionEvaluation {
    pub version_id: VersionId,
    /// The parent's name, or `base`.
    pub against: String,
    pub held_out_prompts: usize,
    /// Held-out pairs ranked the expert's way, with its Wilson interval.
    pub preference_accuracy: Option<HeadToHead>,
    pub completion_loss: Option<Estimate>,
    pub parent_completion_loss: Option<Estimate>,
    /// Version minus parent, per example: above 0 means worse.
    pub completion_loss_change: Option<Estimate>,
    pub kl_to_base: Option<f64>,
    /// Wins of the version's answers over the parent's by the reward model `judged_by`.
    pub versus_parent: Option<HeadToHead>,
    pub judged_by: Option<VersionId>,
    pub arena_versus_parent: Option<ArenaResults>,
}

fn sums(
    lm: &hone_model::LoadedModel,
    adapter: Option<&Adapter>,
    pairs: &[SequencePair],
) -> Result<Vec<f64>> {
    let mut out = Vec::with_capacity(pairs.len());
    for chunk in pairs.chunks(crate::evaluation::BATCH) {
        out.extend(score(lm, adapter, chunk)?.into_iter().map(|t| t.sum as f64));
    }
    Ok(out)
}

/// What the blocking part computes from held-out rows.
struct Offline {
    accuracy: Option<HeadToHead>,
    loss: Option<Vec<f64>>,
    parent_loss: Option<Vec<f64>>,
}

impl Hone {
    /// Evaluates version `version_id` (see the module documentation) and stores the figures.
    pub async fn evaluate_version(&self, version_id: VersionId) -> Result<VersionEvaluation> {
        let version = models::get_version(&mut *self.store().conn().await?, version_id).await?;
        let project_id = version.project_id;
        let parent = match version.parent_id {
            Some(id) => Some(models::get_version(&mut *self.store().conn().await?, id).await?),
            None => None,
        };
        let data = self
            .training_data(
                project_id,
                &SnapshotFilter {
                    split: Some(Split::Heldout),
                    ..SnapshotFilter::default()
                },
            )
            .await?;
        let held_out = self.list_prompts(project_id, Some(Split::Heldout)).await?;
        let resolved = self
            .resolve_model(&ModelRef::Version { id: version_id })
            .await?;
        let parent_ref = match &parent {
            Some(p) => ModelRef::Version { id: p.id },
            None => ModelRef::Base {
                dir: resolved.base_dir.clone(),
            },
        };
        let parent_dir = parent
            .as_ref()
            .and_then(|p| p.adapter_dir.as_ref())
            .map(|d| self.dir().join(d));
        let is_reward_model =
            version.trained_with(crate::finetune::StageMethod::RewardModel.as_str());

        let offline = {
            let data = data.clone();
            crate::blocking::run(move || -> Result<Offline> {
                let loaded = resolved.load()?;
                let lm = &loaded.lm;
                let tokens = crate::finetune::tokens::tokenize(
                    lm,
                    &data,
                    &[],
                    &crate::finetune::TokenLevel::default(),
                )?;
                let parent_adapter = match &parent_dir {
                    Some(dir) => Some(Adapter::load_peft(
                        "parent",
                        dir,
                        &lm.model.linear_specs(),
                        lm.model.device(),
                    )?),
                    None => None,
                };
                let chosen: Vec<SequencePair> = tokens
                    .pairs
                    .iter()
                    .map(|p| SequencePair {
                        prompt: p.prompt.clone(),
                        completion: p.chosen.clone(),
                    })
                    .collect();
                let rejected: Vec<SequencePair> = tokens
                    .pairs
                    .iter()
                    .map(|p| SequencePair {
                        prompt: p.prompt.clone(),
                        completion: p.rejected.clone(),
                    })
                    .collect();
                let accuracy = if tokens.pairs.is_empty() {
                    None
                } else {
                    let margins: Vec<f64> = if is_reward_model {
                        let head = loaded.score_head.as_ref().ok_or_else(|| {
                            CoreError::invalid("version", "a reward model without its score head")
                        })?;
                        let lora =
                            hone_model::lora::LoraContext::inference(loaded.adapter.as_ref());
                        let mut m = Vec::new();
                        let batch = crate::evaluation::BATCH;
                        for (c, r) in chosen.chunks(batch).zip(rejected.chunks(batch)) {
                            let (c, r) = (
                                rewards(&lm.model, head, c, &lora)?
                                    .to_vec1::<f32>()
                                    .map_err(hone_model::ModelError::from)?,
                                rewards(&lm.model, head, r, &lora)?
                                    .to_vec1::<f32>()
                                    .map_err(hone_model::ModelError::from)?,
                            );
                            m.extend(c.iter().zip(&r).map(|(a, b)| (a - b) as f64));
                        }
                        m
                    } else {
                        let (pc, pr) = (
                            sums(lm, loaded.adapter.as_ref(), &chosen)?,
                            sums(lm, loaded.adapter.as_ref(), &rejected)?,
                        );
                        let (rc, rr) = (
                            sums(lm, parent_adapter.as_ref(), &chosen)?,
                            sums(lm, parent_adapter.as_ref(), &rejected)?,
                        );
                        (0..pc.len())
                            .map(|i| (pc[i] - rc[i]) - (pr[i] - rr[i]))
                            .collect()
                    };
                    let wins = margins.iter().filter(|m| **m > 0.0).count();
                    let ties = margins.iter().filter(|m| **m == 0.0).count();
                    Some(HeadToHead {
                        wins,
                        ties,
                        losses: margins.len() - wins - ties,
                    })
                };
                let per_token = |sums: Vec<f64>| -> Vec<f64> {
                    sums.iter()
                        .zip(&tokens.sft)
                        .map(|(s, p)| -s / p.completion.len() as f64)
                        .collect()
                };
                let (loss, parent_loss) = if tokens.sft.is_empty() || is_reward_model {
                    (None, None)
                } else {
                    (
                        Some(per_token(sums(lm, loaded.adapter.as_ref(), &tokens.sft)?)),
                        Some(per_token(sums(lm, parent_adapter.as_ref(), &tokens.sft)?)),
                    )
                };
                Ok(Offline {
                    accuracy,
                    loss,
                    parent_loss,
                })
            })
            .await??
        };

        let mut kl_to_base = None;
        let mut versus_parent = None;
        let mut judged_by = None;
        let mut arena_versus_parent = None;
        if !is_reward_model && !held_out.is_empty() {
            let sampling = SamplingParams {
                temperature: 0.7,
                top_p: Some(0.95),
                max_new_tokens: 128,
                seed: 7,
                ..SamplingParams::default()
            };
            let request = |model: ModelRef| GenerationRequest {
                model,
                prompt_ids: held_out.iter().map(|p| p.id).collect(),
                n: 1,
                sampling: sampling.clone(),
            };
            let own = self
                .generate_candidates(&request(ModelRef::Version { id: version_id }), |_, _| {})
                .await?;
            // prompt → its answer (a prompt answered with nothing has none).
            let first =
                |c: &[crate::generation::Candidates]| -> std::collections::BTreeMap<PromptId, ResponseId> {
                    c.iter()
                        .filter_map(|c| Some((c.prompt_id, c.responses.first()?.id)))
                        .collect()
                };
            let own_answers = first(&own);
            let own_ids: Vec<ResponseId> = own_answers.values().copied().collect();
            if !own_ids.is_empty() {
                kl_to_base = Some(self.kl_to_base(version_id, &own_ids).await?.mean_kl);
            }
            if let Some(rm) = self
                .latest_reward_model(project_id, Some(version_id))
                .await?
            {
                let theirs = first(
                    &self
                        .generate_candidates(&request(parent_ref.clone()), |_, _| {})
                        .await?,
                );
                // The two answers to the same prompt, side by side.
                let (own_ids, their_ids): (Vec<ResponseId>, Vec<ResponseId>) = own_answers
                    .iter()
                    .filter_map(|(p, a)| Some((*a, *theirs.get(p)?)))
                    .unzip();
                let (a, b) = (
                    self.score_responses(rm.id, &own_ids).await?,
                    self.score_responses(rm.id, &their_ids).await?,
                );
                let mut h = HeadToHead::default();
                for (x, y) in a.iter().zip(&b) {
                    h.add(x.partial_cmp(y).unwrap_or(std::cmp::Ordering::Equal));
                }
                versus_parent = Some(h);
                judged_by = Some(rm.id);
            }
            let arena = self
                .arena_results(
                    project_id,
                    &ModelRef::Version { id: version_id },
                    &parent_ref,
                )
                .await?;
            if arena.results.wins + arena.results.ties + arena.results.losses > 0 {
                arena_versus_parent = Some(arena);
            }
        }

        let change = match (&offline.loss, &offline.parent_loss) {
            (Some(a), Some(b)) => {
                Estimate::of(&a.iter().zip(b).map(|(x, y)| x - y).collect::<Vec<_>>())
            }
            _ => None,
        };
        let evaluation = VersionEvaluation {
            version_id,
            against: parent
                .as_ref()
                .map_or("base".to_string(), |p| p.name.clone()),
            held_out_prompts: held_out.len(),
            preference_accuracy: offline.accuracy,
            completion_loss: offline.loss.as_deref().and_then(Estimate::of),
            parent_completion_loss: offline.parent_loss.as_deref().and_then(Estimate::of),
            completion_loss_change: change,
            kl_to_base,
            versus_parent,
            judged_by,
            arena_versus_parent,
        };
        self.store_evaluation(&version, &evaluation).await?;
        Ok(evaluation)
    }

    async fn store_evaluation(&self, version: &ModelVersion, e: &VersionEvaluation) -> Result<()> {
        let mut metrics = version.metrics.as_object().cloned().unwrap_or_default();
        metrics.retain(|k, _| !k.starts_with("eval/"));
        metrics.insert("eval/report".into(), serde_json::to_value(e).expect("JSON"));
        if let Some(a) = e.preference_accuracy.and_then(|h| h.win_rate()) {
            metrics.insert("eval/preference_accuracy".into(), a.into());
        }
        if let Some(l) = e.completion_loss {
            metrics.insert("eval/completion_loss".into(), l.mean.into());
        }
        if let Some(k) = e.kl_to_base {
            metrics.insert("eval/kl_to_base".into(), k.into());
        }
        if let Some(w) = e.versus_parent.and_then(|h| h.win_rate()) {
            metrics.insert("eval/win_rate_vs_parent".into(), w.into());
        }
        models::set_version_metrics(
            &mut *self.store().conn().await?,
            version.id,
            &serde_json::Value::Object(metrics),
        )
        .await?;
        Ok(())
    }
}
