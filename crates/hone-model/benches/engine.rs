//! Engine throughput on a ~125M-parameter Llama with random weights: forward, LoRA
//! forward+backward, and greedy generation, in tokens per second. Prints one JSON object;
//! `bench/run.sh` runs it beside the PyTorch + transformers + PEFT peer
//! (`bench/peer_pytorch.py`) with the same sizes and threads, and prints the ratios.
//!
//! `cargo bench -p hone-model --bench engine` (set BENCH_QUICK=1 for a smaller config, or
//! BENCH_MODEL=DIR to measure a real model folder, e.g. SmolLM2 imported from its GGUF).

use std::collections::HashMap;

// As the `hone` binary does (crates/hone-cli/src/allocator.rs): freed tensor buffers are
// reused instead of returned to the OS.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
use std::sync::Mutex;
use std::time::Instant;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use hone_model::generate::generate;
use hone_model::lora::{Adapter, LoraConfig, LoraContext};
use hone_model::sampling::SamplingParams;
use hone_model::score::{completion_logprobs, SequencePair};
use hone_model::{Config, DeviceInfo, Model};
use rand::SeedableRng;
use serde_json::json;

fn config(quick: bool) -> serde_json::Value {
    let (hidden, layers, inter, vocab, heads) = if quick {
        (256, 4, 688, 8000, 8)
    } else {
        (768, 12, 2048, 32000, 12)
    };
    json!({
        "model_type": "llama", "vocab_size": vocab, "hidden_size": hidden, "intermediate_size": inter,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": 4, "head_dim": hidden / heads,
        "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "max_position_embeddings": 1024, "tie_word_embeddings": false,
        "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2
    })
}

fn random_model(cfg: &Config) -> Model {
    let dev = Device::Cpu;
    let mut tensors = HashMap::new();
    let random = |shape: &[usize]| Tensor::randn(0f32, 0.02, shape, &Device::Cpu).unwrap();
    let ones = |n: usize| Tensor::ones(n, DType::F32, &Device::Cpu).unwrap();
    let (h, i, v) = (cfg.hidden_size, cfg.intermediate_size, cfg.vocab_size);
    let (q, kv) = (
        cfg.num_attention_heads * cfg.head_dim,
        cfg.num_key_value_heads * cfg.head_dim,
    );
    tensors.insert("model.embed_tokens.weight".to_string(), random(&[v, h]));
    tensors.insert("lm_head.weight".into(), random(&[v, h]));
    for l in 0..cfg.num_hidden_layers {
        let p = format!("model.layers.{l}");
        for (m, o, inp) in [
            ("q_proj", q, h),
            ("k_proj", kv, h),
            ("v_proj", kv, h),
            ("o_proj", h, q),
        ] {
            tensors.insert(format!("{p}.self_attn.{m}.weight"), random(&[o, inp]));
        }
        for (m, o, inp) in [("gate_proj", i, h), ("up_proj", i, h), ("down_proj", h, i)] {
            tensors.insert(format!("{p}.mlp.{m}.weight"), random(&[o, inp]));
        }
        tensors.insert(format!("{p}.input_layernorm.weight"), ones(h));
        tensors.insert(format!("{p}.post_attention_layernorm.weight"), ones(h));
    }
    tensors.insert("model.norm.weight".into(), ones(h));
    Model::new(cfg, VarBuilder::from_tensors(tensors, DType::F32, &dev)).unwrap()
}

/// The process's peak resident memory (VmHWM), in MiB.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Median seconds of `reps` runs after one warm-up (NaN, and nothing run, when `reps` is 0).
fn time(reps: usize, mut f: impl FnMut()) -> f64 {
    if reps == 0 {
        return f64::NAN;
    }
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[reps / 2]
}

