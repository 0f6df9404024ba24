use std::collections::HashSet;

use hone_core::feedback::FeedbackKind;
use hone_core::queue::{QueueItem, MAX_RANKED};
use hone_core::store::projects::NewProject;
use hone_core::store::responses::NewResponse;
use hone_core::{Choice, Hone, JudgmentKind, ProjectId, QueueOrder, ResponseSource};

use crate::{
    compare, input, judge, open, open_seeded, project, project_with_overlap, prompt_n, record,
};

fn ids(item: &QueueItem) -> Vec<hone_core::ResponseId> {
    item.responses.iter().map(|r| r.id).collect()
}

fn sorted(mut v: Vec<hone_core::ResponseId>) -> Vec<hone_core::ResponseId> {
    v.sort_unstable();
    v
}

async fn next(hone: &Hone, p: ProjectId, who: &str, kind: JudgmentKind) -> Option<QueueItem> {
    hone.next_item(p, who, kind).await.expect("next_item")
}

/// Judges a queue item with feedback of its kind, sending back the order shown.
async fn answer(hone: &Hone, p: ProjectId, who: &str, item: &QueueItem) {
    let shown = ids(item);
    let kind = match item.kind {
        JudgmentKind::Comparison => compare(shown[0], shown[1], Choice::A),
        JudgmentKind::Ranking => FeedbackKind::Ranking {
            ranked: shown.clone(),
        },
        JudgmentKind::Thumbs => FeedbackKind::Thumbs {
            response_id: shown[0],
            up: true,
        },
        JudgmentKind::Demonstration => FeedbackKind::Demonstration {
            prompt_id: item.prompt.id,
            text: format!("by {who}"),
        },
        other => panic!("no answer written for {other}"),
    };
    let mut feedback = input(p, who, kind);
    if item.kind != JudgmentKind::Demonstration {
        feedback.shown_order = shown;
    }
    record(hone, &feedback).await;
}

#[tokio::test]
async fn the_queue_skips_what_the_annotator_judged_and_counts_down() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (prompt, r) = prompt_n(&ws, p, "P", 3).await;
    let mut seen = Vec::new();
    for expected_remaining in (1..=3).rev() {
        let item = next(&ws, p, "alice", JudgmentKind::Thumbs)
            .await
            .expect("units are left");
        assert_eq!(
            item.remaining, expected_remaining,
            "remaining counts this unit and those after it"
        );
        assert_eq!(item.prompt.id, prompt);
        assert_eq!((item.judged_by, item.overlap), (0, 1));
        assert_eq!(item.responses.len(), 1, "a thumbs unit is one response");
        assert!(
            !seen.contains(&item.responses[0].id),
            "a unit the annotator judged must not come back"
        );
        seen.push(item.responses[0].id);
        answer(&ws, p, "alice", &item).await;
    }
    assert_eq!(
        seen, r,
        "with nothing started, units come in prompt and response order"
    );
    assert!(
        next(&ws, p, "alice", JudgmentKind::Thumbs).await.is_none(),
        "all judged: the queue is empty"
    );
    assert!(
        next(&ws, p, "bob", JudgmentKind::Thumbs).await.is_none(),
        "overlap 1: a judged unit is done for everyone"
    );
    assert!(
        next(&ws, p, "alice", JudgmentKind::Comparison)
            .await
            .is_some(),
        "the queue is per kind"
    );
}

#[tokio::test]
async fn with_overlap_two_a_unit_goes_to_a_second_annotator_but_not_a_third() {
    let ws = open().await;
    let p = project_with_overlap(&ws, "law", 2).await;
    let (_, r) = prompt_n(&ws, p, "P", 3).await;
    // Alice judges the second response first; it is now started.
    judge(
        &ws,
        p,
        "alice",
        FeedbackKind::Thumbs {
            response_id: r[1],
            up: true,
        },
    )
    .await;

    let bob = next(&ws, p, "bob", JudgmentKind::Thumbs).await.unwrap();
    assert_eq!(
        ids(&bob),
        vec![r[1]],
        "a unit started by another annotator comes before unstarted ones"
    );
    assert_eq!((bob.judged_by, bob.overlap, bob.remaining), (1, 2, 3));
    let alice = next(&ws, p, "alice", JudgmentKind::Thumbs).await.unwrap();
    assert_eq!(
        ids(&alice),
        vec![r[0]],
        "alice is not offered her own unit again"
    );
    assert_eq!(alice.remaining, 2);

    answer(&ws, p, "bob", &bob).await;
    let carol = next(&ws, p, "carol", JudgmentKind::Thumbs).await.unwrap();
    assert_eq!(
        ids(&carol),
        vec![r[0]],
        "a unit judged by `overlap` annotators is not offered to a third"
    );
    assert_eq!(
        carol.remaining, 2,
        "r[1] is complete; r[0] and r[2] are left for carol"
    );

    // Bob's next: r[0] and r[2], unstarted, in order.
    let bob = next(&ws, p, "bob", JudgmentKind::Thumbs).await.unwrap();
    assert_eq!(ids(&bob), vec![r[0]]);
    answer(&ws, p, "bob", &bob).await;
    let carol = next(&ws, p, "carol", JudgmentKind::Thumbs).await.unwrap();
    assert_eq!(
        ids(&carol),
        vec![r[0]],
        "bob started r[0]: it comes first for carol"
    );
    assert_eq!(carol.judged_by, 1);
}

