//! Reading a file as a stream of records, with every problem located.
//!
//! Memory stays bounded whatever the file: lines are read one at a time (a JSONL or text line
//! may be at most [`MAX_LINE_BYTES`]), CSV rows one at a time, and at most `max_bytes` are
//! read in all. Only regular files are read (not `/dev/zero`, a pipe or a folder).

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hone_store::prompts::NewPrompt;
use hone_store::Split;
use serde_json::{Map, Value};

use super::record::{classify, Record};
use super::{ImportError, InputFormat, LineError};
use crate::{CoreError, Result};

/// The longest JSONL or text line read (a record's prompt and answers together).
pub const MAX_LINE_BYTES: usize = 64 * 1024 * 1024;

/// One step of the stream: a record, or a line that is not one.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    Record(usize, Record),
    Bad(LineError),
}

/// Opens the file for import: a regular file, not over `max_bytes`. Returns it and its size.
pub(crate) fn open_checked(path: &Path, max_bytes: u64) -> Result<(File, u64)> {
    let unreadable = |message: String| ImportError::Unreadable {
        path: path.to_owned(),
        message,
    };
    let file = File::open(path).map_err(|e| unreadable(e.to_string()))?;
    let meta = file.metadata().map_err(|e| unreadable(e.to_string()))?;
    if meta.is_dir() {
        return Err(unreadable("it is a folder".into()).into());
    }
    if !meta.is_file() {
        return Err(unreadable(
            "it is not a regular file (a device, pipe or socket); save the data to a file first"
                .into(),
        )
        .into());
    }
    if meta.len() > max_bytes {
        return Err(ImportError::TooLarge {
            path: path.to_owned(),
            bytes: meta.len(),
            limit: max_bytes,
        }
        .into());
    }
    if meta.len() == 0 {
        return Err(ImportError::Empty {
            path: path.to_owned(),
        }
        .into());
    }
    Ok((file, meta.len()))
}

/// Counts the bytes read through it (for progress) and stops one byte past the limit.
struct Counted {
    inner: std::io::Take<File>,
    read: Arc<AtomicU64>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The records of a file, in file order, read as they are needed.
pub(crate) struct Records {
    path: PathBuf,
    max_bytes: u64,
    read: Arc<AtomicU64>,
    source: Source,
    split: Split,
    done: bool,
}

enum Source {
    Lines {
        reader: BufReader<Counted>,
        number: usize,
        buf: Vec<u8>,
        text_format: bool,
    },
    Csv {
        reader: Box<csv::Reader<Counted>>,
        headers: Option<Vec<String>>,
        has_label: bool,
        /// Where the last row began, to check at the end that its quotes were closed.
        last_row: Option<(usize, u64)>,
        file_len: u64,
    },
}

impl Records {
    pub(crate) fn open(
        path: &Path,
        format: InputFormat,
        split: Split,
        max_bytes: u64,
    ) -> Result<Self> {
        let (file, file_len) = open_checked(path, max_bytes)?;
        let read = Arc::new(AtomicU64::new(0));
        let counted = Counted {
            inner: file.take(max_bytes + 1),
            read: read.clone(),
        };
        let source = match format {
            InputFormat::Jsonl | InputFormat::Text => Source::Lines {
                reader: BufReader::with_capacity(1 << 16, counted),
                number: 0,
                buf: Vec::new(),
                text_format: format == InputFormat::Text,
            },
            InputFormat::Csv => Source::Csv {
                reader: Box::new(
                    csv::ReaderBuilder::new()
                        .has_headers(false)
                        .flexible(false)
                        .from_reader(counted),
                ),
                headers: None,
                has_label: false,
                last_row: None,
                file_len,
            },
        };
        Ok(Self {
            path: path.to_owned(),
            max_bytes,
            read,
            source,
            split,
            done: false,
        })
    }

    /// Bytes read so far.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::Relaxed)
    }

