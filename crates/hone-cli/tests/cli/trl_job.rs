//! Training elsewhere and back (issue 18): `hone train … --trl-job` and `hone export --format
//! trl-job` write a job folder; TRL itself runs it (`HONE_TRL_PYTHON`: a python with TRL, PEFT,
//! accelerate and PyTorch, from `scripts/setup-trl.sh`), one CPU process under accelerate;
//! `hone versions import` takes the adapter back, and PEFT's log-probs with that adapter are
//! Hone's with the imported version.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::train::example_pairs_and_tiny_model;
use crate::{fails, json, workspace_with_project};

fn trl_python() -> PathBuf {
    let path = std::env::var_os("HONE_TRL_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        panic!("HONE_TRL_PYTHON is not set: run `export HONE_TRL_PYTHON=$(bash scripts/setup-trl.sh)` (or scripts/test.sh)")
    });
    assert!(
        path.is_file(),
        "HONE_TRL_PYTHON={} is not a file",
        path.display()
    );
    path
}

/// Runs a command of the TRL environment (its bin folder first on PATH, offline, one thread).
fn run_trl_env(program: &str, args: &[&str], dir: &Path) {
    let python = trl_python();
    let bin = python.parent().expect("a bin folder");
    let path = std::env::join_paths(std::iter::once(bin.to_owned()).chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("PATH", path)
        .env("HF_HUB_OFFLINE", "1")
        .env("HF_DATASETS_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .env("CUDA_VISIBLE_DEVICES", "")
        .env("OMP_NUM_THREADS", "1")
        .env("ACCELERATE_CONFIG", "cpu")
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// v1: one epoch of DPO in Hone on the example pairs; returns its id.
fn train_v1(w: &Path, model: &str) -> i64 {
    let args = [
        "train",
        "--project",
        "support",
        "--model",
        model,
        "--method",
        "dpo",
        "--epochs",
        "1",
        "--no-eval",
    ];
    json(w, &args)["version"]["id"].as_i64().unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|x| x.as_f64().expect("a number"))
        .collect()
}

/// Hone's per-token log-probs with `adapter`, and PEFT's for the same tokens.
fn hone_and_peft_logprobs(w: &Path, model: &str, adapter: &Path) -> (Vec<f64>, Vec<f64>) {
    let scored = json(
        w,
        &[
            "score",
            "--model",
            model,
            "--adapter",
            adapter.to_str().unwrap(),
            "--chat",
            "--prompt",
            "How do I reset my password?",
            "--completion",
            "Open Settings, then Account.",
            "--device",
            "cpu",
        ],
    );
    let script = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../../tests/trl_job/peft_logprobs.py");
    let mut child = Command::new(trl_python())
        .arg(script)
        .arg(model)
        .arg(adapter)
        .env("OMP_NUM_THREADS", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run peft_logprobs.py");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(scored.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "peft_logprobs.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let peft: Value = serde_json::from_slice(&out.stdout).unwrap();
    (floats(&scored["logprobs"]), floats(&peft["logprobs"]))
}

#[test]
fn a_job_trained_by_trl_comes_back_as_a_version_with_its_lineage_and_peft_s_numbers() {
    let ws = workspace_with_project();
    let w = ws.path();
    let model = example_pairs_and_tiny_model(w);
    let m = model.to_str().unwrap();
    let v1 = train_v1(w, m);

    // A job that continues v1: TRL starts from v1's adapter (train.py --init_adapter).
    let job = w.join("job");
    let report = json(
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
            "2",
            "--lr",
            "0.001",
            "--parent",
            &v1.to_string(),
            "--trl-job",
            job.to_str().unwrap(),
        ],
    );
    let manifest = &report["manifest"];
    assert_eq!(manifest["parent"]["id"].as_i64(), Some(v1));
    assert_eq!(manifest["stages"][0]["init_adapter"], "parent-adapter");
    assert_eq!(manifest["stages"][0]["rows"], 7);
    assert!(job
        .join("parent-adapter/adapter_model.safetensors")
        .is_file());
    let config = std::fs::read_to_string(job.join("stage-1-dpo.yaml")).unwrap();
    for line in [
        "learning_rate: 0.001\n",
        "num_train_epochs: 2\n",
        "lora_r: 16\n",
        "beta: 0.1\n",
        "precompute_ref_log_probs: true\n",
    ] {
        assert!(
            config.contains(line),
            "{line:?} is not in the config:\n{config}"
        );
    }
    run_trl_env("bash", &["launch.sh"], &job);

    let imported = json(
        w,
        &[
            "versions",
            "import",
            "--from",
            job.to_str().unwrap(),
            "--parent",
            &v1.to_string(),
        ],
    )["version"]
        .clone();
    assert_eq!(imported["parent_id"].as_i64(), Some(v1));
    assert_eq!(imported["method"], "dpo");
    assert_eq!(imported["snapshot_id"], manifest["snapshot"]["id"]);
    // The version's loss is the last one TRL logged for the stage (its trainer_state.json).
    let output = manifest["stages"][0]["output"]
        .as_str()
        .expect("the stage's output");
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(job.join(output).join("trainer_state.json")).unwrap(),
    )
    .unwrap();
    let logged = state["log_history"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find_map(|entry| entry["loss"].as_f64())
        .expect("TRL logged a loss");
    assert_eq!(imported["metrics"]["dpo/loss"].as_f64(), Some(logged));
    assert!(logged > 0.0 && logged < 2.0, "a DPO loss: {logged}");
    assert!(imported["hyperparams"]["trained_elsewhere"]["trainer"]
        .as_str()
        .unwrap()
        .starts_with("trl"));
    let provenance = json(w, &["provenance", "--version", &imported["id"].to_string()]);
    assert!(
        provenance.to_string().contains("\"v1\""),
        "the lineage names v1: {provenance}"
    );

    // The stored adapter is TRL's: Hone's log-probs with it are PEFT's.
    let stored = w.join(imported["adapter_dir"].as_str().unwrap());
    let (hone, peft) = hone_and_peft_logprobs(w, m, &stored);
    assert_eq!(hone.len(), peft.len());
    let worst = hone
        .iter()
        .zip(&peft)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        worst < 1e-4,
        "|Δ log p| {worst}: Hone {hone:?}, PEFT {peft:?}"
    );
    // And training moved it away from v1's adapter.
    let v1_dir = w.join("versions/1-v1");
    let (before, _) = hone_and_peft_logprobs(w, m, &v1_dir);
    let moved = before
        .iter()
        .zip(&hone)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    eprintln!(
        "imported version against PEFT: max |Δ log p| {worst:.2e}; moved from v1 by {moved:.3}"
    );
    assert!(moved > 1e-3, "TRL's training changed nothing: {moved}");

    // A version's training again, from the base: TRL's own command reads the config.
    let again = w.join("again");
    let report = json(
        w,
        &[
            "export",
            "--version",
            &v1.to_string(),
            "--format",
            "trl-job",
            "--out",
            again.to_str().unwrap(),
        ],
    );
    assert_eq!(report["manifest"]["retrains"]["id"].as_i64(), Some(v1));
    assert!(report["manifest"]["parent"].is_null());
    run_trl_env(
        "trl",
        &[
            "dpo",
            "--config",
            "stage-1-dpo.yaml",
            "--use_cpu",
            "true",
            "--bf16",
            "false",
        ],
        &again,
    );
    let retrained = json(
        w,
        &[
            "versions",
            "import",
            "--from",
            again.to_str().unwrap(),
            "--name",
            "v1-cluster",
        ],
    )["version"]
        .clone();
    assert!(retrained["parent_id"].is_null());
    assert_eq!(retrained["name"], "v1-cluster");
}

/// The checks that need no TRL: a job folder whose adapter is a copy of a Hone version's.
#[test]
fn an_import_refuses_a_changed_dataset_another_parent_a_foreign_base_and_a_folder_without_a_job() {
    let ws = workspace_with_project();
    let w = ws.path();
    let model = example_pairs_and_tiny_model(w);
    let m = model.to_str().unwrap();
    train_v1(w, m);
    let job = w.join("job");
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
            "--trl-job",
            job.to_str().unwrap(),
        ],
    );
    // A second export into the same folder is refused: a job is never mixed with another.
    let again = fails(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            m,
            "--method",
            "dpo",
            "--trl-job",
            job.to_str().unwrap(),
        ],
        2,
    );
    assert!(again.contains("is not empty"), "{again}");

    let not_run = fails(
        w,
        &["versions", "import", "--from", job.to_str().unwrap()],
        2,
    );
    assert!(
        not_run.contains("adapter_config.json is missing"),
        "{not_run}"
    );
    // Stand in for the cluster: the output is v1's adapter, which fits the base.
    let output = job.join("output/stage-1-dpo");
    std::fs::create_dir_all(&output).unwrap();
    for f in ["adapter_config.json", "adapter_model.safetensors"] {
        std::fs::copy(w.join("versions/1-v1").join(f), output.join(f)).unwrap();
    }

    let wrong_parent = fails(
        w,
        &[
            "versions",
            "import",
            "--from",
            job.to_str().unwrap(),
            "--parent",
            "1",
        ],
        2,
    );
    assert!(wrong_parent.contains("is not its parent"), "{wrong_parent}");

    let foreign = w.join("foreign");
    copy_dir(&job, &foreign);
    let config_path = foreign.join("output/stage-1-dpo/adapter_config.json");
    let mut config: Value = serde_json::from_slice(&std::fs::read(&config_path).unwrap()).unwrap();
    config["base_model_name_or_path"] = "meta-llama/Llama-3.2-1B".into();
    std::fs::write(&config_path, config.to_string()).unwrap();
    let base = fails(
        w,
        &["versions", "import", "--from", foreign.to_str().unwrap()],
        2,
    );
    assert!(base.contains("meta-llama/Llama-3.2-1B"), "{base}");

    let changed = w.join("changed");
    copy_dir(&job, &changed);
    let data = changed.join("data/preference/train.jsonl");
    let text = std::fs::read_to_string(&data).unwrap();
    std::fs::write(&data, text.replace("Reset password", "Reset the password")).unwrap();
    let tampered = fails(
        w,
        &["versions", "import", "--from", changed.to_str().unwrap()],
        2,
    );
    assert!(
        tampered.contains("train.jsonl was changed after the export"),
        "{tampered}"
    );

    let no_job = fails(w, &["versions", "import", "--from", w.to_str().unwrap()], 2);
    assert!(no_job.contains("has no hone-job.json"), "{no_job}");

    // Nothing was recorded by the refusals; the job itself imports.
    let listed = json(w, &["versions", "--project", "support"]);
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let v2 = json(w, &["versions", "import", "--from", job.to_str().unwrap()])["version"].clone();
    assert_eq!(v2["name"], "v2");
    assert!(v2["parent_id"].is_null());
    let files = v2["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert!(w.join("versions/1-v2/adapter_model.safetensors").is_file());
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
