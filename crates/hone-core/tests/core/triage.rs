//! Skipping, flagging, and accepting an answer as it is ("nothing wrong", "already good").

use hone_core::dataset::SnapshotFilter;
use hone_core::feedback::FeedbackKind;
use hone_core::queue::QueueItem;
use hone_core::store::judgments::JudgmentBody;
use hone_core::triage::{FlagInput, SkipInput};
use hone_core::{FlagReason, Hone, JudgmentKind, ProjectId, PromptId};

use crate::{
    assert_invalid, compare, count_rows, input, judge, open, project, project_with_overlap,
    prompt_n, prompt_with, record, stored_judgment, thumbs,
};

async fn next(hone: &Hone, p: ProjectId, who: &str, kind: JudgmentKind) -> Option<QueueItem> {
    hone.next_item(p, who, kind).await.expect("next_item")
}

/// The response ids of the next item (empty: none left).
async fn next_ids(
    hone: &Hone,
    p: ProjectId,
    who: &str,
    kind: JudgmentKind,
) -> Vec<hone_core::ResponseId> {
    let mut ids: Vec<hone_core::ResponseId> = next(hone, p, who, kind)
        .await
        .map(|i| i.responses.iter().map(|r| r.id).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    ids
}

fn skip(
    p: ProjectId,
    who: &str,
    kind: JudgmentKind,
    response_ids: Vec<hone_core::ResponseId>,
) -> SkipInput {
    SkipInput {
        project_id: p,
        annotator: who.into(),
        kind,
        prompt_id: None,
        response_ids,
    }
}

fn flag(
    p: ProjectId,
    who: &str,
    response_ids: Vec<hone_core::ResponseId>,
    reason: FlagReason,
) -> FlagInput {
    FlagInput {
        project_id: p,
        annotator: who.into(),
        kind: JudgmentKind::Thumbs,
        prompt_id: None,
        response_ids,
        reason,
        note: None,
    }
}

#[tokio::test]
async fn a_skipped_unit_waits_behind_every_other_and_skipping_again_moves_it_back() {
    let ws = open().await;
    let p = project_with_overlap(&ws, "law", 2).await;
    let (_, r) = prompt_n(&ws, p, "P", 3).await;
    let t = JudgmentKind::Thumbs;
    assert_eq!(next_ids(&ws, p, "alice", t).await, vec![r[0]]);
    ws.skip_item(&skip(p, "alice", t, vec![r[0]]))
        .await
        .unwrap();
    let item = next(&ws, p, "alice", t).await.unwrap();
    assert_eq!(
        item.responses[0].id, r[1],
        "the skipped unit goes to the back"
    );
    assert_eq!(item.remaining, 3, "a skipped unit is still hers to judge");
    assert_eq!(
        next_ids(&ws, p, "bob", t).await,
        vec![r[0]],
        "someone else's skip changes nothing for bob"
    );
    ws.skip_item(&skip(p, "alice", t, vec![r[1]]))
        .await
        .unwrap();
    assert_eq!(next_ids(&ws, p, "alice", t).await, vec![r[2]]);
    judge(&ws, p, "alice", thumbs(r[2], true)).await;

    // Only skipped units are left: the one skipped longest ago first.
    let item = next(&ws, p, "alice", t).await.unwrap();
    assert_eq!(item.responses[0].id, r[0]);
    assert!(item.reason.contains("skipped"), "{}", item.reason);
    assert_eq!(item.remaining, 2);
    // Skipping it again puts it behind r[1], skipped once, earlier.
    ws.skip_item(&skip(p, "alice", t, vec![r[0]]))
        .await
        .unwrap();
    assert_eq!(next_ids(&ws, p, "alice", t).await, vec![r[1]]);
    judge(&ws, p, "alice", thumbs(r[1], true)).await;
    assert_eq!(next_ids(&ws, p, "alice", t).await, vec![r[0]]);
    judge(&ws, p, "alice", thumbs(r[0], false)).await;
    assert!(next(&ws, p, "alice", t).await.is_none());

    let stats = ws.stats(p).await.unwrap();
    assert_eq!(stats.skips, 3);
    let alice = stats.annotators.iter().find(|a| a.name == "alice").unwrap();
    assert_eq!((alice.skips, alice.total), (3, 3));
    let report = ws.annotator_report(p).await.unwrap();
    let alice = report
        .annotators
        .iter()
        .find(|a| a.name == "alice")
        .unwrap();
    assert_eq!(alice.skips, 3);
    assert_eq!(report.group.skips, 3);
}

#[tokio::test]
async fn units_of_every_shape_can_be_skipped_and_bad_units_are_refused() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (prompt, r) = prompt_n(&ws, p, "P", 3).await;
    let (_, r2) = prompt_n(&ws, p, "Q", 2).await;
    let c = JudgmentKind::Comparison;
    let first = next_ids(&ws, p, "alice", c).await;
    assert_eq!(first, vec![r[0], r[1]]);
    // The pair named in the other order, without its prompt.
    ws.skip_item(&skip(p, "alice", c, vec![r[1], r[0]]))
        .await
        .unwrap();
    assert_eq!(next_ids(&ws, p, "alice", c).await, vec![r[0], r[2]]);
    // A ranking or a demonstration is its prompt.
    let d = JudgmentKind::Demonstration;
    assert_eq!(next(&ws, p, "alice", d).await.unwrap().prompt.id, prompt);
    ws.skip_item(&SkipInput {
        prompt_id: Some(prompt),
        ..skip(p, "alice", d, vec![])
    })
    .await
    .unwrap();
    assert_ne!(next(&ws, p, "alice", d).await.unwrap().prompt.id, prompt);
    ws.skip_item(&skip(p, "alice", JudgmentKind::Ranking, r.clone()))
        .await
        .expect("a ranking named by its responses");

    assert_invalid(
        ws.skip_item(&skip(p, "alice", c, vec![r[0]])).await,
        "response_ids",
    );
    assert_invalid(
        ws.skip_item(&skip(p, "alice", c, vec![r[0], r2[0]])).await,
        "response_ids[1]",
    );
    assert_invalid(
        ws.skip_item(&skip(
            p,
            "alice",
            JudgmentKind::Thumbs,
            vec![hone_core::ResponseId(9_999)],
        ))
        .await,
        "response_ids[0]",
    );
    assert_invalid(
        ws.skip_item(&skip(p, "alice", d, vec![])).await,
        "prompt_id",
    );
    assert_invalid(
        ws.skip_item(&skip(p, " ", JudgmentKind::Thumbs, vec![r[0]]))
            .await,
        "annotator",
    );
    let other = project(&ws, "other").await;
    assert_invalid(
        ws.skip_item(&skip(other, "alice", JudgmentKind::Thumbs, vec![r[0]]))
            .await,
        "response_ids[0]",
    );
}

