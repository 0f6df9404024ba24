use std::collections::BTreeMap;

use hone_core::dataset::SnapshotFilter;
use hone_core::feedback::{FeedbackInput, FeedbackKind};
use hone_core::store::judgments::{JudgmentBody, SpanMark};
use hone_core::store::responses;
use hone_core::{Choice, CoreError, ProjectId, PromptId, ResponseSource};

use crate::{
    assert_invalid, compare, count_rows, input, open, project, prompt_with, record,
    stored_judgment, Ws,
};

/// A project (`law`, default scale 1–7 and criterion `overall`) with prompt P (responses r[0..4])
/// and prompt Q (response q), and a second project with prompt O (response o).
struct Fixture {
    ws: Ws,
    p: ProjectId,
    r: Vec<hone_core::ResponseId>,
    q: hone_core::ResponseId,
    other_project: ProjectId,
    o: hone_core::ResponseId,
}

async fn fixture() -> Fixture {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(
        &ws,
        p,
        "Is a verbal contract binding?",
        &[
            "Yes, usually.",
            "No, never.",
            "Only for land.",
            "It depends on the jurisdiction.",
        ],
    )
    .await;
    let (_, q) = prompt_with(&ws, p, "What is tort law?", &["Civil wrongs."]).await;
    let other_project = project(&ws, "medicine").await;
    let (_, o) = prompt_with(
        &ws,
        other_project,
        "What is a fever?",
        &["A raised temperature."],
    )
    .await;
    Fixture {
        ws,
        p,
        r,
        q: q[0],
        other_project,
        o: o[0],
    }
}

fn span(start: i64, end: i64, label: &str) -> SpanMark {
    SpanMark {
        start,
        end,
        label: label.into(),
        note: None,
    }
}