#[tokio::test]
async fn comparisons_pair_responses_of_one_prompt_and_rankings_need_three() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (two, r2) = prompt_n(&ws, p, "two answers", 2).await;
    let (four, r4) = prompt_n(&ws, p, "four answers", 4).await;
    let (eight, r8) = prompt_n(&ws, p, "eight answers", 8).await;

    // Comparisons: 1 + 6 + 28 pairs, every one of them two responses of the same prompt.
    let mut pairs = HashSet::new();
    while let Some(item) = next(&ws, p, "alice", JudgmentKind::Comparison).await {
        assert_eq!(item.responses.len(), 2, "a comparison shows two responses");
        assert!(
            item.responses.iter().all(|r| r.prompt_id == item.prompt.id),
            "both answer the item's prompt"
        );
        assert_ne!(
            item.responses[0].id, item.responses[1].id,
            "two different responses"
        );
        assert!(
            pairs.insert(sorted(ids(&item))),
            "a pair is offered once to the same annotator"
        );
        answer(&ws, p, "alice", &item).await;
    }
    assert_eq!(
        pairs.len(),
        1 + 6 + 28,
        "every pair of each prompt's responses"
    );

    let item = next(&ws, p, "alice", JudgmentKind::Ranking).await.unwrap();
    assert_eq!(
        item.prompt.id, four,
        "a prompt with 2 responses cannot be ranked"
    );
    assert_eq!(
        sorted(ids(&item)),
        r4,
        "a ranking shows the prompt's responses"
    );
    assert_eq!(item.remaining, 2);
    answer(&ws, p, "alice", &item).await;
    let item = next(&ws, p, "alice", JudgmentKind::Ranking).await.unwrap();
    assert_eq!(item.prompt.id, eight);
    assert_eq!(
        item.responses.len(),
        MAX_RANKED,
        "at most MAX_RANKED responses are ranked"
    );
    assert!(item.responses.iter().all(|r| r8.contains(&r.id)));
    answer(&ws, p, "alice", &item).await;
    assert!(next(&ws, p, "alice", JudgmentKind::Ranking).await.is_none());

    // Demonstrations: one per prompt, with no responses.
    let item = next(&ws, p, "alice", JudgmentKind::Demonstration)
        .await
        .unwrap();
    assert_eq!(
        (item.prompt.id, item.responses.len(), item.remaining),
        (two, 0, 3)
    );
    let _ = r2;
}

#[tokio::test]
async fn human_corrections_are_not_sent_back_for_review_but_are_rated() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (prompt, r) = prompt_n(&ws, p, "P", 1).await;
    let human = ws
        .add_response(&NewResponse::new(
            prompt,
            "expert answer",
            ResponseSource::Human,
        ))
        .await
        .unwrap()
        .id;
    for kind in [
        JudgmentKind::Thumbs,
        JudgmentKind::Span,
        JudgmentKind::Edit,
        JudgmentKind::Critique,
    ] {
        let item = next(&ws, p, "alice", kind).await.unwrap();
        assert_eq!(
            (ids(&item), item.remaining),
            (vec![r[0]], 1),
            "{kind}: only the model response is offered"
        );
    }
    let item = next(&ws, p, "alice", JudgmentKind::Rating).await.unwrap();
    assert_eq!(item.remaining, 2, "ratings cover human responses too");
    judge(
        &ws,
        p,
        "alice",
        FeedbackKind::Rating {
            response_id: r[0],
            scores: [("overall".to_string(), 3)].into(),
        },
    )
    .await;
    assert_eq!(
        ids(&next(&ws, p, "alice", JudgmentKind::Rating).await.unwrap()),
        vec![human]
    );
}

