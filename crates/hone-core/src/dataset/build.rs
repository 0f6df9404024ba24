//! Judgments → training rows.
//!
//! | judgment | rows |
//! |---|---|
//! | comparison a/b | a vote for the pair (winner ≻ loser); `tie` gives nothing; `both_bad` two undesirable votes |
//! | ranking of k | a vote for each of its k(k−1)/2 pairs |
//! | rating | a desirable vote if the mean over criteria ≥ the project's `kto_threshold`, else undesirable |
//! | edit | an SFT row (prompt, corrected) and a vote corrected ≻ original |
//! | edit left unchanged ("already good") | an SFT row (prompt, original) and a desirable vote |
//! | span annotation with a span under an error label | an undesirable vote for the response |
//! | span annotation with no span ("nothing wrong"), or only spans under good labels | a desirable vote, as a thumbs-up |
//! | thumbs | a desirable or undesirable vote |
//! | demonstration | an SFT row |
//!
//! For token-level training (a recipe's `token_level`), an edit also gives an [`EditRow`]
//! (original and correction), and a response with marked spans a [`SpanRow`]: the characters
//! a majority of the annotators who span-annotated it marked under an error label, and those a
//! majority marked under a good label (one who marked nothing counts as marking nothing; an
//! annotator's latest judgment replaces their earlier ones).
//!
//! Votes about the same pair (or the same response's desirability) are pooled across
//! annotators, one vote each (an annotator's latest judgment replaces their earlier ones): the
//! majority wins, an even split is dropped, and any disagreement is reported as a
//! [`Conflict`]. Rows come out in the order of their first vote. Superseded judgments (replaced
//! by a re-judgment) are left out by the caller when it selects judgments, not here: a frozen
//! snapshot that holds one must still rebuild its rows.

use std::collections::{BTreeSet, HashMap, HashSet};

use hone_store::judgments::{Judgment, JudgmentBody, SpanMark};
use hone_store::prompts::Prompt;
use hone_store::responses::Response;
use hone_store::Choice;
use serde::{Deserialize, Serialize};

use super::rows::{EditRow, KtoRow, PreferenceRow, PromptContent, SftRow, SpanRow};
use crate::{AnnotatorId, CoreError, JudgmentId, PromptId, ResponseId, Result};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainingData {
    pub preferences: Vec<PreferenceRow>,
    pub sft: Vec<SftRow>,
    pub kto: Vec<KtoRow>,
    pub conflicts: Vec<Conflict>,
    #[serde(default)]
    pub edits: Vec<EditRow>,
    #[serde(default)]
    pub spans: Vec<SpanRow>,
}

impl TrainingData {
    /// The KTO rows (response, label) that marked answers' token-level rows stand for when
    /// token-level spans are on: an answer's undesirable row when errors are marked in it, its
    /// desirable row when only what is good is. A row the marks disagree with (a majority of
    /// thumbs down on an answer marked only good) stays a whole-answer example.
    pub fn kto_rows_replaced_by_spans(&self) -> HashSet<(ResponseId, bool)> {
        self.spans
            .iter()
            .map(|s| (s.response_id, s.marked.is_empty()))
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "about", rename_all = "snake_case")]
pub enum ConflictSubject {
    /// Votes that `first` ≻ `second` against votes that `second` ≻ `first`.
    Pair {
        first: ResponseId,
        second: ResponseId,
    },
    /// Votes that the response is desirable against votes that it is not.
    Desirability { response_id: ResponseId },
}

/// Judgments that disagree about the same thing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    pub prompt_id: PromptId,
    pub subject: ConflictSubject,
    /// Votes for the first reading (`first` ≻ `second`, or desirable).
    pub votes_for: usize,
    pub votes_against: usize,
    pub annotator_ids: Vec<AnnotatorId>,
    pub judgment_ids: Vec<JudgmentId>,
    /// `true` when the majority decided; `false` when the split was even and the item was dropped.
    pub resolved: bool,
}

#[derive(Default)]
struct Votes {
    /// (judgment id, annotator id) per vote.
    yes: Vec<(JudgmentId, AnnotatorId)>,
    no: Vec<(JudgmentId, AnnotatorId)>,
}

impl Votes {
    /// Adds a vote; an annotator's later vote on the same subject replaces their earlier one
    /// (a changed mind counts once, as in the agreement figures).
    fn push(&mut self, yes: bool, judgment: &Judgment) {
        let vote = (judgment.id, judgment.annotator_id);
        self.yes.retain(|(_, a)| *a != judgment.annotator_id);
        self.no.retain(|(_, a)| *a != judgment.annotator_id);
        if yes {
            self.yes.push(vote)
        } else {
            self.no.push(vote)
        }
    }

