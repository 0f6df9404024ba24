use std::collections::BTreeMap;

use hone_store::judgments::{self, ImportedVerdict, Judgment, JudgmentBody, NewJudgment, SpanMark};
use hone_store::responses::{self, NewResponse};
use hone_store::{
    annotators, gold, reward_scores, snapshots, AnnotatorKind, Choice, Conn, JudgmentKind,
    ProjectId, ResponseId, ResponseSource,
};
use serde_json::json;
use sqlx::error::ErrorKind;

use crate::{assert_constraint, assert_not_found, count_rows, open_store, seed, Seed};

/// Four responses r[0..4] to the seed prompt, and a human-corrected one.
struct Fixture {
    seed: Seed,
    r: Vec<ResponseId>,
    corrected: ResponseId,
}

async fn fixture(conn: &mut Conn, project: &str) -> Fixture {
    let seed = seed(conn, project, 4).await;
    let corrected = responses::insert(
        conn,
        &NewResponse::new(
            seed.prompt_id,
            "answer one, corrected",
            ResponseSource::Human,
        ),
    )
    .await
    .unwrap()
    .id;
    Fixture {
        r: seed.response_ids.clone(),
        seed,
        corrected,
    }
}

fn new_judgment(f: &Fixture, body: JudgmentBody) -> NewJudgment {
    let mut shown_order = body.response_ids();
    shown_order.reverse();
    NewJudgment {
        project_id: f.seed.project_id,
        prompt_id: f.seed.prompt_id,
        annotator_id: f.seed.annotator_id,
        time_spent_ms: 12_345,
        shown_order,
        guideline_version: Some(2),
        critique: Some(format!("critique of a {}", body.kind())),
        suggestion_visible: true,
        suggested_response_id: None,
        body,
    }
}

fn every_kind(f: &Fixture) -> Vec<JudgmentBody> {
    let r = &f.r;
    vec![
        JudgmentBody::Comparison {
            response_a: r[1],
            response_b: r[0],
            choice: Choice::B,
            strength: Some(3),
            reason: Some("B cites the law".into()),
        },
        JudgmentBody::Ranking {
            ranked: vec![r[2], r[0], r[3], r[1]],
        },
        JudgmentBody::Rating {
            response_id: r[0],
            scores: BTreeMap::from([
                ("correctness".to_string(), 6),
                ("clarity".to_string(), 3),
                ("brevity".to_string(), 7),
            ]),
        },
        JudgmentBody::Edit {
            response_id: r[1],
            corrected_response_id: f.corrected,
            diff: "--- a\n+++ b\n@@ -1 +1 @@\n-answer 1\n+answer one, corrected\n".into(),
        },
        JudgmentBody::Span {
            response_id: r[2],
            // deliberately not sorted by offset: the stored order is the annotator's order
            spans: vec![
                SpanMark {
                    start: 10,
                    end: 20,
                    label: "hallucination".into(),
                    note: Some("no such rule".into()),
                },
                SpanMark {
                    start: 0,
                    end: 4,
                    label: "typo".into(),
                    note: None,
                },
                SpanMark {
                    start: 5,
                    end: 6,
                    label: "typo".into(),
                    note: Some("é".into()),
                },
            ],
        },
        JudgmentBody::Thumbs {
            response_id: r[3],
            up: false,
        },
        JudgmentBody::Demonstration {
            response_id: f.corrected,
        },
        JudgmentBody::Critique { response_id: r[0] },
    ]
}

#[track_caller]
fn assert_is(j: &Judgment, id: hone_store::JudgmentId, new: &NewJudgment) {
    let kind = new.body.kind();
    assert_eq!(j.id, id, "{kind}: id is the one insert returned");
    assert_eq!(j.kind(), kind, "{kind}: kind is derived from the body");
    assert_eq!(
        j.body, new.body,
        "{kind}: the kind-specific body must round-trip exactly"
    );
    assert_eq!(
        (j.project_id, j.prompt_id, j.annotator_id),
        (new.project_id, new.prompt_id, new.annotator_id),
        "{kind}: owners"
    );
    assert_eq!(j.time_spent_ms, new.time_spent_ms, "{kind}: time spent");
    assert_eq!(j.shown_order, new.shown_order, "{kind}: order shown");
    assert_eq!(
        j.guideline_version, new.guideline_version,
        "{kind}: guideline version"
    );
    assert_eq!(j.critique, new.critique, "{kind}: critique text");
    assert!(
        j.created_at.ends_with('Z'),
        "{kind}: created_at is UTC RFC 3339"
    );
}

