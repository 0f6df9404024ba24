use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use hone_model::{DeviceInfo, LoadedModel, ModelError};

use crate::model_dir;

/// A copy of the tiny Llama fixture to damage.
fn copy_of_tiny_llama() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(model_dir("tiny-llama")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn load_err(dir: &Path) -> ModelError {
    LoadedModel::load(dir, DeviceInfo::cpu("tests")).expect_err("loading must fail")
}

fn rewrite_weights(dir: &Path, edit: impl FnOnce(&mut HashMap<String, Tensor>)) {
    let path = dir.join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &Device::Cpu).unwrap();
    edit(&mut tensors);
    candle_core::safetensors::save(&tensors, &path).unwrap();
}

#[test]
fn a_missing_folder_or_file_is_named() {
    let err = load_err(Path::new("/no/such/model")).to_string();
    assert!(err.contains("/no/such/model"), "{err}");
    let dir = copy_of_tiny_llama();
    std::fs::remove_file(dir.path().join("tokenizer.json")).unwrap();
    let err = load_err(dir.path()).to_string();
    assert!(
        err.contains("tokenizer.json") && err.contains("missing"),
        "{err}"
    );
}

#[test]
fn an_unsupported_architecture_lists_the_supported_ones() {
    let dir = copy_of_tiny_llama();
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"llama\"", "\"gpt2\"");
    std::fs::write(&path, text).unwrap();
    match load_err(dir.path()) {
        ModelError::UnsupportedArchitecture { found, supported } => {
            assert_eq!(found, "gpt2");
            assert_eq!(supported, vec!["llama", "mistral", "qwen2"]);
        }
        other => panic!("expected UnsupportedArchitecture, got {other}"),
    }
}

#[test]
fn a_tensor_of_the_wrong_shape_says_which_expected_and_found() {
    let dir = copy_of_tiny_llama();
    rewrite_weights(dir.path(), |t| {
        t.insert(
            "model.layers.1.self_attn.k_proj.weight".into(),
            Tensor::zeros((16, 64), candle_core::DType::F32, &Device::Cpu).unwrap(),
        );
    });
    match load_err(dir.path()) {
        ModelError::Shape {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "model.layers.1.self_attn.k_proj.weight");
            assert_eq!((expected, found), (vec![32, 64], vec![16, 64]));
        }
        other => panic!("expected a shape error, got {other}"),
    }
}

#[test]
fn a_missing_tensor_is_named() {
    let dir = copy_of_tiny_llama();
    rewrite_weights(dir.path(), |t| {
        t.remove("model.layers.0.mlp.up_proj.weight");
    });
    let err = load_err(dir.path()).to_string();
    assert!(
        err.contains("model.layers.0.mlp.up_proj.weight") && err.contains("missing"),
        "{err}"
    );
}

#[test]
fn a_truncated_safetensors_file_is_refused_with_its_name() {
    let dir = copy_of_tiny_llama();
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(dir.path()).to_string();
    assert!(
        err.contains("model.safetensors") && err.contains("truncated"),
        "{err}"
    );
}

