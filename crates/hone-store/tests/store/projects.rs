use hone_store::projects::{self, NamedItem, NewProject, SpanLabel};
use hone_store::SpanPolarity;
use hone_store::{ProjectId, QueueOrder};
use sqlx::error::ErrorKind;

use crate::{assert_constraint, assert_duplicate, assert_not_found, open_store};

fn custom(name: &str) -> NewProject {
    NewProject {
        name: name.into(),
        task_description: "Answer tax questions for Dutch freelancers".into(),
        rating_min: 0,
        rating_max: 10,
        kto_threshold: 6.5,
        overlap: 3,
        queue_order: QueueOrder::LeastSure,
        gold_rate: 0.25,
    }
}

fn item(name: &str, description: &str) -> NamedItem {
    NamedItem {
        name: name.into(),
        description: description.into(),
    }
}

#[tokio::test]
async fn named_has_the_documented_defaults() {
    let p = NewProject::named("x");
    assert_eq!(
        (p.rating_min, p.rating_max, p.kto_threshold, p.overlap),
        (1, 7, 5.0, 1),
        "defaults: 1–7, KTO from 5, overlap 1"
    );
    assert_eq!(p.task_description, "", "default task description is empty");
}

#[tokio::test]
async fn create_then_get_and_get_by_name_round_trip() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let new = custom("tax");
    let created = projects::create(&mut conn, &new).await.unwrap();
    assert!(created.id > ProjectId(0), "a created project has a row id");
    assert_eq!(created.name, new.name, "name as written");
    assert_eq!(
        created.task_description, new.task_description,
        "task description as written"
    );
    assert_eq!(
        (created.rating_min, created.rating_max),
        (0, 10),
        "rating scale as written"
    );
    assert_eq!(created.kto_threshold, 6.5, "KTO threshold as written");
    assert_eq!(created.overlap, 3, "overlap as written");
    assert!(
        created.created_at.ends_with('Z') && created.created_at.len() >= 20,
        "created_at is RFC 3339 UTC: {}",
        created.created_at
    );

    assert_eq!(
        projects::get(&mut conn, created.id).await.unwrap(),
        created,
        "get returns what create returned"
    );
    assert_eq!(
        projects::get_by_name(&mut conn, "tax").await.unwrap(),
        created,
        "get_by_name returns what create returned"
    );
}

#[tokio::test]
async fn create_with_a_taken_name_is_a_duplicate() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    projects::create(&mut conn, &NewProject::named("dup"))
        .await
        .unwrap();
    let err = projects::create(&mut conn, &custom("dup"))
        .await
        .expect_err("names are unique");
    assert_duplicate(err, "project", "dup");
    assert_eq!(
        projects::list(&mut conn).await.unwrap().len(),
        1,
        "the refused project must not be stored"
    );
}

#[tokio::test]
async fn create_refuses_rows_the_schema_checks_forbid() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let err = projects::create(&mut conn, &NewProject::named("   "))
        .await
        .expect_err("blank name");
    assert_constraint(err, ErrorKind::CheckViolation);
    let err = projects::create(
        &mut conn,
        &NewProject {
            rating_min: 5,
            rating_max: 5,
            ..NewProject::named("flat")
        },
    )
    .await
    .expect_err("rating_min must be below rating_max");
    assert_constraint(err, ErrorKind::CheckViolation);
    let err = projects::create(
        &mut conn,
        &NewProject {
            overlap: 0,
            ..NewProject::named("nobody")
        },
    )
    .await
    .expect_err("overlap must be at least 1");
    assert_constraint(err, ErrorKind::CheckViolation);
    assert!(
        projects::list(&mut conn).await.unwrap().is_empty(),
        "no refused project may be stored"
    );
}

#[tokio::test]
async fn get_of_a_missing_project_is_not_found() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    assert_not_found(
        projects::get(&mut conn, ProjectId(42)).await.unwrap_err(),
        "project",
        "42",
    );
    assert_not_found(
        projects::get_by_name(&mut conn, "ghost").await.unwrap_err(),
        "project",
        "\"ghost\"",
    );
}

#[tokio::test]
async fn list_is_in_creation_order() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    for name in ["zeta", "alpha", "mid"] {
        projects::create(&mut conn, &NewProject::named(name))
            .await
            .unwrap();
    }
    let names: Vec<String> = projects::list(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(
        names,
        ["zeta", "alpha", "mid"],
        "list orders by id (creation), not by name"
    );
}