#[tokio::test]
async fn every_kind_round_trips_through_insert_get_list_and_get_many() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    let news: Vec<NewJudgment> = every_kind(&f)
        .into_iter()
        .map(|b| new_judgment(&f, b))
        .collect();
    assert_eq!(
        news.len(),
        JudgmentKind::ALL.len(),
        "the fixture covers every kind"
    );

    let mut ids = Vec::new();
    for new in &news {
        let id = judgments::insert(&mut conn, new)
            .await
            .unwrap_or_else(|e| panic!("insert {}: {e}", new.body.kind()));
        let got = judgments::get(&mut conn, id).await.unwrap();
        assert_is(&got, id, new);
        ids.push(id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids increase");

    let listed = judgments::list(&mut conn, f.seed.project_id, None)
        .await
        .unwrap();
    assert_eq!(
        listed.len(),
        news.len(),
        "list returns every judgment of the project"
    );
    for ((j, id), new) in listed.iter().zip(&ids).zip(&news) {
        assert_is(j, *id, new);
    }

    // get_many hydrates a mixed batch in one go.
    let many = judgments::get_many(&mut conn, &ids).await.unwrap();
    assert_eq!(many, listed, "get_many of all ids equals list");
}

#[tokio::test]
async fn variants_round_trip_none_strength_both_bad_thumbs_up_and_empty_details() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    let bodies = vec![
        JudgmentBody::Comparison {
            response_a: f.r[0],
            response_b: f.r[3],
            choice: Choice::BothBad,
            strength: None,
            reason: None,
        },
        JudgmentBody::Comparison {
            response_a: f.r[2],
            response_b: f.r[1],
            choice: Choice::Tie,
            strength: Some(1),
            reason: None,
        },
        JudgmentBody::Comparison {
            response_a: f.r[2],
            response_b: f.r[1],
            choice: Choice::A,
            strength: Some(2),
            reason: Some(String::new()),
        },
        JudgmentBody::Thumbs {
            response_id: f.r[1],
            up: true,
        },
        JudgmentBody::Rating {
            response_id: f.r[1],
            scores: BTreeMap::new(),
        },
        JudgmentBody::Span {
            response_id: f.r[1],
            spans: vec![],
        },
        JudgmentBody::Ranking {
            ranked: vec![f.r[3]],
        },
    ];
    for body in bodies {
        let new = NewJudgment {
            critique: None,
            guideline_version: None,
            shown_order: vec![],
            time_spent_ms: 0,
            ..new_judgment(&f, body)
        };
        let id = judgments::insert(&mut conn, &new).await.unwrap();
        assert_is(&judgments::get(&mut conn, id).await.unwrap(), id, &new);
    }
}

#[tokio::test]
async fn get_of_a_missing_judgment_is_not_found() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    assert_not_found(
        judgments::get(&mut conn, hone_store::JudgmentId(3))
            .await
            .unwrap_err(),
        "judgment",
        "3",
    );
}

#[tokio::test]
async fn get_many_returns_id_order_skips_missing_and_ignores_repeats() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    let mut ids = Vec::new();
    for body in every_kind(&f) {
        ids.push(
            judgments::insert(&mut conn, &new_judgment(&f, body))
                .await
                .unwrap(),
        );
    }
    let asked = [
        ids[6],
        ids[1],
        hone_store::JudgmentId(99_999),
        ids[4],
        ids[1],
    ];
    let got: Vec<hone_store::JudgmentId> = judgments::get_many(&mut conn, &asked)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(
        got,
        vec![ids[1], ids[4], ids[6]],
        "id order, missing ids left out, each judgment once"
    );
    let got = judgments::get_many(&mut conn, &[ids[5]]).await.unwrap();
    assert_eq!(
        got[0].body,
        JudgmentBody::Thumbs {
            response_id: f.r[3],
            up: false
        },
        "a single thumbs judgment hydrates"
    );
    assert!(
        judgments::get_many(&mut conn, &[])
            .await
            .unwrap()
            .is_empty(),
        "no ids, no judgments"
    );
    assert!(
        judgments::get_many(&mut conn, &[hone_store::JudgmentId(424_242)])
            .await
            .unwrap()
            .is_empty(),
        "only missing ids, no judgments"
    );
}