fn scores(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Asserts that `feedback` is refused as Invalid naming `field`, and that nothing was written.
async fn refused(f: &Fixture, feedback: FeedbackInput, field: &str) {
    let (judgments, responses, annotators) = (
        count_rows(&f.ws, "judgments").await,
        count_rows(&f.ws, "responses").await,
        count_rows(&f.ws, "annotators").await,
    );
    assert_invalid(f.ws.record_feedback(&feedback).await, field);
    assert_eq!(
        count_rows(&f.ws, "judgments").await,
        judgments,
        "a refused judgment must not be written ({field})"
    );
    assert_eq!(
        count_rows(&f.ws, "responses").await,
        responses,
        "a refused judgment must not leave a response ({field})"
    );
    assert_eq!(
        count_rows(&f.ws, "annotators").await,
        annotators,
        "a refused judgment must not create its annotator ({field})"
    );
}

#[tokio::test]
async fn comparisons_are_validated_at_the_boundary() {
    let f = fixture().await;
    let (p, r) = (f.p, &f.r);
    refused(
        &f,
        input(p, "ann", compare(r[0], f.q, Choice::A)),
        "comparison.response_b",
    )
    .await;
    refused(
        &f,
        input(p, "ann", compare(r[0], r[0], Choice::A)),
        "comparison.response_b",
    )
    .await;
    refused(
        &f,
        input(
            p,
            "ann",
            compare(r[0], hone_core::ResponseId(9_999), Choice::A),
        ),
        "comparison.response_b",
    )
    .await;
    refused(
        &f,
        input(
            p,
            "ann",
            compare(hone_core::ResponseId(9_999), r[0], Choice::A),
        ),
        "comparison.response_a",
    )
    .await;
    let strong = |choice, strength| FeedbackKind::Comparison {
        response_a: r[0],
        response_b: r[1],
        choice,
        strength: Some(strength),
        reason: None,
    };
    refused(
        &f,
        input(p, "ann", strong(Choice::A, 4)),
        "comparison.strength",
    )
    .await;
    refused(
        &f,
        input(p, "ann", strong(Choice::B, 0)),
        "comparison.strength",
    )
    .await;
    refused(
        &f,
        input(p, "ann", strong(Choice::Tie, 2)),
        "comparison.strength",
    )
    .await;
    refused(
        &f,
        input(p, "ann", strong(Choice::BothBad, 1)),
        "comparison.strength",
    )
    .await;
    let mut wrong_order = input(p, "ann", compare(r[0], r[1], Choice::A));
    wrong_order.shown_order = vec![r[0], r[2]];
    refused(&f, wrong_order.clone(), "shown_order").await;
    wrong_order.shown_order = vec![r[0]];
    refused(&f, wrong_order.clone(), "shown_order").await;
    wrong_order.shown_order = vec![r[1], r[0], r[0]];
    refused(&f, wrong_order, "shown_order").await;
}

#[tokio::test]
async fn rankings_are_validated_at_the_boundary() {
    let f = fixture().await;
    let (p, r) = (f.p, &f.r);
    let rank = |ranked: Vec<hone_core::ResponseId>| FeedbackKind::Ranking { ranked };
    refused(
        &f,
        input(p, "ann", rank(vec![r[0], r[1]])),
        "ranking.ranked",
    )
    .await;
    refused(
        &f,
        input(p, "ann", rank(vec![r[0], r[1], r[0]])),
        "ranking.ranked[2]",
    )
    .await;
    refused(
        &f,
        input(p, "ann", rank(vec![r[0], r[1], f.q])),
        "ranking.ranked[2]",
    )
    .await;
    refused(
        &f,
        input(
            p,
            "ann",
            rank(vec![r[0], r[1], hone_core::ResponseId(9_999)]),
        ),
        "ranking.ranked[2]",
    )
    .await;
    // Not a permutation of what was shown: one response swapped for another.
    let mut shown = input(p, "ann", rank(vec![r[0], r[1], r[2]]));
    shown.shown_order = vec![r[0], r[1], r[3]];
    refused(&f, shown.clone(), "ranking.ranked").await;
    // Fewer ranked than shown.
    shown.shown_order = vec![r[3], r[2], r[1], r[0]];
    refused(&f, shown, "ranking.ranked").await;
}

#[tokio::test]
async fn single_response_kinds_are_validated_at_the_boundary() {
    let f = fixture().await;
    let (p, r) = (f.p, &f.r);
    let rating = |s: &[(&str, i64)]| FeedbackKind::Rating {
        response_id: r[0],
        scores: scores(s),
    };
    refused(
        &f,
        input(p, "ann", rating(&[("overall", 8)])),
        "rating.scores.overall",
    )
    .await;
    refused(
        &f,
        input(p, "ann", rating(&[("overall", 0)])),
        "rating.scores.overall",
    )
    .await;
    refused(
        &f,
        input(p, "ann", rating(&[("tone", 5)])),
        "rating.scores.tone",
    )
    .await;
    refused(&f, input(p, "ann", rating(&[])), "rating.scores").await;
    refused(
        &f,
        input(
            p,
            "ann",
            FeedbackKind::Rating {
                response_id: hone_core::ResponseId(9_999),
                scores: scores(&[("overall", 3)]),
            },
        ),
        "rating.response_id",
    )
    .await;

    // r[0] is "Yes, usually." (13 characters).
    let spans = |s: Vec<SpanMark>| FeedbackKind::Span {
        response_id: r[0],
        spans: s,
    };
    refused(
        &f,
        input(p, "ann", spans(vec![span(0, 14, "factual_error")])),
        "span.spans[0].end",
    )
    .await;
    refused(
        &f,
        input(p, "ann", spans(vec![span(0, 3, "rudeness")])),
        "span.spans[0].label",
    )
    .await;
    refused(
        &f,
        input(p, "ann", spans(vec![span(5, 5, "style")])),
        "span.spans[0]",
    )
    .await;
    refused(
        &f,
        input(p, "ann", spans(vec![span(6, 2, "style")])),
        "span.spans[0]",
    )
    .await;
    refused(
        &f,
        input(p, "ann", spans(vec![span(-1, 2, "style")])),
        "span.spans[0]",
    )
    .await;
    refused(
        &f,
        input(
            p,
            "ann",
            spans(vec![span(0, 3, "style"), span(0, 99, "style")]),
        ),
        "span.spans[1].end",
    )
    .await;
    // No span at all is accepted ("nothing wrong"): see tests/core/triage.rs.

    let edit = |text: &str| FeedbackKind::Edit {
        response_id: r[0],
        corrected: text.into(),
    };
    // The original unchanged is accepted ("already good"): see tests/core/triage.rs.
    refused(&f, input(p, "ann", edit("  ")), "edit.corrected").await;

    refused(
        &f,
        input(p, "ann", FeedbackKind::Critique { response_id: r[0] }),
        "critique",
    )
    .await;
    let mut blank_critique = input(p, "ann", FeedbackKind::Critique { response_id: r[0] });
    blank_critique.critique = Some("   ".into());
    refused(&f, blank_critique, "critique").await;

    refused(
        &f,
        input(
            p,
            "ann",
            FeedbackKind::Demonstration {
                prompt_id: PromptId(9_999),
                text: "x".into(),
            },
        ),
        "demonstration.prompt_id",
    )
    .await;
    refused(
        &f,
        input(
            p,
            "ann",
            FeedbackKind::Demonstration {
                prompt_id: PromptId(1),
                text: " ".into(),
            },
        ),
        "demonstration.text",
    )
    .await;

    let mut shown = input(
        p,
        "ann",
        FeedbackKind::Thumbs {
            response_id: r[0],
            up: true,
        },
    );
    shown.shown_order = vec![r[1]];
    refused(&f, shown, "shown_order").await;
}

#[tokio::test]
async fn feedback_about_another_projects_prompt_or_without_annotator_is_refused() {
    let f = fixture().await;
    let (p, r) = (f.p, &f.r);
    // The response belongs to the other project's prompt: refused as one that does not exist
    // here (nothing of the other project shows), and no corrected response stays behind.
    refused(
        &f,
        input(
            p,
            "ann",
            FeedbackKind::Thumbs {
                response_id: f.o,
                up: true,
            },
        ),
        "thumbs.response_id",
    )
    .await;
    let leak =
        f.ws.record_feedback(&input(
            p,
            "ann",
            FeedbackKind::Thumbs {
                response_id: f.o,
                up: true,
            },
        ))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        leak.contains("does not exist in project") && !leak.contains("prompt"),
        "{leak}"
    );
    refused(
        &f,
        input(
            p,
            "ann",
            FeedbackKind::Edit {
                response_id: f.o,
                corrected: "A high temperature.".into(),
            },
        ),
        "edit.response_id",
    )
    .await;
    let other_prompt = stored_prompt_of(&f, f.o).await;
    refused(
        &f,
        input(
            p,
            "ann",
            FeedbackKind::Demonstration {
                prompt_id: other_prompt,
                text: "new".into(),
            },
        ),
        "prompt",
    )
    .await;
    refused(
        &f,
        input(f.other_project, "ann", compare(r[0], r[1], Choice::A)),
        "comparison.response_a",
    )
    .await;

    refused(
        &f,
        input(
            p,
            "",
            FeedbackKind::Thumbs {
                response_id: r[0],
                up: true,
            },
        ),
        "annotator",
    )
    .await;
    refused(
        &f,
        input(
            p,
            "  \t",
            FeedbackKind::Thumbs {
                response_id: r[0],
                up: true,
            },
        ),
        "annotator",
    )
    .await;
    let mut negative = input(
        p,
        "ann",
        FeedbackKind::Thumbs {
            response_id: r[0],
            up: true,
        },
    );
    negative.time_spent_ms = -1;
    refused(&f, negative, "time_spent_ms").await;
    match f
        .ws
        .record_feedback(&input(
            ProjectId(9_999),
            "ann",
            FeedbackKind::Thumbs {
                response_id: r[0],
                up: true,
            },
        ))
        .await
    {
        Err(CoreError::NotFound {
            entity: "project", ..
        }) => {}
        other => panic!("an unknown project is NotFound, got {other:?}"),
    }
}

