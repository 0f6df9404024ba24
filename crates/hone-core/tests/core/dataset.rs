use std::collections::BTreeMap;

use hone_core::dataset::{ConflictSubject, SnapshotFilter, TrainingData};
use hone_core::feedback::FeedbackKind;
use hone_core::projects::ProjectSpec;
use hone_core::store::judgments::SpanMark;
use hone_core::store::projects::NamedItem;
use hone_core::{Choice, Hone, ProjectId, Split};

use crate::{assert_invalid, compare, input, judge, open, project, prompt_with, record, thumbs};

async fn data(hone: &Hone, p: ProjectId) -> TrainingData {
    hone.training_data(p, &SnapshotFilter::default())
        .await
        .expect("training data")
}

/// (chosen, rejected) texts of the preference rows.
fn pairs(d: &TrainingData) -> Vec<(&str, &str)> {
    d.preferences
        .iter()
        .map(|r| (r.chosen.as_str(), r.rejected.as_str()))
        .collect()
}

/// (completion, label) of the KTO rows.
fn kto(d: &TrainingData) -> Vec<(&str, bool)> {
    d.kto
        .iter()
        .map(|r| (r.completion.as_str(), r.label))
        .collect()
}

/// The ids of these annotators, sorted.
pub async fn annotator_ids(hone: &Hone, names: &[&str]) -> Vec<hone_core::AnnotatorId> {
    let mut conn = hone.store().conn().await.unwrap();
    let mut v = Vec::new();
    for n in names {
        v.push(
            hone_core::store::annotators::get_by_name(&mut conn, n)
                .await
                .unwrap()
                .id,
        );
    }
    v.sort();
    v
}

#[tokio::test]
async fn a_comparison_makes_a_preference_whichever_side_was_shown() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (prompt, r) = prompt_with(&ws, p, "Q1", &["good", "bad"]).await;
    let (_, s) = prompt_with(&ws, p, "Q2", &["worse", "better"]).await;
    // The preferred response shown on the right (B), then on the left (A).
    let j1 = judge(&ws, p, "alice", compare(r[1], r[0], Choice::B)).await;
    let j2 = judge(&ws, p, "alice", compare(s[1], s[0], Choice::A)).await;
    let d = data(&ws, p).await;
    assert_eq!(
        pairs(&d),
        vec![("good", "bad"), ("better", "worse")],
        "the chosen text is the preferred response's"
    );
    let row = &d.preferences[0];
    assert_eq!(
        (row.chosen_response_id, row.rejected_response_id),
        (r[0], r[1])
    );
    assert_eq!(row.judgment_ids, vec![j1]);
    assert_eq!(row.prompt.text, "Q1");
    assert_eq!(row.prompt.messages, None);
    assert_eq!(d.preferences[1].judgment_ids, vec![j2]);
    assert!(
        d.sft.is_empty() && d.kto.is_empty() && d.conflicts.is_empty(),
        "a comparison only makes a preference"
    );
    let _ = prompt;
}

#[tokio::test]
async fn a_tie_makes_nothing_and_both_bad_makes_two_undesirable_examples() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(&ws, p, "Q", &["one", "two", "three", "four"]).await;
    judge(&ws, p, "alice", compare(r[0], r[1], Choice::Tie)).await;
    assert_eq!(
        data(&ws, p).await,
        TrainingData::default(),
        "a tie says nothing to train on"
    );
    let j = judge(&ws, p, "alice", compare(r[3], r[2], Choice::BothBad)).await;
    let d = data(&ws, p).await;
    assert!(d.preferences.is_empty(), "both bad is not a preference");
    assert_eq!(
        kto(&d),
        vec![("four", false), ("three", false)],
        "both responses are undesirable"
    );
    assert!(d.kto.iter().all(|row| row.judgment_ids == vec![j]));
}

