//! Imports: prompts (JSONL, CSV, plain text) and TRL datasets (preference, SFT, KTO).
//!
//! A file is streamed twice, in bounded memory whatever its size. The first pass checks every
//! line (size limit, UTF-8, each record's fields) and writes nothing: a file with any bad line
//! imports nothing, unless `skip_invalid` is set, in which case the bad lines are reported and
//! the rest imported. The second pass writes the records as an import run (`run`), one short
//! transaction per chunk of records (`write`), each sized to hold the writer ~5 ms (`pace`),
//! so that annotators saving judgments meanwhile wait at most that; the run's rows count only once it finishes, and a run that fails, is
//! dropped, or whose process dies is undone, so an import still lands all or nothing.
//! Prompts, responses and judgments already in the project are found again, not duplicated:
//! importing a file twice changes nothing the second time.

mod error;
mod pace;
mod parse;
#[cfg(test)]
mod properties;
#[cfg(any(test, fuzzing))]
pub mod read_back;
mod record;
mod run;
mod write;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hone_store::{JudgmentKind, Split};
use serde::{Deserialize, Serialize};

pub use error::{ImportError, LineError};
pub use parse::MAX_LINE_BYTES;
pub use record::Record;

pub(crate) use run::recover as recover_runs;

use crate::{CoreError, Hone, ImportRunId, ProjectId, Result};

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
    /// Lines left out under `skip_invalid`, each with its reason (the first
    /// [`KEPT_LINE_ERRORS`]; `skipped_total` counts them all).
    pub skipped: Vec<LineError>,
    #[serde(default)]
    pub skipped_total: usize,
    /// The import run that wrote it (`hone_store::imports`).
    #[serde(default)]
    pub import_id: Option<ImportRunId>,
}

/// How many bad lines a report or an error lists (all are counted).
pub const KEPT_LINE_ERRORS: usize = 1_000;

/// Where an import is, for a progress bar.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ImportProgress {
    pub stage: ImportStage,
    /// Bytes of the file read in this stage, of `bytes_total`.
    pub bytes_done: u64,
    pub bytes_total: u64,
    /// Records checked or written so far in this stage.
    pub records: u64,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportStage {
    /// Reading every line; nothing is written yet.
    Checking,
    /// Writing the records.
    Writing,
}

/// Bad lines found, the first [`KEPT_LINE_ERRORS`] kept.
#[derive(Default)]
struct BadLines {
    kept: Vec<LineError>,
    total: usize,
}

impl BadLines {
    fn push(&mut self, error: LineError) {
        self.total += 1;
        if self.kept.len() < KEPT_LINE_ERRORS {
            self.kept.push(error);
        }
    }
}

impl Hone {
    /// The project's import runs, newest first: done, running, or undone (with why).
    pub async fn import_runs(
        &self,
        project_id: ProjectId,
    ) -> Result<Vec<hone_store::imports::ImportRun>> {
        let mut conn = self.store().conn().await?;
        hone_store::projects::get(&mut conn, project_id).await?;
        Ok(hone_store::imports::list(&mut conn, project_id).await?)
    }

    /// Imports `path` into the project; see the module documentation for the rules.
    pub async fn import_file(
        &self,
        project_id: ProjectId,
        path: &Path,
        options: &ImportOptions,
    ) -> Result<ImportReport> {
        self.import_file_with_progress(project_id, path, options, &|_| {})
            .await
    }