#[tokio::test]
async fn the_shown_order_is_shuffled_and_repeatable_by_seed() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    for i in 0..24 {
        prompt_n(&ws, p, &format!("prompt {i}"), 2).await;
    }
    // Over many items, both orders of a pair occur.
    let (mut ascending, mut descending) = (0, 0);
    let mut remaining = 24;
    while let Some(item) = next(&ws, p, "alice", JudgmentKind::Comparison).await {
        assert_eq!(
            item.remaining, remaining,
            "remaining counts down by one per judged unit"
        );
        remaining -= 1;
        let shown = ids(&item);
        if shown[0] < shown[1] {
            ascending += 1
        } else {
            descending += 1
        }
        answer(&ws, p, "alice", &item).await;
    }
    assert_eq!(remaining, 0, "every prompt's pair was offered");
    assert!(
        ascending > 0 && descending > 0,
        "a shuffled order shows both sides first: {ascending} vs {descending}"
    );

    // The same item under different seeds is shown in both orders; the same seed repeats.
    let dir = ws.dir.path().to_owned();
    let p = project(&ws, "seeds").await;
    let (first_prompt, r) = &prompt_n(&ws, p, "unjudged", 2).await;
    let mut orders = HashSet::new();
    for seed in 0..16 {
        let hone = Hone::open(&dir).await.unwrap().with_seed(seed);
        let item = next(&hone, p, "bob", JudgmentKind::Comparison)
            .await
            .unwrap();
        assert_eq!(item.prompt.id, *first_prompt);
        assert_eq!(sorted(ids(&item)), *r);
        orders.insert(ids(&item));
        let again = Hone::open(&dir).await.unwrap().with_seed(seed);
        assert_eq!(
            ids(&next(&again, p, "bob", JudgmentKind::Comparison)
                .await
                .unwrap()),
            ids(&item),
            "seed {seed} repeats"
        );
        hone.close().await;
        again.close().await;
    }
    assert_eq!(
        orders.len(),
        2,
        "different seeds must show the pair in both orders"
    );

    // The same unit asked for twice by one workspace may come in either order (the rng moves on).
    let hone = open_seeded(3).await;
    let p = project(&hone, "x").await;
    let (_, r) = prompt_n(&hone, p, "P", 3).await;
    let mut shown = HashSet::new();
    for _ in 0..16 {
        shown.insert(ids(&next(&hone, p, "alice", JudgmentKind::Ranking)
            .await
            .unwrap()));
    }
    assert!(
        shown.len() > 1,
        "repeated calls must not always show the same order of {r:?}"
    );
}

#[tokio::test]
async fn an_unknown_project_is_not_found_and_an_unknown_annotator_gets_everything() {
    let ws = open().await;
    assert!(matches!(
        ws.next_item(ProjectId(42), "alice", JudgmentKind::Thumbs)
            .await,
        Err(hone_core::CoreError::NotFound { .. })
    ));
    let p = project(&ws, "law").await;
    assert!(
        next(&ws, p, "alice", JudgmentKind::Thumbs).await.is_none(),
        "no prompts: nothing to judge"
    );
    prompt_n(&ws, p, "P", 2).await;
    let item = next(&ws, p, "nobody-yet", JudgmentKind::Thumbs)
        .await
        .unwrap();
    assert_eq!(item.remaining, 2, "a new annotator can judge every unit");
}

#[tokio::test]
async fn the_annotator_is_the_trimmed_name_that_feedback_records() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_n(&ws, p, "P", 2).await;
    // Recorded as " alice " → stored as "alice".
    judge(
        &ws,
        p,
        " alice ",
        FeedbackKind::Thumbs {
            response_id: r[0],
            up: true,
        },
    )
    .await;
    for name in ["alice", " alice", "alice\n"] {
        let item = next(&ws, p, name, JudgmentKind::Thumbs).await.unwrap();
        assert_eq!(
            (ids(&item), item.remaining),
            (vec![r[1]], 1),
            "{name:?} is alice, who judged r[0] already"
        );
    }
    for blank in ["", "  "] {
        crate::assert_invalid(
            ws.next_item(p, blank, JudgmentKind::Thumbs).await,
            "annotator",
        );
    }
}