async fn stored_prompt_of(f: &Fixture, response_id: hone_core::ResponseId) -> hone_core::PromptId {
    let mut conn = f.ws.store().conn().await.unwrap();
    responses::get(&mut conn, response_id)
        .await
        .unwrap()
        .prompt_id
}

#[tokio::test]
async fn a_valid_judgment_of_each_kind_round_trips() {
    let f = fixture().await;
    let (p, r) = (f.p, &f.r);
    f.ws.set_guidelines(p, "v1").await.unwrap();
    f.ws.set_guidelines(p, "v2: cite statutes").await.unwrap();

    let cases: Vec<(FeedbackInput, JudgmentBody, Vec<hone_core::ResponseId>)> = vec![
        (
            FeedbackInput {
                shown_order: vec![r[1], r[0]],
                time_spent_ms: 4_200,
                ..input(
                    p,
                    "alice",
                    FeedbackKind::Comparison {
                        response_a: r[0],
                        response_b: r[1],
                        choice: Choice::B,
                        strength: Some(2),
                        reason: Some("cites the rule".into()),
                    },
                )
            },
            JudgmentBody::Comparison {
                response_a: r[0],
                response_b: r[1],
                choice: Choice::B,
                strength: Some(2),
                reason: Some("cites the rule".into()),
            },
            vec![r[1], r[0]],
        ),
        (
            FeedbackInput {
                shown_order: vec![r[3], r[0], r[2], r[1]],
                ..input(
                    p,
                    "alice",
                    FeedbackKind::Ranking {
                        ranked: vec![r[2], r[0], r[3], r[1]],
                    },
                )
            },
            JudgmentBody::Ranking {
                ranked: vec![r[2], r[0], r[3], r[1]],
            },
            vec![r[3], r[0], r[2], r[1]],
        ),
        (
            input(
                p,
                "alice",
                FeedbackKind::Rating {
                    response_id: r[2],
                    scores: scores(&[("overall", 7)]),
                },
            ),
            JudgmentBody::Rating {
                response_id: r[2],
                scores: scores(&[("overall", 7)]),
            },
            vec![r[2]],
        ),
        (
            input(
                p,
                "alice",
                FeedbackKind::Span {
                    response_id: r[1],
                    spans: vec![span(0, 3, "factual_error"), span(4, 10, "style")],
                },
            ),
            JudgmentBody::Span {
                response_id: r[1],
                spans: vec![span(0, 3, "factual_error"), span(4, 10, "style")],
            },
            vec![r[1]],
        ),
        (
            input(
                p,
                "bob",
                FeedbackKind::Thumbs {
                    response_id: r[3],
                    up: false,
                },
            ),
            JudgmentBody::Thumbs {
                response_id: r[3],
                up: false,
            },
            vec![r[3]],
        ),
        (
            FeedbackInput {
                critique: Some("Ignores the statute of frauds.".into()),
                suggestion_visible: false,
                suggested_response_id: None,
                ..input(p, "bob", FeedbackKind::Critique { response_id: r[0] })
            },
            JudgmentBody::Critique { response_id: r[0] },
            vec![r[0]],
        ),
    ];
    for (feedback, body, shown_order) in cases {
        let recorded = record(&f.ws, &feedback).await;
        let j = stored_judgment(&f.ws, recorded.judgment_id).await;
        assert_eq!(
            j.body, body,
            "the stored judgment must be what was submitted"
        );
        assert_eq!(
            j.shown_order,
            shown_order,
            "the order shown must be stored ({})",
            body.kind()
        );
        assert_eq!(
            j.guideline_version,
            Some(2),
            "a judgment cites the latest guideline version"
        );
        assert_eq!(j.prompt_id, recorded.prompt_id);
        assert_eq!(j.project_id, p);
        assert_eq!(j.time_spent_ms, feedback.time_spent_ms);
        assert_eq!(j.critique, feedback.critique);
        assert_eq!(
            recorded.new_response_id, None,
            "only edits and demonstrations create responses"
        );
    }
    assert_eq!(count_rows(&f.ws, "judgments").await, 6);

    // A blank reason is no reason; the annotator's name is stored trimmed.
    let recorded = record(
        &f.ws,
        &input(
            p,
            "  carol ",
            FeedbackKind::Comparison {
                response_a: r[2],
                response_b: r[3],
                choice: Choice::A,
                strength: None,
                reason: Some(" ".into()),
            },
        ),
    )
    .await;
    let j = stored_judgment(&f.ws, recorded.judgment_id).await;
    assert!(
        matches!(j.body, JudgmentBody::Comparison { reason: None, .. }),
        "a blank reason is stored as none: {:?}",
        j.body
    );
    let mut conn = f.ws.store().conn().await.unwrap();
    assert_eq!(
        hone_core::store::annotators::get(&mut conn, j.annotator_id)
            .await
            .unwrap()
            .name,
        "carol"
    );
}