#[tokio::test]
async fn list_filters_by_project_and_kind() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    let g = fixture(&mut conn, "other").await;
    let mut thumbs_ids = Vec::new();
    for (i, up) in [true, false, true].into_iter().enumerate() {
        let id = judgments::insert(
            &mut conn,
            &new_judgment(
                &f,
                JudgmentBody::Thumbs {
                    response_id: f.r[i],
                    up,
                },
            ),
        )
        .await
        .unwrap();
        thumbs_ids.push(id);
        judgments::insert(
            &mut conn,
            &new_judgment(
                &f,
                JudgmentBody::Demonstration {
                    response_id: f.r[i],
                },
            ),
        )
        .await
        .unwrap();
    }
    judgments::insert(
        &mut conn,
        &new_judgment(
            &g,
            JudgmentBody::Thumbs {
                response_id: g.r[0],
                up: true,
            },
        ),
    )
    .await
    .unwrap();

    let thumbs = judgments::list(&mut conn, f.seed.project_id, Some(JudgmentKind::Thumbs))
        .await
        .unwrap();
    assert_eq!(
        thumbs.iter().map(|j| j.id).collect::<Vec<_>>(),
        thumbs_ids,
        "only this project's thumbs, in id order"
    );
    assert_eq!(
        thumbs.iter().map(|j| j.body.clone()).collect::<Vec<_>>(),
        vec![
            JudgmentBody::Thumbs {
                response_id: f.r[0],
                up: true
            },
            JudgmentBody::Thumbs {
                response_id: f.r[1],
                up: false
            },
            JudgmentBody::Thumbs {
                response_id: f.r[2],
                up: true
            },
        ],
        "thumbs verdicts are read back per judgment"
    );
    assert_eq!(
        judgments::list(
            &mut conn,
            f.seed.project_id,
            Some(JudgmentKind::Demonstration)
        )
        .await
        .unwrap()
        .len(),
        3,
        "demonstrations"
    );
    assert!(
        judgments::list(&mut conn, f.seed.project_id, Some(JudgmentKind::Ranking))
            .await
            .unwrap()
            .is_empty(),
        "no rankings"
    );
    assert_eq!(
        judgments::list(&mut conn, f.seed.project_id, None)
            .await
            .unwrap()
            .len(),
        6,
        "no filter: every kind"
    );
    assert_eq!(
        judgments::list(&mut conn, g.seed.project_id, None)
            .await
            .unwrap()
            .len(),
        1,
        "the other project has one"
    );
}

#[tokio::test]
async fn counts_group_by_kind_and_annotator_within_the_project() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    let g = fixture(&mut conn, "other").await;
    let alice = f.seed.annotator_id;
    let bob = annotators::get_or_create(&mut conn, "bob", AnnotatorKind::Simulated)
        .await
        .unwrap()
        .id;
    assert!(alice < bob, "precondition: alice was created first");
    let by = |annotator_id: hone_store::AnnotatorId, body: JudgmentBody| NewJudgment {
        annotator_id,
        ..new_judgment(&f, body)
    };
    let writes = vec![
        by(
            alice,
            JudgmentBody::Thumbs {
                response_id: f.r[0],
                up: true,
            },
        ),
        by(
            bob,
            JudgmentBody::Thumbs {
                response_id: f.r[0],
                up: false,
            },
        ),
        by(
            alice,
            JudgmentBody::Thumbs {
                response_id: f.r[1],
                up: true,
            },
        ),
        by(
            bob,
            JudgmentBody::Rating {
                response_id: f.r[1],
                scores: BTreeMap::from([("x".to_string(), 3)]),
            },
        ),
        by(
            alice,
            JudgmentBody::Comparison {
                response_a: f.r[0],
                response_b: f.r[1],
                choice: Choice::A,
                strength: None,
                reason: None,
            },
        ),
    ];
    for w in &writes {
        judgments::insert(&mut conn, w).await.unwrap();
    }
    judgments::insert(
        &mut conn,
        &new_judgment(
            &g,
            JudgmentBody::Thumbs {
                response_id: g.r[0],
                up: true,
            },
        ),
    )
    .await
    .unwrap();

    let counts = judgments::counts(&mut conn, f.seed.project_id)
        .await
        .unwrap();
    assert_eq!(
        counts,
        vec![
            (JudgmentKind::Comparison, alice, 1),
            (JudgmentKind::Rating, bob, 1),
            (JudgmentKind::Thumbs, alice, 2),
            (JudgmentKind::Thumbs, bob, 1),
        ],
        "one row per (kind, annotator), ordered by kind then annotator, other projects left out"
    );
    assert!(
        judgments::counts(&mut conn, ProjectId(999))
            .await
            .unwrap()
            .is_empty(),
        "a project without judgments has no counts"
    );
}

