//! The simulated expert: a deterministic stand-in for the help desk's lead, who judges an
//! answer by correctness first (the right procedure for the question, and no other), then tone
//! (no rude remark), then length (one sentence, not a speech). It gives every kind of feedback
//! a person gives — comparisons, rankings, ratings, edits and span marks — as the values a
//! person's clicks produce; the demo records them through `hone-core` like any judgment.
//!
//! It sees only the prompt's topic and the response text: never a model, a score or a reward.

use std::collections::BTreeMap;

use hone_core::store::judgments::SpanMark;
use hone_core::{Choice, ResponseId};

use crate::domain::{
    good_answer, ACKNOWLEDGEMENTS, PADDING_AFTER, PADDING_BEFORE, RUDE_REMARKS, TOPICS,
};

/// Longest answer (in words) the expert calls concise; a good answer has 8–13.
pub const CONCISE_WORDS: usize = 20;

/// Rating criteria, each on a 1–5 scale.
pub const CRITERIA: [(&str, &str); 3] = [
    (
        "correctness",
        "the procedure is the right one for the question",
    ),
    ("tone", "polite, no remark at the user's expense"),
    ("concision", "says what to do in one sentence"),
];

/// Span labels the expert marks with.
pub const SPAN_LABELS: [(&str, &str); 3] = [
    ("wrong", "a procedure that does not answer the question"),
    ("rude", "a remark at the user's expense"),
    ("verbose", "padding that says nothing"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Assessment {
    pub correct: bool,
    pub polite: bool,
    pub concise: bool,
}

impl Assessment {
    /// Correctness outweighs tone, which outweighs length: 0–7.
    pub fn score(&self) -> u8 {
        4 * self.correct as u8 + 2 * self.polite as u8 + self.concise as u8
    }

    pub fn is_perfect(&self) -> bool {
        self.score() == 7
    }
}

fn lower(text: &str) -> String {
    text.to_lowercase()
}

/// The expert's view of `text` as an answer to a question about `topic`.
pub fn assess(topic: usize, text: &str) -> Assessment {
    let t = lower(text);
    let right = t.contains(&lower(TOPICS[topic].steps));
    let other = TOPICS
        .iter()
        .enumerate()
        .any(|(i, o)| i != topic && t.contains(&lower(o.steps)));
    let rude = RUDE_REMARKS
        .iter()
        .any(|r| t.contains(&lower(r.trim_end_matches(['.', '?']))));
    Assessment {
        correct: right && !other,
        polite: !rude,
        concise: text.split_whitespace().count() <= CONCISE_WORDS,
    }
}

/// A pairwise verdict: both bad when neither is correct, else the higher score, a tie if equal.
pub fn compare(topic: usize, a: &str, b: &str) -> Choice {
    let (x, y) = (assess(topic, a), assess(topic, b));
    if !x.correct && !y.correct {
        Choice::BothBad
    } else if x.score() > y.score() {
        Choice::A
    } else if y.score() > x.score() {
        Choice::B
    } else {
        Choice::Tie
    }
}

/// Best first; equal scores keep the order they were shown in.
pub fn rank(topic: usize, shown: &[(ResponseId, &str)]) -> Vec<ResponseId> {
    let mut scored: Vec<(u8, usize, ResponseId)> = shown
        .iter()
        .enumerate()
        .map(|(i, (id, text))| (assess(topic, text).score(), i, *id))
        .collect();
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().map(|(_, _, id)| id).collect()
}

/// Scores on [`CRITERIA`]: 5 for a criterion met, 1 for one missed.
pub fn rate(topic: usize, text: &str) -> BTreeMap<String, i64> {
    let a = assess(topic, text);
    let mark = |ok: bool| if ok { 5 } else { 1 };
    BTreeMap::from([
        ("correctness".to_string(), mark(a.correct)),
        ("tone".to_string(), mark(a.polite)),
        ("concision".to_string(), mark(a.concise)),
    ])
}

/// The expert's rewrite of a flawed answer: the right procedure, politely, in one sentence,
/// keeping the answer's own acknowledgement if it had one. `None` for a perfect answer.
pub fn edit(topic: usize, text: &str) -> Option<String> {
    if assess(topic, text).is_perfect() {
        return None;
    }
    let ack = ACKNOWLEDGEMENTS
        .iter()
        .position(|a| text.starts_with(a))
        .unwrap_or(0);
    Some(good_answer(topic, ack))
}

/// Character offsets of each occurrence of `needle` in `text`, case-insensitively.
fn find_all(text: &str, needle: &str) -> Vec<(usize, usize)> {
    let (t, n) = (lower(text), lower(needle));
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = t[from..].find(&n) {
        let start = from + i;
        let chars = |byte: usize| t[..byte].chars().count();
        out.push((chars(start), chars(start + n.len())));
        from = start + n.len();
    }
    out
}

/// The wrong parts of a flawed answer: another topic's procedure ("wrong"), rude remarks
/// ("rude"), padding ("verbose"). An incorrect answer with nothing recognisable in it is marked
/// wrong as a whole. Empty for a perfect answer.
pub fn spans(topic: usize, text: &str) -> Vec<SpanMark> {
    let a = assess(topic, text);
    let mut marks = Vec::new();
    let mark = |marks: &mut Vec<SpanMark>, (start, end): (usize, usize), label: &str| {
        marks.push(SpanMark {
            start: start as i64,
            end: end as i64,
            label: label.into(),
            note: None,
        })
    };
    for (i, other) in TOPICS.iter().enumerate() {
        if i != topic {
            find_all(text, other.steps)
                .into_iter()
                .for_each(|r| mark(&mut marks, r, "wrong"));
        }
    }
    for remark in RUDE_REMARKS {
        find_all(text, remark.trim_end_matches(['.', '?']))
            .into_iter()
            .for_each(|r| mark(&mut marks, r, "rude"));
    }
    for padding in PADDING_BEFORE.iter().chain(&PADDING_AFTER) {
        find_all(text, padding)
            .into_iter()
            .for_each(|r| mark(&mut marks, r, "verbose"));
    }
    let length = text.chars().count();
    if marks.is_empty() && !a.is_perfect() && length > 0 {
        let label = if !a.correct {
            "wrong"
        } else if !a.polite {
            "rude"
        } else {
            "verbose"
        };
        mark(&mut marks, (0, length), label);
    }
    marks.sort_by_key(|m| (m.start, m.end));
    marks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{answer, topic_index, Style, Tone};
    use rand::SeedableRng;

    #[test]
    fn each_style_gets_the_verdict_its_flaw_deserves() {
        let topic = topic_index("reset_password").unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let good = answer(topic, Style::GOOD, &mut rng);
        let wrong = answer(
            topic,
            Style {
                right: false,
                tone: Tone::Good,
            },
            &mut rng,
        );
        let rude = answer(
            topic,
            Style {
                right: true,
                tone: Tone::Rude,
            },
            &mut rng,
        );
        let verbose = answer(
            topic,
            Style {
                right: true,
                tone: Tone::Verbose,
            },
            &mut rng,
        );
        assert_eq!(
            assess(topic, &good),
            Assessment {
                correct: true,
                polite: true,
                concise: true
            }
        );
        assert_eq!(
            assess(topic, &wrong),
            Assessment {
                correct: false,
                polite: true,
                concise: true
            }
        );
        assert_eq!(
            assess(topic, &rude),
            Assessment {
                correct: true,
                polite: false,
                concise: true
            }
        );
        assert_eq!(
            assess(topic, &verbose),
            Assessment {
                correct: true,
                polite: true,
                concise: false
            }
        );
        // Correctness first, then tone, then length.
        assert_eq!(compare(topic, &good, &rude), Choice::A);
        assert_eq!(compare(topic, &rude, &verbose), Choice::B);
        assert_eq!(compare(topic, &wrong, &verbose), Choice::B);
        assert_eq!(
            compare(topic, &wrong, "Open the Trash and click Restore."),
            Choice::BothBad
        );
        assert_eq!(compare(topic, &good, &good), Choice::Tie);
        assert_eq!(
            rank(
                topic,
                &[
                    (ResponseId(1), &wrong),
                    (ResponseId(2), &rude),
                    (ResponseId(3), &good),
                    (ResponseId(4), &verbose)
                ]
            ),
            [3, 4, 2, 1].map(ResponseId)
        );
        assert_eq!(rate(topic, &rude)["tone"], 1);
        assert_eq!(rate(topic, &good).values().sum::<i64>(), 15);
    }

    #[test]
    fn edits_fix_the_answer_and_spans_point_at_the_flaw() {
        let topic = topic_index("dark_mode").unwrap();
        let wrong = "Happy to help. Open Billing, choose Plan and click Cancel plan.";
        let fixed = edit(topic, wrong).unwrap();
        assert_eq!(
            fixed,
            "Happy to help. Open Settings, choose Appearance and pick Dark."
        );
        assert!(assess(topic, &fixed).is_perfect());
        assert_eq!(edit(topic, &fixed), None);
        let marks = spans(topic, wrong);
        assert_eq!(marks.len(), 1);
        let marked: String = wrong
            .chars()
            .skip(marks[0].start as usize)
            .take((marks[0].end - marks[0].start) as usize)
            .collect();
        assert_eq!(marked, "Open Billing, choose Plan and click Cancel plan");
        assert_eq!(marks[0].label, "wrong");
        let rude = "Open Settings, choose Appearance and pick Dark. Ugh, again?";
        let marks = spans(topic, rude);
        assert_eq!((marks.len(), marks[0].label.as_str()), (1, "rude"));
        assert_eq!(
            &rude[marks[0].start as usize..marks[0].end as usize],
            "Ugh, again"
        );
        let garbled = "Open Sett";
        assert_eq!(
            spans(topic, garbled)[0].end,
            9,
            "an unrecognisable wrong answer is marked whole"
        );
        assert!(spans(topic, &fixed).is_empty());
    }
}
