//! Which tokens an expert's edit or marked span points at, as per-token loss weights for
//! [`crate::token_losses`]: a positive weight asks for the token (likelihood), a negative one
//! asks against it (unlikelihood), zero leaves it out.
//!
//! - An **edit** is aligned at token level: a diff (Myers, through `similar`) of the original
//!   answer's token ids against the corrected answer's. Tokens the expert added or replaced
//!   (in the correction) get [`EditWeights::added`]; tokens the correction keeps get
//!   [`EditWeights::kept`]; tokens the expert removed or replaced (in the original) get
//!   −[`EditWeights::removed`]. This is FIGA's weighting (Guo et al. 2023, "Beyond Imitation:
//!   Leveraging Fine-grained Quality Signals for Alignment"), on the expert's own correction
//!   instead of a model-written one. A byte-level BPE can merge a changed word with its
//!   neighbour; the diff then counts the merged token as changed, which is what a word diff
//!   mapped to tokens would give.
//! - A **marked span** (characters of the answer) covers every token whose characters overlap
//!   it: a span under an error label gives its tokens −[`SpanWeights::inside`] (unlikelihood,
//!   Welleck et al. 2019, "Neural Text Generation with Unlikelihood Training"), a span under a
//!   good label [`SpanWeights::good`] (likelihood: the expert pointed at what is right), and the
//!   rest of the answer gets [`SpanWeights::outside`]. A token both marked wrong and marked good
//!   (by different annotators' majorities) counts as wrong.

use serde::{Deserialize, Serialize};
use similar::{capture_diff_slices_deadline, Algorithm, DiffTag};

/// How much each token of an edit counts. Defaults: every token of the correction fully (it is
/// still a whole demonstration: with the kept tokens at 0 the demo's loop lost what its SFT
/// stage teaches, `bench/token-level.sh`), the removed ones fully against.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EditWeights {
    /// Likelihood weight of a token the correction added or replaced.
    pub added: f32,
    /// Likelihood weight of a token the correction kept from the original.
    pub kept: f32,
    /// Unlikelihood weight of a token the expert removed or replaced (applied as −removed).
    pub removed: f32,
}

impl Default for EditWeights {
    fn default() -> Self {
        Self {
            added: 1.0,
            kept: 1.0,
            removed: 1.0,
        }
    }
}

/// How much each token of a marked answer counts. Defaults: unlikelihood on the tokens marked
/// wrong, likelihood on those marked good, nothing on the rest (the expert said nothing about
/// them).
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SpanWeights {
    /// Unlikelihood weight of a token inside a span marked wrong (applied as −inside).
    pub inside: f32,
    /// Likelihood weight of the answer's unmarked tokens.
    pub outside: f32,
    /// Likelihood weight of a token inside a span marked good (a project's good labels).
    #[serde(default = "one")]
    pub good: f32,
}

fn one() -> f32 {
    1.0
}

impl Default for SpanWeights {
    fn default() -> Self {
        Self {
            inside: 1.0,
            outside: 0.0,
            good: 1.0,
        }
    }
}

/// The longest a token diff may take before `similar` settles for a coarser (still correct)
/// alignment: bounds the time an adversarially long pair can take.
const DIFF_DEADLINE: std::time::Duration = std::time::Duration::from_secs(1);

/// Which tokens differ between `original` and `corrected`: 1.0 at each token of `original`
/// the edit removed or replaced and at each token of `corrected` it added or replaced, 0.0
/// at the tokens the two share.
pub fn changed_tokens(original: &[u32], corrected: &[u32]) -> (Vec<f32>, Vec<f32>) {
    let mut old = vec![0.0; original.len()];
    let mut new = vec![0.0; corrected.len()];
    let deadline = std::time::Instant::now() + DIFF_DEADLINE;
    for op in capture_diff_slices_deadline(Algorithm::Myers, original, corrected, Some(deadline)) {
        let (tag, old_range, new_range) = op.as_tag_tuple();
        if tag != DiffTag::Equal {
            old[old_range].fill(1.0);
            new[new_range].fill(1.0);
        }
    }
    (old, new)
}

/// Per-token weights of an edit: (the original's, the correction's).
pub fn edit_token_weights(
    original: &[u32],
    corrected: &[u32],
    weights: EditWeights,
) -> (Vec<f32>, Vec<f32>) {
    let (old, new) = changed_tokens(original, corrected);
    let old = old
        .into_iter()
        .map(|changed| if changed > 0.0 { -weights.removed } else { 0.0 })
        .collect();
    let new = new
        .into_iter()
        .map(|changed| {
            if changed > 0.0 {
                weights.added
            } else {
                weights.kept
            }
        })
        .collect();
    (old, new)
}

