//! AI assistance for annotators: a suggestion of which answer on screen is best, from the
//! project's latest reward model (its scores) or from a local judge model the user chose (an
//! instruction model asked which answer is better; see [`judge_prompt`]). The UI shows it only
//! when the annotator asks (off by default, never pre-selected), and each judgment records
//! whether it was visible (`FeedbackInput::suggestion_visible`), so its pull on the verdicts can
//! be measured (`annotator_report`).

use hone_model::score::score;
use hone_store::prompts::Prompt;
use hone_store::{projects, prompts, responses};
use serde::{Deserialize, Serialize};

use crate::inference::{encode_answer, ModelRef};
use crate::{CoreError, Hone, ProjectId, ResponseId, Result, VersionId};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Suggestion {
    /// Who suggests: the reward model's version name, or "judge <model>".
    pub source: String,
    /// The reward-model version that scored; `None` when a judge model did.
    pub reward_model: Option<VersionId>,
    /// One score per response, in the order given: the reward model's scalar score, or the
    /// judge's probability of naming that answer the best (they sum to 1).
    pub scores: Vec<f64>,
    /// The best-scored response (the first of equals).
    pub preferred: ResponseId,
}

/// The most answers a judge can be asked about (one letter each).
pub const MAX_JUDGED: usize = 26;

fn letter(i: usize) -> char {
    (b'A' + i as u8) as char
}

/// What the judge model is asked: the task, the guidelines, the question and the answers
/// lettered A, B, …; it is to reply with one letter.
pub fn judge_prompt(
    task: &str,
    guidelines: Option<&str>,
    question: &str,
    answers: &[&str],
) -> String {
    let mut text = String::from("You compare answers to a question and pick the best one.\n");
    if !task.trim().is_empty() {
        text.push_str(&format!("The task: {}\n", task.trim()));
    }
    if let Some(g) = guidelines.filter(|g| !g.trim().is_empty()) {
        text.push_str(&format!("The guidelines:\n{}\n", g.trim()));
    }
    text.push_str(&format!("\nQuestion:\n{}\n", question.trim()));
    for (i, a) in answers.iter().enumerate() {
        text.push_str(&format!("\nAnswer {}:\n{}\n", letter(i), a.trim()));
    }
    let letters: Vec<String> = (0..answers.len()).map(|i| letter(i).to_string()).collect();
    text.push_str(&format!(
        "\nWhich answer is best? Reply with one letter: {}.",
        letters.join(" or ")
    ));
    text
}

/// The index of the highest score (the first of equals).
fn best(scores: &[f64]) -> usize {
    scores
        .iter()
        .enumerate()
        .fold(0, |best, (i, s)| if *s > scores[best] { i } else { best })
}

impl Hone {
    /// The answers' prompt, checking that `response_ids` answer one prompt of the project.
    async fn answers_on_screen(
        &self,
        project_id: ProjectId,
        response_ids: &[ResponseId],
    ) -> Result<(Prompt, Vec<String>)> {
        if response_ids.is_empty() {
            return Err(CoreError::invalid("response_ids", "is empty"));
        }
        let mut conn = self.store().conn().await?;
        let mut prompt_id = None;
        let mut texts = Vec::with_capacity(response_ids.len());
        for &id in response_ids {
            let r = responses::get(&mut conn, id).await?;
            if *prompt_id.get_or_insert(r.prompt_id) != r.prompt_id {
                return Err(CoreError::invalid(
                    "response_ids",
                    "the responses answer different prompts",
                ));
            }
            texts.push(r.text);
        }
        let prompt = prompts::get(&mut conn, prompt_id.expect("non-empty")).await?;
        if prompt.project_id != project_id {
            return Err(CoreError::invalid(
                "response_ids",
                format!("the responses belong to another project than {project_id}"),
            ));
        }
        Ok((prompt, texts))
    }

    /// The latest reward model's scores of `response_ids` (answers to one prompt of the project).
    pub async fn suggestion(
        &self,
        project_id: ProjectId,
        response_ids: &[ResponseId],
    ) -> Result<Suggestion> {
        self.answers_on_screen(project_id, response_ids).await?;
        let rm = self
            .latest_reward_model(project_id, None)
            .await?
            .ok_or_else(|| {
                CoreError::invalid(
                    "project",
                    "has no reward model yet: train one (method rm) to get suggestions",
                )
            })?;
        let scores = self.score_responses(rm.id, response_ids).await?;
        Ok(Suggestion {
            source: rm.name,
            reward_model: Some(rm.id),
            preferred: response_ids[best(&scores)],
            scores,
        })
    }

