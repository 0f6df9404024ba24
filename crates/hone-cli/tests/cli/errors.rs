use crate::{fails, hone};

#[test]
fn unknown_project_is_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let stderr = fails(dir.path(), &["stats", "--project", "nope"], 2);
    assert_eq!(stderr.trim(), "error: project \"nope\" does not exist");
}

#[test]
fn unknown_flags_are_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    fails(dir.path(), &["stats", "--frobnicate"], 2);
}

#[test]
fn a_workspace_that_cannot_be_created_is_a_failure_not_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let out = hone(&file, &["init"]);
    assert_eq!(out.status.code(), Some(1), "an I/O failure exits with 1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("a-file"),
        "the error names the path: {stderr}"
    );
}
