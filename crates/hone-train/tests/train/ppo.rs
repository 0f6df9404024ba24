use std::path::Path;

use hone_model::lora::{Adapter, LoraConfig};
use hone_model::score::SequencePair;
use hone_model::{DeviceInfo, LoadedModel};
use hone_train::ppo::{gae, Ppo, PpoSettings, Reward};

/// A programmatic reward: the share of response tokens that are in a set.
struct InSet {
    set: Vec<u32>,
}

impl Reward for InSet {
    fn score(&mut self, batch: &[SequencePair]) -> hone_train::Result<Vec<f32>> {
        Ok(batch
            .iter()
            .map(|s| {
                s.completion.iter().filter(|t| self.set.contains(t)).count() as f32
                    / s.completion.len() as f32
            })
            .collect())
    }
}

#[test]
fn gae_matches_the_recursion_by_hand() {
    // γ = 1, λ = 0.5; rewards (0, 0, 1), values (0.5, 0.25, 0.75)
    // δ2 = 1 − 0.75 = 0.25; A2 = 0.25
    // δ1 = 0 + 0.75 − 0.25 = 0.5; A1 = 0.5 + 0.5·0.25 = 0.625
    // δ0 = 0 + 0.25 − 0.5 = −0.25; A0 = −0.25 + 0.5·0.625 = 0.0625
    let (a, r) = gae(&[0.0, 0.0, 1.0], &[0.5, 0.25, 0.75], 1.0, 0.5);
    assert_eq!(a, vec![0.0625, 0.625, 0.25]);
    assert_eq!(r, vec![0.5625, 0.875, 1.0], "returns = advantages + values");
}

#[test]
fn ppo_raises_a_programmatic_reward_while_the_kl_stays_bounded() {
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect(crate::RUNTIME_MANIFEST_DIR))
        .join("../../tests/fixtures/models/tiny-llama");
    let lm = LoadedModel::load(&dir, DeviceInfo::cpu("tests")).unwrap();
    let config = LoraConfig::new(8, 16.0, 0.0, &["all-linear"], false).unwrap();
    let policy = Adapter::new(
        "policy",
        config,
        &lm.model.linear_specs(),
        9,
        lm.model.device(),
    )
    .unwrap();
    let settings = PpoSettings {
        learning_rate: 3e-3,
        max_new_tokens: 4,
        temperature: 1.0,
        ..PpoSettings::default()
    };
    let mut ppo = Ppo::new(&lm, &policy, settings).unwrap();
    let prompts: Vec<Vec<u32>> = (0..16u32).map(|i| vec![0, 100 + i, 200 + i]).collect();
    // Token X: one the base model already samples now and then (the 3rd most frequent), so
    // that there is a signal to follow and room to grow.
    let mut counts = std::collections::HashMap::new();
    for (i, p) in prompts.iter().enumerate() {
        let params = hone_model::sampling::SamplingParams {
            temperature: 1.0,
            top_p: None,
            max_new_tokens: 4,
            seed: 1000 + i as u64,
            ..Default::default()
        };
        for t in hone_model::generate::generate(&lm, None, p, 4, &params, |_| {})
            .unwrap()
            .into_iter()
            .flat_map(|g| g.token_ids)
        {
            *counts.entry(t).or_insert(0usize) += 1;
        }
    }
    let mut ranked: Vec<(u32, usize)> = counts.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut reward = InSet {
        set: ranked[..32].iter().map(|(t, _)| *t).collect(),
    };
    let mut scores = Vec::new();
    let mut kls = Vec::new();
    for iteration in 0..28 {
        let m = ppo.step(&prompts, &mut reward, iteration).unwrap();
        scores.push(m.get("score").unwrap());
        kls.push(m.get("kl").unwrap());
        for key in ["loss/policy", "loss/value", "clipfrac", "entropy", "kl"] {
            assert!(
                m.get(key).is_some_and(f64::is_finite),
                "metric {key} is reported"
            );
        }
    }
    let early: f64 = scores[..6].iter().sum::<f64>() / 6.0;
    let late: f64 = scores[22..].iter().sum::<f64>() / 6.0;
    println!("scores {scores:?}\nkl {kls:?}");
    // The tiny random model's next-token distributions are nearly flat over 384 tokens, so the
    // credit per token is thin; over 4-token responses the score rose 0.15 → 0.36 when written
    // (0.18 → 0.25 over 8 tokens). The single-position test below moves the mass decisively.
    assert!(
        late > early + 0.1,
        "PPO must raise the mean score: {early:.3} → {late:.3}"
    );
    assert!(
        kls.iter().all(|k| k.abs() < 20.0),
        "the KL to the reference stays bounded: {kls:?}"
    );
}

