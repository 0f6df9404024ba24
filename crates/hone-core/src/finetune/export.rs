//! Exporting a version: its adapter as PEFT loads it, the base model with the adapter merged
//! in (a plain Hugging Face folder), the merged model as one GGUF file or the adapter as a
//! llama.cpp LoRA GGUF (each with an Ollama `Modelfile`), or its training data as TRL JSONL.

use std::path::{Path, PathBuf};

use hone_model::gguf::{
    export_lora_gguf, export_model_gguf, ollama_modelfile, GgufQuant, GgufSource,
};
use hone_model::lora::Adapter;
use hone_model::LoadedModel;
use hone_store::models;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dataset::TrlFormat;
use crate::{CoreError, Hone, Result, VersionId};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionFormat {
    Peft,
    Merged,
    /// The merged model as one GGUF file (f16 unless a quantization is asked for) + `Modelfile`.
    Gguf,
    /// The adapter as a llama.cpp LoRA GGUF + `Modelfile` (`FROM` the base GGUF, `ADAPTER`).
    GgufLora,
    Trl,
}

impl std::str::FromStr for VersionFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "peft" => Ok(Self::Peft),
            "merged" => Ok(Self::Merged),
            "gguf" => Ok(Self::Gguf),
            "gguf-lora" | "gguf_lora" => Ok(Self::GgufLora),
            "trl" => Ok(Self::Trl),
            other => Err(format!(
                "unknown version format {other:?}; expected peft, merged, gguf, gguf-lora or trl"
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

/// The name of the Ollama file written beside a GGUF export.
pub const MODELFILE: &str = "Modelfile";

impl Hone {
    /// Writes version `version_id` into `out` (created) and returns the files written; a GGUF
    /// export of the merged model is f16.
    pub async fn export_version(
        &self,
        version_id: VersionId,
        format: VersionFormat,
        out: &Path,
    ) -> Result<Vec<PathBuf>> {
        self.export_version_as(version_id, format, out, GgufQuant::F16)
            .await
    }

    /// [`Hone::export_version`] with the element type of a GGUF export (`quant` is used by
    /// [`VersionFormat::Gguf`] only).
    pub async fn export_version_as(
        &self,
        version_id: VersionId,
        format: VersionFormat,
        out: &Path,
        quant: GgufQuant,
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
                crate::blocking::run(move || -> Result<Vec<PathBuf>> {
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
                .await?
            }
            VersionFormat::Gguf | VersionFormat::GgufLora => {
                let base = models::get_base(&mut conn, version.base_model_id).await?;
                drop(conn);
                let base_dir = PathBuf::from(&base.location);
                let (out, name) = (out.to_owned(), version.name.clone());
                crate::blocking::run(move || {
                    let lm = LoadedModel::load(&base_dir, hone_model::DeviceInfo::cpu("export"))?;
                    let adapter = Adapter::load_peft(
                        &name,
                        &adapter_dir,
                        &lm.model.linear_specs(),
                        lm.model.device(),
                    )?;
                    if format == VersionFormat::Gguf {
                        write_merged_gguf(&lm, &adapter, &base_dir, &out, &name, quant)
                    } else {
                        write_lora_gguf(&lm, &adapter, &base_dir, &out, &name)
                    }
                })
                .await?
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

/// The merged model as `<name>-<quant>.gguf`, and a `Modelfile` naming it.
fn write_merged_gguf(
    lm: &LoadedModel,
    adapter: &Adapter,
    base_dir: &Path,
    out: &Path,
    name: &str,
    quant: GgufQuant,
) -> Result<Vec<PathBuf>> {
    // The merged weights go through a Hugging Face folder (the format the GGUF writer reads),
    // staged inside `out` and removed afterwards.
    let staging = tempfile::Builder::new()
        .prefix(".hone-merged-")
        .tempdir_in(out)
        .map_err(CoreError::io(out))?;
    hone_model::tiny::write_weights(
        &staging.path().join("model.safetensors"),
        &lm.model.merged_tensors(adapter)?,
    )?;
    for file in MODEL_FILES {
        let src = base_dir.join(file);
        if src.is_file() {
            std::fs::copy(&src, staging.path().join(file)).map_err(CoreError::io(&src))?;
        }
    }
    let file_name = format!("{name}-{}.gguf", quant.as_str());
    let gguf = out.join(&file_name);
    export_model_gguf(staging.path(), &gguf, quant, name)?;
    let modelfile = out.join(MODELFILE);
    let text = ollama_modelfile(
        &format!("./{file_name}"),
        None,
        lm.tokenizer.eos_token.as_deref(),
    );
    crate::export::write_atomically(&modelfile, text.as_bytes())?;
    Ok(vec![gguf, modelfile])
}

/// The adapter as `<name>-lora.gguf`, and a `Modelfile` with the base GGUF and the adapter.
/// The base is the GGUF file the model was imported from when there is one (the file the user
/// already runs), else the base folder exported beside the adapter as f16.
fn write_lora_gguf(
    lm: &LoadedModel,
    adapter: &Adapter,
    base_dir: &Path,
    out: &Path,
    name: &str,
) -> Result<Vec<PathBuf>> {
    let file_name = format!("{name}-lora.gguf");
    let mut written = vec![out.join(&file_name)];
    export_lora_gguf(adapter, lm.model.config(), &written[0])?;
    let source = GgufSource::read(base_dir).filter(|s| s.path.is_file());
    let base = match source {
        Some(source) => source.path.display().to_string(),
        None => {
            let base_name = "base-f16.gguf";
            let stem = base_dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "base".into());
            export_model_gguf(base_dir, &out.join(base_name), GgufQuant::F16, &stem)?;
            written.push(out.join(base_name));
            format!("./{base_name}")
        }
    };
    let modelfile = out.join(MODELFILE);
    let text = ollama_modelfile(
        &base,
        Some(&format!("./{file_name}")),
        lm.tokenizer.eos_token.as_deref(),
    );
    crate::export::write_atomically(&modelfile, text.as_bytes())?;
    written.push(modelfile);
    Ok(written)
}
