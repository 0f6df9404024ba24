use candle_core::DType;
use hone_model::lora::{Adapter, LoraContext};

use crate::{expected, load, max_diff, max_diff_masked, model_dir, PARITY_TOL};

fn assert_peft_adapter_matches(model: &str, adapter_dir: &str) {
    let mut lm = load(model);
    let dir = model_dir(model).join(adapter_dir);
    let adapter =
        Adapter::load_peft("peft", &dir, &lm.model.linear_specs(), lm.model.device()).unwrap();
    let base = expected(model_dir(model).join("expected.safetensors"));
    let exp = expected(dir.join("expected.safetensors"));
    let ids = base["input_ids"].to_dtype(DType::U32).unwrap();
    let mask = &base["attention_mask"];
    let logits = lm
        .model
        .forward(&ids, &LoraContext::inference(Some(&adapter)))
        .unwrap();
    let diff = max_diff_masked(&logits, &exp["logits"], Some(mask));
    println!("{model}/{adapter_dir}: max |Δlogit| vs PEFT = {diff:e}");
    assert!(
        diff < PARITY_TOL,
        "{model}/{adapter_dir}: logits differ from PEFT's by {diff}"
    );
    let moved = max_diff_masked(&logits, &base["logits"], Some(mask));
    assert!(
        moved > 1.0,
        "the adapter must change the logits (moved {moved}), or the test proves nothing"
    );

    let off = lm.model.forward(&ids, &LoraContext::default()).unwrap();
    assert!(
        max_diff_masked(&off, &base["logits"], Some(mask)) < PARITY_TOL,
        "adapter off must be the base model"
    );

    lm.model.merge_adapter(&adapter).unwrap();
    let merged = lm.model.forward(&ids, &LoraContext::default()).unwrap();
    let diff = max_diff_masked(&merged, &exp["logits_merged"], Some(mask));
    assert!(
        diff < PARITY_TOL,
        "merged weights differ from PEFT's merge_and_unload by {diff}"
    );
    assert!(
        max_diff(&merged, &logits) < 1e-3,
        "merged must equal unmerged"
    );
}

#[test]
fn a_peft_adapter_on_llama_gives_pefts_logits() {
    assert_peft_adapter_matches("tiny-llama", "peft-adapter");
}

#[test]
fn a_peft_rslora_adapter_gives_pefts_logits() {
    assert_peft_adapter_matches("tiny-llama", "peft-adapter-rslora");
}

#[test]
fn a_peft_adapter_on_qwen2_gives_pefts_logits() {
    assert_peft_adapter_matches("tiny-qwen2", "peft-adapter");
}

#[test]
fn save_then_load_keeps_pefts_keys_and_the_outputs() {
    let lm = load("tiny-llama");
    let src = model_dir("tiny-llama").join("peft-adapter");
    let adapter =
        Adapter::load_peft("peft", &src, &lm.model.linear_specs(), lm.model.device()).unwrap();
    let out = tempfile::tempdir().unwrap();
    let written = adapter.save_peft(out.path(), "tiny-llama").unwrap();
    assert_eq!(written.len(), 2, "config and weights");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |name: &str| {
            let meta = std::fs::metadata(out.path().join(name)).unwrap();
            meta.permissions().mode() & 0o777
        };
        assert_eq!(
            mode("adapter_model.safetensors"),
            mode("adapter_config.json"),
            "the streamed weights file gets the config's (the umask's) mode, not a temporary file's"
        );
    }
    for file in &written {
        let bytes = std::fs::read(out.path().join(&file.name)).unwrap();
        assert_eq!(bytes.len() as u64, file.bytes);
        let digest =
            sha2::Digest::finalize(<sha2::Sha256 as sha2::Digest>::new_with_prefix(&bytes));
        assert_eq!(
            hex::encode(digest),
            file.sha256,
            "the recorded sha256 is the file's"
        );
    }
    let theirs = expected(src.join("adapter_model.safetensors"));
    let ours = expected(out.path().join("adapter_model.safetensors"));
    let mut their_keys: Vec<_> = theirs.keys().collect();
    let mut our_keys: Vec<_> = ours.keys().collect();
    their_keys.sort();
    our_keys.sort();
    assert_eq!(our_keys, their_keys, "Hone writes exactly PEFT's key names");
    for (k, t) in &theirs {
        assert_eq!(t.dims(), ours[k].dims(), "{k}: PEFT's shape");
    }
    let reloaded = Adapter::load_peft(
        "again",
        out.path(),
        &lm.model.linear_specs(),
        lm.model.device(),
    )
    .unwrap();
    let ids = expected(model_dir("tiny-llama").join("expected.safetensors"))["input_ids"]
        .to_dtype(DType::U32)
        .unwrap();
    let a = lm
        .model
        .forward(&ids, &LoraContext::inference(Some(&adapter)))
        .unwrap();
    let b = lm
        .model
        .forward(&ids, &LoraContext::inference(Some(&reloaded)))
        .unwrap();
    assert_eq!(max_diff(&a, &b), 0.0, "save → load gives identical outputs");
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("adapter_config.json")).unwrap())
            .unwrap();
    assert_eq!(config["peft_type"], "LORA");
    assert_eq!(config["r"], 4);
    assert_eq!(
        config["target_modules"].as_array().unwrap().len(),
        7,
        "target_modules always explicit"
    );
}

