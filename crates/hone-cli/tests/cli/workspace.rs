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
