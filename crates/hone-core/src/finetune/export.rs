//! Exporting a version: its adapter as PEFT loads it, the base model with the adapter merged
//! in (a plain Hugging Face folder), or its training data as TRL JSONL.

use std::path::{Path, PathBuf};

use hone_model::lora::Adapter;
use hone_model::LoadedModel;
use hone_store::models;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::TrlFormat;
use crate::{CoreError, Hone, Result};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionFormat {
    Peft,
    Merged,
    Trl,
}

impl std::str::FromStr for VersionFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "peft" => Ok(Self::Peft),
            "merged" => Ok(Self::Merged),
            "trl" => Ok(Self::Trl),
            other => Err(format!(
                "unknown version format {other:?}; expected peft, merged or trl"
            )),
        }
    }
}

/// Files of the base model folder a merged export carries over unchanged.
const MODEL_FILES: [&str; 5] = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
];

impl Hone {
    /// Writes version `version_id` into `out` (created) and returns the files written.
    pub async fn export_version(
        &self,
        version_id: i64,
        format: VersionFormat,
        out: &Path,
    ) -> Result<Vec<PathBuf>> {
        let mut conn = self.store().conn().await?;
        let version = models::get_version(&mut conn, version_id).await?;
        let adapter_dir = self.dir().join(
            version
                .adapter_dir
                .as_deref()
                .ok_or_else(|| CoreError::invalid("version", "has no adapter files"))?,
        );
        // The recorded hashes guard against a damaged or edited adapter.
        for f in &version.files {
            let path = adapter_dir.join(&f.path);
            let bytes = std::fs::read(&path).map_err(CoreError::io(&path))?;
            if hex::encode(Sha256::digest(&bytes)) != f.sha256 {
                return Err(CoreError::invalid(
                    "version",
                    format!("{} does not match its recorded sha256", path.display()),
                ));
            }
        }
        std::fs::create_dir_all(out).map_err(CoreError::io(out))?;
        match format {
            VersionFormat::Peft => {
                let mut written = Vec::new();
                for f in &version.files {
                    let bytes = std::fs::read(adapter_dir.join(&f.path))
                        .map_err(CoreError::io(adapter_dir.join(&f.path)))?;
                    crate::export::write_atomically(&out.join(&f.path), &bytes)?;
                    written.push(out.join(&f.path));
                }
                Ok(written)
            }
            VersionFormat::Merged => {
                let base = models::get_base(&mut conn, version.base_model_id).await?;
                drop(conn);
                let base_dir = PathBuf::from(&base.location);
                let out = out.to_owned();
                tokio::task::spawn_blocking(move || -> Result<Vec<PathBuf>> {
                    let lm = LoadedModel::load(&base_dir, hone_model::DeviceInfo::cpu("export"))?;
                    let adapter = Adapter::load_peft(
                        "export",
                        &adapter_dir,
                        &lm.model.linear_specs(),
                        lm.model.device(),
                    )?;
                    let tensors = lm.model.merged_tensors(&adapter)?;
                    let mut written = vec![out.join("model.safetensors")];
                    hone_model::tiny::write_weights(&written[0], &tensors)?;
                    for name in MODEL_FILES {
                        let src = base_dir.join(name);
                        if src.is_file() {
                            let bytes = std::fs::read(&src).map_err(CoreError::io(&src))?;
                            crate::export::write_atomically(&out.join(name), &bytes)?;
                            written.push(out.join(name));
                        }
                    }
                    Ok(written)
                })
                .await
                .expect("the export thread does not panic")
            }
            VersionFormat::Trl => {
                drop(conn);
                let snapshot = version
                    .snapshot_id
                    .ok_or_else(|| CoreError::invalid("version", "has no dataset snapshot"))?;
                let mut written = Vec::new();
                for f in TrlFormat::ALL {
                    let path = out.join(format!("{}.jsonl", f.as_str()));
                    self.export_snapshot(snapshot, f, &path).await?;
                    written.push(path);
                }
                Ok(written)
            }
        }
    }
}