    /// A judge model's suggestion: `judge` is asked [`judge_prompt`] (in its chat template when
    /// it has one) twice, with the answers in the order given and reversed (judges favour a
    /// position); each answer's score is the mean over the two of the probability of its
    /// letter as the reply, normalised over the letters.
    pub async fn judge_suggestion(
        &self,
        project_id: ProjectId,
        response_ids: &[ResponseId],
        judge: &ModelRef,
    ) -> Result<Suggestion> {
        let (prompt, answers) = self.answers_on_screen(project_id, response_ids).await?;
        if answers.len() > MAX_JUDGED {
            return Err(CoreError::invalid(
                "response_ids",
                format!(
                    "a judge compares at most {MAX_JUDGED} answers, not {}",
                    answers.len()
                ),
            ));
        }
        let mut conn = self.store().conn().await?;
        let project = projects::get(&mut conn, project_id).await?;
        let guidelines = projects::latest_guideline(&mut conn, project_id)
            .await?
            .map(|g| g.text);
        drop(conn);
        let forward: Vec<&str> = answers.iter().map(String::as_str).collect();
        let backward: Vec<&str> = forward.iter().rev().copied().collect();
        let ask = |order: &[&str]| Prompt {
            text: judge_prompt(
                &project.task_description,
                guidelines.as_deref(),
                &prompt.text,
                order,
            ),
            messages: None,
            ..prompt.clone()
        };
        let questions = [ask(&forward), ask(&backward)];
        let resolved = self.resolve_model(judge).await?;
        let source = match &resolved.version {
            Some(v) => format!("judge {}", v.name),
            None => format!(
                "judge {}",
                resolved.base_dir.file_name().map_or_else(
                    || resolved.base_dir.display().to_string(),
                    |n| n.to_string_lossy().into_owned()
                )
            ),
        };
        let n = answers.len();
        let scores = crate::blocking::run(move || -> Result<Vec<f64>> {
            let loaded = resolved.load()?;
            let letter_probabilities = |question: &Prompt| -> Result<Vec<f64>> {
                let pairs = (0..n)
                    .map(|i| encode_answer(&loaded.lm, question, &letter(i).to_string()))
                    .collect::<Result<Vec<_>>>()?;
                let logprobs: Vec<f64> = score(&loaded.lm, loaded.adapter.as_ref(), &pairs)?
                    .iter()
                    .map(|s| f64::from(s.sum))
                    .collect();
                Ok(softmax(&logprobs))
            };
            let (forward, backward) = (
                letter_probabilities(&questions[0])?,
                letter_probabilities(&questions[1])?,
            );
            // Answer i is lettered n − 1 − i in the reversed order.
            Ok((0..n)
                .map(|i| (forward[i] + backward[n - 1 - i]) / 2.0)
                .collect())
        })
        .await??;
        Ok(Suggestion {
            source,
            reward_model: None,
            preferred: response_ids[best(&scores)],
            scores,
        })
    }
}

/// exp(xᵢ − max) / Σ exp(xⱼ − max).
pub fn softmax(x: &[f64]) -> Vec<f64> {
    let max = x.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = x.iter().map(|v| (v - max).exp()).collect();
    let total: f64 = e.iter().sum();
    e.iter().map(|v| v / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_judge_prompt_letters_the_answers_and_asks_for_one_letter() {
        let p = judge_prompt(
            "Help-desk answers",
            Some("Correct first."),
            "How do I reset?",
            &["Settings.", "No idea.", "Ask IT."],
        );
        assert!(p.contains("The task: Help-desk answers\nThe guidelines:\nCorrect first.\n\nQuestion:\nHow do I reset?\n"), "{p}");
        assert!(
            p.contains("\nAnswer A:\nSettings.\n\nAnswer B:\nNo idea.\n\nAnswer C:\nAsk IT.\n"),
            "{p}"
        );
        assert!(p.ends_with("Reply with one letter: A or B or C."), "{p}");
        assert!(
            !judge_prompt("", None, "Q", &["a", "b"]).contains("The task"),
            "no empty task line"
        );
    }

    #[test]
    fn softmax_normalises_log_probabilities() {
        let p = softmax(&[(0.2f64).ln(), (0.6f64).ln(), (0.2f64).ln()]);
        assert!((p[1] - 0.6).abs() < 1e-12 && (p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(best(&[0.1, 0.5, 0.5]), 1, "the first of equals");
    }
}
