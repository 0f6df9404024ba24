//! Inter-annotator agreement: Krippendorff's alpha and raw percent agreement.
//!
//! Alpha follows Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": values are
//! pooled into a coincidence matrix over units with at least two values, and
//! α = 1 − D_o / D_e with the squared difference δ² of the chosen level of measurement
//! (nominal: 0 if equal else 1; interval: (c − k)²). Missing values are simply absent.

use std::collections::{BTreeMap, HashMap};

use hone_store::judgments::{self, JudgmentBody};
use hone_store::{Choice, JudgmentKind};
use serde::{Deserialize, Serialize};

use crate::{AnnotatorId, Hone, ProjectId, ResponseId, Result};

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Nominal,
    Interval,
}

impl Level {
    fn delta2(self, c: f64, k: f64) -> f64 {
        match self {
            Level::Nominal => f64::from(u8::from(c != k)),
            Level::Interval => (c - k).powi(2),
        }
    }
}

/// Krippendorff's alpha over `units`, each the values its coders gave (any number ≥ 0).
/// `None` when fewer than two pairable values exist or when there is no variation at all.
pub fn krippendorff_alpha(units: &[Vec<f64>], level: Level) -> Option<f64> {
    // Coincidences o[c][k] and marginals n[c], over pairable units (m_u ≥ 2).
    let mut o: BTreeMap<(u64, u64), f64> = BTreeMap::new();
    let mut n_c: BTreeMap<u64, f64> = BTreeMap::new();
    for values in units.iter().filter(|v| v.len() >= 2) {
        let m = values.len() as f64;
        for (i, &c) in values.iter().enumerate() {
            for (j, &k) in values.iter().enumerate() {
                if i != j {
                    *o.entry((c.to_bits(), k.to_bits())).or_default() += 1.0 / (m - 1.0);
                }
            }
            *n_c.entry(c.to_bits()).or_default() += 1.0;
        }
    }
    let n: f64 = n_c.values().sum();
    if n < 2.0 {
        return None;
    }
    let observed: f64 = o
        .iter()
        .map(|(&(c, k), w)| w * level.delta2(f64::from_bits(c), f64::from_bits(k)))
        .sum::<f64>()
        / n;
    let mut expected = 0.0;
    for (&c, &nc) in &n_c {
        for (&k, &nk) in &n_c {
            expected += nc * nk * level.delta2(f64::from_bits(c), f64::from_bits(k));
        }
    }
    expected /= n * (n - 1.0);
    if expected == 0.0 {
        return None;
    }
    Some(1.0 - observed / expected)
}

/// The share of pairs of values within a unit that are equal (over pairable units).
pub fn percent_agreement(units: &[Vec<f64>]) -> Option<f64> {
    let (mut agree, mut pairs) = (0usize, 0usize);
    for values in units {
        for i in 0..values.len() {
            for j in i + 1..values.len() {
                pairs += 1;
                agree += usize::from(values[i] == values[j]);
            }
        }
    }
    (pairs > 0).then(|| agree as f64 / pairs as f64)
}

/// Agreement on one kind of judgment.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgreementReport {
    pub kind: JudgmentKind,
    pub level: Level,
    /// Units judged by at least two annotators.
    pub units: usize,
    pub alpha: Option<f64>,
    pub percent_agreement: Option<f64>,
}

/// A comparison's verdict, made independent of which side each response was shown on.
pub(crate) fn comparison_value(
    response_a: ResponseId,
    response_b: ResponseId,
    choice: Choice,
) -> f64 {
    let a_is_lower = response_a < response_b;
    match choice {
        Choice::A if a_is_lower => 0.0,
        Choice::B if !a_is_lower => 0.0,
        Choice::A | Choice::B => 1.0,
        Choice::Tie => 2.0,
        Choice::BothBad => 3.0,
    }
}

