use std::collections::BTreeMap;

use hone_store::judgments::{self, JudgmentBody, NewJudgment};
use hone_store::{snapshots, Conn, ProjectId};
use serde_json::json;
use sqlx::error::ErrorKind;

use crate::{assert_constraint, assert_not_found, count_rows, open_store, seed, Seed};

async fn judgments_for(conn: &mut Conn, s: &Seed, n: usize) -> Vec<hone_store::JudgmentId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let new = NewJudgment {
            project_id: s.project_id,
            prompt_id: s.prompt_id,
            annotator_id: s.annotator_id,
            time_spent_ms: 0,
            shown_order: vec![],
            guideline_version: None,
            critique: None,
            suggestion_visible: false,
            suggested_response_id: None,
            body: JudgmentBody::Rating {
                response_id: s.response_ids[i % s.response_ids.len()],
                scores: BTreeMap::from([("c".to_string(), i as i64)]),
            },
        };
        ids.push(judgments::insert(conn, &new).await.unwrap());
    }
    ids
}

#[tokio::test]
async fn insert_and_get_round_trip_with_sorted_judgment_ids() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let s = seed(&mut conn, "p", 2).await;
    let j = judgments_for(&mut conn, &s, 4).await;
    let description =
        json!({"kinds": ["rating"], "rows": {"sft": 3, "kto": 4}, "min_annotators": 1});
    let snap = snapshots::insert(
        &mut conn,
        s.project_id,
        &[j[3], j[0], j[2]],
        "deadbeef",
        &description,
    )
    .await
    .unwrap();
    assert_eq!(
        snap.project_id, s.project_id,
        "snapshot belongs to the project"
    );
    assert_eq!(snap.content_hash, "deadbeef", "content hash as written");
    assert_eq!(
        snap.description, description,
        "description JSON round-trips"
    );
    assert_eq!(
        snap.judgment_ids,
        vec![j[0], j[2], j[3]],
        "judgment ids come back sorted, only those given"
    );
    assert!(snap.created_at.ends_with('Z'), "created_at is UTC");
    assert_eq!(
        snapshots::get(&mut conn, snap.id).await.unwrap(),
        snap,
        "get returns what insert returned"
    );
}

#[tokio::test]
async fn a_snapshot_may_be_empty() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let s = seed(&mut conn, "p", 1).await;
    let snap = snapshots::insert(&mut conn, s.project_id, &[], "e3b0", &json!({}))
        .await
        .unwrap();
    assert!(
        snap.judgment_ids.is_empty(),
        "no judgments given, none held"
    );
}

#[tokio::test]
async fn get_of_a_missing_snapshot_is_not_found() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    assert_not_found(
        snapshots::get(&mut conn, hone_store::SnapshotId(6))
            .await
            .unwrap_err(),
        "dataset snapshot",
        "6",
    );
}

#[tokio::test]
async fn list_is_per_project_in_insertion_order() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let a = seed(&mut conn, "a", 1).await;
    let b = seed(&mut conn, "b", 1).await;
    let ja = judgments_for(&mut conn, &a, 2).await;
    let jb = judgments_for(&mut conn, &b, 1).await;
    let s1 = snapshots::insert(&mut conn, a.project_id, &[ja[0]], "h1", &json!({"n": 1}))
        .await
        .unwrap();
    let sb = snapshots::insert(&mut conn, b.project_id, &jb, "hb", &json!({}))
        .await
        .unwrap();
    let s2 = snapshots::insert(&mut conn, a.project_id, &ja, "h2", &json!({"n": 2}))
        .await
        .unwrap();
    assert_eq!(
        snapshots::list(&mut conn, a.project_id).await.unwrap(),
        vec![s1, s2],
        "project a's snapshots, oldest first, with their ids"
    );
    assert_eq!(
        snapshots::list(&mut conn, b.project_id).await.unwrap(),
        vec![sb],
        "project b's only"
    );
    assert!(
        snapshots::list(&mut conn, ProjectId(999))
            .await
            .unwrap()
            .is_empty(),
        "a missing project has none"
    );
}

