use std::sync::atomic::AtomicBool;

use hone_model::lora::{Adapter, LoraConfig, LoraContext};
use hone_model::score::SequencePair;
use hone_model::LoadedModel;
use hone_train::preference::{
    logp_sums, Dpo, DpoSettings, Kto, KtoSettings, LabeledExample, TokenPair, Watch,
};
use hone_train::trainer::{train, Progress, TrainConfig};

use crate::tiny_llama;

/// A rank-8 LoRA adapter on every projection, without dropout.
pub(crate) fn adapter(lm: &LoadedModel) -> Adapter {
    let config = LoraConfig::new(8, 16.0, 0.0, &["all-linear"], false).unwrap();
    Adapter::new(
        "pref",
        config,
        &lm.model.linear_specs(),
        5,
        lm.model.device(),
    )
    .unwrap()
}

/// Pairs where the chosen answer always contains token 250 and the rejected one token 90.
fn pairs() -> Vec<TokenPair> {
    (0..8u32)
        .map(|i| TokenPair {
            prompt: vec![0, 10 + i, 20 + i],
            chosen: vec![250, 30 + i, 250, 2],
            rejected: vec![90, 30 + i, 90, 2],
            focus: None,
        })
        .collect()
}

#[test]
fn dpo_separates_chosen_from_rejected() {
    let lm = tiny_llama();
    let adapter = adapter(&lm);
    let data = pairs();
    let margin = |a: Option<&Adapter>| {
        let lora = LoraContext::inference(a);
        let c = logp_sums(
            &lm.model,
            &data
                .iter()
                .map(|p| SequencePair {
                    prompt: p.prompt.clone(),
                    completion: p.chosen.clone(),
                })
                .collect::<Vec<_>>(),
            &lora,
            8,
        )
        .unwrap();
        let r = logp_sums(
            &lm.model,
            &data
                .iter()
                .map(|p| SequencePair {
                    prompt: p.prompt.clone(),
                    completion: p.rejected.clone(),
                })
                .collect::<Vec<_>>(),
            &lora,
            8,
        )
        .unwrap();
        c.iter().zip(&r).map(|(c, r)| c - r).sum::<f32>() / c.len() as f32
    };
    let before = margin(None);
    let mut objective = Dpo::new(&lm.model, &data, None, DpoSettings::default()).unwrap();
    let config = TrainConfig {
        learning_rate: 5e-3,
        epochs: 10,
        batch_size: 4,
        save_steps: 100,
        ..TrainConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut last: Option<Progress> = None;
    train(
        &adapter,
        &mut objective,
        data.len(),
        &config,
        dir.path(),
        "m",
        &AtomicBool::new(false),
        |p| last = Some(p.clone()),
    )
    .unwrap();
    let last = last.unwrap();
    let accuracy = last.metrics.get("rewards/accuracies").unwrap();
    assert!(
        accuracy >= 0.95,
        "rewards/accuracies must reach 0.95, got {accuracy}"
    );
    assert!(last.metrics.get("rewards/margins").unwrap() > 0.0);
    let after = margin(Some(&adapter));
    assert!(
        after > before + 1.0,
        "the chosen-minus-rejected log-prob margin must rise: {before} → {after}"
    );
}

#[test]
fn kto_raises_desirable_and_lowers_undesirable_log_probs() {
    let lm = tiny_llama();
    let adapter = adapter(&lm);
    let examples: Vec<LabeledExample> = (0..8u32)
        .map(|i| LabeledExample {
            prompt: vec![0, 40 + i],
            completion: if i % 2 == 0 {
                vec![250, 251, 2]
            } else {
                vec![90, 91, 2]
            },
            label: i % 2 == 0,
        })
        .collect();
    let sums = |a: Option<&Adapter>| {
        let seq: Vec<SequencePair> = examples
            .iter()
            .map(|e| SequencePair {
                prompt: e.prompt.clone(),
                completion: e.completion.clone(),
            })
            .collect();
        logp_sums(&lm.model, &seq, &LoraContext::inference(a), 8).unwrap()
    };
    let before = sums(None);
    let mut objective = Kto::new(&lm.model, &examples, None, KtoSettings::default()).unwrap();
    let config = TrainConfig {
        learning_rate: 5e-3,
        epochs: 10,
        batch_size: 4,
        save_steps: 100,
        ..TrainConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    train(
        &adapter,
        &mut objective,
        examples.len(),
        &config,
        dir.path(),
        "m",
        &AtomicBool::new(false),
        |_| {},
    )
    .unwrap();
    let after = sums(Some(&adapter));
    for (i, e) in examples.iter().enumerate() {
        if e.label {
            assert!(
                after[i] > before[i],
                "desirable example {i}: {} → {}",
                before[i],
                after[i]
            );
        } else {
            assert!(
                after[i] < before[i],
                "undesirable example {i}: {} → {}",
                before[i],
                after[i]
            );
        }
    }
}

/// A job cancelled while its reference log-probs are computed stops there (the pass takes
/// minutes on a large project; it used to run to its end before the trainer saw the flag),
/// and an unset flag changes nothing; the pass says how far it got after each batch.
#[test]
fn a_cancelled_reference_pass_stops_with_cancelled_and_a_running_one_tells_its_progress() {
    let lm = tiny_llama();
    // 20 pairs: batches of 8, 8 and 4 on each side.
    let data: Vec<TokenPair> = pairs().into_iter().cycle().take(20).collect();
    let examples: Vec<LabeledExample> = data
        .iter()
        .map(|p| LabeledExample {
            prompt: p.prompt.clone(),
            completion: p.chosen.clone(),
            label: true,
        })
        .collect();
    let cancelled = AtomicBool::new(true);
    let stopped = Watch {
        cancel: &cancelled,
        scored: &|_: usize, _: usize| panic!("nothing is scored once cancelled"),
    };
    let dpo = Dpo::watched(&lm.model, &data, None, DpoSettings::default(), &stopped);
    assert!(matches!(dpo, Err(hone_train::TrainError::Cancelled)));
    let kto = Kto::watched(&lm.model, &examples, None, KtoSettings::default(), &stopped);
    assert!(matches!(kto, Err(hone_train::TrainError::Cancelled)));

    // Not cancelled: told after each batch of 8 how far the pass got, the chosen answers then
    // the rejected ones, up to every sequence; the log-probs those of `new`.
    let running = AtomicBool::new(false);
    let told = std::sync::Mutex::new(Vec::new());
    let watching = Watch {
        cancel: &running,
        scored: &|scored: usize, total: usize| told.lock().unwrap().push((scored, total)),
    };
    let dpo = Dpo::watched(&lm.model, &data, None, DpoSettings::default(), &watching).unwrap();
    let plain = Dpo::new(&lm.model, &data, None, DpoSettings::default()).unwrap();
    for i in 0..data.len() {
        assert_eq!(dpo.reference_logps(i), plain.reference_logps(i));
    }
    let n = data.len();
    let per_side = |before: usize| {
        (8..n)
            .step_by(8)
            .chain([n])
            .map(move |k| (before + k, 2 * n))
    };
    let expected: Vec<(usize, usize)> = per_side(0).chain(per_side(n)).collect();
    assert_eq!(*told.lock().unwrap(), expected);
    told.lock().unwrap().clear();
    Kto::watched(
        &lm.model,
        &examples,
        None,
        KtoSettings::default(),
        &watching,
    )
    .unwrap();
    assert_eq!(told.lock().unwrap().last(), Some(&(n, n)));
}