#[tokio::test]
async fn an_edit_creates_a_human_response_and_a_unified_diff() {
    let f = fixture().await;
    let (p, r) = (f.p, &f.r);
    let corrected = "Yes, usually;\nexcept contracts for land.";
    let recorded = record(
        &f.ws,
        &input(
            p,
            "alice",
            FeedbackKind::Edit {
                response_id: r[0],
                corrected: corrected.into(),
            },
        ),
    )
    .await;
    let new_id = recorded
        .new_response_id
        .expect("an edit creates the corrected response");
    let mut conn = f.ws.store().conn().await.unwrap();
    let response = responses::get(&mut conn, new_id).await.unwrap();
    drop(conn);
    assert_eq!(
        response.text, corrected,
        "the corrected text is stored as a response"
    );
    assert_eq!(
        response.source,
        ResponseSource::Human,
        "a correction is a human response"
    );
    let j = stored_judgment(&f.ws, recorded.judgment_id).await;
    let JudgmentBody::Edit {
        response_id,
        corrected_response_id,
        diff,
    } = j.body
    else {
        panic!("expected an edit, got {:?}", j.body)
    };
    assert_eq!((response_id, corrected_response_id), (r[0], new_id));
    assert!(
        diff.starts_with("--- original\n+++ corrected\n"),
        "a unified diff with headers:\n{diff}"
    );
    assert!(
        diff.contains("\n-Yes, usually."),
        "the diff removes the original line:\n{diff}"
    );
    assert!(
        diff.contains("\n+Yes, usually;\n+except contracts for land."),
        "the diff adds the corrected lines:\n{diff}"
    );
    assert!(diff.contains("@@"), "a unified diff has hunks:\n{diff}");
    assert_eq!(j.guideline_version, None, "no guidelines were published");
    assert_eq!(j.shown_order, vec![r[0]], "an edit is about the original");
}

