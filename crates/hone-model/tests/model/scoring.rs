use candle_core::{Device, Tensor, D};
use hone_model::chat_template::Message;
use hone_model::lora::LoraContext;
use hone_model::score::{completion_logprobs, score, PromptInput, SequencePair};

use crate::load;

/// log_softmax of the full forward, read at the completion's tokens.
fn reference_logprobs(lm: &hone_model::LoadedModel, pair: &SequencePair) -> Vec<f32> {
    let all: Vec<u32> = pair
        .prompt
        .iter()
        .chain(&pair.completion)
        .copied()
        .collect();
    let ids = Tensor::new(all.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(0)
        .unwrap();
    let logits = lm
        .model
        .forward(&ids, &LoraContext::default())
        .unwrap()
        .squeeze(0)
        .unwrap();
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)
        .unwrap()
        .to_vec2::<f32>()
        .unwrap();
    pair.completion
        .iter()
        .enumerate()
        .map(|(j, &t)| logp[pair.prompt.len() - 1 + j][t as usize])
        .collect()
}

#[test]
fn batched_logprobs_equal_the_full_log_softmax_row_by_row() {
    let lm = load("tiny-qwen2");
    let batch = vec![
        SequencePair {
            prompt: vec![1, 20, 30],
            completion: vec![40, 50, 60, 2],
        },
        SequencePair {
            prompt: vec![1, 21, 31, 41, 51, 61, 71],
            completion: vec![80],
        },
        SequencePair {
            prompt: vec![9],
            completion: vec![10, 11, 12, 13, 14, 15, 16],
        },
    ];
    let scored = score(&lm, None, &batch).unwrap();
    for (pair, got) in batch.iter().zip(&scored) {
        let want = reference_logprobs(&lm, pair);
        assert_eq!(got.token_ids, pair.completion);
        assert_eq!(got.logprobs.len(), want.len());
        for (a, b) in got.logprobs.iter().zip(&want) {
            assert!((a - b).abs() < 1e-4, "log-prob {a} vs reference {b}");
        }
        let sum: f32 = want.iter().sum();
        assert!((got.sum - sum).abs() < 1e-3, "sum {} vs {sum}", got.sum);
    }
    let lp = completion_logprobs(&lm.model, &batch, &LoraContext::default()).unwrap();
    assert_eq!(
        lp.per_token.dims(),
        &[3, 7],
        "padded to the longest completion"
    );
    let mask = lp.mask.to_vec2::<f32>().unwrap();
    assert_eq!(mask[1], vec![1., 0., 0., 0., 0., 0., 0.]);
    let padded = lp.per_token.to_vec2::<f32>().unwrap();
    assert!(
        padded[1][1..].iter().all(|v| *v == 0.0),
        "padding positions hold 0"
    );
}

#[test]
fn chat_pairs_split_at_the_generation_prompt_and_end_with_the_end_of_turn_token() {
    let lm = load("tiny-llama");
    let messages = vec![Message::new("user", "What is two plus two?")];
    let pair = lm
        .encode_pair(&PromptInput::Chat(messages.clone()), "Four.")
        .unwrap();
    let prompt_text = lm.tokenizer.decode(&pair.prompt, false).unwrap();
    let completion_text = lm.tokenizer.decode(&pair.completion, false).unwrap();
    assert!(
        prompt_text.ends_with("<|im_start|>assistant\n"),
        "prompt ends at the generation prompt: {prompt_text:?}"
    );
    assert_eq!(
        completion_text, "Four.<|im_end|>",
        "completion ends with the end-of-turn token"
    );
    let bos = lm.tokenizer.token_id("<|endoftext|>").unwrap();
    assert!(
        pair.prompt.iter().filter(|&&t| t == bos).count() <= 1,
        "BOS is never added twice"
    );
    assert_eq!(
        lm.encode_prompt(&PromptInput::Chat(messages)).unwrap(),
        pair.prompt,
        "generation uses the same prompt tokens"
    );
}

#[test]
fn answer_ranges_cover_the_answer_and_leave_the_end_of_turn_out() {
    let lm = load("tiny-llama");
    let answer = "Paris is in Italy.";
    for prompt in [
        PromptInput::Chat(vec![Message::new("user", "Where is Paris?")]),
        PromptInput::Raw("Where is Paris?".into()),
    ] {
        let tokens = lm.encode_pair_with_answer_ranges(&prompt, answer).unwrap();
        // The same tokens as the pair training scores.
        assert_eq!(tokens.pair, lm.encode_pair(&prompt, answer).unwrap());
        assert_eq!(tokens.ranges.len(), tokens.pair.completion.len());
        // Every character of the answer but spaces lies in some token's range, and each
        // range's text is what its token decodes to (less a leading space).
        let chars: Vec<char> = answer.chars().collect();
        for (i, c) in chars.iter().enumerate() {
            let covered = tokens
                .ranges
                .iter()
                .flatten()
                .any(|(s, e)| (*s..*e).contains(&i));
            assert!(covered || *c == ' ', "character {i} ({c:?}) in no token");
        }
        for (id, range) in tokens.pair.completion.iter().zip(&tokens.ranges) {
            if let Some((s, e)) = range {
                let text: String = chars[*s..*e].iter().collect();
                let decoded = lm.tokenizer.decode(&[*id], false).unwrap();
                assert_eq!(decoded.trim_start(), text.trim_start(), "{prompt:?}");
            }
        }
        if matches!(prompt, PromptInput::Chat(_)) {
            assert_eq!(
                *tokens.ranges.last().unwrap(),
                None,
                "the end of turn is outside"
            );
        }
    }
}
