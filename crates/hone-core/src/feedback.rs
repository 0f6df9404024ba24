//! Recording feedback. Every judgment is validated here and committed before the call returns.

use std::collections::{BTreeMap, HashSet};

use hone_store::judgments::{self, JudgmentBody, NewJudgment, SpanMark};
use hone_store::projects;
use hone_store::responses::{self, NewResponse, Response};
use hone_store::{
    annotators, prompts, submissions, AnnotatorKind, Choice, Conn, JudgmentKind, ResponseSource,
};
use serde::{Deserialize, Serialize};

use crate::{CoreError, Hone, JudgmentId, ProjectId, PromptId, ResponseId, Result};

/// One piece of feedback as a front door submits it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackInput {
    pub project_id: ProjectId,
    /// The annotator's name; created on first use.
    pub annotator: String,
    #[serde(default)]
    pub time_spent_ms: i64,
    /// Response ids in the order they were shown; empty means "as given in `kind`".
    #[serde(default)]
    pub shown_order: Vec<ResponseId>,
    #[serde(default)]
    pub critique: Option<String>,
    /// Whether an AI suggestion (`Hone::suggestion`) was on screen; recorded so its influence
    /// on the verdicts can be measured.
    #[serde(default)]
    pub suggestion_visible: bool,
    /// The answer the suggestion on screen preferred (`Suggestion::preferred`), so that its pull
    /// is measured against what was shown; only with `suggestion_visible`.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub suggested_response_id: Option<ResponseId>,
    /// A re-judgment: the id of the annotator's own earlier judgment (same project, kind and
    /// prompt, not superseded yet) that this one replaces. Both are kept; the old one stops
    /// counting (queue, agreement, training data built from now on).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub supersedes: Option<JudgmentId>,
    /// The client's own id for this submission (8–100 letters, digits, `-` or `_`, e.g. a
    /// UUID): sent again — the answer was lost, an outbox retried after the connection came
    /// back — it gets the first recording's answer instead of a second judgment.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub submission_id: Option<String>,
    pub kind: FeedbackKind,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeedbackKind {
    Comparison {
        response_a: ResponseId,
        response_b: ResponseId,
        choice: Choice,
        strength: Option<i64>,
        reason: Option<String>,
    },
    /// Best first; must be a permutation of the responses shown (k ≥ 3).
    Ranking {
        ranked: Vec<ResponseId>,
    },
    Rating {
        response_id: ResponseId,
        scores: BTreeMap<String, i64>,
    },
    /// The expert's corrected version of the response. The original text unchanged (line
    /// endings and trailing white space aside) accepts the answer as it is ("already good").
    Edit {
        response_id: ResponseId,
        corrected: String,
    },
    /// Marked spans, each under one of the project's labels (an error, or with a good label
    /// what is right); no spans at all accepts the answer as it is ("nothing wrong").
    Span {
        response_id: ResponseId,
        spans: Vec<SpanMark>,
    },
    Thumbs {
        response_id: ResponseId,
        up: bool,
    },
    /// A reference answer the expert wrote (or imported) for the prompt.
    Demonstration {
        prompt_id: PromptId,
        text: String,
    },
    /// Free text about a response, in `critique`.
    Critique {
        response_id: ResponseId,
    },
}

impl FeedbackKind {
    pub fn kind(&self) -> JudgmentKind {
        match self {
            FeedbackKind::Comparison { .. } => JudgmentKind::Comparison,
            FeedbackKind::Ranking { .. } => JudgmentKind::Ranking,
            FeedbackKind::Rating { .. } => JudgmentKind::Rating,
            FeedbackKind::Edit { .. } => JudgmentKind::Edit,
            FeedbackKind::Span { .. } => JudgmentKind::Span,
            FeedbackKind::Thumbs { .. } => JudgmentKind::Thumbs,
            FeedbackKind::Demonstration { .. } => JudgmentKind::Demonstration,
            FeedbackKind::Critique { .. } => JudgmentKind::Critique,
        }
    }
}

