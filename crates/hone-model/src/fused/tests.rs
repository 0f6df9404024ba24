use candle_core::{Device, Var, D};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::kernels::GRAIN;
use super::*;
use crate::test_tensors::{assert_same_output_and_gradients, max_diff, random};

/// Runs `fused` and `slow` on the same variable: the outputs, and the gradients of
/// `Σ op(x)·r` for a random `r`, must agree.
fn check(
    rng: &mut StdRng,
    x: Tensor,
    input: impl Fn(&Tensor) -> Tensor,
    fused: impl Fn(&Tensor) -> Tensor,
    slow: impl Fn(&Tensor) -> Tensor,
) {
    check_within(1e-6, rng, x, input, fused, slow)
}

/// [`check`] with the forward's tolerance given (sums over long rows differ in the order they
/// add).
fn check_within(
    forward_tolerance: f32,
    rng: &mut StdRng,
    x: Tensor,
    input: impl Fn(&Tensor) -> Tensor,
    fused: impl Fn(&Tensor) -> Tensor,
    slow: impl Fn(&Tensor) -> Tensor,
) {
    let x = Var::from_tensor(&x).unwrap();
    let (a, b) = (fused(&input(x.as_tensor())), slow(&input(x.as_tensor())));
    let forward = max_diff(&a, &b);
    assert!(forward <= forward_tolerance, "forward differs by {forward}");
    let r = random(rng, a.dims());
    let grad = |y: &Tensor| {
        (y * &r)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap()
            .get(x.as_tensor())
            .unwrap()
            .clone()
    };
    let backward = max_diff(&grad(&a), &grad(&b));
    assert!(backward <= 1e-5, "input gradient differs by {backward}");
}

#[test]
fn softmax_and_its_gradient_equal_candles_composed_softmax() {
    let mut rng = StdRng::seed_from_u64(1);
    let x = random(&mut rng, &[2, 3, 5, 7]);
    let same = |x: &Tensor| x.clone();
    check(
        &mut rng,
        x,
        same,
        |x| softmax_last_dim(x).unwrap(),
        |x| candle_nn::ops::softmax(x, D::Minus1).unwrap(),
    );
}

