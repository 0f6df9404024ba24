use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hone_core::dataset::SnapshotFilter;
use hone_core::import::{ImportError, ImportOptions, ImportReport, InputFormat, LineError};
use hone_core::store::judgments::{self, JudgmentBody};
use hone_core::store::prompts::{ChatMessage, Prompt};
use hone_core::store::{annotators, responses};
use hone_core::{
    AnnotatorKind, Choice, CoreError, Hone, JudgmentKind, ProjectId, ResponseSource, Split,
};

use crate::{count_rows, fixture, open, project, Ws};

async fn import(hone: &Hone, p: ProjectId, path: &Path) -> ImportReport {
    hone.import_file(p, path, &ImportOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{} must import: {e}", path.display()))
}

fn judgments_of(kind: JudgmentKind, n: usize) -> BTreeMap<JudgmentKind, usize> {
    BTreeMap::from([(kind, n)])
}

fn msg(role: &str, content: &str) -> ChatMessage {
    ChatMessage {
        role: role.into(),
        content: content.into(),
    }
}

/// Everything an import can write, to check that a refused one wrote nothing.
async fn counts(hone: &Hone) -> [i64; 5] {
    [
        count_rows(hone, "prompts").await,
        count_rows(hone, "responses").await,
        count_rows(hone, "judgments").await,
        count_rows(hone, "annotators").await,
        count_rows(hone, "prompt_tags").await,
    ]
}

/// A file with these bytes in the workspace's temporary folder.
fn write(ws: &Ws, name: &str, bytes: &[u8]) -> PathBuf {
    let path = ws.dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test]
async fn prompts_import_from_jsonl() {
    let ws = open().await;
    let p = project(&ws, "science").await;
    let report = import(&ws, p, &fixture("prompts.jsonl")).await;
    assert_eq!(
        (
            report.records,
            report.prompts_created,
            report.prompts_existing
        ),
        (3, 3, 0),
        "{report:?}"
    );
    assert_eq!(
        (
            report.responses_created,
            report.judgments.len(),
            report.skipped.len()
        ),
        (0, 0, 0),
        "prompts alone"
    );
    assert_eq!(report.path, fixture("prompts.jsonl"));
    let prompts = ws.list_prompts(p, None).await.unwrap();
    let texts: Vec<_> = prompts.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(
        texts,
        vec![
            "What is the boiling point of water at sea level?",
            "Name the largest planet.",
            "Define entropy."
        ]
    );
    assert_eq!(prompts[0].tags, vec!["physics", "units"]);
    assert_eq!(prompts[0].split, Split::Train, "the default split");
    assert_eq!(prompts[1].split, Split::Heldout, "a line's own split wins");
    assert_eq!(
        prompts[2].messages,
        Some(vec![
            msg("system", "You are terse."),
            msg("user", "Define entropy.")
        ])
    );
    assert_eq!(count_rows(&ws, "judgments").await, 0);
}

#[tokio::test]
async fn reimporting_a_file_finds_its_prompts_instead_of_duplicating_them() {
    let ws = open().await;
    let p = project(&ws, "science").await;
    import(&ws, p, &fixture("prompts.jsonl")).await;
    let again = import(&ws, p, &fixture("prompts.jsonl")).await;
    assert_eq!(
        (again.prompts_created, again.prompts_existing),
        (0, 3),
        "the same prompts are found again"
    );
    assert_eq!(
        count_rows(&ws, "prompts").await,
        3,
        "no prompt is duplicated"
    );

    // Judgments too: a preference file imported twice counts its votes once.
    let prefs = import(&ws, p, &fixture("preference_string.jsonl")).await;
    let judged = count_rows(&ws, "judgments").await;
    let again = import(&ws, p, &fixture("preference_string.jsonl")).await;
    assert!(
        again.judgments.is_empty(),
        "nothing new is recorded: {:?}",
        again.judgments
    );
    assert_eq!(
        again.judgments_existing,
        prefs.judgments.values().sum::<usize>(),
        "every judgment is found again"
    );
    assert_eq!(again.responses_created, 0);
    assert_eq!(
        count_rows(&ws, "judgments").await,
        judged,
        "no judgment is duplicated"
    );

    // Another project is another namespace.
    let q = project(&ws, "other").await;
    assert_eq!(
        import(&ws, q, &fixture("prompts.jsonl"))
            .await
            .prompts_created,
        3
    );
}

#[tokio::test]
async fn prompts_import_from_csv_and_text() {
    let ws = open().await;
    let p = project(&ws, "science").await;
    let report = import(&ws, p, &fixture("prompts.csv")).await;
    assert_eq!((report.records, report.prompts_created), (2, 2));
    let prompts = ws.list_prompts(p, None).await.unwrap();
    assert_eq!(prompts[0].text, "What is a mole in chemistry?");
    assert_eq!(
        prompts[0].tags,
        vec!["chemistry", "units"],
        "CSV tags are separated by ';'"
    );
    assert_eq!(
        (prompts[0].split, prompts[1].split),
        (Split::Train, Split::Heldout)
    );
    assert_eq!(
        prompts[1].text, "Explain, briefly,\nosmosis.",
        "a quoted cell keeps its comma and newline"
    );

    let options = ImportOptions {
        split: Split::Heldout,
        ..ImportOptions::default()
    };
    let report = ws
        .import_file(p, &fixture("prompts.txt"), &options)
        .await
        .unwrap();
    assert_eq!(
        (report.records, report.prompts_created),
        (2, 2),
        "one prompt per non-empty line"
    );
    let held: Vec<_> = ws
        .list_prompts(p, Some(Split::Heldout))
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.text)
        .collect();
    assert_eq!(
        held,
        vec![
            "Explain, briefly,\nosmosis.",
            "First question?",
            "Second question?"
        ],
        "the options' split applies"
    );

    // A byte-order mark is not part of the first prompt.
    let path = write(&ws, "bom.txt", "\u{feff}With a BOM?\n".as_bytes());
    ws.import_file(p, &path, &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(
        ws.list_prompts(p, None).await.unwrap().last().unwrap().text,
        "With a BOM?"
    );

    // The format can be given when the extension says nothing.
    let path = write(&ws, "questions.data", b"Third question?\r\n");
    let options = ImportOptions {
        format: Some(InputFormat::Text),
        ..ImportOptions::default()
    };
    ws.import_file(p, &path, &options).await.unwrap();
    assert_eq!(
        ws.list_prompts(p, None).await.unwrap().last().unwrap().text,
        "Third question?",
        "CRLF is not part of the text"
    );
}

async fn responses_of(hone: &Hone, prompt: &Prompt) -> Vec<(String, ResponseSource)> {
    hone.prompt_with_responses(prompt.id)
        .await
        .unwrap()
        .responses
        .into_iter()
        .map(|r| (r.text, r.source))
        .collect()
}

#[tokio::test]
async fn trl_preference_rows_import_as_comparisons_in_string_and_conversational_form() {
    let ws = open().await;
    let p = project(&ws, "geo").await;
    let report = import(&ws, p, &fixture("preference_string.jsonl")).await;
    assert_eq!(
        (
            report.records,
            report.prompts_created,
            report.prompts_existing,
            report.responses_created
        ),
        (3, 2, 1, 5),
        "{report:?}"
    );
    assert_eq!(report.judgments, judgments_of(JudgmentKind::Comparison, 3));
    let prompts = ws.list_prompts(p, None).await.unwrap();
    assert_eq!(
        responses_of(&ws, &prompts[0])
            .await
            .into_iter()
            .map(|(t, _)| t)
            .collect::<Vec<_>>(),
        vec!["Paris.", "Lyon.", "Marseille."],
        "a repeated answer is one response"
    );
    assert!(responses_of(&ws, &prompts[1])
        .await
        .iter()
        .all(|(_, s)| *s == ResponseSource::Import));

    let mut conn = ws.store().conn().await.unwrap();
    let all = judgments::list(&mut conn, p, None).await.unwrap();
    let importer = annotators::get_by_name(&mut conn, "import").await.unwrap();
    assert_eq!(
        importer.kind,
        AnnotatorKind::Import,
        "imported judgments belong to an import annotator"
    );
    for j in &all {
        assert_eq!(j.annotator_id, importer.id);
        let JudgmentBody::Comparison {
            response_a, choice, ..
        } = &j.body
        else {
            panic!("expected a comparison: {j:?}")
        };
        assert_eq!(*choice, Choice::A, "chosen is shown as A and preferred");
        assert_eq!(
            responses::get(&mut conn, *response_a)
                .await
                .unwrap()
                .text
                .as_str(),
            if j.prompt_id == prompts[0].id {
                "Paris."
            } else {
                "4"
            }
        );
    }
    drop(conn);
    let data = ws
        .training_data(p, &SnapshotFilter::default())
        .await
        .unwrap();
    let pairs: Vec<_> = data
        .preferences
        .iter()
        .map(|r| (r.chosen.as_str(), r.rejected.as_str()))
        .collect();
    assert_eq!(
        pairs,
        vec![("Paris.", "Lyon."), ("Paris.", "Marseille."), ("4", "5")]
    );

    let report = import(&ws, p, &fixture("preference_chat.jsonl")).await;
    assert_eq!((report.prompts_created, report.responses_created), (2, 4));
    assert_eq!(report.judgments, judgments_of(JudgmentKind::Comparison, 2));
    let chat = &ws.list_prompts(p, None).await.unwrap()[2];
    assert_eq!(
        chat.messages,
        Some(vec![msg("system", "Be polite."), msg("user", "Say hi.")])
    );
    assert_eq!(
        chat.text, "Say hi.",
        "a conversation's text is its last user message"
    );
    assert_eq!(
        responses_of(&ws, chat)
            .await
            .into_iter()
            .map(|(t, _)| t)
            .collect::<Vec<_>>(),
        vec!["Hi there!", "Go away."]
    );
}

#[tokio::test]
async fn trl_sft_rows_import_as_demonstrations_in_both_forms() {
    let ws = open().await;
    let p = project(&ws, "care").await;
    let report = import(&ws, p, &fixture("sft_messages.jsonl")).await;
    assert_eq!(
        (
            report.records,
            report.prompts_created,
            report.responses_created
        ),
        (2, 2, 2),
        "{report:?}"
    );
    assert_eq!(
        report.judgments,
        judgments_of(JudgmentKind::Demonstration, 2)
    );
    let prompts = ws.list_prompts(p, None).await.unwrap();
    assert_eq!(
        prompts[0].messages,
        Some(vec![
            msg("system", "Be kind."),
            msg("user", "I failed my exam.")
        ]),
        "the prompt is the conversation before the assistant's answer"
    );
    assert_eq!(
        responses_of(&ws, &prompts[0]).await,
        vec![(
            "I'm sorry. Let's plan the retake.".to_string(),
            ResponseSource::Import
        )],
        "the answer is one imported response, used by the demonstration"
    );

    let report = import(&ws, p, &fixture("sft_prompt_completion.jsonl")).await;
    assert_eq!((report.prompts_created, report.responses_created), (2, 2));
    assert_eq!(
        report.judgments,
        judgments_of(JudgmentKind::Demonstration, 2)
    );
    let prompts = ws.list_prompts(p, None).await.unwrap();
    assert_eq!(
        (prompts[2].text.as_str(), prompts[2].messages.is_none()),
        ("Spell 'necessary'.", true)
    );
    assert_eq!(
        prompts[3].messages,
        Some(vec![msg("user", "Spell 'rhythm'.")])
    );

    let data = ws
        .training_data(p, &SnapshotFilter::default())
        .await
        .unwrap();
    let sft: Vec<_> = data.sft.iter().map(|r| r.completion.as_str()).collect();
    assert_eq!(
        sft,
        vec![
            "I'm sorry. Let's plan the retake.",
            "chat",
            "n-e-c-e-s-s-a-r-y",
            "r-h-y-t-h-m"
        ]
    );
    assert_eq!(
        count_rows(&ws, "responses").await,
        4,
        "no second response is made for the demonstration"
    );
}

#[tokio::test]
async fn trl_kto_rows_import_as_thumbs() {
    let ws = open().await;
    let p = project(&ws, "geo").await;
    let options = ImportOptions {
        annotator: "legacy-labels".into(),
        ..ImportOptions::default()
    };
    let report = ws
        .import_file(p, &fixture("kto.jsonl"), &options)
        .await
        .unwrap();
    assert_eq!(
        (
            report.records,
            report.prompts_created,
            report.prompts_existing,
            report.responses_created
        ),
        (3, 2, 1, 3)
    );
    assert_eq!(report.judgments, judgments_of(JudgmentKind::Thumbs, 3));
    let mut conn = ws.store().conn().await.unwrap();
    let verdicts: Vec<bool> = judgments::list(&mut conn, p, Some(JudgmentKind::Thumbs))
        .await
        .unwrap()
        .into_iter()
        .map(|j| match j.body {
            JudgmentBody::Thumbs { up, .. } => up,
            other => panic!("expected thumbs, got {other:?}"),
        })
        .collect();
    assert_eq!(
        verdicts,
        vec![true, false, true],
        "the label is the verdict"
    );
    assert_eq!(
        annotators::get_by_name(&mut conn, "legacy-labels")
            .await
            .unwrap()
            .kind,
        AnnotatorKind::Import
    );
    drop(conn);
    let data = ws
        .training_data(p, &SnapshotFilter::default())
        .await
        .unwrap();
    let kto: Vec<_> = data
        .kto
        .iter()
        .map(|r| (r.completion.as_str(), r.label))
        .collect();
    assert_eq!(
        kto,
        vec![
            ("No, it is an oblate spheroid.", true),
            ("Yes.", false),
            ("It makes things wet.", true)
        ]
    );
}

#[tokio::test]
async fn a_file_with_one_bad_line_imports_nothing_and_names_line_and_field() {
    let ws = open().await;
    let p = project(&ws, "q").await;
    let before = counts(&ws).await;
    match ws
        .import_file(p, &fixture("one_bad_line.jsonl"), &ImportOptions::default())
        .await
    {
        Err(CoreError::Import(ImportError::BadLines {
            path,
            errors,
            total,
        })) => {
            assert_eq!(total, 1);
            assert_eq!(path, fixture("one_bad_line.jsonl"));
            assert_eq!(errors.len(), 1, "{errors:?}");
            assert_eq!(
                (errors[0].line, errors[0].field.as_deref()),
                (2, Some("rejected")),
                "line 2's rejected equals chosen"
            );
        }
        other => panic!("expected BadLines, got {other:?}"),
    }
    assert_eq!(
        counts(&ws).await,
        before,
        "a refused file writes nothing, not even its good lines"
    );

    let options = ImportOptions {
        skip_invalid: true,
        ..ImportOptions::default()
    };
    let report = ws
        .import_file(p, &fixture("one_bad_line.jsonl"), &options)
        .await
        .unwrap();
    assert_eq!(
        (
            report.records,
            report.prompts_created,
            report.responses_created
        ),
        (3, 2, 4),
        "{report:?}"
    );
    assert_eq!(report.judgments, judgments_of(JudgmentKind::Comparison, 2));
    assert_eq!(
        report
            .skipped
            .iter()
            .map(|e| (e.line, e.field.as_deref()))
            .collect::<Vec<_>>(),
        vec![(2, Some("rejected"))]
    );
    let texts: Vec<_> = ws
        .list_prompts(p, None)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.text)
        .collect();
    assert_eq!(
        texts,
        vec!["Good question one?", "Good question two?"],
        "the good lines are imported"
    );
}

