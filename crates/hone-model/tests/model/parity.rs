use candle_core::DType;
use hone_model::lora::LoraContext;

use crate::{expected, load, max_diff_masked, model_dir, PARITY_TOL};

/// Logits on the fixture's batch (row 1 right-padded) equal transformers' at every real position.
fn assert_logits_match(name: &str, reference: &str) {
    let lm = load(name);
    let exp = expected(model_dir(reference).join("expected.safetensors"));
    let ids = exp["input_ids"].to_dtype(DType::U32).unwrap();
    let mask = &exp["attention_mask"];
    let logits = lm.model.forward(&ids, &LoraContext::default()).unwrap();
    let diff = max_diff_masked(&logits, &exp["logits"], Some(mask));
    println!("{name}: max |Δlogit| = {diff:e}");
    assert!(
        diff < PARITY_TOL,
        "{name}: logits differ from transformers by {diff} (tolerance {PARITY_TOL})"
    );

    let long = exp["input_ids_long"].to_dtype(DType::U32).unwrap();
    let logits = lm.model.forward(&long, &LoraContext::default()).unwrap();
    let diff = max_diff_masked(&logits, &exp["logits_long"], None);
    println!("{name}: 80 positions, max |Δlogit| = {diff:e}");
    assert!(
        diff < PARITY_TOL,
        "{name}: logits over 80 positions differ by {diff}"
    );
}

#[test]
fn llama_with_grouped_query_attention_matches_transformers() {
    assert_logits_match("tiny-llama", "tiny-llama");
}

#[test]
fn llama3_rope_scaling_and_tied_embeddings_match_transformers() {
    let lm = load("tiny-llama3-tied");
    assert!(lm.model.config().tie_word_embeddings);
    assert_logits_match("tiny-llama3-tied", "tiny-llama3-tied");
}

#[test]
fn qwen2_with_qkv_bias_matches_transformers() {
    assert!(
        load("tiny-qwen2").model.config().qkv_bias,
        "Qwen2 has q/k/v biases"
    );
    assert_logits_match("tiny-qwen2", "tiny-qwen2");
}

#[test]
fn mistral_matches_transformers() {
    assert_logits_match("tiny-mistral", "tiny-mistral");
}

#[test]
fn a_sharded_checkpoint_loads_through_its_index() {
    assert!(model_dir("tiny-llama-sharded")
        .join("model.safetensors.index.json")
        .is_file());
    assert_logits_match("tiny-llama-sharded", "tiny-llama");
}
