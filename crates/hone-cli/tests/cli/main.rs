//! The `hone` binary, run as a user runs it: real processes, a real workspace folder.

mod errors;
mod export;
mod import;
mod model;
mod project;
mod real_model;
mod train;
mod train_kill;
mod trl_job;
mod users;
mod workspace;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Read when the test runs, not when it is compiled: cargo reuses a test binary built from
/// another checkout of the same workspace (a shared target folder), and a compile-time path
/// would then point into that other checkout.
pub const RUNTIME_MANIFEST_DIR: &str = "cargo test sets CARGO_MANIFEST_DIR";

/// The repository's example files.
pub fn example(name: &str) -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect(RUNTIME_MANIFEST_DIR))
        .join("../../examples")
        .join(name)
}

/// Runs `hone --workspace DIR args…` with a clean environment for Hone's variables.
pub fn hone(workspace: &Path, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hone"));
    command
        .arg("--workspace")
        .arg(workspace)
        .args(args)
        .env_remove("HONE_WORKSPACE")
        .env_remove("HONE_DATABASE");
    command.output().expect("run hone")
}

/// Runs and expects success; returns stdout.
pub fn ok(workspace: &Path, args: &[&str]) -> String {
    let out = hone(workspace, args);
    assert!(
        out.status.success(),
        "hone {args:?} failed with {:?}:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// Runs and expects `--json` output.
pub fn json(workspace: &Path, args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.push("--json");
    let text = ok(workspace, &args);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("hone {args:?} printed invalid JSON ({e}):\n{text}"))
}

/// Runs and expects failure with `code`; returns stderr.
pub fn fails(workspace: &Path, args: &[&str], code: i32) -> String {
    let out = hone(workspace, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "hone {args:?} should exit with {code}; stderr:\n{stderr}"
    );
    stderr
}

/// A workspace with the project `support`.
pub fn workspace_with_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    ok(
        dir.path(),
        &[
            "project",
            "create",
            "support",
            "--description",
            "help desk answers",
        ],
    );
    dir
}
