//! Training elsewhere (issue 18): a self-contained folder that trains a recipe's stages with
//! TRL, PEFT and accelerate on a cluster, and the manifest that lets
//! [`Hone::import_trained_version`](crate::Hone::import_trained_version) take the adapter it
//! made back into the project's lineage.
//!
//! The folder holds the frozen snapshot as TRL datasets (`data/<format>/train.jsonl`, one per
//! stage), one TRL config per stage (`stage-<n>-<method>.yaml`: `ScriptArguments`, the
//! method's `*Config` and `ModelConfig` keys only, so `trl dpo --config …` reads it too), a
//! stage runner (`train.py`: TRL's trainer for the stage, started from the parent's or the
//! previous stage's adapter where there is one), accelerate configs for one CPU process, one
//! or many GPUs, DeepSpeed ZeRO-2/3, FSDP and several machines, `launch.sh` and a README.
//! Nothing in it refers back to the workspace but the base model's path, which the README
//! says to change on the cluster.

use std::path::{Path, PathBuf};

use hone_store::models;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use hone_train::losses::DpoLossType;
use hone_train::schedule::Schedule;

use super::recipe::{Recipe, StageMethod};
use crate::dataset::{PromptContent, TrainingData};
use crate::{CoreError, Hone, ProjectId, Result, SnapshotId, VersionId};

/// The manifest's file name in a job folder.
pub const MANIFEST: &str = "hone-job.json";
/// `format` in the manifest.
pub const JOB_FORMAT: &str = "hone-trl-job";
/// Bumped when the folder's layout changes in a way an import must know.
pub const JOB_FORMAT_VERSION: u32 = 1;
/// The TRL release the configs and `train.py` were written and tested against.
pub const TRL_VERSION: &str = "1.16";

/// The stage runner and the accelerate configs, as files (so they can be read and tested as
/// what they are).
const TRAIN_PY: &str = include_str!("trl_job/train.py");
const ACCELERATE_CONFIGS: [(&str, &str); 7] = [
    ("cpu", include_str!("trl_job/accelerate/cpu.yaml")),
    (
        "single-gpu",
        include_str!("trl_job/accelerate/single-gpu.yaml"),
    ),
    (
        "multi-gpu",
        include_str!("trl_job/accelerate/multi-gpu.yaml"),
    ),
    (
        "deepspeed-zero2",
        include_str!("trl_job/accelerate/deepspeed-zero2.yaml"),
    ),
    (
        "deepspeed-zero3",
        include_str!("trl_job/accelerate/deepspeed-zero3.yaml"),
    ),
    ("fsdp", include_str!("trl_job/accelerate/fsdp.yaml")),
    (
        "multi-node",
        include_str!("trl_job/accelerate/multi-node.yaml"),
    ),
];

/// What a job trains from.
#[derive(Debug, Clone, PartialEq)]
pub enum TrlJobSource {
    /// The project's feedback now: a new snapshot is frozen with the recipe's filter, and the
    /// stages are those the recipe would run on it.
    Project {
        project_id: ProjectId,
        recipe: Box<Recipe>,
    },
    /// An existing version's training again: its snapshot, recipe, stages and parent.
    Version(VersionId),
}