#[tokio::test]
async fn a_line_the_prompt_rules_refuse_refuses_the_whole_file_unless_skipped() {
    let ws = open().await;
    let p = project(&ws, "q").await;
    let before = counts(&ws).await;
    // Line 2 parses, but its conversation's user message is blank: the prompt text is empty.
    match ws
        .import_file(p, &fixture("bad_at_write.jsonl"), &ImportOptions::default())
        .await
    {
        Err(CoreError::Import(ImportError::BadLines { errors, .. })) => {
            assert_eq!(
                errors
                    .iter()
                    .map(|e| (e.line, e.field.as_deref()))
                    .collect::<Vec<_>>(),
                vec![(2, Some("prompt"))]
            );
        }
        other => panic!("expected BadLines, got {other:?}"),
    }
    assert_eq!(
        counts(&ws).await,
        before,
        "line 1 is fine, but nothing of a refused file is written"
    );

    let options = ImportOptions {
        skip_invalid: true,
        ..ImportOptions::default()
    };
    let report = ws
        .import_file(p, &fixture("bad_at_write.jsonl"), &options)
        .await
        .unwrap();
    assert_eq!(
        (
            report.records,
            report.prompts_created,
            report.responses_created
        ),
        (2, 1, 1),
        "{report:?}"
    );
    assert_eq!(report.skipped.len(), 1);
    assert_eq!(report.skipped[0].line, 2);
    assert_eq!(
        count_rows(&ws, "prompts").await,
        1,
        "the refused line's prompt is left out alone"
    );
    assert_eq!(
        count_rows(&ws, "responses").await,
        1,
        "the refused line's response is left out alone"
    );
    assert_eq!(count_rows(&ws, "judgments").await, 1);
}

