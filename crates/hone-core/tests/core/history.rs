//! The judgment history, a judgment's detail, and re-judging (supersede).

use hone_core::dataset::SnapshotFilter;
use hone_core::feedback::{FeedbackInput, FeedbackKind};
use hone_core::history::{HistoryPage, HistoryQuery};
use hone_core::store::prompts::NewPrompt;
use hone_core::store::responses::NewResponse;
use hone_core::JudgmentId;
use hone_core::{Choice, Hone, JudgmentKind, ProjectId, ResponseSource};

use crate::{
    assert_invalid, compare, input, judge, open, project, project_with_overlap, prompt_n,
    prompt_with, record, stored_judgment, thumbs,
};

async fn history(hone: &Hone, q: &HistoryQuery) -> HistoryPage {
    hone.judgment_history(q).await.expect("judgment_history")
}

/// The judgment ids of the page, newest first.
async fn ids(hone: &Hone, q: &HistoryQuery) -> Vec<JudgmentId> {
    history(hone, q)
        .await
        .entries
        .iter()
        .map(|e| e.judgment_id)
        .collect()
}

/// A prompt with tags and model answers.
async fn tagged(
    hone: &Hone,
    p: ProjectId,
    text: &str,
    tags: &[&str],
    answers: &[&str],
) -> Vec<hone_core::ResponseId> {
    let prompt = hone
        .add_prompt(
            p,
            &NewPrompt {
                tags: tags.iter().map(|t| t.to_string()).collect(),
                ..NewPrompt::text(text)
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
    ids
}

async fn set_created_at(hone: &Hone, id: JudgmentId, at: &str) {
    let mut conn = hone.store().conn().await.unwrap();
    sqlx::query("UPDATE judgments SET created_at = $1 WHERE id = $2")
        .bind(at)
        .bind(id)
        .execute(&mut *conn)
        .await
        .unwrap();
}

fn supersede(mut feedback: FeedbackInput, old: JudgmentId) -> FeedbackInput {
    feedback.supersedes = Some(old);
    feedback
}

#[tokio::test]
async fn the_history_filters_by_kind_verdict_time_tag_text_and_pages() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let bill = tagged(
        &ws,
        p,
        "How do I pay my invoice?",
        &["billing"],
        &["By card.", "By cheque."],
    )
    .await;
    let reset = tagged(&ws, p, "Reset my PASSWORD please", &[], &["Click reset."]).await;

    let mut with_critique = input(p, "alice", compare(bill[0], bill[1], Choice::A));
    with_critique.critique = Some("B is far too long".into());
    let j1 = record(&ws, &with_critique).await.judgment_id;
    let j2 = judge(&ws, p, "alice", thumbs(reset[0], true)).await;
    let j3 = judge(&ws, p, "alice", thumbs(bill[0], false)).await;
    let j4 = judge(&ws, p, "bob", compare(bill[1], bill[0], Choice::Tie)).await;
    let j5 = judge(
        &ws,
        p,
        "alice",
        FeedbackKind::Span {
            response_id: reset[0],
            spans: vec![],
        },
    )
    .await;
    for (i, id) in [j1, j2, j3, j4, j5].iter().enumerate() {
        set_created_at(&ws, *id, &format!("2025-03-0{}T10:00:00.000Z", i + 1)).await;
    }

    let everyone = HistoryQuery::new(p);
    assert_eq!(ids(&ws, &everyone).await, vec![j5, j4, j3, j2, j1]);
    let alice = HistoryQuery {
        annotator: Some("alice".into()),
        ..HistoryQuery::new(p)
    };
    assert_eq!(ids(&ws, &alice).await, vec![j5, j3, j2, j1]);
    let page = history(&ws, &alice).await;
    assert_eq!(page.total, 4);
    let e = page.entries.last().unwrap();
    assert_eq!(
        (
            e.kind,
            e.verdict.as_str(),
            e.summary.as_str(),
            e.prompt_text.as_str(),
            e.annotator.as_str()
        ),
        (
            JudgmentKind::Comparison,
            "a",
            format!("prefers response {} to {}", bill[0], bill[1]).as_str(),
            "How do I pay my invoice?",
            "alice"
        )
    );
    assert!(!e.in_snapshot && !e.gold && e.superseded_by.is_none());
    let nobody = HistoryQuery {
        annotator: Some("zoe".into()),
        ..HistoryQuery::new(p)
    };
    assert_eq!(history(&ws, &nobody).await.total, 0);

    // Kind.
    let q = HistoryQuery {
        kind: Some(JudgmentKind::Comparison),
        ..alice.clone()
    };
    assert_eq!(ids(&ws, &q).await, vec![j1]);
    // Verdict.
    let verdict = |v: &str| HistoryQuery {
        verdict: Some(v.into()),
        ..HistoryQuery::new(p)
    };
    assert_eq!(ids(&ws, &verdict("up")).await, vec![j2]);
    assert_eq!(ids(&ws, &verdict("down")).await, vec![j3]);
    assert_eq!(ids(&ws, &verdict("tie")).await, vec![j4]);
    assert_eq!(ids(&ws, &verdict("accepted")).await, vec![j5]);
    assert_eq!(ids(&ws, &verdict("b")).await, Vec::<JudgmentId>::new());
    assert_invalid(ws.judgment_history(&verdict("maybe")).await, "verdict");
    // Time: since inclusive, until exclusive; dates or RFC 3339 times with any offset.
    let q = HistoryQuery {
        since: Some("2025-03-02T10:00:00Z".into()),
        until: Some("2025-03-04".into()),
        ..HistoryQuery::new(p)
    };
    assert_eq!(ids(&ws, &q).await, vec![j3, j2]);
    let q = HistoryQuery {
        since: Some("2025-03-05T12:00:00+02:00".into()),
        ..HistoryQuery::new(p)
    };
    assert_eq!(ids(&ws, &q).await, vec![j5], "10:00 UTC is 12:00 at +02:00");
    assert_invalid(
        ws.judgment_history(&HistoryQuery {
            since: Some("last week".into()),
            ..HistoryQuery::new(p)
        })
        .await,
        "since",
    );
    // Tag.
    let q = HistoryQuery {
        tag: Some("billing".into()),
        ..alice.clone()
    };
    assert_eq!(ids(&ws, &q).await, vec![j3, j1]);
    // Text: case-insensitive, over the prompt, the answers and the critique.
    let text = |t: &str| HistoryQuery {
        text: Some(t.into()),
        ..alice.clone()
    };
    assert_eq!(ids(&ws, &text("password")).await, vec![j5, j2]);
    assert_eq!(ids(&ws, &text("TOO LONG")).await, vec![j1]);
    assert_eq!(
        ids(&ws, &text("cheque")).await,
        vec![j1],
        "an answer judged"
    );
    assert_eq!(ids(&ws, &text("nowhere")).await, Vec::<JudgmentId>::new());
    // Pages.
    let q = HistoryQuery {
        limit: Some(2),
        offset: 1,
        ..HistoryQuery::new(p)
    };
    let page = history(&ws, &q).await;
    assert_eq!((page.total, page.limit, page.offset), (5, 2, 1));
    assert_eq!(
        page.entries
            .iter()
            .map(|e| e.judgment_id)
            .collect::<Vec<_>>(),
        vec![j4, j3]
    );
    for bad in [0, 501] {
        assert_invalid(
            ws.judgment_history(&HistoryQuery {
                limit: Some(bad),
                ..HistoryQuery::new(p)
            })
            .await,
            "limit",
        );
    }

    // Snapshot, gold, superseded.
    ws.freeze_snapshot(p, &SnapshotFilter::default())
        .await
        .unwrap();
    ws.mark_gold(j2).await.unwrap();
    let j6 = record(
        &ws,
        &supersede(input(p, "alice", thumbs(reset[0], false)), j2),
    )
    .await
    .judgment_id;
    let page = history(&ws, &alice).await;
    assert_eq!(
        page.entries
            .iter()
            .map(|e| e.judgment_id)
            .collect::<Vec<_>>(),
        vec![j6, j5, j3, j1],
        "a superseded judgment is left out"
    );
    assert_eq!(page.entries[0].supersedes, Some(j2));
    assert!(!page.entries[0].in_snapshot && page.entries[1].in_snapshot);
    let q = HistoryQuery {
        include_superseded: true,
        ..alice.clone()
    };
    let page = history(&ws, &q).await;
    let old = page.entries.iter().find(|e| e.judgment_id == j2).unwrap();
    assert_eq!(old.superseded_by, Some(j6));
    assert!(old.gold && old.in_snapshot);
}

#[tokio::test]
async fn the_detail_is_the_judgment_as_recorded_and_can_be_sent_back() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    ws.set_guidelines(p, "be kind").await.unwrap();
    let (prompt, r) = prompt_with(&ws, p, "Q", &["first draft", "second"]).await;

    let mut comparison = input(
        p,
        "alice",
        FeedbackKind::Comparison {
            response_a: r[0],
            response_b: r[1],
            choice: Choice::B,
            strength: Some(2),
            reason: Some("clearer".into()),
        },
    );
    comparison.shown_order = vec![r[1], r[0]];
    comparison.time_spent_ms = 4_200;
    comparison.critique = Some("A rambles".into());
    let mut edit = input(
        p,
        "alice",
        FeedbackKind::Edit {
            response_id: r[0],
            corrected: "final draft".into(),
        },
    );
    edit.time_spent_ms = 9_000;
    let demonstration = input(
        p,
        "alice",
        FeedbackKind::Demonstration {
            prompt_id: prompt,
            text: "the reference".into(),
        },
    );
    for feedback in [comparison, edit, demonstration] {
        let id = record(&ws, &feedback).await.judgment_id;
        let d = ws.judgment_detail(id).await.unwrap();
        assert_eq!(d.feedback, feedback.kind, "the judgment as it was given");
        assert_eq!(d.critique, feedback.critique);
        assert_eq!(d.time_spent_ms, feedback.time_spent_ms);
        assert_eq!(d.guideline_version, Some(1));
        assert_eq!((d.prompt.id, d.prompt.text.as_str()), (prompt, "Q"));
        assert_eq!(d.annotator, "alice");
        let shown: Vec<hone_core::ResponseId> = d.responses.iter().map(|r| r.id).collect();
        assert_eq!(shown, d.shown_order);
        if !feedback.shown_order.is_empty() {
            assert_eq!(shown, feedback.shown_order, "in the order shown");
        }
        match &d.feedback {
            FeedbackKind::Edit { .. } => {
                assert_eq!(d.responses[0].text, "first draft", "the original");
                assert!(d.diff.as_deref().unwrap().contains("+final draft"));
            }
            FeedbackKind::Comparison { .. } => assert_eq!(d.verdict, "b"),
            _ => {}
        }

        // Sent back unchanged as a re-judgment: the same judgment again, the old one replaced.
        let again = record(
            &ws,
            &FeedbackInput {
                kind: d.feedback.clone(),
                shown_order: d.shown_order.clone(),
                supersedes: Some(id),
                ..input(p, "alice", d.feedback.clone())
            },
        )
        .await;
        assert_eq!(
            stored_judgment(&ws, again.judgment_id).await.body,
            stored_judgment(&ws, id).await.body
        );
        let old = ws.judgment_detail(id).await.unwrap();
        assert_eq!(old.superseded_by, Some(again.judgment_id));
        let new = ws.judgment_detail(again.judgment_id).await.unwrap();
        assert_eq!(new.supersedes, Some(id));
    }
    assert!(matches!(
        ws.judgment_detail(JudgmentId(9_999)).await,
        Err(hone_core::CoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn only_the_author_re_judges_once_the_same_kind_and_prompt() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_n(&ws, p, "P", 2).await;
    let (_, other_prompt) = prompt_n(&ws, p, "Q", 1).await;
    let first = judge(&ws, p, "alice", thumbs(r[0], true)).await;

    let refused =
        |who: &str, kind: FeedbackKind, old: JudgmentId| supersede(input(p, who, kind), old);
    assert_invalid(
        ws.record_feedback(&refused("bob", thumbs(r[0], false), first))
            .await,
        "supersedes",
    );
    assert_invalid(
        ws.record_feedback(&refused("alice", compare(r[0], r[1], Choice::A), first))
            .await,
        "supersedes",
    );
    assert_invalid(
        ws.record_feedback(&refused("alice", thumbs(other_prompt[0], false), first))
            .await,
        "supersedes",
    );
    assert_invalid(
        ws.record_feedback(&refused("alice", thumbs(r[0], false), JudgmentId(9_999)))
            .await,
        "supersedes",
    );
    let elsewhere = project(&ws, "elsewhere").await;
    let (_, e) = prompt_n(&ws, elsewhere, "E", 1).await;
    let theirs = judge(&ws, elsewhere, "alice", thumbs(e[0], true)).await;
    assert_invalid(
        ws.record_feedback(&refused("alice", thumbs(r[0], false), theirs))
            .await,
        "supersedes",
    );
    assert_eq!(
        stored_judgment(&ws, first).await.superseded_by,
        None,
        "refusals change nothing"
    );

    // "alice " is alice, as record_feedback stores it.
    let second = record(&ws, &refused("alice ", thumbs(r[0], false), first))
        .await
        .judgment_id;
    assert_eq!(
        stored_judgment(&ws, first).await.superseded_by,
        Some(second)
    );
    assert_invalid(
        ws.record_feedback(&refused("alice", thumbs(r[0], true), first))
            .await,
        "supersedes",
    );
    // The re-judgment itself can be re-judged.
    let third = record(&ws, &refused("alice", thumbs(r[0], true), second))
        .await
        .judgment_id;
    assert_eq!(
        stored_judgment(&ws, second).await.superseded_by,
        Some(third)
    );
    let stats = ws.stats(p).await.unwrap();
    assert_eq!(
        stats.judgments.get(&JudgmentKind::Thumbs),
        Some(&1),
        "superseded judgments do not count"
    );

    // Undoing a re-judgment brings back the one it replaced.
    ws.undo_judgment(third).await.unwrap();
    assert_eq!(stored_judgment(&ws, second).await.superseded_by, None);
}

#[tokio::test]
async fn a_superseded_judgment_leaves_the_data_and_the_queue_but_its_snapshot_keeps_it() {
    let ws = open().await;
    let p = project_with_overlap(&ws, "law", 2).await;
    let (_, r) = prompt_with(&ws, p, "Q", &["draft", "another"]).await;
    let first = record(
        &ws,
        &input(
            p,
            "alice",
            FeedbackKind::Edit {
                response_id: r[0],
                corrected: "fix one".into(),
            },
        ),
    )
    .await
    .judgment_id;
    let (snapshot, before) = ws
        .freeze_snapshot(p, &SnapshotFilter::default())
        .await
        .unwrap();
    assert_eq!(before.sft[0].completion, "fix one");
    assert_invalid(ws.undo_judgment(first).await, "judgment_id");

    // A judgment a snapshot holds can still be re-judged.
    let second = record(
        &ws,
        &supersede(
            input(
                p,
                "alice",
                FeedbackKind::Edit {
                    response_id: r[0],
                    corrected: "fix two".into(),
                },
            ),
            first,
        ),
    )
    .await
    .judgment_id;
    let d = ws
        .training_data(p, &SnapshotFilter::default())
        .await
        .unwrap();
    let sft: Vec<&str> = d.sft.iter().map(|s| s.completion.as_str()).collect();
    assert_eq!(
        sft,
        vec!["fix two"],
        "the superseded correction is left out"
    );
    let pairs: Vec<(&str, &str)> = d
        .preferences
        .iter()
        .map(|p| (p.chosen.as_str(), p.rejected.as_str()))
        .collect();
    assert_eq!(pairs, vec![("fix two", "draft")]);
    let (later, _) = ws
        .freeze_snapshot(p, &SnapshotFilter::default())
        .await
        .unwrap();
    assert_eq!(later.judgment_ids, vec![second]);
    let (kept, rows) = ws.snapshot_data(snapshot.id).await.unwrap();
    assert_eq!(
        kept.judgment_ids,
        vec![first],
        "the snapshot keeps what it froze"
    );
    assert_eq!(
        rows.sft[0].completion, "fix one",
        "and its rows, hash checked"
    );

    // The queue counts the new judgment, not the old: a thumbs-up on r[0] re-judged as one on
    // r[1] (same prompt) leaves r[0] unjudged.
    let t = JudgmentKind::Thumbs;
    let old = judge(&ws, p, "alice", thumbs(r[0], true)).await;
    judge(&ws, p, "bob", thumbs(r[0], true)).await;
    let item = ws.next_item(p, "carol", t).await.unwrap().unwrap();
    assert_eq!(item.responses[0].id, r[1], "r[0] has its two verdicts");
    record(&ws, &supersede(input(p, "alice", thumbs(r[1], true)), old)).await;
    let item = ws.next_item(p, "carol", t).await.unwrap().unwrap();
    assert_eq!(
        (item.responses[0].id, item.judged_by),
        (r[0], 1),
        "alice's superseded vote no longer counts"
    );
    let again = ws.next_item(p, "alice", t).await.unwrap().unwrap();
    assert_eq!(again.responses[0].id, r[0], "it is alice's to judge again");
}

#[tokio::test]
async fn a_span_judgment_marking_only_what_is_good_reads_as_accepted() {
    use hone_core::projects::ProjectSpec;
    use hone_core::store::judgments::SpanMark;
    use hone_core::store::projects::SpanLabel;
    use hone_core::store::SpanPolarity;
    let ws = open().await;
    let mut spec = ProjectSpec::named("praise");
    spec.span_labels = vec![SpanLabel {
        name: "clear_step".into(),
        description: "a step stated clearly".into(),
        polarity: SpanPolarity::Good,
    }];
    let p = ws.create_project(&spec).await.unwrap().project.id;
    let answer = tagged(&ws, p, "How do I reset it?", &[], &["Hold the button."]).await;
    let mark = |label: &str| SpanMark {
        start: 0,
        end: 4,
        label: label.into(),
        note: None,
    };
    let span = |spans: Vec<SpanMark>| FeedbackKind::Span {
        response_id: answer[0],
        spans,
    };
    let good = judge(&ws, p, "alice", span(vec![mark("clear_step")])).await;
    let wrong = judge(&ws, p, "bob", span(vec![mark("clear_step"), mark("style")])).await;
    let verdict = |v: &str| HistoryQuery {
        verdict: Some(v.into()),
        ..HistoryQuery::new(p)
    };
    assert_eq!(ids(&ws, &verdict("accepted")).await, vec![good]);
    assert_eq!(ids(&ws, &verdict("marked")).await, vec![wrong]);
    let detail = ws.judgment_detail(good).await.unwrap();
    assert_eq!(detail.verdict, "accepted");
}