/// Per-token weights of an answer with character ranges (`start..end`, in the answer's
/// characters) marked wrong (`marked`) and marked good (`good`), given each token's character
/// range in the answer (`None` for a token outside it, such as the chat template's end of
/// turn, which gets no weight).
pub fn span_token_weights(
    token_ranges: &[Option<(usize, usize)>],
    marked: &[(usize, usize)],
    good: &[(usize, usize)],
    weights: SpanWeights,
) -> Vec<f32> {
    let overlaps = |spans: &[(usize, usize)], start: usize, end: usize| {
        spans
            .iter()
            .any(|(m_start, m_end)| start < *m_end && *m_start < end)
    };
    token_ranges
        .iter()
        .map(|range| match *range {
            None => 0.0,
            Some((start, end)) if overlaps(marked, start, end) => -weights.inside,
            Some((start, end)) if overlaps(good, start, end) => weights.good,
            Some(_) => weights.outside,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_word_weighs_its_tokens_on_both_sides_and_nothing_else() {
        // "the cat sat down" → "the dog sat down now": token 1 replaced, token 4 added.
        let original = [10, 11, 12, 13];
        let corrected = [10, 21, 12, 13, 24];
        let (old, new) = edit_token_weights(&original, &corrected, EditWeights::default());
        assert_eq!(old, vec![0.0, -1.0, 0.0, 0.0]);
        assert_eq!(
            new,
            vec![1.0; 5],
            "the correction stays a whole demonstration"
        );
        let changed_only = EditWeights {
            kept: 0.0,
            ..EditWeights::default()
        };
        let (_, new) = edit_token_weights(&original, &corrected, changed_only);
        assert_eq!(new, vec![0.0, 1.0, 0.0, 0.0, 1.0]);
        let custom = EditWeights {
            added: 2.0,
            kept: 0.1,
            removed: 0.5,
        };
        let (old, new) = edit_token_weights(&original, &corrected, custom);
        assert_eq!(old, vec![0.0, -0.5, 0.0, 0.0]);
        assert_eq!(new, vec![0.1, 2.0, 0.1, 0.1, 2.0]);
    }

    #[test]
    fn a_deletion_weighs_only_the_original_and_an_unchanged_answer_nothing() {
        let (old, new) = changed_tokens(&[1, 2, 3, 4], &[1, 4]);
        assert_eq!(old, vec![0.0, 1.0, 1.0, 0.0]);
        assert_eq!(new, vec![0.0, 0.0]);
        let (old, new) = changed_tokens(&[5, 6], &[5, 6]);
        assert!(old.iter().chain(&new).all(|w| *w == 0.0));
        // A rewrite from scratch: every token on both sides.
        let (old, new) = changed_tokens(&[1, 2], &[3, 4, 5]);
        assert_eq!((old, new), (vec![1.0; 2], vec![1.0; 3]));
    }

    #[test]
    fn a_span_covers_every_token_it_overlaps_and_no_token_outside_the_answer() {
        // Tokens over "Paris is in Italy.": "Paris"(0..5) " is"(5..8) " in"(8..11)
        // " Italy"(11..17) "."(17..18), then an end-of-turn token outside the answer.
        let ranges = [
            Some((0, 5)),
            Some((5, 8)),
            Some((8, 11)),
            Some((11, 17)),
            Some((17, 18)),
            None,
        ];
        // The expert marked "Italy" (12..17): one token; and "s i" (7..10): two half-covered.
        let w = span_token_weights(&ranges, &[(12, 17)], &[], SpanWeights::default());
        assert_eq!(w, vec![0.0, 0.0, 0.0, -1.0, 0.0, 0.0]);
        let w = span_token_weights(
            &ranges,
            &[(7, 10), (12, 17)],
            &[],
            SpanWeights {
                inside: 2.0,
                outside: 0.1,
                good: 1.0,
            },
        );
        assert_eq!(w, vec![0.1, -2.0, -2.0, -2.0, 0.1, 0.0]);
        // A span that touches a token's boundary without covering a character leaves it.
        let w = span_token_weights(&ranges, &[(5, 5)], &[], SpanWeights::default());
        assert!(w.iter().all(|x| *x == 0.0));
    }

    #[test]
    fn a_span_marked_good_asks_for_its_tokens_and_a_wrong_mark_wins_where_both_are() {
        // "Paris is in France.": "Paris"(0..5) " is"(5..8) " in"(8..11) " France"(11..18)
        // "."(18..19); the expert marked "Paris" good and "is in" (6..11) wrong, another
        // majority " in France" (9..18) good.
        let ranges = [
            Some((0, 5)),
            Some((5, 8)),
            Some((8, 11)),
            Some((11, 18)),
            Some((18, 19)),
            None,
        ];
        let weights = SpanWeights {
            inside: 1.0,
            outside: 0.1,
            good: 2.0,
        };
        let w = span_token_weights(&ranges, &[(6, 11)], &[(0, 5), (9, 18)], weights);
        assert_eq!(w, vec![2.0, -1.0, -1.0, 2.0, 0.1, 0.0]);
        // Good marks alone: likelihood on them, the rest as unmarked.
        let w = span_token_weights(&ranges, &[], &[(0, 5)], SpanWeights::default());
        assert_eq!(w, vec![1.0, 0.0, 0.0, 0.0, 0.0, 0.0]);
        // Settings saved before good labels existed read with the default good weight.
        let old: SpanWeights = serde_json::from_str(r#"{"inside":0.5,"outside":0}"#).unwrap();
        assert_eq!(old.good, 1.0);
        assert_eq!(old.inside, 0.5);
    }
}
