use crate::{example, fails, json, ok, workspace_with_project};

/// The plan's memory estimate against the peak the `hone train` process measured (its
/// `VmHWM`): within ±25%, as issue 16 asks.
pub(crate) fn plan_memory_is_within_a_quarter_of_the_measured_peak(outcome: &serde_json::Value) {
    let estimated = outcome["plan"]["estimated_memory_mib"].as_f64().unwrap();
    let measured = outcome["peak_memory_mib"]
        .as_f64()
        .expect("Linux reports the process's peak memory");
    let ratio = estimated / measured;
    eprintln!("plan memory: estimated {estimated:.0} MiB, measured {measured:.0} MiB");
    assert!(
        (0.75..=1.25).contains(&ratio),
        "the plan estimated {estimated:.0} MiB, the run peaked at {measured:.0} MiB"
    );
}

/// Imports the example preference pairs into the project `support` of workspace `w` and
/// writes a tiny random model beside it; returns the model's folder.
pub fn example_pairs_and_tiny_model(w: &std::path::Path) -> std::path::PathBuf {
    ok(
        w,
        &[
            "import",
            example("support-preferences.jsonl").to_str().unwrap(),
            "--project",
            "support",
        ],
    );
    let model = w.join("tiny");
    ok(w, &["model", "new-tiny", "--out", model.to_str().unwrap()]);
    model
}

#[test]
fn train_plans_runs_lists_and_exports_a_version() {
    let ws = workspace_with_project();
    let w = ws.path();
    let model = example_pairs_and_tiny_model(w);
    let m = model.to_str().unwrap();

    let plan = json(
        w,
        &["train", "--project", "support", "--model", m, "--plan-only"],
    );
    assert_eq!(
        plan["stages"][0]["method"], "dpo",
        "the example file holds only pairs: {plan}"
    );
    assert_eq!(plan["stages"][0]["examples"], 7);
    assert!(
        json(w, &["jobs"]).as_array().unwrap().is_empty(),
        "a plan trains nothing"
    );

    let outcome = json(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--lora-r",
            "4",
        ],
    );
    assert_eq!(outcome["version"]["name"], "v1");
    plan_memory_is_within_a_quarter_of_the_measured_peak(&outcome);
    let versions = json(w, &["versions", "--project", "support"]);
    assert_eq!(versions.as_array().unwrap().len(), 1);
    let jobs = json(w, &["jobs"]);
    assert_eq!(jobs[0]["state"], "succeeded");

    let id = outcome["version"]["id"].as_i64().unwrap().to_string();
    let out = w.join("peft");
    ok(
        w,
        &[
            "export",
            "--version",
            &id,
            "--format",
            "peft",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert!(out.join("adapter_model.safetensors").is_file());
    let text = ok(
        w,
        &[
            "generate",
            "--model",
            m,
            "--adapter",
            out.to_str().unwrap(),
            "--prompt",
            "hi",
            "--max-tokens",
            "3",
        ],
    );
    assert!(!text.is_empty());

    // Provenance: the version's judgments are its snapshot's, by the importer; the judgment
    // trained it; a child version lists it as its parent.
    let p = json(w, &["provenance", "--version", &id]);
    assert_eq!(
        p["judgments"].as_array().unwrap().len(),
        p["snapshot"]["judgment_ids"].as_array().unwrap().len()
    );
    assert_eq!(p["annotators"]["import"], 7, "{}", p["annotators"]);
    assert!(p["ancestors"].as_array().unwrap().is_empty());
    let first_judgment = p["snapshot"]["judgment_ids"][0]
        .as_i64()
        .unwrap()
        .to_string();
    let back = json(w, &["provenance", "--judgment", &first_judgment]);
    assert_eq!(
        back["versions"][0]["id"], outcome["version"]["id"],
        "the judgment trained v1"
    );
    let child = json(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--method",
            "dpo",
            "--epochs",
            "1",
            "--lora-r",
            "4",
            "--parent",
            &id,
        ],
    );
    let child_id = child["version"]["id"].as_i64().unwrap().to_string();
    let p2 = json(w, &["provenance", "--version", &child_id]);
    assert_eq!(
        p2["ancestors"][0]["id"], outcome["version"]["id"],
        "v2's parent chain starts at v1"
    );
    let both = json(w, &["provenance", "--judgment", &first_judgment]);
    assert_eq!(
        both["versions"].as_array().unwrap().len(),
        2,
        "the judgment trained both versions"
    );

    // Retrain without the importer: nothing is left to train on, and the error says so.
    let stderr = fails(
        w,
        &["retrain", "--version", &id, "--exclude-annotator", "import"],
        2,
    );
    assert!(stderr.contains("no rows"), "{stderr}");

    // Evaluation and promotion from the command line (the example has no held-out data: the
    // measures say n/a, and nothing regresses).
    let e = json(w, &["eval", "--version", &id]);
    assert_eq!(
        (e["against"].as_str(), e["held_out_prompts"].as_u64()),
        (Some("base"), Some(0))
    );
    assert!(e["preference_accuracy"].is_null());
    let promoted = json(w, &["promote", "--version", &id]);
    assert_eq!(promoted["promoted"], true);
    let projects = json(w, &["project", "list"]);
    assert_eq!(projects[0]["promoted_version_id"], outcome["version"]["id"]);

    let stderr = fails(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--method",
            "sft",
        ],
        2,
    );
    assert!(stderr.contains("no rows for sft"), "{stderr}");
    // A quantized base needs the GGUF file the folder came from; this folder came from none.
    let stderr = fails(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--base-weights",
            "quantized",
            "--plan-only",
        ],
        2,
    );
    assert!(
        stderr.contains("recipe.base_weights") && stderr.contains("GGUF"),
        "{stderr}"
    );
    let stderr = fails(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--base-weights",
            "q4",
        ],
        2,
    );
    assert!(stderr.contains("expected dense or quantized"), "{stderr}");
    let stderr = fails(
        w,
        &["export", "--version", &id, "--format", "onnx", "--out", "x"],
        2,
    );
    assert!(
        stderr.contains("peft, merged, gguf, gguf-lora or trl"),
        "{stderr}"
    );
}