    fn too_large(&self) -> CoreError {
        ImportError::TooLarge {
            path: self.path.clone(),
            bytes: self.bytes_read(),
            limit: self.max_bytes,
        }
        .into()
    }

    fn next_item(&mut self) -> Result<Option<Item>> {
        let split = self.split;
        let path = self.path.clone();
        let item = match &mut self.source {
            Source::Lines {
                reader,
                number,
                buf,
                text_format,
            } => loop {
                buf.clear();
                let n = reader
                    .by_ref()
                    .take(MAX_LINE_BYTES as u64 + 1)
                    .read_until(b'\n', buf)
                    .map_err(CoreError::io(&path))?;
                if n == 0 {
                    break None;
                }
                *number += 1;
                if buf.len() > MAX_LINE_BYTES {
                    return Err(ImportError::LineTooLong {
                        path,
                        line: *number,
                        limit: MAX_LINE_BYTES,
                    }
                    .into());
                }
                let mut bytes = buf.as_slice();
                if *number == 1 {
                    bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
                }
                let line = std::str::from_utf8(bytes).map_err(|e| ImportError::NotUtf8 {
                    path: path.clone(),
                    line: *number,
                    at: format!("byte {}", e.valid_up_to() + 1),
                })?;
                let line = line.trim_end_matches(['\n', '\r']);
                if line.trim().is_empty() {
                    continue;
                }
                break Some(if *text_format {
                    text_item(*number, line, split)
                } else {
                    jsonl_item(*number, line, split)
                });
            },
            Source::Csv {
                reader,
                headers,
                has_label,
                last_row,
                file_len,
            } => loop {
                let mut row = csv::ByteRecord::new();
                let more = match reader.read_byte_record(&mut row) {
                    Ok(more) => more,
                    Err(e) => {
                        let (line, start) = e
                            .position()
                            .map_or((0, 0), |p| (p.line() as usize, p.byte()));
                        if let csv::ErrorKind::Io(io) = e.kind() {
                            return Err(CoreError::Io {
                                path,
                                error: std::io::Error::new(io.kind(), io.to_string()),
                            });
                        }
                        // A row that ran to the end of the file may be an unclosed quote.
                        if reader.position().byte() >= *file_len {
                            *last_row = None;
                            if let Some(bad) = unclosed_quote(&path, line, start)? {
                                break Some(Item::Bad(bad));
                            }
                        }
                        break Some(Item::Bad(LineError {
                            line,
                            field: None,
                            message: format!("unreadable CSV row: {e}"),
                        }));
                    }
                };
                if !more {
                    if let Some((line, start)) = *last_row {
                        if let Some(bad) = unclosed_quote(&path, line, start)? {
                            *last_row = None;
                            break Some(Item::Bad(bad));
                        }
                    }
                    break None;
                }
                let (line, start) = row
                    .position()
                    .map_or((0, 0), |p| (p.line() as usize, p.byte()));
                *last_row = Some((line, start));
                let cells: Vec<&str> = match row
                    .iter()
                    .enumerate()
                    .map(|(i, cell)| std::str::from_utf8(cell).map_err(|e| (i, e.valid_up_to())))
                    .collect()
                {
                    Ok(cells) => cells,
                    Err((cell, byte)) => {
                        return Err(ImportError::NotUtf8 {
                            path,
                            line,
                            at: format!("cell {}, byte {}", cell + 1, byte + 1),
                        }
                        .into())
                    }
                };
                let Some(names) = headers else {
                    match csv_header(line, &cells) {
                        Ok(names) => {
                            *has_label = names.iter().any(|h| h == "label");
                            *headers = Some(names);
                            continue;
                        }
                        Err(bad) => {
                            // Without a header no row can be read: report it and stop.
                            self.done = true;
                            return Ok(Some(Item::Bad(bad)));
                        }
                    }
                };
                if cells.iter().all(|cell| cell.trim().is_empty()) {
                    continue;
                }
                break Some(csv_item(line, names, *has_label, &cells, split));
            },
        };
        if self.bytes_read() > self.max_bytes {
            return Err(self.too_large());
        }
        Ok(item)
    }
}

