use std::path::Path;

use crate::{fails, hone, json, ok};

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
    let model = new_tiny_model(ws.path());
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

/// The tokens of `text` as a user message in `model`'s chat template (as `hone score --chat`
/// renders it).
/// A tiny random model written by `hone model new-tiny` into `ws/m`.
fn new_tiny_model(ws: &Path) -> std::path::PathBuf {
    let model = ws.join("m");
    ok(ws, &["model", "new-tiny", "--out", model.to_str().unwrap()]);
    model
}

fn chat_prompt_tokens(ws: &Path, model: &Path, text: &str) -> usize {
    let model = model.to_str().unwrap();
    let scored = json(
        ws,
        &[
            "score",
            "--model",
            model,
            "--prompt",
            text,
            "--completion",
            "x",
            "--chat",
        ],
    );
    scored["prompt_token_ids"].as_array().unwrap().len()
}

#[test]
fn verbose_generation_tells_the_prompts_and_the_generations_speed() {
    let ws = tempfile::tempdir().unwrap();
    let model = new_tiny_model(ws.path());
    let args = [
        "generate",
        "--model",
        model.to_str().unwrap(),
        "--prompt",
        "Hello",
        "--chat",
        "--max-tokens",
        "12",
        "--temperature",
        "0",
    ];
    let samples = json(ws.path(), &args);
    let tokens = samples[0]["token_ids"].as_array().unwrap().len();
    let prompt = chat_prompt_tokens(ws.path(), &model, "Hello");
    let out = hone(ws.path(), &[&args[..], &["--verbose"]].concat());
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The speed goes to stderr, the text to stdout as without --verbose.
    if tokens == 0 {
        assert!(stderr.contains("no text generated"), "{stderr}");
        return;
    }
    assert!(
        stderr.contains(&format!("prompt {prompt} tokens and the first token in ")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "generation {} tokens after the first in ",
            tokens - 1
        )),
        "{stderr}"
    );
    assert!(stderr.contains("tokens/s"), "{stderr}");
}