/// `hone-job.json`: what the job was made from, so that its adapter can come back as a
/// version with the right lineage.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobManifest {
    pub format: String,
    pub format_version: u32,
    /// `hone <version>`.
    pub made_by: String,
    pub trl_version: String,
    pub project: JobEntity,
    pub snapshot: JobSnapshot,
    pub base: JobBase,
    /// The version whose adapter the first stage continues (also the DPO/KTO reference), as
    /// in Hone; `None` trains a new adapter on the base.
    pub parent: Option<JobEntity>,
    /// The version this job trains again, for a job exported from a version.
    pub retrains: Option<JobEntity>,
    /// The recipe as Hone would run it (token-level settings are Hone's own: see `notes`).
    pub recipe: Recipe,
    pub stages: Vec<JobStage>,
    /// The folder (relative to the job's) where the last stage leaves its adapter.
    pub final_adapter: String,
    pub notes: Vec<String>,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobEntity {
    pub id: i64,
    pub name: String,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSnapshot {
    pub id: SnapshotId,
    pub content_hash: String,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobBase {
    /// The base model's folder in the workspace that exported the job.
    pub location: String,
    /// What the configs load (`model_name_or_path`); the location unless the README's advice
    /// to point it at the cluster's copy was followed.
    pub model_name_or_path: String,
}

/// One stage of a job.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStage {
    pub method: StageMethod,
    /// The TRL config, relative to the job folder.
    pub config: String,
    /// The dataset file, relative to the job folder.
    pub data: String,
    pub rows: usize,
    /// sha256 of the dataset file as written.
    pub sha256: String,
    /// Where the stage writes its adapter.
    pub output: String,
    /// The adapter it starts from (the parent's copy, or the previous stage's output).
    pub init_adapter: Option<String>,
}

/// What [`Hone::export_trl_job`] wrote.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrlJobReport {
    pub folder: PathBuf,
    pub manifest: JobManifest,
    pub files: Vec<PathBuf>,
}

/// The folder (inside the job) holding a copy of the parent's adapter.
const PARENT_ADAPTER: &str = "parent-adapter";

