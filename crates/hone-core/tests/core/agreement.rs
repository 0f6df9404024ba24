use hone_core::agreement::{AgreementReport, Level};
use hone_core::feedback::FeedbackKind;
use hone_core::{Choice, Hone, JudgmentKind, ProjectId};

use crate::{compare, judge, open, project, prompt_n};

async fn report(hone: &Hone, p: ProjectId, kind: JudgmentKind) -> AgreementReport {
    let reports = hone.agreement(p).await.expect("agreement");
    reports
        .into_iter()
        .find(|r| r.kind == kind)
        .unwrap_or_else(|| panic!("a report on {kind}"))
}

/// Three prompts with two responses each.
async fn pairs(hone: &Hone, p: ProjectId) -> Vec<Vec<hone_core::ResponseId>> {
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
    assert!(
        (alpha - 4.0 / 9.0).abs() < 1e-9,
        "alpha must be 4/9, got {alpha}"
    );
    let percent = r.percent_agreement.unwrap();
    assert!(
        (percent - 2.0 / 3.0).abs() < 1e-9,
        "2 of 3 pairs agree, got {percent}"
    );
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
    assert_eq!(
        r.percent_agreement,
        Some(1.0),
        "only alice's latest verdict counts"
    );
    assert_eq!(r.alpha, Some(1.0));
}

#[tokio::test]
async fn ratings_use_interval_alpha_and_nothing_pairable_is_none() {
    let ws = open().await;
    let p = project(&ws, "law").await;
    let r0 = report(&ws, p, JudgmentKind::Rating).await;
    assert_eq!(
        (r0.level, r0.units, r0.alpha, r0.percent_agreement),
        (Level::Interval, 0, None, None),
        "no data: undefined"
    );

    let (_, r) = prompt_n(&ws, p, "Q", 2).await;
    let rate = |id: hone_core::ResponseId, v: i64| FeedbackKind::Rating {
        response_id: id,
        scores: [("overall".to_string(), v)].into(),
    };
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
    assert!(
        (alpha - 16.0 / 17.0).abs() < 1e-9,
        "interval alpha must be 16/17, got {alpha}"
    );
    assert_eq!(rep.percent_agreement, Some(0.5));
}

/// The annotator report on hand-made verdicts: an annotator who always picks the answer shown
/// first (and, here, the longer one), two who agree on 3 of 4 units, timings.
#[tokio::test]
async fn the_annotator_report_finds_position_and_length_bias_and_pairwise_agreement() {
    let ws = crate::open().await;
    let p = crate::project(&ws, "bias").await;
    // Five answers of growing length: 10 pairs; the first shown is always the longer one.
    let texts = [
        "a",
        "bb bb",
        "ccc ccc ccc",
        "dddd dddd dddd dddd",
        "eeeee eeeee eeeee eeeee eeeee",
    ];
    let (_, r) = crate::prompt_with(&ws, p, "Q?", &texts).await;
    let mut pairs = Vec::new();
    for i in 0..5 {
        for j in i + 1..5 {
            pairs.push((r[j], r[i])); // longer first
        }
    }
    for (k, (first, second)) in pairs.iter().enumerate() {
        let mut f = crate::input(
            p,
            "lefty",
            crate::compare(*first, *second, hone_core::Choice::A),
        );
        f.shown_order = vec![*first, *second];
        f.time_spent_ms = 1000 * (k as i64 + 1);
        crate::record(&ws, &f).await;
    }
    // alice and bob on four units: agree on three.
    for (k, (a, b)) in pairs.iter().take(4).enumerate() {
        crate::judge(
            &ws,
            p,
            "alice",
            crate::compare(*a, *b, hone_core::Choice::A),
        )
        .await;
        let bob = if k == 3 {
            hone_core::Choice::B
        } else {
            hone_core::Choice::A
        };
        crate::judge(&ws, p, "bob", crate::compare(*a, *b, bob)).await;
    }

    let report = ws.annotator_report(p).await.unwrap();
    let lefty = report
        .annotators
        .iter()
        .find(|a| a.name == "lefty")
        .unwrap();
    assert_eq!(
        (lefty.position.decided, lefty.position.first_wins),
        (10, 10)
    );
    assert_eq!(lefty.position.first_share, Some(1.0));
    assert!(
        (lefty.position.p_value.unwrap() - 2.0 / 1024.0).abs() < 1e-12,
        "10 of 10 first: p = 2/1024"
    );
    assert_eq!(
        lefty.length.longer_share,
        Some(1.0),
        "the longer answer always won"
    );
    assert_eq!(lefty.judgments, 10);
    assert_eq!(lefty.median_seconds, Some(5.5), "times 1..10 s: median 5.5");

    let ab = report
        .pairs
        .iter()
        .find(|x| {
            (x.a.as_str(), x.b.as_str()) == ("alice", "bob")
                || (x.a.as_str(), x.b.as_str()) == ("bob", "alice")
        })
        .unwrap();
    assert_eq!((ab.units, ab.percent_agreement), (4, Some(0.75)));
    // On the first three units, bob's verdict agrees with the majority of {alice, lefty}; on
    // the fourth the two others agree with each other and not with him.
    let bob = report.annotators.iter().find(|a| a.name == "bob").unwrap();
    assert_eq!((bob.majority_units, bob.with_majority), (4, Some(0.75)));
    assert_eq!(report.group.position.decided, 10 + 4 + 4);
}

/// Ratings per pair of annotators, interval level: (5,5), (6,6), (7,3) by hand gives
/// D_o = 32/6, D_e = 112/30, α = 1 − 10/7 = −3/7; two of three units equal.
#[tokio::test]
async fn the_annotator_report_gives_rating_agreement_per_pair() {
    let ws = crate::open().await;
    let p = crate::project(&ws, "ratings").await;
    let (_, r) = crate::prompt_with(&ws, p, "Q?", &["one", "two", "three"]).await;
    let rate = |id: hone_core::ResponseId, v: i64| FeedbackKind::Rating {
        response_id: id,
        scores: [("overall".to_string(), v)].into(),
    };
    for (id, (a, b)) in r.iter().zip([(5, 5), (6, 6), (7, 3)]) {
        crate::judge(&ws, p, "alice", rate(*id, a)).await;
        crate::judge(&ws, p, "bob", rate(*id, b)).await;
    }
    let report = ws.annotator_report(p).await.unwrap();
    let pair = report
        .pairs
        .iter()
        .find(|x| x.kind == hone_core::JudgmentKind::Rating)
        .expect("a rating pair");
    assert_eq!(
        (pair.a.as_str(), pair.b.as_str(), pair.units),
        ("alice", "bob", 3)
    );
    assert!(
        (pair.alpha.unwrap() + 3.0 / 7.0).abs() < 1e-12,
        "alpha {:?}",
        pair.alpha
    );
    assert!((pair.percent_agreement.unwrap() - 2.0 / 3.0).abs() < 1e-12);
    assert!(
        report
            .pairs
            .iter()
            .all(|x| x.kind == hone_core::JudgmentKind::Rating),
        "no comparisons: no comparison pairs"
    );
}
