use crate::{example, fails, json, ok, workspace_with_project};

#[test]
fn export_then_import_then_export_is_byte_identical() {
    let first = workspace_with_project();
    ok(
        first.path(),
        &[
            "import",
            example("support-preferences.jsonl").to_str().unwrap(),
            "--project",
            "support",
        ],
    );
    let out1 = first.path().join("out1");
    let reports = json(
        first.path(),
        &[
            "export",
            "--project",
            "support",
            "--format",
            "all",
            "--out",
            out1.to_str().unwrap(),
        ],
    );
    assert_eq!(reports[0]["rows"], 7, "all 7 preference pairs are exported");

    let second = workspace_with_project();
    ok(
        second.path(),
        &[
            "import",
            out1.join("preference.jsonl").to_str().unwrap(),
            "--project",
            "support",
        ],
    );
    let out2 = second.path().join("out2");
    ok(
        second.path(),
        &[
            "export",
            "--project",
            "support",
            "--format",
            "preference",
            "--out",
            out2.to_str().unwrap(),
        ],
    );
    let a = std::fs::read(out1.join("preference.jsonl")).unwrap();
    let b = std::fs::read(&out2).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&a),
        String::from_utf8_lossy(&b),
        "re-imported export must export the same bytes"
    );
    let conversational = String::from_utf8(a).unwrap();
    assert!(
        conversational.contains("\"role\":\"system\""),
        "the chat example keeps its conversational form"
    );
}

#[test]
fn export_of_an_existing_snapshot_and_bad_format() {
    let ws = workspace_with_project();
    ok(
        ws.path(),
        &[
            "import",
            example("support-preferences.jsonl").to_str().unwrap(),
            "--project",
            "support",
        ],
    );
    let file = ws.path().join("p.jsonl");
    let reports = json(
        ws.path(),
        &[
            "export",
            "--project",
            "support",
            "--format",
            "preference",
            "--out",
            file.to_str().unwrap(),
        ],
    );
    let snapshot = reports[0]["snapshot_id"].as_i64().unwrap();
    let again = ws.path().join("again.jsonl");
    ok(
        ws.path(),
        &[
            "export",
            "--project",
            "support",
            "--format",
            "preference",
            "--out",
            again.to_str().unwrap(),
            "--snapshot",
            &snapshot.to_string(),
        ],
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(&again).unwrap(),
        "the same snapshot exports the same bytes"
    );
    let stderr = fails(
        ws.path(),
        &[
            "export",
            "--project",
            "support",
            "--format",
            "dpo",
            "--out",
            "x",
        ],
        2,
    );
    assert!(stderr.contains("unknown format \"dpo\""), "{stderr}");
}
