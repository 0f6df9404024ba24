//! How each annotator judges, next to the group: agreement with every other annotator and
//! with the majority, position bias (does the response shown first win more than chance —
//! an exact two-sided binomial test against ½), length bias (do longer answers win), and
//! speed. Computed from the comparisons (the kind these biases are known for) and the time
//! each judgment took. With gold items, each annotator's agreement with the gold answers; with
//! a reward model, how often annotators chose what it prefers when its suggestion was on screen
//! and when it was not (the suggestion's pull on the verdicts).

use std::collections::{BTreeMap, HashMap};

use hone_store::judgments::{self, Judgment, JudgmentBody};
use hone_store::{annotators, flags, gold, responses, skips, Choice, JudgmentKind};
use serde::{Deserialize, Serialize};

use crate::agreement::{
    comparison_value, krippendorff_alpha, percent_agreement, AgreementReport, Level,
};
use crate::queue::{unit_of, UnitKey};
use crate::verdict::Verdict as VerdictOf;
use crate::{AnnotatorId, Hone, JudgmentId, ProjectId, ResponseId, Result};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PairAgreement {
    pub a: String,
    pub b: String,
    /// Comparisons (nominal verdicts), or ratings (interval: one unit per response and criterion).
    pub kind: JudgmentKind,
    /// Units both judged.
    pub units: usize,
    pub percent_agreement: Option<f64>,
    pub alpha: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PositionBias {
    /// Comparisons decided one way (not a tie, not both bad).
    pub decided: usize,
    pub first_wins: usize,
    pub first_share: Option<f64>,
    /// Exact two-sided binomial test of `first_wins` of `decided` against ½.
    pub p_value: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LengthBias {
    /// Decided comparisons of answers of different lengths.
    pub decided: usize,
    pub longer_wins: usize,
    pub longer_share: Option<f64>,
    /// Pearson correlation of the verdict (+1 first answer, −1 second) with the relative
    /// length difference (len₁ − len₂) / (len₁ + len₂).
    pub correlation: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AnnotatorProfile {
    /// The annotator's name, or `all` for the group.
    pub name: String,
    pub judgments: usize,
    /// Of this annotator's comparison verdicts on units others judged too, the share equal to
    /// the others' majority (units where the others split evenly are left out).
    pub with_majority: Option<f64>,
    pub majority_units: usize,
    pub position: PositionBias,
    pub length: LengthBias,
    /// Median seconds per judgment (judgments that recorded a time).
    pub median_seconds: Option<f64>,
    pub gold: GoldAgreement,
    pub suggestion: SuggestionInfluence,
    /// Times they skipped a unit (repeats included) and units they flagged.
    pub skips: usize,
    pub flags: usize,
}

/// Verdicts on gold items against their gold answers (see [`crate::verdict::Verdict::agrees_with`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GoldAgreement {
    pub items: usize,
    pub agree: usize,
    pub share: Option<f64>,
}

/// Decided comparisons that went the suggestion's way: when shown, the answer it preferred on
/// screen (recorded with the judgment; the latest reward model's for older records); when
/// hidden, the latest reward model's preference.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SuggestionInfluence {
    pub shown: usize,
    pub shown_agree: usize,
    pub hidden: usize,
    pub hidden_agree: usize,
    pub shown_share: Option<f64>,
    pub hidden_share: Option<f64>,
    /// Two-sided two-proportion z-test of shown against hidden (pooled variance).
    pub p_value: Option<f64>,
}

impl SuggestionInfluence {
    fn add(&mut self, shown: bool, agree: bool) {
        if shown {
            self.shown += 1;
            self.shown_agree += usize::from(agree);
        } else {
            self.hidden += 1;
            self.hidden_agree += usize::from(agree);
        }
    }

    fn finish(mut self) -> Self {
        let share = |k: usize, n: usize| (n > 0).then(|| k as f64 / n as f64);
        self.shown_share = share(self.shown_agree, self.shown);
        self.hidden_share = share(self.hidden_agree, self.hidden);
        self.p_value =
            two_proportion_p(self.shown_agree, self.shown, self.hidden_agree, self.hidden);
        self
    }
}

/// Two-sided p-value of the pooled two-proportion z-test of k1/n1 against k2/n2; `None` when a
/// group is empty or there is no variation at all.
pub fn two_proportion_p(k1: usize, n1: usize, k2: usize, n2: usize) -> Option<f64> {
    if n1 == 0 || n2 == 0 {
        return None;
    }
    let (n1f, n2f) = (n1 as f64, n2 as f64);
    let pooled = (k1 + k2) as f64 / (n1f + n2f);
    let se = (pooled * (1.0 - pooled) * (1.0 / n1f + 1.0 / n2f)).sqrt();
    if se == 0.0 {
        return None;
    }
    let z = (k1 as f64 / n1f - k2 as f64 / n2f) / se;
    Some(libm::erfc(z.abs() / std::f64::consts::SQRT_2))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AnnotatorReport {
    pub agreement: Vec<AgreementReport>,
    pub pairs: Vec<PairAgreement>,
    pub annotators: Vec<AnnotatorProfile>,
    /// The same measures over everyone, to compare each annotator with.
    pub group: AnnotatorProfile,
    /// The reward model whose preferences the suggestion measures use; `None`: no reward model.
    pub reward_model: Option<String>,
    pub gold_items: usize,
}

/// Exact two-sided binomial test of `k` successes in `n` against p = ½: the probability of an
/// outcome at most as likely as the one observed.
pub fn binomial_two_sided(k: usize, n: usize) -> f64 {
    // ln m! for m = 0..=n, once: the test then costs O(n), not O(n²).
    let ln_fact: Vec<f64> = std::iter::once(0.0)
        .chain((1..=n).scan(0.0, |acc, i| {
            *acc += (i as f64).ln();
            Some(*acc)
        }))
        .collect();
    let p = |i: usize| {
        (ln_fact[n] - ln_fact[i] - ln_fact[n - i] - n as f64 * std::f64::consts::LN_2).exp()
    };
    let observed = p(k);
    (0..=n)
        .map(p)
        .filter(|&q| q <= observed * (1.0 + 1e-9))
        .sum::<f64>()
        .min(1.0)
}

/// Pearson's correlation; `None` without variation.
pub fn pearson(x: &[f64], y: &[f64]) -> Option<f64> {
    let n = x.len() as f64;
    if x.len() < 2 {
        return None;
    }
    let (mx, my) = (x.iter().sum::<f64>() / n, y.iter().sum::<f64>() / n);
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let sxx: f64 = x.iter().map(|a| (a - mx).powi(2)).sum();
    let syy: f64 = y.iter().map(|b| (b - my).powi(2)).sum();
    (sxx > 0.0 && syy > 0.0).then(|| sxy / (sxx * syy).sqrt())
}

/// One decided comparison: which was shown first, and whether the first won.
struct Verdict {
    first_won: bool,
    /// (len first − len second) / (len first + len second)
    relative_length: f64,
}

/// What a profile is computed from, beyond the judgments.
#[derive(Default)]
struct Tallies<'a> {
    verdicts: &'a [Verdict],
    majority: (usize, usize),
    gold: GoldAgreement,
    suggestion: SuggestionInfluence,
    skips: usize,
    flags: usize,
}

fn profile(name: &str, judgments: &[&Judgment], t: Tallies) -> AnnotatorProfile {
    let (verdicts, majority) = (t.verdicts, t.majority);
    let decided = verdicts.len();
    let first_wins = verdicts.iter().filter(|v| v.first_won).count();
    let with_length: Vec<&Verdict> = verdicts
        .iter()
        .filter(|v| v.relative_length != 0.0)
        .collect();
    let longer_wins = with_length
        .iter()
        .filter(|v| v.first_won == (v.relative_length > 0.0))
        .count();
    let x: Vec<f64> = verdicts.iter().map(|v| v.relative_length).collect();
    let y: Vec<f64> = verdicts
        .iter()
        .map(|v| if v.first_won { 1.0 } else { -1.0 })
        .collect();
    let seconds: Vec<f64> = judgments
        .iter()
        .filter(|j| j.time_spent_ms > 0)
        .map(|j| j.time_spent_ms as f64 / 1000.0)
        .collect();
    AnnotatorProfile {
        name: name.to_owned(),
        judgments: judgments.len(),
        with_majority: (majority.1 > 0).then(|| majority.0 as f64 / majority.1 as f64),
        majority_units: majority.1,
        position: PositionBias {
            decided,
            first_wins,
            first_share: (decided > 0).then(|| first_wins as f64 / decided as f64),
            p_value: (decided > 0).then(|| binomial_two_sided(first_wins, decided)),
        },
        length: LengthBias {
            decided: with_length.len(),
            longer_wins,
            longer_share: (!with_length.is_empty())
                .then(|| longer_wins as f64 / with_length.len() as f64),
            correlation: pearson(&x, &y),
        },
        median_seconds: crate::numbers::median(seconds),
        gold: GoldAgreement {
            share: (t.gold.items > 0).then(|| t.gold.agree as f64 / t.gold.items as f64),
            ..t.gold
        },
        suggestion: t.suggestion.finish(),
        skips: t.skips,
        flags: t.flags,
    }
}

impl Hone {
    /// Agreement and bias of every annotator of the project (see the module documentation).
    pub async fn annotator_report(&self, project_id: ProjectId) -> Result<AnnotatorReport> {
        let agreement = self.agreement(project_id).await?;
        let mut conn = self.store().conn().await?;
        let all = judgments::list_current(&mut conn, project_id, None).await?;
        let lengths: HashMap<ResponseId, usize> =
            responses::list_for_project(&mut conn, project_id)
                .await?
                .into_iter()
                .map(|r| (r.id, r.text.chars().count()))
                .collect();
        let everyone: HashMap<AnnotatorId, String> = annotators::list(&mut conn)
            .await?
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect();
        let skip_counts: HashMap<AnnotatorId, usize> = skips::counts(&mut conn, project_id)
            .await?
            .into_iter()
            .map(|(id, n)| (id, n as usize))
            .collect();
        let mut flag_counts: HashMap<AnnotatorId, usize> = HashMap::new();
        for f in flags::list(&mut conn, project_id).await? {
            *flag_counts.entry(f.annotator_id).or_default() += 1;
        }
        drop(conn);
        // The project's annotators (those with a judgment, a skip or a flag here), in id order.
        let names: BTreeMap<AnnotatorId, String> = all
            .iter()
            .map(|j| j.annotator_id)
            .chain(skip_counts.keys().copied())
            .chain(flag_counts.keys().copied())
            .map(|id| (id, everyone.get(&id).cloned().unwrap_or_default()))
            .collect();

        // unit → annotator → verdict value (latest wins); and each annotator's decided verdicts.
        let mut units: BTreeMap<(ResponseId, ResponseId), BTreeMap<AnnotatorId, f64>> =
            BTreeMap::new();
        let mut verdicts: HashMap<AnnotatorId, Vec<Verdict>> = HashMap::new();
        for j in &all {
            let JudgmentBody::Comparison {
                response_a,
                response_b,
                choice,
                ..
            } = &j.body
            else {
                continue;
            };
            units
                .entry((*response_a.min(response_b), *response_a.max(response_b)))
                .or_default()
                .insert(
                    j.annotator_id,
                    comparison_value(*response_a, *response_b, *choice),
                );
            let winner = match choice {
                Choice::A => *response_a,
                Choice::B => *response_b,
                _ => continue,
            };
            let first = j
                .shown_order
                .first()
                .copied()
                .filter(|id| id == response_a || id == response_b)
                .unwrap_or(*response_a);
            let second = if first == *response_a {
                *response_b
            } else {
                *response_a
            };
            let (l1, l2) = (
                lengths.get(&first).copied().unwrap_or(0) as f64,
                lengths.get(&second).copied().unwrap_or(0) as f64,
            );
            let relative_length = if l1 + l2 > 0.0 {
                (l1 - l2) / (l1 + l2)
            } else {
                0.0
            };
            verdicts.entry(j.annotator_id).or_default().push(Verdict {
                first_won: winner == first,
                relative_length,
            });
        }

        // Agreement with the others' majority.
        let mut majority: HashMap<AnnotatorId, (usize, usize)> = HashMap::new();
        for votes in units.values() {
            for (&who, &mine) in votes {
                let mut counts: BTreeMap<u64, usize> = BTreeMap::new();
                for (_, v) in votes.iter().filter(|(o, _)| **o != who) {
                    *counts.entry(v.to_bits()).or_default() += 1;
                }
                let mut ranked: Vec<(usize, u64)> =
                    counts.into_iter().map(|(v, c)| (c, v)).collect();
                ranked.sort_unstable_by(|a, b| b.cmp(a));
                let clear = match ranked.as_slice() {
                    [] => None,
                    [(_, v)] => Some(*v),
                    [(c1, v), (c2, _), ..] if c1 > c2 => Some(*v),
                    _ => None,
                };
                if let Some(v) = clear {
                    let entry = majority.entry(who).or_default();
                    entry.1 += 1;
                    entry.0 += (v == mine.to_bits()) as usize;
                }
            }
        }

        // Every pair of annotators on the units both judged: comparisons, then ratings.
        let mut ratings: BTreeMap<(ResponseId, String), BTreeMap<AnnotatorId, f64>> =
            BTreeMap::new();
        for j in &all {
            if let JudgmentBody::Rating {
                response_id,
                scores,
            } = &j.body
            {
                for (criterion, value) in scores {
                    ratings
                        .entry((*response_id, criterion.clone()))
                        .or_default()
                        .insert(j.annotator_id, *value as f64);
                }
            }
        }
        let ids: Vec<AnnotatorId> = names.keys().copied().collect();
        let mut pairs = Vec::new();
        for (kind, level, by_unit) in [
            (
                JudgmentKind::Comparison,
                Level::Nominal,
                units.values().collect::<Vec<_>>(),
            ),
            (
                JudgmentKind::Rating,
                Level::Interval,
                ratings.values().collect(),
            ),
        ] {
            for (i, &a) in ids.iter().enumerate() {
                for &b in &ids[i + 1..] {
                    let shared: Vec<Vec<f64>> = by_unit
                        .iter()
                        .filter_map(|v| Some(vec![*v.get(&a)?, *v.get(&b)?]))
                        .collect();
                    if shared.is_empty() {
                        continue;
                    }
                    pairs.push(PairAgreement {
                        a: names[&a].clone(),
                        b: names[&b].clone(),
                        kind,
                        units: shared.len(),
                        percent_agreement: percent_agreement(&shared),
                        alpha: krippendorff_alpha(&shared, level),
                    });
                }
            }
        }

        let gold = self.gold_tallies(project_id, &all).await?;
        let (reward_model, suggestion) =
            self.suggestion_tallies(project_id, &all, &lengths).await?;

        let by_annotator = |id: AnnotatorId| -> Vec<&Judgment> {
            all.iter().filter(|j| j.annotator_id == id).collect()
        };
        let annotators = ids
            .iter()
            .map(|&id| {
                let tallies = Tallies {
                    verdicts: verdicts.get(&id).map(Vec::as_slice).unwrap_or(&[]),
                    majority: majority.get(&id).copied().unwrap_or((0, 0)),
                    gold: gold.1.get(&id).copied().unwrap_or_default(),
                    suggestion: suggestion.get(&id).copied().unwrap_or_default(),
                    skips: skip_counts.get(&id).copied().unwrap_or(0),
                    flags: flag_counts.get(&id).copied().unwrap_or(0),
                };
                profile(&names[&id], &by_annotator(id), tallies)
            })
            .collect();
        let everyone: Vec<&Judgment> = all.iter().collect();
        let all_verdicts: Vec<Verdict> = verdicts.into_values().flatten().collect();
        let group = Tallies {
            verdicts: &all_verdicts,
            majority: majority
                .values()
                .fold((0, 0), |acc, m| (acc.0 + m.0, acc.1 + m.1)),
            gold: gold
                .1
                .values()
                .fold(GoldAgreement::default(), |acc, g| GoldAgreement {
                    items: acc.items + g.items,
                    agree: acc.agree + g.agree,
                    share: None,
                }),
            suggestion: suggestion
                .values()
                .fold(SuggestionInfluence::default(), |acc, s| {
                    SuggestionInfluence {
                        shown: acc.shown + s.shown,
                        shown_agree: acc.shown_agree + s.shown_agree,
                        hidden: acc.hidden + s.hidden,
                        hidden_agree: acc.hidden_agree + s.hidden_agree,
                        ..acc
                    }
                }),
            skips: skip_counts.values().sum(),
            flags: flag_counts.values().sum(),
        };
        let group = profile("all", &everyone, group);
        Ok(AnnotatorReport {
            agreement,
            pairs,
            annotators,
            group,
            reward_model,
            gold_items: gold.0,
        })
    }

    /// The number of gold items, and per annotator their latest verdicts on the gold items
    /// (other than their own gold answers) against the gold answers.
    async fn gold_tallies(
        &self,
        project_id: ProjectId,
        all: &[Judgment],
    ) -> Result<(usize, HashMap<AnnotatorId, GoldAgreement>)> {
        let gold_ids: std::collections::HashSet<JudgmentId> =
            gold::list(&mut *self.store().conn().await?, project_id)
                .await?
                .into_iter()
                .collect();
        // (kind, unit) → (gold author, gold verdict)
        let mut answers: HashMap<(JudgmentKind, UnitKey), (AnnotatorId, VerdictOf)> =
            HashMap::new();
        for j in all.iter().filter(|j| gold_ids.contains(&j.id)) {
            if let Some(v) = VerdictOf::of(&j.body) {
                answers.insert(
                    (j.kind(), unit_of(j.kind(), &j.body, j.prompt_id)),
                    (j.annotator_id, v),
                );
            }
        }
        // (annotator, kind, unit) → the latest verdict
        let mut latest: HashMap<(AnnotatorId, JudgmentKind, UnitKey), VerdictOf> = HashMap::new();
        for j in all.iter().filter(|j| !gold_ids.contains(&j.id)) {
            let key = (j.kind(), unit_of(j.kind(), &j.body, j.prompt_id));
            match (answers.get(&key), VerdictOf::of(&j.body)) {
                (Some((author, _)), Some(v)) if *author != j.annotator_id => {
                    latest.insert((j.annotator_id, key.0, key.1), v);
                }
                _ => {}
            }
        }
        let mut out: HashMap<AnnotatorId, GoldAgreement> = HashMap::new();
        for ((who, kind, unit), v) in latest {
            let g = out.entry(who).or_default();
            g.items += 1;
            g.agree += usize::from(v.agrees_with(&answers[&(kind, unit)].1));
        }
        Ok((answers.len(), out))
    }

    /// The latest reward model's name, and per annotator their decided comparisons split by
    /// whether the suggestion was shown, and whether they chose the answer it scores higher.
    async fn suggestion_tallies(
        &self,
        project_id: ProjectId,
        all: &[Judgment],
        lengths: &HashMap<ResponseId, usize>,
    ) -> Result<(Option<String>, HashMap<AnnotatorId, SuggestionInfluence>)> {
        let decided: Vec<(&Judgment, ResponseId, ResponseId)> = all
            .iter()
            .filter_map(|j| match &j.body {
                JudgmentBody::Comparison {
                    response_a,
                    response_b,
                    choice: Choice::A,
                    ..
                } => Some((j, *response_a, *response_b)),
                JudgmentBody::Comparison {
                    response_a,
                    response_b,
                    choice: Choice::B,
                    ..
                } => Some((j, *response_b, *response_a)),
                _ => None,
            })
            .collect();
        let Some(rm) = self.latest_reward_model(project_id, None).await? else {
            return Ok((None, HashMap::new()));
        };
        // An empty answer cannot be scored: its comparisons say nothing here.
        let empty = |id: &ResponseId| lengths.get(id).is_none_or(|n| *n == 0);
        let decided: Vec<(&Judgment, ResponseId, ResponseId)> = decided
            .into_iter()
            .filter(|(_, w, l)| !empty(w) && !empty(l))
            .collect();
        let ids: Vec<ResponseId> = decided
            .iter()
            .flat_map(|(_, w, l)| [*w, *l])
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let scores: HashMap<ResponseId, f64> = if ids.is_empty() {
            HashMap::new()
        } else {
            ids.iter()
                .copied()
                .zip(self.score_responses(rm.id, &ids).await?)
                .collect()
        };
        let mut out: HashMap<AnnotatorId, SuggestionInfluence> = HashMap::new();
        for (j, winner, loser) in decided {
            // Shown: against what the suggestion on screen preferred, when it was recorded;
            // hidden (or not recorded): against the latest reward model's preference.
            let agree = match (j.suggestion_visible, j.suggested_response_id) {
                (true, Some(suggested)) => Some(suggested == winner),
                _ => {
                    let (w, l) = (scores[&winner], scores[&loser]);
                    (w != l).then_some(w > l)
                }
            };
            if let Some(agree) = agree {
                out.entry(j.annotator_id)
                    .or_default()
                    .add(j.suggestion_visible, agree);
            }
        }
        Ok((Some(rm.name), out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_test_matches_the_hand_computed_values() {
        // 9 of 10: P(X ≥ 9) + P(X ≤ 1) = 2 · (10 + 1) / 1024.
        assert!((binomial_two_sided(9, 10) - 22.0 / 1024.0).abs() < 1e-12);
        // 5 of 10 is the most likely outcome: p = 1.
        assert!((binomial_two_sided(5, 10) - 1.0).abs() < 1e-12);
        // 0 of 4: 2 / 16.
        assert!((binomial_two_sided(0, 4) - 0.125).abs() < 1e-12);
    }

    #[test]
    fn the_two_proportion_test_matches_the_hand_computed_value() {
        // 18/20 against 10/20: pooled 0.7, se = sqrt(0.21 · 0.1) = 0.144914, z = 2.760262,
        // two-sided p = erfc(z / √2) = 0.005775 (normal table).
        let p = two_proportion_p(18, 20, 10, 20).unwrap();
        assert!((p - 0.005775).abs() < 2e-6, "p = {p}");
        assert!(
            (two_proportion_p(5, 10, 5, 10).unwrap() - 1.0).abs() < 1e-12,
            "equal shares"
        );
        assert_eq!(two_proportion_p(3, 3, 4, 4), None, "no variation");
        assert_eq!(two_proportion_p(1, 2, 0, 0), None, "an empty group");
    }

    #[test]
    fn pearson_matches_the_hand_computed_value() {
        // x = (1, 2, 3), y = (1, 3, 2): sxy = 1, sxx = syy = 2 → r = 0.5.
        assert!((pearson(&[1.0, 2.0, 3.0], &[1.0, 3.0, 2.0]).unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(pearson(&[1.0, 1.0], &[0.0, 1.0]), None, "no variation in x");
    }
}