impl Hone {
    /// Alpha (nominal) and percent agreement on comparisons, and alpha (interval) on ratings
    /// (one unit per response and criterion). An annotator who judged a unit twice counts once,
    /// with the latest verdict.
    pub async fn agreement(&self, project_id: ProjectId) -> Result<Vec<AgreementReport>> {
        let all =
            judgments::list_current(&mut *self.store().conn().await?, project_id, None).await?;
        // unit → annotator → value (latest wins, judgments come in id order)
        let mut comparisons: BTreeMap<(ResponseId, ResponseId), HashMap<AnnotatorId, f64>> =
            BTreeMap::new();
        let mut ratings: BTreeMap<(ResponseId, String), HashMap<AnnotatorId, f64>> =
            BTreeMap::new();
        for j in &all {
            match &j.body {
                JudgmentBody::Comparison {
                    response_a,
                    response_b,
                    choice,
                    ..
                } => {
                    let unit = (*response_a.min(response_b), *response_a.max(response_b));
                    comparisons.entry(unit).or_default().insert(
                        j.annotator_id,
                        comparison_value(*response_a, *response_b, *choice),
                    );
                }
                JudgmentBody::Rating {
                    response_id,
                    scores,
                } => {
                    for (criterion, value) in scores {
                        ratings
                            .entry((*response_id, criterion.clone()))
                            .or_default()
                            .insert(j.annotator_id, *value as f64);
                    }
                }
                _ => {}
            }
        }
        let report = |kind, level, units: Vec<Vec<f64>>| {
            let pairable: Vec<Vec<f64>> = units.into_iter().filter(|u| u.len() >= 2).collect();
            AgreementReport {
                kind,
                level,
                units: pairable.len(),
                alpha: krippendorff_alpha(&pairable, level),
                percent_agreement: percent_agreement(&pairable),
            }
        };
        Ok(vec![
            report(
                JudgmentKind::Comparison,
                Level::Nominal,
                comparisons
                    .into_values()
                    .map(|m| m.into_values().collect())
                    .collect(),
            ),
            report(
                JudgmentKind::Rating,
                Level::Interval,
                ratings
                    .into_values()
                    .map(|m| m.into_values().collect())
                    .collect(),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Krippendorff (2011), section "C. Nominal data, any number of observers, missing values":
    /// 4 observers × 12 units; the paper computes α = 0.743 (nominal). The same data appear in
    /// its interval example; Krippendorff reports α = 0.849 for interval metric.
    fn reliability_data() -> Vec<Vec<f64>> {
        let nan = f64::NAN;
        let observers = [
            [1., 2., 3., 3., 2., 1., 4., 1., 2., nan, nan, nan],
            [1., 2., 3., 3., 2., 2., 4., 1., 2., 5., nan, 3.],
            [nan, 3., 3., 3., 2., 3., 4., 2., 2., 5., 1., nan],
            [1., 2., 3., 3., 2., 4., 4., 1., 2., 5., 1., nan],
        ];
        (0..12)
            .map(|u| {
                observers
                    .iter()
                    .map(|o| o[u])
                    .filter(|v| !v.is_nan())
                    .collect()
            })
            .collect()
    }

    #[test]
    fn nominal_alpha_matches_krippendorffs_worked_example() {
        let alpha = krippendorff_alpha(&reliability_data(), Level::Nominal).unwrap();
        assert!(
            (alpha - 0.743).abs() < 5e-4,
            "published nominal alpha is 0.743, got {alpha}"
        );
    }

    #[test]
    fn interval_alpha_matches_krippendorffs_worked_example() {
        let alpha = krippendorff_alpha(&reliability_data(), Level::Interval).unwrap();
        assert!(
            (alpha - 0.849).abs() < 5e-4,
            "published interval alpha is 0.849, got {alpha}"
        );
    }

    #[test]
    fn perfect_agreement_is_one_and_systematic_disagreement_is_negative() {
        let perfect = vec![vec![1., 1.], vec![2., 2.], vec![3., 3.]];
        assert_eq!(krippendorff_alpha(&perfect, Level::Nominal), Some(1.0));
        let opposite = vec![vec![1., 2.], vec![2., 1.], vec![1., 2.], vec![2., 1.]];
        let alpha = krippendorff_alpha(&opposite, Level::Nominal).unwrap();
        assert!(
            alpha < 0.0,
            "always disagreeing coders must score below chance, got {alpha}"
        );
    }

    #[test]
    fn alpha_is_undefined_without_pairable_values_or_variation() {
        assert_eq!(
            krippendorff_alpha(&[vec![1.0], vec![2.0]], Level::Nominal),
            None,
            "no unit has two values"
        );
        assert_eq!(
            krippendorff_alpha(&[vec![1.0, 1.0], vec![1.0, 1.0]], Level::Nominal),
            None,
            "no variation"
        );
    }

    #[test]
    fn percent_agreement_counts_pairs_within_units() {
        // unit 1: 3 pairs, 1 agreeing (1=1); unit 2: 1 pair agreeing.
        let units = vec![vec![1., 1., 2.], vec![3., 3.]];
        assert_eq!(percent_agreement(&units), Some(2.0 / 4.0));
        assert_eq!(percent_agreement(&[vec![1.0]]), None);
    }

    #[test]
    fn comparison_value_ignores_the_side_shown() {
        // response 5 preferred, whether it was shown left or right
        assert_eq!(
            comparison_value(ResponseId(5), ResponseId(9), Choice::A),
            comparison_value(ResponseId(9), ResponseId(5), Choice::B)
        );
        assert_ne!(
            comparison_value(ResponseId(5), ResponseId(9), Choice::A),
            comparison_value(ResponseId(5), ResponseId(9), Choice::B)
        );
        assert_eq!(
            comparison_value(ResponseId(5), ResponseId(9), Choice::Tie),
            comparison_value(ResponseId(9), ResponseId(5), Choice::Tie)
        );
    }
}
