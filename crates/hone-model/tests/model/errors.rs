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