fn main() {
    // Safety: sets a process-wide allocator option.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    let quick = std::env::var_os("BENCH_QUICK").is_some_and(|v| !v.is_empty());
    let model = match std::env::var_os("BENCH_MODEL").filter(|v| !v.is_empty()) {
        Some(dir) => {
            hone_model::LoadedModel::load(std::path::Path::new(&dir), DeviceInfo::cpu("bench"))
                .unwrap_or_else(|e| panic!("BENCH_MODEL: {e}"))
                .model
        }
        None => random_model(&Config::from_value(config(quick)).unwrap()),
    };
    let cfg = model.config().clone();
    let (batch, seq, reps) = (4usize, 128usize, 5usize);
    let ids: Vec<u32> = (0..batch * seq)
        .map(|i| (i * 7919 % (cfg.vocab_size - 3) + 3) as u32)
        .collect();
    let input = Tensor::from_vec(ids.clone(), (batch, seq), &Device::Cpu).unwrap();

    // BENCH_ONLY=train (or forward, dpo, generate) runs one measure: under a profiler, or
    // alone so that the peak memory is that measure's.
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let run = |name: &str| only.is_empty() || only == name;
    let reps_for = |name: &str| if run(name) { reps } else { 0 };
    let forward = time(reps_for("forward"), || {
        let h = model
            .hidden_states(&input, 0, None, &LoraContext::default())
            .unwrap();
        model.logits(&h).unwrap();
    });

    let lora = LoraConfig::new(8, 16.0, 0.0, &["all-linear"], false).unwrap();
    let adapter = Adapter::new("bench", lora, &model.linear_specs(), 0, &Device::Cpu).unwrap();
    let rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(0));
    let pairs: Vec<SequencePair> = ids
        .chunks(seq)
        .map(|row| SequencePair {
            prompt: row[..seq / 2].to_vec(),
            completion: row[seq / 2..].to_vec(),
        })
        .collect();
    let train = time(reps_for("train"), || {
        let lp =
            completion_logprobs(&model, &pairs, &LoraContext::training(&adapter, &rng)).unwrap();
        let loss = lp.sums().unwrap().neg().unwrap().mean_all().unwrap();
        loss.backward().unwrap();
    });

    // DPO step: chosen and rejected of 4 pairs in one forward (as TRL concatenates them), the
    // reference log-probs cached beforehand (as Hone and TRL's precompute do), sigmoid loss.
    let dpo_pairs: Vec<SequencePair> = pairs
        .iter()
        .flat_map(|p| {
            let rejected: Vec<u32> = p
                .completion
                .iter()
                .map(|t| (t + 1) % cfg.vocab_size as u32)
                .collect();
            [
                p.clone(),
                SequencePair {
                    prompt: p.prompt.clone(),
                    completion: rejected,
                },
            ]
        })
        .collect();
    let reference = completion_logprobs(&model, &dpo_pairs, &LoraContext::default())
        .unwrap()
        .sums()
        .unwrap()
        .detach();
    let dpo = time(reps_for("dpo"), || {
        let lp = completion_logprobs(&model, &dpo_pairs, &LoraContext::training(&adapter, &rng))
            .unwrap();
        let ratios = (lp.sums().unwrap() - &reference)
            .unwrap()
            .reshape((batch, 2))
            .unwrap();
        let margin = (ratios.narrow(1, 0, 1).unwrap() - ratios.narrow(1, 1, 1).unwrap()).unwrap();
        // −log σ(βΔ) = softplus(−βΔ), written out with candle ops.
        let x = (margin * -0.1).unwrap();
        let loss = (x.relu().unwrap()
            + (x.abs().unwrap().neg().unwrap().exp().unwrap() + 1.0)
                .unwrap()
                .log()
                .unwrap())
        .unwrap()
        .mean_all()
        .unwrap();
        loss.backward().unwrap();
    });

    let new_tokens = 64;
    let lm = hone_model::LoadedModel {
        dir: "bench".into(),
        model: model.clone(),
        tokenizer: hone_model::tokenizer::Tokenizer::from_tokenizer(tokenizers::Tokenizer::new(
            tokenizers::models::bpe::BPE::default(),
        )),
        chat_template: None,
        eos_token_ids: vec![],
        device: DeviceInfo::cpu("bench"),
    };
    let prompt: Vec<u32> = ids[..16].to_vec();
    let generation = time(reps_for("generate"), || {
        let out = generate(
            &lm,
            None,
            &prompt,
            1,
            &SamplingParams::greedy(new_tokens),
            |_| {},
        )
        .unwrap();
        assert_eq!(out[0].token_ids.len(), new_tokens);
    });

    let report = json!({
        "engine": "hone (candle)",
        "parameters": cfg.parameter_count(),
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "forward_tokens_per_s": (batch * seq) as f64 / forward,
        "lora_train_tokens_per_s": (batch * seq) as f64 / train,
        "generate_tokens_per_s": new_tokens as f64 / generation,
        "dpo_tokens_per_s": (2 * batch * seq) as f64 / dpo,
        "peak_rss_mib": peak_rss_mib(),
        "seconds": { "forward": forward, "lora_train": train, "dpo": dpo, "generate": generation },
        "shape": { "batch": batch, "seq": seq, "new_tokens": new_tokens, "lora_rank": 8 },
    });
    println!("{}", serde_json::to_string_pretty(&report).unwrap());
}
