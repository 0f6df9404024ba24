use std::process::Command;

use crate::{json, ok};

#[test]
fn init_creates_the_database_in_the_folder_given_by_flag() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("nested/ws");
    let out = ok(&ws, &["init"]);
    assert!(
        ws.join("hone.sqlite").is_file(),
        "init must create hone.sqlite in --workspace"
    );
    assert!(
        out.contains("from --workspace"),
        "init says why it chose the folder: {out}"
    );
    let report = json(&ws, &["init"]);
    assert_eq!(report["projects"], 0, "a new workspace has no projects");
}

#[test]
fn the_workspace_comes_from_the_environment_without_a_flag() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hone"))
        .arg("init")
        .env("HONE_WORKSPACE", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("from $HONE_WORKSPACE"));
    assert!(
        dir.path().join("hone.sqlite").is_file(),
        "HONE_WORKSPACE must be used when no flag is given"
    );
}

#[test]
fn the_flag_wins_over_the_environment() {
    let flag = tempfile::tempdir().unwrap();
    let env = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_hone"))
        .args(["--workspace", flag.path().to_str().unwrap(), "init"])
        .env("HONE_WORKSPACE", env.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(flag.path().join("hone.sqlite").is_file());
    assert!(
        !env.path().join("hone.sqlite").exists(),
        "the environment's folder must be left alone when --workspace is given"
    );
}

/// `hone init --database URL` binds a workspace to PostgreSQL (remembered in `database.url`,
/// readable by its owner only), and is refused for a workspace that keeps its feedback in
/// `hone.sqlite` or for anything but a `postgres://` URL, writing nothing. With
/// `HONE_TEST_DATABASE` (scripts/test.sh's PostgreSQL run) a fresh database is bound for real
/// and later commands use it.
#[test]
fn init_binds_a_workspace_to_postgres_and_refuses_one_that_has_sqlite_feedback() {
    let ws = tempfile::tempdir().unwrap();
    let w = ws.path();
    let not_a_url = crate::fails(w, &["init", "--database", "/tmp/elsewhere.sqlite"], 2);
    assert!(
        not_a_url.contains("expected a postgres:// URL"),
        "{not_a_url}"
    );
    assert!(!w.join("database.url").exists());

    crate::ok(w, &["init"]);
    let switched = crate::fails(
        w,
        &["init", "--database", "postgres://hone@127.0.0.1:1/x"],
        2,
    );
    assert!(switched.contains("hone.sqlite"), "{switched}");
    assert!(
        !w.join("database.url").exists(),
        "a refused binding writes nothing"
    );

    let Some(server) = std::env::var("HONE_TEST_DATABASE")
        .ok()
        .filter(|url| !url.is_empty())
    else {
        return;
    };
    let name = format!("hone_cli_test_{}", std::process::id());
    let url = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(hone_core::store::dialect::create_postgres_database(
            &server, &name,
        ))
        .unwrap();
    let team = tempfile::tempdir().unwrap();
    let t = team.path();
    let init = crate::json(t, &["init", "--database", &url]);
    assert!(
        init["database"]
            .as_str()
            .unwrap()
            .starts_with("postgres://"),
        "{init}"
    );
    assert!(!t.join("hone.sqlite").exists(), "no SQLite file beside it");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(t.join("database.url"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the URL may hold a password");
    crate::ok(t, &["users", "add", "olivia", "--role", "owner"]);
    let listed = crate::ok(t, &["users", "list"]);
    assert!(
        listed.contains("olivia"),
        "a later command uses the database: {listed}"
    );
}
