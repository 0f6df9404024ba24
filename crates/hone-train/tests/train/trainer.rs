use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::tiny_llama;
use candle_core::Tensor;
use hone_model::lora::{Adapter, LoraConfig, LoraContext};
use hone_model::score::SequencePair;
use hone_model::LoadedModel;
use hone_train::metrics::Metrics;
use hone_train::sft::Sft;
use hone_train::trainer::{latest_checkpoint, train, Objective, Progress, TrainConfig};
use hone_train::TrainError;

fn examples() -> Vec<SequencePair> {
    vec![
        SequencePair {
            prompt: vec![0, 10, 11, 12],
            completion: vec![100, 101, 102, 103, 2],
        },
        SequencePair {
            prompt: vec![0, 20, 21],
            completion: vec![200, 201, 202, 2],
        },
        SequencePair {
            prompt: vec![0, 30, 31, 32, 33],
            completion: vec![300, 301, 2],
        },
        SequencePair {
            prompt: vec![0, 40],
            completion: vec![140, 141, 142, 143, 144, 2],
        },
    ]
}

fn adapter(lm: &LoadedModel) -> Adapter {
    let config = LoraConfig::new(8, 16.0, 0.05, &["all-linear"], false).unwrap();
    Adapter::new(
        "sft",
        config,
        &lm.model.linear_specs(),
        7,
        lm.model.device(),
    )
    .unwrap()
}

fn config() -> TrainConfig {
    TrainConfig {
        learning_rate: 1e-2,
        epochs: 12,
        batch_size: 2,
        gradient_accumulation_steps: 1,
        save_steps: 4,
        warmup_steps: 2,
        ..TrainConfig::default()
    }
}

