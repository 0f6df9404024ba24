//! Imports: prompts (JSONL, CSV, plain text) and TRL datasets (preference, SFT, KTO).
//!
//! A file is read whole, checked (size limit, UTF-8, not empty), and every line parsed into a
//! [`record::Record`] before anything is written. Then all records are written in one
//! transaction: a file with any bad line imports nothing, unless `skip_invalid` is set, in
//! which case the bad lines are reported and the rest imported. Prompts, responses and
//! judgments already in the project are found again, not duplicated: importing a file twice
//! changes nothing the second time.

mod error;
mod parse;
mod record;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hone_store::{JudgmentKind, Split};
use serde::{Deserialize, Serialize};

pub use error::{ImportError, LineError};
pub use record::Record;

use crate::{CoreError, Hone, Result};

/// How the file's lines are written.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputFormat {
    /// One JSON object per line: a prompt, or a TRL preference / SFT / KTO row.
    Jsonl,
    /// A header row, then one record per row, with the same column names as the JSONL keys.
    Csv,
    /// One prompt per non-empty line.
    Text,
}

impl InputFormat {
    /// From the file's extension: `.jsonl`/`.json`, `.csv`, `.txt`/`.text`.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" | "json" | "ndjson" => Some(InputFormat::Jsonl),
            "csv" => Some(InputFormat::Csv),
            "txt" | "text" => Some(InputFormat::Text),
            _ => None,
        }
    }
}

impl std::str::FromStr for InputFormat {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "jsonl" => Ok(InputFormat::Jsonl),
            "csv" => Ok(InputFormat::Csv),
            "text" | "txt" => Ok(InputFormat::Text),
            _ => Err(format!(
                "unknown input format {s:?}; expected jsonl, csv or text"
            )),
        }
    }
}

/// The default limit on an imported file's size.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportOptions {
    /// `None`: from the file's extension.
    pub format: Option<InputFormat>,
    /// The split of new prompts, unless a line says otherwise.
    pub split: Split,
    /// Who the imported judgments are attributed to.
    pub annotator: String,
    pub skip_invalid: bool,
    pub max_bytes: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            format: None,
            split: Split::Train,
            annotator: "import".into(),
            skip_invalid: false,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// What an import did.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    pub path: PathBuf,
    /// Records read (lines or CSV rows with content).
    pub records: usize,
    pub prompts_created: usize,
    pub prompts_existing: usize,
    pub responses_created: usize,
    pub judgments: BTreeMap<JudgmentKind, usize>,
    /// Judgments the file holds that this annotator had already recorded (a re-import).
    pub judgments_existing: usize,
    /// Lines left out under `skip_invalid`, each with its reason.
    pub skipped: Vec<LineError>,
}

impl Hone {
    /// Imports `path` into the project; see the module documentation for the rules.
    pub async fn import_file(
        &self,
        project_id: i64,
        path: &Path,
        options: &ImportOptions,
    ) -> Result<ImportReport> {
        let format = match options.format {
            Some(f) => f,
            None => InputFormat::from_path(path).ok_or_else(|| ImportError::UnknownFormat {
                path: path.to_owned(),
            })?,
        };
        if options.annotator.trim().is_empty() {
            return Err(CoreError::invalid("annotator", "must not be empty"));
        }
        let text = parse::read_checked(path, options.max_bytes)?;
        let (records, mut bad) = parse::parse(&text, format, options.split);
        if records.is_empty() && bad.is_empty() {
            return Err(ImportError::Empty {
                path: path.to_owned(),
            }
            .into());
        }
        if !bad.is_empty() && !options.skip_invalid {
            return Err(ImportError::BadLines {
                path: path.to_owned(),
                errors: bad,
            }
            .into());
        }
        let mut report = ImportReport {
            path: path.to_owned(),
            records: records.len() + bad.len(),
            ..Default::default()
        };
        let mut tx = self.store().begin().await?;
        hone_store::projects::get(&mut tx, project_id).await?;
        let write_errors =
            write::write_records(&mut tx, project_id, &records, options, &mut report).await?;
        if !write_errors.is_empty() && !options.skip_invalid {
            return Err(ImportError::BadLines {
                path: path.to_owned(),
                errors: write_errors,
            }
            .into());
        }
        bad.extend(write_errors);
        bad.sort_by_key(|e| e.line);
        tx.commit().await?;
        report.skipped = bad;
        Ok(report)
    }
}