#[test]
fn ppo_moves_probability_mass_onto_rewarded_tokens() {
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect(crate::RUNTIME_MANIFEST_DIR))
        .join("../../tests/fixtures/models/tiny-llama");
    let lm = LoadedModel::load(&dir, DeviceInfo::cpu("tests")).unwrap();
    let config = LoraConfig::new(8, 16.0, 0.0, &["all-linear"], false).unwrap();
    let policy = Adapter::new(
        "policy",
        config,
        &lm.model.linear_specs(),
        9,
        lm.model.device(),
    )
    .unwrap();
    let settings = PpoSettings {
        learning_rate: 1e-3,
        max_new_tokens: 1,
        temperature: 1.0,
        kl_coef: 0.0,
        ..PpoSettings::default()
    };
    let mut ppo = Ppo::new(&lm, &policy, settings).unwrap();
    let prompts: Vec<Vec<u32>> = (0..16u32).map(|_| vec![0, 100, 200]).collect();
    let probs = |a: Option<&Adapter>| {
        let ids = candle_core::Tensor::new(&[0u32, 100, 200], lm.model.device())
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let logits = lm
            .model
            .forward(&ids, &hone_model::lora::LoraContext::inference(a))
            .unwrap()
            .squeeze(0)
            .unwrap()
            .get(2)
            .unwrap();
        candle_nn::ops::softmax(&logits, 0)
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
    };
    let p0 = probs(None);
    let mut order: Vec<usize> = (0..p0.len()).collect();
    order.sort_by(|a, b| p0[*b].total_cmp(&p0[*a]));
    let set: Vec<u32> = order[8..24].iter().map(|i| *i as u32).collect();
    let mass = |p: &[f32]| set.iter().map(|t| p[*t as usize]).sum::<f32>();
    let before = mass(&p0);
    let mut reward = InSet { set: set.clone() };
    for it in 0..15 {
        ppo.step(&prompts, &mut reward, it).unwrap();
    }
    let after = mass(&probs(Some(&policy)));
    assert!(
        after > 0.8 && before < 0.3,
        "the rewarded tokens' probability must rise from {before} to above 0.8, got {after}"
    );
}

/// A PPO run stopped after 2 of 4 iterations and resumed in a fresh `Ppo` from its checkpoint
/// ends with exactly the adapter and value head of an uninterrupted run.
#[test]
fn ppo_resumed_from_a_checkpoint_equals_an_uninterrupted_run() {
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect(crate::RUNTIME_MANIFEST_DIR))
        .join("../../tests/fixtures/models/tiny-llama");
    let lm = LoadedModel::load(&dir, DeviceInfo::cpu("tests")).unwrap();
    let config = LoraConfig::new(4, 8.0, 0.0, &["all-linear"], false).unwrap();
    let settings = PpoSettings {
        learning_rate: 3e-3,
        max_new_tokens: 3,
        temperature: 1.0,
        ppo_epochs: 2,
        ..PpoSettings::default()
    };
    let prompts: Vec<Vec<u32>> = (0..4u32).map(|i| vec![0, 100 + i, 200 + i]).collect();
    let mut reward = InSet {
        set: (300..400).collect(),
    };

    let whole_policy = policy(&lm, &config);
    let mut whole = Ppo::new(&lm, &whole_policy, settings.clone()).unwrap();
    for iteration in 0..4 {
        whole.step(&prompts, &mut reward, iteration).unwrap();
    }

    let checkpoints = tempfile::tempdir().unwrap();
    let first_policy = policy(&lm, &config);
    let mut first = Ppo::new(&lm, &first_policy, settings.clone()).unwrap();
    assert_eq!(first.restore_latest(checkpoints.path()).unwrap(), None);
    for iteration in 0..2 {
        first.step(&prompts, &mut reward, iteration).unwrap();
    }
    first.save_checkpoint(checkpoints.path(), 2, "m").unwrap();

    let resumed_policy = policy(&lm, &config);
    let mut resumed = Ppo::new(&lm, &resumed_policy, settings.clone()).unwrap();
    assert_eq!(resumed.restore_latest(checkpoints.path()).unwrap(), Some(2));
    for iteration in 2..4 {
        resumed.step(&prompts, &mut reward, iteration).unwrap();
    }
    assert_eq!(
        trained_values(&resumed),
        trained_values(&whole),
        "resumed = uninterrupted, adapter and value head"
    );

    let other = policy(&lm, &config);
    let mut changed = Ppo::new(
        &lm,
        &other,
        PpoSettings {
            kl_coef: 0.1,
            ..settings
        },
    )
    .unwrap();
    assert!(
        changed.restore_latest(checkpoints.path()).is_err(),
        "a checkpoint of other settings is refused"
    );
}

