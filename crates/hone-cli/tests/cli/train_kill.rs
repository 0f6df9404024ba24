//! A fine-tune job killed with SIGKILL at a random step, then `hone resume`d, ends with the
//! adapter an uninterrupted job makes (within 1e-5): the whole job path — snapshot, stage
//! folders, checkpoints, the job's row and its owner lock — not only the trainer (see
//! hone-train's `kill_resume`). The kill steps come from a seed printed by the test;
//! `HONE_KILL_SEED` repeats a run.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{json, ok, workspace_with_project};

const EPOCHS: &str = "12";

/// `hone train` on the example pairs with a checkpoint every step.
fn train_args(model: &str) -> Vec<&str> {
    vec![
        "train",
        "--project",
        "support",
        "--model",
        model,
        "--method",
        "dpo",
        "--epochs",
        EPOCHS,
        "--batch-size",
        "1",
        "--lora-r",
        "4",
        "--seed",
        "5",
        "--save-steps",
        "1",
        "--no-eval",
    ]
}

/// The newest checkpoint step of job `job`'s DPO stage.
fn last_checkpoint(workspace: &Path, job: i64) -> Option<u64> {
    std::fs::read_dir(workspace.join("jobs").join(job.to_string()).join("0-dpo"))
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let name = e.file_name().to_string_lossy().into_owned();
            let step: u64 = name.strip_prefix("checkpoint-")?.parse().ok()?;
            e.path()
                .join("trainer_state.json")
                .is_file()
                .then_some(step)
        })
        .max()
}

/// The version's adapter weights, exported as PEFT, tensor by tensor.
fn adapter(workspace: &Path, version: i64, out: &Path) -> Vec<(String, Vec<f32>)> {
    let id = version.to_string();
    let o = out.to_str().unwrap();
    ok(
        workspace,
        &["export", "--version", &id, "--format", "peft", "--out", o],
    );
    let bytes = std::fs::read(out.join("adapter_model.safetensors")).unwrap();
    let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<f32>)> = file
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let values = view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            (name, values)
        })
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    tensors
}

#[test]
fn a_job_killed_at_random_steps_resumes_to_the_uninterrupted_adapter() {
    let ws = workspace_with_project();
    let w = ws.path();
    let model = super::train::example_pairs_and_tiny_model(w);
    let m = model.to_str().unwrap();
    let reference = json(w, &train_args(m));
    let reference_version = reference["version"]["id"].as_i64().unwrap();
    let total = reference["plan"]["stages"][0]["steps"]
        .as_u64()
        .unwrap_or_else(|| panic!("the plan names its steps: {reference}"));
    let expected = adapter(w, reference_version, &w.join("reference"));

    let seed: u64 = std::env::var("HONE_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
                .into()
        });
    println!("kill seed {seed} (HONE_KILL_SEED={seed} repeats it); {total} steps");
    for round in 0..3u64 {
        // A step anywhere from the first checkpoint to a few before the end.
        let target = 1 + seed.rotate_left(round as u32 * 13) % (total - 4);
        let job = 2 + round as i64;
        let mut child = Command::new(env!("CARGO_BIN_EXE_hone"))
            .arg("--workspace")
            .arg(w)
            .args(train_args(m))
            .env_remove("HONE_WORKSPACE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while last_checkpoint(w, job).is_none_or(|step| step < target)
            && started.elapsed() < Duration::from_secs(120)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let killed_at = last_checkpoint(w, job).expect("a checkpoint before the kill");
        assert!(
            killed_at < total,
            "round {round}: the job finished before it was killed; nothing was tested"
        );
        let jobs = json(w, &["jobs"]);
        let row = jobs
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == job)
            .unwrap_or_else(|| panic!("job {job} is listed: {jobs}"));
        assert_ne!(row["state"], "succeeded", "round {round}: {row}");

        // What the killed process wrote stays: a resume continues after it, not from scratch.
        let first = w
            .join("jobs")
            .join(job.to_string())
            .join("0-dpo/checkpoint-1/trainer_state.json");
        let written = || std::fs::metadata(&first).unwrap().modified().unwrap();
        let before = written();

        // At once: the killed process holds no lock, so the job is not "still running".
        let resumed = json(w, &["resume", &job.to_string()]);
        assert_eq!(
            written(),
            before,
            "round {round}: the resumed job wrote its first checkpoint again"
        );
        assert_eq!(last_checkpoint(w, job), Some(total));
        let version = resumed["version"]["id"].as_i64().unwrap();
        let got = adapter(w, version, &w.join(format!("resumed-{round}")));
        assert_eq!(
            got.iter().map(|t| &t.0).collect::<Vec<_>>(),
            expected.iter().map(|t| &t.0).collect::<Vec<_>>()
        );
        let diff = got
            .iter()
            .zip(&expected)
            .flat_map(|(a, b)| a.1.iter().zip(&b.1).map(|(x, y)| (x - y).abs()))
            .fold(0f32, f32::max);
        println!(
            "round {round}: killed after checkpoint {killed_at} of {total}; resumed adapter differs by {diff:e}"
        );
        assert!(
            diff <= 1e-5,
            "round {round} (seed {seed}): the resumed job's adapter differs by {diff}"
        );
    }
}
