// The expected values are pasted as PyTorch printed them.
#![allow(clippy::excessive_precision)]

use candle_core::{Device, Var};
use hone_train::optim::{AdamW, AdamWParams};

/// Runs three steps with fixed gradients, as `reference.py` does with torch.optim.AdamW.
fn three_steps(
    params: AdamWParams,
    clip: Option<f64>,
    opt_out: Option<&std::path::Path>,
) -> (Vec<f32>, AdamW, Var) {
    let p = Var::new(&[0.5f32, -1.0, 2.0], &Device::Cpu).unwrap();
    let mut opt = AdamW::new(vec![p.clone()], params).unwrap();
    let grads = [[0.1f32, -0.2, 0.3], [0.05, 0.0, -0.4], [-0.3, 0.2, 0.1]];
    for (i, g) in grads.iter().enumerate() {
        // d(p · g)/dp = g
        let loss = (p.as_tensor() * candle_core::Tensor::new(g, &Device::Cpu).unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        let store = loss.backward().unwrap();
        opt.step(&store, params.lr, clip).unwrap();
        if i == 1 {
            if let Some(path) = opt_out {
                opt.save(path).unwrap();
            }
        }
    }
    (p.as_tensor().to_vec1::<f32>().unwrap(), opt, p)
}

#[test]
fn adamw_equals_torch_with_decoupled_weight_decay() {
    let params = AdamWParams {
        lr: 1e-2,
        weight_decay: 0.01,
        ..AdamWParams::default()
    };
    let (got, opt, _) = three_steps(params, None, None);
    let want = [
        0.48400336503982544f32,
        -0.9838607311248779,
        1.991550087928772,
    ];
    for (g, w) in got.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "torch.optim.AdamW gives {w}, got {g}");
    }
    assert_eq!(opt.steps(), 3);
}

#[test]
fn gradient_clipping_by_global_norm_equals_torch() {
    let params = AdamWParams {
        lr: 1e-2,
        ..AdamWParams::default()
    };
    let (got, _, _) = three_steps(params, Some(0.25), None);
    let want = [
        0.4843314290046692f32,
        -0.9841580986976624,
        1.9914631843566895,
    ];
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() < 1e-6,
            "clip_grad_norm_ then AdamW gives {w}, got {g}"
        );
    }
}

#[test]
fn a_restored_state_continues_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("optimizer.safetensors");
    let params = AdamWParams {
        lr: 1e-2,
        weight_decay: 0.01,
        ..AdamWParams::default()
    };
    let (full, _, _) = three_steps(params, None, Some(&state));
    // Replay: two steps, then a fresh optimiser restored from the saved state does the third.
    let p = Var::new(&[0.5f32, -1.0, 2.0], &Device::Cpu).unwrap();
    let mut first = AdamW::new(vec![p.clone()], params).unwrap();
    for g in [[0.1f32, -0.2, 0.3], [0.05, 0.0, -0.4]] {
        let store = (p.as_tensor() * candle_core::Tensor::new(&g, &Device::Cpu).unwrap())
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        first.step(&store, params.lr, None).unwrap();
    }
    let mut resumed = AdamW::new(vec![p.clone()], params).unwrap();
    resumed.restore(&state).unwrap();
    assert_eq!(resumed.steps(), 2);
    let store = (p.as_tensor()
        * candle_core::Tensor::new(&[-0.3f32, 0.2, 0.1], &Device::Cpu).unwrap())
    .unwrap()
    .sum_all()
    .unwrap()
    .backward()
    .unwrap();
    resumed.step(&store, params.lr, None).unwrap();
    assert_eq!(
        p.as_tensor().to_vec1::<f32>().unwrap(),
        full,
        "resumed from the saved state = uninterrupted"
    );
}

#[test]
fn a_non_finite_gradient_updates_nothing_and_is_an_error() {
    let p = Var::new(&[1.0f32, 2.0], &Device::Cpu).unwrap();
    let mut opt = AdamW::new(vec![p.clone()], AdamWParams::default()).unwrap();
    let store = (p.as_tensor() * candle_core::Tensor::new(&[f32::NAN, 1.0], &Device::Cpu).unwrap())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let err = opt.step(&store, 1e-3, Some(1.0)).unwrap_err().to_string();
    assert!(err.contains("not finite"), "{err}");
    assert_eq!(
        p.as_tensor().to_vec1::<f32>().unwrap(),
        vec![1.0, 2.0],
        "the weights are untouched"
    );
}

/// candle builds a variable's gradient from forward tensors (`d(x·a)/da = xᵀ·g`), so the
/// gradient it stores carries the forward graph. Taken as it is, the moments built from it
/// kept every step's graph alive: a run's memory grew by a step's activations per step.
#[test]
fn gradients_taken_for_the_optimizer_carry_no_graph() {
    let dev = Device::Cpu;
    let a = Var::new(&[[1f32, 2.], [3., 4.]], &dev).unwrap();
    let x = Var::new(&[[0.5f32, -1.], [2., 1.]], &dev).unwrap();
    let y = x
        .as_tensor()
        .sqr()
        .unwrap()
        .matmul(a.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap();
    let store = y.backward().unwrap();
    assert!(
        store.get(a.as_tensor()).unwrap().track_op(),
        "candle's stored gradient holds the forward graph"
    );
    let mut opt = AdamW::new(vec![a.clone()], AdamWParams::default()).unwrap();
    let grads = opt.grads_from(&store);
    assert!(!grads[0].as_ref().unwrap().track_op());
    opt.step(&store, 1e-3, None).unwrap();
    for (name, t) in opt.state_tensors().unwrap() {
        assert!(!t.track_op(), "optimizer state {name} holds a graph");
    }
}
