use hone_train::losses::{
    dpo_loss, kto_loss, log_sigmoid, reward_loss, sft_loss, DpoLossType, KtoInputs, PreferenceLogps,
};

use crate::{close, scalar, t};

fn inputs() -> [candle_core::Tensor; 6] {
    [
        t(&[-10.0, -12.5, -7.25, -20.0]),
        t(&[-11.0, -12.0, -9.5, -18.0]),
        t(&[-10.5, -12.0, -8.0, -19.0]),
        t(&[-10.5, -12.5, -9.0, -18.5]),
        t(&[5.0, 8.0, 3.0, 10.0]),
        t(&[6.0, 7.0, 4.0, 9.0]),
    ]
}

fn logps(x: &[candle_core::Tensor; 6]) -> PreferenceLogps<'_> {
    PreferenceLogps {
        policy_chosen: &x[0],
        policy_rejected: &x[1],
        reference_chosen: &x[2],
        reference_rejected: &x[3],
        chosen_tokens: &x[4],
        rejected_tokens: &x[5],
    }
}

#[test]
fn dpo_losses_equal_trls_formulas() {
    let x = inputs();
    let (loss, m) = dpo_loss(&logps(&x), DpoLossType::Sigmoid, 0.1, 0.0).unwrap();
    close(scalar(&loss), 0.6980873346328735, 1e-6, "sigmoid");
    close(
        m.get("rewards/chosen").unwrap(),
        -0.00624999962747097,
        1e-7,
        "rewards/chosen",
    );
    close(
        m.get("rewards/rejected").unwrap(),
        0.0,
        1e-7,
        "rewards/rejected",
    );
    close(
        m.get("rewards/accuracies").unwrap(),
        0.5,
        0.0,
        "rewards/accuracies",
    );
    close(
        m.get("rewards/margins").unwrap(),
        -0.006250001490116119,
        1e-7,
        "rewards/margins",
    );
    close(
        m.get("logps/chosen").unwrap(),
        -12.4375,
        1e-6,
        "logps/chosen",
    );
    let (cdpo, _) = dpo_loss(&logps(&x), DpoLossType::Sigmoid, 0.1, 0.1).unwrap();
    close(
        scalar(&cdpo),
        0.6974623203277588,
        1e-6,
        "sigmoid with label smoothing 0.1",
    );
    let (hinge, _) = dpo_loss(&logps(&x), DpoLossType::Hinge, 0.1, 0.0).unwrap();
    close(scalar(&hinge), 1.006250023841858, 1e-6, "hinge");
    let (ipo, _) = dpo_loss(&logps(&x), DpoLossType::Ipo, 0.1, 0.0).unwrap();
    close(scalar(&ipo), 24.38197135925293, 1e-4, "ipo");
}

#[test]
fn the_dpo_gradient_raises_chosen_and_lowers_rejected() {
    let chosen = candle_core::Var::new(&[-10.0f32, -12.0], &candle_core::Device::Cpu).unwrap();
    let rejected = candle_core::Var::new(&[-11.0f32, -9.0], &candle_core::Device::Cpu).unwrap();
    let reference = t(&[-10.0, -10.0]);
    let lengths = t(&[4.0, 4.0]);
    let x = PreferenceLogps {
        policy_chosen: chosen.as_tensor(),
        policy_rejected: rejected.as_tensor(),
        reference_chosen: &reference,
        reference_rejected: &reference,
        chosen_tokens: &lengths,
        rejected_tokens: &lengths,
    };
    let (loss, _) = dpo_loss(&x, DpoLossType::Sigmoid, 0.1, 0.0).unwrap();
    let grads = loss.backward().unwrap();
    let gc = grads
        .get(chosen.as_tensor())
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let gr = grads
        .get(rejected.as_tensor())
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(
        gc.iter().all(|g| *g < 0.0),
        "descending the loss raises the chosen log-probs: {gc:?}"
    );
    assert!(
        gr.iter().all(|g| *g > 0.0),
        "and lowers the rejected ones: {gr:?}"
    );
}

#[test]
fn the_reward_loss_equals_bradley_terry_with_margin_and_centering() {
    let (c, r, m) = (
        t(&[1.5, -0.25, 0.75, 2.0]),
        t(&[0.5, 0.25, 1.0, -1.0]),
        t(&[0.5, 0.0, 0.25, 1.0]),
    );
    let (plain, metrics) = reward_loss(&c, &r, None, 0.0).unwrap();
    close(
        scalar(&plain),
        0.5404663681983948,
        1e-6,
        "plain Bradley–Terry",
    );
    close(metrics.get("accuracy").unwrap(), 0.5, 0.0, "accuracy");
    close(
        metrics.get("margin").unwrap(),
        0.8125,
        1e-7,
        "margin: mean of (1, -0.5, -0.25, 3)",
    );
    close(metrics.get("reward/max").unwrap(), 2.0, 0.0, "max");
    close(metrics.get("reward/min").unwrap(), -1.0, 0.0, "min");
    let (full, _) = reward_loss(&c, &r, Some(&m), 0.01).unwrap();
    close(
        scalar(&full),
        0.657446026802063,
        1e-6,
        "with margin and center_rewards_coefficient 0.01",
    );
}

