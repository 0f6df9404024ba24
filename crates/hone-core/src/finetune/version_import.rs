//! Taking back an adapter trained elsewhere (issue 18): a job folder that
//! [`Hone::export_trl_job`] wrote and a cluster ran becomes a version of its project, with the
//! lineage the job was exported with (its snapshot, its parent), after checks that the adapter
//! fits the base and that the job's data is the snapshot's.

use std::path::{Path, PathBuf};

use hone_model::lora::Adapter;
use hone_model::LoadedModel;
use hone_store::models::{self, ModelVersion, NewModelVersion, VersionFile};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::trl_job::{JobManifest, JOB_FORMAT, JOB_FORMAT_VERSION, MANIFEST};
use crate::{CoreError, Hone, ProjectId, Result, VersionId};

/// The files of a PEFT adapter a version keeps.
const ADAPTER_FILES: [&str; 2] = ["adapter_config.json", "adapter_model.safetensors"];

/// How to take a job's adapter back.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportVersion {
    /// The job folder (with `hone-job.json`).
    pub from: PathBuf,
    /// The parent the new version claims; must be the job's (given to confirm it).
    pub parent: Option<VersionId>,
    /// The version's name (default `vN`).
    pub name: Option<String>,
    /// The adapter folder, when it is not where the job left it (`final_adapter`).
    pub adapter: Option<PathBuf>,
}

impl Hone {
    /// Records the adapter a TRL job made as a new version of the job's project.
    pub async fn import_trained_version(&self, request: &ImportVersion) -> Result<ModelVersion> {
        let manifest = read_manifest(&request.from)?;
        let project_id = ProjectId(manifest.project.id);
        self.project_details(project_id).await.map_err(|_| {
            CoreError::invalid(
                "from",
                format!(
                    "{}: project {} (id {}) is not in this workspace; import where the job was exported",
                    request.from.join(MANIFEST).display(),
                    manifest.project.name,
                    project_id
                ),
            )
        })?;
        let (snapshot, _) = self
            .snapshot_data(manifest.snapshot.id)
            .await
            .map_err(|_| {
                CoreError::invalid(
                    "from",
                    format!(
                        "snapshot {} of {} is not in this workspace",
                        manifest.snapshot.id,
                        request.from.join(MANIFEST).display()
                    ),
                )
            })?;
        if snapshot.content_hash != manifest.snapshot.content_hash
            || snapshot.project_id != project_id
        {
            return Err(CoreError::invalid(
                "from",
                format!(
                    "snapshot {} here is not the one the job was exported from (content hash {} here, {} in {MANIFEST})",
                    snapshot.id, snapshot.content_hash, manifest.snapshot.content_hash
                ),
            ));
        }
        // The data the cluster trained on is the data the version will say it was trained on.
        for stage in &manifest.stages {
            let path = request.from.join(&stage.data);
            let bytes = std::fs::read(&path).map_err(CoreError::io(&path))?;
            if hex::encode(Sha256::digest(&bytes)) != stage.sha256 {
                return Err(CoreError::invalid(
                    "from",
                    format!(
                        "{} was changed after the export (its sha256 is not the one {MANIFEST} records); the adapter would not be the snapshot's",
                        path.display()
                    ),
                ));
            }
        }
        let parent_id = manifest.parent.as_ref().map(|p| VersionId(p.id));
        if let Some(wanted) = request.parent {
            if Some(wanted) != parent_id {
                return Err(CoreError::invalid(
                    "parent",
                    format!(
                        "the job continued {}; version {wanted} is not its parent",
                        manifest
                            .parent
                            .as_ref()
                            .map(|p| format!("version {} (id {})", p.name, p.id))
                            .unwrap_or_else(|| "no version (a new adapter on the base)".into())
                    ),
                ));
            }
        }
        let mut conn = self.store().conn().await?;
        if let Some(id) = parent_id {
            let parent = models::get_version(&mut conn, id).await?;
            if parent.project_id != project_id {
                return Err(CoreError::invalid(
                    "parent",
                    format!("version {} belongs to another project", parent.name),
                ));
            }
        }
        drop(conn);
        let base_dir = PathBuf::from(&manifest.recipe.model_dir);
        if !base_dir.join("config.json").is_file() {
            return Err(CoreError::invalid(
                "from",
                format!(
                    "the job's base model {} is not a model folder here",
                    base_dir.display()
                ),
            ));
        }
        let adapter_dir = request
            .adapter
            .clone()
            .unwrap_or_else(|| request.from.join(&manifest.final_adapter));
        check_base_name(&request.from, &adapter_dir, &manifest)?;
        {
            let (adapter_dir, base_dir) = (adapter_dir.clone(), base_dir.clone());
            crate::blocking::run(move || -> Result<()> {
                let lm = LoadedModel::load(&base_dir, hone_model::DeviceInfo::cpu("import"))?;
                // Shapes and target modules: the engine refuses an adapter that does not fit.
                Adapter::load_peft(
                    "import",
                    &adapter_dir,
                    &lm.model.linear_specs(),
                    lm.model.device(),
                )?;
                Ok(())
            })
            .await?
            .map_err(|e| e.for_field("adapter"))?;
        }

        let name = self
            .version_name_for(project_id, request.name.as_deref(), None)
            .await?;
        let adapter_rel = PathBuf::from("versions").join(format!("{project_id}-{name}"));
        let target = self.dir().join(&adapter_rel);
        if target.exists() {
            return Err(CoreError::Duplicate {
                entity: "version folder",
                key: target.display().to_string(),
            });
        }
        let versions_dir = self.dir().join("versions");
        std::fs::create_dir_all(&versions_dir).map_err(CoreError::io(&versions_dir))?;
        let staging = tempfile::Builder::new()
            .prefix(".import-")
            .tempdir_in(&versions_dir)
            .map_err(CoreError::io(&versions_dir))?;
        let mut files = Vec::new();
        for file in ADAPTER_FILES {
            let from = adapter_dir.join(file);
            let bytes = std::fs::read(&from).map_err(CoreError::io(&from))?;
            let to = staging.path().join(file);
            std::fs::write(&to, &bytes).map_err(CoreError::io(&to))?;
            files.push(VersionFile {
                path: file.into(),
                sha256: hex::encode(Sha256::digest(&bytes)),
                bytes: bytes.len() as i64,
            });
        }

        let mut hyperparams = serde_json::to_value(&manifest.recipe).expect("JSON");
        hyperparams["trained_elsewhere"] = serde_json::json!({
            "trainer": format!("trl {}", manifest.trl_version),
            "job": request.from.display().to_string(),
            "made_by": manifest.made_by,
            "adapter_config": read_json(&adapter_dir.join(ADAPTER_FILES[0]))?,
        });
        let metrics = final_metrics(&request.from, &manifest);
        let methods: Vec<&str> = manifest.stages.iter().map(|s| s.method.as_str()).collect();
        let mut tx = self.store().begin().await?;
        let base = super::base_model_for(&mut tx, &base_dir).await?;
        let version = models::insert_version(
            &mut tx,
            &NewModelVersion {
                project_id,
                name,
                parent_id,
                base_model_id: base,
                method: methods.join("+"),
                hyperparams,
                snapshot_id: Some(snapshot.id),
                metrics,
                adapter_dir: Some(adapter_rel.display().to_string()),
                job_id: None,
                files,
            },
        )
        .await?;
        // The folder moves in before the row commits; if the commit fails it is removed.
        let staged = staging.keep();
        std::fs::rename(&staged, &target).map_err(CoreError::io(&target))?;
        if let Err(e) = tx.commit().await {
            let _ = std::fs::remove_dir_all(&target);
            return Err(e.into());
        }
        Ok(version)
    }
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    let bytes = std::fs::read(path).map_err(CoreError::io(path))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| CoreError::invalid("from", format!("{}: not JSON ({e})", path.display())))
}