impl Iterator for Records {
    type Item = Result<Item>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.next_item().transpose();
        if matches!(next, None | Some(Err(_))) {
            self.done = true;
        }
        next
    }
}

fn text_item(number: usize, line: &str, split: Split) -> Item {
    let prompt = NewPrompt {
        text: line.to_owned(),
        messages: None,
        split,
        tags: Vec::new(),
    };
    checked(number, Record::Prompt { prompt })
}

fn jsonl_item(number: usize, line: &str, split: Split) -> Item {
    let result = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(object)) => classify(number, &object, split),
        Ok(other) => Err(LineError {
            line: number,
            field: None,
            message: format!(
                "expected a JSON object, found {}",
                if other.is_array() {
                    "a list"
                } else {
                    "a plain value"
                }
            ),
        }),
        Err(e) => Err(LineError {
            line: number,
            field: None,
            message: format!("not valid JSON: {e}"),
        }),
    };
    match result {
        Ok(record) => checked(number, record),
        Err(e) => Item::Bad(e),
    }
}

/// A record also meets the rules a prompt added by hand meets.
fn checked(number: usize, record: Record) -> Item {
    match crate::content::validate_prompt("prompt", record.prompt()) {
        Ok(()) => Item::Record(number, record),
        Err(CoreError::Invalid { field, message }) => Item::Bad(LineError {
            line: number,
            field: Some(field),
            message,
        }),
        Err(other) => Item::Bad(LineError {
            line: number,
            field: None,
            message: other.to_string(),
        }),
    }
}

fn csv_header(line: usize, cells: &[&str]) -> std::result::Result<Vec<String>, LineError> {
    let names: Vec<String> = cells.iter().map(|s| s.trim().to_owned()).collect();
    let mut seen = HashSet::new();
    for name in &names {
        if !name.is_empty() && !seen.insert(name.as_str()) {
            return Err(LineError {
                line,
                field: Some(name.clone()),
                message: format!("the header names the column {name:?} twice"),
            });
        }
    }
    if !names
        .iter()
        .any(|h| matches!(h.as_str(), "prompt" | "text" | "messages"))
    {
        return Err(LineError {
            line,
            field: None,
            message: format!(
                "the header ({}) has no `prompt`, `text` or `messages` column",
                names.join(", ")
            ),
        });
    }
    Ok(names)
}

fn csv_item(
    line: usize,
    headers: &[String],
    has_label: bool,
    cells: &[&str],
    split: Split,
) -> Item {
    let mut object = Map::new();
    for (header, cell) in headers.iter().zip(cells) {
        if cell.is_empty() || header.is_empty() {
            continue;
        }
        // A conversation in a CSV cell is written as its JSON list.
        let value = if header == "messages" {
            match serde_json::from_str(cell) {
                Ok(v) => v,
                Err(e) => {
                    return Item::Bad(LineError {
                        line,
                        field: Some("messages".into()),
                        message: format!("must be a JSON list of messages: {e}"),
                    })
                }
            }
        } else {
            Value::String((*cell).to_owned())
        };
        object.insert(header.clone(), value);
    }
    // A blank label cell beside a completion is a missing label (as `"label": null` is in
    // JSONL), not a row without one: a KTO row must not turn into an SFT demonstration.
    if has_label && object.contains_key("completion") {
        object.entry("label").or_insert(Value::Null);
    }
    match classify(line, &object, split) {
        Ok(record) => checked(line, record),
        Err(e) => Item::Bad(e),
    }
}

