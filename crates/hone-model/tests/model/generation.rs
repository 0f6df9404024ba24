use candle_core::{Device, Tensor};
use std::ops::ControlFlow;

use hone_model::generate::{generate, generate_each, generate_until, FinishReason};
use hone_model::lora::LoraContext;
use hone_model::sampling::SamplingParams;

use crate::load;

const PROMPT: [u32; 5] = [0, 45, 120, 33, 210];

#[test]
fn greedy_decoding_with_the_cache_follows_the_argmax_of_the_full_forward() {
    let lm = load("tiny-llama");
    let out = generate(&lm, None, &PROMPT, 1, &SamplingParams::greedy(10), |_| {})
        .unwrap()
        .remove(0);
    // Recompute each step without a cache.
    let mut seq = PROMPT.to_vec();
    let mut want = Vec::new();
    for _ in 0..out.token_ids.len() + usize::from(out.finish_reason == FinishReason::Eos) {
        let ids = Tensor::new(seq.as_slice(), &Device::Cpu)
            .unwrap()
            .unsqueeze(0)
            .unwrap();
        let logits = lm
            .model
            .forward(&ids, &LoraContext::default())
            .unwrap()
            .squeeze(0)
            .unwrap();
        let last = logits
            .get(seq.len() - 1)
            .unwrap()
            .argmax(0)
            .unwrap()
            .to_scalar::<u32>()
            .unwrap();
        want.push(last);
        seq.push(last);
    }
    let mut got = out.token_ids.clone();
    if out.finish_reason == FinishReason::Eos {
        got.push(*want.last().unwrap());
    }
    assert_eq!(
        got, want,
        "greedy generation must pick the full forward's argmax at every step"
    );
}

#[test]
fn the_same_seed_gives_the_same_samples_and_sample_i_does_not_depend_on_n() {
    let lm = load("tiny-qwen2");
    let params = SamplingParams {
        temperature: 1.0,
        top_p: Some(0.95),
        top_k: Some(50),
        max_new_tokens: 12,
        seed: 42,
        ..SamplingParams::default()
    };
    let a = generate(&lm, None, &PROMPT, 3, &params, |_| {}).unwrap();
    let b = generate(&lm, None, &PROMPT, 3, &params, |_| {}).unwrap();
    assert_eq!(a, b, "same seed, same samples");
    let second_alone = generate(
        &lm,
        None,
        &PROMPT,
        1,
        &SamplingParams {
            seed: 43,
            ..params.clone()
        },
        |_| {},
    )
    .unwrap();
    assert_eq!(
        a[1], second_alone[0],
        "sample 1 of seed 42 is sample 0 of seed 43"
    );
    let distinct: std::collections::HashSet<_> = a.iter().map(|g| g.token_ids.clone()).collect();
    assert!(
        distinct.len() > 1,
        "three samples at temperature 1 should not all be equal"
    );
}

#[test]
fn streamed_pieces_add_up_to_the_text_and_limits_are_reported() {
    let lm = load("tiny-llama");
    let mut streamed = String::new();
    let params = SamplingParams {
        temperature: 0.8,
        max_new_tokens: 15,
        seed: 1,
        ..SamplingParams::default()
    };
    let out = generate(&lm, None, &PROMPT, 1, &params, |e| {
        streamed.push_str(e.text)
    })
    .unwrap()
    .remove(0);
    assert_eq!(streamed, out.text, "the streamed pieces are the text");
    if out.finish_reason == FinishReason::Length {
        assert_eq!(out.token_ids.len(), 15, "stopped by max_new_tokens");
    }
}