#[test]
fn the_generation_bench_times_a_chat_prompts_pass_apart() {
    let ws = tempfile::tempdir().unwrap();
    let model = new_tiny_model(ws.path());
    let m = model.to_str().unwrap();
    let prompt = chat_prompt_tokens(ws.path(), &model, "How cold is a fridge?");
    let engine = json(
        ws.path(),
        &[
            "bench",
            "engine",
            "--model",
            m,
            "--only",
            "generate",
            "--chat-prompt",
            "How cold is a fridge?",
            "--new-tokens",
            "6",
            "--reps",
            "2",
        ],
    );
    // The prompt is the chat template's rendering of the user message, as `generate --chat`.
    assert_eq!(engine["prompt_tokens"].as_u64().unwrap() as usize, prompt);
    assert!(
        engine["prompt_tokens_per_s"].as_f64().unwrap() > 0.0,
        "{engine}"
    );
    assert!(
        engine["generate_tokens_per_s"].as_f64().unwrap() > 0.0,
        "{engine}"
    );
    assert!(engine["seconds"]["chat_prompt"].as_f64().unwrap() > 0.0);
    // Without a chat prompt, no prompt rate.
    let plain = json(
        ws.path(),
        &[
            "bench",
            "engine",
            "--model",
            m,
            "--only",
            "generate",
            "--new-tokens",
            "4",
            "--reps",
            "1",
        ],
    );
    assert!(plain["prompt_tokens_per_s"].is_null(), "{plain}");
    assert!(plain["generate_tokens_per_s"].as_f64().unwrap() > 0.0);
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
    let model = new_tiny_model(ws.path());
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

#[test]
fn a_folder_written_as_gguf_is_a_model_again_and_bad_files_exit_2() {
    let ws = tempfile::tempdir().unwrap();
    let w = ws.path();
    let tiny = w.join("tiny");
    ok(
        w,
        &[
            "model",
            "new-tiny",
            "--arch",
            "qwen2",
            "--out",
            tiny.to_str().unwrap(),
        ],
    );
    let gguf = w.join("tiny.gguf");
    let report = json(
        w,
        &[
            "model",
            "to-gguf",
            tiny.to_str().unwrap(),
            "--out",
            gguf.to_str().unwrap(),
            "--quant",
            "q8_0",
        ],
    );
    assert_eq!(report["file"], gguf.to_str().unwrap());
    let from_folder = json(w, &["model", "info", tiny.to_str().unwrap()]);
    let from_file = json(w, &["model", "info", gguf.to_str().unwrap()]);
    for key in [
        "model_type",
        "parameters",
        "layers",
        "heads",
        "kv_heads",
        "vocab_size",
        "tied_embeddings",
    ] {
        assert_eq!(from_file[key], from_folder[key], "{key} of the GGUF file");
    }
    assert_eq!(from_folder["quantized"], false);
    assert_eq!(
        from_file["quantized"], true,
        "the q8_0 file runs from its blocks"
    );
    let imported = w.join("imported");
    let report = json(
        w,
        &[
            "model",
            "import-gguf",
            gguf.to_str().unwrap(),
            "--out",
            imported.to_str().unwrap(),
        ],
    );
    // down_proj's 176-wide rows do not fill 32-value blocks: kept in f16.
    assert_eq!(
        (
            report["source"]["tensor_types"]["Q8_0"].as_u64(),
            report["source"]["tensor_types"]["F16"].as_u64()
        ),
        (Some(13), Some(2)),
        "the embedding and 12 projections in q8_0, the two down_proj in f16"
    );
    let stderr = fails(
        w,
        &[
            "model",
            "import-gguf",
            gguf.to_str().unwrap(),
            "--out",
            imported.to_str().unwrap(),
        ],
        2,
    );
    assert!(stderr.contains("not empty"), "{stderr}");
    let not_gguf = w.join("notes.gguf");
    std::fs::write(&not_gguf, "just text").unwrap();
    let stderr = fails(
        w,
        &[
            "model",
            "import-gguf",
            not_gguf.to_str().unwrap(),
            "--out",
            w.join("x").to_str().unwrap(),
        ],
        2,
    );
    assert!(stderr.contains("is not a GGUF file"), "{stderr}");
    assert!(!w.join("x").exists(), "nothing written for a refused file");
}

#[test]
fn the_device_flag_is_global_checked_and_read_from_the_environment() {
    let ws = tempfile::tempdir().unwrap();
    let model = new_tiny_model(ws.path());
    let err = fails(
        ws.path(),
        &["--device", "gpu", "model", "info", model.to_str().unwrap()],
        2,
    );
    assert!(
        err.contains("expected auto, cpu, cuda, cuda:N or metal"),
        "{err}"
    );
    // This build has no CUDA: asking for it says how to get it, naming the field.
    let err = fails(
        ws.path(),
        &["model", "info", model.to_str().unwrap(), "--device", "cuda"],
        2,
    );
    assert!(
        err.contains("device") && err.contains("--features cuda"),
        "{err}"
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hone"))
        .args(["--workspace", ws.path().to_str().unwrap()])
        .args(["model", "info", model.to_str().unwrap(), "--json"])
        .env("HONE_DEVICE", "cpu")
        .output()
        .unwrap();
    assert!(out.status.success());
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["device"]["reason"], "asked for the CPU");
}

#[test]
fn bench_measures_speed_and_parity_on_a_shaped_model() {
    let ws = tempfile::tempdir().unwrap();
    let model = ws.path().join("shaped");
    ok(
        ws.path(),
        &[
            "model",
            "new-tiny",
            "--shape",
            "tiny",
            "--out",
            model.to_str().unwrap(),
        ],
    );
    let m = model.to_str().unwrap();
    let parity = json(
        ws.path(),
        &[
            "--device", "cpu", "bench", "parity", "--model", m, "--steps", "3",
        ],
    );
    assert_eq!(parity["device"]["device"], "cpu");
    assert_eq!(parity["low_dtype"], "bf16");
    let f32_diff = parity["f32_max_abs_diff"].as_f64().unwrap();
    assert!(f32_diff < 1e-4, "composed vs fused f32: {f32_diff}");
    let low = parity["low_max_abs_diff"].as_f64().unwrap();
    assert!(low > 0.0 && low < 0.5, "bf16 vs f32: {low}");
    for stage in ["sft", "dpo"] {
        let c = &parity[stage];
        assert_eq!(c["reference"].as_array().unwrap().len(), 3, "{stage}");
        assert_eq!(c["device"].as_array().unwrap().len(), 3, "{stage}");
        assert!(c["max_abs_diff"].as_f64().unwrap() < 0.1, "{stage}: {c}");
    }
    let engine = json(
        ws.path(),
        &[
            "bench", "engine", "--model", m, "--only", "train", "--seq", "16", "--reps", "1",
        ],
    );
    assert!(engine["lora_train_tokens_per_s"].as_f64().unwrap() > 0.0);
    assert!(
        engine["forward_tokens_per_s"].is_null(),
        "only the train measure ran"
    );
    let mfu = engine["train_mfu_of_measured_peak"].as_f64().unwrap();
    assert!(mfu > 0.0 && mfu < 1.5, "{mfu}");
    let err = fails(
        ws.path(),
        &["bench", "engine", "--model", m, "--only", "backward"],
        2,
    );
    assert!(
        err.contains("expected forward, train, dpo or generate"),
        "{err}"
    );
}