fn tensors(adapter: &Adapter) -> Vec<Vec<f32>> {
    adapter
        .named_vars()
        .into_iter()
        .map(|(_, v)| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

thread_local! {
    /// Steps ended on this thread, counted by the step-end hook (tests run on their own threads).
    static STEPS_ENDED: Cell<u64> = const { Cell::new(0) };
}

fn count_step_end() {
    STEPS_ENDED.with(|n| n.set(n.get() + 1));
}

#[test]
fn sft_halves_the_completion_loss_on_a_small_set() {
    hone_train::step_end::set_hook(count_step_end);
    let lm = tiny_llama();
    let adapter = adapter(&lm);
    let data = examples();
    let before = Sft::evaluate(&lm.model, &data, &LoraContext::inference(Some(&adapter))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut events: Vec<Progress> = Vec::new();
    let mut ended_before_event = Vec::new();
    let outcome = train(
        &adapter,
        &mut Sft {
            model: &lm.model,
            examples: &data,
        },
        data.len(),
        &config(),
        dir.path(),
        "tiny-llama",
        &AtomicBool::new(false),
        |p| {
            events.push(p.clone());
            ended_before_event.push(STEPS_ENDED.with(Cell::get));
        },
    )
    .unwrap();
    assert_eq!(
        ended_before_event,
        (1..=24).collect::<Vec<u64>>(),
        "the step-end hook (where the binaries release freed memory) runs once a step, before its progress"
    );
    let after = Sft::evaluate(&lm.model, &data, &LoraContext::inference(Some(&adapter))).unwrap();
    assert!(
        after < before / 2.0,
        "SFT must at least halve the completion loss: {before} → {after}"
    );
    assert_eq!(outcome.steps, 24, "12 epochs × 2 batches");
    assert_eq!(events.len(), 24, "one progress event per step");
    assert_eq!(
        events[0].learning_rate, 0.0,
        "warmup starts at 0, as transformers' schedule"
    );
    assert!(events
        .iter()
        .all(|e| e.tokens_per_second > 0.0 && e.eta_seconds >= 0.0));
    assert_eq!(events.last().unwrap().eta_seconds, 0.0);
    assert_eq!(
        latest_checkpoint(dir.path()).unwrap().0,
        24,
        "the last checkpoint is the end"
    );
    assert!(outcome
        .final_checkpoint
        .join("adapter_model.safetensors")
        .is_file());
}

#[test]
fn a_run_stopped_midway_resumes_to_the_same_adapter_as_an_uninterrupted_run() {
    let lm = tiny_llama();
    let data = examples();
    let cfg = TrainConfig {
        epochs: 4,
        ..config()
    };

    let whole = adapter(&lm);
    let dir_a = tempfile::tempdir().unwrap();
    train(
        &whole,
        &mut Sft {
            model: &lm.model,
            examples: &data,
        },
        data.len(),
        &cfg,
        dir_a.path(),
        "m",
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap();

    // Stop after step 6 (checkpoint at 4), then resume in a fresh adapter from the folder.
    let dir_b = tempfile::tempdir().unwrap();
    let first = adapter(&lm);
    let cancel = AtomicBool::new(false);
    let err = train(
        &first,
        &mut Sft {
            model: &lm.model,
            examples: &data,
        },
        data.len(),
        &cfg,
        dir_b.path(),
        "m",
        &cancel,
        |p| {
            if p.step == 6 {
                cancel.store(true, Ordering::Relaxed)
            }
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, TrainError::Cancelled),
        "cancellation stops within one step: {err}"
    );
    assert_eq!(latest_checkpoint(dir_b.path()).unwrap().0, 4);
    let resumed = adapter(&lm);
    let outcome = train(
        &resumed,
        &mut Sft {
            model: &lm.model,
            examples: &data,
        },
        data.len(),
        &cfg,
        dir_b.path(),
        "m",
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap();
    assert_eq!(outcome.resumed_from, Some(4));
    let (a, b) = (tensors(&whole), tensors(&resumed));
    let diff = a
        .iter()
        .zip(&b)
        .flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs()))
        .fold(0f32, f32::max);
    assert!(
        diff <= 1e-5,
        "resumed adapter differs from the uninterrupted one by {diff}"
    );
}

struct Exploding<'a> {
    inner: Sft<'a>,
    calls: usize,
}

impl Objective for Exploding<'_> {
    fn loss(
        &mut self,
        batch: &[usize],
        lora: &LoraContext,
    ) -> hone_train::Result<(Tensor, Metrics, usize)> {
        self.calls += 1;
        let (loss, m, n) = self.inner.loss(batch, lora)?;
        Ok(if self.calls > 5 {
            ((loss * f64::NAN)?, m, n)
        } else {
            (loss, m, n)
        })
    }
}

#[test]
fn a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint() {
    let lm = tiny_llama();
    let data = examples();
    let adapter = adapter(&lm);
    let dir = tempfile::tempdir().unwrap();
    let mut objective = Exploding {
        inner: Sft {
            model: &lm.model,
            examples: &data,
        },
        calls: 0,
    };
    let err = train(
        &adapter,
        &mut objective,
        data.len(),
        &config(),
        dir.path(),
        "m",
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap_err();
    assert!(
        matches!(err, TrainError::NonFinite { step: 5, .. }),
        "the error says which step: {err}"
    );
    assert!(err.to_string().contains("last good checkpoint"), "{err}");
    assert_eq!(
        latest_checkpoint(dir.path()).unwrap().0,
        4,
        "the checkpoint before the NaN is kept"
    );
}

#[test]
fn bad_settings_and_a_foreign_checkpoint_are_refused() {
    let lm = tiny_llama();
    let data = examples();
    let adapter = adapter(&lm);
    let dir = tempfile::tempdir().unwrap();
    let err = train(
        &adapter,
        &mut Sft {
            model: &lm.model,
            examples: &data,
        },
        data.len(),
        &TrainConfig {
            batch_size: 0,
            ..config()
        },
        dir.path(),
        "m",
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("batch_size"), "{err}");
    let short = TrainConfig {
        epochs: 2,
        ..config()
    };
    train(
        &adapter,
        &mut Sft {
            model: &lm.model,
            examples: &data,
        },
        data.len(),
        &short,
        dir.path(),
        "m",
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap();
    let err = train(
        &adapter,
        &mut Sft {
            model: &lm.model,
            examples: &data[..3],
        },
        3,
        &short,
        dir.path(),
        "m",
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("other data or settings"), "{err}");
}

/// Full-parameter mode: every weight is a variable, the plain causal-LM loss (a one-token
/// "prompt") falls, every tensor moves, and a run resumed from a checkpoint ends where the
/// uninterrupted one does.
#[test]
fn full_parameter_training_moves_every_weight_and_resumes_exactly() {
    let lm = tiny_llama();
    let data: Vec<SequencePair> = examples()
        .into_iter()
        .map(|p| SequencePair {
            prompt: p.prompt[..1].to_vec(),
            completion: [&p.prompt[1..], &p.completion[..]].concat(),
        })
        .collect();
    let cfg = TrainConfig {
        learning_rate: 3e-3,
        epochs: 6,
        batch_size: 2,
        save_steps: 5,
        ..TrainConfig::default()
    };
    let run = |dir: &Path, cancel_after: Option<u64>| {
        let (model, vars) = lm.model.with_trainable_weights().unwrap();
        let cancel = AtomicBool::new(false);
        let result = train(
            hone_train::trainer::Trainable::Full(&vars),
            &mut Sft {
                model: &model,
                examples: &data,
            },
            data.len(),
            &cfg,
            dir,
            "m",
            &cancel,
            |p| {
                if Some(p.step) == cancel_after {
                    cancel.store(true, Ordering::Relaxed);
                }
            },
        );
        (model, vars, result)
    };
    let dir = tempfile::tempdir().unwrap();
    let (model, vars, outcome) = run(dir.path(), None);
    let outcome = outcome.unwrap();
    assert_eq!(
        vars.len(),
        lm.model.named_weights().unwrap().len(),
        "one variable per weight"
    );
    let before = Sft::evaluate(&lm.model, &data, &LoraContext::default()).unwrap();
    let after = Sft::evaluate(&model, &data, &LoraContext::default()).unwrap();
    assert!(
        after < before * 0.7,
        "the causal-LM loss must fall: {before} → {after}"
    );
    for ((name, var), (_, original)) in vars.iter().zip(lm.model.named_weights().unwrap()) {
        let moved = (var.as_tensor() - &original)
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(moved > 0.0, "{name} must be trained");
    }
    assert!(outcome
        .final_checkpoint
        .join(hone_train::trainer::FULL_WEIGHTS_FILE)
        .is_file());

    let resumed_dir = tempfile::tempdir().unwrap();
    let (_, _, first) = run(resumed_dir.path(), Some(7));
    assert!(matches!(first, Err(TrainError::Cancelled)));
    let (_, resumed, second) = run(resumed_dir.path(), None);
    assert_eq!(second.unwrap().resumed_from, Some(5));
    for ((name, a), (_, b)) in vars.iter().zip(&resumed) {
        let diff = (a.as_tensor() - b.as_tensor())
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(diff <= 1e-6, "{name}: resumed run differs by {diff}");
    }
}

/// Records the batches the trainer draws, and otherwise is the objective it wraps.
struct Recording<'a> {
    inner: Sft<'a>,
    batches: Vec<Vec<usize>>,
}

impl Objective for Recording<'_> {
    fn loss(
        &mut self,
        batch: &[usize],
        lora: &LoraContext,
    ) -> hone_train::Result<(Tensor, Metrics, usize)> {
        self.batches.push(batch.to_vec());
        self.inner.loss(batch, lora)
    }
}

/// The plan's count of padded token positions is the run's: the same seeded batches, each
/// padded to its longest example.
#[test]
fn padded_tokens_count_the_batches_the_run_draws() {
    let lm = tiny_llama();
    let adapter = adapter(&lm);
    let data = examples();
    let lengths: Vec<usize> = data
        .iter()
        .map(|p| p.prompt.len() + p.completion.len())
        .collect();
    let config = TrainConfig {
        epochs: 3,
        batch_size: 3,
        ..config()
    };
    let mut objective = Recording {
        inner: Sft {
            model: &lm.model,
            examples: &data,
        },
        batches: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    train(
        &adapter,
        &mut objective,
        data.len(),
        &config,
        dir.path(),
        "m",
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap();
    assert_eq!(objective.batches.len(), 6, "2 batches (3 + 1) × 3 epochs");
    let drawn: usize = objective
        .batches
        .iter()
        .map(|b| b.len() * b.iter().map(|&i| lengths[i]).max().unwrap())
        .sum();
    assert_eq!(config.padded_tokens(&lengths, 1), drawn);
    assert_eq!(config.padded_tokens(&lengths, 2), 2 * drawn);
    let unpadded = 3 * lengths.iter().sum::<usize>();
    assert!(
        drawn > unpadded,
        "uneven lengths pad: {drawn} vs {unpadded}"
    );
}
