use std::path::Path;
use std::sync::atomic::AtomicBool;

use hone_model::lora::{Adapter, LoraConfig, LoraContext};
use hone_model::score::SequencePair;
use hone_model::{DeviceInfo, LoadedModel};
use hone_train::preference::TokenPair;
use hone_train::reward::{rewards, RewardModelTraining, ScoreHead, SCORE_KEY};
use hone_train::trainer::{latest_checkpoint, train, Progress, TrainConfig, EXTRA_FILE};

#[test]
fn the_reward_model_learns_separable_pairs_and_its_head_is_checkpointed() {
    let dir = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect(crate::RUNTIME_MANIFEST_DIR))
        .join("../../tests/fixtures/models/tiny-qwen2");
    let lm = LoadedModel::load(&dir, DeviceInfo::cpu("tests")).unwrap();
    let config = LoraConfig::new(8, 16.0, 0.0, &["all-linear"], false).unwrap();
    let adapter =
        Adapter::new("rm", config, &lm.model.linear_specs(), 3, lm.model.device()).unwrap();
    let head = ScoreHead::new(lm.model.config().hidden_size, 4, lm.model.device()).unwrap();
    // Separable: the chosen answers end in token 250, the rejected ones in token 90.
    let pairs: Vec<TokenPair> = (0..8u32)
        .map(|i| TokenPair {
            prompt: vec![0, 10 + i],
            chosen: vec![30 + i, 250],
            rejected: vec![30 + i, 90],
            focus: None,
        })
        .collect();
    let mut objective = RewardModelTraining {
        model: &lm.model,
        head: &head,
        pairs: &pairs,
        margins: None,
        center_rewards_coefficient: 0.01,
    };
    let cfg = TrainConfig {
        learning_rate: 1e-2,
        epochs: 12,
        batch_size: 4,
        save_steps: 6,
        ..TrainConfig::default()
    };
    let out = tempfile::tempdir().unwrap();
    let mut last: Option<Progress> = None;
    train(
        &adapter,
        &mut objective,
        pairs.len(),
        &cfg,
        out.path(),
        "tiny-qwen2",
        &AtomicBool::new(false),
        |p| last = Some(p.clone()),
    )
    .unwrap();
    let accuracy = last.unwrap().metrics.get("accuracy").unwrap();
    assert!(
        accuracy >= 0.95,
        "a reward model must reach 0.95 accuracy on separable pairs, got {accuracy}"
    );

    // It scores unseen responses the same way.
    let unseen = [
        SequencePair {
            prompt: vec![0, 99],
            completion: vec![77, 250],
        },
        SequencePair {
            prompt: vec![0, 99],
            completion: vec![77, 90],
        },
    ];
    let r = rewards(
        &lm.model,
        &head,
        &unseen,
        &LoraContext::inference(Some(&adapter)),
    )
    .unwrap()
    .to_vec1::<f32>()
    .unwrap();
    assert!(
        r[0] > r[1],
        "the good answer scores higher on an unseen prompt: {r:?}"
    );

    let (_, checkpoint) = latest_checkpoint(out.path()).unwrap();
    let saved = ScoreHead::load(&checkpoint.join(EXTRA_FILE), lm.model.device()).unwrap();
    assert_eq!(
        saved.weight.as_tensor().to_vec2::<f32>().unwrap(),
        head.weight.as_tensor().to_vec2::<f32>().unwrap(),
        "{SCORE_KEY} is checkpointed"
    );
}
