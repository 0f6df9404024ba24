//! What Hone writes, read by the reference: a tiny model folder loaded by transformers, an
//! adapter loaded by PEFT. The folders under `tests/fixtures/hone-written/` are what Hone
//! writes today (checked byte for byte here); `make_fixtures.py check-hone-model` and
//! `check-hone-adapter` ran the reference on them and left their results beside them.
//! After a deliberate change of format: `HONE_UPDATE_FIXTURES=1 cargo test …`, then rerun
//! the two checks (see tests/fixtures/README.md).

use std::path::{Path, PathBuf};

use candle_core::{DType, Tensor};
use hone_model::chat_template::Message;
use hone_model::lora::{Adapter, LoraConfig, LoraContext};
use hone_model::tiny::{write_tiny_model, TinyArch, TinySize};
use hone_model::{DeviceInfo, LoadedModel};
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::{expected, fixtures, load, max_diff, max_diff_masked, model_dir, PARITY_TOL};

fn written(name: &str) -> PathBuf {
    fixtures().join("hone-written").join(name)
}

/// Asserts that every file in `made` equals the committed fixture (or updates the fixture).
fn assert_same_as_fixture(made: &Path, fixture: &Path) {
    let update = std::env::var_os("HONE_UPDATE_FIXTURES").is_some();
    assert!(
        !(update && std::env::var_os("CI").is_some()),
        "HONE_UPDATE_FIXTURES rewrites the fixtures instead of checking them; it is refused under CI"
    );
    if update {
        std::fs::create_dir_all(fixture).unwrap();
    }
    for entry in std::fs::read_dir(made).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap();
        if update {
            std::fs::copy(&path, fixture.join(name)).unwrap();
        }
        let ours = std::fs::read(&path).unwrap();
        let committed = std::fs::read(fixture.join(name)).unwrap_or_default();
        assert!(
            ours == committed,
            "{} differs from what Hone writes now; if the change is deliberate, update the fixture (HONE_UPDATE_FIXTURES=1) and rerun the Python check",
            fixture.join(name).display()
        );
    }
}

fn read_check(path: PathBuf) -> (Value, std::collections::HashMap<String, Tensor>) {
    let json: Value = serde_json::from_slice(
        &std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap();
    let tensors = expected(PathBuf::from(format!("{}.safetensors", path.display())));
    (json, tensors)
}

pub const SMALL: TinySize = TinySize {
    hidden: 32,
    intermediate: 64,
    layers: 2,
    heads: 4,
    kv_heads: 2,
    vocab: 384,
    max_positions: 128,
    tie_embeddings: false,
};

#[test]
fn a_tiny_model_written_by_hone_loads_in_transformers_with_the_same_tokens_template_and_logits() {
    for (arch, name) in [
        (TinyArch::Llama, "tiny-llama"),
        (TinyArch::Qwen2, "tiny-qwen2"),
    ] {
        let made = tempfile::tempdir().unwrap();
        write_tiny_model(arch, SMALL, made.path(), 0).unwrap();
        let fixture = written(name);
        assert_same_as_fixture(made.path(), &fixture);

        let (check, tensors) = read_check(fixture.join("transformers-check.json"));
        let warnings: Vec<&str> = check["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert!(
            !warnings.iter().any(|w| w.contains("newly initialized")
                || w.contains("not used")
                || w.contains("missing")),
            "{name}: transformers did not load every weight: {warnings:?}"
        );
        let lm = LoadedModel::load(made.path(), DeviceInfo::cpu("tests")).unwrap();
        let ids = lm
            .tokenizer
            .encode(check["text"].as_str().unwrap(), true)
            .unwrap();
        let theirs: Vec<u32> = check["input_ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(
            ids, theirs,
            "{name}: transformers' tokenizer gives the same ids"
        );
        let messages: Vec<Message> =
            serde_json::from_value(check["chat_messages"].clone()).unwrap();
        assert_eq!(
            lm.template().unwrap().render(&messages, true).unwrap(),
            check["chat_text"].as_str().unwrap(),
            "{name}: chat template"
        );
        let input = Tensor::new(ids.as_slice(), lm.model.device())
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let logits = lm.model.forward(&input, &LoraContext::default()).unwrap();
        let diff = max_diff(&logits, &tensors["logits"]);
        assert!(
            diff < PARITY_TOL,
            "{name}: transformers' logits on Hone's folder differ by {diff}"
        );
    }
}

/// The adapter Hone writes for the check: seeded A, and B filled with seeded noise.
fn seeded_adapter(lm: &LoadedModel) -> Adapter {
    let config = LoraConfig::new(4, 16.0, 0.0, &["q_proj", "v_proj", "down_proj"], false).unwrap();
    let adapter = Adapter::new(
        "hone",
        config,
        &lm.model.linear_specs(),
        21,
        lm.model.device(),
    )
    .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(22);
    for (_, branch) in adapter.branches() {
        let dims = branch.b.as_tensor().dims().to_vec();
        let values: Vec<f32> = (0..dims.iter().product::<usize>())
            .map(|_| rng.random_range(-0.2..0.2))
            .collect();
        branch
            .b
            .set(&Tensor::from_vec(values, dims, lm.model.device()).unwrap())
            .unwrap();
    }
    adapter
}

#[test]
fn an_adapter_saved_by_hone_loads_in_peft_without_missing_keys_and_gives_the_same_logits() {
    let lm = load("tiny-llama");
    let adapter = seeded_adapter(&lm);
    let made = tempfile::tempdir().unwrap();
    adapter.save_peft(made.path(), "tiny-llama").unwrap();
    let fixture = written("tiny-llama-adapter");
    assert_same_as_fixture(made.path(), &fixture);

    let (check, tensors) = read_check(fixture.join("peft-check.json"));
    assert_eq!(
        check["missing_keys"],
        Value::Array(vec![]),
        "PEFT found every key it expected"
    );
    assert_eq!(
        check["unexpected_keys"],
        Value::Array(vec![]),
        "PEFT found no key it could not place"
    );
    let warnings = check["warnings"].to_string();
    assert!(
        !warnings.contains("missing adapter keys"),
        "no missing-key warning: {warnings}"
    );

    let base = expected(model_dir("tiny-llama").join("expected.safetensors"));
    let ids = base["input_ids"].to_dtype(DType::U32).unwrap();
    let ours = lm
        .model
        .forward(&ids, &LoraContext::inference(Some(&adapter)))
        .unwrap();
    let diff = max_diff_masked(&ours, &tensors["logits"], Some(&base["attention_mask"]));
    assert!(
        diff < PARITY_TOL,
        "PEFT's logits with Hone's adapter differ from Hone's by {diff}"
    );
    assert!(
        max_diff_masked(&ours, &base["logits"], Some(&base["attention_mask"])) > 0.1,
        "the adapter must matter"
    );
}
