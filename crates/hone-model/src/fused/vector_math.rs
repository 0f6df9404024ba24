//! `exp` the compiler can vectorise, and a way to compile a loop for the CPU's widest vectors.
//! `f32::exp` is a call into libm per element: in a LoRA step on SmolLM2's shape it was 4% of
//! the samples (the log-probs over a 49k vocabulary, SwiGLU's sigmoid, attention's softmax).
//! [`exp`] is plain arithmetic that inlines into those loops, and [`vectorized_fn!`] compiles a
//! loop for AVX-512 or AVX2 too and runs the widest the CPU has (the crate's baseline is SSE2).

/// `eˣ` within 2 ulp for `x` ≥ −87.3 (the normal range), 0 below it (−∞ included), and
/// `e⁸⁸` for `x` > 88 (the losses and activations here never ask for more; `f32::MAX` is
/// `e^88.7`). NaN stays NaN. Cody–Waite reduction `x = n·ln 2 + r`, `|r| ≤ ln 2 / 2`, and
/// Cephes' degree-6 polynomial for `eʳ` (the one `expf` in Cephes uses), then `2ⁿ` by its bits.
#[inline(always)]
pub(super) fn exp(x: f32) -> f32 {
    const LOWEST: f32 = -87.336_55;
    const HIGHEST: f32 = 88.0;
    // 1.5·2²³: adding it rounds a float below 2²² to the nearest integer, without `round`
    // (a libm call on the SSE2 baseline).
    const ROUNDER: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let clamped = x.clamp(LOWEST, HIGHEST);
    let n = (clamped * std::f32::consts::LOG2_E + ROUNDER) - ROUNDER;
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_2e-4;
    let p = p * r + 1.398_2e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let er = p * r * r + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x < LOWEST {
        0.0
    } else {
        er * scale
    }
}

/// `1 / (1 + e⁻ˣ)` on [`exp`].
#[inline(always)]
pub(super) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Defines a function whose body is compiled three times, for AVX-512, for AVX2 with FMA and
/// for the build's baseline, and runs the widest the CPU has: the loops in the body (with
/// [`exp`] inlined) vectorise at that width. The body is an `#[inline(always)]` function
/// called from `#[target_feature]` ones, since only an always-inline callee is reliably
/// compiled into its caller's features (a closure is not).
macro_rules! vectorized_fn {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$attr])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                fn wide($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
                {
                    // Safety: the CPU has the features `wide` is compiled for.
                    return unsafe { wide($($arg),*) };
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // Safety: the CPU has the features `avx2` is compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}
pub(super) use vectorized_fn;

vectorized_fn! {
    /// `xᵢ ← e^(xᵢ − shift)` in place, and their sum: a softmax row's numerators and
    /// denominator.
    pub(super) fn exp_shifted_in_place(x: &mut [f32], shift: f32) -> f32 {
        x.iter_mut().for_each(|v| *v = exp(*v - shift));
        super::kernels::sum_pairs(x, x, |e, _| e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_the_correctly_rounded_value_and_zero_below_its_range() {
        // Positive floats order as their bits do: the distance in bits counts the ulps.
        let mut worst = 0u32;
        let mut x = -87.3f32;
        while x < 88.0 {
            let (ours, exact) = (exp(x), (x as f64).exp() as f32);
            worst = worst.max(ours.to_bits().abs_diff(exact.to_bits()));
            x += 0.001_3;
        }
        assert!(worst <= 2, "{worst} ulp");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(-200.0), 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7 && sigmoid(-1e4) < 1e-37 && sigmoid(1e4) == 1.0);
    }

    vectorized_fn! {
        fn sum_of_exp(v: &[f32]) -> f32 {
            v.iter().map(|&x| exp(x)).sum::<f32>()
        }
    }

    #[test]
    fn a_vectorized_fn_returns_its_bodys_value() {
        let v: Vec<f32> = (0..1000).map(|i| i as f32 * -0.05).collect();
        let expected: f32 = v.iter().map(|&x| x.exp()).sum();
        let sum = sum_of_exp(&v);
        assert!((sum - expected).abs() < 1e-4, "{sum} {expected}");
    }
}
