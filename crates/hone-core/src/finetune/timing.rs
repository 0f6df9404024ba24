//! How long a plan's stages will take, from what this machine measured: every stage records
//! its wall time and training tokens with the version (`<method>/train_seconds`,
//! `<method>/train_tokens`, the device in its hyper-parameters' `device`), and a new plan on
//! the same base model and device takes the latest such throughput per method instead of the
//! FLOP-count guess (which is far off for small models, where per-step overheads dominate).

use std::collections::HashMap;
use std::path::Path;

use hone_store::models;

use super::recipe::{Plan, StageMethod};
use super::step_time::CHECKPOINTING_TIME_FACTOR;
use crate::{Hone, Result};

/// Metric names a stage records about itself (beside its training metrics).
pub const SECONDS: &str = "train_seconds";
pub const TOKENS: &str = "train_tokens";
/// 1 when the stage ran with gradient checkpointing: its rate is scaled back to a plain
/// step's by [`super::step_time::CHECKPOINTING_TIME_FACTOR`], and scaled again for a plan that
/// checkpoints.
pub const CHECKPOINTING: &str = "gradient_checkpointing";
/// The key of a version's hyper-parameters that holds the device it trained on (a
/// [`super::PlanDevice`]; versions made before it trained on the CPU).
pub const DEVICE: &str = "device";

/// Training tokens per second, per device name (`cpu`, `cuda:0`) and method, measured on one
/// base model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Throughput(pub HashMap<(String, StageMethod), f64>);

impl Throughput {
    /// Replaces the guessed times of the stages this machine has measured on the plan's
    /// device, and says so.
    pub fn apply(&self, plan: &mut Plan) {
        let mut measured = Vec::new();
        let device = plan.device.name.clone();
        for stage in &mut plan.stages {
            if let Some(rate) = self
                .0
                .get(&(device.clone(), stage.method))
                .filter(|r| **r > 0.0)
            {
                let factor = if stage.gradient_checkpointing {
                    CHECKPOINTING_TIME_FACTOR
                } else {
                    1.0
                };
                stage.estimated_seconds = stage.tokens as f64 / rate * factor;
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
        let device_of = |v: &models::ModelVersion| {
            v.hyperparams
                .get(DEVICE)
                .and_then(|d| d.get("name"))
                .and_then(|n| n.as_str())
                .unwrap_or("cpu")
                .to_string()
        };
        let mut rates = HashMap::new();
        for method in StageMethod::ALL {
            let metric = |v: &models::ModelVersion, name: &str| {
                v.metrics
                    .get(format!("{}/{name}", method.as_str()))
                    .and_then(|x| x.as_f64())
            };
            // Versions are newest first: the first seen per device is its latest measure.
            for v in &versions {
                let (Some(seconds), Some(tokens)) = (metric(v, SECONDS), metric(v, TOKENS)) else {
                    continue;
                };
                let factor = if metric(v, CHECKPOINTING) == Some(1.0) {
                    CHECKPOINTING_TIME_FACTOR
                } else {
                    1.0
                };
                if seconds > 0.0 {
                    rates
                        .entry((device_of(v), *method))
                        .or_insert(tokens * factor / seconds);
                }
            }
        }
        Ok(Throughput(rates))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finetune::recipe::{PlanDevice, PlanStage};

    fn plan_on(device: &str) -> Plan {
        Plan {
            stages: vec![PlanStage {
                method: StageMethod::Sft,
                examples: 10,
                steps: 5,
                tokens: 1000,
                estimated_seconds: 99.0,
                gradient_checkpointing: false,
                step_memory_mib: 40.0,
            }],
            parameters: 1,
            trainable_parameters: 1,
            estimated_memory_mib: 1.0,
            unused_rows: 0,
            notes: Vec::new(),
            device: PlanDevice {
                name: device.into(),
                ..PlanDevice::default()
            },
        }
    }

    #[test]
    fn a_throughput_measured_on_one_device_times_plans_on_that_device_only() {
        let measured = Throughput(HashMap::from([(
            ("cpu".to_string(), StageMethod::Sft),
            50.0,
        )]));
        let mut cpu = plan_on("cpu");
        measured.apply(&mut cpu);
        assert_eq!(cpu.stages[0].estimated_seconds, 20.0, "1000 tokens at 50/s");
        assert_eq!(cpu.notes.len(), 1);
        let mut gpu = plan_on("cuda:0");
        measured.apply(&mut gpu);
        assert_eq!(
            gpu.stages[0].estimated_seconds, 99.0,
            "the CPU's rate says nothing of a GPU"
        );
        assert!(gpu.notes.is_empty());
    }

    #[test]
    fn a_checkpointed_stage_takes_the_measured_rate_times_the_recomputation() {
        let measured = Throughput(HashMap::from([(
            ("cpu".to_string(), StageMethod::Sft),
            50.0,
        )]));
        let mut plan = plan_on("cpu");
        plan.stages[0].gradient_checkpointing = true;
        measured.apply(&mut plan);
        assert_eq!(
            plan.stages[0].estimated_seconds,
            20.0 * CHECKPOINTING_TIME_FACTOR
        );
    }
}
