use crate::{example, fails, json, ok, workspace_with_project};

#[test]
fn train_plans_runs_lists_and_exports_a_version() {
    let ws = workspace_with_project();
    let w = ws.path();
    ok(w, &["import", example("support-preferences.jsonl").to_str().unwrap(), "--project", "support"]);
    let model = w.join("tiny");
    ok(w, &["model", "new-tiny", "--out", model.to_str().unwrap()]);
    let m = model.to_str().unwrap();

    let plan = json(w, &["train", "--project", "support", "--model", m, "--plan-only"]);
    assert_eq!(plan["stages"][0]["method"], "dpo", "the example file holds only pairs: {plan}");
    assert_eq!(plan["stages"][0]["examples"], 7);
    assert!(json(w, &["jobs"]).as_array().unwrap().is_empty(), "a plan trains nothing");

    let outcome = json(w, &["train", "--project", "support", "--model", m, "--epochs", "1", "--batch-size", "4", "--lora-r", "4"]);
    assert_eq!(outcome["version"]["name"], "v1");
    let versions = json(w, &["versions", "--project", "support"]);
    assert_eq!(versions.as_array().unwrap().len(), 1);
    let jobs = json(w, &["jobs"]);
    assert_eq!(jobs[0]["state"], "succeeded");

    let id = outcome["version"]["id"].as_i64().unwrap().to_string();
    let out = w.join("peft");
    ok(w, &["export", "--version", &id, "--format", "peft", "--out", out.to_str().unwrap()]);
    assert!(out.join("adapter_model.safetensors").is_file());
    let text = ok(w, &["generate", "--model", m, "--adapter", out.to_str().unwrap(), "--prompt", "hi", "--max-tokens", "3"]);
    assert!(!text.is_empty());

    let stderr = fails(w, &["train", "--project", "support", "--model", m, "--method", "sft"], 2);
    assert!(stderr.contains("no rows for sft"), "{stderr}");
    let stderr = fails(w, &["export", "--version", &id, "--format", "onnx", "--out", "x"], 2);
    assert!(stderr.contains("peft, merged or trl"), "{stderr}");
}