/// The csv reader ends a quoted field at the end of the file without a word; an odd number of
/// quote characters from the last row's start to the end means its quote was never closed.
fn unclosed_quote(path: &Path, line: usize, start: u64) -> Result<Option<LineError>> {
    let mut file = File::open(path).map_err(CoreError::io(path))?;
    file.seek(SeekFrom::Start(start))
        .map_err(CoreError::io(path))?;
    let mut quotes = 0u64;
    let mut buf = [0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).map_err(CoreError::io(path))?;
        if n == 0 {
            break;
        }
        quotes += buf[..n].iter().filter(|&&b| b == b'"').count() as u64;
    }
    Ok((quotes % 2 == 1).then(|| LineError {
        line,
        field: None,
        message: "a quoted cell is never closed (a \" is missing); the rest of the file would be one cell".into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        text: &str,
        format: InputFormat,
        split: Split,
    ) -> (Vec<(usize, Record)>, Vec<LineError>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::write(&path, text).unwrap();
        let (mut records, mut errors) = (Vec::new(), Vec::new());
        for item in Records::open(&path, format, split, 1 << 20).unwrap() {
            match item.unwrap() {
                Item::Record(line, record) => records.push((line, record)),
                Item::Bad(e) => errors.push(e),
            }
        }
        (records, errors)
    }

    #[test]
    fn jsonl_lines_are_classified_by_their_keys() {
        let text = concat!(
            "{\"prompt\": \"p1\", \"tags\": [\"a\"]}\n",
            "\n",
            "{\"prompt\": \"p2\", \"chosen\": \"good\", \"rejected\": \"bad\"}\n",
            "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"hello\"}]}\n",
            "{\"prompt\": \"p3\", \"completion\": \"c\", \"label\": false}\n",
            "{\"prompt\": \"p4\", \"completion\": \"c\"}\n",
        );
        let (records, errors) = parse(text, InputFormat::Jsonl, Split::Train);
        assert!(errors.is_empty(), "all lines are valid: {errors:?}");
        let lines: Vec<usize> = records.iter().map(|(l, _)| *l).collect();
        assert_eq!(
            lines,
            vec![1, 3, 4, 5, 6],
            "blank line 2 is skipped and numbering keeps file lines"
        );
        assert!(matches!(records[0].1, Record::Prompt { .. }));
        assert!(matches!(&records[1].1, Record::Preference { chosen, .. } if chosen == "good"));
        assert!(
            matches!(&records[2].1, Record::Sft { completion, prompt } if completion == "hello" && prompt.messages.as_ref().unwrap().len() == 1)
        );
        assert!(matches!(records[3].1, Record::Kto { label: false, .. }));
        assert!(matches!(records[4].1, Record::Sft { .. }));
    }

    #[test]
    fn bad_lines_name_line_and_field() {
        let text = concat!(
            "{\"prompt\": \"p\", \"chosen\": \"x\", \"rejected\": \"x\"}\n",
            "{\"prompt\": [{\"role\": \"user\", \"content\": \"q\"}], \"chosen\": \"plain\", \"rejected\": [{\"role\": \"assistant\", \"content\": \"r\"}]}\n",
            "{\"prompt\": [{\"role\": \"wizard\", \"content\": \"q\"}]}\n",
            "not json\n",
            "{\"prompt\": \"p\", \"completion\": \"c\", \"label\": \"maybe\"}\n",
            "{\"question\": \"p\"}\n",
            "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}]}\n",
            "{\"prompt\": \"\\u0000\\u0000\"}\n",
        );
        let (records, errors) = parse(text, InputFormat::Jsonl, Split::Train);
        assert!(records.is_empty(), "every line is bad: {records:?}");
        let located: Vec<(usize, Option<&str>)> = errors
            .iter()
            .map(|e| (e.line, e.field.as_deref()))
            .collect();
        assert_eq!(
            located,
            vec![
                (1, Some("rejected")),
                (2, Some("chosen")),
                (3, Some("prompt[0].role")),
                (4, None),
                (5, Some("label")),
                (6, None),
                (7, Some("prompt")),
                (8, Some("prompt")),
            ]
        );
        assert!(
            errors[6].message.contains("no user message"),
            "{}",
            errors[6].message
        );
        assert!(
            errors[7].message.contains("visible"),
            "{}",
            errors[7].message
        );
    }

    #[test]
    fn csv_rows_use_header_names_and_report_file_lines() {
        let text = "prompt,chosen,rejected,tags\n\"multi\nline\",yes,no,a;b\n,,,\np2,,,\nonly,same,same,\n";
        let (records, errors) = parse(text, InputFormat::Csv, Split::Heldout);
        assert_eq!(
            records.len(),
            2,
            "a preference row and a prompt row: {records:?}"
        );
        match &records[0].1 {
            Record::Preference { prompt, chosen, .. } => {
                assert_eq!(prompt.text, "multi\nline");
                assert_eq!(prompt.tags, vec!["a", "b"]);
                assert_eq!(prompt.split, Split::Heldout);
                assert_eq!(chosen, "yes");
            }
            other => panic!("expected a preference row, got {other:?}"),
        }
        assert_eq!(
            records[1].0, 5,
            "the prompt row is on line 5 (the quoted cell spans two lines)"
        );
        assert_eq!(errors.len(), 1);
        assert_eq!(
            (errors[0].line, errors[0].field.as_deref()),
            (6, Some("rejected"))
        );
    }

    #[test]
    fn csv_without_a_prompt_column_or_with_a_repeated_one_is_refused_at_the_header() {
        let (records, errors) = parse("question,answer\nq,a\n", InputFormat::Csv, Split::Train);
        assert!(records.is_empty());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, 1);
        assert!(
            errors[0].message.contains("no `prompt`"),
            "{}",
            errors[0].message
        );
        let (records, errors) = parse("prompt,prompt\nq,a\n", InputFormat::Csv, Split::Train);
        assert!(records.is_empty());
        assert_eq!(
            (errors[0].line, errors[0].field.as_deref()),
            (1, Some("prompt"))
        );
    }

    #[test]
    fn a_csv_quote_left_open_is_a_bad_line_not_one_long_cell() {
        let (records, errors) = parse(
            "prompt,completion\nfine,yes\n\"open,no\nlater,row\n",
            InputFormat::Csv,
            Split::Train,
        );
        assert_eq!(records.len(), 1, "{records:?}");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 3);
        assert!(
            errors[0].message.contains("never closed"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn text_files_give_one_prompt_per_non_empty_line() {
        let (records, errors) = parse(
            "\u{feff}first\n\n  \nsecond\r\n",
            InputFormat::Text,
            Split::Train,
        );
        assert!(errors.is_empty());
        let texts: Vec<(usize, &str)> = records
            .iter()
            .map(|(l, r)| (*l, r.prompt().text.as_str()))
            .collect();
        assert_eq!(texts, vec![(1, "first"), (4, "second")]);
    }

    #[test]
    fn devices_and_overlong_files_are_refused_before_reading() {
        let err = Records::open(
            Path::new("/dev/zero"),
            InputFormat::Jsonl,
            Split::Train,
            1 << 20,
        )
        .err()
        .expect("a device is refused");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        std::fs::write(&path, "a\n".repeat(100)).unwrap();
        let err = Records::open(&path, InputFormat::Text, Split::Train, 10)
            .err()
            .expect("over the limit");
        assert!(
            matches!(
                err,
                CoreError::Import(ImportError::TooLarge {
                    bytes: 200,
                    limit: 10,
                    ..
                })
            ),
            "{err:?}"
        );
    }

    #[test]
    fn invalid_utf8_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.txt");
        std::fs::write(&path, b"ok\nfine\nbad \xff here\n").unwrap();
        let result: Result<Vec<Item>> =
            Records::open(&path, InputFormat::Text, Split::Train, 1 << 20)
                .unwrap()
                .collect();
        let err = result.expect_err("not UTF-8");
        assert!(
            matches!(
                err,
                CoreError::Import(ImportError::NotUtf8 { line: 3, ref at, .. }) if at == "byte 5"
            ),
            "{err:?}"
        );
    }
}
