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

/// `hone … | head`: when the reader goes away, hone ends as other Unix tools do (SIGPIPE),
/// without a panic message; before, it exited 101 with "failed printing to stdout".
#[cfg(unix)]
#[test]
fn a_closed_output_pipe_ends_quietly() {
    use std::os::unix::process::ExitStatusExt;
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hone"))
        .arg("--workspace")
        .arg(dir.path().join("ws"))
        .arg("init")
        .env_remove("HONE_WORKSPACE")
        .stdout(writer)
        .output()
        .expect("run hone");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(libc_sigpipe()),
        "{:?}: {stderr}",
        out.status
    );
    // The work was done: the workspace exists.
    assert!(dir.path().join("ws/hone.sqlite").is_file());
}

#[cfg(unix)]
fn libc_sigpipe() -> i32 {
    13 // SIGPIPE on Linux and macOS
}

#[test]
fn escape_codes_in_imported_text_are_printed_as_escapes_not_obeyed() {
    let ws = crate::workspace_with_project();
    let file = ws.path().join("hostile.jsonl");
    std::fs::write(
        &file,
        "{\"prompt\": \"Clear \\u001b[2J\\u001b]0;owned\\u0007 and \\u202eright-to-left\", \"chosen\": \"a\", \"rejected\": \"b\"}\n",
    )
    .unwrap();
    crate::ok(
        ws.path(),
        &["import", file.to_str().unwrap(), "--project", "support"],
    );
    let out = crate::ok(ws.path(), &["history", "--project", "support"]);
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\u{202e}'),
        "no raw control character reaches the terminal: {out:?}"
    );
    assert!(
        out.contains("\\u{1b}[2J") && out.contains("\\u{202e}right-to-left"),
        "they are shown as escapes: {out}"
    );
}