    /// [`Hone::import_file`], telling `progress` where it is every chunk of records.
    pub async fn import_file_with_progress(
        &self,
        project_id: ProjectId,
        path: &Path,
        options: &ImportOptions,
        progress: &(dyn Fn(ImportProgress) + Send + Sync),
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
        hone_store::projects::get(&mut *self.store().conn().await?, project_id).await?;
        let (_, bytes_total) = parse::open_checked(path, options.max_bytes)?;
        let report_every = |stage, records: &parse::Records, count: u64| {
            progress(ImportProgress {
                stage,
                bytes_done: records.bytes_read(),
                bytes_total,
                records: count,
            })
        };

        // Pass 1: check every line, write nothing.
        let mut bad = BadLines::default();
        let mut good: u64 = 0;
        let mut reader = parse::Records::open(path, format, options.split, options.max_bytes)?;
        while let Some(item) = reader.next() {
            match item? {
                parse::Item::Record(..) => good += 1,
                parse::Item::Bad(e) => bad.push(e),
            }
            if (good + bad.total as u64).is_multiple_of(pace::PROGRESS_RECORDS as u64) {
                report_every(ImportStage::Checking, &reader, good);
            }
        }
        report_every(ImportStage::Checking, &reader, good);
        if good == 0 && bad.total == 0 {
            return Err(ImportError::Empty {
                path: path.to_owned(),
            }
            .into());
        }
        if bad.total > 0 && !options.skip_invalid {
            return Err(ImportError::BadLines {
                path: path.to_owned(),
                errors: bad.kept,
                total: bad.total,
            }
            .into());
        }

        // Pass 2: write the good records as one run, chunk by chunk.
        let annotator = options.annotator.trim();
        let mut report = ImportReport {
            path: path.to_owned(),
            records: good as usize + bad.total,
            ..Default::default()
        };
        let guideline_version =
            hone_store::projects::latest_guideline(&mut *self.store().conn().await?, project_id)
                .await?
                .map(|g| g.version);
        let annotator_id = {
            let mut tx = self.store().begin().await?;
            let a = hone_store::annotators::get_or_create(
                &mut tx,
                annotator,
                hone_store::AnnotatorKind::Import,
            )
            .await?;
            tx.commit().await?;
            a.id
        };
        let run = run::Run::start(self.store(), self.dir(), project_id, path, annotator).await?;
        let target = write::Target {
            project_id,
            import_id: run.id,
            annotator_id,
            guideline_version,
        };
        match self
            .write_records(
                path,
                format,
                options,
                &target,
                good,
                &mut report,
                &report_every,
            )
            .await
        {
            Ok(written) => run.finish(written).await?,
            Err(e) => {
                run.undo(&e.to_string()).await?;
                return Err(e);
            }
        }
        report.import_id = Some(target.import_id);
        report.skipped_total = bad.total;
        report.skipped = bad.kept;
        Ok(report)
    }

    /// Pass 2: reads the file again and writes its good records in chunks. The file must hold
    /// what pass 1 checked; a file changed in between is refused (and the run undone).
    #[allow(clippy::too_many_arguments)]
    async fn write_records(
        &self,
        path: &Path,
        format: InputFormat,
        options: &ImportOptions,
        target: &write::Target,
        expected: u64,
        report: &mut ImportReport,
        report_every: &(dyn Fn(ImportStage, &parse::Records, u64) + Send + Sync),
    ) -> Result<i64> {
        let mut reader = parse::Records::open(path, format, options.split, options.max_bytes)?;
        let mut pace = pace::Pace::default();
        let mut chunk = Vec::new();
        let mut written: i64 = 0;
        let mut told: i64 = 0;
        let mut last_line = 0;
        loop {
            let item = reader.next().transpose()?;
            let at_end = item.is_none();
            if let Some(parse::Item::Record(line, record)) = item {
                last_line = line;
                chunk.push((line, record));
            }
            if chunk.len() < pace.records(written as usize) && !at_end {
                continue;
            }
            if written + chunk.len() as i64 > expected as i64 {
                return Err(ImportError::Changed {
                    path: path.to_owned(),
                    line: last_line,
                }
                .into());
            }
            if !chunk.is_empty() {
                let held =
                    write::write_chunk(self.store(), target, &chunk, written, report).await?;
                pace.took(chunk.len(), held);
                written += chunk.len() as i64;
                chunk.clear();
                if (written as usize).is_multiple_of(pace::PROGRESS_RECORDS) {
                    report_every(ImportStage::Writing, &reader, written as u64);
                    told = written;
                }
            }
            if at_end {
                break;
            }
        }
        // The end is told once, whether or not a chunk was left to write when the file ended
        // (a chunk can fill on the last record, before the reader sees the end).
        if told != written {
            report_every(ImportStage::Writing, &reader, written as u64);
        }
        if written != expected as i64 {
            return Err(ImportError::Changed {
                path: path.to_owned(),
                line: last_line,
            }
            .into());
        }
        Ok(written)
    }
}