#[tokio::test]
async fn delete_removes_the_judgment_and_its_kind_rows() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    let mut ids = Vec::new();
    for body in every_kind(&f) {
        ids.push(
            judgments::insert(&mut conn, &new_judgment(&f, body))
                .await
                .unwrap(),
        );
    }
    for id in &ids {
        judgments::delete(&mut conn, *id).await.unwrap();
        assert_not_found(
            judgments::get(&mut conn, *id).await.unwrap_err(),
            "judgment",
            &id.to_string(),
        );
    }
    for table in [
        "judgments",
        "comparisons",
        "ranking_entries",
        "judged_responses",
        "rating_scores",
        "edits",
        "span_annotations",
        "thumbs",
    ] {
        assert_eq!(
            count_rows(&mut conn, table).await,
            0,
            "deleting every judgment must empty {table} (ON DELETE CASCADE)"
        );
    }
    assert_eq!(
        count_rows(&mut conn, "responses").await,
        5,
        "deleting judgments keeps the responses"
    );
    assert_not_found(
        judgments::delete(&mut conn, ids[0]).await.unwrap_err(),
        "judgment",
        &ids[0].to_string(),
    );
}

#[tokio::test]
async fn delete_is_refused_while_a_snapshot_holds_the_judgment() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    let held = judgments::insert(
        &mut conn,
        &new_judgment(
            &f,
            JudgmentBody::Thumbs {
                response_id: f.r[0],
                up: true,
            },
        ),
    )
    .await
    .unwrap();
    let free = judgments::insert(
        &mut conn,
        &new_judgment(
            &f,
            JudgmentBody::Thumbs {
                response_id: f.r[1],
                up: true,
            },
        ),
    )
    .await
    .unwrap();
    snapshots::insert(&mut conn, f.seed.project_id, &[held], "abc", &json!({}))
        .await
        .unwrap();

    let err = judgments::delete(&mut conn, held)
        .await
        .expect_err("a snapshotted judgment must not be deletable");
    assert_constraint(err, ErrorKind::ForeignKeyViolation);
    let still = judgments::get(&mut conn, held)
        .await
        .expect("the refused delete keeps the judgment");
    assert_eq!(
        still.body,
        JudgmentBody::Thumbs {
            response_id: f.r[0],
            up: true
        },
        "and its kind row"
    );

    judgments::delete(&mut conn, free)
        .await
        .expect("a judgment no snapshot holds can be deleted");
    assert_eq!(
        count_rows(&mut conn, "judgments").await,
        1,
        "only the held judgment is left"
    );
}

/// Inserts `new`, expects a constraint violation of `kind`, and checks that nothing was written.
async fn assert_refused_atomically(conn: &mut Conn, new: &NewJudgment, kind: ErrorKind, why: &str) {
    let before = count_rows(conn, "judgments").await;
    let err = judgments::insert(conn, new)
        .await
        .err()
        .unwrap_or_else(|| panic!("{why}: insert must fail"));
    assert_constraint(err, kind);
    assert_eq!(
        count_rows(conn, "judgments").await,
        before,
        "{why}: a refused judgment must leave no row in judgments"
    );
    for table in [
        "comparisons",
        "ranking_entries",
        "judged_responses",
        "rating_scores",
        "edits",
        "span_annotations",
        "thumbs",
    ] {
        assert_eq!(
            count_rows(conn, table).await,
            0,
            "{why}: a refused judgment must leave no row in {table}"
        );
    }
}

