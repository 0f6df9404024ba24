use std::path::Path;

use hone_core::dataset::{SnapshotFilter, TrlFormat};
use hone_core::export::{trl_jsonl, write_atomically};
use hone_core::feedback::FeedbackKind;
use hone_core::import::ImportOptions;
use hone_core::store::judgments::SpanMark;
use hone_core::store::prompts::{ChatMessage, NewPrompt};
use hone_core::store::responses::NewResponse;
use hone_core::{Choice, Hone, ProjectId, ResponseSource, Split};

use crate::{compare, input, judge, open, project, prompt_with, record};

/// A chat prompt with model responses.
async fn chat_prompt(
    hone: &Hone,
    p: ProjectId,
    messages: &[(&str, &str)],
    answers: &[&str],
) -> (hone_core::PromptId, Vec<hone_core::ResponseId>) {
    let messages: Vec<ChatMessage> = messages
        .iter()
        .map(|(r, c)| ChatMessage {
            role: (*r).into(),
            content: (*c).into(),
        })
        .collect();
    let text = messages
        .iter()
        .rev()
        .find(|m| m.role == "user")
        .unwrap()
        .content
        .clone();
    let prompt = hone
        .add_prompt(
            p,
            &NewPrompt {
                text,
                messages: Some(messages),
                split: Split::Train,
                tags: vec![],
            },
        )
        .await
        .unwrap();
    let mut ids = Vec::new();
    for a in answers {
        ids.push(
            hone.add_response(&NewResponse::new(prompt.id, *a, ResponseSource::Model))
                .await
                .unwrap()
                .id,
        );
    }
    (prompt.id, ids)
}

/// A project whose judgments make rows of all three formats, with string and chat prompts,
/// and texts that need escaping.
async fn rich_project(hone: &Hone) -> ProjectId {
    let p = project(hone, "law").await;
    let (text_prompt, t) = prompt_with(
        hone,
        p,
        "Is a \"verbal\" contract binding?\nAnswer briefly.",
        &["Yes — usually.", "No.", "Only in writing.", "It depends ✓"],
    )
    .await;
    let (chat, c) = chat_prompt(
        hone,
        p,
        &[
            ("system", "You are a careful lawyer."),
            ("user", "Can I break a lease?"),
            ("assistant", "Which country?"),
            ("user", "France."),
        ],
        &["Yes, with notice.", "Never.", "Ask a notary."],
    )
    .await;
    let (_, c2) = chat_prompt(
        hone,
        p,
        &[("user", "Define tort.")],
        &["A civil wrong.", "A cake."],
    )
    .await;

    // Preferences: a ranking, comparisons either side, an edit (pair + SFT).
    judge(
        hone,
        p,
        "alice",
        FeedbackKind::Ranking {
            ranked: vec![t[3], t[0], t[2]],
        },
    )
    .await;
    judge(hone, p, "alice", compare(c[1], c[0], Choice::B)).await;
    judge(hone, p, "bob", compare(c2[0], c2[1], Choice::A)).await;
    judge(
        hone,
        p,
        "bob",
        FeedbackKind::Edit {
            response_id: c[2],
            corrected: "Ask a notary, or a lawyer.".into(),
        },
    )
    .await;
    // SFT: demonstrations on both kinds of prompt.
    judge(
        hone,
        p,
        "alice",
        FeedbackKind::Demonstration {
            prompt_id: text_prompt,
            text: "Generally yes;\n\"some\" exceptions.".into(),
        },
    )
    .await;
    judge(
        hone,
        p,
        "alice",
        FeedbackKind::Demonstration {
            prompt_id: chat,
            text: "Yes: give three months' notice.".into(),
        },
    )
    .await;
    // KTO: thumbs, ratings, spans, both bad.
    judge(
        hone,
        p,
        "carol",
        FeedbackKind::Thumbs {
            response_id: t[1],
            up: false,
        },
    )
    .await;
    judge(
        hone,
        p,
        "carol",
        FeedbackKind::Rating {
            response_id: c[0],
            scores: [("overall".to_string(), 6)].into(),
        },
    )
    .await;
    judge(
        hone,
        p,
        "carol",
        FeedbackKind::Span {
            response_id: c2[1],
            spans: vec![SpanMark {
                start: 2,
                end: 6,
                label: "factual_error".into(),
                note: Some("not a cake".into()),
            }],
        },
    )
    .await;
    let (_, bb) = prompt_with(
        hone,
        p,
        "Summarise Article 1134.",
        &["Contracts are law.", "I cannot."],
    )
    .await;
    judge(hone, p, "carol", compare(bb[0], bb[1], Choice::BothBad)).await;
    let mut critique = input(p, "carol", FeedbackKind::Critique { response_id: t[0] });
    critique.critique = Some("no sources".into());
    record(hone, &critique).await;
    p
}

