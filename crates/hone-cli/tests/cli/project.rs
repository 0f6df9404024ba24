use crate::{fails, json, ok};

#[test]
fn create_list_and_show_projects() {
    let dir = tempfile::tempdir().unwrap();
    let guidelines = dir.path().join("guidelines.md");
    std::fs::write(&guidelines, "Prefer correct, polite, concise answers.").unwrap();
    let created = json(
        dir.path(),
        &[
            "project",
            "create",
            "support",
            "--description",
            "help desk",
            "--guidelines",
            guidelines.to_str().unwrap(),
            "--criteria",
            "correctness,tone",
            "--span-labels",
            "wrong,rude",
            "--scale",
            "1-5",
            "--overlap",
            "2",
        ],
    );
    assert_eq!(created["project"]["name"], "support");
    assert_eq!(created["project"]["rating_max"], 5);
    assert_eq!(created["project"]["overlap"], 2);
    assert_eq!(created["guideline"]["version"], 1);
    let criteria: Vec<&str> = created["criteria"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(criteria, ["correctness", "tone"]);

    ok(dir.path(), &["project", "create", "second"]);
    let list = json(dir.path(), &["project", "list"]);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["support", "second"],
        "projects are listed in creation order"
    );

    let shown = ok(dir.path(), &["project", "show", "support"]);
    assert!(
        shown.contains("Prefer correct, polite, concise answers."),
        "show prints the guidelines:\n{shown}"
    );
    assert!(
        shown.contains("wrong, rude"),
        "show prints the span labels:\n{shown}"
    );
    let by_id = json(dir.path(), &["project", "show", "2"]);
    assert_eq!(
        by_id["project"]["name"], "second",
        "a project can be named by its id"
    );
    let defaults: Vec<&str> = by_id["span_labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert!(
        defaults.contains(&"factual_error"),
        "a project without labels gets the default ones: {defaults:?}"
    );

    // Good labels: after the default error labels when no error label is given.
    let praised = json(
        dir.path(),
        &[
            "project",
            "create",
            "praised",
            "--good-span-labels",
            "right_step,clear",
        ],
    );
    let labels: Vec<(&str, &str)> = praised["span_labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["name"].as_str().unwrap(), l["polarity"].as_str().unwrap()))
        .collect();
    assert_eq!(
        labels[labels.len() - 3..],
        [
            ("style", "error"),
            ("right_step", "good"),
            ("clear", "good")
        ],
        "{labels:?}"
    );
    let shown = ok(dir.path(), &["project", "show", "praised"]);
    assert!(
        shown.contains("good      right_step, clear"),
        "show names the good labels apart:\n{shown}"
    );
}

#[test]
fn bad_project_settings_exit_with_2_and_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["project", "create", "support"]);
    let stderr = fails(dir.path(), &["project", "create", "support"], 2);
    assert!(stderr.contains("already exists"), "{stderr}");
    let stderr = fails(dir.path(), &["project", "create", "x", "--scale", "5-1"], 2);
    assert!(stderr.contains("project.rating_max"), "{stderr}");
    let stderr = fails(
        dir.path(),
        &["project", "create", "y", "--scale", "one-to-seven"],
        2,
    );
    assert!(stderr.contains("--scale"), "{stderr}");
    let stderr = fails(
        dir.path(),
        &["project", "create", "z", "--criteria", "a,a"],
        2,
    );
    assert!(stderr.contains("criteria[1].name"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "an error is one line: {stderr}");
}

