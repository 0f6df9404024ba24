//! Exports: a dataset snapshot as TRL JSONL (preference, SFT, KTO).
//!
//! Files are written to a temporary name beside the target and renamed, so a reader never
//! sees half a file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::rows::to_jsonl;
use crate::dataset::{TrainingData, TrlFormat};
use crate::{CoreError, Hone, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportReport {
    pub snapshot_id: i64,
    pub format: TrlFormat,
    pub path: PathBuf,
    pub rows: usize,
}

/// The canonical JSONL of one format of `data`.
pub fn trl_jsonl(data: &TrainingData, format: TrlFormat) -> String {
    match format {
        TrlFormat::Preference => to_jsonl(data.preferences.iter().map(|r| r.to_trl())),
        TrlFormat::Sft => to_jsonl(data.sft.iter().map(|r| r.to_trl())),
        TrlFormat::Kto => to_jsonl(data.kto.iter().map(|r| r.to_trl())),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder, synced, then renamed
/// (the engine's helper, so there is one implementation).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    hone_model::files::write_atomically(path, bytes).map_err(|e| match e {
        hone_model::ModelError::File { path, message } => CoreError::Io {
            path,
            error: std::io::Error::other(message),
        },
        other => CoreError::Model(other),
    })
}

impl Hone {
    /// Writes one format of a snapshot's rows to `path`.
    pub async fn export_snapshot(
        &self,
        snapshot_id: i64,
        format: TrlFormat,
        path: &Path,
    ) -> Result<ExportReport> {
        let (_, data) = self.snapshot_data(snapshot_id).await?;
        let text = trl_jsonl(&data, format);
        write_atomically(path, text.as_bytes())?;
        Ok(ExportReport {
            snapshot_id,
            format,
            path: path.to_owned(),
            rows: text.lines().count(),
        })
    }
}