#[tokio::test]
async fn a_flag_hides_the_unit_from_its_flagger_only_and_is_reported() {
    let ws = open().await;
    let p = project_with_overlap(&ws, "law", 2).await;
    let (p1, r) = prompt_n(&ws, p, "P1", 2).await;
    let (p2, s) = prompt_n(&ws, p, "P2", 2).await;
    let (p3, u) = prompt_n(&ws, p, "P3", 1).await;
    let t = JudgmentKind::Thumbs;

    // `unsafe` is about the unit: the prompt's other units still come.
    let unsafe_flag = ws
        .flag_item(&FlagInput {
            note: Some("  gives dangerous advice ".into()),
            ..flag(p, "alice", vec![r[0]], FlagReason::Unsafe)
        })
        .await
        .unwrap();
    assert_eq!(
        (
            unsafe_flag.reason,
            unsafe_flag.note.as_deref(),
            unsafe_flag.prompt_id,
            unsafe_flag.annotator.as_str()
        ),
        (
            FlagReason::Unsafe,
            Some("gives dangerous advice"),
            p1,
            "alice"
        )
    );
    assert_eq!(next_ids(&ws, p, "alice", t).await, vec![r[1]]);
    assert_eq!(
        next_ids(&ws, p, "bob", t).await,
        vec![r[0]],
        "a flag hides nothing from others"
    );

    // A broken prompt: none of its units, of any kind, come back to alice.
    ws.flag_item(&flag(p, "alice", vec![s[1]], FlagReason::BrokenPrompt))
        .await
        .unwrap();
    judge(&ws, p, "alice", thumbs(r[1], true)).await;
    assert_eq!(next_ids(&ws, p, "alice", t).await, vec![u[0]]);
    let pair = next_ids(&ws, p, "alice", JudgmentKind::Comparison).await;
    assert_eq!(pair, vec![r[0], r[1]], "P2's pair is hidden too");
    assert_eq!(
        next_ids(&ws, p, "bob", JudgmentKind::Comparison).await,
        vec![r[0], r[1]]
    );
    judge(&ws, p, "alice", compare(r[0], r[1], hone_core::Choice::A)).await;
    assert!(next(&ws, p, "alice", JudgmentKind::Comparison)
        .await
        .is_none());

    ws.flag_item(&FlagInput {
        note: Some("not about the law".into()),
        ..flag(p, "bob", vec![u[0]], FlagReason::OffTopic)
    })
    .await
    .unwrap();
    // Flagging the same unit again replaces reason and note.
    let again = ws
        .flag_item(&FlagInput {
            note: Some("half the question is missing".into()),
            ..flag(p, "bob", vec![s[1]], FlagReason::NotMyExpertise)
        })
        .await
        .unwrap();
    let replaced = ws
        .flag_item(&FlagInput {
            note: Some("half the question is missing".into()),
            ..flag(p, "bob", vec![s[1]], FlagReason::BrokenPrompt)
        })
        .await
        .unwrap();
    assert_eq!(replaced.id, again.id);
    assert_eq!(replaced.reason, FlagReason::BrokenPrompt);

    let flags = ws.list_flags(p).await.unwrap();
    let listed: Vec<(&str, PromptId, FlagReason)> = flags
        .iter()
        .map(|f| (f.annotator.as_str(), f.prompt_id, f.reason))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("alice", p1, FlagReason::Unsafe),
            ("alice", p2, FlagReason::BrokenPrompt),
            ("bob", p3, FlagReason::OffTopic),
            ("bob", p2, FlagReason::BrokenPrompt),
        ]
    );
    assert_eq!(flags[0].response_ids, vec![r[0]]);
    assert_eq!(flags[0].prompt_text, "P1");

    let stats = ws.stats(p).await.unwrap();
    assert_eq!(stats.flags.get(&FlagReason::BrokenPrompt), Some(&2));
    assert_eq!(stats.flags.get(&FlagReason::Unsafe), Some(&1));
    assert_eq!(stats.flags.get(&FlagReason::OffTopic), Some(&1));
    assert_eq!(stats.flags.get(&FlagReason::NotMyExpertise), None);
    let reported: Vec<(PromptId, i64)> = stats
        .flagged_prompts
        .iter()
        .map(|f| (f.prompt_id, f.flags.values().sum()))
        .collect();
    assert_eq!(
        reported,
        vec![(p2, 2), (p1, 1)],
        "broken or unsafe prompts, most flagged first; off topic is not reported"
    );
    assert_eq!(stats.flagged_prompts[0].annotators, vec!["alice", "bob"]);
    assert_eq!(
        stats.flagged_prompts[0].notes,
        vec!["half the question is missing"]
    );
    let bob = stats.annotators.iter().find(|a| a.name == "bob").unwrap();
    assert_eq!((bob.flags, bob.total), (2, 0), "bob only flagged");
    let report = ws.annotator_report(p).await.unwrap();
    assert_eq!(
        report
            .annotators
            .iter()
            .map(|a| (a.name.as_str(), a.flags))
            .collect::<Vec<_>>(),
        vec![("alice", 2), ("bob", 2)]
    );

    // Unflagged, the units come back to alice.
    ws.unflag_item(flags[1].id).await.unwrap();
    assert_eq!(next_ids(&ws, p, "alice", t).await, vec![s[0]]);
    assert!(matches!(
        ws.unflag_item(flags[1].id).await,
        Err(hone_core::CoreError::NotFound { .. })
    ));
    assert_invalid(
        ws.flag_item(&flag(p, "alice", vec![], FlagReason::Unsafe))
            .await,
        "response_ids",
    );
}

