//! Exports: a dataset snapshot as TRL JSONL (preference, SFT, KTO).
//!
//! Files are written to a temporary name beside the target and renamed, so a reader never
//! sees half a file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::dataset::rows::{to_jsonl, TrlRow};
use crate::dataset::{TrainingData, TrlFormat};
use crate::{CoreError, Hone, Result, SnapshotId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportReport {
    pub snapshot_id: SnapshotId,
    pub format: TrlFormat,
    pub path: PathBuf,
    pub rows: usize,
}

/// The JSONL of one format of `data`, in one of TRL's two forms: conversational when any row's
/// prompt is a chat (a plain prompt then becomes one user message), standard otherwise. TRL's
/// trainers refuse a file that mixes them. (The snapshot's content hash is computed from the
/// rows as stored, `to_trl()` of each, not from this file.)
pub fn trl_jsonl(data: &TrainingData, format: TrlFormat) -> String {
    fn one_form<R: TrlRow + Clone>(rows: &[R]) -> String {
        let chat = rows.iter().any(|r| r.prompt().messages.is_some());
        to_jsonl(rows.iter().map(|row| {
            if chat && row.prompt().messages.is_none() {
                let mut row = row.clone();
                row.prompt_mut().make_chat();
                row.to_trl()
            } else {
                row.to_trl()
            }
        }))
    }
    match format {
        TrlFormat::Preference => one_form(&data.preferences),
        TrlFormat::Sft => one_form(&data.sft),
        TrlFormat::Kto => one_form(&data.kto),
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
        snapshot_id: SnapshotId,
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
