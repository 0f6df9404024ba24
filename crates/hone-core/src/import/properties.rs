//! Property tests of the importers' parsing (issue 17): any bytes in any format give records
//! or errors that name a line of the file, never a panic; and what a TRL-format writer writes
//! (serde_json for JSONL, the csv crate for CSV) reads back as the same records: preference,
//! SFT (prompt-completion and conversational) and KTO rows.

use proptest::prelude::*;

use super::read_back::{line_outside_the_file, read_bytes};
use super::{InputFormat, Record};

/// Every item of `bytes` read as `format`: records and line errors, then whether a
/// whole-file error ended the reading.
fn read(bytes: &[u8], format: InputFormat) -> (Vec<(usize, Record)>, Vec<usize>, bool) {
    let reading = read_bytes(bytes, format);
    (reading.records, reading.bad_lines, reading.failed)
}

/// Bytes that look like the formats often enough to reach their deeper paths.
fn file_bytes() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        "\"",
        ":",
        ",",
        "\n",
        "\r\n",
        "\\",
        "\"prompt\"",
        "\"chosen\"",
        "\"rejected\"",
        "\"completion\"",
        "\"label\"",
        "\"messages\"",
        "\"role\"",
        "\"user\"",
        "\"assistant\"",
        "\"content\"",
        "true",
        "null",
        "1e999",
        "prompt,chosen,rejected\n",
        "a",
        " ",
        "é",
        "\u{0}",
        "\u{202e}",
    ]);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        prop::collection::vec(pieces, 0..120).prop_map(|p| p.concat().into_bytes()),
    ]
}

/// Text a person could have written: quotes, commas, escapes, non-ASCII and inner newlines,
/// with at least one visible character.
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 ,;\"'\\\\é中\n]{0,24}[a-zA-Z中]".prop_map(|s| s.trim_start().to_string())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_give_records_or_errors_that_name_a_line(bytes in file_bytes()) {
        for format in [InputFormat::Jsonl, InputFormat::Csv, InputFormat::Text] {
            let reading = read_bytes(&bytes, format);
            let outside = line_outside_the_file(&bytes, &reading);
            prop_assert!(outside.is_none(), "{format:?}: {outside:?}");
        }
    }

    #[test]
    fn preference_rows_written_as_jsonl_read_back_the_same(
        rows in prop::collection::vec(
            // The importer refuses a pair whose answers are the same (tested below).
            (text(), text(), text()).prop_filter("two different answers", |(_, c, r)| c != r),
            1..12,
        )
    ) {
        let jsonl: String = rows
            .iter()
            .map(|(p, c, r)| {
                serde_json::json!({ "prompt": p, "chosen": c, "rejected": r }).to_string() + "\n"
            })
            .collect();
        let (records, bad_lines, failed) = read(jsonl.as_bytes(), InputFormat::Jsonl);
        prop_assert!(bad_lines.is_empty() && !failed, "bad lines {bad_lines:?}");
        prop_assert_eq!(records.len(), rows.len());
        for (i, ((line, record), (p, c, r))) in records.iter().zip(&rows).enumerate() {
            prop_assert_eq!(*line, i + 1);
            match record {
                Record::Preference { prompt, chosen, rejected } => {
                    prop_assert_eq!(&prompt.text, p);
                    prop_assert_eq!((chosen, rejected), (c, r));
                }
                other => prop_assert!(false, "line {line}: {other:?}"),
            }
        }
    }

    #[test]
    fn sft_rows_written_as_csv_read_back_the_same(
        rows in prop::collection::vec((text(), text()), 1..12)
    ) {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(["prompt", "completion"]).unwrap();
        for (p, c) in &rows {
            writer.write_record([p, c]).unwrap();
        }
        let bytes = writer.into_inner().unwrap();
        let (records, bad_lines, failed) = read(&bytes, InputFormat::Csv);
        prop_assert!(bad_lines.is_empty() && !failed, "bad lines {bad_lines:?}");
        prop_assert_eq!(records.len(), rows.len());
        for ((_, record), (p, c)) in records.iter().zip(&rows) {
            match record {
                Record::Sft { prompt, completion } => {
                    prop_assert_eq!(&prompt.text, p);
                    prop_assert_eq!(completion, c);
                }
                other => prop_assert!(false, "{other:?}"),
            }
        }
    }
}