    /// Takes back `annotator_id`'s vote (they changed their mind to "no preference").
    fn withdraw(&mut self, annotator_id: AnnotatorId) {
        self.yes.retain(|(_, a)| *a != annotator_id);
        self.no.retain(|(_, a)| *a != annotator_id);
    }

    /// The majority verdict and its supporting judgments, or `None` on an even split.
    fn majority(&self) -> Option<(bool, Vec<JudgmentId>)> {
        let ids = |v: &[(JudgmentId, AnnotatorId)]| {
            v.iter()
                .map(|(j, _)| *j)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect()
        };
        match self.yes.len().cmp(&self.no.len()) {
            std::cmp::Ordering::Greater => Some((true, ids(&self.yes))),
            std::cmp::Ordering::Less => Some((false, ids(&self.no))),
            std::cmp::Ordering::Equal => None,
        }
    }

    fn conflict(&self, prompt_id: PromptId, subject: ConflictSubject) -> Option<Conflict> {
        if self.yes.is_empty() || self.no.is_empty() {
            return None;
        }
        let all = self.yes.iter().chain(&self.no);
        Some(Conflict {
            prompt_id,
            subject,
            votes_for: self.yes.len(),
            votes_against: self.no.len(),
            annotator_ids: all
                .clone()
                .map(|(_, a)| *a)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            judgment_ids: all
                .map(|(j, _)| *j)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
            resolved: self.yes.len() != self.no.len(),
        })
    }
}

/// One annotator's latest marks on a response.
struct AnnotatorMarks {
    judgment_id: JudgmentId,
    annotator_id: AnnotatorId,
    /// Character ranges marked with an error label.
    errors: Vec<(usize, usize)>,
    /// Character ranges marked with a good label.
    good: Vec<(usize, usize)>,
}

/// What turns judgments into rows besides the judgments themselves: the project's settings, as
/// a snapshot froze them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RowRules {
    /// A rating whose mean over criteria reaches this is a desirable vote.
    pub kto_threshold: f64,
    /// The span labels that mark what is good; every other label marks an error.
    pub good_labels: BTreeSet<String>,
}

/// Keeps keys in the order they were first seen.
struct Ordered<K, V> {
    index: HashMap<K, usize>,
    entries: Vec<(K, V)>,
}

impl<K: std::hash::Hash + Eq + Clone, V: Default> Ordered<K, V> {
    fn new() -> Self {
        Self {
            index: HashMap::new(),
            entries: Vec::new(),
        }
    }

    fn entry(&mut self, key: K) -> &mut V {
        let i = *self.index.entry(key.clone()).or_insert_with(|| {
            self.entries.push((key, V::default()));
            self.entries.len() - 1
        });
        &mut self.entries[i].1
    }
}

/// A vote of `j` that `winner` ≻ `loser`, kept under the pair's (prompt, lower id, higher id).
fn prefer(
    pairs: &mut Ordered<(PromptId, ResponseId, ResponseId), Votes>,
    j: &Judgment,
    winner: ResponseId,
    loser: ResponseId,
) {
    let (lo, hi) = (winner.min(loser), winner.max(loser));
    pairs.entry((j.prompt_id, lo, hi)).push(winner == lo, j);
}

