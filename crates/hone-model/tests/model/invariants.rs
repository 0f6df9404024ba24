use std::sync::Mutex;

use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use hone_model::lora::{Adapter, LoraConfig, LoraContext};
use hone_model::score::{completion_logprobs, SequencePair};
use hone_model::KvCache;
use rand::SeedableRng;

use crate::{load, max_diff};

fn ids(tokens: &[u32]) -> Tensor {
    Tensor::new(tokens, &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap()
}

const TOKENS: [u32; 20] = [
    5, 77, 301, 12, 9, 250, 44, 3, 180, 99, 7, 310, 64, 128, 2, 17, 222, 383, 1, 56,
];

#[test]
fn decoding_with_the_kv_cache_equals_the_full_forward() {
    for name in ["tiny-llama", "tiny-qwen2", "tiny-llama3-tied"] {
        let lm = load(name);
        let lora = LoraContext::default();
        let full = lm.model.forward(&ids(&TOKENS), &lora).unwrap();
        let mut cache = KvCache::new(lm.model.config().num_hidden_layers);
        let first = lm
            .model
            .hidden_states(&ids(&TOKENS[..12]), 0, Some(&mut cache), &lora)
            .unwrap();
        let mut pieces = vec![lm.model.logits(&first).unwrap()];
        for t in 12..TOKENS.len() {
            let h = lm
                .model
                .hidden_states(
                    &ids(&TOKENS[t..t + 1]),
                    cache.len(),
                    Some(&mut cache),
                    &lora,
                )
                .unwrap();
            pieces.push(lm.model.logits(&h).unwrap());
        }
        assert_eq!(cache.len(), TOKENS.len());
        let incremental = Tensor::cat(&pieces, 1).unwrap();
        let diff = max_diff(&full, &incremental);
        assert!(
            diff < 1e-4,
            "{name}: cached decoding differs from the full forward by {diff}"
        );
    }
}

fn fresh_adapter(lm: &hone_model::LoadedModel, r: usize, alpha: f64) -> Adapter {
    let config = LoraConfig::new(r, alpha, 0.0, &["all-linear"], false).unwrap();
    Adapter::new(
        "test",
        config,
        &lm.model.linear_specs(),
        11,
        lm.model.device(),
    )
    .unwrap()
}

/// Fills every B with noise, so the adapter does something.
/// Two prompt/completion rows of different lengths (the batch is padded).
fn two_sequences() -> [SequencePair; 2] {
    [
        SequencePair {
            prompt: vec![1, 40, 41, 42],
            completion: vec![100, 101, 102, 2],
        },
        SequencePair {
            prompt: vec![1, 50],
            completion: vec![7, 8, 9, 10, 11, 2],
        },
    ]
}

fn randomise_b(adapter: &Adapter) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(5);
    for (_, branch) in adapter.branches() {
        let shape = branch.b.as_tensor().dims().to_vec();
        let n: usize = shape.iter().product();
        let values: Vec<f32> = (0..n)
            .map(|_| rand::Rng::random_range(&mut rng, -0.3..0.3))
            .collect();
        branch
            .b
            .set(&Tensor::from_vec(values, shape, &Device::Cpu).unwrap())
            .unwrap();
    }
}

#[test]
fn a_fresh_adapter_with_b_zero_is_the_base_model_even_when_alpha_differs_from_r() {
    let lm = load("tiny-qwen2");
    let adapter = fresh_adapter(&lm, 4, 32.0);
    let base = lm
        .model
        .forward(&ids(&TOKENS), &LoraContext::default())
        .unwrap();
    let with = lm
        .model
        .forward(&ids(&TOKENS), &LoraContext::inference(Some(&adapter)))
        .unwrap();
    assert_eq!(
        max_diff(&base, &with),
        0.0,
        "B = 0 must add nothing, whatever the scale"
    );
    for (path, branch) in adapter.branches() {
        let a = branch
            .a
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let bound = 1.0 / (branch.a.as_tensor().dim(1).unwrap() as f32).sqrt();
        assert!(
            a.iter().all(|v| v.abs() <= bound),
            "{path}: A must be U(±1/√in)"
        );
        assert!(a.iter().any(|v| *v != 0.0), "{path}: A must not be zero");
    }
}