#[tokio::test]
async fn a_prefetch_skips_the_units_on_screen() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_n(&ws, p, "P", 3).await;
    let on_screen = next(&ws, p, "alice", JudgmentKind::Comparison)
        .await
        .unwrap();
    let shown = ids(&on_screen);
    // Reversed, to show the order of the ids does not matter.
    let prefetched = ws
        .next_item_excluding(
            p,
            "alice",
            JudgmentKind::Comparison,
            &[shown.iter().rev().copied().collect()],
        )
        .await
        .unwrap()
        .unwrap();
    assert_ne!(
        sorted(ids(&prefetched)),
        sorted(shown.clone()),
        "the unit on screen is skipped"
    );
    assert_eq!(
        prefetched.remaining, 2,
        "three pairs of three responses, one skipped"
    );
    let both = vec![shown.clone(), ids(&prefetched)];
    let third = ws
        .next_item_excluding(p, "alice", JudgmentKind::Comparison, &both)
        .await
        .unwrap()
        .unwrap();
    assert!(!both
        .iter()
        .any(|b| sorted(b.clone()) == sorted(ids(&third))));
    let everything = vec![vec![r[0], r[1]], vec![r[0], r[2]], vec![r[1], r[2]]];
    assert!(ws
        .next_item_excluding(p, "alice", JudgmentKind::Comparison, &everything)
        .await
        .unwrap()
        .is_none());
}

/// Sets the project's queue order and gold rate, keeping its other settings.
pub async fn set_queue(hone: &Hone, p: ProjectId, order: QueueOrder, gold_rate: f64) {
    let current = hone.project_details(p).await.unwrap().project;
    let settings = NewProject {
        name: current.name,
        task_description: current.task_description,
        rating_min: current.rating_min,
        rating_max: current.rating_max,
        kto_threshold: current.kto_threshold,
        overlap: current.overlap,
        queue_order: order,
        gold_rate,
    };
    let updated = hone.update_project_settings(p, &settings).await.unwrap();
    assert_eq!((updated.queue_order, updated.gold_rate), (order, gold_rate));
}

#[tokio::test]
async fn the_queue_says_why_an_item_came_up() {
    let ws = open().await;
    let p = project_with_overlap(&ws, "law", 2).await;
    let (_, r) = prompt_n(&ws, p, "P", 3).await;
    assert_eq!(
        next(&ws, p, "bob", JudgmentKind::Thumbs)
            .await
            .unwrap()
            .reason,
        "next in prompt order"
    );
    judge(
        &ws,
        p,
        "alice",
        FeedbackKind::Thumbs {
            response_id: r[2],
            up: true,
        },
    )
    .await;
    let item = next(&ws, p, "bob", JudgmentKind::Thumbs).await.unwrap();
    assert_eq!(ids(&item), vec![r[2]]);
    assert_eq!(
        item.reason,
        "1 of 2 annotators have judged it: finishing its overlap first"
    );
    // Without a reward model, the least-sure order says so and falls back to prompt order.
    set_queue(&ws, p, QueueOrder::LeastSure, 0.0).await;
    let item = next(&ws, p, "bob", JudgmentKind::Thumbs).await.unwrap();
    assert_eq!(ids(&item), vec![r[2]]);
    assert!(
        item.reason.starts_with("no reward model yet to rank by; "),
        "{}",
        item.reason
    );
    crate::assert_invalid(
        ws.update_project_settings(
            p,
            &NewProject {
                gold_rate: 1.5,
                ..NewProject::named("law")
            },
        )
        .await,
        "project.gold_rate",
    );
}

#[tokio::test]
async fn the_random_order_reaches_every_open_unit() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_n(&ws, p, "P", 6).await;
    set_queue(&ws, p, QueueOrder::Random, 0.0).await;
    let mut firsts = HashSet::new();
    for _ in 0..60 {
        let item = next(&ws, p, "bob", JudgmentKind::Thumbs).await.unwrap();
        assert_eq!(item.reason, "picked at random");
        firsts.insert(item.responses[0].id);
    }
    assert_eq!(
        firsts.len(),
        r.len(),
        "60 draws over 6 open units reach all of them (fails with probability < 1e-4)"
    );
}