impl Hone {
    /// Writes a TRL job for `source` into `out` (created; it must be empty or absent).
    pub async fn export_trl_job(&self, source: TrlJobSource, out: &Path) -> Result<TrlJobReport> {
        if out.exists()
            && std::fs::read_dir(out)
                .map_err(CoreError::io(out))?
                .next()
                .is_some()
        {
            return Err(CoreError::invalid(
                "out",
                format!(
                    "{} is not empty; a job goes into a new folder",
                    out.display()
                ),
            ));
        }
        let (project_id, recipe, snapshot_id, methods, retrains) = match source {
            TrlJobSource::Project { project_id, recipe } => {
                super::run::validate(&recipe)?;
                let recipe = self.recipe_on_folder(&recipe).await?;
                self.check_lineage(project_id, &recipe).await?;
                let preview = self.training_data(project_id, &recipe.filter).await?;
                // TRL trains edits and marked answers as whole answers (its datasets' rows).
                let whole_answers = Recipe {
                    token_level: super::TokenLevel::default(),
                    ..recipe.clone()
                };
                let methods = whole_answers.stages(&preview);
                check_methods(&methods, &recipe)?;
                check_rows(&methods, &recipe, &preview)?;
                let (snapshot, _) = self.freeze_snapshot(project_id, &recipe.filter).await?;
                (project_id, recipe, snapshot.id, methods, None)
            }
            TrlJobSource::Version(version_id) => {
                let version =
                    models::get_version(&mut *self.store().conn().await?, version_id).await?;
                let recipe: Recipe =
                    serde_json::from_value(version.hyperparams.clone()).map_err(|e| {
                        CoreError::invalid(
                            "version",
                            format!("{}'s recorded recipe does not read: {e}", version.name),
                        )
                    })?;
                let snapshot_id = version.snapshot_id.ok_or_else(|| {
                    CoreError::invalid("version", format!("{} has no snapshot", version.name))
                })?;
                let methods = version
                    .method
                    .split('+')
                    .map(|m| {
                        StageMethod::ALL
                            .iter()
                            .copied()
                            .find(|s| s.as_str() == m)
                            .ok_or_else(|| {
                                CoreError::invalid(
                                    "version",
                                    format!("{}'s method {m:?} is not a stage", version.name),
                                )
                            })
                    })
                    .collect::<Result<Vec<_>>>()?;
                check_methods(&methods, &recipe)?;
                let retrains = JobEntity {
                    id: version.id.0,
                    name: version.name.clone(),
                };
                (
                    version.project_id,
                    recipe,
                    snapshot_id,
                    methods,
                    Some(retrains),
                )
            }
        };
        let (snapshot, data) = self.snapshot_data(snapshot_id).await?;
        let project = self.project_details(project_id).await?.project;
        let parent = match recipe.parent_version {
            Some(id) => Some(models::get_version(&mut *self.store().conn().await?, id).await?),
            None => None,
        };

        let staging = tempfile::Builder::new()
            .prefix(".hone-trl-job-")
            .tempdir_in(
                out.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new(".")),
            )
            .map_err(CoreError::io(out))?;
        let dir = staging.path();
        let mut files = Vec::new();
        let mut write = |relative: &str, bytes: &[u8]| -> Result<String> {
            let path = dir.join(relative);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(CoreError::io(parent))?;
            }
            std::fs::write(&path, bytes).map_err(CoreError::io(&path))?;
            files.push(out.join(relative));
            Ok(hex::encode(Sha256::digest(bytes)))
        };

        let model_name_or_path = recipe.model_dir.display().to_string();
        let chat = hone_model::loader::has_chat_template(&recipe.model_dir)?;
        let mut init_adapter = match &parent {
            Some(p) => {
                let adapter = p.adapter_dir.as_deref().ok_or_else(|| {
                    CoreError::invalid(
                        "recipe.parent_version",
                        format!("{} has no adapter", p.name),
                    )
                })?;
                for f in &p.files {
                    let from = self.dir().join(adapter).join(&f.path);
                    let bytes = std::fs::read(&from).map_err(CoreError::io(&from))?;
                    write(&format!("{PARENT_ADAPTER}/{}", f.path), &bytes)?;
                }
                Some(PARENT_ADAPTER.to_owned())
            }
            None => None,
        };
        let mut stages = Vec::new();
        for method in methods {
            let (format, rows) = stage_rows(method, &data, chat);
            if rows.is_empty() {
                continue;
            }
            let (n, count) = (stages.len() + 1, rows.len());
            let data_path = format!("data/{format}/train.jsonl");
            let sha256 = write(&data_path, crate::dataset::rows::to_jsonl(rows).as_bytes())?;
            let output = format!("output/stage-{n}-{}", method.as_str());
            let config = format!("stage-{n}-{}.yaml", method.as_str());
            let yaml = stage_config(n, method, &recipe, &model_name_or_path, &data_path, &output);
            write(&config, yaml.as_bytes())?;
            stages.push(JobStage {
                method,
                config,
                data: data_path,
                rows: count,
                sha256,
                output: output.clone(),
                init_adapter: init_adapter.replace(output),
            });
        }
        check_rows(&methods_of(&stages), &recipe, &data)?;
        let last = stages.last().expect("check_rows found a stage with rows");
        let manifest = JobManifest {
            format: JOB_FORMAT.into(),
            format_version: JOB_FORMAT_VERSION,
            made_by: format!("hone {}", env!("CARGO_PKG_VERSION")),
            trl_version: TRL_VERSION.into(),
            project: JobEntity {
                id: project.id.0,
                name: project.name.clone(),
            },
            snapshot: JobSnapshot {
                id: snapshot.id,
                content_hash: snapshot.content_hash.clone(),
            },
            base: JobBase {
                location: model_name_or_path.clone(),
                model_name_or_path: model_name_or_path.clone(),
            },
            parent: parent.as_ref().map(|p| JobEntity {
                id: p.id.0,
                name: p.name.clone(),
            }),
            retrains,
            final_adapter: last.output.clone(),
            notes: job_notes(&recipe),
            recipe,
            stages,
        };
        write(
            MANIFEST,
            (serde_json::to_string_pretty(&manifest).expect("JSON") + "\n").as_bytes(),
        )?;
        write("train.py", TRAIN_PY.as_bytes())?;
        for (name, text) in ACCELERATE_CONFIGS {
            write(&format!("accelerate/{name}.yaml"), text.as_bytes())?;
        }
        write("launch.sh", launch_script(&manifest).as_bytes())?;
        write("README.md", readme(&manifest).as_bytes())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let script = dir.join("launch.sh");
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
                .map_err(CoreError::io(&script))?;
        }
        // The whole folder appears at once: an interrupted export leaves no half a job.
        if out.exists() {
            std::fs::remove_dir(out).map_err(CoreError::io(out))?;
        }
        let staged = staging.keep();
        std::fs::rename(&staged, out).map_err(|e| {
            let _ = std::fs::remove_dir_all(&staged);
            CoreError::Io {
                path: out.to_owned(),
                error: e,
            }
        })?;
        Ok(TrlJobReport {
            folder: out.to_owned(),
            manifest,
            files,
        })
    }
}