/// A conversation TRL's conversational SFT rows hold: an optional system message, then user
/// and assistant turns that alternate, ending with the assistant's answer.
fn conversation() -> impl Strategy<Value = Vec<(String, String)>> {
    (
        prop::option::of(text()),
        prop::collection::vec((text(), text()), 1..4),
    )
        .prop_map(|(system, turns)| {
            let mut messages: Vec<(String, String)> =
                system.map(|s| ("system".into(), s)).into_iter().collect();
            for (user, assistant) in turns {
                messages.push(("user".into(), user));
                messages.push(("assistant".into(), assistant));
            }
            messages
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn kto_rows_written_as_jsonl_read_back_the_same(
        rows in prop::collection::vec((text(), text(), any::<bool>()), 1..12)
    ) {
        let jsonl: String = rows
            .iter()
            .map(|(p, c, l)| {
                serde_json::json!({ "prompt": p, "completion": c, "label": l }).to_string() + "\n"
            })
            .collect();
        let (records, bad_lines, failed) = read(jsonl.as_bytes(), InputFormat::Jsonl);
        prop_assert!(bad_lines.is_empty() && !failed, "bad lines {bad_lines:?}");
        prop_assert_eq!(records.len(), rows.len());
        for ((_, record), (p, c, l)) in records.iter().zip(&rows) {
            match record {
                Record::Kto { prompt, completion, label } => {
                    prop_assert_eq!(&prompt.text, p);
                    prop_assert_eq!((completion, label), (c, l));
                }
                other => prop_assert!(false, "{other:?}"),
            }
        }
    }

    #[test]
    fn conversations_written_as_jsonl_read_back_as_their_turns_and_answer(
        rows in prop::collection::vec(conversation(), 1..8)
    ) {
        let jsonl: String = rows
            .iter()
            .map(|messages| {
                let messages: Vec<_> = messages
                    .iter()
                    .map(|(role, content)| serde_json::json!({ "role": role, "content": content }))
                    .collect();
                serde_json::json!({ "messages": messages }).to_string() + "\n"
            })
            .collect();
        let (records, bad_lines, failed) = read(jsonl.as_bytes(), InputFormat::Jsonl);
        prop_assert!(bad_lines.is_empty() && !failed, "bad lines {bad_lines:?}");
        prop_assert_eq!(records.len(), rows.len());
        for ((_, record), messages) in records.iter().zip(&rows) {
            let (answer, turns) = messages.split_last().expect("an answer");
            match record {
                Record::Sft { prompt, completion } => {
                    prop_assert_eq!(completion, &answer.1);
                    let read: Vec<(String, String)> = prompt
                        .messages
                        .iter()
                        .flatten()
                        .map(|m| (m.role.clone(), m.content.clone()))
                        .collect();
                    prop_assert_eq!(&read, &turns.to_vec());
                    // The prompt shown is the last user message.
                    let last_user = turns.iter().rev().find(|m| m.0 == "user").expect("a user turn");
                    prop_assert_eq!(&prompt.text, &last_user.1);
                }
                other => prop_assert!(false, "{other:?}"),
            }
        }
    }
}

#[test]
fn a_pair_whose_answers_are_the_same_is_a_bad_line() {
    // The case proptest found (committed in proptest-regressions/): refused, not imported.
    let jsonl = "{\"prompt\": \"a\", \"chosen\": \"中\", \"rejected\": \"中\"}\n";
    let (records, bad_lines, _) = read(jsonl.as_bytes(), InputFormat::Jsonl);
    assert!(records.is_empty());
    assert_eq!(bad_lines, vec![1]);
}