/// Carol is offered first the pair alice and bob split on, and it stays open past the overlap
/// of two for her tie-breaking verdict; a pair they agree on is done.
#[tokio::test]
async fn the_disagreement_order_puts_split_units_first_and_keeps_them_open_for_a_tie_break() {
    let ws = open().await;
    let p = project_with_overlap(&ws, "law", 2).await;
    let (_, r) = prompt_n(&ws, p, "P", 3).await;
    set_queue(&ws, p, QueueOrder::Disagreement, 0.0).await;
    // Pairs (0,1), (0,2), (1,2): alice and bob agree on (0,1), split on (1,2).
    for who in ["alice", "bob"] {
        judge(&ws, p, who, compare(r[0], r[1], Choice::A)).await;
    }
    judge(&ws, p, "alice", compare(r[1], r[2], Choice::A)).await;
    judge(&ws, p, "bob", compare(r[1], r[2], Choice::B)).await;

    let item = next(&ws, p, "carol", JudgmentKind::Comparison)
        .await
        .unwrap();
    assert_eq!(
        sorted(ids(&item)),
        vec![r[1], r[2]],
        "the split pair comes first"
    );
    assert_eq!(
        (item.judged_by, item.overlap),
        (2, 2),
        "past its overlap, open for a tie-break"
    );
    assert_eq!(
        item.reason,
        "annotators disagree here (2 verdicts split 1–1)"
    );
    assert_eq!(
        item.remaining, 2,
        "the split pair and the unstarted (0,2); the agreed pair is done"
    );
    answer(&ws, p, "carol", &item).await;
    let item = next(&ws, p, "dave", JudgmentKind::Comparison)
        .await
        .unwrap();
    assert_eq!(
        sorted(ids(&item)),
        vec![r[0], r[2]],
        "2–1 has a majority: the pair is closed"
    );
    assert!(
        item.reason.starts_with("no disagreement to resolve; "),
        "{}",
        item.reason
    );
}

/// Gold items come to every other annotator at the gold rate, whatever their overlap, and are
/// shown as a random pick; the report scores the verdicts on them against the gold answer.
#[tokio::test]
async fn gold_items_are_mixed_in_at_the_rate_and_scored_against_the_gold_answer() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_n(&ws, p, "P", 4).await;
    let lead = judge(
        &ws,
        p,
        "lead",
        FeedbackKind::Thumbs {
            response_id: r[3],
            up: false,
        },
    )
    .await;
    let gold = ws.mark_gold(lead).await.unwrap();
    assert_eq!(
        (
            gold.annotator.as_str(),
            gold.answer.as_str(),
            gold.response_ids.clone()
        ),
        ("lead", "thumbs down", vec![r[3]])
    );
    assert_eq!(ws.gold_items(p).await.unwrap(), vec![gold.clone()]);

    // Rate 0: r[3] is done (overlap 1) and never offered again.
    for who in ["bob", "carol"] {
        assert!(
            next(&ws, p, who, JudgmentKind::Thumbs)
                .await
                .unwrap()
                .responses[0]
                .id
                != r[3]
        );
    }
    set_queue(&ws, p, QueueOrder::InOrder, 1.0).await;
    for (who, up) in [("bob", true), ("carol", false)] {
        let item = next(&ws, p, who, JudgmentKind::Thumbs).await.unwrap();
        assert_eq!(ids(&item), vec![r[3]], "rate 1: the gold item first");
        assert_eq!(
            item.reason, "picked at random",
            "a gold item does not say it is one"
        );
        judge(
            &ws,
            p,
            who,
            FeedbackKind::Thumbs {
                response_id: r[3],
                up,
            },
        )
        .await;
        let after = next(&ws, p, who, JudgmentKind::Thumbs).await.unwrap();
        assert_ne!(
            ids(&after),
            vec![r[3]],
            "judged once, the gold item does not come back"
        );
    }
    assert_eq!(
        next(&ws, p, "lead", JudgmentKind::Thumbs)
            .await
            .unwrap()
            .reason,
        "next in prompt order",
        "the lead has no gold item left to see"
    );

    let report = ws.annotator_report(p).await.unwrap();
    assert_eq!(report.gold_items, 1);
    let of = |name: &str| {
        report
            .annotators
            .iter()
            .find(|a| a.name == name)
            .unwrap()
            .gold
    };
    assert_eq!(
        (of("bob").items, of("bob").agree, of("bob").share),
        (1, 0, Some(0.0))
    );
    assert_eq!(
        (of("carol").items, of("carol").agree, of("carol").share),
        (1, 1, Some(1.0))
    );
    assert_eq!(
        (of("lead").items, of("lead").share),
        (0, None),
        "the gold answer is not scored against itself"
    );
    assert_eq!((report.group.gold.items, report.group.gold.agree), (2, 1));

    // Only kinds with a verdict can be gold; unmarking ends the mixing.
    let demo = judge(
        &ws,
        p,
        "lead",
        FeedbackKind::Demonstration {
            prompt_id: gold.prompt_id,
            text: "Like this.".into(),
        },
    )
    .await;
    crate::assert_invalid(ws.mark_gold(demo).await, "judgment_id");
    ws.unmark_gold(lead).await.unwrap();
    crate::assert_invalid(ws.unmark_gold(lead).await, "judgment_id");
    assert!(ws.gold_items(p).await.unwrap().is_empty());
    assert_ne!(
        ids(&next(&ws, p, "dave", JudgmentKind::Thumbs).await.unwrap()),
        vec![r[3]],
        "no longer gold: done at overlap 1"
    );
}

