//! An annotator's judgments, to look back and re-judge.
//!
//! [`Hone::judgment_history`] lists a project's judgments newest first, filtered by annotator,
//! kind, verdict (the one-word [`crate::verdict::label`]: `a`, `b`, `tie`, `both_bad`,
//! `ranked`, `rated`, `edited`, `accepted`, `marked`, `up`, `down`, `written`, `critique`), time
//! (`since` inclusive, `until` exclusive; a date or an RFC 3339 time), prompt tag, and text
//! (a case-insensitive substring of the prompt, the answers judged, an edit's correction, the
//! critique, a comparison's reason or a span's note). Superseded judgments are left out unless
//! asked for. [`Hone::judgment_detail`] gives one judgment as it was recorded, with the texts,
//! as a [`FeedbackKind`] a re-judgment can start from (`FeedbackInput::supersedes`).

use std::collections::{HashMap, HashSet};

use hone_store::judgments::{self, Judgment, JudgmentBody};
use hone_store::prompts::Prompt;
use hone_store::responses::{self, Response};
use hone_store::{annotators, gold, projects, prompts, JudgmentKind, StoreError};
use serde::{Deserialize, Serialize};

use crate::dataset::snapshot::stored_utc;
use crate::feedback::FeedbackKind;
use crate::triage::preview;
use crate::verdict::{describe, label, VERDICT_LABELS};
use crate::{
    AnnotatorId, CoreError, Hone, JudgmentId, ProjectId, PromptId, ResponseId, Result, SnapshotId,
};

/// The most rows one history page holds.
pub const MAX_HISTORY_LIMIT: usize = 500;
/// Rows per page when `limit` is not given.
pub const DEFAULT_HISTORY_LIMIT: usize = 50;

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryQuery {
    pub project_id: ProjectId,
    /// Only this annotator's judgments; everyone's when absent.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub annotator: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub kind: Option<JudgmentKind>,
    /// One of `a`, `b`, `tie`, `both_bad`, `ranked`, `rated`, `edited`, `accepted`, `marked`,
    /// `up`, `down`, `written`, `critique` (see `HistoryEntry::verdict`).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub verdict: Option<String>,
    /// Made at or after this date (`YYYY-MM-DD`, UTC) or RFC 3339 time.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub since: Option<String>,
    /// Made before this date or time.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub until: Option<String>,
    /// Only judgments of prompts with this tag.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub tag: Option<String>,
    /// A case-insensitive substring of the prompt, the answers, the critique, a reason or note.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub text: Option<String>,
    /// Also the judgments a re-judgment replaced.
    #[serde(default)]
    pub include_superseded: bool,
    /// Rows per page, at most 500; 50 when absent.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub limit: Option<usize>,
    /// Rows to pass over (newest first).
    #[serde(default)]
    pub offset: usize,
}

impl HistoryQuery {
    /// Every current judgment of the project, first page.
    pub fn new(project_id: ProjectId) -> Self {
        Self {
            project_id,
            annotator: None,
            kind: None,
            verdict: None,
            since: None,
            until: None,
            tag: None,
            text: None,
            include_superseded: false,
            limit: None,
            offset: 0,
        }
    }
}

/// One row of the history.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub judgment_id: JudgmentId,
    pub kind: JudgmentKind,
    pub annotator: String,
    pub created_at: String,
    pub prompt_id: PromptId,
    /// The prompt's text, cut to 200 characters.
    pub prompt_text: String,
    /// The verdict in one word (the filter's values).
    pub verdict: String,
    /// The verdict in a few words ("prefers response 12 to 13", "nothing wrong", …).
    pub summary: String,
    pub time_spent_ms: i64,
    /// The re-judgment that replaced this one.
    pub superseded_by: Option<JudgmentId>,
    /// The judgment this one replaced.
    pub supersedes: Option<JudgmentId>,
    /// A dataset snapshot holds it (it can no longer be undone, only superseded).
    pub in_snapshot: bool,
    /// It is the gold answer of its item.
    pub gold: bool,
}

#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    /// Judgments matching the filters, all pages together.
    pub total: usize,
    pub offset: usize,
    pub limit: usize,
    /// Newest first.
    pub entries: Vec<HistoryEntry>,
}

/// One judgment as it was recorded, with everything needed to show it and to re-judge it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgmentDetail {
    pub judgment_id: JudgmentId,
    pub project_id: ProjectId,
    pub kind: JudgmentKind,
    pub annotator: String,
    pub created_at: String,
    pub prompt: Prompt,
    /// The answers judged, in the order they were shown (a demonstration: its answer; an
    /// edit: the original — the correction is in `feedback`).
    pub responses: Vec<Response>,
    /// The judgment in the form `record_feedback` takes (an edit's `corrected` text, a
    /// demonstration's `text`): send it back, changed, with `supersedes` to re-judge.
    pub feedback: FeedbackKind,
    /// An edit's unified diff (empty when the answer was accepted as it was).
    pub diff: Option<String>,
    pub critique: Option<String>,
    pub shown_order: Vec<ResponseId>,
    pub guideline_version: Option<i64>,
    pub time_spent_ms: i64,
    pub suggestion_visible: bool,
    pub suggested_response_id: Option<ResponseId>,
    pub verdict: String,
    pub summary: String,
    pub superseded_by: Option<JudgmentId>,
    pub supersedes: Option<JudgmentId>,
    /// The dataset snapshots that hold it.
    pub snapshot_ids: Vec<SnapshotId>,
    pub gold: bool,
}