#[tokio::test]
async fn kind_rows_that_violate_constraints_roll_back_the_whole_judgment() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    let r = &f.r;
    let cases: Vec<(JudgmentBody, ErrorKind, &str)> = vec![
        (
            JudgmentBody::Ranking {
                ranked: vec![r[0], r[1], r[0]],
            },
            ErrorKind::UniqueViolation,
            "ranking with a repeated response",
        ),
        (
            JudgmentBody::Comparison {
                response_a: r[2],
                response_b: r[2],
                choice: Choice::A,
                strength: None,
                reason: None,
            },
            ErrorKind::CheckViolation,
            "comparison of a response with itself",
        ),
        (
            JudgmentBody::Comparison {
                response_a: r[0],
                response_b: r[1],
                choice: Choice::A,
                strength: Some(4),
                reason: None,
            },
            ErrorKind::CheckViolation,
            "comparison strength 4",
        ),
        (
            JudgmentBody::Comparison {
                response_a: r[0],
                response_b: r[1],
                choice: Choice::B,
                strength: Some(0),
                reason: None,
            },
            ErrorKind::CheckViolation,
            "comparison strength 0",
        ),
        (
            JudgmentBody::Span {
                response_id: r[0],
                spans: vec![SpanMark {
                    start: 3,
                    end: 3,
                    label: "x".into(),
                    note: None,
                }],
            },
            ErrorKind::CheckViolation,
            "empty span",
        ),
        (
            JudgmentBody::Span {
                response_id: r[0],
                spans: vec![
                    SpanMark {
                        start: 0,
                        end: 2,
                        label: "ok".into(),
                        note: None,
                    },
                    SpanMark {
                        start: -1,
                        end: 2,
                        label: "x".into(),
                        note: None,
                    },
                ],
            },
            ErrorKind::CheckViolation,
            "span starting before the text (after a valid span)",
        ),
        (
            JudgmentBody::Thumbs {
                response_id: ResponseId(9_999),
                up: true,
            },
            ErrorKind::ForeignKeyViolation,
            "thumbs on a missing response",
        ),
        (
            JudgmentBody::Comparison {
                response_a: r[0],
                response_b: ResponseId(9_999),
                choice: Choice::A,
                strength: None,
                reason: None,
            },
            ErrorKind::ForeignKeyViolation,
            "comparison with a missing response",
        ),
        (
            JudgmentBody::Edit {
                response_id: r[0],
                corrected_response_id: ResponseId(9_999),
                diff: String::new(),
            },
            ErrorKind::ForeignKeyViolation,
            "edit whose corrected response is missing",
        ),
        (
            JudgmentBody::Ranking {
                ranked: vec![r[0], ResponseId(9_999)],
            },
            ErrorKind::ForeignKeyViolation,
            "ranking with a missing response",
        ),
    ];
    for (body, kind, why) in cases {
        assert_refused_atomically(&mut conn, &new_judgment(&f, body), kind, why).await;
    }
    // The connection is still usable and a valid judgment goes in afterwards.
    judgments::insert(
        &mut conn,
        &new_judgment(&f, JudgmentBody::Critique { response_id: r[0] }),
    )
    .await
    .unwrap();
    assert_eq!(
        count_rows(&mut conn, "judgments").await,
        1,
        "a valid insert after the refusals works"
    );
}

