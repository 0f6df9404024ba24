use candle_core::{Device, Var, D};
use rand::rngs::StdRng;
use rand::SeedableRng;

use super::kernels::GRAIN;
use super::*;
use crate::test_tensors::{assert_same_output_and_gradients, max_abs, max_diff, random};

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

#[test]
fn the_head_and_its_log_probs_in_blocks_equal_the_logits_then_log_softmax() {
    let mut rng = StdRng::seed_from_u64(10);
    // 150 rows: two whole blocks of 64 and a part of one.
    let (n, width, vocab) = (150, 48, 3001);
    let head = random(&mut rng, &[vocab, width]);
    let hidden = (random(&mut rng, &[n, width]) * 3.0).unwrap();
    let targets: Vec<u32> = (0..n).map(|i| (i * 431 % vocab) as u32).collect();
    let composed = |x: &Tensor| {
        let logits = crate::frozen::frozen_matmul_t(x, &head).unwrap();
        target_logprobs(&logits, &targets).unwrap()
    };
    let x = Var::from_tensor(&hidden).unwrap();
    let (fused, slow) = (
        head_target_logprobs(x.as_tensor(), &head, &targets, true).unwrap(),
        composed(x.as_tensor()),
    );
    // The fused op makes the logits in blocks of 64 rows, the composition in one product of
    // all 150: products of other shapes, which the kernel may block differently over a row's
    // 48 products. A tolerance relative to the log-probs' size (tens here), a few f32
    // roundings of it.
    let size = max_abs(&slow);
    let forward = max_diff(&fused, &slow) / size;
    assert!(
        forward <= 2e-6,
        "forward differs by {forward} of its largest value {size}"
    );
    let r = random(&mut rng, &[n]);
    let grad = |y: &Tensor| {
        let store = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        store.get(x.as_tensor()).unwrap().clone()
    };
    let (a, b) = (grad(&fused), grad(&slow));
    // Each row's gradient is a sum over 3,001 tokens, made in another order (the target's row
    // of the head less the softmax-weighted ones, against the logits' gradient times the
    // head): a relative tolerance.
    let scale = max_abs(&b);
    let backward = max_diff(&a, &b) / scale;
    assert!(
        backward <= 1e-5,
        "input gradient differs by {backward} of its largest value {scale}"
    );
    // Without the gradient (a reference pass): the same values, and no backward.
    let x = Var::from_tensor(&hidden).unwrap();
    let plain = head_target_logprobs(x.as_tensor(), &head, &targets, false).unwrap();
    let diff = max_diff(&plain, &composed(x.as_tensor())) / size;
    assert!(
        diff <= 2e-6,
        "forward without gradient differs by {diff} of its largest value {size}"
    );
    let err = plain.sum_all().unwrap().backward().unwrap_err().to_string();
    assert!(err.contains("without its gradient"), "{err}");
}

#[test]
fn the_head_log_probs_refuse_a_foreign_width_and_an_unknown_token() {
    let hidden = Tensor::zeros((2, 4), DType::F32, &Device::Cpu).unwrap();
    let head = Tensor::zeros((5, 3), DType::F32, &Device::Cpu).unwrap();
    let err = head_target_logprobs(&hidden, &head, &[1, 2], true)
        .unwrap_err()
        .to_string();
    assert!(err.contains("width 4") && err.contains("width 3"), "{err}");
    let head = Tensor::zeros((5, 4), DType::F32, &Device::Cpu).unwrap();
    let err = head_target_logprobs(&hidden, &head, &[1, 5], true)
        .unwrap_err()
        .to_string();
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

/// The rotary attention against its composition (reshape to heads, candle's RoPE, the
/// composed attention), forward and the gradients of q, k and v; `cos`/`sin` of random angles
/// are rows of longer tables, as rope.rs passes them.
fn check_attention(
    seed: u64,
    (b, h, kvh, t, d): (usize, usize, usize, usize, usize),
    window: Option<usize>,
) {
    let mut rng = StdRng::seed_from_u64(seed);
    let angles = (random(&mut rng, &[t + 3, d / 2]) * 3.0).unwrap();
    let cos = angles.cos().unwrap().narrow(0, 0, t).unwrap();
    let sin = angles.sin().unwrap().narrow(0, 0, t).unwrap();
    let q = Var::from_tensor(&random(&mut rng, &[b, t, h * d])).unwrap();
    let k = Var::from_tensor(&random(&mut rng, &[b, t, kvh * d])).unwrap();
    let v = Var::from_tensor(&random(&mut rng, &[b, t, kvh * d])).unwrap();
    let (q_, k_, v_) = (q.as_tensor(), k.as_tensor(), v.as_tensor());
    let fused = rotary_attention(q_, k_, v_, h, kvh, &cos, &sin, window).unwrap();
    let heads = |x: &Tensor, n: usize| x.reshape((b, t, n, d)).unwrap().transpose(1, 2).unwrap();
    let rotate =
        |x: Tensor| candle_nn::rotary_emb::rope_slow(&x.contiguous().unwrap(), &cos, &sin).unwrap();
    let composed = composed_attention(
        &rotate(heads(q_, h)),
        &rotate(heads(k_, kvh)),
        &heads(v_, kvh),
        0,
        window,
    );
    let vars = [("q", &q), ("k", &k), ("v", &v)];
    assert_same_output_and_gradients(&mut rng, &fused, &composed, &vars, (1e-5, 1e-5));
}

#[test]
fn attention_and_its_gradients_equal_rope_and_the_composed_attention_with_grouped_heads() {
    check_attention(21, (3, 6, 2, 9, 8), None);
    // More rows than one chunk of work, so that the regrouping runs on several threads.
    const { assert!(2 * 4 * 300 * 16 > 2 * GRAIN, "several tasks") };
    check_attention(24, (2, 4, 2, 300, 16), None);
    // One position: one key per query.
    check_attention(25, (2, 4, 2, 1, 8), None);
}

#[test]
fn attention_with_a_sliding_window_matches_the_composed_mask() {
    check_attention(22, (2, 4, 4, 12, 16), Some(5));
    check_attention(23, (2, 4, 1, 10, 8), Some(3));
}

#[test]
fn attention_refuses_heads_that_do_not_fit_and_tables_of_the_wrong_length() {
    let z = |shape: &[usize]| Tensor::zeros(shape, DType::F32, &Device::Cpu).unwrap();
    let (cos, sin) = (z(&[4, 4]), z(&[4, 4]));
    let err = rotary_attention(
        &z(&[1, 4, 16]),
        &z(&[1, 5, 8]),
        &z(&[1, 5, 8]),
        2,
        1,
        &cos,
        &sin,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("do not fit 2 heads over 1 K/V heads"), "{err}");
    let err = rotary_attention(
        &z(&[1, 4, 16]),
        &z(&[1, 4, 8]),
        &z(&[1, 4, 8]),
        2,
        1,
        &z(&[3, 4]),
        &sin,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("need cos/sin [4, 4]"), "{err}");
}