fn bound(field: &str, value: &Option<String>) -> Result<Option<String>> {
    match value.as_deref().map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => stored_utc(v).map(Some).ok_or_else(|| {
            CoreError::invalid(
                field,
                format!("{v:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"),
            )
        }),
    }
}

/// The texts the `text` filter searches, lower-cased.
fn haystack(
    j: &Judgment,
    prompt: Option<&Prompt>,
    responses: &HashMap<ResponseId, Response>,
) -> String {
    let mut parts: Vec<&str> = Vec::new();
    if let Some(p) = prompt {
        parts.push(&p.text);
        if let Some(messages) = &p.messages {
            parts.extend(messages.iter().map(|m| m.content.as_str()));
        }
    }
    let mut ids = j.body.response_ids();
    if let JudgmentBody::Edit {
        corrected_response_id,
        ..
    } = &j.body
    {
        ids.push(*corrected_response_id);
    }
    parts.extend(
        ids.iter()
            .filter_map(|id| responses.get(id))
            .map(|r| r.text.as_str()),
    );
    parts.extend(j.critique.as_deref());
    match &j.body {
        JudgmentBody::Comparison { reason, .. } => parts.extend(reason.as_deref()),
        JudgmentBody::Span { spans, .. } => {
            parts.extend(spans.iter().filter_map(|s| s.note.as_deref()))
        }
        _ => {}
    }
    parts.join("\n").to_lowercase()
}

