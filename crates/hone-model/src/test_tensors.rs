//! What the kernels' unit tests share: random tensors, the largest difference, and the check
//! that a fused op and its composition agree in output and in every input's gradient.

use candle_core::{Device, Tensor, Var};
use rand::rngs::StdRng;
use rand::Rng;

/// Uniform values in [−2, 2).
pub(crate) fn random(rng: &mut StdRng, shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect();
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

/// The largest absolute value of `t` (the scale a tolerance is taken of).
pub(crate) fn max_abs(t: &Tensor) -> f32 {
    t.abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

pub(crate) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.shape(), b.shape());
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

/// `fused` and `composed` (outputs of the same named inputs `vars`) agree within
/// `(forward, gradient)` tolerances, output and the gradient of `Σ y·r` (a random `r`) with
/// respect to each input.
pub(crate) fn assert_same_output_and_gradients(
    rng: &mut StdRng,
    fused: &Tensor,
    composed: &Tensor,
    vars: &[(&str, &Var)],
    (forward_tolerance, tolerance): (f32, f32),
) {
    let forward = max_diff(fused, composed);
    assert!(forward <= forward_tolerance, "forward differs by {forward}");
    let r = random(rng, fused.dims());
    let grads = |y: &Tensor| {
        let g = (y * &r).unwrap().sum_all().unwrap().backward().unwrap();
        vars.iter()
            .map(|(_, v)| g.get(v.as_tensor()).unwrap().clone())
            .collect::<Vec<_>>()
    };
    for ((name, _), (f, c)) in vars.iter().zip(grads(fused).iter().zip(&grads(composed))) {
        let d = max_diff(f, c);
        assert!(d <= tolerance, "the gradient of {name} differs by {d}");
    }
}

/// `y`'s values and the gradients of `Σ y²` with respect to each of `vars`, flattened: what two
/// computations that should agree exactly are compared by.
pub(crate) fn values_and_gradients(y: &Tensor, vars: &[&Var]) -> (Vec<f32>, Vec<Vec<f32>>) {
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let grads = y.sqr().unwrap().sum_all().unwrap().backward().unwrap();
    let gradients = vars
        .iter()
        .map(|v| flat(grads.get(v.as_tensor()).unwrap()))
        .collect();
    (flat(y), gradients)
}