#[tokio::test]
async fn unreadable_files_are_refused_before_anything_is_written() {
    let ws = open().await;
    let p = project(&ws, "q").await;
    let before = counts(&ws).await;

    let mut bytes = b"{\"prompt\": \"fine\"}\n{\"prompt\": \"caf".to_vec();
    let bad_at = bytes.len();
    bytes.extend_from_slice(b"\xe9\"}\n");
    let path = write(&ws, "latin1.jsonl", &bytes);
    match ws.import_file(p, &path, &ImportOptions::default()).await {
        Err(CoreError::Import(ImportError::NotUtf8 { line, at, .. })) => {
            let line_start = b"{\"prompt\": \"fine\"}\n".len();
            assert_eq!(
                (line, at),
                (2, format!("byte {}", bad_at - line_start + 1)),
                "the error locates the first invalid byte in its line"
            );
        }
        other => panic!("expected NotUtf8, got {other:?}"),
    }

    for (name, content) in [
        ("empty.jsonl", &b""[..]),
        ("blank.txt", &b"\n  \n\t\n"[..]),
        ("bom.csv", &b"\xef\xbb\xbf\n"[..]),
    ] {
        let path = write(&ws, name, content);
        match ws.import_file(p, &path, &ImportOptions::default()).await {
            Err(CoreError::Import(ImportError::Empty { path: e })) => assert_eq!(e, path),
            other => panic!("{name}: expected Empty, got {other:?}"),
        }
    }

    let path = write(&ws, "big.txt", b"0123456789\n");
    let small = ImportOptions {
        max_bytes: 10,
        ..ImportOptions::default()
    };
    match ws.import_file(p, &path, &small).await {
        Err(CoreError::Import(ImportError::TooLarge { bytes, limit, .. })) => {
            assert_eq!((bytes, limit), (11, 10))
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }

    let path = write(&ws, "prompts.xlsx", b"prompt\nq\n");
    assert!(matches!(
        ws.import_file(p, &path, &ImportOptions::default()).await,
        Err(CoreError::Import(ImportError::UnknownFormat { .. }))
    ));
    let path = write(&ws, "README", b"q\n");
    assert!(
        matches!(
            ws.import_file(p, &path, &ImportOptions::default()).await,
            Err(CoreError::Import(ImportError::UnknownFormat { .. }))
        ),
        "no extension, no format"
    );

    let path = write(&ws, "no_prompt.csv", b"question,answer\nq,a\n");
    match ws.import_file(p, &path, &ImportOptions::default()).await {
        Err(CoreError::Import(ImportError::BadLines { errors, .. })) => {
            assert_eq!(errors[0].line, 1, "the header is at fault")
        }
        other => panic!("expected BadLines, got {other:?}"),
    }
    let missing = ws.dir.path().join("missing.jsonl");
    match ws.import_file(p, &missing, &ImportOptions::default()).await {
        Err(CoreError::Import(ImportError::Unreadable { path, .. })) => assert_eq!(path, missing),
        other => panic!("a missing file is Unreadable, got {other:?}"),
    }
    let folder = ws.dir.path().join("folder.jsonl");
    std::fs::create_dir(&folder).unwrap();
    assert!(
        matches!(
            ws.import_file(p, &folder, &ImportOptions::default()).await,
            Err(CoreError::Import(ImportError::Unreadable { .. }))
        ),
        "a folder is Unreadable"
    );
    let anonymous = ImportOptions {
        annotator: " ".into(),
        ..ImportOptions::default()
    };
    crate::assert_invalid(
        ws.import_file(p, &fixture("prompts.jsonl"), &anonymous)
            .await,
        "annotator",
    );
    assert!(matches!(
        ws.import_file(
            ProjectId(999),
            &fixture("prompts.jsonl"),
            &ImportOptions::default()
        )
        .await,
        Err(CoreError::NotFound {
            entity: "project",
            ..
        })
    ));
    assert_eq!(
        counts(&ws).await,
        before,
        "nothing of a refused file is written"
    );
}

#[tokio::test]
async fn bad_line_errors_say_where_they_are() {
    let ws = open().await;
    let p = project(&ws, "q").await;
    let path = write(
        &ws,
        "mixed.jsonl",
        concat!(
            "{\"prompt\": \"ok\"}\n",
            "[1, 2]\n",
            "{\"prompt\": [{\"role\": \"user\", \"content\": \"q\"}], \"chosen\": \"plain\", \"rejected\": \"x\"}\n",
            "\n",
            "{\"prompt\": \"p\", \"completion\": \"c\", \"label\": \"maybe\"}\n",
        )
        .as_bytes(),
    );
    let err = ws
        .import_file(p, &path, &ImportOptions::default())
        .await
        .unwrap_err();
    assert!(
        err.is_bad_input() && err.code() == "bad_import",
        "a bad file is the user's input: {err:?}"
    );
    let message = err.to_string();
    let CoreError::Import(ImportError::BadLines { errors, .. }) = err else {
        panic!("expected BadLines")
    };
    let located: Vec<(usize, Option<&str>)> = errors
        .iter()
        .map(|e: &LineError| (e.line, e.field.as_deref()))
        .collect();
    assert_eq!(
        located,
        vec![(2, None), (3, Some("chosen")), (5, Some("label"))]
    );
    assert!(
        message.contains("line 3: field `chosen`"),
        "the message names line and field:\n{message}"
    );
}

#[tokio::test]
async fn trl_rows_import_from_csv_and_a_blank_label_is_refused() {
    let ws = open().await;
    let p = project(&ws, "sky").await;
    let report = import(&ws, p, &fixture("kto.csv")).await;
    assert_eq!(
        (
            report.records,
            report.prompts_created,
            report.prompts_existing,
            report.responses_created
        ),
        (2, 1, 1, 2)
    );
    assert_eq!(
        report.judgments,
        judgments_of(JudgmentKind::Thumbs, 2),
        "CSV KTO rows are thumbs like JSONL ones"
    );
    let before = counts(&ws).await;

    // A KTO row whose label cell is blank has no verdict: it must not become a demonstration to imitate.
    match ws
        .import_file(
            p,
            &fixture("kto_missing_label.csv"),
            &ImportOptions::default(),
        )
        .await
    {
        Err(CoreError::Import(ImportError::BadLines { errors, .. })) => {
            assert_eq!(
                errors
                    .iter()
                    .map(|e| (e.line, e.field.as_deref()))
                    .collect::<Vec<_>>(),
                vec![(3, Some("label"))]
            );
        }
        other => panic!("a blank label must be refused, got {other:?}"),
    }
    assert_eq!(counts(&ws).await, before);
    let data = ws
        .training_data(p, &SnapshotFilter::default())
        .await
        .unwrap();
    assert!(
        data.sft.is_empty(),
        "no demonstration may come from a KTO file"
    );
}