impl FeedbackInput {
    /// `kind` by `annotator`, with what a front door may leave out at its defaults: no time,
    /// the order as given, no critique, no suggestion on screen, not a re-judgment.
    pub fn new(project_id: ProjectId, annotator: impl Into<String>, kind: FeedbackKind) -> Self {
        Self {
            project_id,
            annotator: annotator.into(),
            time_spent_ms: 0,
            shown_order: Vec::new(),
            critique: None,
            suggestion_visible: false,
            suggested_response_id: None,
            supersedes: None,
            submission_id: None,
            kind,
        }
    }
}

/// What recording a judgment created.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    pub judgment_id: JudgmentId,
    pub prompt_id: PromptId,
    /// The response made from an edit's corrected text or a demonstration (`None` for an edit
    /// that left the answer as it was).
    pub new_response_id: Option<ResponseId>,
}

impl Hone {
    /// Validates and records one judgment; it is durable (committed, fsynced) when this returns.
    /// With a `submission_id` sent before by the same annotator, nothing is recorded and the
    /// first recording's answer is returned.
    pub async fn record_feedback(&self, input: &FeedbackInput) -> Result<Recorded> {
        let mut tx = self.store().begin().await?;
        if let Some(id) = &input.submission_id {
            check_submission_id(id)?;
            if let Some(before) = submissions::find(&mut tx, id).await? {
                return recorded_before(&mut tx, input, before).await;
            }
        }
        let recorded = record_in(&mut tx, input, AnnotatorKind::Human).await?;
        if let Some(id) = &input.submission_id {
            let annotator = annotators::get_by_name(&mut tx, input.annotator.trim()).await?;
            let answer = serde_json::to_string(&recorded).expect("Recorded is plain data");
            submissions::insert(&mut tx, id, recorded.judgment_id, annotator.id, &answer).await?;
        }
        tx.commit().await?;
        let name = input.annotator.trim();
        if let Some(leases) = self.queue_leases.as_ref().filter(|l| l.lacks_id(name)) {
            // A first verdict gives the annotator an id: their leases learn it (see leases).
            let mut conn = self.store().conn().await?;
            if let Ok(annotator) = hone_store::annotators::get_by_name(&mut conn, name).await {
                leases.identify(name, annotator.id);
            }
        }
        Ok(recorded)
    }