#[test]
fn a_broken_chat_template_is_refused_at_load_with_its_line() {
    let dir = copy_of_tiny_llama();
    let path = dir.path().join("tokenizer_config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config["chat_template"] = "{% for m in messages %}\n{{ m.content }\n{% endfor %}".into();
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    let err = load_err(dir.path()).to_string();
    assert!(
        err.contains("chat template") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn a_config_with_a_bad_field_names_it() {
    let dir = copy_of_tiny_llama();
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3");
    std::fs::write(&path, text).unwrap();
    let err = load_err(dir.path()).to_string();
    assert!(
        err.contains("config.json") && err.contains("num_key_value_heads"),
        "{err}"
    );
}

/// `config.json` of a copy of the tiny model with `key` set to `value`.
fn with_config_value(key: &str, value: serde_json::Value) -> tempfile::TempDir {
    let dir = copy_of_tiny_llama();
    let path = dir.path().join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config[key] = value;
    std::fs::write(&path, serde_json::to_vec(&config).unwrap()).unwrap();
    dir
}

#[test]
fn impossible_config_values_are_refused_naming_the_field() {
    for (key, value) in [
        ("rms_norm_eps", serde_json::json!(-1.0)),
        ("rms_norm_eps", serde_json::json!(0.0)),
        ("rope_theta", serde_json::json!(0.0)),
        ("rope_theta", serde_json::json!(-10000.0)),
        ("vocab_size", serde_json::json!(0)),
        ("num_hidden_layers", serde_json::json!(0)),
        ("max_position_embeddings", serde_json::json!(0)),
    ] {
        let dir = with_config_value(key, value.clone());
        let err = load_err(dir.path()).to_string();
        assert!(
            err.contains("config.json") && err.contains(key),
            "{key} = {value}: {err}"
        );
    }
}

#[test]
fn weights_holding_nan_or_infinity_are_refused_naming_the_tensor() {
    for bad in [f32::NAN, f32::INFINITY] {
        let dir = copy_of_tiny_llama();
        rewrite_weights(dir.path(), |t| {
            let name = "model.layers.0.mlp.up_proj.weight";
            let w = t[name].to_dtype(candle_core::DType::F32).unwrap();
            let mut values = w.flatten_all().unwrap().to_vec1::<f32>().unwrap();
            values[7] = bad;
            let shape = w.dims().to_vec();
            t.insert(
                name.into(),
                Tensor::from_vec(values, shape, &Device::Cpu).unwrap(),
            );
        });
        let err = load_err(dir.path()).to_string();
        assert!(
            err.contains("model.layers.0.mlp.up_proj.weight") && err.contains("NaN or infinite"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn a_shard_named_outside_the_model_folder_is_refused() {
    let dir = copy_of_tiny_llama();
    let index = serde_json::json!({
        "weight_map": { "model.embed_tokens.weight": "../elsewhere/model.safetensors" }
    });
    std::fs::write(
        dir.path().join("model.safetensors.index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let err = load_err(dir.path()).to_string();
    assert!(
        err.contains("weight_map") && err.contains("not a file name in the model folder"),
        "{err}"
    );
}

#[test]
fn adapter_configs_with_impossible_or_mistyped_values_are_refused() {
    let lm = crate::load("tiny-llama");
    let src = model_dir("tiny-llama").join("peft-adapter");
    for (key, value, says) in [
        ("lora_alpha", serde_json::json!(1e308), "lora_alpha"),
        ("lora_alpha", serde_json::json!("16"), "expected a number"),
        ("lora_alpha", serde_json::json!(-2), "lora_alpha"),
        (
            "lora_dropout",
            serde_json::json!("0.1"),
            "expected a number",
        ),
        ("use_rslora", serde_json::json!("yes"), "use_rslora"),
        ("r", serde_json::json!(100000), "largest rank"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            src.join("adapter_model.safetensors"),
            dir.path().join("adapter_model.safetensors"),
        )
        .unwrap();
        let mut config: serde_json::Value =
            serde_json::from_slice(&std::fs::read(src.join("adapter_config.json")).unwrap())
                .unwrap();
        config[key] = value.clone();
        std::fs::write(
            dir.path().join("adapter_config.json"),
            serde_json::to_vec(&config).unwrap(),
        )
        .unwrap();
        let err = hone_model::lora::Adapter::load_peft(
            "bad",
            dir.path(),
            &lm.model.linear_specs(),
            lm.model.device(),
        )
        .expect_err("refused")
        .to_string();
        assert!(
            err.contains(key) && err.contains(says),
            "{key} = {value}: {err}"
        );
    }
}

#[test]
fn adapter_weights_holding_nan_are_refused() {
    let lm = crate::load("tiny-llama");
    let src = model_dir("tiny-llama").join("peft-adapter");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        src.join("adapter_config.json"),
        dir.path().join("adapter_config.json"),
    )
    .unwrap();
    let mut tensors =
        candle_core::safetensors::load(src.join("adapter_model.safetensors"), &Device::Cpu)
            .unwrap();
    let key = "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight".to_owned();
    let b = tensors[&key].to_dtype(candle_core::DType::F32).unwrap();
    let nan = (b.ones_like().unwrap() * f64::NAN).unwrap();
    tensors.insert(key.clone(), nan);
    candle_core::safetensors::save(&tensors, dir.path().join("adapter_model.safetensors")).unwrap();
    let err = hone_model::lora::Adapter::load_peft(
        "bad",
        dir.path(),
        &lm.model.linear_specs(),
        lm.model.device(),
    )
    .expect_err("refused")
    .to_string();
    assert!(err.contains(&key) && err.contains("NaN"), "{err}");
}

#[test]
fn asking_for_more_tokens_than_the_context_holds_is_refused_before_decoding() {
    let lm = crate::load("tiny-llama");
    let room = lm.model.config().max_position_embeddings;
    let params = hone_model::sampling::SamplingParams {
        max_new_tokens: room,
        ..Default::default()
    };
    let err = hone_model::generate::generate(&lm, None, &[1, 2, 3], 1, &params, |_| {})
        .expect_err("refused")
        .to_string();
    assert!(
        err.contains("max_new_tokens") && err.contains(&format!("at most {}", room - 3)),
        "{err}"
    );
}