#[tokio::test]
async fn base_rows_that_violate_constraints_are_refused() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    let body = || JudgmentBody::Demonstration {
        response_id: f.r[0],
    };
    let missing_prompt = NewJudgment {
        prompt_id: hone_store::PromptId(9_999),
        ..new_judgment(&f, body())
    };
    assert_refused_atomically(
        &mut conn,
        &missing_prompt,
        ErrorKind::ForeignKeyViolation,
        "judgment for a missing prompt",
    )
    .await;
    let missing_project = NewJudgment {
        project_id: ProjectId(9_999),
        ..new_judgment(&f, body())
    };
    assert_refused_atomically(
        &mut conn,
        &missing_project,
        ErrorKind::ForeignKeyViolation,
        "judgment for a missing project",
    )
    .await;
    let missing_annotator = NewJudgment {
        annotator_id: hone_store::AnnotatorId(9_999),
        ..new_judgment(&f, body())
    };
    assert_refused_atomically(
        &mut conn,
        &missing_annotator,
        ErrorKind::ForeignKeyViolation,
        "judgment by a missing annotator",
    )
    .await;
    let negative_time = NewJudgment {
        time_spent_ms: -1,
        ..new_judgment(&f, body())
    };
    assert_refused_atomically(
        &mut conn,
        &negative_time,
        ErrorKind::CheckViolation,
        "negative time spent",
    )
    .await;
}

#[tokio::test]
async fn inside_a_caller_transaction_a_failed_insert_rolls_back_only_itself() {
    let (_dir, store) = open_store().await;
    let f = {
        let mut conn = store.conn().await.unwrap();
        fixture(&mut conn, "p").await
    };
    let mut tx = store.begin().await.unwrap();
    let first = judgments::insert(
        &mut tx,
        &new_judgment(
            &f,
            JudgmentBody::Thumbs {
                response_id: f.r[0],
                up: true,
            },
        ),
    )
    .await
    .unwrap();
    let bad = new_judgment(
        &f,
        JudgmentBody::Ranking {
            ranked: vec![f.r[1], f.r[1]],
        },
    );
    assert!(
        judgments::insert(&mut tx, &bad).await.is_err(),
        "the duplicate ranking must fail"
    );
    let second = judgments::insert(
        &mut tx,
        &new_judgment(
            &f,
            JudgmentBody::Demonstration {
                response_id: f.r[2],
            },
        ),
    )
    .await
    .unwrap();
    tx.commit()
        .await
        .expect("the caller's transaction survives a failed judgment insert");

    let mut conn = store.conn().await.unwrap();
    let ids: Vec<hone_store::JudgmentId> = judgments::list(&mut conn, f.seed.project_id, None)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(
        ids,
        vec![first, second],
        "both good judgments are committed, the failed one left nothing"
    );
    assert_eq!(
        count_rows(&mut conn, "ranking_entries").await,
        0,
        "the failed ranking left no entries"
    );
}

#[tokio::test]
async fn a_judgment_in_a_caller_transaction_that_is_dropped_is_not_stored() {
    let (_dir, store) = open_store().await;
    let f = {
        let mut conn = store.conn().await.unwrap();
        fixture(&mut conn, "p").await
    };
    {
        let mut tx = store.begin().await.unwrap();
        judgments::insert(
            &mut tx,
            &new_judgment(
                &f,
                JudgmentBody::Thumbs {
                    response_id: f.r[0],
                    up: true,
                },
            ),
        )
        .await
        .unwrap();
    }
    let mut conn = store.conn().await.unwrap();
    assert_eq!(
        count_rows(&mut conn, "judgments").await,
        0,
        "the judgment's own savepoint must not commit the caller's transaction"
    );
    assert_eq!(count_rows(&mut conn, "thumbs").await, 0, "nor its kind row");
}

#[test]
fn body_kind_and_response_ids() {
    let edit = JudgmentBody::Edit {
        response_id: ResponseId(4),
        corrected_response_id: ResponseId(9),
        diff: String::new(),
    };
    assert_eq!(edit.kind(), JudgmentKind::Edit, "edit kind");
    assert_eq!(
        edit.response_ids(),
        vec![ResponseId(4)],
        "an edit is about the original only"
    );
    let ranking = JudgmentBody::Ranking {
        ranked: vec![ResponseId(3), ResponseId(1), ResponseId(2)],
    };
    assert_eq!(
        ranking.response_ids(),
        vec![ResponseId(3), ResponseId(1), ResponseId(2)],
        "a ranking is about its responses, best first"
    );
    let cmp = JudgmentBody::Comparison {
        response_a: ResponseId(7),
        response_b: ResponseId(5),
        choice: Choice::Tie,
        strength: None,
        reason: None,
    };
    assert_eq!(
        cmp.response_ids(),
        vec![ResponseId(7), ResponseId(5)],
        "a comparison is about A then B"
    );
}

