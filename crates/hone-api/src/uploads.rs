//! Uploaded import files: where an upload is written in the workspace (a fresh name in its
//! `imports` folder, kept short and safe), and the import of it, after which the file goes
//! (the import run names it; the data is in the database or was refused). Both the
//! `import_text` command (the desktop, small files) and the HTTP server's streaming upload
//! route use them.

use std::path::{Path, PathBuf};

use hone_core::import::{ImportOptions, ImportReport};
pub use hone_core::store::Split;
use hone_core::ProjectId;

/// The largest upload an import takes (the import's own limit).
pub const UPLOAD_LIMIT_BYTES: u64 = hone_core::import::DEFAULT_MAX_BYTES;

use crate::{Api, ApiError};

impl Api {
    /// A fresh path in the workspace's `imports` folder for an upload named `file_name` (its
    /// extension tells the format); the folder is made if needed.
    pub fn upload_path(&self, file_name: &str) -> Result<PathBuf, ApiError> {
        let folder = self.hone.dir().join("imports");
        std::fs::create_dir_all(&folder)
            .map_err(|e| ApiError::new("io", format!("{}: {e}", folder.display())))?;
        // Nanoseconds and a random part: two uploads of one name never share a file.
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        Ok(folder.join(format!(
            "{stamp}-{:08x}-{}",
            rand::random::<u32>(),
            safe_file_name(file_name)
        )))
    }

    /// Imports the uploaded file at `path` into the project, then removes it.
    pub async fn import_upload(
        &self,
        project_id: ProjectId,
        path: &Path,
        split: Split,
    ) -> Result<ImportReport, ApiError> {
        let result = self
            .hone
            .import_file(
                project_id,
                path,
                &ImportOptions {
                    split,
                    ..ImportOptions::default()
                },
            )
            .await;
        let _ = std::fs::remove_file(path);
        Ok(result?)
    }
}

/// A file name safe to keep in the workspace's imports folder.
fn safe_file_name(name: &str) -> String {
    /// Characters of the name kept: with the stamp in front, well under the 255 bytes a file
    /// name may have (a longer upload name once failed with a 500).
    const KEPT: usize = 80;
    let base = std::path::Path::new(name)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Keep the extension (it tells the format) and the start of the stem.
    let (stem, ext) = match cleaned.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && ext.len() <= 10 => (stem, format!(".{ext}")),
        _ => (cleaned.as_str(), String::new()),
    };
    let stem: String = stem.chars().take(KEPT).collect();
    if stem.trim_matches('.').is_empty() {
        format!("import{}", if ext.is_empty() { ".jsonl" } else { &ext })
    } else {
        format!("{stem}{ext}")
    }
}