#[tokio::test]
async fn update_settings_replaces_everything_but_the_name() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let p = projects::create(&mut conn, &NewProject::named("orig"))
        .await
        .unwrap();
    let updated = projects::update_settings(&mut conn, p.id, &custom("ignored name"))
        .await
        .unwrap();
    assert_eq!(updated.name, "orig", "update_settings must not rename");
    assert_eq!(
        updated.task_description, "Answer tax questions for Dutch freelancers",
        "task description updated"
    );
    assert_eq!(
        (
            updated.rating_min,
            updated.rating_max,
            updated.kto_threshold,
            updated.overlap
        ),
        (0, 10, 6.5, 3),
        "settings updated"
    );
    assert_eq!(
        (updated.queue_order, updated.gold_rate),
        (QueueOrder::LeastSure, 0.25),
        "queue order and gold rate updated"
    );
    assert_eq!(
        (p.queue_order, p.gold_rate),
        (QueueOrder::InOrder, 0.0),
        "a new project's queue is in order, without gold"
    );
    let err = projects::update_settings(
        &mut conn,
        p.id,
        &NewProject {
            gold_rate: 1.5,
            ..custom("x")
        },
    )
    .await
    .expect_err("a rate above 1");
    assert_constraint(err, ErrorKind::CheckViolation);
    assert_eq!(updated.created_at, p.created_at, "created_at is untouched");
    assert_eq!(
        projects::get(&mut conn, p.id).await.unwrap(),
        updated,
        "the update is stored"
    );

    let err = projects::update_settings(
        &mut conn,
        p.id,
        &NewProject {
            rating_min: 9,
            rating_max: 2,
            ..custom("x")
        },
    )
    .await
    .expect_err("an inverted scale is refused");
    assert_constraint(err, ErrorKind::CheckViolation);
    assert_eq!(
        projects::get(&mut conn, p.id).await.unwrap(),
        updated,
        "a refused update changes nothing"
    );

    assert_not_found(
        projects::update_settings(&mut conn, ProjectId(777), &custom("x"))
            .await
            .unwrap_err(),
        "project",
        "777",
    );
}

#[tokio::test]
async fn guidelines_are_numbered_per_project_and_the_latest_is_the_highest() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let a = projects::create(&mut conn, &NewProject::named("a"))
        .await
        .unwrap();
    let b = projects::create(&mut conn, &NewProject::named("b"))
        .await
        .unwrap();
    assert_eq!(
        projects::latest_guideline(&mut conn, a.id).await.unwrap(),
        None,
        "a new project has no guideline"
    );
    assert!(
        projects::guidelines(&mut conn, a.id)
            .await
            .unwrap()
            .is_empty(),
        "a new project has no guidelines"
    );

    let g1 = projects::add_guideline(&mut conn, a.id, "Be precise.")
        .await
        .unwrap();
    let g2 = projects::add_guideline(&mut conn, a.id, "Be precise. Cite the law.")
        .await
        .unwrap();
    let b1 = projects::add_guideline(&mut conn, b.id, "Other project")
        .await
        .unwrap();
    assert_eq!((g1.version, g2.version), (1, 2), "versions count up from 1");
    assert_eq!(b1.version, 1, "each project numbers its own guidelines");
    assert_eq!(g2.text, "Be precise. Cite the law.", "text as written");

    assert_eq!(
        projects::latest_guideline(&mut conn, a.id).await.unwrap(),
        Some(g2.clone()),
        "latest is the highest version"
    );
    let all = projects::guidelines(&mut conn, a.id).await.unwrap();
    assert_eq!(
        all,
        vec![g1, g2],
        "all versions stay, oldest first, only this project's"
    );
}

#[tokio::test]
async fn a_guideline_for_a_missing_project_violates_the_foreign_key() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let err = projects::add_guideline(&mut conn, ProjectId(99), "orphan")
        .await
        .expect_err("project 99 does not exist");
    assert_constraint(err, ErrorKind::ForeignKeyViolation);
}