/// Builds the rows from `judgments` (in id order), looking up texts in `prompts` and
/// `responses`, by the project's `rules`.
pub fn build_training_data(
    judgments: &[Judgment],
    prompts: &HashMap<PromptId, Prompt>,
    responses: &HashMap<ResponseId, Response>,
    rules: &RowRules,
) -> Result<TrainingData> {
    // (prompt, lower id, higher id) → votes that lower ≻ higher.
    let mut pairs: Ordered<(PromptId, ResponseId, ResponseId), Votes> = Ordered::new();
    // (prompt, response) → votes that it is desirable.
    let mut desirability: Ordered<(PromptId, ResponseId), Votes> = Ordered::new();
    // (prompt, response) → supporting judgments.
    let mut demonstrations: Ordered<(PromptId, ResponseId), Vec<JudgmentId>> = Ordered::new();
    // (judgment, prompt, original, corrected) of each edit that changed its answer.
    let mut edits: Vec<(JudgmentId, PromptId, ResponseId, ResponseId)> = Vec::new();
    // (prompt, response) → each span-annotating annotator's latest marks.
    let mut marks: Ordered<(PromptId, ResponseId), Vec<AnnotatorMarks>> = Ordered::new();

    for j in judgments {
        match &j.body {
            JudgmentBody::Comparison {
                response_a,
                response_b,
                choice,
                ..
            } => match choice {
                Choice::A => prefer(&mut pairs, j, *response_a, *response_b),
                Choice::B => prefer(&mut pairs, j, *response_b, *response_a),
                // A tie or "both bad" prefers neither: it replaces the annotator's earlier
                // preference on the pair, as any later verdict does.
                Choice::Tie => pairs
                    .entry((
                        j.prompt_id,
                        *response_a.min(response_b),
                        *response_a.max(response_b),
                    ))
                    .withdraw(j.annotator_id),
                Choice::BothBad => {
                    pairs
                        .entry((
                            j.prompt_id,
                            *response_a.min(response_b),
                            *response_a.max(response_b),
                        ))
                        .withdraw(j.annotator_id);
                    desirability
                        .entry((j.prompt_id, *response_a))
                        .push(false, j);
                    desirability
                        .entry((j.prompt_id, *response_b))
                        .push(false, j);
                }
            },
            JudgmentBody::Ranking { ranked } => {
                for (i, better) in ranked.iter().enumerate() {
                    for worse in &ranked[i + 1..] {
                        prefer(&mut pairs, j, *better, *worse);
                    }
                }
            }
            JudgmentBody::Rating {
                response_id,
                scores,
            } => {
                if !scores.is_empty() {
                    let mean = scores.values().sum::<i64>() as f64 / scores.len() as f64;
                    desirability
                        .entry((j.prompt_id, *response_id))
                        .push(mean >= rules.kto_threshold, j);
                }
            }
            // Accepted as it is: the answer is a good example and a desirable one.
            JudgmentBody::Edit {
                response_id,
                corrected_response_id,
                ..
            } if corrected_response_id == response_id => {
                desirability
                    .entry((j.prompt_id, *response_id))
                    .push(true, j);
                demonstrations.entry((j.prompt_id, *response_id)).push(j.id);
            }
            JudgmentBody::Edit {
                response_id,
                corrected_response_id,
                ..
            } => {
                edits.push((j.id, j.prompt_id, *response_id, *corrected_response_id));
                prefer(&mut pairs, j, *corrected_response_id, *response_id);
                demonstrations
                    .entry((j.prompt_id, *corrected_response_id))
                    .push(j.id);
            }
            // No error marked (nothing, or only what is good): a desirable vote.
            JudgmentBody::Span { response_id, spans } => {
                let (good, errors): (Vec<_>, Vec<_>) = spans
                    .iter()
                    .partition(|s| rules.good_labels.contains(&s.label));
                desirability
                    .entry((j.prompt_id, *response_id))
                    .push(errors.is_empty(), j);
                let by_annotator = marks.entry((j.prompt_id, *response_id));
                by_annotator.retain(|m| m.annotator_id != j.annotator_id);
                let ranges = |marks: Vec<&SpanMark>| {
                    marks
                        .iter()
                        .map(|s| (s.start.max(0) as usize, s.end.max(0) as usize))
                        .collect()
                };
                by_annotator.push(AnnotatorMarks {
                    judgment_id: j.id,
                    annotator_id: j.annotator_id,
                    errors: ranges(errors),
                    good: ranges(good),
                });
            }
            JudgmentBody::Thumbs { response_id, up } => {
                desirability.entry((j.prompt_id, *response_id)).push(*up, j)
            }
            JudgmentBody::Demonstration { response_id } => {
                demonstrations.entry((j.prompt_id, *response_id)).push(j.id)
            }
            JudgmentBody::Critique { .. } => {}
        }
    }

    let prompt = |id: PromptId| -> Result<PromptContent> {
        prompts
            .get(&id)
            .map(PromptContent::from)
            .ok_or_else(|| CoreError::NotFound {
                entity: "prompt",
                key: id.to_string(),
            })
    };
    let text = |id: ResponseId| -> Result<String> {
        responses
            .get(&id)
            .map(|r| r.text.clone())
            .ok_or_else(|| CoreError::NotFound {
                entity: "response",
                key: id.to_string(),
            })
    };

    let mut data = TrainingData::default();
    for ((prompt_id, lo, hi), votes) in &pairs.entries {
        data.conflicts.extend(votes.conflict(
            *prompt_id,
            ConflictSubject::Pair {
                first: *lo,
                second: *hi,
            },
        ));
        if let Some((lo_wins, judgment_ids)) = votes.majority() {
            let (chosen, rejected) = if lo_wins { (*lo, *hi) } else { (*hi, *lo) };
            data.preferences.push(PreferenceRow {
                prompt: prompt(*prompt_id)?,
                chosen: text(chosen)?,
                rejected: text(rejected)?,
                chosen_response_id: chosen,
                rejected_response_id: rejected,
                judgment_ids,
            });
        }
    }
    for ((prompt_id, response_id), judgment_ids) in &demonstrations.entries {
        data.sft.push(SftRow {
            prompt: prompt(*prompt_id)?,
            completion: text(*response_id)?,
            response_id: *response_id,
            judgment_ids: judgment_ids
                .iter()
                .copied()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        });
    }
    for (judgment_id, prompt_id, original, corrected) in edits {
        data.edits.push(EditRow {
            prompt: prompt(prompt_id)?,
            original: text(original)?,
            corrected: text(corrected)?,
            original_response_id: original,
            corrected_response_id: corrected,
            judgment_ids: vec![judgment_id],
        });
    }
    for ((prompt_id, response_id), by_annotator) in &marks.entries {
        let marked = majority_marks(by_annotator.iter().map(|m| m.errors.as_slice()));
        let good = majority_marks(by_annotator.iter().map(|m| m.good.as_slice()));
        if !marked.is_empty() || !good.is_empty() {
            let mut judgment_ids: Vec<JudgmentId> =
                by_annotator.iter().map(|m| m.judgment_id).collect();
            judgment_ids.sort_unstable();
            data.spans.push(SpanRow {
                prompt: prompt(*prompt_id)?,
                completion: text(*response_id)?,
                marked,
                good,
                response_id: *response_id,
                judgment_ids,
            });
        }
    }
    for ((prompt_id, response_id), votes) in &desirability.entries {
        data.conflicts.extend(votes.conflict(
            *prompt_id,
            ConflictSubject::Desirability {
                response_id: *response_id,
            },
        ));
        if let Some((label, judgment_ids)) = votes.majority() {
            data.kto.push(KtoRow {
                prompt: prompt(*prompt_id)?,
                completion: text(*response_id)?,
                label,
                response_id: *response_id,
                judgment_ids,
            });
        }
    }
    Ok(data)
}