    /// Undoes a judgment by deleting it, unless a dataset snapshot (and so perhaps a model
    /// version) already holds it (a re-judgment with `supersedes` is the way to change one).
    /// Undoing a re-judgment brings back the judgment it replaced. The response an edit (its correction) or a demonstration (a
    /// human answer) made goes with it, unless another judgment refers to it.
    pub async fn undo_judgment(&self, judgment_id: JudgmentId) -> Result<()> {
        let mut tx = self.store().begin().await?;
        let holding = judgments::snapshots_holding(&mut tx, judgment_id).await?;
        if !holding.is_empty() {
            return Err(CoreError::invalid(
                "judgment_id",
                format!("judgment {judgment_id} is part of dataset snapshot(s) {holding:?} and can no longer be undone"),
            ));
        }
        if judgments::being_frozen(&mut tx, judgment_id).await? {
            return Err(CoreError::invalid(
                "judgment_id",
                format!("judgment {judgment_id} is being frozen into a dataset snapshot for a fine-tune; if the freeze gives up it can be undone again in a moment"),
            ));
        }
        let judgment = judgments::get(&mut tx, judgment_id).await?;
        judgments::delete(&mut tx, judgment_id).await?;
        let made = match judgment.body {
            // An edit that accepted the answer as it was made no response.
            JudgmentBody::Edit {
                response_id,
                corrected_response_id,
                ..
            } if corrected_response_id == response_id => None,
            JudgmentBody::Edit {
                corrected_response_id: response_id,
                ..
            }
            | JudgmentBody::Demonstration { response_id } => {
                // Only a person's answer goes; one a model wrote or an import brought stays.
                let response = responses::get(&mut tx, response_id).await?;
                (response.source == ResponseSource::Human).then_some(response_id)
            }
            _ => None,
        };
        if let Some(response_id) = made {
            responses::delete_if_unjudged(&mut tx, response_id).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn check_submission_id(id: &str) -> Result<()> {
    let fits = (8..=100).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if fits {
        Ok(())
    } else {
        Err(CoreError::invalid(
            "submission_id",
            "must be 8 to 100 letters, digits, '-' or '_' (a UUID fits)",
        ))
    }
}

/// The answer to a submission sent again: the first one's, if it was the same annotator's.
async fn recorded_before(
    conn: &mut Conn,
    input: &FeedbackInput,
    before: submissions::Submission,
) -> Result<Recorded> {
    let sender = annotators::get(conn, before.annotator_id).await?;
    if sender.name != input.annotator.trim() {
        return Err(CoreError::invalid(
            "submission_id",
            "was already used by another annotator; give each submission an id of its own",
        ));
    }
    serde_json::from_str(&before.recorded).map_err(|e| {
        CoreError::invalid(
            "submission_id",
            format!("its stored answer is unreadable: {e}"),
        )
    })
}

/// Validates and writes a judgment inside the caller's transaction (imports batch many).
pub(crate) async fn record_in(
    conn: &mut Conn,
    input: &FeedbackInput,
    kind: AnnotatorKind,
) -> Result<Recorded> {
    if input.annotator.trim().is_empty() {
        return Err(CoreError::invalid("annotator", "must not be empty"));
    }
    if input.time_spent_ms < 0 {
        return Err(CoreError::invalid("time_spent_ms", "must not be negative"));
    }
    if input
        .critique
        .as_deref()
        .is_some_and(|c| c.trim().is_empty())
    {
        return Err(CoreError::invalid(
            "critique",
            "is empty; leave it out instead",
        ));
    }
    let project = projects::get(conn, input.project_id).await?;
    let Prepared {
        prompt_id,
        body,
        shown,
        new_response_id,
    } = prepare(conn, input).await?;
    let prompt = prompts::get(conn, prompt_id).await?;
    if prompt.project_id != project.id {
        // Said as for a prompt that does not exist: nothing of the other project shows.
        return Err(CoreError::invalid(
            "prompt",
            format!(
                "prompt {prompt_id} does not exist in project {}",
                project.id
            ),
        ));
    }
    let shown_order = check_shown_order(&input.shown_order, shown)?;
    if let Some(id) = input.suggested_response_id {
        if !input.suggestion_visible {
            return Err(CoreError::invalid(
                "suggested_response_id",
                "is given but no suggestion was visible",
            ));
        }
        if !body.response_ids().contains(&id) {
            return Err(CoreError::invalid(
                "suggested_response_id",
                format!("response {id} is not one of the answers judged"),
            ));
        }
    }
    if let Some(old) = input.supersedes {
        check_supersedes(conn, input, old, prompt_id).await?;
    }
    let annotator = annotators::get_or_create(conn, input.annotator.trim(), kind).await?;
    let guideline_version = projects::latest_guideline(conn, project.id)
        .await?
        .map(|g| g.version);
    let judgment_id = judgments::insert(
        conn,
        &NewJudgment {
            project_id: project.id,
            prompt_id,
            annotator_id: annotator.id,
            time_spent_ms: input.time_spent_ms,
            shown_order,
            guideline_version,
            critique: input.critique.clone(),
            suggestion_visible: input.suggestion_visible,
            suggested_response_id: input.suggested_response_id,
            body,
        },
    )
    .await?;
    if let Some(old) = input.supersedes {
        judgments::supersede(conn, old, judgment_id).await?;
    }
    Ok(Recorded {
        judgment_id,
        prompt_id,
        new_response_id,
    })
}

/// A re-judgment replaces the same annotator's own judgment of the same project, kind and
/// prompt, once.
async fn check_supersedes(
    conn: &mut Conn,
    input: &FeedbackInput,
    old: JudgmentId,
    prompt_id: PromptId,
) -> Result<()> {
    let refuse = |message: String| Err(CoreError::invalid("supersedes", message));
    let judgment = match judgments::get(conn, old).await {
        Err(hone_store::StoreError::NotFound { .. }) => {
            return refuse(format!("judgment {old} does not exist"))
        }
        other => other?,
    };
    if judgment.project_id != input.project_id {
        return refuse(format!(
            "judgment {old} belongs to project {}, not to project {}",
            judgment.project_id, input.project_id
        ));
    }
    let by = annotators::get(conn, judgment.annotator_id).await?.name;
    if by != input.annotator.trim() {
        return refuse(format!(
            "judgment {old} was made by {by:?}; only its author can re-judge it"
        ));
    }
    let kind = input.kind.kind();
    if judgment.kind() != kind {
        return refuse(format!(
            "judgment {old} is a {}; a {kind} cannot replace it",
            judgment.kind()
        ));
    }
    if judgment.prompt_id != prompt_id {
        return refuse(format!(
            "judgment {old} is about prompt {}, not prompt {prompt_id}",
            judgment.prompt_id
        ));
    }
    if let Some(by) = judgment.superseded_by {
        return refuse(format!(
            "judgment {old} was already replaced by judgment {by}; re-judge that one instead"
        ));
    }
    Ok(())
}

/// The same text but for line endings and trailing white space (a text box may change both).
fn same_text(a: &str, b: &str) -> bool {
    a.replace("\r\n", "\n").trim_end() == b.replace("\r\n", "\n").trim_end()
}

struct Prepared {
    prompt_id: PromptId,
    body: JudgmentBody,
    /// The responses the judgment is about, in the order given.
    shown: Vec<ResponseId>,
    new_response_id: Option<ResponseId>,
}

/// Response `id` of the judgment's project; one of another project is refused as one that does
/// not exist, so that nothing of it (its prompt, its length) shows in the refusal.
async fn response(
    conn: &mut Conn,
    project_id: ProjectId,
    field: &str,
    id: ResponseId,
) -> Result<Response> {
    match responses::get_in_project(conn, id, project_id).await {
        Err(hone_store::StoreError::NotFound { .. }) => Err(CoreError::invalid(
            field,
            format!("response {id} does not exist in project {project_id}"),
        )),
        other => Ok(other?),
    }
}

/// All responses must answer the same prompt; returns it.
fn same_prompt(field: &str, responses: &[Response]) -> Result<PromptId> {
    let first = &responses[0];
    for (i, r) in responses.iter().enumerate().skip(1) {
        if r.prompt_id != first.prompt_id {
            return Err(CoreError::invalid(
                format!("{field}[{i}]"),
                format!(
                    "response {} answers prompt {}, but response {} answers prompt {}",
                    r.id, r.prompt_id, first.id, first.prompt_id
                ),
            ));
        }
    }
    Ok(first.prompt_id)
}

async fn prepare(conn: &mut Conn, input: &FeedbackInput) -> Result<Prepared> {
    match &input.kind {
        FeedbackKind::Comparison {
            response_a,
            response_b,
            choice,
            strength,
            reason,
        } => {
            if response_a == response_b {
                return Err(CoreError::invalid(
                    "comparison.response_b",
                    "must differ from response_a",
                ));
            }
            if let Some(s) = strength {
                if !(1..=3).contains(s) {
                    return Err(CoreError::invalid(
                        "comparison.strength",
                        format!("{s} is not 1, 2 or 3"),
                    ));
                }
                if matches!(choice, Choice::Tie | Choice::BothBad) {
                    return Err(CoreError::invalid(
                        "comparison.strength",
                        format!("has no meaning for the choice {choice}"),
                    ));
                }
            }
            let a = response(conn, input.project_id, "comparison.response_a", *response_a).await?;
            let b = response(conn, input.project_id, "comparison.response_b", *response_b).await?;
            if a.prompt_id != b.prompt_id {
                return Err(CoreError::invalid(
                    "comparison.response_b",
                    format!(
                        "response {} answers prompt {}, but response_a ({}) answers prompt {}: a comparison is between two answers to the same prompt",
                        b.id, b.prompt_id, a.id, a.prompt_id
                    ),
                ));
            }
            let reason = reason.clone().filter(|r| !r.trim().is_empty());
            Ok(Prepared {
                prompt_id: a.prompt_id,
                body: JudgmentBody::Comparison {
                    response_a: a.id,
                    response_b: b.id,
                    choice: *choice,
                    strength: *strength,
                    reason,
                },
                shown: vec![a.id, b.id],
                new_response_id: None,
            })
        }
        FeedbackKind::Ranking { ranked } => {
            if ranked.len() < 3 {
                return Err(CoreError::invalid(
                    "ranking.ranked",
                    format!(
                        "ranks {} responses; a ranking needs at least 3 (use a comparison for 2)",
                        ranked.len()
                    ),
                ));
            }
            let mut seen = HashSet::new();
            for (i, id) in ranked.iter().enumerate() {
                if !seen.insert(id) {
                    return Err(CoreError::invalid(
                        format!("ranking.ranked[{i}]"),
                        format!("response {id} appears twice: a ranking must be a permutation of the responses shown"),
                    ));
                }
            }
            if !input.shown_order.is_empty() {
                let shown: HashSet<_> = input.shown_order.iter().collect();
                if shown != seen || input.shown_order.len() != ranked.len() {
                    return Err(CoreError::invalid(
                        "ranking.ranked",
                        format!(
                            "{ranked:?} is not a permutation of the responses shown {:?}",
                            input.shown_order
                        ),
                    ));
                }
            }
            let mut rs = Vec::with_capacity(ranked.len());
            for (i, id) in ranked.iter().enumerate() {
                rs.push(
                    response(conn, input.project_id, &format!("ranking.ranked[{i}]"), *id).await?,
                );
            }
            let prompt_id = same_prompt("ranking.ranked", &rs)?;
            Ok(Prepared {
                prompt_id,
                body: JudgmentBody::Ranking {
                    ranked: ranked.clone(),
                },
                shown: ranked.clone(),
                new_response_id: None,
            })
        }
        FeedbackKind::Rating {
            response_id,
            scores,
        } => {
            let r = response(conn, input.project_id, "rating.response_id", *response_id).await?;
            let project = projects::get(conn, input.project_id).await?;
            let criteria = projects::criteria(conn, input.project_id).await?;
            if scores.is_empty() {
                return Err(CoreError::invalid(
                    "rating.scores",
                    "no criterion was scored",
                ));
            }
            for (criterion, value) in scores {
                if !criteria.iter().any(|c| &c.name == criterion) {
                    let known: Vec<_> = criteria.iter().map(|c| c.name.as_str()).collect();
                    return Err(CoreError::invalid(
                        format!("rating.scores.{criterion}"),
                        format!(
                            "unknown criterion; the project's criteria are: {}",
                            known.join(", ")
                        ),
                    ));
                }
                if !(project.rating_min..=project.rating_max).contains(value) {
                    return Err(CoreError::invalid(
                        format!("rating.scores.{criterion}"),
                        format!(
                            "{value} is outside the project's scale {}–{}",
                            project.rating_min, project.rating_max
                        ),
                    ));
                }
            }
            Ok(Prepared {
                prompt_id: r.prompt_id,
                body: JudgmentBody::Rating {
                    response_id: r.id,
                    scores: scores.clone(),
                },
                shown: vec![r.id],
                new_response_id: None,
            })
        }
        FeedbackKind::Edit {
            response_id,
            corrected,
        } => {
            let original =
                response(conn, input.project_id, "edit.response_id", *response_id).await?;
            if corrected.trim().is_empty() {
                return Err(CoreError::invalid(
                    "edit.corrected",
                    "the corrected text is empty",
                ));
            }
            if same_text(corrected, &original.text) {
                // "Already good": the answer is accepted as it is; no new response, no diff.
                return Ok(Prepared {
                    prompt_id: original.prompt_id,
                    body: JudgmentBody::Edit {
                        response_id: original.id,
                        corrected_response_id: original.id,
                        diff: String::new(),
                    },
                    shown: vec![original.id],
                    new_response_id: None,
                });
            }
            let diff = similar::TextDiff::from_lines(&original.text, corrected)
                .unified_diff()
                .header("original", "corrected")
                .to_string();
            // Two experts who write the same correction make one answer, not two.
            let corrected_response =
                match responses::find_by_text(conn, original.prompt_id, corrected).await? {
                    Some(existing) => existing,
                    None => {
                        responses::insert(
                            conn,
                            &NewResponse::new(
                                original.prompt_id,
                                corrected.clone(),
                                ResponseSource::Human,
                            ),
                        )
                        .await?
                    }
                };
            Ok(Prepared {
                prompt_id: original.prompt_id,
                body: JudgmentBody::Edit {
                    response_id: original.id,
                    corrected_response_id: corrected_response.id,
                    diff,
                },
                shown: vec![original.id],
                new_response_id: Some(corrected_response.id),
            })
        }
        FeedbackKind::Span { response_id, spans } => {
            // No span at all is "nothing wrong": the answer is accepted as it is.
            let r = response(conn, input.project_id, "span.response_id", *response_id).await?;
            let labels = projects::span_labels(conn, input.project_id).await?;
            let length = r.text.chars().count() as i64;
            for (i, span) in spans.iter().enumerate() {
                let field = format!("span.spans[{i}]");
                if span.start < 0 || span.end <= span.start {
                    return Err(CoreError::invalid(
                        field,
                        format!(
                            "start {} and end {} do not make a non-empty range",
                            span.start, span.end
                        ),
                    ));
                }
                if span.end > length {
                    return Err(CoreError::invalid(
                        format!("{field}.end"),
                        format!(
                            "{} is past the end of the response ({length} characters)",
                            span.end
                        ),
                    ));
                }
                if !labels.iter().any(|l| l.name == span.label) {
                    let known: Vec<_> = labels.iter().map(|l| l.name.as_str()).collect();
                    return Err(CoreError::invalid(
                        format!("{field}.label"),
                        format!(
                            "{:?} is not one of the project's labels: {}",
                            span.label,
                            known.join(", ")
                        ),
                    ));
                }
            }
            Ok(Prepared {
                prompt_id: r.prompt_id,
                body: JudgmentBody::Span {
                    response_id: r.id,
                    spans: spans.clone(),
                },
                shown: vec![r.id],
                new_response_id: None,
            })
        }
        FeedbackKind::Thumbs { response_id, up } => {
            let r = response(conn, input.project_id, "thumbs.response_id", *response_id).await?;
            Ok(Prepared {
                prompt_id: r.prompt_id,
                body: JudgmentBody::Thumbs {
                    response_id: r.id,
                    up: *up,
                },
                shown: vec![r.id],
                new_response_id: None,
            })
        }
        FeedbackKind::Demonstration { prompt_id, text } => {
            if text.trim().is_empty() {
                return Err(CoreError::invalid(
                    "demonstration.text",
                    "the answer is empty",
                ));
            }
            let prompt = match prompts::get(conn, *prompt_id).await {
                Err(hone_store::StoreError::NotFound { .. }) => {
                    return Err(CoreError::invalid(
                        "demonstration.prompt_id",
                        format!("prompt {prompt_id} does not exist"),
                    ))
                }
                other => other?,
            };
            let existing = responses::find_by_text(conn, prompt.id, text).await?;
            let r = match existing {
                Some(r) => r,
                None => {
                    responses::insert(
                        conn,
                        &NewResponse::new(prompt.id, text.clone(), ResponseSource::Human),
                    )
                    .await?
                }
            };
            Ok(Prepared {
                prompt_id: prompt.id,
                body: JudgmentBody::Demonstration { response_id: r.id },
                shown: vec![r.id],
                new_response_id: Some(r.id),
            })
        }
        FeedbackKind::Critique { response_id } => {
            if input.critique.is_none() {
                return Err(CoreError::invalid(
                    "critique",
                    "a critique judgment needs its text",
                ));
            }
            let r = response(conn, input.project_id, "critique.response_id", *response_id).await?;
            Ok(Prepared {
                prompt_id: r.prompt_id,
                body: JudgmentBody::Critique { response_id: r.id },
                shown: vec![r.id],
                new_response_id: None,
            })
        }
    }
}

/// The order shown must be a permutation of the judged responses; empty means as given.
fn check_shown_order(
    shown_order: &[ResponseId],
    judged: Vec<ResponseId>,
) -> Result<Vec<ResponseId>> {
    if shown_order.is_empty() {
        return Ok(judged);
    }
    let mut a = shown_order.to_vec();
    let mut b = judged.clone();
    a.sort_unstable();
    b.sort_unstable();
    if a != b {
        return Err(CoreError::invalid(
            "shown_order",
            format!("{shown_order:?} is not an order of the judged responses {judged:?}"),
        ));
    }
    Ok(shown_order.to_vec())
}