#[tokio::test]
async fn names_keep_insertion_order_per_list_and_project() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let a = projects::create(&mut conn, &NewProject::named("a"))
        .await
        .unwrap();
    let b = projects::create(&mut conn, &NewProject::named("b"))
        .await
        .unwrap();
    let criteria = vec![
        item("correctness", "facts right"),
        item("clarity", "easy to follow"),
        item("brevity", ""),
    ];
    for c in &criteria {
        projects::add_criterion(&mut conn, a.id, c).await.unwrap();
    }
    let good = SpanLabel {
        name: "clarity".into(),
        description: "a clear passage".into(),
        polarity: SpanPolarity::Good,
    };
    projects::add_span_label(
        &mut conn,
        a.id,
        &SpanLabel::error("hallucination", "made up"),
    )
    .await
    .unwrap();
    // The same name in the other list, and in another project, is fine.
    projects::add_span_label(&mut conn, a.id, &good)
        .await
        .unwrap();
    projects::add_criterion(&mut conn, b.id, &item("clarity", "b's"))
        .await
        .unwrap();

    assert_eq!(
        projects::criteria(&mut conn, a.id).await.unwrap(),
        criteria,
        "criteria in insertion order, not sorted"
    );
    assert_eq!(
        projects::span_labels(&mut conn, a.id).await.unwrap(),
        vec![SpanLabel::error("hallucination", "made up"), good],
        "span labels are a separate list, with their polarity"
    );
    assert_eq!(
        projects::criteria(&mut conn, b.id).await.unwrap(),
        vec![item("clarity", "b's")],
        "each project keeps its own list"
    );
}

#[tokio::test]
async fn a_name_added_twice_is_a_duplicate_of_the_right_entity() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let p = projects::create(&mut conn, &NewProject::named("p"))
        .await
        .unwrap();
    projects::add_criterion(&mut conn, p.id, &item("tone", ""))
        .await
        .unwrap();
    projects::add_span_label(&mut conn, p.id, &SpanLabel::error("typo", ""))
        .await
        .unwrap();
    assert_duplicate(
        projects::add_criterion(&mut conn, p.id, &item("tone", "again"))
            .await
            .unwrap_err(),
        "rating criterion",
        "tone",
    );
    // Another polarity does not make it another label.
    let again = SpanLabel {
        polarity: SpanPolarity::Good,
        ..SpanLabel::error("typo", "again")
    };
    assert_duplicate(
        projects::add_span_label(&mut conn, p.id, &again)
            .await
            .unwrap_err(),
        "span label",
        "typo",
    );
    assert_constraint(
        projects::add_span_label(&mut conn, p.id, &SpanLabel::error(" ", ""))
            .await
            .unwrap_err(),
        ErrorKind::CheckViolation,
    );
    assert_eq!(
        projects::criteria(&mut conn, p.id).await.unwrap(),
        vec![item("tone", "")],
        "the duplicate changed nothing"
    );
    assert_eq!(
        projects::span_labels(&mut conn, p.id).await.unwrap(),
        vec![SpanLabel::error("typo", "")],
    );
}

#[tokio::test]
async fn a_span_labels_polarity_is_one_the_schema_knows() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let p = projects::create(&mut conn, &NewProject::named("p"))
        .await
        .unwrap();
    // A row written without a polarity (as before migration 0013) marks an error.
    sqlx::query("INSERT INTO span_labels (project_id, name, position) VALUES ($1, 'old', 0)")
        .bind(p.id)
        .execute(&mut *conn)
        .await
        .unwrap();
    assert_eq!(
        projects::span_labels(&mut conn, p.id).await.unwrap()[0].polarity,
        SpanPolarity::Error
    );
    let err = sqlx::query(
        "INSERT INTO span_labels (project_id, name, position, polarity) VALUES ($1, 'odd', 1, 'neutral')",
    )
    .bind(p.id)
    .execute(&mut *conn)
    .await
    .map_err(hone_store::StoreError::from)
    .unwrap_err();
    assert_constraint(err, ErrorKind::CheckViolation);
}

#[tokio::test]
async fn the_promoted_version_is_set_cleared_and_must_exist() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let created = projects::create(&mut conn, &custom("tax")).await.unwrap();
    assert_eq!(
        created.promoted_version_id, None,
        "a new project uses its base model"
    );
    assert!(
        projects::set_promoted(&mut conn, created.id, Some(hone_store::VersionId(999)))
            .await
            .is_err(),
        "a version that does not exist cannot be promoted (foreign key)"
    );
    projects::set_promoted(&mut conn, created.id, None)
        .await
        .unwrap();
    assert!(matches!(
        projects::set_promoted(&mut conn, ProjectId(12345), None).await,
        Err(hone_store::StoreError::NotFound { .. })
    ));
}
