use hone_store::annotators;
use hone_store::AnnotatorKind;

use crate::{assert_not_found, count_rows, open_store};

#[tokio::test]
async fn get_or_create_creates_once_and_keeps_the_first_kind() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let alice = annotators::get_or_create(&mut conn, "alice", AnnotatorKind::Human)
        .await
        .unwrap();
    assert_eq!(alice.name, "alice", "name as written");
    assert_eq!(alice.kind, AnnotatorKind::Human, "kind as written");
    let again = annotators::get_or_create(&mut conn, "alice", AnnotatorKind::Simulated)
        .await
        .unwrap();
    assert_eq!(
        again, alice,
        "an existing annotator is returned unchanged, kind included"
    );
    assert_eq!(
        count_rows(&mut conn, "annotators").await,
        1,
        "no second row for the same name"
    );

    let sim = annotators::get_or_create(&mut conn, "judge-llm", AnnotatorKind::Simulated)
        .await
        .unwrap();
    assert_ne!(sim.id, alice.id, "another name is another annotator");
    assert_eq!(sim.kind, AnnotatorKind::Simulated, "kind simulated stored");
}

#[tokio::test]
async fn get_and_get_by_name_find_the_annotator_or_say_not_found() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let bob = annotators::get_or_create(&mut conn, "bob", AnnotatorKind::Import)
        .await
        .unwrap();
    assert_eq!(
        annotators::get(&mut conn, bob.id).await.unwrap(),
        bob,
        "get by id"
    );
    assert_eq!(
        annotators::get_by_name(&mut conn, "bob").await.unwrap(),
        bob,
        "get by name"
    );
    assert_not_found(
        annotators::get(&mut conn, hone_store::AnnotatorId(bob.id.0 + 100))
            .await
            .unwrap_err(),
        "annotator",
        &(bob.id.0 + 100).to_string(),
    );
    assert_not_found(
        annotators::get_by_name(&mut conn, "carol")
            .await
            .unwrap_err(),
        "annotator",
        "\"carol\"",
    );
}

#[tokio::test]
async fn list_is_in_creation_order() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    for name in ["zoe", "adam", "mia"] {
        annotators::get_or_create(&mut conn, name, AnnotatorKind::Human)
            .await
            .unwrap();
    }
    let names: Vec<String> = annotators::list(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["zoe", "adam", "mia"], "list orders by id, not name");
}

#[tokio::test]
async fn a_blank_name_is_refused_and_not_stored() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    assert!(
        annotators::get_or_create(&mut conn, "  ", AnnotatorKind::Human)
            .await
            .is_err(),
        "a blank annotator name must be an error"
    );
    assert_eq!(
        count_rows(&mut conn, "annotators").await,
        0,
        "no blank annotator may be stored"
    );
}
