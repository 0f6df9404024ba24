//! Skips, flags and superseded judgments on a real SQLite file.

use hone_store::judgments;
use hone_store::skips::{self, UnitRow};
use hone_store::{flags, FlagReason, JudgmentKind};

use crate::{assert_duplicate, assert_not_found, count_rows, open_store, seed, thumbs};

#[tokio::test]
async fn a_judgment_is_superseded_once_and_comes_back_when_its_replacement_goes() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let s = seed(&mut conn, "law", 2).await;
    let old = thumbs(&mut conn, &s, 0, true).await;
    let new = thumbs(&mut conn, &s, 0, false).await;
    let other = thumbs(&mut conn, &s, 1, false).await;
    judgments::supersede(&mut conn, old, new).await.unwrap();
    assert_eq!(
        judgments::get(&mut conn, old).await.unwrap().superseded_by,
        Some(new)
    );
    assert_eq!(
        judgments::superseded_by_this(&mut conn, new).await.unwrap(),
        Some(old)
    );
    assert_duplicate(
        judgments::supersede(&mut conn, old, other)
            .await
            .unwrap_err(),
        "supersession of judgment",
        &old.to_string(),
    );
    assert_not_found(
        judgments::supersede(&mut conn, hone_store::JudgmentId(999), other)
            .await
            .unwrap_err(),
        "judgment",
        "999",
    );
    let current: Vec<hone_store::JudgmentId> =
        judgments::list_current(&mut conn, s.project_id, None)
            .await
            .unwrap()
            .iter()
            .map(|j| j.id)
            .collect();
    assert_eq!(current, vec![new, other]);
    assert_eq!(
        judgments::list(&mut conn, s.project_id, None)
            .await
            .unwrap()
            .len(),
        3,
        "the superseded judgment is kept"
    );
    let counts = judgments::counts(&mut conn, s.project_id).await.unwrap();
    assert_eq!(counts, vec![(JudgmentKind::Thumbs, s.annotator_id, 2)]);

    judgments::delete(&mut conn, new).await.unwrap();
    assert_eq!(
        judgments::get(&mut conn, old).await.unwrap().superseded_by,
        None,
        "undoing the replacement restores the old judgment"
    );
}

#[tokio::test]
async fn skips_are_grouped_by_unit_latest_last_and_counted() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let s = seed(&mut conn, "law", 3).await;
    let r = &s.response_ids;
    let t = JudgmentKind::Thumbs;
    let unit = |i: usize| UnitRow::new(t, s.prompt_id, vec![r[i]]);
    for i in [0, 1, 0, 2] {
        skips::insert(&mut conn, s.project_id, s.annotator_id, &unit(i))
            .await
            .unwrap();
    }
    let pair = UnitRow::new(JudgmentKind::Comparison, s.prompt_id, vec![r[1], r[0]]);
    assert_eq!(pair.response_ids, vec![r[0], r[1]], "sorted");
    skips::insert(&mut conn, s.project_id, s.annotator_id, &pair)
        .await
        .unwrap();
    let latest: Vec<UnitRow> = skips::latest(&mut conn, s.project_id, s.annotator_id, t)
        .await
        .unwrap()
        .into_iter()
        .map(|(u, _)| u)
        .collect();
    assert_eq!(
        latest,
        vec![unit(1), unit(0), unit(2)],
        "by latest skip; other kinds apart"
    );
    assert_eq!(
        skips::counts(&mut conn, s.project_id).await.unwrap(),
        vec![(s.annotator_id, 5)]
    );
}

#[tokio::test]
async fn a_flag_per_annotator_and_unit_replaced_on_a_second_flag() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let s = seed(&mut conn, "law", 1).await;
    let unit = UnitRow::new(JudgmentKind::Ranking, s.prompt_id, vec![]);
    let first = flags::upsert(
        &mut conn,
        s.project_id,
        s.annotator_id,
        &unit,
        FlagReason::OffTopic,
        None,
    )
    .await
    .unwrap();
    let again = flags::upsert(
        &mut conn,
        s.project_id,
        s.annotator_id,
        &unit,
        FlagReason::BrokenPrompt,
        Some("cut off"),
    )
    .await
    .unwrap();
    assert_eq!(again.id, first.id);
    assert_eq!(
        (again.reason, again.note.as_deref(), again.unit.clone()),
        (FlagReason::BrokenPrompt, Some("cut off"), unit)
    );
    assert_eq!(
        flags::list(&mut conn, s.project_id).await.unwrap(),
        vec![again.clone()]
    );
    assert_eq!(
        flags::list_by(&mut conn, s.project_id, s.annotator_id)
            .await
            .unwrap()
            .len(),
        1
    );
    flags::delete(&mut conn, again.id).await.unwrap();
    assert_eq!(count_rows(&mut conn, "flags").await, 0);
    assert_not_found(
        flags::delete(&mut conn, again.id).await.unwrap_err(),
        "flag",
        &again.id.to_string(),
    );
}
