//! Votes on a unit and how split they are (the disagreement order, tie-breaks, reasons).

use std::collections::BTreeMap;

use crate::verdict::Verdict;
use crate::{AnnotatorId, JudgmentId};

/// An annotator's latest counted judgment on a unit.
#[derive(Debug, Clone, Copy)]
pub(super) struct Vote {
    pub judgment: JudgmentId,
    /// `None` for kinds without a verdict.
    pub verdict: Option<Verdict>,
}

/// Each annotator's latest vote on a unit, by annotator id.
pub(super) type Votes = BTreeMap<AnnotatorId, Vote>;

/// How many verdicts fall in each bucket (see `Verdict::bucket`).
fn groups(votes: &Votes) -> BTreeMap<i64, usize> {
    let mut groups = BTreeMap::new();
    for v in votes.values().filter_map(|v| v.verdict) {
        *groups.entry(v.bucket()).or_default() += 1;
    }
    groups
}

/// How split the votes are: 1 − (largest group ÷ votes); 0 when fewer than two verdicts.
pub(super) fn disagreement(votes: &Votes) -> f64 {
    let groups = groups(votes);
    let total: usize = groups.values().sum();
    if total < 2 {
        return 0.0;
    }
    1.0 - *groups.values().max().expect("non-empty") as f64 / total as f64
}

/// Group sizes, largest first.
fn sizes(votes: &Votes) -> Vec<usize> {
    let mut sizes: Vec<usize> = groups(votes).into_values().collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes
}

/// No verdict has a strict majority (two or more verdicts).
pub(super) fn split_evenly(votes: &Votes) -> bool {
    let sizes = sizes(votes);
    sizes.len() >= 2 && sizes[0] == sizes[1]
}

/// "annotators disagree here (2 verdicts split 1–1)", for a reason.
pub(super) fn describe_split(votes: &Votes) -> String {
    let sizes: Vec<String> = sizes(votes).iter().map(usize::to_string).collect();
    format!(
        "annotators disagree here ({} verdicts split {})",
        votes.len(),
        sizes.join("–")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disagreement_is_the_share_outside_the_largest_group() {
        let votes = |vs: &[bool]| -> Votes {
            vs.iter()
                .enumerate()
                .map(|(i, up)| {
                    let vote = Vote {
                        judgment: JudgmentId(i as i64),
                        verdict: Some(Verdict::Thumb(*up)),
                    };
                    (AnnotatorId(i as i64), vote)
                })
                .collect()
        };
        assert_eq!(
            disagreement(&votes(&[true])),
            0.0,
            "one verdict cannot disagree"
        );
        assert!((disagreement(&votes(&[true, true, false])) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(disagreement(&votes(&[true, false])), 0.5);
        assert!(
            split_evenly(&votes(&[true, false])) && !split_evenly(&votes(&[true, true, false]))
        );
    }
}
