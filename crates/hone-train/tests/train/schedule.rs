// The expected values are pasted as PyTorch printed them.
#![allow(clippy::excessive_precision)]

use hone_train::schedule::Schedule;

#[test]
fn schedules_equal_transformers_with_warmup() {
    // get_linear_schedule_with_warmup / get_cosine_schedule_with_warmup(opt, 3, 10), lr 1.0
    let linear = [
        0.0,
        0.3333333333333333,
        0.6666666666666666,
        1.0,
        0.8571428571428571,
        0.7142857142857143,
        0.5714285714285714,
        0.42857142857142855,
        0.2857142857142857,
        0.14285714285714285,
        0.0,
    ];
    let cosine = [
        0.0,
        0.3333333333333333,
        0.6666666666666666,
        1.0,
        0.9504844339512095,
        0.8117449009293668,
        0.6112604669781572,
        0.38873953302184283,
        0.18825509907063326,
        0.04951556604879048,
        0.0,
    ];
    for step in 0..=10u64 {
        let (l, c) = (
            Schedule::Linear.lr(1.0, step, 3, 10),
            Schedule::Cosine.lr(1.0, step, 3, 10),
        );
        assert!(
            (l - linear[step as usize]).abs() < 1e-12,
            "linear at {step}: {l}"
        );
        assert!(
            (c - cosine[step as usize]).abs() < 1e-12,
            "cosine at {step}: {c}"
        );
    }
    assert_eq!(Schedule::Constant.lr(2e-4, 7, 3, 10), 2e-4);
}