#[tokio::test]
async fn the_queue_follows_what_another_process_writes_undoes_and_changes() {
    // The queue keeps an index in memory and reads only what is new: a second workspace handle
    // on the same folder stands for another process (`hone` on the command line, a second
    // server) writing, deleting and changing settings under it.
    let ws = open().await;
    let other = Hone::open(ws.dir()).await.expect("a second handle");
    let p = project(&ws, "law").await;
    let (_, r) = prompt_n(&ws, p, "P", 2).await;
    let unit = sorted(r.clone());
    let first = next(&ws, p, "bob", JudgmentKind::Comparison)
        .await
        .expect("the one pair is open");
    assert_eq!((sorted(ids(&first)), first.remaining), (unit.clone(), 1));

    // Alice judges it elsewhere: with overlap 1 it is done for Bob here.
    let judged = judge(&other, p, "alice", compare(r[0], r[1], Choice::A)).await;
    assert!(
        next(&ws, p, "bob", JudgmentKind::Comparison)
            .await
            .is_none(),
        "a judgment written by another process closes the unit"
    );
    // A new prompt written elsewhere appears; its pair is the only one open.
    let (_, r2) = prompt_n(&other, p, "Q", 2).await;
    let item = next(&ws, p, "bob", JudgmentKind::Comparison)
        .await
        .expect("the new prompt's pair");
    assert_eq!(
        (sorted(ids(&item)), item.remaining),
        (sorted(r2.clone()), 1)
    );

    // Undone elsewhere (a deletion): the first pair is open again, and comes first.
    other.undo_judgment(judged).await.expect("undo");
    let item = next(&ws, p, "bob", JudgmentKind::Comparison)
        .await
        .expect("open again");
    assert_eq!((sorted(ids(&item)), item.remaining), (unit.clone(), 2));

    // Judged again, then the overlap raised elsewhere: open for a second annotator.
    judge(&other, p, "alice", compare(r[0], r[1], Choice::B)).await;
    assert_eq!(
        next(&ws, p, "bob", JudgmentKind::Comparison)
            .await
            .map(|i| i.remaining),
        Some(1)
    );
    let current = other.project_details(p).await.unwrap().project;
    let settings = NewProject {
        name: current.name,
        task_description: current.task_description,
        rating_min: current.rating_min,
        rating_max: current.rating_max,
        kto_threshold: current.kto_threshold,
        overlap: 2,
        queue_order: current.queue_order,
        gold_rate: current.gold_rate,
    };
    other.update_project_settings(p, &settings).await.unwrap();
    let item = next(&ws, p, "bob", JudgmentKind::Comparison)
        .await
        .expect("overlap 2");
    assert_eq!(
        (sorted(ids(&item)), item.judged_by, item.remaining),
        (unit, 1, 2),
        "the started pair comes first, and both pairs are Bob's to judge"
    );
    assert!(
        next(&ws, p, "alice", JudgmentKind::Comparison)
            .await
            .is_some_and(|i| sorted(ids(&i)) == sorted(r2.clone()) && i.remaining == 1),
        "Alice judged the first pair: only the second is hers"
    );
    other.close().await;
}