#[tokio::test]
async fn a_demonstration_creates_or_reuses_a_response() {
    let f = fixture().await;
    let p = f.p;
    let prompt_id = stored_prompt_of(&f, f.r[0]).await;
    let text = "A verbal contract is generally binding, save statutory exceptions.";
    let first = record(
        &f.ws,
        &input(
            p,
            "alice",
            FeedbackKind::Demonstration {
                prompt_id,
                text: text.into(),
            },
        ),
    )
    .await;
    let id = first
        .new_response_id
        .expect("the demonstration's answer becomes a response");
    let second = record(
        &f.ws,
        &input(
            p,
            "bob",
            FeedbackKind::Demonstration {
                prompt_id,
                text: text.into(),
            },
        ),
    )
    .await;
    assert_eq!(
        second.new_response_id,
        Some(id),
        "the same answer to the same prompt is one response"
    );
    assert_eq!(
        stored_judgment(&f.ws, first.judgment_id).await.body,
        JudgmentBody::Demonstration { response_id: id }
    );
    let mut conn = f.ws.store().conn().await.unwrap();
    assert_eq!(
        responses::get(&mut conn, id).await.unwrap().source,
        ResponseSource::Human
    );
}

#[tokio::test]
async fn undo_deletes_a_judgment_until_a_snapshot_holds_it() {
    let f = fixture().await;
    let (p, r) = (f.p, &f.r);
    let undone = crate::judge(&f.ws, p, "alice", compare(r[0], r[1], Choice::A)).await;
    f.ws.undo_judgment(undone)
        .await
        .expect("a fresh judgment can be undone");
    let mut conn = f.ws.store().conn().await.unwrap();
    assert!(
        matches!(
            hone_core::store::judgments::get(&mut conn, undone).await,
            Err(hone_core::store::StoreError::NotFound { .. })
        ),
        "an undone judgment is gone"
    );
    drop(conn);
    assert_eq!(
        count_rows(&f.ws, "comparisons").await,
        0,
        "its kind-specific row goes with it"
    );
    assert!(
        matches!(
            f.ws.undo_judgment(undone).await,
            Err(CoreError::NotFound { .. })
        ),
        "undoing twice is NotFound"
    );

    let kept = crate::judge(&f.ws, p, "alice", compare(r[0], r[1], Choice::A)).await;
    let (snapshot, _) =
        f.ws.freeze_snapshot(p, &SnapshotFilter::default())
            .await
            .unwrap();
    assert_eq!(snapshot.judgment_ids, vec![kept]);
    assert_invalid(f.ws.undo_judgment(kept).await, "judgment_id");
    assert_eq!(
        stored_judgment(&f.ws, kept).await.id,
        kept,
        "a refused undo keeps the judgment"
    );

    // A judgment made after the snapshot can still be undone.
    let later = crate::judge(
        &f.ws,
        p,
        "alice",
        FeedbackKind::Thumbs {
            response_id: r[2],
            up: true,
        },
    )
    .await;
    f.ws.undo_judgment(later)
        .await
        .expect("a judgment no snapshot holds can be undone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_all_succeed() {
    // Many annotators recording at the same moment (the HTTP server), while prompts are added and
    // a snapshot is frozen: every write must wait its turn, none may fail with "database is locked".
    let ws = open().await;
    let p = project(&ws, "law").await;
    let mut responses = Vec::new();
    for i in 0..8 {
        responses.push(prompt_with(&ws, p, &format!("Q{i}"), &["a", "b"]).await.1);
    }
    let hone = std::sync::Arc::new(ws);
    let mut tasks: Vec<tokio::task::JoinHandle<hone_core::Result<()>>> = Vec::new();
    for (i, r) in responses.into_iter().enumerate() {
        for who in ["alice", "bob", "carol", "dave"] {
            let (hone, r) = (hone.clone(), r.clone());
            tasks.push(tokio::spawn(async move {
                let choice = if i % 2 == 0 { Choice::A } else { Choice::B };
                hone.record_feedback(&input(p, who, compare(r[0], r[1], choice)))
                    .await
                    .map(|_| ())
            }));
        }
        let hone = hone.clone();
        tasks.push(tokio::spawn(async move {
            hone.add_prompt(
                p,
                &hone_core::store::prompts::NewPrompt::text(format!("new {i}")),
            )
            .await
            .map(|_| ())
        }));
    }
    for _ in 0..2 {
        let hone = hone.clone();
        tasks.push(tokio::spawn(async move {
            hone.freeze_snapshot(p, &SnapshotFilter::default())
                .await
                .map(|_| ())
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        if let Err(e) = t.await.expect("task") {
            failures.push(e.to_string());
        }
    }
    assert!(
        failures.is_empty(),
        "every concurrent write must succeed; {} failed: {failures:?}",
        failures.len()
    );
    assert_eq!(
        count_rows(&hone, "judgments").await,
        32,
        "all 32 judgments are recorded"
    );
    assert_eq!(count_rows(&hone, "prompts").await, 16);
    assert_eq!(count_rows(&hone, "dataset_snapshots").await, 2);
}

#[tokio::test]
async fn undoing_an_edit_or_demonstration_removes_the_response_it_made() {
    let f = fixture().await;
    let (p, r) = (f.p, &f.r);
    let prompt_id = stored_prompt_of(&f, r[0]).await;
    let responses_before = count_rows(&f.ws, "responses").await;
    let edit = record(
        &f.ws,
        &input(
            p,
            "alice",
            FeedbackKind::Edit {
                response_id: r[0],
                corrected: "Yes, mostly.".into(),
            },
        ),
    )
    .await;
    let demo = record(
        &f.ws,
        &input(
            p,
            "alice",
            FeedbackKind::Demonstration {
                prompt_id,
                text: "Usually, yes.".into(),
            },
        ),
    )
    .await;
    assert_eq!(count_rows(&f.ws, "responses").await, responses_before + 2);
    f.ws.undo_judgment(edit.judgment_id).await.unwrap();
    f.ws.undo_judgment(demo.judgment_id).await.unwrap();
    assert_eq!(
        count_rows(&f.ws, "responses").await,
        responses_before,
        "an undone correction must not stay behind as an answer"
    );
    let answers =
        f.ws.prompt_with_responses(prompt_id)
            .await
            .unwrap()
            .responses;
    assert_eq!(
        answers.iter().map(|a| a.id).collect::<Vec<_>>(),
        *r,
        "only the original answers are left to compare"
    );

    // A correction someone has judged since stays (the other judgment refers to it).
    let edit = record(
        &f.ws,
        &input(
            p,
            "alice",
            FeedbackKind::Edit {
                response_id: r[0],
                corrected: "Yes, mostly.".into(),
            },
        ),
    )
    .await;
    let corrected = edit.new_response_id.unwrap();
    crate::judge(&f.ws, p, "bob", compare(corrected, r[1], Choice::A)).await;
    f.ws.undo_judgment(edit.judgment_id).await.unwrap();
    let mut conn = f.ws.store().conn().await.unwrap();
    assert!(
        responses::get(&mut conn, corrected).await.is_ok(),
        "a response another judgment uses is kept"
    );
    drop(conn);

    // A demonstration that reused an existing model answer leaves that answer alone.
    let reused = record(
        &f.ws,
        &input(
            p,
            "carol",
            FeedbackKind::Demonstration {
                prompt_id,
                text: "No, never.".into(),
            },
        ),
    )
    .await;
    assert_eq!(reused.new_response_id, Some(r[1]));
    f.ws.undo_judgment(reused.judgment_id).await.unwrap();
    let mut conn = f.ws.store().conn().await.unwrap();
    assert!(
        responses::get(&mut conn, r[1]).await.is_ok(),
        "a model answer is never removed by an undo"
    );
}

/// A submission sent again under its id (the answer was lost, an outbox retried) gets the first
/// recording's answer and records nothing; an edit's new response is not made twice either.
/// Another annotator cannot reuse the id, an id that is not one is refused, and undoing the
/// judgment forgets the submission.
#[tokio::test]
async fn a_submission_sent_again_is_recorded_once() {
    let f = fixture().await;
    let edit = FeedbackInput {
        submission_id: Some("5f0c7c1e-9a1b-4c55-8d11-0a2b3c4d5e6f".into()),
        ..input(
            f.p,
            "alice",
            FeedbackKind::Edit {
                response_id: f.r[0],
                corrected: "Yes, usually, if its terms are clear.".into(),
            },
        )
    };
    let first = record(&f.ws, &edit).await;
    assert!(first.new_response_id.is_some(), "an edit makes a response");
    let (judgments, responses) = (
        count_rows(&f.ws, "judgments").await,
        count_rows(&f.ws, "responses").await,
    );
    let again = record(&f.ws, &edit).await;
    assert_eq!(again, first, "the same answer as the first time");
    assert_eq!(count_rows(&f.ws, "judgments").await, judgments);
    assert_eq!(count_rows(&f.ws, "responses").await, responses);

    let borrowed = FeedbackInput {
        annotator: "bob".into(),
        ..edit.clone()
    };
    refused(&f, borrowed, "submission_id").await;
    for bad in ["short", "has spaces in it", &"x".repeat(101)] {
        let odd = FeedbackInput {
            submission_id: Some(bad.to_string()),
            ..edit.clone()
        };
        refused(&f, odd, "submission_id").await;
    }

    f.ws.undo_judgment(first.judgment_id).await.unwrap();
    assert_eq!(count_rows(&f.ws, "submissions").await, 0);
    // Sent again after the undo, it is a judgment again.
    record(&f.ws, &edit).await;
    assert_eq!(count_rows(&f.ws, "judgments").await, judgments);
    assert_eq!(count_rows(&f.ws, "submissions").await, 1);
}
