use hone_core::agreement::{AgreementReport, Level};
use hone_core::feedback::FeedbackKind;
use hone_core::{Choice, Hone, JudgmentKind};

use crate::{compare, judge, open, project, prompt_n};

async fn report(hone: &Hone, p: i64, kind: JudgmentKind) -> AgreementReport {
    let reports = hone.agreement(p).await.expect("agreement");
    reports.into_iter().find(|r| r.kind == kind).unwrap_or_else(|| panic!("a report on {kind}"))
}

/// Three prompts with two responses each.
async fn pairs(hone: &Hone, p: i64) -> Vec<Vec<i64>> {
    let mut v = Vec::new();
    for i in 0..3 {
        v.push(prompt_n(hone, p, &format!("Q{i}"), 2).await.1);
    }
    v
}

#[tokio::test]
async fn annotators_who_agree_on_every_comparison_have_alpha_one() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let u = pairs(&ws, p).await;
    // Verdicts vary across units (lower id wins, higher id wins, tie) so alpha is defined.
    // Bob sees each pair the other way round: agreement is about the responses, not the sides.
    judge(&ws, p, "alice", compare(u[0][0], u[0][1], Choice::A)).await;
    judge(&ws, p, "bob", compare(u[0][1], u[0][0], Choice::B)).await;
    judge(&ws, p, "alice", compare(u[1][0], u[1][1], Choice::B)).await;
    judge(&ws, p, "bob", compare(u[1][1], u[1][0], Choice::A)).await;
    judge(&ws, p, "alice", compare(u[2][0], u[2][1], Choice::Tie)).await;
    judge(&ws, p, "bob", compare(u[2][0], u[2][1], Choice::Tie)).await;
    let r = report(&ws, p, JudgmentKind::Comparison).await;
    assert_eq!((r.level, r.units), (Level::Nominal, 3));
    assert_eq!(r.alpha, Some(1.0), "perfect agreement is alpha 1");
    assert_eq!(r.percent_agreement, Some(1.0));
}

#[tokio::test]
async fn one_disagreement_gives_the_hand_computed_alpha() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let u = pairs(&ws, p).await;
    // Values (0 = lower id preferred, 1 = higher id preferred):
    //   unit 0: alice 0, bob 0;   unit 1: alice 1, bob 1;   unit 2: alice 0, bob 1.
    // Coincidences (each unit has m = 2 values, so each ordered pair weighs 1/(m−1) = 1):
    //   o00 = 2, o11 = 2, o01 = o10 = 1;  n0 = 3, n1 = 3, n = 6.
    // D_o = (o01 + o10) / n = 2/6 = 1/3.
    // D_e = (n0·n1 + n1·n0) / (n(n−1)) = 18/30 = 3/5.
    // alpha = 1 − D_o/D_e = 1 − 5/9 = 4/9.   Percent agreement: 2 of 3 pairs = 2/3.
    judge(&ws, p, "alice", compare(u[0][0], u[0][1], Choice::A)).await;
    judge(&ws, p, "bob", compare(u[0][0], u[0][1], Choice::A)).await;
    judge(&ws, p, "alice", compare(u[1][0], u[1][1], Choice::B)).await;
    judge(&ws, p, "bob", compare(u[1][1], u[1][0], Choice::A)).await;
    judge(&ws, p, "alice", compare(u[2][0], u[2][1], Choice::A)).await;
    judge(&ws, p, "bob", compare(u[2][0], u[2][1], Choice::B)).await;
    // A unit only one annotator judged does not count.
    let lone = prompt_n(&ws, p, "lone", 2).await.1;
    judge(&ws, p, "alice", compare(lone[0], lone[1], Choice::A)).await;
    let r = report(&ws, p, JudgmentKind::Comparison).await;
    assert_eq!(r.units, 3, "units judged by at least two annotators");
    let alpha = r.alpha.expect("alpha is defined");
    assert!((alpha - 4.0 / 9.0).abs() < 1e-9, "alpha must be 4/9, got {alpha}");
    let percent = r.percent_agreement.unwrap();
    assert!((percent - 2.0 / 3.0).abs() < 1e-9, "2 of 3 pairs agree, got {percent}");
}

#[tokio::test]
async fn a_changed_mind_counts_once_with_the_latest_verdict() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let u = pairs(&ws, p).await;
    judge(&ws, p, "alice", compare(u[0][0], u[0][1], Choice::B)).await;
    judge(&ws, p, "alice", compare(u[0][0], u[0][1], Choice::A)).await; // alice changes her mind
    judge(&ws, p, "bob", compare(u[0][0], u[0][1], Choice::A)).await;
    judge(&ws, p, "alice", compare(u[1][0], u[1][1], Choice::B)).await;
    judge(&ws, p, "bob", compare(u[1][0], u[1][1], Choice::B)).await;
    let r = report(&ws, p, JudgmentKind::Comparison).await;
    assert_eq!(r.percent_agreement, Some(1.0), "only alice's latest verdict counts");
    assert_eq!(r.alpha, Some(1.0));
}

#[tokio::test]
async fn ratings_use_interval_alpha_and_nothing_pairable_is_none() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let r0 = report(&ws, p, JudgmentKind::Rating).await;
    assert_eq!((r0.level, r0.units, r0.alpha, r0.percent_agreement), (Level::Interval, 0, None, None), "no data: undefined");

    let (_, r) = prompt_n(&ws, p, "Q", 2).await;
    let rate = |id: i64, v: i64| FeedbackKind::Rating { response_id: id, scores: [("overall".to_string(), v)].into() };
    // Units (r0: 2, 2), (r1: 6, 5). n = 4 values {2, 2, 6, 5}.
    // D_o = 2·(6−5)² / 4 = 1/2 (the ordered pairs (6,5) and (5,6) each weigh 1).
    // D_e = Σ_c Σ_k n_c n_k (c−k)² / (n(n−1)) with n_2 = 2, n_5 = 1, n_6 = 1:
    //   2·[2·1·9 + 2·1·16 + 1·1·1] / 12 = 2·51/12 = 8.5.
    // alpha = 1 − 0.5/8.5 = 16/17.
    judge(&ws, p, "alice", rate(r[0], 2)).await;
    judge(&ws, p, "bob", rate(r[0], 2)).await;
    judge(&ws, p, "alice", rate(r[1], 6)).await;
    judge(&ws, p, "bob", rate(r[1], 5)).await;
    let rep = report(&ws, p, JudgmentKind::Rating).await;
    assert_eq!(rep.units, 2);
    let alpha = rep.alpha.unwrap();
    assert!((alpha - 16.0 / 17.0).abs() < 1e-9, "interval alpha must be 16/17, got {alpha}");
    assert_eq!(rep.percent_agreement, Some(0.5));
}
