//! Token-level objectives on the tiny model: token-level DPO sums only the focused tokens, and
//! weighted training moves exactly the tokens it weighs.

use std::sync::atomic::AtomicBool;

use hone_model::lora::{Adapter, LoraContext};
use hone_model::score::{completion_logprobs, SequencePair};
use hone_model::LoadedModel;
use hone_train::preference::{Dpo, DpoSettings, PairFocus, TokenPair};
use hone_train::token_losses::{NegativeTerm, TokenWeighted, WeightedSequence};
use hone_train::token_weights::{edit_token_weights, EditWeights};
use hone_train::trainer::{train, TrainConfig};

use crate::preference::adapter;
use crate::tiny_llama;

/// Per-token log-probs of `completion` after `prompt` under `adapter`.
fn per_token(
    lm: &LoadedModel,
    a: Option<&Adapter>,
    prompt: &[u32],
    completion: &[u32],
) -> Vec<f32> {
    let pair = SequencePair {
        prompt: prompt.to_vec(),
        completion: completion.to_vec(),
    };
    let lp = completion_logprobs(&lm.model, &[pair], &LoraContext::inference(a)).unwrap();
    lp.per_token.to_vec2::<f32>().unwrap().remove(0)
}

#[test]
fn token_level_dpo_sums_only_the_tokens_its_focus_keeps() {
    let lm = tiny_llama();
    // An edit that replaced the second of four tokens.
    let (prompt, original, corrected) =
        (vec![0, 11, 21], vec![30, 90, 31, 2], vec![30, 250, 31, 2]);
    let (changed_old, changed_new) =
        hone_train::token_weights::changed_tokens(&original, &corrected);
    assert_eq!(changed_new, vec![0.0, 1.0, 0.0, 0.0]);
    let pair = |focus| TokenPair {
        prompt: prompt.clone(),
        chosen: corrected.clone(),
        rejected: original.clone(),
        focus,
    };
    let focused_pairs = [pair(Some(PairFocus {
        chosen: changed_new.clone(),
        rejected: changed_old.clone(),
    }))];
    let focused = Dpo::new(&lm.model, &focused_pairs, None, DpoSettings::default()).unwrap();
    let (ref_chosen, ref_rejected) = focused.reference_logps(0);
    let chosen = per_token(&lm, None, &prompt, &corrected);
    let rejected = per_token(&lm, None, &prompt, &original);
    assert!(
        (ref_chosen - chosen[1]).abs() < 1e-5,
        "{ref_chosen} vs {chosen:?}"
    );
    assert!(
        (ref_rejected - rejected[1]).abs() < 1e-5,
        "{ref_rejected} vs {rejected:?}"
    );
    // A focus on every token is the plain pair.
    let all_pairs = [pair(Some(PairFocus {
        chosen: vec![1.0; 4],
        rejected: vec![1.0; 4],
    }))];
    let all = Dpo::new(&lm.model, &all_pairs, None, DpoSettings::default()).unwrap();
    let plain_pairs = [pair(None)];
    let plain = Dpo::new(&lm.model, &plain_pairs, None, DpoSettings::default()).unwrap();
    let (a, b) = (all.reference_logps(0), plain.reference_logps(0));
    assert!(
        (a.0 - b.0).abs() < 1e-5 && (a.1 - b.1).abs() < 1e-5,
        "{a:?} vs {b:?}"
    );
    // A side with no focused token has no margin to compute: refused, naming it.
    let empty_pairs = [pair(Some(PairFocus {
        chosen: changed_new,
        rejected: vec![0.0; 4],
    }))];
    let empty = Dpo::new(&lm.model, &empty_pairs, None, DpoSettings::default());
    let err = empty.err().expect("an empty focus is refused").to_string();
    assert!(err.contains("pairs[0].focus.rejected"), "{err}");
}

#[test]
fn weighted_training_lowers_the_removed_tokens_and_raises_the_added_ones() {
    for negative in [NegativeTerm::Unlikelihood, NegativeTerm::Npo { beta: 0.1 }] {
        weighted_training_moves_the_weighted_tokens(negative);
    }
}

fn weighted_training_moves_the_weighted_tokens(negative: NegativeTerm) {
    let lm = tiny_llama();
    let adapter = adapter(&lm);
    // Eight edits: the expert replaced token 90 by 250 in the middle of each answer.
    let edits: Vec<(Vec<u32>, Vec<u32>, Vec<u32>)> = (0..8u32)
        .map(|i| {
            (
                vec![0, 40 + i],
                vec![30 + i, 90, 31, 2],
                vec![30 + i, 250, 31, 2],
            )
        })
        .collect();
    let mut examples = Vec::new();
    for (prompt, original, corrected) in &edits {
        let changed_only = EditWeights {
            added: 1.0,
            kept: 0.0,
            removed: 1.0,
        };
        let (old, new) = edit_token_weights(original, corrected, changed_only);
        assert_eq!(old, vec![0.0, -1.0, 0.0, 0.0]);
        assert_eq!(new, vec![0.0, 1.0, 0.0, 0.0]);
        for (completion, weights) in [(original, old), (corrected, new)] {
            examples.push(WeightedSequence {
                pair: SequencePair {
                    prompt: prompt.clone(),
                    completion: completion.clone(),
                },
                weights,
            });
        }
    }
    // The log-prob of the removed token (in the original) and of the added one (in the
    // correction), both at position 1.
    let removed_lp = |a: Option<&Adapter>, e: usize| {
        let (prompt, original, _) = &edits[e];
        per_token(&lm, a, prompt, original)[1]
    };
    let added_lp = |a: Option<&Adapter>, e: usize| {
        let (prompt, _, corrected) = &edits[e];
        per_token(&lm, a, prompt, corrected)[1]
    };
    let removed_before: Vec<f32> = (0..8).map(|e| removed_lp(None, e)).collect();
    let added_before: Vec<f32> = (0..8).map(|e| added_lp(None, e)).collect();
    let config = TrainConfig {
        learning_rate: 5e-3,
        epochs: 5,
        batch_size: 4,
        save_steps: 100,
        ..TrainConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut last = None;
    train(
        &adapter,
        &mut TokenWeighted::new(&lm.model, &examples, negative, None).unwrap(),
        examples.len(),
        &config,
        dir.path(),
        "m",
        &AtomicBool::new(false),
        |p| last = Some(p.clone()),
    )
    .unwrap();
    let metrics = last.unwrap().metrics;
    assert_eq!(metrics.get("unlikelihood_tokens"), Some(2.0), "{metrics:?}");
    for e in 0..8 {
        let (removed, added) = (removed_lp(Some(&adapter), e), added_lp(Some(&adapter), e));
        assert!(
            removed < removed_before[e] - 0.5,
            "{negative:?}, edit {e}: the removed token's log-prob must fall: {} → {removed}",
            removed_before[e]
        );
        assert!(
            added > added_before[e] + 0.5,
            "{negative:?}, edit {e}: the added token's log-prob must rise: {} → {added}",
            added_before[e]
        );
    }
}