#[tokio::test]
async fn a_snapshot_of_a_missing_judgment_is_refused_entirely() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let s = seed(&mut conn, "p", 1).await;
    let j = judgments_for(&mut conn, &s, 1).await;
    let err = snapshots::insert(
        &mut conn,
        s.project_id,
        &[j[0], hone_store::JudgmentId(9_999)],
        "h",
        &json!({}),
    )
    .await
    .unwrap_err();
    assert_constraint(err, ErrorKind::ForeignKeyViolation);
    assert_eq!(
        count_rows(&mut conn, "dataset_snapshots").await,
        0,
        "a refused snapshot leaves no snapshot row"
    );
    assert_eq!(
        count_rows(&mut conn, "snapshot_judgments").await,
        0,
        "nor any of its links"
    );

    let err = snapshots::insert(&mut conn, ProjectId(9_999), &[], "h", &json!({}))
        .await
        .unwrap_err();
    assert_constraint(err, ErrorKind::ForeignKeyViolation);
}

#[tokio::test]
async fn a_snapshot_written_in_parts_is_seen_only_once_complete() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let s = seed(&mut conn, "p", 2).await;
    let j = judgments_for(&mut conn, &s, 5).await;
    let id = snapshots::start(&mut conn, s.project_id, "cafe", &json!({"judgments": 5}))
        .await
        .unwrap();
    snapshots::add_judgments(&mut conn, id, &j[..3])
        .await
        .unwrap();
    assert_not_found(
        snapshots::get(&mut conn, id).await.unwrap_err(),
        "dataset snapshot",
        &id.to_string(),
    );
    assert!(snapshots::list(&mut conn, s.project_id)
        .await
        .unwrap()
        .is_empty());
    snapshots::add_judgments(&mut conn, id, &j[3..])
        .await
        .unwrap();
    snapshots::complete(&mut conn, id).await.unwrap();
    let done = snapshots::get(&mut conn, id).await.unwrap();
    assert_eq!(done.judgment_ids, j);
    assert_eq!(done.content_hash, "cafe");
    assert_eq!(
        snapshots::list(&mut conn, s.project_id).await.unwrap(),
        std::slice::from_ref(&done)
    );
    // Complete: no more parts, and deleting it as incomplete keeps it.
    assert_not_found(
        snapshots::add_judgments(&mut conn, id, &j[..1])
            .await
            .unwrap_err(),
        "incomplete dataset snapshot",
        &id.to_string(),
    );
    snapshots::delete_incomplete(&mut conn, id).await.unwrap();
    assert_eq!(snapshots::get(&mut conn, id).await.unwrap(), done);
    assert_not_found(
        snapshots::complete(&mut conn, id).await.unwrap_err(),
        "incomplete dataset snapshot",
        &id.to_string(),
    );
}

#[tokio::test]
async fn an_incomplete_snapshot_is_dropped_with_its_ids_when_abandoned() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let s = seed(&mut conn, "p", 2).await;
    let j = judgments_for(&mut conn, &s, 2).await;
    let given_up = snapshots::start(&mut conn, s.project_id, "a", &json!({}))
        .await
        .unwrap();
    snapshots::add_judgments(&mut conn, given_up, &j)
        .await
        .unwrap();
    snapshots::delete_incomplete(&mut conn, given_up)
        .await
        .unwrap();
    assert_eq!(count_rows(&mut conn, "dataset_snapshots").await, 0);
    assert_eq!(count_rows(&mut conn, "snapshot_judgments").await, 0);

    assert!(!snapshots::any_incomplete(&mut conn).await.unwrap());
    let died = snapshots::start(&mut conn, s.project_id, "b", &json!({}))
        .await
        .unwrap();
    assert!(snapshots::any_incomplete(&mut conn).await.unwrap());
    snapshots::add_judgments(&mut conn, died, &j).await.unwrap();
    assert_eq!(
        snapshots::delete_abandoned(&mut conn, 3600).await.unwrap(),
        0,
        "one started a moment ago may still be written"
    );
    sqlx::query(
        "UPDATE dataset_snapshots SET created_at = '2000-01-01T00:00:00.000Z' WHERE id = $1",
    )
    .bind(died)
    .execute(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        snapshots::delete_abandoned(&mut conn, 3600).await.unwrap(),
        1
    );
    assert_eq!(count_rows(&mut conn, "snapshot_judgments").await, 0);
}
