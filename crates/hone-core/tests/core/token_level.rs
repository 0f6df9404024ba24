//! Token-level feedback through the core: edits and marked spans become token-level rows, the
//! one-click recipe trains them in its SFT stage, and the plan says what feeds which loss.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use hone_core::dataset::{SnapshotFilter, TrainingData};
use hone_core::feedback::FeedbackKind;
use hone_core::finetune::{Method, Recipe, StageMethod};
use hone_core::model::tiny::{write_tiny_model, TinyArch, TinySize};
use hone_core::store::judgments::SpanMark;
use hone_core::store::projects::SpanLabel;
use hone_core::store::SpanPolarity;
use hone_core::{Hone, ProjectId};

use crate::{assert_invalid, judge, open, project, prompt_with, record, thumbs};

async fn data(hone: &Hone, p: ProjectId) -> TrainingData {
    hone.training_data(p, &SnapshotFilter::default())
        .await
        .expect("training data")
}

fn span(start: i64, end: i64) -> SpanMark {
    SpanMark {
        start,
        end,
        label: "factual_error".into(),
        note: None,
    }
}

fn marks(response_id: hone_core::ResponseId, spans: Vec<SpanMark>) -> FeedbackKind {
    FeedbackKind::Span { response_id, spans }
}

#[tokio::test]
async fn an_edit_and_a_majority_of_marks_give_token_level_rows() {
    let ws = open().await;
    let p = project(&ws, "geo").await;
    let (_, r) = prompt_with(
        &ws,
        p,
        "Where is Paris?",
        &["Paris is in Italy.", "In France."],
    )
    .await;
    let recorded = record(
        &ws,
        &crate::input(
            p,
            "alice",
            FeedbackKind::Edit {
                response_id: r[0],
                corrected: "Paris is in France.".into(),
            },
        ),
    )
    .await;
    // Three annotators mark the first answer: "Italy" (12..17) by alice and bob (bob's span
    // runs on to the full stop), "Paris" by carol alone.
    let a = judge(&ws, p, "alice", marks(r[0], vec![span(12, 17)])).await;
    let b = judge(&ws, p, "bob", marks(r[0], vec![span(11, 18)])).await;
    let c = judge(&ws, p, "carol", marks(r[0], vec![span(0, 5)])).await;
    // One annotator marks the second answer; then says it is fine after all.
    judge(&ws, p, "dave", marks(r[1], vec![span(0, 2)])).await;
    judge(&ws, p, "dave", marks(r[1], vec![])).await;

    let d = data(&ws, p).await;
    assert_eq!(d.edits.len(), 1);
    let edit = &d.edits[0];
    assert_eq!(
        (edit.original.as_str(), edit.corrected.as_str()),
        ("Paris is in Italy.", "Paris is in France.")
    );
    assert_eq!(
        (edit.original_response_id, edit.corrected_response_id),
        (r[0], recorded.new_response_id.unwrap())
    );
    assert_eq!(edit.judgment_ids, vec![recorded.judgment_id]);
    assert_eq!(
        d.spans.len(),
        1,
        "dave's second judgment replaced his marks"
    );
    let row = &d.spans[0];
    assert_eq!(row.response_id, r[0]);
    assert_eq!(row.marked, vec![(12, 17)], "what two of the three marked");
    assert_eq!(row.judgment_ids, vec![a, b, c]);
}