#[test]
fn merged_equals_unmerged_and_the_switch_turns_the_adapter_off() {
    let mut lm = load("tiny-llama");
    let adapter = fresh_adapter(&lm, 8, 16.0);
    randomise_b(&adapter);
    let base = lm
        .model
        .forward(&ids(&TOKENS), &LoraContext::default())
        .unwrap();
    let on = lm
        .model
        .forward(&ids(&TOKENS), &LoraContext::inference(Some(&adapter)))
        .unwrap();
    assert!(
        max_diff(&base, &on) > 0.1,
        "the randomised adapter must change the logits"
    );
    let off = lm
        .model
        .forward(&ids(&TOKENS), &LoraContext::default())
        .unwrap();
    assert_eq!(
        max_diff(&base, &off),
        0.0,
        "switching the adapter off gives the base model again"
    );
    lm.model.merge_adapter(&adapter).unwrap();
    let merged = lm
        .model
        .forward(&ids(&TOKENS), &LoraContext::default())
        .unwrap();
    let diff = max_diff(&on, &merged);
    assert!(
        diff < 1e-4,
        "merged weights differ from the adapter applied on the fly by {diff}"
    );
}

#[test]
fn after_one_optimiser_step_every_lora_matrix_has_a_gradient() {
    for name in ["tiny-llama", "tiny-qwen2"] {
        let lm = load(name);
        let config = LoraConfig::new(4, 8.0, 0.1, &["all-linear"], false).unwrap();
        let adapter = Adapter::new(
            "train",
            config,
            &lm.model.linear_specs(),
            3,
            lm.model.device(),
        )
        .unwrap();
        let rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(1));
        let batch = two_sequences();
        let loss = |adapter: &Adapter| -> Tensor {
            let lp = completion_logprobs(&lm.model, &batch, &LoraContext::training(adapter, &rng))
                .unwrap();
            lp.sums().unwrap().neg().unwrap().mean_all().unwrap()
        };
        let mut opt = AdamW::new(
            adapter.vars(),
            ParamsAdamW {
                lr: 1e-2,
                weight_decay: 0.0,
                ..Default::default()
            },
        )
        .unwrap();
        let first = loss(&adapter);
        opt.backward_step(&first).unwrap();
        let second = loss(&adapter);
        let grads = second.backward().unwrap();
        let vars: Vec<Var> = adapter.vars();
        assert_eq!(
            vars.len(),
            2 * 7 * 2,
            "{name}: A and B for 7 projections in 2 layers"
        );
        for (i, var) in vars.iter().enumerate() {
            let g = grads
                .get(var.as_tensor())
                .unwrap_or_else(|| panic!("{name}: var {i} has no gradient"));
            let norm = g
                .sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_dtype(DType::F32)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(
                norm > 0.0,
                "{name}: LoRA var {i} got a zero gradient: a gradient-cutting op is in the path"
            );
        }
        let (l1, l2) = (
            first.to_scalar::<f32>().unwrap(),
            second.to_scalar::<f32>().unwrap(),
        );
        assert!(
            l2 < l1,
            "{name}: one step must lower the loss ({l1} → {l2})"
        );
    }
}