#[test]
fn softmax_of_a_causally_masked_score_matrix_matches_the_composed_path() {
    let mut rng = StdRng::seed_from_u64(2);
    let (t, s) = (6, 6);
    let mask: Vec<f32> = (0..t * s)
        .map(|k| {
            if k % s > k / s {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    let mask = Tensor::from_vec(mask, (t, s), &Device::Cpu).unwrap();
    let masked = |x: &Tensor| x.broadcast_add(&mask).unwrap();
    let x = random(&mut rng, &[2, t, s]);
    check(
        &mut rng,
        x,
        masked,
        |x| softmax_last_dim(x).unwrap(),
        |x| candle_nn::ops::softmax(x, D::Minus1).unwrap(),
    );
}

#[test]
fn softmax_of_rows_split_across_threads_matches_the_composed_path() {
    let mut rng = StdRng::seed_from_u64(7);
    let x = random(&mut rng, &[3, 20, 700]);
    assert!(x.elem_count() > 2 * GRAIN, "several tasks");
    let same = |x: &Tensor| x.clone();
    check(
        &mut rng,
        x,
        same,
        |x| softmax_last_dim(x).unwrap(),
        |x| candle_nn::ops::softmax(x, D::Minus1).unwrap(),
    );
}

#[test]
fn rms_norm_and_its_input_gradient_equal_candles_rms_norm_slow() {
    let mut rng = StdRng::seed_from_u64(3);
    let w = random(&mut rng, &[16]);
    let x = random(&mut rng, &[2, 5, 16]);
    let same = |x: &Tensor| x.clone();
    check(
        &mut rng,
        x,
        same,
        |x| rms_norm_frozen_weight(x, &w, 1e-5).unwrap(),
        |x| candle_nn::ops::rms_norm_slow(x, &w, 1e-5).unwrap(),
    );
}

#[test]
fn rms_norm_leaves_its_weight_without_a_gradient() {
    let mut rng = StdRng::seed_from_u64(4);
    let w = Var::from_tensor(&random(&mut rng, &[8])).unwrap();
    let x = Var::from_tensor(&random(&mut rng, &[3, 8])).unwrap();
    let grads = rms_norm_frozen_weight(x.as_tensor(), w.as_tensor(), 1e-6)
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    assert!(grads.get(x.as_tensor()).is_some());
    assert!(grads.get(w.as_tensor()).is_none());
}

#[test]
fn rope_of_a_transposed_input_and_its_gradient_equal_candles_rope_slow() {
    let mut rng = StdRng::seed_from_u64(5);
    let (b, h, t, d, positions, offset) = (2, 3, 4, 8, 10, 3);
    // As rope.rs passes them: rows `offset..offset + t` of the full tables.
    let cos = random(&mut rng, &[positions, d / 2])
        .narrow(0, offset, t)
        .unwrap();
    let sin = random(&mut rng, &[positions, d / 2])
        .narrow(0, offset, t)
        .unwrap();
    // `[b, t, h, d]` seen as `[b, h, t, d]`, as the attention's heads are.
    let x = random(&mut rng, &[b, t, h, d]);
    let heads = |x: &Tensor| x.transpose(1, 2).unwrap();
    assert!(!heads(&x).is_contiguous());
    check(
        &mut rng,
        x,
        heads,
        |x| rope(x, &cos, &sin).unwrap(),
        |x| candle_nn::rotary_emb::rope_slow(&x.contiguous().unwrap(), &cos, &sin).unwrap(),
    );
}

#[test]
fn fused_rope_equals_candles_fused_rope() {
    let mut rng = StdRng::seed_from_u64(6);
    let (cos, sin) = (random(&mut rng, &[5, 4]), random(&mut rng, &[5, 4]));
    let x = random(&mut rng, &[1, 2, 5, 8]);
    let ours = rope(&x, &cos, &sin).unwrap();
    let candle = candle_nn::rotary_emb::rope(&x, &cos, &sin).unwrap();
    assert!(max_diff(&ours, &candle) <= 1e-6);
}

#[test]
fn swiglu_and_both_its_gradients_equal_the_composed_silu_times_up() {
    let mut rng = StdRng::seed_from_u64(8);
    // More than one row of work per thread, and a ragged last row.
    let gate = Var::from_tensor(&random(&mut rng, &[3, 17, 700])).unwrap();
    let up = Var::from_tensor(&random(&mut rng, &[3, 17, 700])).unwrap();
    let fused = swiglu(gate.as_tensor(), up.as_tensor()).unwrap();
    let composed = (candle_nn::ops::silu(gate.as_tensor()).unwrap() * up.as_tensor()).unwrap();
    let vars = [("gate", &gate), ("up", &up)];
    assert_same_output_and_gradients(&mut rng, &fused, &composed, &vars, (1e-6, 1e-5));
}

#[test]
fn target_logprobs_and_their_gradient_equal_log_softmax_and_gather() {
    let mut rng = StdRng::seed_from_u64(9);
    let (n, vocab) = (7, 3001);
    let logits = (random(&mut rng, &[n, vocab]) * 8.0).unwrap();
    let targets: Vec<u32> = (0..n).map(|i| (i * 431 % vocab) as u32).collect();
    let index = Tensor::new(targets.as_slice(), &Device::Cpu)
        .unwrap()
        .unsqueeze(1)
        .unwrap();
    let composed = |x: &Tensor| {
        candle_nn::ops::log_softmax(x, D::Minus1)
            .unwrap()
            .gather(&index, 1)
            .unwrap()
            .squeeze(1)
            .unwrap()
    };
    check_within(
        1e-5,
        &mut rng,
        logits,
        |x| x.clone(),
        |x| target_logprobs(x, &targets).unwrap(),
        composed,
    );
}

#[test]
fn target_logprobs_refuse_a_token_outside_the_vocabulary() {
    let logits = Tensor::zeros((2, 5), DType::F32, &Device::Cpu).unwrap();
    let err = target_logprobs(&logits, &[1, 5]).unwrap_err().to_string();
    assert!(
        err.contains("token 5") && err.contains("vocabulary of 5"),
        "{err}"
    );
}

/// Attention as llama.rs composes it without the fused op: GQA heads stacked on the sequence
/// axis, scores, additive mask, softmax, `[b, t, heads · d]` out.
fn composed_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    offset: usize,
    window: Option<usize>,
) -> Tensor {
    let (b, h, t, d) = q.dims4().unwrap();
    let (_, kvh, s, _) = k.dims4().unwrap();
    let group = h / kvh;
    let q = q
        .contiguous()
        .unwrap()
        .reshape((b, kvh, group * t, d))
        .unwrap();
    let scores = (q.matmul(&k.t().unwrap()).unwrap() / (d as f64).sqrt()).unwrap();
    let scores = scores.reshape((b, kvh, group, t, s)).unwrap();
    let mask: Vec<f32> = (0..t * s)
        .map(|x| {
            let (i, j) = (x / s, x % s);
            let hidden = j > offset + i || window.is_some_and(|w| j + w <= offset + i);
            if hidden {
                f32::NEG_INFINITY
            } else {
                0.0
            }
        })
        .collect();
    let mask = Tensor::from_vec(mask, (t, s), &Device::Cpu).unwrap();
    let probs = candle_nn::ops::softmax(&scores.broadcast_add(&mask).unwrap(), D::Minus1)
        .unwrap()
        .reshape((b, kvh, group * t, s))
        .unwrap();
    probs
        .matmul(&v.contiguous().unwrap())
        .unwrap()
        .reshape((b, h, t, d))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .reshape((b, t, h * d))
        .unwrap()
}

fn check_attention(
    seed: u64,
    (b, h, kvh, t, s, d): (usize, usize, usize, usize, usize, usize),
    window: Option<usize>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let offset = s - t;
    let q = Var::from_tensor(&random(&mut rng, &[b, h, t, d])).unwrap();
    let k = Var::from_tensor(&random(&mut rng, &[b, kvh, s, d])).unwrap();
    let v = Var::from_tensor(&random(&mut rng, &[b, kvh, s, d])).unwrap();
    let fused =
        causal_attention(q.as_tensor(), k.as_tensor(), v.as_tensor(), offset, window).unwrap();
    let composed = composed_attention(q.as_tensor(), k.as_tensor(), v.as_tensor(), offset, window);
    let vars = [("q", &q), ("k", &k), ("v", &v)];
    assert_same_output_and_gradients(&mut rng, &fused, &composed, &vars, (1e-5, 1e-5));
}

#[test]
fn attention_and_its_gradients_equal_the_composed_attention_with_grouped_heads() {
    check_attention(21, (3, 6, 2, 9, 9, 8), None);
}

#[test]
fn attention_with_a_cache_offset_and_a_sliding_window_matches_the_composed_masks() {
    check_attention(22, (2, 4, 4, 5, 12, 16), None);
    check_attention(23, (2, 4, 1, 10, 10, 8), Some(3));
}

#[test]
fn attention_refuses_keys_that_do_not_match_queries_and_offset() {
    let z = |shape: &[usize]| Tensor::zeros(shape, DType::F32, &Device::Cpu).unwrap();
    let err = causal_attention(
        &z(&[1, 2, 4, 8]),
        &z(&[1, 1, 5, 8]),
        &z(&[1, 1, 5, 8]),
        0,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("need 4 keys, got 5"), "{err}");
}
