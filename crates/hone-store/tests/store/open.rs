use hone_store::projects::{self, NewProject};
use hone_store::{Store, StoreError, DATABASE_FILE};
use tempfile::TempDir;

use crate::open_store;

const TABLES: &[&str] = &[
    "projects",
    "users",
    "api_tokens",
    "project_members",
    "project_token_level",
    "queue_revisions",
    "queue_changes",
    "imports",
    "gold_items",
    "reward_scores",
    "guidelines",
    "rating_criteria",
    "span_labels",
    "prompts",
    "prompt_tags",
    "base_models",
    "annotators",
    "dataset_snapshots",
    "model_versions",
    "version_files",
    "responses",
    "judgments",
    "comparisons",
    "ranking_entries",
    "judged_responses",
    "rating_scores",
    "edits",
    "span_annotations",
    "thumbs",
    "snapshot_judgments",
    "jobs",
    "metric_points",
    "skips",
    "flags",
];

#[tokio::test]
async fn open_creates_the_file_at_the_given_path() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    assert!(!path.exists(), "precondition: no database file yet");
    let store = Store::open(&path)
        .await
        .expect("open must create a missing file");
    assert!(path.is_file(), "Store::open must create the database file");
    assert_eq!(
        store.path(),
        path.as_path(),
        "store.path() must be the path it was opened on"
    );
    assert_eq!(
        DATABASE_FILE, "hone.sqlite",
        "the workspace database file name is part of the workspace format"
    );
}

#[tokio::test]
async fn every_connection_has_wal_foreign_keys_and_full_sync() {
    let (_dir, store) = open_store().await;
    // Hold several connections at once so that the pool must open more than one.
    let mut conns = Vec::new();
    for _ in 0..3 {
        conns.push(store.conn().await.unwrap());
    }
    for conn in &mut conns {
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal", "the store must run in WAL mode");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(fk, 1, "foreign keys must be enforced on every connection");
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(
            sync, 2,
            "synchronous must be FULL (2) so a committed judgment survives a crash"
        );
    }
}

#[tokio::test]
async fn migrations_create_every_table() {
    let (_dir, store) = open_store().await;
    let mut conn = store.conn().await.unwrap();
    let tables: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    for table in TABLES {
        assert!(
            tables.iter().any(|t| t == table),
            "migration must create table {table}; have {tables:?}"
        );
    }
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    assert_eq!(
        applied,
        vec![
            (1, true),
            (2, true),
            (3, true),
            (4, true),
            (5, true),
            (6, true),
            (7, true),
            (8, true),
            (9, true),
            (10, true),
            (11, true)
        ],
        "exactly migrations 0001–0011 must be recorded as applied"
    );
}

#[tokio::test]
async fn reopening_an_existing_file_keeps_data_and_does_not_rerun_migrations() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join(DATABASE_FILE);
    let store = Store::open(&path).await.unwrap();
    let created = {
        let mut conn = store.conn().await.unwrap();
        projects::create(&mut conn, &NewProject::named("kept"))
            .await
            .unwrap()
    };
    store.close().await;

    let reopened = Store::open(&path)
        .await
        .expect("reopening an existing database must work");
    let mut conn = reopened.conn().await.unwrap();
    let found = projects::get_by_name(&mut conn, "kept")
        .await
        .expect("project survives a reopen");
    assert_eq!(
        found, created,
        "reopened store must keep the project exactly as written"
    );
    let runs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(
        runs, 11,
        "reopening must not apply a migration a second time"
    );
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    assert_eq!(
        mode.to_lowercase(),
        "wal",
        "a reopened store is still in WAL mode"
    );
}

#[tokio::test]
async fn open_in_a_missing_folder_is_an_open_error_naming_the_path() {
    let dir = TempDir::new().unwrap();
    let path = dir.path().join("no-such-folder").join(DATABASE_FILE);
    let err = Store::open(&path)
        .await
        .expect_err("a file in a missing folder cannot be created");
    match err {
        StoreError::Open { path: p, .. } => {
            assert_eq!(p, path, "the Open error must name the path it tried")
        }
        other => panic!("expected StoreError::Open, got {other:?}"),
    }
}

#[tokio::test]
async fn a_transaction_dropped_without_commit_rolls_back() {
    let (_dir, store) = open_store().await;
    {
        let mut tx = store.begin().await.unwrap();
        projects::create(&mut tx, &NewProject::named("rolled back"))
            .await
            .unwrap();
        // dropped here
    }
    let mut tx = store.begin().await.unwrap();
    projects::create(&mut tx, &NewProject::named("committed"))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut conn = store.conn().await.unwrap();
    let names: Vec<String> = projects::list(&mut conn)
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(
        names,
        vec!["committed".to_string()],
        "only the committed transaction's project may remain"
    );
}
