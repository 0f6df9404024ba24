use crate::{example, fails, json, ok, workspace_with_project};

#[test]
fn importing_the_examples_feeds_stats() {
    let ws = workspace_with_project();
    let report = json(
        ws.path(),
        &[
            "import",
            example("support-preferences.jsonl").to_str().unwrap(),
            "--project",
            "support",
        ],
    );
    assert_eq!(report["prompts_created"], 7);
    assert_eq!(report["judgments"]["comparison"], 7);
    let report = json(
        ws.path(),
        &[
            "import",
            example("support-prompts.csv").to_str().unwrap(),
            "--project",
            "support",
        ],
    );
    assert_eq!(report["prompts_created"], 4);

    let stats = json(ws.path(), &["stats", "--project", "support"]);
    assert_eq!(
        stats["prompts_train"], 9,
        "7 preference prompts + 2 train prompts from the CSV"
    );
    assert_eq!(
        stats["prompts_heldout"], 2,
        "the CSV puts 2 prompts in held-out"
    );
    assert_eq!(stats["judgments"]["comparison"], 7);
    assert_eq!(stats["rows_preference"], 7);
    assert_eq!(stats["annotators"][0]["name"], "import");
    let text = ok(ws.path(), &["stats", "--project", "support"]);
    assert!(
        text.contains("7 preference pairs"),
        "the table names the training data:\n{text}"
    );
}

#[test]
fn a_file_with_a_bad_line_imports_nothing_and_exits_2() {
    let ws = workspace_with_project();
    let file = ws.path().join("mixed.jsonl");
    std::fs::write(&file, "{\"prompt\": \"fine\"}\n{\"prompt\": \"p\", \"chosen\": \"same\", \"rejected\": \"same\"}\n").unwrap();
    let stderr = fails(
        ws.path(),
        &["import", file.to_str().unwrap(), "--project", "support"],
        2,
    );
    assert!(
        stderr.contains("line 2: field `rejected`: is identical to chosen"),
        "the error names line and field:\n{stderr}"
    );
    assert!(stderr.contains("nothing was imported"), "{stderr}");
    let stats = json(ws.path(), &["stats", "--project", "support"]);
    assert_eq!(
        stats["prompts_train"], 0,
        "the good line must not be imported either"
    );

    let report = json(
        ws.path(),
        &[
            "import",
            file.to_str().unwrap(),
            "--project",
            "support",
            "--skip-invalid",
        ],
    );
    assert_eq!(
        report["prompts_created"], 1,
        "--skip-invalid imports the good line"
    );
    assert_eq!(report["skipped"][0]["line"], 2);
    assert_eq!(report["skipped"][0]["field"], "rejected");
}

#[test]
fn unreadable_empty_large_and_non_utf8_files_are_refused() {
    let ws = workspace_with_project();
    let stderr = fails(
        ws.path(),
        &["import", "/no/such/file.jsonl", "--project", "support"],
        2,
    );
    assert!(
        stderr.contains("/no/such/file.jsonl: cannot read the file"),
        "{stderr}"
    );

    let empty = ws.path().join("empty.txt");
    std::fs::write(&empty, "\n  \n").unwrap();
    let stderr = fails(
        ws.path(),
        &["import", empty.to_str().unwrap(), "--project", "support"],
        2,
    );
    assert!(stderr.contains("the file is empty"), "{stderr}");

    let big = ws.path().join("big.txt");
    std::fs::write(&big, "a prompt\n".repeat(100)).unwrap();
    let stderr = fails(
        ws.path(),
        &[
            "import",
            big.to_str().unwrap(),
            "--project",
            "support",
            "--max-bytes",
            "500",
        ],
        2,
    );
    assert!(
        stderr.contains("900 bytes, over the import limit of 500"),
        "{stderr}"
    );

    let latin1 = ws.path().join("latin1.txt");
    std::fs::write(&latin1, b"first line\ncaf\xe9\n").unwrap();
    let stderr = fails(
        ws.path(),
        &["import", latin1.to_str().unwrap(), "--project", "support"],
        2,
    );
    assert!(
        stderr.contains("line 2: the file is not valid UTF-8"),
        "{stderr}"
    );

    let odd = ws.path().join("data.xlsx");
    std::fs::write(&odd, "x").unwrap();
    let stderr = fails(
        ws.path(),
        &["import", odd.to_str().unwrap(), "--project", "support"],
        2,
    );
    assert!(stderr.contains("--format jsonl, csv or text"), "{stderr}");
    let report = json(
        ws.path(),
        &[
            "import",
            odd.to_str().unwrap(),
            "--project",
            "support",
            "--format",
            "text",
        ],
    );
    assert_eq!(
        report["prompts_created"], 1,
        "--format overrides the extension"
    );
}

