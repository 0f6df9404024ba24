use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What is wrong with one line of an imported file.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineError {
    /// 1-based line number in the file.
    pub line: usize,
    /// The field at fault (`chosen`, `prompt[1].role`, …), when one is.
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: field `{field}`: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// Why a file was refused. Nothing of a refused file is written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImportError {
    #[error("{}: cannot tell the format from the extension; give --format jsonl, csv or text", path.display())]
    UnknownFormat { path: PathBuf },
    #[error("{}: cannot read the file: {message}", path.display())]
    Unreadable { path: PathBuf, message: String },
    #[error("{}: the file is {bytes} bytes, over the import limit of {limit} bytes (raise it with --max-bytes)", path.display())]
    TooLarge {
        path: PathBuf,
        bytes: u64,
        limit: u64,
    },
    #[error("{}: the file is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{}: line {line}: the file is not valid UTF-8 ({at})", path.display())]
    NotUtf8 {
        path: PathBuf,
        line: usize,
        /// Where in the line: "byte 4" or, in a CSV row, "cell 2, byte 4".
        at: String,
    },
    #[error("{}: line {line} is longer than {limit} bytes; is it one record per line?", path.display())]
    LineTooLong {
        path: PathBuf,
        line: usize,
        limit: usize,
    },
    #[error("{}: the file changed while it was imported (line {line}); nothing of it was kept", path.display())]
    Changed { path: PathBuf, line: usize },
    #[error("{}: {total} invalid line(s); nothing was imported (--skip-invalid imports the rest):\n{}",
        path.display(), list(path, errors, *total))]
    BadLines {
        path: PathBuf,
        /// The first [`KEPT_LINE_ERRORS`](super::KEPT_LINE_ERRORS) of them.
        errors: Vec<LineError>,
        total: usize,
    },
}

fn list(path: &std::path::Path, errors: &[LineError], total: usize) -> String {
    const SHOWN: usize = 20;
    let mut lines: Vec<String> = errors
        .iter()
        .take(SHOWN)
        .map(|e| format!("  {}: {e}", path.display()))
        .collect();
    if total > SHOWN.min(errors.len()) {
        lines.push(format!("  … and {} more", total - SHOWN.min(errors.len())));
    }
    lines.join("\n")
}
