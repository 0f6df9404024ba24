use std::path::Path;

use crate::{fails, json, ok};

fn sha256s(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn new_tiny_is_deterministic_and_loads() {
    let ws = tempfile::tempdir().unwrap();
    let (a, b) = (ws.path().join("a"), ws.path().join("b"));
    for out in [&a, &b] {
        ok(
            ws.path(),
            &[
                "model",
                "new-tiny",
                "--arch",
                "qwen2",
                "--out",
                out.to_str().unwrap(),
                "--seed",
                "7",
            ],
        );
    }
    let (fa, fb) = (sha256s(&a), sha256s(&b));
    let names: Vec<&str> = fa.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "config.json",
            "generation_config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json"
        ]
    );
    assert!(fa == fb, "the same seed must write the same bytes");
    let info = json(
        ws.path(),
        &["model", "info", a.to_str().unwrap(), "--device", "cpu"],
    );
    assert_eq!(info["model_type"], "qwen2");
    assert_eq!(info["tied_embeddings"], true);
    assert_eq!(info["device"]["device"], "cpu");
    assert_eq!(info["device"]["dtype"], "f32");
    assert_eq!(info["chat_template"], true);
}

#[test]
fn generate_and_score_from_the_command_line() {
    let ws = tempfile::tempdir().unwrap();
    let model = ws.path().join("m");
    ok(
        ws.path(),
        &["model", "new-tiny", "--out", model.to_str().unwrap()],
    );
    let m = model.to_str().unwrap();
    let args = [
        "generate",
        "--model",
        m,
        "--prompt",
        "Hello",
        "--chat",
        "--max-tokens",
        "8",
        "--seed",
        "3",
        "-n",
        "2",
        "--temperature",
        "1.0",
    ];
    let first = json(ws.path(), &args);
    let again = json(ws.path(), &args);
    assert_eq!(first, again, "the same seed gives the same samples");
    assert_eq!(first.as_array().unwrap().len(), 2, "-n 2 gives two samples");
    assert!(first[0]["token_ids"].as_array().unwrap().len() <= 8);

    let scored = json(
        ws.path(),
        &[
            "score",
            "--model",
            m,
            "--prompt",
            "What is two plus two?",
            "--completion",
            "Four.",
            "--chat",
        ],
    );
    let logprobs: Vec<f64> = scored["logprobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(
        logprobs.len(),
        scored["token_ids"].as_array().unwrap().len(),
        "one log-prob per token"
    );
    assert!(
        logprobs.iter().all(|lp| *lp < 0.0),
        "log-probs are negative: {logprobs:?}"
    );
    let sum: f64 = logprobs.iter().sum();
    assert!(
        (sum - scored["sum"].as_f64().unwrap()).abs() < 1e-3,
        "sum is the sum"
    );
}

#[test]
fn model_errors_are_bad_input() {
    let ws = tempfile::tempdir().unwrap();
    let stderr = fails(
        ws.path(),
        &["generate", "--model", "/no/model", "--prompt", "x"],
        2,
    );
    assert!(stderr.contains("/no/model"), "{stderr}");
    let model = ws.path().join("m");
    ok(
        ws.path(),
        &["model", "new-tiny", "--out", model.to_str().unwrap()],
    );
    let stderr = fails(
        ws.path(),
        &[
            "generate",
            "--model",
            model.to_str().unwrap(),
            "--prompt",
            "x",
            "--top-p",
            "2",
        ],
        2,
    );
    assert!(stderr.contains("top_p"), "{stderr}");
    let stderr = fails(
        ws.path(),
        &[
            "generate",
            "--model",
            model.to_str().unwrap(),
            "--prompt",
            "x",
            "--adapter",
            "/no/adapter",
        ],
        2,
    );
    assert!(stderr.contains("/no/adapter"), "{stderr}");
}