#[test]
fn a_caller_that_breaks_stops_decoding_and_keeps_the_text_so_far() {
    let lm = load("tiny-llama");
    let params = SamplingParams {
        temperature: 1.0,
        top_p: None,
        max_new_tokens: 40,
        seed: 5,
        ..SamplingParams::default()
    };
    let full = generate(&lm, None, &PROMPT, 1, &params, |_| {})
        .unwrap()
        .remove(0);
    assert!(full.token_ids.len() >= 3, "need a few tokens: {full:?}");
    let (mut pieces, mut streamed) = (0, String::new());
    let stopped = generate_until(&lm, None, &PROMPT, 1, &params, |e| {
        pieces += 1;
        streamed.push_str(e.text);
        if pieces == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap()
    .remove(0);
    assert_eq!(pieces, 2, "no piece after the break");
    assert_eq!(stopped.finish_reason, FinishReason::Cancelled);
    assert_eq!(stopped.text, streamed, "the text streamed before the break");
    assert!(
        full.token_ids.starts_with(&stopped.token_ids)
            && stopped.token_ids.len() < full.token_ids.len(),
        "the same draws, cut short: {:?} vs {:?}",
        stopped.token_ids,
        full.token_ids
    );
}

#[test]
fn a_stop_string_ends_the_sample_and_is_cut() {
    let lm = load("tiny-llama");
    let greedy = generate(&lm, None, &PROMPT, 1, &SamplingParams::greedy(12), |_| {})
        .unwrap()
        .remove(0);
    let chars: Vec<char> = greedy.text.chars().collect();
    assert!(chars.len() >= 4, "need some text to cut: {:?}", greedy.text);
    let stop: String = chars[2..4].iter().collect();
    let cut = generate(
        &lm,
        None,
        &PROMPT,
        1,
        &SamplingParams {
            stop: vec![stop.clone()],
            ..SamplingParams::greedy(12)
        },
        |_| {},
    )
    .unwrap()
    .remove(0);
    assert_eq!(cut.finish_reason, FinishReason::Stop);
    let end = greedy.text.find(&stop).unwrap();
    assert_eq!(
        cut.text,
        greedy.text[..end],
        "text up to the stop string, without it"
    );
}

#[test]
fn bad_sampling_settings_are_refused() {
    let lm = load("tiny-llama");
    for (params, field) in [
        (
            SamplingParams {
                temperature: -1.0,
                ..SamplingParams::default()
            },
            "temperature",
        ),
        (
            SamplingParams {
                top_p: Some(1.5),
                ..SamplingParams::default()
            },
            "top_p",
        ),
        (
            SamplingParams {
                top_k: Some(0),
                ..SamplingParams::default()
            },
            "top_k",
        ),
        (
            SamplingParams {
                max_new_tokens: 0,
                ..SamplingParams::default()
            },
            "max_new_tokens",
        ),
    ] {
        let err = generate(&lm, None, &PROMPT, 1, &params, |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "the error names {field}: {err}");
    }
}

#[test]
fn prompts_of_different_lengths_decoded_together_continue_as_each_alone() {
    // One batch, each prompt padded on the left to the longest (PPO's rollouts): every row
    // must continue as its prompt does alone, greedy or sampled from seed + its index.
    let prompts = vec![
        PROMPT.to_vec(),
        vec![7, 99],
        vec![3, 14, 15, 92, 65, 35, 89, 79, 32],
    ];
    for name in ["tiny-llama", "tiny-qwen2", "tiny-llama3-tied"] {
        let lm = load(name);
        for params in [
            SamplingParams::greedy(12),
            SamplingParams {
                temperature: 1.0,
                max_new_tokens: 12,
                seed: 11,
                ..SamplingParams::default()
            },
        ] {
            let together = generate_each(&lm, None, &prompts, &params, |_| {}).unwrap();
            assert_eq!(together.len(), prompts.len());
            for (i, prompt) in prompts.iter().enumerate() {
                let alone_params = SamplingParams {
                    seed: params.seed + i as u64,
                    ..params.clone()
                };
                let alone = generate(&lm, None, prompt, 1, &alone_params, |_| {})
                    .unwrap()
                    .remove(0);
                assert_eq!(
                    together[i], alone,
                    "{name}, prompt {i}, temperature {}",
                    params.temperature
                );
            }
        }
    }
}

#[test]
fn a_batch_with_an_empty_prompt_is_refused_by_its_index() {
    let lm = load("tiny-llama");
    let prompts = vec![PROMPT.to_vec(), Vec::new()];
    let err = generate_each(&lm, None, &prompts, &SamplingParams::greedy(4), |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("prompts[1]"), "{err}");
    let err = generate_each(&lm, None, &[], &SamplingParams::greedy(4), |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("prompts"), "{err}");
}

#[test]
fn a_cache_padded_for_other_rows_than_the_batch_is_refused() {
    let lm = load("tiny-llama");
    let layers = lm.model.config().num_hidden_layers;
    let input = Tensor::new(&[[5u32, 6, 7], [8, 9, 10]], &Device::Cpu).unwrap();
    let mut cache = hone_model::KvCache::left_padded(layers, vec![1]);
    let err = lm
        .model
        .hidden_states(&input, 0, Some(&mut cache), &LoraContext::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("cache") && err.contains("2"), "{err}");
    // Padding for both rows is taken.
    let mut cache = hone_model::KvCache::left_padded(layers, vec![1, 0]);
    let hidden = lm
        .model
        .hidden_states(&input, 0, Some(&mut cache), &LoraContext::default())
        .unwrap();
    assert_eq!(hidden.dims3().unwrap().0, 2);
}