#[tokio::test]
async fn a_ranking_of_four_makes_six_pairs_best_over_worse() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(&ws, p, "Q", &["a", "b", "c", "d"]).await;
    let ranked = vec![r[2], r[0], r[3], r[1]]; // c > a > d > b
    judge(
        &ws,
        p,
        "alice",
        FeedbackKind::Ranking {
            ranked: ranked.clone(),
        },
    )
    .await;
    let d = data(&ws, p).await;
    assert_eq!(d.preferences.len(), 6, "k(k−1)/2 pairs for k = 4");
    let position = |id: hone_core::ResponseId| ranked.iter().position(|&x| x == id).unwrap();
    for row in &d.preferences {
        assert!(
            position(row.chosen_response_id) < position(row.rejected_response_id),
            "{} must be ranked above {}",
            row.chosen,
            row.rejected
        );
    }
    assert_eq!(
        pairs(&d),
        vec![
            ("c", "a"),
            ("c", "d"),
            ("c", "b"),
            ("a", "d"),
            ("a", "b"),
            ("d", "b")
        ]
    );
}

#[tokio::test]
async fn a_rating_is_desirable_when_its_mean_reaches_the_threshold() {
    let ws = open().await;
    let mut spec = ProjectSpec::named("law");
    spec.criteria = ["accuracy", "clarity"]
        .map(|n| NamedItem {
            name: n.into(),
            description: String::new(),
        })
        .to_vec();
    spec.settings.kto_threshold = 5.0;
    let p = ws.create_project(&spec).await.unwrap().project.id;
    let (_, r) = prompt_with(
        &ws,
        p,
        "Q",
        &["exactly at", "just below", "high", "one criterion"],
    )
    .await;
    let rate = |id: hone_core::ResponseId, s: &[(&str, i64)]| FeedbackKind::Rating {
        response_id: id,
        scores: s
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect::<BTreeMap<_, _>>(),
    };
    judge(
        &ws,
        p,
        "alice",
        rate(r[0], &[("accuracy", 4), ("clarity", 6)]),
    )
    .await; // mean 5.0
    judge(
        &ws,
        p,
        "alice",
        rate(r[1], &[("accuracy", 4), ("clarity", 5)]),
    )
    .await; // mean 4.5
    judge(
        &ws,
        p,
        "alice",
        rate(r[2], &[("accuracy", 7), ("clarity", 7)]),
    )
    .await; // mean 7
    judge(&ws, p, "alice", rate(r[3], &[("clarity", 3)])).await; // mean 3 over the criteria scored
    let d = data(&ws, p).await;
    assert_eq!(
        kto(&d),
        vec![
            ("exactly at", true),
            ("just below", false),
            ("high", true),
            ("one criterion", false)
        ],
        "the mean over criteria is compared with kto_threshold (≥ is desirable)"
    );
    assert!(d.preferences.is_empty() && d.sft.is_empty());
}

#[tokio::test]
async fn an_edit_makes_an_sft_row_and_a_preference_for_the_correction() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(&ws, p, "Q", &["draft"]).await;
    let recorded = crate::record(
        &ws,
        &crate::input(
            p,
            "alice",
            FeedbackKind::Edit {
                response_id: r[0],
                corrected: "final".into(),
            },
        ),
    )
    .await;
    let corrected = recorded.new_response_id.unwrap();
    let d = data(&ws, p).await;
    assert_eq!(pairs(&d), vec![("final", "draft")], "corrected ≻ original");
    assert_eq!(
        (
            d.preferences[0].chosen_response_id,
            d.preferences[0].rejected_response_id
        ),
        (corrected, r[0])
    );
    assert_eq!(d.sft.len(), 1, "the correction is a demonstration");
    assert_eq!(
        (d.sft[0].completion.as_str(), d.sft[0].response_id),
        ("final", corrected)
    );
    assert_eq!(d.sft[0].judgment_ids, vec![recorded.judgment_id]);
    assert!(d.kto.is_empty());
}

