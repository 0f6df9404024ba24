use hone_store::projects::{self, NewProject};
use hone_store::{Backend, Store, StoreError, DATABASE_FILE};
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
    "submissions",
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
        Some(path.as_path()),
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
        if store.backend() == Backend::Postgres {
            // Foreign keys are always enforced there; durability is the server's setting.
            let sync: String =
                sqlx::query_scalar("SELECT CAST(current_setting('synchronous_commit') AS TEXT)")
                    .fetch_one(&mut **conn)
                    .await
                    .unwrap();
            assert_eq!(sync, "on", "a committed judgment must survive a crash");
            continue;
        }
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
    let tables = table_names(&store).await;
    for table in TABLES {
        assert!(
            tables.iter().any(|t| t == table),
            "migration must create table {table}; have {tables:?}"
        );
    }
    // `success` is a BOOLEAN both ways, which the Any driver reads back from SQLite as an
    // integer only.
    let applied: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT version, CAST(success AS INTEGER) FROM _sqlx_migrations ORDER BY version",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        applied,
        (1..=14).map(|version| (version, 1)).collect::<Vec<_>>(),
        "exactly migrations 0001–0014 must be recorded as applied"
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
        runs,
        migration_names("migrations").len() as i64,
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
        StoreError::Open { location, .. } => assert_eq!(
            location,
            path.display().to_string(),
            "the Open error must name the path it tried"
        ),
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

/// A write transaction whose `begin` is dropped at any point (a closed connection, a cancelled
/// task) leaves the writer usable: sqlx's SQLite `begin_with` can be dropped after its BEGIN
/// ran and before it hands over the transaction, which left the one writer connection inside a
/// transaction nobody owned, and every later write of the process failed.
#[tokio::test]
async fn a_begin_dropped_at_any_point_leaves_the_writer_usable() {
    const ROUNDS: u32 = 2_000;
    let (_dir, store) = open_store().await;
    for round in 0..ROUNDS {
        // Polled once, then on every one of `yields` turns of the runtime, then dropped: the
        // drop lands somewhere else in `begin` as the round changes.
        let yields = round % 40;
        let mut begin = Box::pin(store.begin());
        tokio::select! {
            biased;
            tx = &mut begin => drop(tx.unwrap()),
            () = yield_times(yields) => {}
        }
        drop(begin);
        let mut tx = store.begin().await.unwrap_or_else(|e| {
            panic!("round {round}: a begin dropped after {yields} yields broke the writer: {e}")
        });
        projects::create(&mut tx, &NewProject::named(format!("round {round}")))
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    let mut conn = store.conn().await.unwrap();
    assert_eq!(
        projects::list(&mut conn).await.unwrap().len(),
        ROUNDS as usize
    );
}

async fn yield_times(n: u32) {
    for _ in 0..n {
        tokio::task::yield_now().await;
    }
}

/// The store's tables (not sqlx's own).
async fn table_names(store: &Store) -> Vec<String> {
    let sql = match store.backend() {
        Backend::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
        Backend::Postgres => {
            "SELECT CAST(tablename AS TEXT) FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename"
        }
    };
    let mut conn = store.conn().await.unwrap();
    sqlx::query_scalar(sql)
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .into_iter()
        .filter(|name: &String| !name.starts_with("_sqlx") && !name.starts_with("sqlite_"))
        .collect()
}

/// Each table's columns in order, with whether they may be NULL.
async fn columns(store: &Store, table: &str) -> Vec<(String, bool)> {
    let mut conn = store.conn().await.unwrap();
    match store.backend() {
        Backend::Sqlite => {
            let rows: Vec<(String, i64)> = sqlx::query_as(&format!(
                "SELECT name, \"notnull\" FROM pragma_table_info('{table}') ORDER BY cid"
            ))
            .fetch_all(&mut *conn)
            .await
            .unwrap();
            // An INTEGER PRIMARY KEY is NOT NULL whatever the pragma says.
            let pk: Vec<String> = sqlx::query_scalar(&format!(
                "SELECT name FROM pragma_table_info('{table}') WHERE pk > 0"
            ))
            .fetch_all(&mut *conn)
            .await
            .unwrap();
            rows.into_iter()
                .map(|(name, not_null)| {
                    let nullable = not_null == 0 && !pk.contains(&name);
                    (name, nullable)
                })
                .collect()
        }
        Backend::Postgres => {
            let rows: Vec<(String, String)> = sqlx::query_as(
                "SELECT CAST(column_name AS TEXT), CAST(is_nullable AS TEXT) FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            )
            .bind(table)
            .fetch_all(&mut *conn)
            .await
            .unwrap();
            rows.into_iter()
                .map(|(name, nullable)| (name, nullable == "YES"))
                .collect()
        }
    }
}

fn migration_names(folder: &str) -> Vec<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(folder);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// The PostgreSQL migrations are the SQLite ones' twins: the same files (versions and names),
/// and, on a PostgreSQL run, the same tables with the same columns in the same order, NULL
/// where SQLite allows NULL.
#[tokio::test]
async fn the_postgres_migrations_keep_in_step_with_the_sqlite_ones() {
    assert_eq!(
        migration_names("migrations-pg"),
        migration_names("migrations"),
        "every migration needs its PostgreSQL twin under the same name"
    );
    let (_dir, store) = open_store().await;
    let sqlite_dir = TempDir::new().unwrap();
    let sqlite = Store::open(&sqlite_dir.path().join(DATABASE_FILE))
        .await
        .unwrap();
    let tables = table_names(&sqlite).await;
    assert_eq!(table_names(&store).await, tables, "the same tables");
    for table in &tables {
        assert_eq!(
            columns(&store, table).await,
            columns(&sqlite, table).await,
            "the columns of {table}"
        );
    }
}