#[tokio::test]
async fn nothing_wrong_and_already_good_accept_the_answer_as_it_is() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(&ws, p, "Q", &["good answer\n", "other"]).await;
    let responses_before = count_rows(&ws, "responses").await;

    let nothing_wrong = judge(
        &ws,
        p,
        "alice",
        FeedbackKind::Span {
            response_id: r[0],
            spans: vec![],
        },
    )
    .await;
    assert_eq!(
        stored_judgment(&ws, nothing_wrong).await.body,
        JudgmentBody::Span {
            response_id: r[0],
            spans: vec![]
        }
    );
    // A text box may send back other line endings and no final newline: still unchanged.
    let recorded = record(
        &ws,
        &input(
            p,
            "bob",
            FeedbackKind::Edit {
                response_id: r[0],
                corrected: "good answer".into(),
            },
        ),
    )
    .await;
    let already_good = recorded.judgment_id;
    assert_eq!(recorded.new_response_id, None, "no new response");
    assert_eq!(count_rows(&ws, "responses").await, responses_before);
    assert_eq!(
        stored_judgment(&ws, already_good).await.body,
        JudgmentBody::Edit {
            response_id: r[0],
            corrected_response_id: r[0],
            diff: String::new(),
        },
        "no diff"
    );
    let thumbs_up = judge(&ws, p, "carol", thumbs(r[1], true)).await;

    let d = ws
        .training_data(p, &SnapshotFilter::default())
        .await
        .unwrap();
    let kto: Vec<(&str, bool, Vec<hone_core::JudgmentId>)> = d
        .kto
        .iter()
        .map(|k| (k.completion.as_str(), k.label, k.judgment_ids.clone()))
        .collect();
    assert_eq!(
        kto,
        vec![
            ("good answer\n", true, vec![nothing_wrong, already_good]),
            ("other", true, vec![thumbs_up]),
        ],
        "desirable, as a thumbs-up"
    );
    assert_eq!(
        d.sft.len(),
        1,
        "the accepted edit is an SFT row of the original"
    );
    assert_eq!(
        (d.sft[0].completion.as_str(), d.sft[0].response_id),
        ("good answer\n", r[0])
    );
    assert_eq!(d.sft[0].judgment_ids, vec![already_good]);
    assert!(d.preferences.is_empty(), "no pair of an answer with itself");
    assert!(d.conflicts.is_empty());

    // Both read as accepted in the history.
    let mut q = hone_core::history::HistoryQuery::new(p);
    q.verdict = Some("accepted".into());
    let page = ws.judgment_history(&q).await.unwrap();
    let ids: Vec<hone_core::JudgmentId> = page.entries.iter().map(|e| e.judgment_id).collect();
    assert_eq!(ids, vec![already_good, nothing_wrong]);
    assert_eq!(page.entries[1].summary, "nothing wrong");

    // Undoing the accepted edit keeps the original answer.
    ws.undo_judgment(already_good).await.unwrap();
    assert_eq!(count_rows(&ws, "responses").await, responses_before);
    // A real edit still makes a correction.
    let edited = record(
        &ws,
        &input(
            p,
            "bob",
            FeedbackKind::Edit {
                response_id: r[1],
                corrected: "other, better".into(),
            },
        ),
    )
    .await;
    assert!(edited.new_response_id.is_some());
}