/// The character ranges that more than half of the annotators marked (each annotator's marks
/// as `start..end` ranges; one with none counts against), merged and in order.
fn majority_marks<'a>(
    annotators: impl Iterator<Item = &'a [(usize, usize)]>,
) -> Vec<(usize, usize)> {
    // +1 where an annotator's marks begin covering a character, −1 where they stop.
    let mut edges: Vec<(usize, i64)> = Vec::new();
    let mut count = 0usize;
    for ranges in annotators {
        count += 1;
        let mut own: Vec<(usize, usize)> = ranges.iter().copied().filter(|(s, e)| s < e).collect();
        own.sort_unstable();
        // An annotator's overlapping spans count once.
        let mut merged: Vec<(usize, usize)> = Vec::new();
        for (s, e) in own {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        for (s, e) in merged {
            edges.push((s, 1));
            edges.push((e, -1));
        }
    }
    edges.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::new();
    let mut depth = 0i64;
    let mut start = None;
    for (position, delta) in edges {
        depth += delta;
        let majority = 2 * depth > count as i64;
        match (majority, start) {
            (true, None) => start = Some(position),
            (false, Some(s)) => {
                if s < position {
                    match out.last_mut() {
                        Some(last) if last.1 == s => last.1 = position,
                        _ => out.push((s, position)),
                    }
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::majority_marks;

    #[test]
    fn a_character_is_marked_when_most_annotators_marked_it() {
        // One annotator: their spans, overlapping ones merged.
        let one: &[(usize, usize)] = &[(5, 9), (2, 4), (3, 6)];
        assert_eq!(majority_marks([one].into_iter()), vec![(2, 9)]);
        // Three annotators: 2..6 by two of them, 10..12 by one only.
        let a: &[(usize, usize)] = &[(0, 6)];
        let b: &[(usize, usize)] = &[(2, 8), (10, 12)];
        let c: &[(usize, usize)] = &[];
        assert_eq!(majority_marks([a, b, c].into_iter()), vec![(2, 6)]);
        // Two annotators: a tie is no majority.
        assert!(majority_marks([a, c].into_iter()).is_empty());
        // Empty and reversed ranges mark nothing.
        let odd: &[(usize, usize)] = &[(4, 4), (7, 3)];
        assert!(majority_marks([odd].into_iter()).is_empty());
    }
}
