//! A file read as an import's first pass reads it, with no workspace: each record with its
//! line, the lines refused, and whether a whole-file error ended the reading. The property
//! tests and the fuzz targets (`fuzz/`, built with `--cfg fuzzing`) check through it that any
//! bytes give these, naming lines of the file, and never a panic.

use hone_store::Split;

use super::parse::{Item, Records};
use super::{InputFormat, Record};

/// What reading a file gave.
#[derive(Debug, Default)]
pub struct Reading {
    pub records: Vec<(usize, Record)>,
    pub bad_lines: Vec<usize>,
    /// A whole-file error (empty, too large, not UTF-8 where that is fatal) ended the reading.
    pub failed: bool,
}

/// Reads `bytes` as a file in `format`, as an import would.
pub fn read_bytes(bytes: &[u8], format: InputFormat) -> Reading {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let path = dir.path().join("data");
    std::fs::write(&path, bytes).expect("the file written");
    let mut reading = Reading::default();
    // An empty file is refused at open, as a whole-file error.
    let Ok(items) = Records::open(&path, format, Split::Train, 1 << 20) else {
        reading.failed = true;
        return reading;
    };
    for item in items {
        match item {
            Ok(Item::Record(line, record)) => reading.records.push((line, record)),
            Ok(Item::Bad(e)) => reading.bad_lines.push(e.line),
            Err(_) => {
                assert!(!reading.failed, "reading went on after a whole-file error");
                reading.failed = true;
            }
        }
    }
    reading
}

/// The lines of `bytes`, as an error message counts them.
pub fn line_count(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| **b == b'\n').count() + 1
}

/// Why `reading` of `bytes` names a line the file does not have, if it does.
pub fn line_outside_the_file(bytes: &[u8], reading: &Reading) -> Option<String> {
    let lines = line_count(bytes);
    let named = reading.records.iter().map(|(line, _)| *line);
    named
        .chain(reading.bad_lines.iter().copied())
        .find(|line| !(1..=lines).contains(line))
        .map(|line| format!("line {line} of a {lines}-line file"))
}