/// `project settings` changes only what is given; `gold mark` makes an imported judgment a
/// gold item that `queue next` then hands to another annotator at gold rate 1, as a random pick.
#[test]
fn settings_the_queue_and_gold_items_from_the_command_line() {
    let ws = crate::workspace_with_project();
    let w = ws.path();
    ok(
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
    let p = json(
        w,
        &[
            "project",
            "settings",
            "support",
            "--queue-order",
            "disagreement",
            "--overlap",
            "2",
        ],
    );
    assert_eq!(
        (
            p["queue_order"].as_str(),
            p["overlap"].as_i64(),
            p["gold_rate"].as_f64()
        ),
        (Some("disagreement"), Some(2), Some(0.0))
    );
    assert_eq!(
        p["task_description"], "help desk answers",
        "what is not given stays"
    );
    let stderr = fails(
        w,
        &["project", "settings", "support", "--gold-rate", "2"],
        2,
    );
    assert!(stderr.contains("project.gold_rate"), "{stderr}");
    let stderr = fails(
        w,
        &[
            "project",
            "settings",
            "support",
            "--queue-order",
            "sideways",
        ],
        2,
    );
    assert!(
        stderr.contains("in_order, random, least_sure, disagreement"),
        "{stderr}"
    );
    assert!(
        ok(w, &["project", "show", "support"]).contains("queue     disagreement, gold items 0%")
    );

    let next = json(
        w,
        &[
            "queue",
            "next",
            "--project",
            "support",
            "--annotator",
            "bob",
        ],
    );
    assert_eq!(
        next["judged_by"], 1,
        "overlap 2: the imported pairs go to a second annotator"
    );
    assert!(
        next["reason"]
            .as_str()
            .unwrap()
            .starts_with("no disagreement to resolve; "),
        "{}",
        next["reason"]
    );

    let gold = ok(w, &["gold", "mark", "--judgment", "3"]);
    assert!(
        gold.contains("judgment 3 is gold: prefers response"),
        "{gold}"
    );
    let items = json(w, &["gold", "list", "--project", "support"]);
    assert_eq!(items.as_array().unwrap().len(), 1);
    let mut gold_pair: Vec<i64> = items[0]["response_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    gold_pair.sort_unstable();
    // Gold items are mixed into open work (overlap 2 leaves every pair open for bob).
    ok(
        w,
        &[
            "project",
            "settings",
            "support",
            "--gold-rate",
            "1",
            "--queue-order",
            "in_order",
        ],
    );
    let next = json(
        w,
        &[
            "queue",
            "next",
            "--project",
            "support",
            "--annotator",
            "bob",
        ],
    );
    let mut shown: Vec<i64> = next["responses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect();
    shown.sort_unstable();
    assert_eq!(
        (shown, next["reason"].as_str()),
        (gold_pair, Some("picked at random"))
    );
    let text = ok(
        w,
        &[
            "queue",
            "next",
            "--project",
            "support",
            "--annotator",
            "bob",
        ],
    );
    assert!(text.contains("why: picked at random"), "{text}");
    ok(w, &["gold", "unmark", "--judgment", "3"]);
    let stderr = fails(w, &["gold", "unmark", "--judgment", "3"], 2);
    assert!(stderr.contains("is not a gold item"), "{stderr}");
    let text = ok(
        w,
        &[
            "queue",
            "next",
            "--project",
            "support",
            "--annotator",
            "bob",
        ],
    );
    assert!(
        text.contains("why: 1 of 2 annotators have judged it: finishing its overlap first"),
        "{text}"
    );
    // The lead's progress: the 7 imported pairs, each with the import's verdict of the 2 wanted.
    let progress = json(
        w,
        &[
            "queue",
            "progress",
            "--project",
            "support",
            "--kind",
            "comparison",
        ],
    );
    let comparison = &progress[0];
    assert_eq!(
        (
            comparison["units"].as_i64(),
            comparison["complete"].as_i64(),
            comparison["started"].as_i64(),
            comparison["verdicts"].as_i64(),
            comparison["overlap"].as_i64()
        ),
        (Some(7), Some(0), Some(7), Some(7), Some(2)),
        "{progress}"
    );
    let table = ok(w, &["queue", "progress", "--project", "support"]);
    assert!(
        table.contains("comparison") && table.contains("under way"),
        "{table}"
    );
    let report = ok(w, &["annotators", "--project", "support"]);
    assert!(
        report.contains("with gold")
            && report.contains("reward model for the suggestion columns: none yet"),
        "{report}"
    );
}
