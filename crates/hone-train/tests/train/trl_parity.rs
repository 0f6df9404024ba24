//! DPO against TRL's DPOTrainer on the same model, adapter and data: the figures TRL logged
//! (`tests/fixtures/trl/dpo_reference.json`, written by `make_dpo_reference.py` there) are
//! what Hone's trainer reports, step by step.
//!
//! The setting is TRL's with a PEFT model that already holds an adapter: the reference is that
//! initial adapter (Hone's reference when it trains from a parent version), batch 4 (the whole
//! set), 4 steps at lr 1e-3 decaying linearly, AdamW, gradients clipped at norm 1.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use hone_model::chat_template::Message;
use hone_model::lora::Adapter;
use hone_model::score::PromptInput;
use hone_model::{DeviceInfo, LoadedModel};
use hone_train::losses::DpoLossType;
use hone_train::preference::{Dpo, DpoSettings, TokenPair};
use hone_train::trainer::{train, Progress, TrainConfig};
use serde_json::Value;

use crate::close;

fn fixtures() -> PathBuf {
    Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect(crate::RUNTIME_MANIFEST_DIR))
        .join("../../tests/fixtures")
}

fn reference() -> Value {
    let path = fixtures().join("trl/dpo_reference.json");
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect()
}

fn messages(v: &Value) -> Vec<Message> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| {
            Message::new(
                m["role"].as_str().unwrap(),
                m["content"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn tiny_llama() -> LoadedModel {
    LoadedModel::load(
        &fixtures().join("models/tiny-llama"),
        DeviceInfo::cpu("tests"),
    )
    .unwrap()
}

fn initial_adapter(lm: &LoadedModel) -> Adapter {
    Adapter::load_peft(
        "trl-initial",
        &fixtures().join("trl/initial-adapter"),
        &lm.model.linear_specs(),
        lm.model.device(),
    )
    .unwrap()
}

/// Hone renders and tokenizes the conversational pairs as TRL does, except on purpose for the
/// newline the chat template writes after the end-of-turn token: TRL trains on it, Hone ends
/// the completion at the end-of-turn token (the model stops there and never generates it).
#[test]
fn hone_tokenizes_trls_conversational_pairs_as_trl_does_but_the_newline_after_end_of_turn() {
    let lm = tiny_llama();
    let r = reference();
    let eos = lm.tokenizer.token_id("<|im_end|>").unwrap();
    let newline = lm.tokenizer.encode("\n", false).unwrap();
    for (pair, trl) in r["pairs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(r["tokens"].as_array().unwrap())
    {
        let prompt = PromptInput::Chat(messages(&pair["prompt"]));
        for side in ["chosen", "rejected"] {
            let answer = pair[side][0]["content"].as_str().unwrap();
            let hone = lm.encode_pair(&prompt, answer).unwrap();
            assert_eq!(hone.prompt, ids(&trl["prompt_ids"]), "{side} prompt");
            let trl_completion = ids(&trl[format!("{side}_ids")]);
            let (last, trl_without_newline) = trl_completion.split_last().unwrap();
            assert_eq!(vec![*last], newline, "TRL's {side} ends with the newline");
            assert_eq!(hone.completion, trl_without_newline, "{side} completion");
            assert_eq!(hone.completion.last(), Some(&eos));
        }
    }
}

/// On TRL's token ids: the reference log-probs, then each step's loss, gradient norm (before
/// clipping), rewards and policy log-probs. Tolerances: 1e-4 on the first step's loss, rewards
/// and gradient norm (as issue 16 asks), 1e-3 on sums of log-probs (about 100 f32 terms each,
/// 1e-5 relative), and 2e-4 on the later steps, which carry the optimiser's rounding along.
#[test]
fn dpo_steps_equal_trls_on_the_same_adapter_and_tokens() {
    let lm = tiny_llama();
    let r = reference();
    let tokens = r["tokens"].as_array().unwrap();
    let pairs: Vec<TokenPair> = tokens
        .iter()
        .map(|t| TokenPair {
            prompt: ids(&t["prompt_ids"]),
            chosen: ids(&t["chosen_ids"]),
            rejected: ids(&t["rejected_ids"]),
            focus: None,
        })
        .collect();
    let dpo = &r["dpo"];
    let reference_adapter = initial_adapter(&lm);
    let mut objective = Dpo::new(
        &lm.model,
        &pairs,
        Some(&reference_adapter),
        DpoSettings {
            beta: dpo["beta"].as_f64().unwrap(),
            loss_type: DpoLossType::Sigmoid,
            label_smoothing: 0.0,
        },
    )
    .unwrap();
    for (i, t) in tokens.iter().enumerate() {
        let (chosen, rejected) = objective.reference_logps(i);
        let want = |k: &str| t[k].as_f64().unwrap();
        close(
            chosen as f64,
            want("ref_chosen_logps"),
            1e-3,
            "reference chosen",
        );
        close(
            rejected as f64,
            want("ref_rejected_logps"),
            1e-3,
            "reference rejected",
        );
    }

    let adapter = initial_adapter(&lm);
    let steps = r["steps"].as_array().unwrap();
    let config = TrainConfig {
        learning_rate: dpo["learning_rate"].as_f64().unwrap(),
        epochs: steps.len(),
        batch_size: pairs.len(),
        max_grad_norm: Some(dpo["max_grad_norm"].as_f64().unwrap()),
        weight_decay: 0.0,
        warmup_steps: 0,
        ..TrainConfig::default()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut progress: Vec<Progress> = Vec::new();
    train(
        &adapter,
        &mut objective,
        pairs.len(),
        &config,
        dir.path(),
        "tiny-llama",
        &AtomicBool::new(false),
        |p| progress.push(p.clone()),
    )
    .unwrap();
    assert_eq!(progress.len(), steps.len());
    let mut largest = [0f64; 2];
    for (hone, trl) in progress.iter().zip(steps) {
        largest[0] = largest[0].max((hone.loss - trl["loss"].as_f64().unwrap()).abs());
        largest[1] = largest[1].max((hone.grad_norm - trl["grad_norm"].as_f64().unwrap()).abs());
        let step = hone.step;
        assert_eq!(step, trl["step"].as_u64().unwrap());
        let tolerance = if step == 1 { 1e-4 } else { 2e-4 };
        let want = |k: &str| trl[k].as_f64().unwrap();
        let what = |k: &str| format!("step {step}: {k}");
        close(hone.loss, want("loss"), tolerance, &what("loss"));
        close(
            hone.grad_norm,
            want("grad_norm"),
            tolerance,
            &what("grad_norm"),
        );
        for k in ["rewards/chosen", "rewards/rejected", "rewards/margins"] {
            close(hone.metrics.get(k).unwrap(), want(k), tolerance, &what(k));
        }
        assert_eq!(
            hone.metrics.get("rewards/accuracies").unwrap(),
            want("rewards/accuracies"),
            "{}",
            what("rewards/accuracies")
        );
        for k in ["logps/chosen", "logps/rejected"] {
            close(hone.metrics.get(k).unwrap(), want(k), 1e-3, &what(k));
        }
    }
    println!(
        "against TRL over {} steps: |Δ loss| ≤ {:e}, |Δ gradient norm| ≤ {:e}",
        steps.len(),
        largest[0],
        largest[1]
    );
}