#[tokio::test]
async fn spans_thumbs_and_demonstrations_make_kto_and_sft_rows() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (prompt, r) = prompt_with(&ws, p, "Q", &["flawed answer", "liked", "disliked"]).await;
    judge(
        &ws,
        p,
        "alice",
        FeedbackKind::Span {
            response_id: r[0],
            spans: vec![SpanMark {
                start: 0,
                end: 6,
                label: "style".into(),
                note: None,
            }],
        },
    )
    .await;
    judge(&ws, p, "alice", thumbs(r[1], true)).await;
    judge(&ws, p, "alice", thumbs(r[2], false)).await;
    let demo = judge(
        &ws,
        p,
        "alice",
        FeedbackKind::Demonstration {
            prompt_id: prompt,
            text: "reference".into(),
        },
    )
    .await;
    let mut critique = crate::input(p, "alice", FeedbackKind::Critique { response_id: r[1] });
    critique.critique = Some("fine, but long".into());
    crate::record(&ws, &critique).await;
    let d = data(&ws, p).await;
    assert_eq!(
        kto(&d),
        vec![
            ("flawed answer", false),
            ("liked", true),
            ("disliked", false)
        ],
        "span → undesirable; thumbs → its verdict"
    );
    assert_eq!(
        d.sft
            .iter()
            .map(|r| r.completion.as_str())
            .collect::<Vec<_>>(),
        vec!["reference"]
    );
    assert_eq!(d.sft[0].judgment_ids, vec![demo]);
    assert!(
        d.preferences.is_empty(),
        "none of these makes a pair; a critique makes nothing"
    );
}

#[tokio::test]
async fn the_majority_wins_and_disagreements_are_reported() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (prompt, r) = prompt_with(&ws, p, "Q", &["A", "B", "C", "D"]).await;
    // A vs B: 2 against 1 (the minority shown the other way round).
    let a1 = judge(&ws, p, "alice", compare(r[0], r[1], Choice::A)).await;
    let a2 = judge(&ws, p, "bob", compare(r[1], r[0], Choice::B)).await;
    let a3 = judge(&ws, p, "carol", compare(r[0], r[1], Choice::B)).await;
    // C vs D: 1 against 1.
    let c1 = judge(&ws, p, "alice", compare(r[2], r[3], Choice::A)).await;
    let c2 = judge(&ws, p, "bob", compare(r[2], r[3], Choice::B)).await;
    let d = data(&ws, p).await;
    assert_eq!(
        pairs(&d),
        vec![("A", "B")],
        "2 to 1 keeps the majority's pair; 1 to 1 is dropped"
    );
    assert_eq!(
        d.preferences[0].judgment_ids,
        vec![a1, a2],
        "the row cites the majority's judgments"
    );
    assert_eq!(
        d.conflicts.len(),
        2,
        "both disagreements are reported: {:#?}",
        d.conflicts
    );

    let resolved = &d.conflicts[0];
    assert_eq!(
        resolved.subject,
        ConflictSubject::Pair {
            first: r[0],
            second: r[1]
        }
    );
    assert_eq!(
        (
            resolved.votes_for,
            resolved.votes_against,
            resolved.resolved
        ),
        (2, 1, true),
        "2 to 1 is resolved"
    );
    assert_eq!(resolved.judgment_ids, vec![a1, a2, a3]);
    assert_eq!(
        resolved.annotator_ids,
        annotator_ids(&ws, &["alice", "bob", "carol"]).await
    );
    assert_eq!(resolved.prompt_id, prompt);
    let even = &d.conflicts[1];
    assert_eq!(
        even.subject,
        ConflictSubject::Pair {
            first: r[2],
            second: r[3]
        }
    );
    assert_eq!(
        (even.votes_for, even.votes_against, even.resolved),
        (1, 1, false),
        "an even split is not resolved"
    );
    assert_eq!(even.judgment_ids, vec![c1, c2]);
}

