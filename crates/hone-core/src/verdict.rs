//! What a judgment says about its item, in a form two annotators' judgments can be compared
//! in: the gold check and the disagreement order of the queue read it.

use std::collections::BTreeSet;

use hone_store::judgments::JudgmentBody;
use hone_store::{Choice, ResponseId};

use crate::agreement::comparison_value;

/// Two ratings agree when their means over the criteria are at most this far apart.
pub const RATING_TOLERANCE: f64 = 1.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    /// A comparison's verdict independent of the side each answer was shown on.
    Comparison(f64),
    /// The answer a ranking put first.
    Best(ResponseId),
    /// A rating's mean over the criteria.
    Score(f64),
    Thumb(bool),
}

impl Verdict {
    /// The verdict of `body`; `None` for kinds without one (edits, spans, demonstrations, critiques).
    pub fn of(body: &JudgmentBody) -> Option<Verdict> {
        match body {
            JudgmentBody::Comparison {
                response_a,
                response_b,
                choice,
                ..
            } => Some(Verdict::Comparison(comparison_value(
                *response_a,
                *response_b,
                *choice,
            ))),
            JudgmentBody::Ranking { ranked } => ranked.first().map(|id| Verdict::Best(*id)),
            JudgmentBody::Rating { scores, .. } if !scores.is_empty() => Some(Verdict::Score(
                scores.values().sum::<i64>() as f64 / scores.len() as f64,
            )),
            JudgmentBody::Thumbs { up, .. } => Some(Verdict::Thumb(*up)),
            _ => None,
        }
    }

    /// Same verdict: equal, or for ratings within [`RATING_TOLERANCE`].
    pub fn agrees_with(&self, other: &Verdict) -> bool {
        match (self, other) {
            (Verdict::Score(a), Verdict::Score(b)) => (a - b).abs() <= RATING_TOLERANCE,
            _ => self == other,
        }
    }

    /// A bucket for counting how many annotators said the same (ratings to the nearest point).
    pub fn bucket(&self) -> i64 {
        match self {
            Verdict::Comparison(v) => *v as i64,
            Verdict::Best(id) => id.0,
            Verdict::Score(s) => s.round() as i64,
            Verdict::Thumb(up) => i64::from(*up),
        }
    }
}

/// The verdict strings of the judgment history's filter, one per judgment (see [`label`]).
pub const VERDICT_LABELS: &[&str] = &[
    "a", "b", "tie", "both_bad", "ranked", "rated", "edited", "accepted", "marked", "up", "down",
    "written", "critique",
];

/// A judgment's verdict in one word, as the judgment history filters it: a comparison's choice
/// as recorded (`a`, `b` — the sides as shown —, `tie`, `both_bad`); `ranked`; `rated`; an edit
/// `edited`, or `accepted` when the answer was left as it was ("already good"); a span
/// annotation `marked` when it marks something under an error label, else `accepted` (no span:
/// "nothing wrong", or only spans under the project's `good_labels`, as the training data reads
/// it); thumbs `up` / `down`; a demonstration `written`; `critique`.
pub fn label(body: &JudgmentBody, good_labels: &BTreeSet<String>) -> &'static str {
    match body {
        JudgmentBody::Comparison { choice, .. } => match choice {
            Choice::A => "a",
            Choice::B => "b",
            Choice::Tie => "tie",
            Choice::BothBad => "both_bad",
        },
        JudgmentBody::Ranking { .. } => "ranked",
        JudgmentBody::Rating { .. } => "rated",
        JudgmentBody::Edit {
            response_id,
            corrected_response_id,
            ..
        } if response_id == corrected_response_id => "accepted",
        JudgmentBody::Edit { .. } => "edited",
        JudgmentBody::Span { spans, .. }
            if spans.iter().all(|s| good_labels.contains(&s.label)) =>
        {
            "accepted"
        }
        JudgmentBody::Span { .. } => "marked",
        JudgmentBody::Thumbs { up: true, .. } => "up",
        JudgmentBody::Thumbs { up: false, .. } => "down",
        JudgmentBody::Demonstration { .. } => "written",
        JudgmentBody::Critique { .. } => "critique",
    }
}