/// TRL trains SFT, DPO and KTO from configs; a reward model and PPO stay in Hone.
fn check_methods(methods: &[StageMethod], recipe: &Recipe) -> Result<()> {
    let other: Vec<&str> = methods
        .iter()
        .filter(|m| !matches!(m, StageMethod::Sft | StageMethod::Dpo | StageMethod::Kto))
        .map(|m| m.as_str())
        .collect();
    if !other.is_empty() {
        return Err(CoreError::invalid(
            "recipe.method",
            format!(
                "a TRL job trains sft, dpo and kto stages; {} has {} (train it in Hone)",
                recipe.method.as_str(),
                other.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Refuses a job none of whose stages has rows.
fn check_rows(methods: &[StageMethod], recipe: &Recipe, data: &TrainingData) -> Result<()> {
    // Counted, not built: the rows are written once, by the stage that uses them.
    let rows = |m: &StageMethod| match m {
        StageMethod::Sft => data.sft.len(),
        StageMethod::Dpo => data.preferences.len(),
        StageMethod::Kto => data.kto.len(),
        StageMethod::RewardModel | StageMethod::Ppo => 0,
    };
    if methods.iter().any(|m| rows(m) > 0) {
        return Ok(());
    }
    Err(CoreError::invalid(
        "recipe.method",
        format!(
            "the feedback has no rows for {} ({} preference pairs, {} SFT examples, {} KTO examples)",
            recipe.method.as_str(),
            data.preferences.len(),
            data.sft.len(),
            data.kto.len()
        ),
    ))
}

fn methods_of(stages: &[JobStage]) -> Vec<StageMethod> {
    stages.iter().map(|s| s.method).collect()
}

/// The dataset folder and rows of a stage, in TRL's formats, all in one form as TRL needs: if
/// the base has a chat template every prompt is a conversation (a text prompt one user turn),
/// else every prompt is text — the way Hone renders them for training (`tokens::prompt_input`).
/// SFT rows are prompt-completion pairs, so TRL's `completion_only_loss` trains on the answer
/// only, as Hone does.
fn stage_rows(
    method: StageMethod,
    data: &TrainingData,
    chat: bool,
) -> (&'static str, Vec<serde_json::Value>) {
    use serde_json::json;
    let prompt = |p: &PromptContent| match (&p.messages, chat) {
        (Some(messages), true) => json!(messages),
        (None, true) => json!([{"role": "user", "content": p.text}]),
        (_, false) => json!(p.text),
    };
    let answer = |text: &str| {
        if chat {
            json!([{"role": "assistant", "content": text}])
        } else {
            json!(text)
        }
    };
    match method {
        StageMethod::Sft => (
            "sft",
            data.sft
                .iter()
                .map(|r| json!({"prompt": prompt(&r.prompt), "completion": answer(&r.completion)}))
                .collect(),
        ),
        StageMethod::Dpo => (
            "preference",
            data.preferences
                .iter()
                .map(|r| {
                    json!({
                        "prompt": prompt(&r.prompt),
                        "chosen": answer(&r.chosen),
                        "rejected": answer(&r.rejected),
                    })
                })
                .collect(),
        ),
        StageMethod::Kto => (
            "kto",
            data.kto
                .iter()
                .map(|r| {
                    json!({
                        "prompt": prompt(&r.prompt),
                        "completion": answer(&r.completion),
                        "label": r.label,
                    })
                })
                .collect(),
        ),
        StageMethod::RewardModel | StageMethod::Ppo => ("", Vec::new()),
    }
}

/// What differs from a run in Hone, said in the manifest and the README.
fn job_notes(recipe: &Recipe) -> Vec<String> {
    let mut notes = vec![
        "TRL trains on everything the chat template writes after the prompt, including the newline after the end-of-turn token; Hone ends a completion at the end-of-turn token".to_owned(),
        "shuffling and dropout masks follow TRL's generators, so the run agrees with Hone's in distribution, not step by step".to_owned(),
        "mixed precision follows the accelerate config and TRL's bf16 default (Hone trains in f32 on a CPU, bf16 base weights on a GPU)".to_owned(),
    ];
    if recipe.token_level.any() {
        notes.push("token-level feedback is Hone's own: in this job, edits and marked answers train as whole answers (the rows of the TRL datasets)".into());
    }
    if recipe.base_weights == super::recipe::BaseWeights::Quantized {
        notes.push("the recipe trains on quantized base weights in Hone; TRL loads the base model's dense weights (set load_in_4bit for QLoRA with bitsandbytes)".into());
    }
    notes
}

/// A stage's TRL config: the keys of `ScriptArguments`, the method's config and `ModelConfig`.
fn stage_config(
    n: usize,
    method: StageMethod,
    recipe: &Recipe,
    model_name_or_path: &str,
    data: &str,
    output: &str,
) -> String {
    use serde_json::json;
    let train = match method {
        StageMethod::Sft => &recipe.sft,
        _ => &recipe.preference,
    };
    let lora = &recipe.lora;
    let dataset_folder = data.rsplit_once('/').map_or(data, |(folder, _)| folder);
    let mut y = Yaml::new(format!(
        "# Stage {n} of a job Hone exported: TRL {TRL_VERSION}'s {} with a LoRA adapter.\n\
         # Read by train.py (launch.sh) and by `trl {} --config` alike; `{output}` gets the adapter.",
        method.as_str().to_uppercase(),
        method.as_str()
    ));
    y.section("The base model: change it to the cluster's copy (a path or a Hub id) if this path is not there.");
    y.key("model_name_or_path", json!(model_name_or_path));
    y.section("The frozen snapshot's rows, in TRL's format (a folder `load_dataset` reads).");
    y.key("dataset_name", json!(dataset_folder));
    y.key("dataset_train_split", json!("train"));
    y.section("LoRA, as Hone's recipe sets it (PEFT's layout).");
    y.key("use_peft", json!(true));
    y.key("lora_r", json!(lora.r));
    // ModelConfig's lora_alpha is an int; PEFT takes a float alpha too.
    if lora.alpha.fract() == 0.0 && lora.alpha.abs() < 1e9 {
        y.key("lora_alpha", json!(lora.alpha as i64));
    } else {
        y.float("lora_alpha", lora.alpha);
    }
    y.float("lora_dropout", lora.dropout);
    y.key("lora_target_modules", json!(lora.target_modules));
    y.key("use_rslora", json!(lora.use_rslora));
    y.section("Optimisation, as Hone's recipe sets it.");
    y.key("output_dir", json!(output));
    y.float("learning_rate", train.learning_rate);
    y.key("lr_scheduler_type", json!(schedule_name(train.schedule)));
    y.key("warmup_steps", json!(train.warmup_steps));
    y.key("num_train_epochs", json!(train.epochs));
    y.key("per_device_train_batch_size", json!(train.batch_size));
    y.key(
        "gradient_accumulation_steps",
        json!(train.gradient_accumulation_steps),
    );
    y.float("max_grad_norm", train.max_grad_norm.unwrap_or(0.0));
    y.float("weight_decay", train.weight_decay);
    y.key("seed", json!(train.seed));
    y.key("logging_steps", json!(1));
    y.key("save_strategy", json!("epoch"));
    y.key("report_to", json!("none"));
    match method {
        StageMethod::Sft => {
            y.section("Loss on the answer only, as in Hone.");
            y.key("completion_only_loss", json!(true));
        }
        StageMethod::Dpo => {
            y.section("DPO: Hone computes the reference log-probs once, before training.");
            y.float("beta", recipe.beta);
            y.key("loss_type", json!([dpo_loss_name(recipe.dpo_loss)]));
            y.float("label_smoothing", recipe.label_smoothing);
            y.key("precompute_ref_log_probs", json!(true));
        }
        StageMethod::Kto => {
            y.section("KTO with Hone's weights for desirable and undesirable answers.");
            let defaults = hone_train::preference::KtoSettings::default();
            y.float("beta", recipe.beta);
            y.float("desirable_weight", defaults.desirable_weight);
            y.float("undesirable_weight", defaults.undesirable_weight);
        }
        StageMethod::RewardModel | StageMethod::Ppo => {}
    }
    y.text
}

/// transformers' name of a learning-rate schedule.
fn schedule_name(schedule: Schedule) -> &'static str {
    match schedule {
        Schedule::Constant => "constant",
        Schedule::Linear => "linear",
        Schedule::Cosine => "cosine",
    }
}

/// TRL's name of a DPO loss.
fn dpo_loss_name(loss: DpoLossType) -> &'static str {
    match loss {
        DpoLossType::Sigmoid => "sigmoid",
        DpoLossType::Ipo => "ipo",
        DpoLossType::Hinge => "hinge",
    }
}

/// A small YAML writer: `key: value` lines with JSON values (YAML reads JSON scalars and flow
/// lists as they are), floats by [`Yaml::float`], comments between sections.
struct Yaml {
    text: String,
}

impl Yaml {
    fn new(header: String) -> Self {
        Self {
            text: header + "\n",
        }
    }

    fn section(&mut self, comment: &str) {
        self.text.push_str(&format!("\n# {comment}\n"));
    }

    fn key(&mut self, key: &str, value: serde_json::Value) {
        let rendered = serde_json::to_string(&value).expect("JSON");
        self.text.push_str(&format!("{key}: {rendered}\n"));
    }

    /// A float as YAML 1.1 (PyYAML) reads it back as a float: with a decimal point and never
    /// in exponent form (`5e-05` is a string there). Rust's `Display` never uses exponents.
    fn float(&mut self, key: &str, x: f64) {
        let mut s = format!("{x}");
        if !s.contains('.') {
            s.push_str(".0");
        }
        self.text.push_str(&format!("{key}: {s}\n"));
    }
}

/// `launch.sh`: every stage in order under accelerate.
fn launch_script(manifest: &JobManifest) -> String {
    let mut s = String::from(
        "#!/usr/bin/env bash\n\
         # Trains this job's stages in order with TRL under accelerate (see README.md).\n\
         #   ACCELERATE_CONFIG  a file of accelerate/ without .yaml: cpu, single-gpu, multi-gpu (default),\n\
         #                      deepspeed-zero2, deepspeed-zero3, fsdp, multi-node\n\
         #   ACCELERATE_ARGS    more options for `accelerate launch` (e.g. --num_processes 4 --machine_rank 1)\n\
         # Arguments after launch.sh go to every stage and override its config (e.g. --bf16 false).\n\
         set -euo pipefail\n\
         cd \"$(dirname \"$0\")\"\n\
         name=\"${ACCELERATE_CONFIG:-multi-gpu}\"\n\
         config=\"accelerate/$name.yaml\"\n\
         if [ ! -f \"$config\" ]; then\n\
         \x20   echo \"launch.sh: $config does not exist; see accelerate/\" >&2\n\
         \x20   exit 2\n\
         fi\n\
         # TRL's configs default to bf16, which its checks refuse without a GPU.\n\
         on_cpu=()\n\
         if [ \"$name\" = cpu ]; then on_cpu=(--use_cpu true --bf16 false); fi\n",
    );
    for stage in &manifest.stages {
        let init = stage
            .init_adapter
            .as_ref()
            .map(|a| format!(" --init_adapter {a}"))
            .unwrap_or_default();
        s.push_str(&format!(
            "accelerate launch --config_file \"$config\" ${{ACCELERATE_ARGS:-}} train.py {} --config {}{init} \"${{on_cpu[@]}}\" \"$@\"\n",
            stage.method.as_str(),
            stage.config
        ));
    }
    s.push_str(&format!(
        "echo \"launch.sh: the adapter is in {}; take it back with: hone versions import --from $(pwd)\"\n",
        manifest.final_adapter
    ));
    s
}

fn readme(m: &JobManifest) -> String {
    let stages: Vec<String> = m
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| {
            format!(
                "{}. **{}** on `{}` ({} rows), config `{}`, adapter into `{}`{}",
                i + 1,
                s.method.as_str().to_uppercase(),
                s.data,
                s.rows,
                s.config,
                s.output,
                s.init_adapter
                    .as_ref()
                    .map(|a| format!(", continuing `{a}`"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let parent = match &m.parent {
        Some(p) => format!(
            "It continues version {} (id {}): its adapter is in `{PARENT_ADAPTER}/`, and is also the reference of DPO and KTO, as in Hone.",
            p.name, p.id
        ),
        None => "It trains a new adapter on the base model.".into(),
    };
    let notes: Vec<String> = m.notes.iter().map(|n| format!("- {n}")).collect();
    format!(
        "# A Hone training job for TRL\n\n\
         Exported by {made_by} from project **{project}** (id {project_id}), dataset snapshot {snapshot} \
         (content hash `{hash}`). {parent}\n\n\
         ## Stages\n\n{stages}\n\n\
         ## Run it\n\n\
         Needs Python with `trl=={trl}.*`, `peft`, `accelerate`, `datasets` and PyTorch (and `deepspeed` for the \
         ZeRO configs). First set `model_name_or_path` in each `stage-*.yaml` to where the base model is on \
         this machine (now `{base}`); the adapter must be trained on the same weights.\n\n\
         ```sh\n\
         ACCELERATE_CONFIG=multi-gpu bash launch.sh        # one machine, every GPU (set num_processes)\n\
         ACCELERATE_CONFIG=deepspeed-zero2 bash launch.sh  # optimizer state sharded\n\
         ACCELERATE_CONFIG=deepspeed-zero3 bash launch.sh  # weights sharded too (large models)\n\
         ACCELERATE_CONFIG=fsdp bash launch.sh             # PyTorch FSDP 2\n\
         ACCELERATE_CONFIG=cpu bash launch.sh              # one CPU process (a check, not a run)\n\
         ```\n\n\
         On several machines, edit `accelerate/multi-node.yaml` (`main_process_ip`, `num_machines`, \
         `num_processes` = GPUs in all) and run on each machine, the first with rank 0:\n\n\
         ```sh\n\
         ACCELERATE_CONFIG=multi-node ACCELERATE_ARGS=\"--machine_rank 1\" bash launch.sh\n\
         ```\n\n\
         Arguments after `launch.sh` go to every stage and override its config (`--per_device_train_batch_size 8`, \
         `--bf16 false`, `--gradient_checkpointing true`). A stage that starts from the base model can also be run \
         with TRL's own command: `trl {first} --config {first_config} --accelerate_config accelerate/multi-gpu.yaml`.\n\n\
         ## Bring the adapter back\n\n\
         Copy this folder (with `output/`) to the machine that holds the Hone workspace and run\n\n\
         ```sh\n\
         hone versions import --from path/to/this/folder\n\
         ```\n\n\
         Hone checks the adapter against the base model (shapes, target modules, the base named in \
         `adapter_config.json`) and the datasets against `hone-job.json`, then records a new version whose \
         parent is {parent_short} and whose data is snapshot {snapshot}; evaluate it with `hone eval` as any version.\n\n\
         ## How this differs from training in Hone\n\n{notes}\n",
        made_by = m.made_by,
        project = m.project.name,
        project_id = m.project.id,
        snapshot = m.snapshot.id,
        hash = m.snapshot.content_hash,
        stages = stages.join("\n"),
        trl = m.trl_version,
        base = m.base.model_name_or_path,
        first = m.stages[0].method.as_str(),
        first_config = m.stages[0].config,
        parent_short = m
            .parent
            .as_ref()
            .map(|p| format!("version {}", p.name))
            .unwrap_or_else(|| "none (the base model)".into()),
        notes = notes.join("\n"),
    )
}