#[tokio::test]
async fn snapshots_holding_lists_the_snapshots_that_hold_a_judgment() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    let a = judgments::insert(
        &mut conn,
        &new_judgment(
            &f,
            JudgmentBody::Thumbs {
                response_id: f.r[0],
                up: true,
            },
        ),
    )
    .await
    .unwrap();
    let b = judgments::insert(
        &mut conn,
        &new_judgment(
            &f,
            JudgmentBody::Thumbs {
                response_id: f.r[1],
                up: false,
            },
        ),
    )
    .await
    .unwrap();
    assert!(
        judgments::snapshots_holding(&mut conn, a)
            .await
            .unwrap()
            .is_empty(),
        "a fresh judgment is in no snapshot"
    );
    let s1 = snapshots::insert(&mut conn, f.seed.project_id, &[a, b], "h1", &json!({}))
        .await
        .unwrap();
    let s2 = snapshots::insert(&mut conn, f.seed.project_id, &[b], "h2", &json!({}))
        .await
        .unwrap();
    let s3 = snapshots::insert(&mut conn, f.seed.project_id, &[a], "h3", &json!({}))
        .await
        .unwrap();
    assert_eq!(
        judgments::snapshots_holding(&mut conn, a).await.unwrap(),
        vec![s1.id, s3.id],
        "a is in s1 and s3, by id"
    );
    assert_eq!(
        judgments::snapshots_holding(&mut conn, b).await.unwrap(),
        vec![s1.id, s2.id],
        "b is in s1 and s2, by id"
    );
    assert!(
        judgments::snapshots_holding(&mut conn, hone_store::JudgmentId(9_999))
            .await
            .unwrap()
            .is_empty(),
        "a missing judgment is in no snapshot"
    );
}

#[tokio::test]
async fn an_empty_ranking_that_was_stored_can_be_read_back() {
    // The store leaves domain validation to hone-core, so an empty ranking can be written;
    // it must not then make `get` and `list` of the whole project fail.
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    let new = new_judgment(&f, JudgmentBody::Ranking { ranked: vec![] });
    let id = judgments::insert(&mut conn, &new).await.unwrap();
    assert_is(
        &judgments::get(&mut conn, id)
            .await
            .expect("an empty ranking reads back"),
        id,
        &new,
    );
    assert_eq!(
        judgments::list(&mut conn, f.seed.project_id, None)
            .await
            .expect("list still works")
            .len(),
        1,
        "listed"
    );
}

#[tokio::test]
async fn verdicts_on_finds_only_the_same_annotators_verdicts_of_import_kinds() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    let r = &f.r;
    let compare = |a, b, choice| JudgmentBody::Comparison {
        response_a: a,
        response_b: b,
        choice,
        strength: Some(2),
        reason: None,
    };
    for body in [
        compare(r[0], r[1], Choice::A),
        compare(r[1], r[2], Choice::B),
        JudgmentBody::Thumbs {
            response_id: r[2],
            up: true,
        },
        JudgmentBody::Demonstration { response_id: r[3] },
        JudgmentBody::Critique { response_id: r[0] },
    ] {
        judgments::insert(&mut conn, &new_judgment(&f, body))
            .await
            .unwrap();
    }
    let me = f.seed.annotator_id;
    let found = judgments::verdicts_on(&mut conn, me, r).await.unwrap();
    let expected: std::collections::HashSet<ImportedVerdict> = [
        ImportedVerdict::Preferred {
            chosen: r[0],
            rejected: r[1],
        },
        ImportedVerdict::Thumbs {
            response_id: r[2],
            up: true,
        },
        ImportedVerdict::Demonstration { response_id: r[3] },
    ]
    .into();
    assert_eq!(
        found, expected,
        "A-over-B comparisons (strength aside), thumbs and demonstrations; not B choices or critiques"
    );
    let only_second = judgments::verdicts_on(&mut conn, me, &r[1..2])
        .await
        .unwrap();
    assert!(
        only_second.is_empty(),
        "a comparison is found by its chosen answer, a single verdict by its response: {only_second:?}"
    );
    let other = annotators::get_or_create(&mut conn, "someone else", AnnotatorKind::Human)
        .await
        .unwrap()
        .id;
    assert!(
        judgments::verdicts_on(&mut conn, other, r)
            .await
            .unwrap()
            .is_empty(),
        "another annotator's verdicts are theirs"
    );
}

