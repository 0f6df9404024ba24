//! A training run killed with SIGKILL resumes from its last checkpoint and ends with the same
//! adapter as an uninterrupted run (within 1e-5).
//!
//! The binary plays three roles: the parent (no environment variable), a child that trains
//! into a checkpoint folder until it is killed or done, and the same child started again,
//! which resumes. The parent kills the first child after a checkpoint at a random step (three
//! rounds), lets the second finish, and compares with a run it does itself.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use hone_model::lora::{Adapter, LoraConfig};
use hone_model::score::SequencePair;
use hone_model::{DeviceInfo, LoadedModel};
use hone_train::sft::Sft;
use hone_train::trainer::{latest_checkpoint, train, TrainConfig};

/// Read when the test runs, not when it is compiled: cargo reuses a test binary built from
/// another checkout of the same workspace (a shared target folder), and a compile-time path
/// would then point into that other checkout.
pub const RUNTIME_MANIFEST_DIR: &str = "cargo test sets CARGO_MANIFEST_DIR";

const CHILD_ENV: &str = "HONE_KILL_RESUME_CHILD_DIR";

fn model() -> LoadedModel {
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect(RUNTIME_MANIFEST_DIR))
        .join("../../tests/fixtures/models/tiny-llama");
    LoadedModel::load(&dir, DeviceInfo::cpu("tests")).unwrap()
}

fn examples() -> Vec<SequencePair> {
    (0..12u32)
        .map(|i| SequencePair {
            prompt: vec![0, 10 + i, 20 + i],
            completion: vec![100 + i, 150 + i, 200 + i, 2],
        })
        .collect()
}

fn config() -> TrainConfig {
    TrainConfig {
        learning_rate: 5e-3,
        epochs: 20,
        batch_size: 2,
        save_steps: 1,
        warmup_steps: 3,
        ..TrainConfig::default()
    }
}

/// Trains to the end in `dir` (resuming if it holds checkpoints) and returns the adapter.
fn run(dir: &Path) -> Adapter {
    let lm = model();
    let lora = LoraConfig::new(4, 8.0, 0.1, &["all-linear"], false).unwrap();
    let adapter =
        Adapter::new("sft", lora, &lm.model.linear_specs(), 1, lm.model.device()).unwrap();
    let data = examples();
    train(
        &adapter,
        &mut Sft {
            model: &lm.model,
            examples: &data,
        },
        data.len(),
        &config(),
        dir,
        "tiny-llama",
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap();
    adapter
}

fn child(dir: PathBuf) {
    run(&dir);
}

fn values(adapter: &Adapter) -> Vec<f32> {
    adapter
        .named_vars()
        .into_iter()
        .flat_map(|(_, v)| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

fn main() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return child(PathBuf::from(dir));
    }
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = values(&run(reference_dir.path()));
    let total = config().total_steps(examples().len());

    // Random kill steps; `HONE_KILL_SEED` repeats a run's.
    let seed: u32 = std::env::var("HONE_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        });
    for round in 0..3u32 {
        let dir = tempfile::tempdir().unwrap();
        let spawn = || {
            Command::new(std::env::current_exe().unwrap())
                .env(CHILD_ENV, dir.path())
                .spawn()
                .unwrap()
        };
        let mut first = spawn();
        // Wait for a checkpoint at a random step (far enough from the end that the kill lands
        // before it), then kill at a jittered moment.
        let target = 1 + u64::from(seed.rotate_left(round * 11)) % (total - 30);
        let started = Instant::now();
        while latest_checkpoint(dir.path()).is_none_or(|(step, _)| step < target)
            && started.elapsed() < Duration::from_secs(120)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(u64::from(
            seed.rotate_left(round * 7) % 5,
        )));
        first.kill().unwrap();
        first.wait().unwrap();
        let (killed_at, _) =
            latest_checkpoint(dir.path()).expect("a checkpoint was written before the kill");
        assert!(
            killed_at < total,
            "round {round}: the child finished before it could be killed; nothing was tested"
        );
        let status = spawn().wait().unwrap();
        assert!(status.success(), "round {round}: the resumed child failed");
        let (last, checkpoint) = latest_checkpoint(dir.path()).unwrap();
        assert_eq!(
            last, total,
            "round {round}: the resumed run reached the end"
        );
        let lm = model();
        let resumed = Adapter::load_peft(
            "resumed",
            &checkpoint,
            &lm.model.linear_specs(),
            lm.model.device(),
        )
        .unwrap();
        let diff = values(&resumed)
            .iter()
            .zip(&reference)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        println!("round {round}: killed after checkpoint {killed_at} of {total}; resumed adapter differs by {diff:e}");
        assert!(
            diff <= 1e-5,
            "round {round}: resumed adapter differs from the uninterrupted one by {diff}"
        );
    }
    println!("kill_resume: ok (seed {seed}: HONE_KILL_SEED={seed} repeats it)");
}