fn read_manifest(folder: &Path) -> Result<JobManifest> {
    let path = folder.join(MANIFEST);
    if !path.is_file() {
        return Err(CoreError::invalid(
            "from",
            format!(
                "{} has no {MANIFEST}: give the folder `hone export --format trl-job` wrote",
                folder.display()
            ),
        ));
    }
    let value = read_json(&path)?;
    let manifest: JobManifest = serde_json::from_value(value)
        .map_err(|e| CoreError::invalid("from", format!("{}: {e}", path.display())))?;
    if manifest.format != JOB_FORMAT || manifest.format_version > JOB_FORMAT_VERSION {
        return Err(CoreError::invalid(
            "from",
            format!(
                "{}: format {} version {} is not one this Hone reads ({JOB_FORMAT} up to {JOB_FORMAT_VERSION})",
                path.display(),
                manifest.format,
                manifest.format_version
            ),
        ));
    }
    Ok(manifest)
}

/// The adapter must say it was trained on the job's base: the path the job was exported with,
/// or the one a stage's config names now.
fn check_base_name(folder: &Path, adapter_dir: &Path, manifest: &JobManifest) -> Result<()> {
    let config_path = adapter_dir.join(ADAPTER_FILES[0]);
    if !config_path.is_file() {
        return Err(CoreError::invalid(
            "adapter",
            format!(
                "{} is missing: has the job run (launch.sh), and was its output/ folder copied back?",
                config_path.display()
            ),
        ));
    }
    let config = read_json(&config_path)?;
    let Some(named) = config
        .get("base_model_name_or_path")
        .and_then(|v| v.as_str())
    else {
        return Ok(());
    };
    let mut accepted = vec![
        manifest.base.model_name_or_path.clone(),
        manifest.base.location.clone(),
    ];
    // Every stage's config, as it is now (the README says to point them at the cluster's copy).
    for stage in &manifest.stages {
        if let Ok(text) = std::fs::read_to_string(folder.join(&stage.config)) {
            accepted.extend(yaml_value(&text, "model_name_or_path"));
        }
    }
    if accepted.iter().any(|a| a == named) {
        return Ok(());
    }
    Err(CoreError::invalid(
        "adapter",
        format!(
            "{} says it was trained on {named:?}; the job's base is {:?}",
            config_path.display(),
            manifest.base.model_name_or_path
        ),
    ))
}

/// A top-level scalar of the configs the job writes (`key: "value"` or `key: value`).
fn yaml_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?.trim();
        let unquoted = serde_json::from_str::<String>(rest).unwrap_or_else(|_| rest.to_owned());
        Some(unquoted)
    })
}

/// Each stage's last logged figures (`<method>/<key>`, as Hone's own versions record them),
/// from the trainer_state.json train.py leaves beside each adapter.
fn final_metrics(folder: &Path, manifest: &JobManifest) -> serde_json::Value {
    let mut metrics = serde_json::Map::new();
    for stage in &manifest.stages {
        let path = folder.join(&stage.output).join("trainer_state.json");
        let Ok(state) = read_json(&path) else {
            continue;
        };
        let Some(history) = state.get("log_history").and_then(|h| h.as_array()) else {
            continue;
        };
        if let Some(last) = history.iter().rev().find(|h| h.get("loss").is_some()) {
            for (k, v) in last.as_object().into_iter().flatten() {
                if v.is_number() && !matches!(k.as_str(), "step" | "epoch") {
                    metrics.insert(format!("{}/{k}", stage.method.as_str()), v.clone());
                }
            }
        }
    }
    serde_json::Value::Object(metrics)
}
