use hone_core::dataset::snapshot::content_hash;
use hone_core::dataset::SnapshotFilter;
use hone_core::feedback::FeedbackKind;
use hone_core::store::snapshots;
use hone_core::{Choice, CoreError, Split};

use crate::{compare, input, judge, open, project, prompt_with, record};

#[tokio::test]
async fn a_snapshot_stores_its_judgments_and_the_hash_of_its_rows() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(&ws, p, "Q", &["a", "b", "c"]).await;
    let (heldout, h) = prompt_with(&ws, p, "held", &["h1", "h2"]).await;
    ws.set_prompt_split(heldout, Split::Heldout).await.unwrap();
    let j1 = judge(&ws, p, "alice", compare(r[0], r[1], Choice::A)).await;
    let j2 = judge(
        &ws,
        p,
        "bob",
        FeedbackKind::Thumbs {
            response_id: r[2],
            up: true,
        },
    )
    .await;
    let mut critique = input(p, "bob", FeedbackKind::Critique { response_id: r[2] });
    critique.critique = Some("too short".into());
    let critique_id = record(&ws, &critique).await.judgment_id;
    let held_id = judge(&ws, p, "alice", compare(h[0], h[1], Choice::A)).await;

    let (snapshot, data) = ws
        .freeze_snapshot(p, &SnapshotFilter::default())
        .await
        .unwrap();
    assert_eq!(
        snapshot.judgment_ids,
        vec![j1, j2],
        "the train split's judgments, without critiques or held-out ones"
    );
    assert!(
        !snapshot.judgment_ids.contains(&critique_id) && !snapshot.judgment_ids.contains(&held_id)
    );
    assert_eq!(
        snapshot.content_hash,
        content_hash(&data),
        "the hash is of the rows frozen"
    );
    assert_eq!(snapshot.content_hash.len(), 64, "a sha256 in hex");
    assert_eq!(
        data,
        ws.training_data(p, &SnapshotFilter::default())
            .await
            .unwrap(),
        "freezing makes the same rows as a preview"
    );
    assert_eq!(snapshot.description["rows"]["preference"], 1);
    assert_eq!(snapshot.description["rows"]["kto"], 1);
    assert_eq!(snapshot.description["kto_threshold"], 5.0);

    let mut conn = ws.store().conn().await.unwrap();
    let stored = snapshots::get(&mut conn, snapshot.id).await.unwrap();
    drop(conn);
    assert_eq!(stored, snapshot, "the snapshot is stored as returned");

    // Later judgments do not change what the snapshot gives.
    judge(&ws, p, "carol", compare(r[1], r[2], Choice::B)).await;
    let (again, again_data) = ws.snapshot_data(snapshot.id).await.unwrap();
    assert_eq!(again.judgment_ids, vec![j1, j2]);
    assert_eq!(
        again_data, data,
        "snapshot_data returns the rows that were frozen"
    );
}

#[tokio::test]
async fn the_hash_follows_the_data() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(&ws, p, "Q", &["a", "b"]).await;
    judge(&ws, p, "alice", compare(r[0], r[1], Choice::A)).await;
    let (first, _) = ws
        .freeze_snapshot(p, &SnapshotFilter::default())
        .await
        .unwrap();
    let (same, _) = ws
        .freeze_snapshot(p, &SnapshotFilter::default())
        .await
        .unwrap();
    assert_ne!(first.id, same.id, "each freeze is a new snapshot");
    assert_eq!(
        first.content_hash, same.content_hash,
        "the same rows hash the same"
    );

    judge(
        &ws,
        p,
        "alice",
        FeedbackKind::Thumbs {
            response_id: r[0],
            up: true,
        },
    )
    .await;
    let (more, _) = ws
        .freeze_snapshot(p, &SnapshotFilter::default())
        .await
        .unwrap();
    assert_ne!(
        more.content_hash, first.content_hash,
        "a new row changes the hash"
    );

    // Two annotators reversing the pair: 2 against 1 now flips the row, and the hash.
    judge(&ws, p, "bob", compare(r[0], r[1], Choice::B)).await;
    judge(&ws, p, "carol", compare(r[0], r[1], Choice::B)).await;
    let (flipped, data) = ws
        .freeze_snapshot(p, &SnapshotFilter::default())
        .await
        .unwrap();
    assert_eq!(
        (
            data.preferences[0].chosen.as_str(),
            data.preferences[0].rejected.as_str()
        ),
        ("b", "a")
    );
    assert_ne!(
        flipped.content_hash, more.content_hash,
        "different rows must hash differently"
    );

    // A snapshot of nothing is still a snapshot.
    let empty = project(&ws, "empty").await;
    let (nothing, data) = ws
        .freeze_snapshot(empty, &SnapshotFilter::default())
        .await
        .unwrap();
    assert!(nothing.judgment_ids.is_empty() && data.preferences.is_empty());
    assert_ne!(nothing.content_hash, first.content_hash);
}

