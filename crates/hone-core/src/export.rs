//! Exports: a dataset snapshot as TRL JSONL (preference, SFT, KTO).
//!
//! Files are written to a temporary name beside the target and renamed, so a reader never
//! sees half a file.

use std::io::Write;
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

/// Writes `bytes` to `path` through a temporary file in the same folder, synced, then renamed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(CoreError::io(dir))?;
    let mut builder = tempfile::Builder::new();
    builder.prefix(".hone-export-");
    // A temporary file is owner-only (0600); the export is an ordinary file, with the mode a
    // plain write gives (0666 less the umask).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let mut tmp = builder.tempfile_in(dir).map_err(CoreError::io(dir))?;
    tmp.write_all(bytes).map_err(CoreError::io(tmp.path()))?;
    tmp.as_file().sync_all().map_err(CoreError::io(tmp.path()))?;
    tmp.persist(path).map_err(|e| CoreError::Io { path: path.to_owned(), error: e.error })?;
    Ok(())
}

impl Hone {
    /// Writes one format of a snapshot's rows to `path`.
    pub async fn export_snapshot(&self, snapshot_id: i64, format: TrlFormat, path: &Path) -> Result<ExportReport> {
        let (_, data) = self.snapshot_data(snapshot_id).await?;
        let text = trl_jsonl(&data, format);
        write_atomically(path, text.as_bytes())?;
        Ok(ExportReport { snapshot_id, format, path: path.to_owned(), rows: text.lines().count() })
    }
}