impl Hone {
    /// A page of the project's judgments, newest first (see the module documentation).
    pub async fn judgment_history(&self, query: &HistoryQuery) -> Result<HistoryPage> {
        let limit = query.limit.unwrap_or(DEFAULT_HISTORY_LIMIT);
        if limit == 0 || limit > MAX_HISTORY_LIMIT {
            return Err(CoreError::invalid(
                "limit",
                format!("{limit} is not between 1 and {MAX_HISTORY_LIMIT}"),
            ));
        }
        let verdict = match query.verdict.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(v) if VERDICT_LABELS.contains(&v) => Some(v),
            Some(v) => {
                return Err(CoreError::invalid(
                    "verdict",
                    format!("{v:?} is not one of {}", VERDICT_LABELS.join(", ")),
                ))
            }
        };
        let since = bound("since", &query.since)?;
        let until = bound("until", &query.until)?;
        let needle = query
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_lowercase);
        let tag = query
            .tag
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty());

        let mut conn = self.store().conn().await?;
        projects::get(&mut conn, query.project_id).await?;
        let good_labels = crate::projects::good_span_labels(&mut conn, query.project_id).await?;
        let names: HashMap<AnnotatorId, String> = annotators::list(&mut conn)
            .await?
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect();
        let who = match query
            .annotator
            .as_deref()
            .map(str::trim)
            .filter(|a| !a.is_empty())
        {
            None => None,
            Some(name) => match names.iter().find(|(_, n)| n.as_str() == name) {
                Some((id, _)) => Some(*id),
                // Nobody of that name has judged anything yet.
                None => {
                    return Ok(HistoryPage {
                        total: 0,
                        offset: query.offset,
                        limit,
                        entries: Vec::new(),
                    })
                }
            },
        };
        let all = judgments::list(&mut conn, query.project_id, query.kind).await?;
        let prompts: HashMap<PromptId, Prompt> = prompts::list(&mut conn, query.project_id, None)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let responses: HashMap<ResponseId, Response> = if needle.is_some() {
            responses::list_for_project(&mut conn, query.project_id)
                .await?
                .into_iter()
                .map(|r| (r.id, r))
                .collect()
        } else {
            HashMap::new()
        };
        let held: HashSet<JudgmentId> = judgments::held_by_snapshots(&mut conn, query.project_id)
            .await?
            .into_iter()
            .collect();
        let golds: HashSet<JudgmentId> = gold::list(&mut conn, query.project_id)
            .await?
            .into_iter()
            .collect();
        drop(conn);
        // Every supersession in the project (the kind filter keeps both ends: same kind).
        let supersedes: HashMap<JudgmentId, JudgmentId> = all
            .iter()
            .filter_map(|j| Some((j.superseded_by?, j.id)))
            .collect();

        let matching: Vec<&Judgment> = all
            .iter()
            .rev()
            .filter(|j| query.include_superseded || j.superseded_by.is_none())
            .filter(|j| who.is_none_or(|id| j.annotator_id == id))
            .filter(|j| verdict.is_none_or(|v| label(&j.body, &good_labels) == v))
            .filter(|j| since.as_deref().is_none_or(|s| j.created_at.as_str() >= s))
            .filter(|j| until.as_deref().is_none_or(|u| j.created_at.as_str() < u))
            .filter(|j| {
                tag.is_none_or(|t| {
                    prompts
                        .get(&j.prompt_id)
                        .is_some_and(|p| p.tags.iter().any(|pt| pt == t))
                })
            })
            .filter(|j| {
                needle
                    .as_deref()
                    .is_none_or(|n| haystack(j, prompts.get(&j.prompt_id), &responses).contains(n))
            })
            .collect();
        let entries = matching
            .iter()
            .skip(query.offset)
            .take(limit)
            .map(|j| HistoryEntry {
                judgment_id: j.id,
                kind: j.kind(),
                annotator: names.get(&j.annotator_id).cloned().unwrap_or_default(),
                created_at: j.created_at.clone(),
                prompt_id: j.prompt_id,
                prompt_text: prompts
                    .get(&j.prompt_id)
                    .map(|p| preview(&p.text))
                    .unwrap_or_default(),
                verdict: label(&j.body, &good_labels).to_owned(),
                summary: describe(&j.body),
                time_spent_ms: j.time_spent_ms,
                superseded_by: j.superseded_by,
                supersedes: supersedes.get(&j.id).copied(),
                in_snapshot: held.contains(&j.id),
                gold: golds.contains(&j.id),
            })
            .collect();
        Ok(HistoryPage {
            total: matching.len(),
            offset: query.offset,
            limit,
            entries,
        })
    }

    /// One judgment as it was recorded (see [`JudgmentDetail`]).
    pub async fn judgment_detail(&self, judgment_id: JudgmentId) -> Result<JudgmentDetail> {
        let mut conn = self.store().conn().await?;
        let j = match judgments::get(&mut conn, judgment_id).await {
            Err(StoreError::NotFound { .. }) => {
                return Err(CoreError::NotFound {
                    entity: "judgment",
                    key: judgment_id.to_string(),
                })
            }
            other => other?,
        };
        let prompt = prompts::get(&mut conn, j.prompt_id).await?;
        let mut shown = Vec::with_capacity(j.shown_order.len());
        for id in &j.shown_order {
            shown.push(responses::get(&mut conn, *id).await?);
        }
        let (feedback, diff) = match &j.body {
            JudgmentBody::Comparison {
                response_a,
                response_b,
                choice,
                strength,
                reason,
            } => (
                FeedbackKind::Comparison {
                    response_a: *response_a,
                    response_b: *response_b,
                    choice: *choice,
                    strength: *strength,
                    reason: reason.clone(),
                },
                None,
            ),
            JudgmentBody::Ranking { ranked } => (
                FeedbackKind::Ranking {
                    ranked: ranked.clone(),
                },
                None,
            ),
            JudgmentBody::Rating {
                response_id,
                scores,
            } => (
                FeedbackKind::Rating {
                    response_id: *response_id,
                    scores: scores.clone(),
                },
                None,
            ),
            JudgmentBody::Edit {
                response_id,
                corrected_response_id,
                diff,
            } => {
                // The original itself when the answer was accepted as it was.
                let corrected = responses::get(&mut conn, *corrected_response_id)
                    .await?
                    .text;
                (
                    FeedbackKind::Edit {
                        response_id: *response_id,
                        corrected,
                    },
                    Some(diff.clone()),
                )
            }
            JudgmentBody::Span { response_id, spans } => (
                FeedbackKind::Span {
                    response_id: *response_id,
                    spans: spans.clone(),
                },
                None,
            ),
            JudgmentBody::Thumbs { response_id, up } => (
                FeedbackKind::Thumbs {
                    response_id: *response_id,
                    up: *up,
                },
                None,
            ),
            JudgmentBody::Demonstration { response_id } => (
                FeedbackKind::Demonstration {
                    prompt_id: j.prompt_id,
                    text: responses::get(&mut conn, *response_id).await?.text,
                },
                None,
            ),
            JudgmentBody::Critique { response_id } => (
                FeedbackKind::Critique {
                    response_id: *response_id,
                },
                None,
            ),
        };
        let annotator = annotators::get(&mut conn, j.annotator_id).await?.name;
        let supersedes = judgments::superseded_by_this(&mut conn, j.id).await?;
        let snapshot_ids = judgments::snapshots_holding(&mut conn, j.id).await?;
        let gold = gold::list(&mut conn, j.project_id).await?.contains(&j.id);
        let good_labels = crate::projects::good_span_labels(&mut conn, j.project_id).await?;
        Ok(JudgmentDetail {
            judgment_id: j.id,
            project_id: j.project_id,
            kind: j.kind(),
            annotator,
            created_at: j.created_at.clone(),
            prompt,
            responses: shown,
            verdict: label(&j.body, &good_labels).to_owned(),
            summary: describe(&j.body),
            feedback,
            diff,
            critique: j.critique,
            shown_order: j.shown_order,
            guideline_version: j.guideline_version,
            time_spent_ms: j.time_spent_ms,
            suggestion_visible: j.suggestion_visible,
            suggested_response_id: j.suggested_response_id,
            superseded_by: j.superseded_by,
            supersedes,
            snapshot_ids,
            gold,
        })
    }
}