#[test]
fn the_kto_loss_equals_trls_formula() {
    let (des, und, kl) = (t(&[0.5, -0.2, 1.0]), t(&[-0.3, 0.4]), t(&[0.2, -0.1, 0.35]));
    let x = KtoInputs {
        desirable: &des,
        undesirable: &und,
        kl_pairs: &kl,
    };
    let (loss, m) = kto_loss(&x, 0.1, 1.0, 1.0).unwrap();
    close(scalar(&loss), 0.4947528839111328, 1e-6, "kto");
    close(m.get("kl").unwrap(), 0.14999999105930328, 1e-7, "z");
    let (weighted, _) = kto_loss(&x, 0.1, 1.33, 1.0).unwrap();
    close(
        scalar(&weighted),
        0.5923512578010559,
        1e-6,
        "kto with desirable_weight 1.33",
    );
    let negative_kl = t(&[-0.2, -0.1]);
    let (clamped, m) = kto_loss(
        &KtoInputs {
            kl_pairs: &negative_kl,
            ..x
        },
        0.1,
        1.0,
        1.0,
    )
    .unwrap();
    close(scalar(&clamped), 0.494004487991333, 1e-6, "z clamped at 0");
    assert_eq!(m.get("kl"), Some(0.0));
}

#[test]
fn log_sigmoid_is_stable_at_the_extremes_and_sft_masks_the_padding() {
    let y = log_sigmoid(&t(&[-1000.0, 0.0, 1000.0]))
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    assert!(
        (y[0] + 1000.0).abs() < 1e-3
            && (y[1] + std::f32::consts::LN_2).abs() < 1e-6
            && y[2].abs() < 1e-6,
        "{y:?}"
    );
    let per_token = candle_core::Tensor::new(
        &[[-1.0f32, -2.0, 0.0], [-3.0, 0.0, 0.0]],
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let mask = candle_core::Tensor::new(
        &[[1.0f32, 1.0, 0.0], [1.0, 0.0, 0.0]],
        &candle_core::Device::Cpu,
    )
    .unwrap();
    let (loss, _) = sft_loss(&per_token, &mask).unwrap();
    close(scalar(&loss), 2.0, 1e-7, "mean NLL over the 3 real tokens");
}

/// d/dx log σ(x) = σ(−x), at 0 too: DPO's first step has policy and reference log-probs that
/// are bit for bit equal (a fresh adapter's B is 0; TRL's reference is the initial adapter),
/// so Δ = 0 exactly, where a slope of 1 instead of ½ doubled that step's gradient.
#[test]
fn log_sigmoid_has_the_slope_of_sigma_minus_x_at_zero_and_elsewhere() {
    let xs = [-3.0f32, -0.5, 0.0, 0.5, 3.0];
    let x = candle_core::Var::from_tensor(&t(&xs)).unwrap();
    let grads = log_sigmoid(x.as_tensor())
        .unwrap()
        .sum_all()
        .unwrap()
        .backward()
        .unwrap();
    let slope = grads.get(x.as_tensor()).unwrap().to_vec1::<f32>().unwrap();
    for (x, s) in xs.iter().zip(slope) {
        let want = 1.0 / (1.0 + x.exp());
        close(s as f64, want as f64, 1e-6, &format!("slope at {x}"));
    }

    // DPO at Δ = 0: dL/dℓc = −β·σ(0)/n = −β/(2n).
    let (beta, n) = (0.1, 4usize);
    let same = t(&[-10.0, -12.5, -7.25, -20.0]);
    let policy_chosen = candle_core::Var::from_tensor(&same).unwrap();
    let (loss, _) = dpo_loss(
        &PreferenceLogps {
            policy_chosen: policy_chosen.as_tensor(),
            policy_rejected: &same,
            reference_chosen: &same,
            reference_rejected: &same,
            chosen_tokens: &same,
            rejected_tokens: &same,
        },
        DpoLossType::Sigmoid,
        beta,
        0.0,
    )
    .unwrap();
    let g = loss.backward().unwrap();
    for v in g
        .get(policy_chosen.as_tensor())
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
    {
        close(v as f64, -beta / (2.0 * n as f64), 1e-7, "dL/dℓc at Δ = 0");
    }
}