#[tokio::test]
async fn gold_marks_are_idempotent_listed_per_project_and_go_with_their_judgment() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    let other = fixture(&mut conn, "q").await;
    let a = judgments::insert(
        &mut conn,
        &new_judgment(
            &f,
            JudgmentBody::Thumbs {
                response_id: f.r[0],
                up: true,
            },
        ),
    )
    .await
    .unwrap();
    let b = judgments::insert(
        &mut conn,
        &new_judgment(
            &f,
            JudgmentBody::Thumbs {
                response_id: f.r[1],
                up: false,
            },
        ),
    )
    .await
    .unwrap();
    let c = judgments::insert(
        &mut conn,
        &new_judgment(
            &other,
            JudgmentBody::Thumbs {
                response_id: other.r[0],
                up: true,
            },
        ),
    )
    .await
    .unwrap();
    for id in [b, a, a, c] {
        gold::mark(&mut conn, id).await.unwrap();
    }
    assert_eq!(
        gold::list(&mut conn, f.seed.project_id).await.unwrap(),
        vec![a, b],
        "one mark each, this project only, in id order"
    );
    assert_not_found(
        gold::mark(&mut conn, hone_store::JudgmentId(9999))
            .await
            .unwrap_err(),
        "judgment",
        "9999",
    );
    assert!(gold::unmark(&mut conn, b).await.unwrap(), "b was gold");
    assert!(
        !gold::unmark(&mut conn, b).await.unwrap(),
        "b is no longer gold"
    );
    judgments::delete(&mut conn, a).await.unwrap();
    assert_eq!(
        gold::list(&mut conn, f.seed.project_id).await.unwrap(),
        Vec::<hone_store::JudgmentId>::new(),
        "undoing a gold judgment unmarks it"
    );
}

#[tokio::test]
async fn reward_scores_are_kept_per_version_and_replaced_when_written_again() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let f = fixture(&mut conn, "p").await;
    use hone_store::models::{self, NewBaseModel, NewModelVersion};
    let base = NewBaseModel {
        name: "x".into(),
        location: "/models/x".into(),
        architecture: "llama".into(),
        sha256: None,
        config: json!({}),
    };
    let base = models::insert_base(&mut conn, &base).await.unwrap();
    let mut versions = Vec::new();
    for name in ["rm-1", "rm-2"] {
        let v = NewModelVersion {
            project_id: f.seed.project_id,
            name: name.into(),
            parent_id: None,
            base_model_id: base.id,
            method: "rm".into(),
            hyperparams: json!({}),
            snapshot_id: None,
            metrics: json!({}),
            adapter_dir: None,
            job_id: None,
            files: Vec::new(),
        };
        versions.push(models::insert_version(&mut conn, &v).await.unwrap().id);
    }
    reward_scores::put_many(&mut conn, versions[0], &[(f.r[0], 1.5), (f.r[1], -0.25)])
        .await
        .unwrap();
    reward_scores::put_many(&mut conn, versions[1], &[(f.r[0], 9.0)])
        .await
        .unwrap();
    reward_scores::put_many(&mut conn, versions[0], &[(f.r[1], 0.75)])
        .await
        .unwrap();
    let got = reward_scores::get_many(&mut conn, versions[0], &[f.r[0], f.r[1], f.r[2]])
        .await
        .unwrap();
    assert_eq!(got.len(), 2, "r[2] was never scored");
    assert_eq!(
        (got[&f.r[0]], got[&f.r[1]]),
        (1.5, 0.75),
        "the other version's score is apart; a rewrite replaces"
    );
}