/// A project with a good label: marks under it say what is right. An answer with only good
/// marks is a desirable one; its token-level row asks for the marked tokens and nothing against;
/// a snapshot keeps the labels it was frozen with.
#[tokio::test(flavor = "multi_thread")]
async fn marks_under_a_good_label_ask_for_their_tokens_and_leave_the_answer_desirable() {
    let ws = open().await;
    let p = project(&ws, "good-marks").await;
    let good = SpanLabel {
        polarity: SpanPolarity::Good,
        ..SpanLabel::error("right_step", "the step that answers the question")
    };
    ws.add_span_label(p, &good).await.unwrap();
    let (_, r) = prompt_with(
        &ws,
        p,
        "How do I reset my password?",
        &[
            "Open Settings, then Account.",
            "Open Settings, then Billing.",
        ],
    )
    .await;
    let right = |start, end| SpanMark {
        label: "right_step".into(),
        ..span(start, end)
    };
    // The first answer: its first step marked good, nothing wrong. The second: the same step
    // good, "Billing" (20..27) wrong.
    judge(&ws, p, "alice", marks(r[0], vec![right(0, 13)])).await;
    judge(
        &ws,
        p,
        "alice",
        marks(r[1], vec![right(0, 13), span(20, 27)]),
    )
    .await;

    let d = data(&ws, p).await;
    let kto: Vec<(hone_core::ResponseId, bool)> =
        d.kto.iter().map(|k| (k.response_id, k.label)).collect();
    assert_eq!(
        kto,
        vec![(r[0], true), (r[1], false)],
        "only an error mark makes an answer undesirable"
    );
    let spans: Vec<_> = d
        .spans
        .iter()
        .map(|s| (s.response_id, s.marked.clone(), s.good.clone()))
        .collect();
    assert_eq!(
        spans,
        vec![
            (r[0], vec![], vec![(0, 13)]),
            (r[1], vec![(20, 27)], vec![(0, 13)])
        ]
    );

    // A snapshot freezes the good labels with the rows; its rows read back the same.
    let (snapshot, frozen) = ws
        .freeze_snapshot(p, &SnapshotFilter::default())
        .await
        .unwrap();
    assert_eq!(
        snapshot.description["good_span_labels"],
        serde_json::json!(["right_step"])
    );
    assert_eq!(frozen.spans, d.spans);
    let (_, again) = ws.snapshot_data(snapshot.id).await.unwrap();
    assert_eq!(again, frozen);

    // Token-level spans: the answer marked only good trains for its marked tokens (nothing
    // against), and the whole-answer examples of both marked answers are replaced.
    let model = ws.dir.path().join("tiny-model");
    write_tiny_model(TinyArch::Llama, TinySize::default(), &model, 0).unwrap();
    let mut recipe = Recipe::new(Method::Sft, model);
    small(&mut recipe);
    recipe.token_level.spans = true;
    let plan = ws.plan_fine_tune(p, &recipe).await.unwrap();
    let note = plan
        .notes
        .iter()
        .find(|n| n.starts_with("token-level SFT"))
        .unwrap_or_else(|| panic!("no token-level note in {:?}", plan.notes));
    assert!(note.contains("2 marked answer(s)"), "{note}");
    let count = |before: &str| -> usize {
        let at = note
            .find(before)
            .unwrap_or_else(|| panic!("{before:?} in {note}"));
        note[..at]
            .rsplit(|c: char| !c.is_ascii_digit())
            .find(|w| !w.is_empty())
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("a count before {before:?} in {note}"))
    };
    let asked_for = count(" token(s) asked for");
    let asked_against = count(" asked against");
    assert!(asked_for > 0, "{note}");
    assert!(asked_against > 0, "Billing is asked against: {note}");
    // Without the wrong mark, nothing is asked against.
    judge(&ws, p, "alice", marks(r[1], vec![right(0, 13)])).await;
    let plan = ws.plan_fine_tune(p, &recipe).await.unwrap();
    let note = plan
        .notes
        .iter()
        .find(|n| n.starts_with("token-level SFT"))
        .unwrap();
    assert!(note.contains(", 0 asked against"), "{note}");
    // The one-click recipe: the marked answers' rows replace their KTO rows, so no KTO stage.
    recipe.method = Method::Auto;
    let plan = ws.plan_fine_tune(p, &recipe).await.unwrap();
    let stages: Vec<_> = plan.stages.iter().map(|s| (s.method, s.examples)).collect();
    assert_eq!(stages, vec![(StageMethod::Sft, 2)]);
    recipe.token_level.spans = false;
    let plan = ws.plan_fine_tune(p, &recipe).await.unwrap();
    let stages: Vec<_> = plan.stages.iter().map(|s| (s.method, s.examples)).collect();
    assert_eq!(
        stages,
        vec![(StageMethod::Kto, 2)],
        "whole answers: both desirable"
    );
    // Two thumbs down on the answer alice marked only good: its row (undesirable, by the
    // majority) says what its marks do not, so it stays a whole-answer example.
    judge(&ws, p, "bob", thumbs(r[0], false)).await;
    judge(&ws, p, "carol", thumbs(r[0], false)).await;
    recipe.token_level.spans = true;
    let plan = ws.plan_fine_tune(p, &recipe).await.unwrap();
    let stages: Vec<_> = plan.stages.iter().map(|s| (s.method, s.examples)).collect();
    assert_eq!(stages, vec![(StageMethod::Sft, 2), (StageMethod::Kto, 1)]);
}