/// The names in `dir` (files and folders), sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn export_import_export_is_byte_identical_for_every_format() {
    let a = open().await;
    let p = rich_project(&a).await;
    let (snapshot, data) = a
        .freeze_snapshot(p, &SnapshotFilter::default())
        .await
        .unwrap();
    assert!(
        data.preferences.len() >= 5 && data.sft.len() == 3 && data.kto.len() >= 4,
        "rows of every format: {data:#?}"
    );
    let out = a.dir.path().join("exports");

    for format in TrlFormat::ALL {
        let first = out.join(format!("{}.jsonl", format.as_str()));
        let report = a
            .export_snapshot(snapshot.id, format, &first)
            .await
            .unwrap();
        let bytes = std::fs::read(&first).unwrap();
        assert_eq!(
            bytes,
            trl_jsonl(&data, format).into_bytes(),
            "{format:?}: the file is the snapshot's canonical JSONL"
        );
        assert_eq!(
            report.rows,
            bytes.iter().filter(|&&b| b == b'\n').count(),
            "{format:?}: one row per line"
        );
        assert!(report.rows > 0, "{format:?}: something to round-trip");
        let text = String::from_utf8(bytes.clone()).unwrap();
        // The snapshot holds plain and chat prompts; TRL refuses a file that mixes the two
        // forms, so every row is conversational, a plain prompt as one user message.
        let chat_form = match format {
            TrlFormat::Sft => "{\"messages\":[",
            _ => "{\"prompt\":[",
        };
        assert!(
            text.lines().all(|line| line.starts_with(chat_form)),
            "{format:?}: one form, conversational:\n{text}"
        );
        let plain = data
            .preferences
            .iter()
            .find(|r| r.prompt.messages.is_none())
            .unwrap();
        assert!(
            text.contains(&format!(
                "{{\"role\":\"user\",\"content\":{}}}",
                serde_json::to_string(&plain.prompt.text).unwrap()
            )) || format != TrlFormat::Preference,
            "a plain prompt becomes one user message:\n{text}"
        );

        // Into a new workspace, and out again.
        let b = open().await;
        let q = project(&b, "imported").await;
        let imported = b
            .import_file(q, &first, &ImportOptions::default())
            .await
            .unwrap();
        assert!(imported.skipped.is_empty());
        assert_eq!(imported.records, report.rows);
        let (snapshot_b, _) = b
            .freeze_snapshot(q, &SnapshotFilter::default())
            .await
            .unwrap();
        let second = b.dir.path().join(format!("{}.jsonl", format.as_str()));
        b.export_snapshot(snapshot_b.id, format, &second)
            .await
            .unwrap();
        let again = std::fs::read(&second).unwrap();
        assert!(
            again == bytes,
            "{format:?}: export → import → export must be byte-identical\nfirst:\n{}\nsecond:\n{}",
            text,
            String::from_utf8_lossy(&again)
        );
        // The other formats of the re-imported data are empty: an import keeps the file's kind.
        for other in TrlFormat::ALL.into_iter().filter(|f| *f != format) {
            let path = b.dir.path().join(format!("other-{}.jsonl", other.as_str()));
            assert_eq!(
                b.export_snapshot(snapshot_b.id, other, &path)
                    .await
                    .unwrap()
                    .rows,
                0,
                "{format:?} → {other:?}"
            );
        }
    }
    assert_eq!(
        listing(&out),
        vec!["kto.jsonl", "preference.jsonl", "sft.jsonl"],
        "no temporary file is left beside the exports"
    );
}

#[tokio::test]
async fn exports_replace_files_atomically_and_create_folders() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(&ws, p, "Q", &["a", "b"]).await;
    judge(&ws, p, "alice", compare(r[0], r[1], Choice::A)).await;
    let (snapshot, _) = ws
        .freeze_snapshot(p, &SnapshotFilter::default())
        .await
        .unwrap();

    let dir = ws.dir.path().join("deep/er");
    let path = dir.join("prefs.jsonl");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        &path,
        "old content that is longer than the new one, and must go entirely\n",
    )
    .unwrap();
    let report = ws
        .export_snapshot(snapshot.id, TrlFormat::Preference, &path)
        .await
        .unwrap();
    assert_eq!(report.rows, 1);
    assert_eq!(
        (report.snapshot_id, report.format, report.path.as_path()),
        (snapshot.id, TrlFormat::Preference, path.as_path())
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "{\"prompt\":\"Q\",\"chosen\":\"a\",\"rejected\":\"b\"}\n",
        "replaced whole"
    );
    assert_eq!(
        listing(&dir),
        vec!["prefs.jsonl"],
        "no temporary file is left behind"
    );

    // An empty format writes an empty file.
    let sft = ws.dir.path().join("new/folder/sft.jsonl");
    assert_eq!(
        ws.export_snapshot(snapshot.id, TrlFormat::Sft, &sft)
            .await
            .unwrap()
            .rows,
        0
    );
    assert_eq!(
        std::fs::read(&sft).unwrap(),
        b"",
        "an empty format is an empty file"
    );
    assert_eq!(listing(sft.parent().unwrap()), vec!["sft.jsonl"]);

    write_atomically(&dir.join("x.txt"), b"x").unwrap();
    assert_eq!(listing(&dir), vec!["prefs.jsonl", "x.txt"]);

    // Writing over a folder fails and leaves no temporary file.
    let err = write_atomically(&dir, b"x").unwrap_err();
    assert!(matches!(err, hone_core::CoreError::Io { .. }), "{err:?}");
    assert_eq!(listing(&dir), vec!["prefs.jsonl", "x.txt"]);
    assert_eq!(
        listing(&ws.dir.path().join("deep")),
        vec!["er"],
        "a failed write leaves no temporary file"
    );
    assert!(matches!(
        ws.export_snapshot(hone_core::SnapshotId(99), TrlFormat::Kto, &path)
            .await,
        Err(hone_core::CoreError::NotFound { .. })
    ));
}

/// An export is an ordinary file: readable like any other the user writes, not owner-only like a
/// temporary file.
#[cfg(unix)]
#[test]
fn an_atomic_write_has_the_permissions_of_a_plain_write() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::TempDir::new().unwrap();
    let plain = dir.path().join("plain.jsonl");
    std::fs::write(&plain, b"{}\n").unwrap();
    let atomic = dir.path().join("atomic.jsonl");
    write_atomically(&atomic, b"{}\n").unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(
        format!("{:o}", mode(&atomic)),
        format!("{:o}", mode(&plain)),
        "same mode as std::fs::write gives"
    );
}