/// The training pass (graph kept: Hone's fused differentiable softmax, RMSNorm and RoPE on
/// the CPU) computes what the inference pass (candle's fused kernels) computes, and its
/// gradient is the loss's derivative: along a random direction in the adapter's matrices it
/// equals a finite difference.
#[test]
fn the_training_pass_equals_the_inference_pass_and_its_gradient_a_finite_difference() {
    for name in ["tiny-llama", "tiny-qwen2"] {
        let lm = load(name);
        let adapter = fresh_adapter(&lm, 4, 8.0);
        randomise_b(&adapter);
        let rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(1));
        let batch = two_sequences();
        let loss = |lora: &LoraContext| -> Tensor {
            let lp = completion_logprobs(&lm.model, &batch, lora).unwrap();
            lp.sums().unwrap().neg().unwrap().mean_all().unwrap()
        };
        let train =
            completion_logprobs(&lm.model, &batch, &LoraContext::training(&adapter, &rng)).unwrap();
        let infer = completion_logprobs(&lm.model, &batch, &LoraContext::inference(Some(&adapter)))
            .unwrap();
        let diff = max_diff(&train.per_token, &infer.per_token);
        assert!(
            diff < 1e-5,
            "{name}: training and inference log-probs differ by {diff}"
        );

        let grads = loss(&LoraContext::training(&adapter, &rng))
            .backward()
            .unwrap();
        let mut dir_rng = rand::rngs::StdRng::seed_from_u64(9);
        let vars = adapter.vars();
        let directions: Vec<Tensor> = vars
            .iter()
            .map(|v| {
                let shape = v.as_tensor().dims().to_vec();
                let n: usize = shape.iter().product();
                let values: Vec<f32> = (0..n)
                    .map(|_| rand::Rng::random_range(&mut dir_rng, -1.0..1.0))
                    .collect();
                Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
            })
            .collect();
        let scalar = |t: &Tensor| t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
        let analytic: f64 = vars
            .iter()
            .zip(&directions)
            .map(|(v, d)| {
                scalar(
                    &(grads.get(v.as_tensor()).unwrap() * d)
                        .unwrap()
                        .sum_all()
                        .unwrap(),
                )
            })
            .sum();
        let originals: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().copy().unwrap()).collect();
        let shifted = |step: f64| -> f64 {
            for ((v, d), o) in vars.iter().zip(&directions).zip(&originals) {
                v.set(&(o + (d * step).unwrap()).unwrap()).unwrap();
            }
            scalar(&loss(&LoraContext::inference(Some(&adapter))))
        };
        let central = |h: f64| (shifted(h) - shifted(-h)) / (2.0 * h);
        // Richardson's extrapolation cancels the h² term of the central difference.
        let h = 2e-3;
        let numeric = (4.0 * central(h / 2.0) - central(h)) / 3.0;
        for (v, o) in vars.iter().zip(&originals) {
            v.set(o).unwrap();
        }
        let rel = (analytic - numeric).abs() / numeric.abs().max(1e-3);
        assert!(
            rel < 1e-2,
            "{name}: directional derivative {analytic} vs finite difference {numeric}"
        );
    }
}

/// Gradient checkpointing recomputes each layer in the backward with the masks of its first
/// pass: the loss and every adapter gradient are those of the plain pass, dropout on, on
/// models with biases and tied embeddings too.
#[test]
fn checkpointed_layers_give_the_loss_and_gradients_of_the_plain_pass() {
    for name in ["tiny-llama", "tiny-qwen2", "tiny-llama3-tied"] {
        let lm = load(name);
        let config = LoraConfig::new(4, 8.0, 0.2, &["all-linear"], false).unwrap();
        let adapter = Adapter::new(
            "ckpt",
            config,
            &lm.model.linear_specs(),
            3,
            lm.model.device(),
        )
        .unwrap();
        randomise_b(&adapter);
        let batch = two_sequences();
        let run = |checkpoint: bool| {
            let rng = Mutex::new(rand::rngs::StdRng::seed_from_u64(11));
            let lora = LoraContext::training(&adapter, &rng).checkpointing(checkpoint);
            let loss = completion_logprobs(&lm.model, &batch, &lora)
                .unwrap()
                .sums()
                .unwrap()
                .neg()
                .unwrap()
                .mean_all()
                .unwrap();
            let grads = loss.backward().unwrap();
            let grads: Vec<Tensor> = adapter
                .vars()
                .iter()
                .map(|v| grads.get(v.as_tensor()).expect("a gradient").clone())
                .collect();
            (loss.to_scalar::<f32>().unwrap(), grads)
        };
        let (plain_loss, plain) = run(false);
        let (ckpt_loss, ckpt) = run(true);
        assert!(
            (plain_loss - ckpt_loss).abs() < 1e-5,
            "{name}: loss {plain_loss} plain, {ckpt_loss} checkpointed"
        );
        let mut largest = 0f32;
        for (i, (p, c)) in plain.iter().zip(&ckpt).enumerate() {
            let scale = p
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(scale > 0.0, "{name}: var {i} has a zero gradient");
            let diff = max_diff(p, c);
            largest = largest.max(diff / scale);
        }
        assert!(
            largest < 1e-4,
            "{name}: checkpointed gradients differ by {largest} (relative to the largest entry)"
        );
    }
}