#[tokio::test]
async fn undos_and_rejudgments_move_votes_in_place_as_a_fresh_index_counts_them() {
    // The live handle keeps its index through judgments, undos, re-judgments and the undo of
    // re-judgments (votes moved in place from the logged changes); a handle opened after a
    // step builds its index from nothing. Every annotator must be offered the same by both.
    // Some steps are not looked at, so that several changes come in one refresh (an undo of
    // the newest judgment and the next judgment, which takes its id, among them).
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let ws = open().await;
    let p = project_with_overlap(&ws, "law", 2).await;
    set_queue(&ws, p, QueueOrder::Disagreement, 0.0).await;
    let mut pairs = Vec::new();
    for k in 0..3 {
        let (_, r) = prompt_n(&ws, p, &format!("P{k}"), 3).await;
        pairs.extend([(r[0], r[1]), (r[0], r[2]), (r[1], r[2])]);
    }
    let annotators = ["ann", "bo", "cy"];
    let choices = [Choice::A, Choice::B, Choice::Tie];
    // The current judgments (id, author, pair), and what each re-judgment replaced.
    let mut current: Vec<(
        hone_core::JudgmentId,
        &str,
        (hone_core::ResponseId, hone_core::ResponseId),
    )> = Vec::new();
    let mut replaced: std::collections::HashMap<
        hone_core::JudgmentId,
        (
            hone_core::JudgmentId,
            &str,
            (hone_core::ResponseId, hone_core::ResponseId),
        ),
    > = std::collections::HashMap::new();
    let mut rng = StdRng::seed_from_u64(17);
    let (mut undos, mut rejudgments, mut undone_rejudgments) = (0, 0, 0);
    // Ids given again after an undo, and whether the live index had read the undone one.
    let mut undone: HashSet<hone_core::JudgmentId> = HashSet::new();
    let mut reused = 0;
    for step in 0..100 {
        let op = rng.random_range(0..10);
        if op < 5 || current.is_empty() {
            let who = annotators[rng.random_range(0..annotators.len())];
            let (a, b) = pairs[rng.random_range(0..pairs.len())];
            let choice = choices[rng.random_range(0..choices.len())];
            let id = judge(&ws, p, who, compare(a, b, choice)).await;
            reused += usize::from(undone.contains(&id));
            current.push((id, who, (a, b)));
        } else if op == 9 {
            // The newest judgment undone and another one made at once: it takes the same id.
            let newest = (0..current.len())
                .max_by_key(|&k| current[k].0)
                .expect("a judgment");
            let (id, who, _) = current.swap_remove(newest);
            ws.undo_judgment(id).await.expect("undo");
            undone.insert(id);
            undos += 1;
            if let Some(old) = replaced.remove(&id) {
                current.push(old);
                undone_rejudgments += 1;
            }
            let other = annotators.iter().find(|a| **a != who).expect("another");
            let (a, b) = pairs[rng.random_range(0..pairs.len())];
            let again = judge(&ws, p, other, compare(a, b, Choice::A)).await;
            reused += usize::from(undone.contains(&again));
            current.push((again, other, (a, b)));
        } else if op < 7 {
            let (id, ..) = current.swap_remove(rng.random_range(0..current.len()));
            ws.undo_judgment(id).await.expect("undo");
            undone.insert(id);
            undos += 1;
            if let Some(old) = replaced.remove(&id) {
                current.push(old);
                undone_rejudgments += 1;
            }
        } else {
            let k = rng.random_range(0..current.len());
            let (old, who, (a, b)) = current[k];
            let mut again = input(
                p,
                who,
                compare(a, b, choices[rng.random_range(0..choices.len())]),
            );
            again.supersedes = Some(old);
            let new = record(&ws, &again).await.judgment_id;
            reused += usize::from(undone.contains(&new));
            replaced.insert(new, current[k]);
            current[k] = (new, who, (a, b));
            rejudgments += 1;
        }
        if step < 99 && rng.random_range(0..10) < 4 {
            continue;
        }
        let fresh = Hone::open(ws.dir()).await.expect("a fresh handle");
        for who in annotators.iter().chain(&["newcomer"]) {
            let offered = |item: Option<QueueItem>| {
                item.map(|i| (sorted(ids(&i)), i.judged_by, i.remaining, i.reason))
            };
            let live = offered(next(&ws, p, who, JudgmentKind::Comparison).await);
            let built = offered(next(&fresh, p, who, JudgmentKind::Comparison).await);
            assert_eq!(live, built, "step {step}: what {who} is offered");
        }
        fresh.close().await;
    }
    assert!(
        undos >= 5 && rejudgments >= 5 && undone_rejudgments >= 1 && reused >= 3,
        "the walk must exercise every change ({undos} undos, {rejudgments} re-judgments, {undone_rejudgments} undone, {reused} ids given again)"
    );
}