/// Four prompts, each answer corrected by an edit ("settings" → "account") and a second
/// answer with "idea" marked wrong.
async fn setup() -> (crate::Ws, ProjectId, std::path::PathBuf) {
    let ws = open().await;
    let p = project(&ws, "support").await;
    for i in 0..4 {
        let (_, r) = prompt_with(
            &ws,
            p,
            &format!("How do I reset password {i}?"),
            &["Open the settings page.", "No idea, sorry."],
        )
        .await;
        judge(
            &ws,
            p,
            "alice",
            FeedbackKind::Edit {
                response_id: r[0],
                corrected: "Open the account page.".into(),
            },
        )
        .await;
        judge(&ws, p, "alice", marks(r[1], vec![span(3, 7)])).await;
    }
    let model = ws.dir.path().join("tiny-model");
    write_tiny_model(TinyArch::Llama, TinySize::default(), &model, 0).unwrap();
    (ws, p, model)
}

fn small(recipe: &mut Recipe) {
    recipe.lora.r = 4;
    for config in [&mut recipe.sft, &mut recipe.preference] {
        config.epochs = 1;
        config.batch_size = 4;
        config.save_steps = 10;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_one_click_recipe_trains_edits_and_marks_on_their_tokens_and_says_so() {
    let (ws, p, model) = setup().await;
    let mut recipe = Recipe::new(Method::Auto, model);
    small(&mut recipe);

    // Off (the default): the corrections are demonstrations, the edit pairs go to DPO, the
    // marked answers are unused undesirable examples (there are pairs).
    let plain = ws.plan_fine_tune(p, &recipe).await.unwrap();
    let shape = |plan: &hone_core::finetune::Plan| -> Vec<(StageMethod, usize)> {
        plan.stages.iter().map(|s| (s.method, s.examples)).collect()
    };
    assert_eq!(
        shape(&plain),
        vec![(StageMethod::Sft, 4), (StageMethod::Dpo, 4)]
    );
    assert!(!plain.notes.iter().any(|n| n.contains("token-level")));

    // On: each edit gives its correction (likelihood on the added tokens) and its original
    // (unlikelihood on the removed ones) instead of the correction as a whole, and each marked
    // answer a row with unlikelihood on its marked tokens.
    recipe.token_level.edits = true;
    recipe.token_level.spans = true;
    recipe.token_level.edit_pairs = true;
    let plan = ws.plan_fine_tune(p, &recipe).await.unwrap();
    assert_eq!(
        shape(&plan),
        vec![(StageMethod::Sft, 12), (StageMethod::Dpo, 4)]
    );
    let note = |what: &str| {
        plan.notes
            .iter()
            .find(|n| n.starts_with(what))
            .unwrap_or_else(|| panic!("no {what:?} note in {:?}", plan.notes))
            .clone()
    };
    let sft = note("token-level SFT");
    assert!(
        sft.contains("4 edit(s)") && sft.contains("4 marked answer(s)"),
        "{sft}"
    );
    assert!(note("token-level DPO").contains("4 edit pair(s)"));

    let outcome = ws
        .fine_tune(p, &recipe, Arc::new(AtomicBool::new(false)), |_| {})
        .await
        .unwrap();
    let metrics = &outcome.version.metrics;
    let metric = |name: &str| {
        metrics
            .get(name)
            .and_then(|v| v.as_f64())
            .unwrap_or_else(|| panic!("no {name} in {metrics}"))
    };
    // The last SFT batch (4 of the 12 rows) asked for and against some tokens; both terms,
    // −log p and −log(1 − p), are positive.
    assert!(metric("sft/loss") > 0.0, "{metrics}");
    assert!(metric("sft/likelihood_tokens") + metric("sft/unlikelihood_tokens") > 0.0);
    // DPO's one step (4 pairs, batch 4) starts from the SFT adapter, which is also its
    // reference: the loss is log 2 but for LoRA dropout's effect on the policy's pass.
    let dpo = metric("dpo/loss");
    assert!((dpo - std::f64::consts::LN_2).abs() < 0.05, "{dpo}");

    // A weight outside 0..=100 is refused, naming it.
    recipe.token_level.edit_weights.removed = -1.0;
    assert_invalid(
        ws.plan_fine_tune(p, &recipe).await,
        "recipe.token_level.edit_weights.removed",
    );
}
