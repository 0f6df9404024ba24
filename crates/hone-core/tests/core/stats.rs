use std::collections::BTreeMap;

use hone_core::feedback::FeedbackKind;
use hone_core::{Choice, CoreError, JudgmentKind, ProjectId, Split};

use crate::{compare, input, open, project, prompt_with, record};

#[tokio::test]
async fn stats_count_judgments_by_kind_and_annotator_with_mean_time_splits_and_rows() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(&ws, p, "Q1", &["a", "b", "c"]).await;
    let (held, h) = prompt_with(&ws, p, "Q2", &["x", "y"]).await;
    prompt_with(&ws, p, "Q3", &[]).await;
    ws.set_prompt_split(held, Split::Heldout).await.unwrap();

    let timed = |who: &str, ms: i64, kind: FeedbackKind| {
        let mut i = input(p, who, kind);
        i.time_spent_ms = ms;
        i
    };
    record(&ws, &timed("alice", 1_000, compare(r[0], r[1], Choice::A))).await;
    record(&ws, &timed("alice", 3_000, compare(r[1], r[2], Choice::A))).await;
    record(
        &ws,
        &timed(
            "alice",
            2_000,
            FeedbackKind::Thumbs {
                response_id: r[2],
                up: false,
            },
        ),
    )
    .await;
    record(&ws, &timed("bob", 500, compare(r[1], r[0], Choice::A))).await; // disagrees with alice
    record(&ws, &timed("bob", 1_500, compare(h[0], h[1], Choice::A))).await; // held out: no row
                                                                             // Another project's judgments are not counted.
    let other = project(&ws, "other").await;
    let (_, o) = prompt_with(&ws, other, "O", &["o"]).await;
    record(
        &ws,
        &input(
            other,
            "alice",
            FeedbackKind::Thumbs {
                response_id: o[0],
                up: true,
            },
        ),
    )
    .await;

    let stats = ws.stats(p).await.unwrap();
    assert_eq!(stats.project, "law");
    assert_eq!(
        (stats.prompts_train, stats.prompts_heldout, stats.responses),
        (2, 1, 5)
    );
    assert_eq!(
        stats.judgments,
        BTreeMap::from([(JudgmentKind::Comparison, 4), (JudgmentKind::Thumbs, 1)])
    );
    assert_eq!(stats.annotators.len(), 2, "{:#?}", stats.annotators);
    let alice = stats
        .annotators
        .iter()
        .find(|a| a.name == "alice")
        .expect("alice");
    assert_eq!(
        alice.judgments,
        BTreeMap::from([(JudgmentKind::Comparison, 2), (JudgmentKind::Thumbs, 1)])
    );
    assert_eq!(alice.total, 3);
    assert_eq!(
        alice.mean_time_ms, 2_000.0,
        "(1000 + 3000 + 2000) / 3, this project only"
    );
    let bob = stats
        .annotators
        .iter()
        .find(|a| a.name == "bob")
        .expect("bob");
    assert_eq!((bob.total, bob.mean_time_ms), (2, 1_000.0));
    // Train rows: (a,b) 1 to 1 is dropped; (b,c) kept; c undesirable.
    assert_eq!(
        (
            stats.rows_preference,
            stats.rows_sft,
            stats.rows_kto,
            stats.conflicts
        ),
        (1, 0, 1, 1)
    );
    let comparison = stats
        .agreement
        .iter()
        .find(|a| a.kind == JudgmentKind::Comparison)
        .unwrap();
    assert_eq!(
        (comparison.units, comparison.percent_agreement),
        (1, Some(0.0)),
        "alice and bob disagree on (a, b)"
    );
}

#[tokio::test]
async fn stats_of_an_empty_or_unknown_project() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let stats = ws.stats(p).await.unwrap();
    assert_eq!(
        (stats.prompts_train, stats.prompts_heldout, stats.responses),
        (0, 0, 0)
    );
    assert!(stats.judgments.is_empty() && stats.annotators.is_empty());
    assert_eq!(
        (
            stats.rows_preference,
            stats.rows_sft,
            stats.rows_kto,
            stats.conflicts
        ),
        (0, 0, 0, 0)
    );
    assert!(matches!(
        ws.stats(ProjectId(404)).await,
        Err(CoreError::NotFound { .. })
    ));
}