#[test]
fn a_misnamed_adapter_key_is_refused_not_silently_ignored() {
    let lm = load("tiny-llama");
    let src = model_dir("tiny-llama").join("peft-adapter");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        src.join("adapter_config.json"),
        dir.path().join("adapter_config.json"),
    )
    .unwrap();
    let mut tensors = expected(src.join("adapter_model.safetensors"));
    let key = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight";
    let t = tensors.remove(key).unwrap();
    tensors.insert("model.layers.0.self_attn.q_proj.lora_A.weight".into(), t);
    candle_core::safetensors::save(&tensors, dir.path().join("adapter_model.safetensors")).unwrap();
    let err = Adapter::load_peft(
        "bad",
        dir.path(),
        &lm.model.linear_specs(),
        lm.model.device(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(key), "the error names the missing key: {err}");
}

/// PEFT ≥ 0.20 writes "all-linear" out as every matched module's path
/// (`model.layers.0.self_attn.q_proj`, …): such an adapter (here TRL's fixture, saved by PEFT
/// 0.21) loads; a list that leaves out some layers' modules, or names a module the model does
/// not have, is refused with the field and the module named.
#[test]
fn target_modules_listed_as_module_paths_load_when_they_cover_every_layer() {
    let lm = load("tiny-llama");
    let src = model_dir("tiny-llama").join("../../trl/initial-adapter");
    let adapter =
        Adapter::load_peft("trl", &src, &lm.model.linear_specs(), lm.model.device()).unwrap();
    assert_eq!(adapter.config.target_modules.len(), 7);
    assert_eq!(adapter.branches().count(), 14, "7 projections × 2 layers");

    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(src.join("adapter_config.json")).unwrap())
            .unwrap();
    let with_targets = |targets: Vec<String>| {
        let dir = tempfile::tempdir().unwrap();
        let mut c = config.clone();
        c["target_modules"] = serde_json::json!(targets);
        std::fs::write(dir.path().join("adapter_config.json"), c.to_string()).unwrap();
        std::fs::copy(
            src.join("adapter_model.safetensors"),
            dir.path().join("adapter_model.safetensors"),
        )
        .unwrap();
        Adapter::load_peft("t", dir.path(), &lm.model.linear_specs(), lm.model.device())
            .unwrap_err()
            .to_string()
    };
    let listed: Vec<String> = config["target_modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    let without_one: Vec<String> = listed
        .iter()
        .filter(|t| *t != "model.layers.1.self_attn.q_proj")
        .cloned()
        .collect();
    let err = with_targets(without_one);
    assert!(
        err.contains("target_modules") && err.contains("model.layers.1.self_attn.q_proj"),
        "{err}"
    );
    let mut unknown = listed.clone();
    unknown.push("model.layers.7.self_attn.q_proj".into());
    let err = with_targets(unknown);
    assert!(
        err.contains("\"model.layers.7.self_attn.q_proj\" is not a module of this model"),
        "{err}"
    );
}