#[tokio::test]
async fn warming_builds_the_indexes_of_the_kinds_judged_and_the_queue_answers_from_them() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let q = project(&ws, "medicine").await;
    let (_, r) = prompt_n(&ws, p, "P", 3).await;
    prompt_n(&ws, q, "Q", 2).await;
    judge(&ws, p, "alice", compare(r[0], r[1], Choice::A)).await;
    let thumb = FeedbackKind::Thumbs {
        response_id: r[2],
        up: true,
    };
    judge(&ws, p, "alice", thumb).await;
    // A server starting on this workspace: only what has judgments is built.
    let started = Hone::open(ws.dir()).await.expect("a second handle");
    let mut built = started.warm_queues().await.expect("warm");
    built.sort_by_key(|(project, kind)| (*project, kind.as_str()));
    assert_eq!(
        built,
        vec![(p, JudgmentKind::Comparison), (p, JudgmentKind::Thumbs)]
    );
    // Three pairs, one judged (overlap 1): two left, for Alice and for Bob.
    for who in ["alice", "bob"] {
        let item = next(&started, p, who, JudgmentKind::Comparison)
            .await
            .expect("open pairs");
        assert_eq!(item.remaining, 2, "{who}");
    }
    // A judgment after warming is read as a new row.
    judge(&ws, p, "bob", compare(r[0], r[2], Choice::B)).await;
    assert_eq!(
        next(&started, p, "alice", JudgmentKind::Comparison)
            .await
            .map(|i| i.remaining),
        Some(1)
    );
    started.close().await;
}

/// Leases (issue 18): annotators asking at once get different units while the overlap of the
/// held ones is reached by their holders; without leases (a desktop) they would share one.
#[tokio::test]
async fn with_leases_annotators_asking_at_once_get_different_units_and_none_idles() {
    let dir = tempfile::TempDir::new().unwrap();
    let hone = Hone::open(dir.path())
        .await
        .unwrap()
        .with_seed(7)
        .with_leases();
    let p = project(&hone, "law").await;
    prompt_n(&hone, p, "P", 2).await;
    prompt_n(&hone, p, "Q", 2).await;
    let thumbs = JudgmentKind::Thumbs;
    // Four units of one answer each, overlap 1.
    let ana = next(&hone, p, "ana", thumbs).await.unwrap();
    let bo = next(&hone, p, "bo", thumbs).await.unwrap();
    let cy = next(&hone, p, "cy", thumbs).await.unwrap();
    let units: HashSet<Vec<hone_core::ResponseId>> =
        [&ana, &bo, &cy].iter().map(|i| ids(i)).collect();
    assert_eq!(
        units.len(),
        3,
        "three annotators at once share a unit: {units:?}"
    );
    // Asking again (a reload) gives ana the unit she holds, not a new one.
    assert_eq!(
        ids(&next(&hone, p, "ana", thumbs).await.unwrap()),
        ids(&ana)
    );

    // A fourth takes the last free unit; a fifth, with every unit held, still gets one.
    let di = next(&hone, p, "di", thumbs).await.unwrap();
    assert!(!units.contains(&ids(&di)));
    let ed = next(&hone, p, "ed", thumbs)
        .await
        .expect("a held unit rather than nothing");
    assert_eq!(ed.remaining, 4);

    // Once ana has judged, her unit is done (overlap 1): it is offered to no one, lease or not.
    answer(&hone, p, "ana", &ana).await;
    for who in ["fay", "gus", "hal"] {
        let item = next(&hone, p, who, thumbs).await.unwrap();
        assert_ne!(
            ids(&item),
            ids(&ana),
            "{who} got a unit already judged to its overlap"
        );
    }

    // The lead's progress view counts the same units.
    let progress = hone.queue_progress(p, thumbs).await.unwrap();
    assert_eq!(
        (
            progress.units,
            progress.complete,
            progress.started,
            progress.untouched
        ),
        (4, 1, 0, 3)
    );
    assert_eq!(
        (progress.held, progress.verdicts, progress.overlap),
        (3, 1, 1)
    );

    // The same calls without leases: everyone gets the first unit in order.
    let plain = open().await;
    let p = project(&plain, "law").await;
    prompt_n(&plain, p, "P", 2).await;
    let first = next(&plain, p, "ana", thumbs).await.unwrap();
    assert_eq!(
        ids(&next(&plain, p, "bo", thumbs).await.unwrap()),
        ids(&first)
    );
}