#[test]
fn candidates_are_generated_and_stored_and_a_reward_model_scores_them() {
    let ws = workspace_with_project();
    let w = ws.path();
    ok(
        w,
        &[
            "import",
            example("support-prompts.csv").to_str().unwrap(),
            "--project",
            "support",
        ],
    );
    let model = example_pairs_and_tiny_model(w);
    let m = model.to_str().unwrap();

    let made = json(
        w,
        &[
            "candidates",
            "--project",
            "support",
            "--model",
            m,
            "-n",
            "3",
            "--max-tokens",
            "4",
            "--split",
            "train",
            "--temperature",
            "1.0",
        ],
    );
    let made = made.as_array().unwrap();
    assert!(!made.is_empty());
    let ids: Vec<i64> = made
        .iter()
        .flat_map(|c| {
            c["responses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap())
        })
        .collect();
    assert!(
        made.iter().all(|c| {
            let n = c["responses"].as_array().unwrap().len() as u64
                + c["duplicates"].as_u64().unwrap()
                + c["empty"].as_u64().unwrap();
            n == 3
        }),
        "3 samples per prompt, repeats and empty ones counted"
    );
    assert_eq!(made[0]["responses"][0]["source"], "model");
    // The same run again reuses what it made: same seed, same texts, no new responses.
    let again = json(
        w,
        &[
            "candidates",
            "--project",
            "support",
            "--model",
            m,
            "-n",
            "3",
            "--max-tokens",
            "4",
            "--split",
            "train",
            "--temperature",
            "1.0",
        ],
    );
    let again_ids: Vec<i64> = again
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| {
            c["responses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(again_ids, ids);

    let rm = json(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--method",
            "rm",
            "--epochs",
            "1",
            "--lora-r",
            "4",
        ],
    );
    assert_eq!(rm["version"]["method"], "rm");
    plan_memory_is_within_a_quarter_of_the_measured_peak(&rm);
    let rm_id = rm["version"]["id"].as_i64().unwrap().to_string();
    let list = format!("{},{}", ids[0], ids[1]);
    let scores = json(w, &["reward", "--version", &rm_id, "--responses", &list]);
    assert_eq!(scores.as_array().unwrap().len(), 2);
    // A response's score is its own: asked in the other order, each gets the same value.
    let reversed = format!("{},{}", ids[1], ids[0]);
    let swapped = json(
        w,
        &["reward", "--version", &rm_id, "--responses", &reversed],
    );
    let score = |v: &serde_json::Value, i: usize| v[i]["score"].as_f64().unwrap();
    assert!(
        (score(&scores, 0) - score(&swapped, 1)).abs() < 1e-5
            && (score(&scores, 1) - score(&swapped, 0)).abs() < 1e-5,
        "{scores} then {swapped}"
    );
    assert_ne!(
        score(&scores, 0),
        score(&scores, 1),
        "two texts, two scores"
    );

    // The suggestion for two answers to one prompt: by the reward model, then by a judge model.
    let pair: Vec<String> = made
        .iter()
        .map(|c| {
            c["responses"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_i64().unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .find(|ids| ids.len() >= 2)
        .expect("a prompt with two different samples");
    let pair = pair[..2].join(",");
    let s = json(
        w,
        &["suggest", "--project", "support", "--responses", &pair],
    );
    assert_eq!(
        (s["source"].as_str(), s["reward_model"].as_i64()),
        (rm["version"]["name"].as_str(), rm["version"]["id"].as_i64())
    );
    // `preferred` is a number; the ids in `pair` are text.
    let preferred = s["preferred"].as_i64().expect("a response id").to_string();
    assert!(pair.split(',').any(|id| id == preferred), "{s}");
    let j = json(
        w,
        &[
            "suggest",
            "--project",
            "support",
            "--responses",
            &pair,
            "--judge-model",
            m,
        ],
    );
    assert_eq!(j["source"], "judge tiny");
    let total: f64 = j["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .sum();
    assert!(
        (total - 1.0).abs() < 1e-6,
        "the judge's letter probabilities sum to 1: {j}"
    );
    assert!(ok(
        w,
        &["suggest", "--project", "support", "--responses", &pair]
    )
    .contains(&format!(
        "suggested by {}",
        rm["version"]["name"].as_str().unwrap()
    )));

    let dpo = json(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--method",
            "dpo",
            "--epochs",
            "1",
            "--lora-r",
            "4",
        ],
    );
    let dpo_id = dpo["version"]["id"].as_i64().unwrap().to_string();
    let stderr = fails(
        w,
        &["reward", "--version", &dpo_id, "--responses", &list],
        2,
    );
    assert!(stderr.contains("not a reward model"), "{stderr}");
    let plan = json(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--method",
            "rlhf",
            "--plan-only",
        ],
    );
    assert_eq!(
        (
            plan["stages"][0]["method"].as_str(),
            plan["stages"][1]["method"].as_str()
        ),
        (Some("rm"), Some("ppo"))
    );
    // PPO's updates follow the preference stages' gradient checkpointing.
    assert_eq!(plan["stages"][1]["gradient_checkpointing"], false);
    let checkpointed = json(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--method",
            "rlhf",
            "--gradient-checkpointing",
            "on",
            "--plan-only",
        ],
    );
    // (What checkpointing adds to PPO's estimate is tested on `ppo_seconds` itself: each of
    // these two plans measures its own decoding step, whose noise can exceed it.)
    assert_eq!(checkpointed["stages"][1]["gradient_checkpointing"], true);
    assert!(checkpointed["stages"][1]["estimated_seconds"].as_f64() > Some(0.0));
    let rlhf = json(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--method",
            "rlhf",
            "--epochs",
            "1",
            "--lora-r",
            "4",
            "--ppo-iterations",
            "2",
            "--gradient-checkpointing",
            "on",
            "--name",
            "r1",
        ],
    );
    assert_eq!(rlhf["reward_model"]["version"]["name"], "r1-rm");
    assert_eq!(rlhf["ppo"]["version"]["method"], "ppo");
    assert_eq!(
        rlhf["ppo"]["version"]["hyperparams"]["reward_model"],
        rlhf["reward_model"]["version"]["id"],
        "PPO ran against the new reward model"
    );
    // The reward model's plan against its peak. (PPO's, after it in the same process, is
    // checked on SmolLM2 by bench/plan.sh; on this tiny model its ~80 MiB process measured
    // 88–108 MiB from run to run, a spread larger than the step it plans.)
    plan_memory_is_within_a_quarter_of_the_measured_peak(&rlhf["reward_model"]);
    let stderr = fails(w, &["candidates", "--project", "support"], 2);
    assert!(
        stderr.contains("--model") || stderr.contains("--version"),
        "{stderr}"
    );
}

/// `--gradient-checkpointing on` recomputes each layer in the backward: the plan says so and
/// needs less memory, and the run ends at the loss of the plain run (dropout on: the
/// recomputation draws the first pass's masks).
#[test]
fn gradient_checkpointing_trains_to_the_same_loss_in_a_smaller_plan() {
    let ws = workspace_with_project();
    let w = ws.path();
    let model = example_pairs_and_tiny_model(w);
    let m = model.to_str().unwrap();
    let run = |setting: &str| {
        json(
            w,
            &[
                "train",
                "--project",
                "support",
                "--model",
                m,
                "--method",
                "dpo",
                "--epochs",
                "1",
                "--lora-r",
                "4",
                "--no-eval",
                "--gradient-checkpointing",
                setting,
            ],
        )
    };
    let (plain, ckpt) = (run("off"), run("on"));
    assert_eq!(plain["plan"]["stages"][0]["gradient_checkpointing"], false);
    assert_eq!(ckpt["plan"]["stages"][0]["gradient_checkpointing"], true);
    // The step's own memory: the whole plan's also counts each process's measured baseline,
    // which moves by more than the tiny model's two layers save (0.65 against ~0.6 MiB).
    let step = |o: &serde_json::Value| o["plan"]["stages"][0]["step_memory_mib"].as_f64().unwrap();
    assert!(
        step(&ckpt) > 0.0 && step(&ckpt) < step(&plain),
        "checkpointing plans a {} MiB step, plain {} MiB",
        step(&ckpt),
        step(&plain)
    );
    plan_memory_is_within_a_quarter_of_the_measured_peak(&ckpt);
    let loss = |o: &serde_json::Value| o["version"]["metrics"]["dpo/loss"].as_f64().unwrap();
    assert!(
        (loss(&plain) - loss(&ckpt)).abs() < 1e-5,
        "loss {} plain, {} checkpointed",
        loss(&plain),
        loss(&ckpt)
    );
    let stderr = fails(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--gradient-checkpointing",
            "sometimes",
        ],
        2,
    );
    assert!(stderr.contains("expected auto, on or off"), "{stderr}");
}

#[test]
fn token_level_flags_reach_the_plan_and_bad_weights_are_refused_by_name() {
    let ws = workspace_with_project();
    let w = ws.path();
    let model = example_pairs_and_tiny_model(w);
    let m = model.to_str().unwrap();
    let plan = |extra: &[&str]| {
        let mut args = vec!["train", "--project", "support", "--model", m, "--plan-only"];
        args.extend_from_slice(extra);
        json(w, &args)
    };
    let notes = |plan: &serde_json::Value| -> Vec<String> {
        plan["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    };
    // Off by default; on, the plan says that this snapshot (pairs only) holds nothing for it.
    assert!(!notes(&plan(&[])).iter().any(|n| n.contains("token-level")));
    let on = plan(&["--token-level", "edits,spans", "--edit-weights", "1,0.1,1"]);
    assert!(
        notes(&on)
            .iter()
            .any(|n| n.contains("no edit or marked span")),
        "{on}"
    );
    let run = |weights: &str| {
        let args = [
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--plan-only",
            "--token-level",
            "all",
            "--edit-weights",
            weights,
        ];
        fails(w, &args, 2)
    };
    assert!(run("1,0").contains("--edit-weights takes 3"));
    let err = run("1,-1,1");
    assert!(
        err.contains("recipe.token_level.edit_weights.kept"),
        "{err}"
    );
}

/// Token-level feedback is a project setting: `hone project token-level` shows and sets it,
/// `hone train` starts from it, and `--token-level none` turns it off for one run.
#[test]
fn a_projects_token_level_settings_are_kept_and_its_fine_tunes_start_from_them() {
    let ws = workspace_with_project();
    let w = ws.path();
    let model = example_pairs_and_tiny_model(w);
    let m = model.to_str().unwrap();
    let shown = ok(w, &["project", "token-level", "support"]);
    assert!(shown.contains("token-level off"), "{shown}");
    let set = json(
        w,
        &[
            "project",
            "token-level",
            "support",
            "--token-level",
            "edits,spans",
            "--span-weights",
            "2,0.1",
        ],
    );
    assert_eq!(
        (set["edits"].as_bool(), set["spans"].as_bool()),
        (Some(true), Some(true))
    );
    assert_eq!(set["span_weights"]["inside"], 2.0);
    let kept = json(w, &["project", "token-level", "support"]);
    assert_eq!(kept, set, "kept with the project");
    let notes = |extra: &[&str]| -> Vec<String> {
        let mut args = vec!["train", "--project", "support", "--model", m, "--plan-only"];
        args.extend_from_slice(extra);
        json(w, &args)["notes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n.as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        notes(&[]).iter().any(|n| n.contains("token-level")),
        "the project's settings reach the plan"
    );
    assert!(
        !notes(&["--token-level", "none"])
            .iter()
            .any(|n| n.contains("token-level")),
        "one run can turn them off"
    );
    let refused = fails(
        w,
        &[
            "project",
            "token-level",
            "support",
            "--edit-weights",
            "1,1,200",
        ],
        2,
    );
    assert!(
        refused.contains("settings.edit_weights.removed"),
        "{refused}"
    );
    let after = json(w, &["project", "token-level", "support"]);
    assert_eq!(after, set, "a refused change stores nothing");
    assert_eq!(
        set["span_weights"]["good"], 1.0,
        "two span weights keep the good one"
    );
    let good = json(
        w,
        &[
            "project",
            "token-level",
            "support",
            "--span-weights",
            "2,0.1,0.5",
        ],
    );
    assert_eq!(good["span_weights"]["good"], 0.5);
    let refused = fails(
        w,
        &[
            "project",
            "token-level",
            "support",
            "--span-weights",
            "1,2,3,4",
        ],
        2,
    );
    assert!(refused.contains("--span-weights"), "{refused}");
}

#[test]
fn lora_dropout_is_a_flag_written_into_the_adapter_and_refused_out_of_range() {
    let ws = workspace_with_project();
    let w = ws.path();
    let model = example_pairs_and_tiny_model(w);
    let m = model.to_str().unwrap();
    let train = |dropout: &str| {
        vec![
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--method",
            "dpo",
            "--epochs",
            "1",
            "--no-eval",
            "--lora-dropout",
            dropout,
        ]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>()
    };
    let args = train("0");
    let outcome = json(w, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let dir = outcome["version"]["adapter_dir"].as_str().unwrap();
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.join(dir).join("adapter_config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["lora_dropout"], 0.0, "{config}");
    let args = train("1");
    let stderr = fails(w, &args.iter().map(String::as_str).collect::<Vec<_>>(), 2);
    assert!(stderr.contains("lora_dropout"), "{stderr}");
}