#[tokio::test]
async fn a_snapshot_keeps_the_threshold_it_was_frozen_with() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let (_, r) = prompt_with(&ws, p, "Q", &["a"]).await;
    judge(
        &ws,
        p,
        "alice",
        FeedbackKind::Rating {
            response_id: r[0],
            scores: [("overall".to_string(), 5)].into(),
        },
    )
    .await;
    let (snapshot, data) = ws
        .freeze_snapshot(p, &SnapshotFilter::default())
        .await
        .unwrap();
    assert!(data.kto[0].label, "5 reaches the threshold 5");

    let mut settings = hone_core::store::projects::NewProject::named("law");
    settings.kto_threshold = 6.0;
    ws.update_project_settings(p, &settings).await.unwrap();
    assert!(
        !ws.training_data(p, &SnapshotFilter::default())
            .await
            .unwrap()
            .kto[0]
            .label,
        "now 5 is below the threshold"
    );
    let (_, frozen) = ws
        .snapshot_data(snapshot.id)
        .await
        .expect("the snapshot still checks against its hash");
    assert_eq!(frozen, data, "the snapshot's rows are as frozen");
}

#[tokio::test]
async fn an_unknown_snapshot_is_not_found() {
    let ws = open().await;
    assert!(matches!(
        ws.snapshot_data(hone_core::SnapshotId(7)).await,
        Err(CoreError::NotFound { .. })
    ));
}

/// A snapshot with marked spans is hashed with where the marks are (issue 19); one frozen
/// before that, whose stored hash covers only the TRL rows, still verifies; any other hash is
/// refused.
#[tokio::test]
async fn marks_are_in_the_hash_and_a_snapshot_hashed_before_still_verifies() {
    use hone_core::dataset::snapshot::legacy_content_hash;
    use hone_core::store::judgments::SpanMark;
    let ws = open().await;
    // The same answer marked on other characters, in two projects: other rows for
    // token-level training, so other hashes.
    let mut frozen = Vec::new();
    for (name, start, end) in [("law", 2, 6), ("law2", 7, 15)] {
        let p = project(&ws, name).await;
        let (_, r) = prompt_with(&ws, p, "Q", &["A cake is a contract.", "b"]).await;
        let span = FeedbackKind::Span {
            response_id: r[0],
            spans: vec![SpanMark {
                start,
                end,
                label: "factual_error".into(),
                note: None,
            }],
        };
        judge(&ws, p, "carol", span).await;
        let (snapshot, data) = ws
            .freeze_snapshot(p, &SnapshotFilter::default())
            .await
            .unwrap();
        assert_eq!(snapshot.content_hash, content_hash(&data));
        assert_ne!(snapshot.content_hash, legacy_content_hash(&data));
        frozen.push((snapshot, legacy_content_hash(&data)));
    }
    assert_ne!(frozen[0].0.content_hash, frozen[1].0.content_hash);
    assert_eq!(frozen[0].1, frozen[1].1, "the TRL rows alone are the same");
    let second = frozen.pop().unwrap().0;

    let set_hash = |hash: String| {
        let ws = &ws;
        async move {
            let mut conn = ws.store().conn().await.unwrap();
            sqlx::query("UPDATE dataset_snapshots SET content_hash = $1 WHERE id = $2")
                .bind(hash)
                .bind(second.id)
                .execute(&mut *conn)
                .await
                .unwrap();
        }
    };
    let (_, data) = ws.snapshot_data(second.id).await.unwrap();
    set_hash(legacy_content_hash(&data)).await;
    ws.snapshot_data(second.id)
        .await
        .expect("a hash from before spans were hashed still verifies");
    set_hash("0".repeat(64)).await;
    assert!(matches!(
        ws.snapshot_data(second.id).await,
        Err(CoreError::Invalid { .. })
    ));
}
