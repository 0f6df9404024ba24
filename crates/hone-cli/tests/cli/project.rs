use crate::{fails, json, ok};

#[test]
fn create_list_and_show_projects() {
    let dir = tempfile::tempdir().unwrap();
    let guidelines = dir.path().join("guidelines.md");
    std::fs::write(&guidelines, "Prefer correct, polite, concise answers.").unwrap();
    let created = json(
        dir.path(),
        &[
            "project", "create", "support", "--description", "help desk", "--guidelines", guidelines.to_str().unwrap(),
            "--criteria", "correctness,tone", "--span-labels", "wrong,rude", "--scale", "1-5", "--overlap", "2",
        ],
    );
    assert_eq!(created["project"]["name"], "support");
    assert_eq!(created["project"]["rating_max"], 5);
    assert_eq!(created["project"]["overlap"], 2);
    assert_eq!(created["guideline"]["version"], 1);
    let criteria: Vec<&str> = created["criteria"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(criteria, ["correctness", "tone"]);

    ok(dir.path(), &["project", "create", "second"]);
    let list = json(dir.path(), &["project", "list"]);
    let names: Vec<&str> = list.as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["support", "second"], "projects are listed in creation order");

    let shown = ok(dir.path(), &["project", "show", "support"]);
    assert!(shown.contains("Prefer correct, polite, concise answers."), "show prints the guidelines:\n{shown}");
    assert!(shown.contains("wrong, rude"), "show prints the span labels:\n{shown}");
    let by_id = json(dir.path(), &["project", "show", "2"]);
    assert_eq!(by_id["project"]["name"], "second", "a project can be named by its id");
    let defaults: Vec<&str> = by_id["span_labels"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(defaults.contains(&"factual_error"), "a project without labels gets the default ones: {defaults:?}");
}

#[test]
fn bad_project_settings_exit_with_2_and_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    ok(dir.path(), &["project", "create", "support"]);
    let stderr = fails(dir.path(), &["project", "create", "support"], 2);
    assert!(stderr.contains("already exists"), "{stderr}");
    let stderr = fails(dir.path(), &["project", "create", "x", "--scale", "5-1"], 2);
    assert!(stderr.contains("project.rating_max"), "{stderr}");
    let stderr = fails(dir.path(), &["project", "create", "y", "--scale", "one-to-seven"], 2);
    assert!(stderr.contains("--scale"), "{stderr}");
    let stderr = fails(dir.path(), &["project", "create", "z", "--criteria", "a,a"], 2);
    assert!(stderr.contains("criteria[1].name"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "an error is one line: {stderr}");
}