/// "prefers response 12 to 13", "a tie", "best: response 5", "overall 5, clarity 4",
/// "thumbs up", "accepted as it is", "2 spans: factual_error, style", …
pub(crate) fn describe(body: &JudgmentBody) -> String {
    match body {
        JudgmentBody::Comparison {
            response_a,
            response_b,
            choice,
            ..
        } => match choice {
            Choice::A => format!("prefers response {response_a} to {response_b}"),
            Choice::B => format!("prefers response {response_b} to {response_a}"),
            Choice::Tie => "a tie".into(),
            Choice::BothBad => "both bad".into(),
        },
        JudgmentBody::Ranking { ranked } => ranked
            .first()
            .map_or_else(String::new, |id| format!("best: response {id}")),
        JudgmentBody::Rating { scores, .. } => scores
            .iter()
            .map(|(c, v)| format!("{c} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        JudgmentBody::Thumbs { up, .. } => if *up { "thumbs up" } else { "thumbs down" }.into(),
        JudgmentBody::Edit {
            response_id,
            corrected_response_id,
            ..
        } if response_id == corrected_response_id => "accepted as it is (already good)".into(),
        JudgmentBody::Edit { diff, .. } => {
            let changed = diff
                .lines()
                .filter(|l| {
                    (l.starts_with('+') && !l.starts_with("+++"))
                        || (l.starts_with('-') && !l.starts_with("---"))
                })
                .count();
            format!(
                "corrected ({changed} line{} changed)",
                if changed == 1 { "" } else { "s" }
            )
        }
        JudgmentBody::Span { spans, .. } if spans.is_empty() => "nothing wrong".into(),
        JudgmentBody::Span { spans, .. } => {
            let labels: Vec<&str> = spans.iter().map(|s| s.label.as_str()).collect();
            format!(
                "{} span{}: {}",
                spans.len(),
                if spans.len() == 1 { "" } else { "s" },
                labels.join(", ")
            )
        }
        JudgmentBody::Demonstration { .. } => "wrote a reference answer".into(),
        JudgmentBody::Critique { .. } => "critique".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn verdicts_compare_across_shown_sides_and_ratings_within_a_point() {
        let ab = JudgmentBody::Comparison {
            response_a: ResponseId(1),
            response_b: ResponseId(2),
            choice: Choice::A,
            strength: None,
            reason: None,
        };
        let ba = JudgmentBody::Comparison {
            response_a: ResponseId(2),
            response_b: ResponseId(1),
            choice: Choice::B,
            strength: None,
            reason: None,
        };
        let tie = JudgmentBody::Comparison {
            response_a: ResponseId(2),
            response_b: ResponseId(1),
            choice: Choice::Tie,
            strength: None,
            reason: None,
        };
        let (ab, ba, tie) = (
            Verdict::of(&ab).unwrap(),
            Verdict::of(&ba).unwrap(),
            Verdict::of(&tie).unwrap(),
        );
        assert!(
            ab.agrees_with(&ba),
            "the same answer preferred, shown on the other side"
        );
        assert!(!ab.agrees_with(&tie));
        let rating = |o: i64, c: i64| {
            Verdict::of(&JudgmentBody::Rating {
                response_id: ResponseId(1),
                scores: BTreeMap::from([("overall".into(), o), ("clarity".into(), c)]),
            })
            .unwrap()
        };
        assert!(rating(5, 6).agrees_with(&rating(6, 7)), "means 5.5 and 6.5");
        assert!(!rating(5, 5).agrees_with(&rating(6, 7)), "means 5 and 6.5");
        assert_eq!(
            Verdict::of(&JudgmentBody::Ranking {
                ranked: vec![ResponseId(7), ResponseId(3), ResponseId(4)]
            }),
            Some(Verdict::Best(ResponseId(7)))
        );
        assert_eq!(
            Verdict::of(&JudgmentBody::Demonstration {
                response_id: ResponseId(1)
            }),
            None
        );
    }
}
