//! Reading a file and turning its lines into records, with every problem located.

use std::io::Read;
use std::path::Path;

use hone_store::prompts::NewPrompt;
use hone_store::Split;
use serde_json::{Map, Value};

use super::record::{classify, Record};
use super::{ImportError, InputFormat, LineError};
use crate::{CoreError, Result};

/// Reads the file as UTF-8 text, refusing one over `max_bytes`, empty, or not UTF-8.
pub(crate) fn read_checked(path: &Path, max_bytes: u64) -> Result<String> {
    let unreadable = |e: std::io::Error| ImportError::Unreadable {
        path: path.to_owned(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(unreadable)?;
    if file.metadata().map_err(unreadable)?.is_dir() {
        return Err(ImportError::Unreadable {
            path: path.to_owned(),
            message: "it is a folder".into(),
        }
        .into());
    }
    let bytes = file.metadata().map_err(CoreError::io(path))?.len();
    if bytes > max_bytes {
        return Err(ImportError::TooLarge {
            path: path.to_owned(),
            bytes,
            limit: max_bytes,
        }
        .into());
    }
    let mut data = Vec::with_capacity(bytes as usize);
    // Read at most one byte past the limit, in case the file grows while we read.
    file.take(max_bytes + 1)
        .read_to_end(&mut data)
        .map_err(CoreError::io(path))?;
    if data.len() as u64 > max_bytes {
        return Err(ImportError::TooLarge {
            path: path.to_owned(),
            bytes: data.len() as u64,
            limit: max_bytes,
        }
        .into());
    }
    let text = String::from_utf8(data).map_err(|e| {
        let byte = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..byte].iter().filter(|&&b| b == b'\n').count() + 1;
        ImportError::NotUtf8 {
            path: path.to_owned(),
            line,
            byte,
        }
    })?;
    let text = text
        .strip_prefix('\u{feff}')
        .map(str::to_owned)
        .unwrap_or(text);
    if text.trim().is_empty() {
        return Err(ImportError::Empty {
            path: path.to_owned(),
        }
        .into());
    }
    Ok(text)
}

/// Parses every line; returns the good records (with their line numbers) and the bad lines.
pub(crate) fn parse(
    text: &str,
    format: InputFormat,
    split: Split,
) -> (Vec<(usize, Record)>, Vec<LineError>) {
    match format {
        InputFormat::Jsonl => parse_jsonl(text, split),
        InputFormat::Csv => parse_csv(text, split),
        InputFormat::Text => (parse_text(text, split), Vec::new()),
    }
}

fn parse_jsonl(text: &str, split: Split) -> (Vec<(usize, Record)>, Vec<LineError>) {
    let (mut records, mut errors) = (Vec::new(), Vec::new());
    for (i, line) in text.lines().enumerate() {
        let number = i + 1;
        if line.trim().is_empty() {
            continue;
        }
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
            Ok(record) => records.push((number, record)),
            Err(e) => errors.push(e),
        }
    }
    (records, errors)
}

fn parse_csv(text: &str, split: Split) -> (Vec<(usize, Record)>, Vec<LineError>) {
    let (mut records, mut errors) = (Vec::new(), Vec::new());
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|s| s.trim().to_owned()).collect(),
        Err(e) => {
            return (
                records,
                vec![LineError {
                    line: 1,
                    field: None,
                    message: format!("unreadable CSV header: {e}"),
                }],
            )
        }
    };
    if !headers
        .iter()
        .any(|h| matches!(h.as_str(), "prompt" | "text" | "messages"))
    {
        let message = format!(
            "the header ({}) has no `prompt`, `text` or `messages` column",
            headers.join(", ")
        );
        return (
            records,
            vec![LineError {
                line: 1,
                field: None,
                message,
            }],
        );
    }
    for row in reader.records() {
        let row = match row {
            Ok(row) => row,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                errors.push(LineError {
                    line,
                    field: None,
                    message: format!("unreadable CSV row: {e}"),
                });
                continue;
            }
        };
        let number = row.position().map_or(0, |p| p.line() as usize);
        if row.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        let mut object = Map::new();
        let mut bad_cell = None;
        for (header, cell) in headers.iter().zip(row.iter()) {
            if cell.is_empty() {
                continue;
            }
            // A conversation in a CSV cell is written as its JSON list.
            let value = if header == "messages" {
                match serde_json::from_str(cell) {
                    Ok(v) => v,
                    Err(e) => {
                        bad_cell = Some(LineError {
                            line: number,
                            field: Some("messages".into()),
                            message: format!("must be a JSON list of messages: {e}"),
                        });
                        break;
                    }
                }
            } else {
                Value::String(cell.to_owned())
            };
            object.insert(header.clone(), value);
        }
        // A blank label cell beside a completion is a missing label (as `"label": null` is in
        // JSONL), not a row without one: a KTO row must not turn into an SFT demonstration.
        if headers.iter().any(|h| h == "label") && object.contains_key("completion") {
            object.entry("label").or_insert(Value::Null);
        }
        match bad_cell.map_or_else(|| classify(number, &object, split), Err) {
            Ok(record) => records.push((number, record)),
            Err(e) => errors.push(e),
        }
    }
    (records, errors)
}

fn parse_text(text: &str, split: Split) -> Vec<(usize, Record)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let prompt = NewPrompt {
                text: line.trim_end_matches('\r').to_owned(),
                messages: None,
                split,
                tags: Vec::new(),
            };
            (i + 1, Record::Prompt { prompt })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        );
        let (records, errors) = parse(text, InputFormat::Jsonl, Split::Train);
        assert!(records.is_empty(), "every line is bad");
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
                (6, None)
            ]
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
    fn csv_without_a_prompt_column_is_refused_at_the_header() {
        let (records, errors) = parse("question,answer\nq,a\n", InputFormat::Csv, Split::Train);
        assert!(records.is_empty());
        assert_eq!(errors[0].line, 1);
        assert!(
            errors[0].message.contains("no `prompt`"),
            "{}",
            errors[0].message
        );
    }

    #[test]
    fn text_files_give_one_prompt_per_non_empty_line() {
        let (records, errors) = parse("first\n\n  \nsecond\r\n", InputFormat::Text, Split::Train);
        assert!(errors.is_empty());
        let texts: Vec<(usize, &str)> = records
            .iter()
            .map(|(l, r)| (*l, r.prompt().text.as_str()))
            .collect();
        assert_eq!(texts, vec![(1, "first"), (4, "second")]);
    }
}