#[tokio::test]
async fn desirability_votes_are_pooled_too() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(&ws, p, "Q", &["x", "y"]).await;
    judge(&ws, p, "alice", thumbs(r[0], true)).await;
    judge(&ws, p, "bob", thumbs(r[0], false)).await;
    judge(&ws, p, "carol", compare(r[0], r[1], Choice::BothBad)).await;
    let d = data(&ws, p).await;
    assert_eq!(
        kto(&d),
        vec![("x", false), ("y", false)],
        "1 up against 2 down is undesirable"
    );
    assert_eq!(d.conflicts.len(), 1);
    assert_eq!(
        d.conflicts[0].subject,
        ConflictSubject::Desirability { response_id: r[0] }
    );
    assert_eq!(
        (
            d.conflicts[0].votes_for,
            d.conflicts[0].votes_against,
            d.conflicts[0].resolved
        ),
        (1, 2, true)
    );
}

#[tokio::test]
async fn held_out_prompts_and_excluded_annotators_are_left_out() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, train) = prompt_with(&ws, p, "train Q", &["t1", "t2"]).await;
    let (heldout, held) = prompt_with(&ws, p, "heldout Q", &["h1", "h2"]).await;
    ws.set_prompt_split(heldout, Split::Heldout).await.unwrap();
    judge(&ws, p, "alice", compare(train[0], train[1], Choice::A)).await;
    judge(&ws, p, "alice", compare(held[0], held[1], Choice::A)).await;
    judge(&ws, p, "bob", thumbs(train[1], false)).await;

    let d = data(&ws, p).await;
    assert_eq!(
        pairs(&d),
        vec![("t1", "t2")],
        "the default filter takes the train split only"
    );
    let all = ws
        .training_data(
            p,
            &SnapshotFilter {
                split: None,
                exclude_annotators: vec![],
                ..SnapshotFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        pairs(&all),
        vec![("t1", "t2"), ("h1", "h2")],
        "split None takes both"
    );
    let only_held = ws
        .training_data(
            p,
            &SnapshotFilter {
                split: Some(Split::Heldout),
                exclude_annotators: vec![],
                ..SnapshotFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(pairs(&only_held), vec![("h1", "h2")]);
    assert!(only_held.kto.is_empty());

    assert_eq!(kto(&d), vec![("t2", false)]);
    let without_bob = ws
        .training_data(
            p,
            &SnapshotFilter {
                split: Some(Split::Train),
                exclude_annotators: vec!["bob".into()],
                ..SnapshotFilter::default()
            },
        )
        .await
        .unwrap();
    assert!(without_bob.kto.is_empty(), "bob's judgments are left out");
    assert_eq!(pairs(&without_bob), vec![("t1", "t2")], "alice's stay");
    let without_alice = ws
        .training_data(
            p,
            &SnapshotFilter {
                split: Some(Split::Train),
                exclude_annotators: vec!["alice".into()],
                ..SnapshotFilter::default()
            },
        )
        .await
        .unwrap();
    assert!(without_alice.preferences.is_empty());
    assert_invalid(
        ws.training_data(
            p,
            &SnapshotFilter {
                split: None,
                exclude_annotators: vec!["zed".into()],
                ..SnapshotFilter::default()
            },
        )
        .await,
        "exclude_annotators",
    );
}

#[tokio::test]
async fn chat_prompts_keep_their_conversation_in_the_rows() {
    use hone_core::store::prompts::{ChatMessage, NewPrompt};
    let ws = open().await;
    let p = project(&ws, "law").await;
    let messages = vec![
        ChatMessage {
            role: "system".into(),
            content: "You are a lawyer.".into(),
        },
        ChatMessage {
            role: "user".into(),
            content: "Is it legal?".into(),
        },
    ];
    let prompt = ws
        .add_prompt(
            p,
            &NewPrompt {
                text: "Is it legal?".into(),
                messages: Some(messages.clone()),
                split: Split::Train,
                tags: vec![],
            },
        )
        .await
        .unwrap();
    let a = ws
        .add_response(&hone_core::store::responses::NewResponse::new(
            prompt.id,
            "Yes.",
            hone_core::ResponseSource::Model,
        ))
        .await
        .unwrap();
    let b = ws
        .add_response(&hone_core::store::responses::NewResponse::new(
            prompt.id,
            "No.",
            hone_core::ResponseSource::Model,
        ))
        .await
        .unwrap();
    judge(&ws, p, "alice", compare(a.id, b.id, Choice::B)).await;
    let d = data(&ws, p).await;
    assert_eq!(d.preferences[0].prompt.messages.as_ref(), Some(&messages));
    let trl = d.preferences[0].to_trl();
    assert_eq!(
        trl["prompt"],
        serde_json::json!(messages),
        "a chat prompt gives the conversational form"
    );
    assert_eq!(
        trl["chosen"],
        serde_json::json!([{"role": "assistant", "content": "No."}])
    );
    assert_eq!(
        trl["rejected"],
        serde_json::json!([{"role": "assistant", "content": "Yes."}])
    );
}

#[tokio::test]
async fn an_annotator_who_changes_their_mind_counts_once_with_the_latest_verdict() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(&ws, p, "Q", &["A", "B"]).await;
    judge(&ws, p, "alice", compare(r[0], r[1], Choice::A)).await;
    let latest = judge(&ws, p, "alice", compare(r[0], r[1], Choice::B)).await;
    judge(&ws, p, "bob", compare(r[0], r[1], Choice::B)).await;
    let d = data(&ws, p).await;
    assert_eq!(
        pairs(&d),
        vec![("B", "A")],
        "alice's latest verdict replaces her first"
    );
    assert!(
        d.conflicts.is_empty(),
        "alice's old vote is not a disagreement with bob: {:#?}",
        d.conflicts
    );
    assert!(d.preferences[0].judgment_ids.contains(&latest));
    assert_eq!(
        d.preferences[0].judgment_ids.len(),
        2,
        "one vote per annotator: {:?}",
        d.preferences[0].judgment_ids
    );
}

#[tokio::test]
async fn a_later_tie_or_both_bad_takes_back_the_annotators_preference() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(&ws, p, "Q", &["A", "B"]).await;
    judge(&ws, p, "alice", compare(r[0], r[1], Choice::A)).await;
    judge(&ws, p, "alice", compare(r[1], r[0], Choice::Tie)).await;
    assert!(
        data(&ws, p).await.preferences.is_empty(),
        "alice now prefers neither"
    );
    judge(&ws, p, "alice", compare(r[0], r[1], Choice::A)).await;
    judge(&ws, p, "alice", compare(r[0], r[1], Choice::BothBad)).await;
    let d = data(&ws, p).await;
    assert!(
        d.preferences.is_empty(),
        "both bad prefers neither: {:#?}",
        d.preferences
    );
    assert_eq!(d.kto.len(), 2, "both answers are undesirable examples");
}

#[tokio::test]
async fn two_experts_writing_the_same_correction_make_one_sft_row() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(&ws, p, "Q", &["wrong", "also wrong"]).await;
    let first = record(
        &ws,
        &input(
            p,
            "alice",
            FeedbackKind::Edit {
                response_id: r[0],
                corrected: "right".into(),
            },
        ),
    )
    .await;
    let second = record(
        &ws,
        &input(
            p,
            "bob",
            FeedbackKind::Edit {
                response_id: r[1],
                corrected: "right".into(),
            },
        ),
    )
    .await;
    assert_eq!(
        first.new_response_id, second.new_response_id,
        "the same corrected text is the same response"
    );
    let d = data(&ws, p).await;
    assert_eq!(
        d.sft.len(),
        1,
        "one SFT row for one corrected text: {:#?}",
        d.sft
    );
    assert_eq!(d.sft[0].judgment_ids.len(), 2, "both edits support it");
    assert_eq!(pairs(&d), vec![("right", "wrong"), ("right", "also wrong")]);
}