/// A fresh policy adapter of `config` on `lm`, seeded as every test here seeds it.
fn policy(lm: &LoadedModel, config: &LoraConfig) -> Adapter {
    Adapter::new(
        "policy",
        config.clone(),
        &lm.model.linear_specs(),
        9,
        lm.model.device(),
    )
    .unwrap()
}

/// Every variable the PPO optimiser trains (adapter, then value head), flattened.
fn trained_values(ppo: &Ppo) -> Vec<f32> {
    ppo.vars()
        .iter()
        .flat_map(|v| {
            v.as_tensor()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        })
        .collect()
}

#[test]
fn ppo_updates_with_gradient_checkpointing_equal_the_plain_ones() {
    let lm = crate::tiny_llama();
    // Dropout on: the recomputed forward must draw the same masks as the first.
    let config = LoraConfig::new(4, 8.0, 0.1, &["all-linear"], false).unwrap();
    let settings = PpoSettings {
        learning_rate: 3e-3,
        max_new_tokens: 3,
        temperature: 1.0,
        ppo_epochs: 2,
        ..PpoSettings::default()
    };
    let prompts: Vec<Vec<u32>> = (0..3u32).map(|i| vec![0, 100 + i, 200 + i]).collect();
    let untrained =
        trained_values(&Ppo::new(&lm, &policy(&lm, &config), settings.clone()).unwrap());
    let run = |checkpointing: bool| -> (Vec<f32>, Vec<f64>) {
        let policy = policy(&lm, &config);
        let mut ppo = Ppo::new(&lm, &policy, settings.clone())
            .unwrap()
            .checkpointing(checkpointing);
        let mut reward = InSet {
            set: (300..400).collect(),
        };
        let losses = (0..2)
            .map(|iteration| {
                let metrics = ppo.step(&prompts, &mut reward, iteration).unwrap();
                metrics.get("loss/policy").unwrap()
            })
            .collect();
        (trained_values(&ppo), losses)
    };
    let (plain, plain_losses) = run(false);
    let (checkpointed, checkpointed_losses) = run(true);
    let largest = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    };
    let moved = largest(&plain, &untrained);
    assert!(
        moved > 1e-4,
        "precondition: the updates moved the weights ({moved})"
    );
    // Not bit for bit: each layer input's gradient is the sum of six (its five projections
    // normalise it themselves, and the residual), which the recomputed layer's own graph adds
    // in another order; f32 rounding at 1e-7 of a gradient, through four Adam updates at lr
    // 3e-3, moves a weight by ~1e-6 against the ~1e-2 the updates move it.
    let differ = largest(&plain, &checkpointed);
    assert!(differ < 1e-5, "checkpointed weights differ by {differ}");
    for (a, b) in plain_losses.iter().zip(&checkpointed_losses) {
        assert!((a - b).abs() < 1e-6, "policy loss {a} vs {b}");
    }
}