#[test]
fn the_annotator_report_of_the_examples() {
    let ws = crate::workspace_with_project();
    let w = ws.path();
    crate::ok(
        w,
        &[
            "import",
            crate::example("support-preferences.jsonl")
                .to_str()
                .unwrap(),
            "--project",
            "support",
        ],
    );
    let r = crate::json(w, &["annotators", "--project", "support"]);
    let import = r["annotators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["name"] == "import")
        .expect("the importer is an annotator");
    assert_eq!(import["judgments"], 7);
    assert_eq!(
        import["position"]["decided"], 7,
        "every imported pair is decided"
    );
    assert_eq!(
        import["position"]["first_wins"], 7,
        "TRL pairs list the chosen answer first"
    );
    assert!(crate::ok(w, &["annotators", "--project", "support"]).contains("first shown wins"));
}

#[test]
fn the_history_lists_and_filters_the_judgments() {
    let ws = crate::workspace_with_project();
    let w = ws.path();
    crate::ok(
        w,
        &[
            "import",
            crate::example("support-preferences.jsonl")
                .to_str()
                .unwrap(),
            "--project",
            "support",
        ],
    );
    let page = crate::json(w, &["history", "--project", "support"]);
    assert_eq!(page["total"], 7);
    let entries = page["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 7);
    assert!(entries
        .iter()
        .all(|e| e["kind"] == "comparison" && e["annotator"] == "import"));
    assert!(
        entries[0]["judgment_id"].as_i64() > entries[6]["judgment_id"].as_i64(),
        "newest first"
    );
    let page = crate::json(
        w,
        &[
            "history",
            "--project",
            "support",
            "--annotator",
            "import",
            "--kind",
            "comparison",
            "--text",
            "PASSWORD",
            "--limit",
            "3",
        ],
    );
    assert_eq!(page["total"], 1);
    assert_eq!(
        page["entries"][0]["prompt_text"],
        "How do I reset my password?"
    );
    let table = crate::ok(w, &["history", "--project", "support", "--limit", "2"]);
    assert!(table.contains("2 of 7 judgment(s) shown"), "{table}");
    let stderr = crate::fails(
        w,
        &["history", "--project", "support", "--verdict", "maybe"],
        2,
    );
    assert!(stderr.contains("verdict"), "{stderr}");
}

/// A preference file of `n` distinct pairs.
fn pairs_file(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    let mut text = String::new();
    for i in 0..n {
        text.push_str(&format!(
            "{{\"prompt\": \"Question {i}?\", \"chosen\": \"Good answer {i}.\", \"rejected\": \"Bad answer {i}.\"}}\n"
        ));
    }
    let path = dir.join("pairs.jsonl");
    std::fs::write(&path, text).unwrap();
    path
}

/// The fault test of imports: `hone import` killed (SIGKILL) at moments spread over its
/// writing stage; whatever the moment, the next command finds the file imported whole or
/// not at all, and says which in `hone imports`.
#[test]
fn an_import_killed_at_any_moment_lands_all_or_nothing() {
    const PAIRS: usize = 30_000;
    let files = tempfile::tempdir().unwrap();
    let file = pairs_file(files.path(), PAIRS);
    let mut outcomes = Vec::new();
    for round in 0..6u64 {
        let ws = workspace_with_project();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hone"))
            .arg("--workspace")
            .arg(ws.path())
            .args([
                "import",
                file.to_str().unwrap(),
                "--project",
                "support",
                "--json",
            ])
            .env_remove("HONE_WORKSPACE")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait for the writing stage (its lock file), then a different moment each round.
        let locks = ws.path().join("locks");
        let started = std::time::Instant::now();
        while child.try_wait().unwrap().is_none()
            && std::fs::read_dir(&locks).map_or(true, |mut d| d.next().is_none())
            && started.elapsed() < std::time::Duration::from_secs(60)
        {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        std::thread::sleep(std::time::Duration::from_millis(round * 150));
        let _ = child.kill();
        child.wait().unwrap();

        let runs = json(ws.path(), &["imports", "--project", "support"]);
        let stats = json(ws.path(), &["stats", "--project", "support"]);
        let (prompts, comparisons) = (
            stats["prompts_train"].as_u64().unwrap(),
            stats["judgments"]["comparison"].as_u64().unwrap_or(0),
        );
        // Killed after the run's lock file appeared but before its row was committed: the
        // run never began, and nothing was written.
        let Some(state) = runs[0]["state"].as_str().map(str::to_owned) else {
            assert_eq!((prompts, comparisons), (0, 0), "round {round}: {runs}");
            outcomes.push("not_started".to_owned());
            continue;
        };
        match state.as_str() {
            "done" => assert_eq!((prompts, comparisons), (PAIRS as u64, PAIRS as u64)),
            "rolled_back" => {
                assert_eq!(
                    (prompts, comparisons),
                    (0, 0),
                    "round {round}: nothing left"
                );
                assert!(
                    runs[0]["error"].as_str().unwrap().contains("interrupted"),
                    "{runs}"
                );
            }
            other => panic!("round {round}: the run is {other} after the next command: {runs}"),
        }
        outcomes.push(state);
    }
    assert!(
        outcomes.iter().any(|s| s == "rolled_back"),
        "at least one kill landed while writing: {outcomes:?}"
    );
}
