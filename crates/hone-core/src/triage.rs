//! Skipping and flagging queue units instead of judging them.
//!
//! - A **skip** ("not now") puts the unit at the back of the skipper's own queue for its kind:
//!   it comes back only when nothing else is open for them, the unit skipped longest ago first;
//!   skipping it again moves it back again. Others' queues are unchanged. Every skip is counted
//!   (`ProjectStats`, `AnnotatorReport`).
//! - A **flag** ("should not be judged", with a [`FlagReason`] and an optional note) hides the
//!   unit from the flagger for good; for a reason about the prompt (`broken_prompt`,
//!   `off_topic`, `not_my_expertise`) every unit of that prompt, of every kind, is hidden from
//!   them. A flag never hides anything from other annotators: the lead reads the flags
//!   (`list_flags`; `ProjectStats::flagged_prompts` lists the prompts flagged `broken_prompt`
//!   or `unsafe` by anyone) and fixes the prompt, moves it to another split, or removes the flag
//!   (`unflag_item`), which gives the unit back to its flagger.
//!
//! A unit is named as the queue shows it: the kind, and the item's response ids and/or prompt
//! id (a ranking or a demonstration is the prompt's unit; a comparison is two answers of one
//! prompt; every other kind one answer).

use hone_store::flags::{self, StoredFlag};
use hone_store::responses;
use hone_store::skips::{self, UnitRow};
use hone_store::{annotators, projects, prompts, AnnotatorKind, FlagReason, JudgmentKind};
use hone_store::{Conn, StoreError};
use serde::{Deserialize, Serialize};

use crate::{CoreError, FlagId, Hone, ProjectId, PromptId, ResponseId, Result};

/// The longest prompt text a flag or a history row carries (the full text is in the detail).
pub const PROMPT_PREVIEW_CHARS: usize = 200;

/// `text` cut to `PROMPT_PREVIEW_CHARS` characters, with "…" when cut.
pub(crate) fn preview(text: &str) -> String {
    match text.char_indices().nth(PROMPT_PREVIEW_CHARS) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}

/// A unit to skip: the queue item's kind, prompt and response ids.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SkipInput {
    pub project_id: ProjectId,
    pub annotator: String,
    pub kind: JudgmentKind,
    /// The item's prompt; may be left out when `response_ids` are given.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub prompt_id: Option<PromptId>,
    /// The item's responses (any order); empty for a demonstration.
    #[serde(default)]
    pub response_ids: Vec<ResponseId>,
}

/// A unit to flag, why, and an optional note for the lead.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlagInput {
    pub project_id: ProjectId,
    pub annotator: String,
    pub kind: JudgmentKind,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub prompt_id: Option<PromptId>,
    #[serde(default)]
    pub response_ids: Vec<ResponseId>,
    pub reason: FlagReason,
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub note: Option<String>,
}

/// A flag as the lead reads it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flag {
    pub id: FlagId,
    pub project_id: ProjectId,
    pub annotator: String,
    pub kind: JudgmentKind,
    pub prompt_id: PromptId,
    /// The prompt's text, cut to 200 characters.
    pub prompt_text: String,
    /// The unit's responses, sorted; empty for a prompt-level unit (ranking, demonstration).
    pub response_ids: Vec<ResponseId>,
    pub reason: FlagReason,
    pub note: Option<String>,
    pub created_at: String,
}

/// The queue's key of a stored unit.
pub(crate) fn unit_key(unit: &UnitRow) -> crate::queue::UnitKey {
    if prompt_level(unit.kind) {
        crate::queue::UnitKey::Prompt(unit.prompt_id)
    } else {
        crate::queue::UnitKey::Responses(unit.response_ids.clone())
    }
}

fn prompt_level(kind: JudgmentKind) -> bool {
    matches!(kind, JudgmentKind::Ranking | JudgmentKind::Demonstration)
}

/// Checks that the named unit exists in the project and returns it in its stored form.
async fn resolve_unit(
    conn: &mut Conn,
    project_id: ProjectId,
    kind: JudgmentKind,
    prompt_id: Option<PromptId>,
    response_ids: &[ResponseId],
) -> Result<UnitRow> {
    projects::get(conn, project_id).await?;
    let mut ids = response_ids.to_vec();
    ids.sort_unstable();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(CoreError::invalid(
            "response_ids",
            format!("{response_ids:?} names a response twice"),
        ));
    }
    let wanted = match kind {
        JudgmentKind::Comparison => Some(2),
        JudgmentKind::Ranking | JudgmentKind::Demonstration => None,
        _ => Some(1),
    };
    if let Some(n) = wanted {
        if ids.len() != n {
            return Err(CoreError::invalid(
                "response_ids",
                format!(
                    "a {kind} unit is {n} response{}, not {}",
                    if n == 1 { "" } else { "s" },
                    ids.len()
                ),
            ));
        }
    }
    let mut prompt = prompt_id;
    for (i, id) in response_ids.iter().enumerate() {
        let field = format!("response_ids[{i}]");
        // One of another project is refused as one that does not exist (nothing of it shows).
        let r = match responses::get_in_project(conn, *id, project_id).await {
            Err(StoreError::NotFound { .. }) => {
                return Err(CoreError::invalid(
                    field,
                    format!("response {id} does not exist in project {project_id}"),
                ))
            }
            other => other?,
        };
        match prompt {
            Some(p) if p != r.prompt_id => {
                return Err(CoreError::invalid(
                    field,
                    format!(
                        "response {id} answers prompt {}, not prompt {p}",
                        r.prompt_id
                    ),
                ))
            }
            _ => prompt = Some(r.prompt_id),
        }
    }
    let Some(prompt_id) = prompt else {
        return Err(CoreError::invalid(
            "prompt_id",
            "name the unit by its prompt or its responses",
        ));
    };
    let in_project = match prompts::get(conn, prompt_id).await {
        Err(StoreError::NotFound { .. }) => None,
        other => Some(other?.project_id),
    };
    if in_project != Some(project_id) {
        return Err(CoreError::invalid(
            "prompt_id",
            format!("prompt {prompt_id} is not a prompt of project {project_id}"),
        ));
    }
    let ids = if prompt_level(kind) { Vec::new() } else { ids };
    Ok(UnitRow::new(kind, prompt_id, ids))
}

fn annotator_name(annotator: &str) -> Result<&str> {
    let name = annotator.trim();
    if name.is_empty() {
        return Err(CoreError::invalid("annotator", "must not be empty"));
    }
    Ok(name)
}

async fn flag_view(conn: &mut Conn, f: StoredFlag) -> Result<Flag> {
    Ok(Flag {
        id: f.id,
        project_id: f.project_id,
        annotator: annotators::get(conn, f.annotator_id).await?.name,
        kind: f.unit.kind,
        prompt_id: f.unit.prompt_id,
        prompt_text: preview(&prompts::get(conn, f.unit.prompt_id).await?.text),
        response_ids: f.unit.response_ids,
        reason: f.reason,
        note: f.note,
        created_at: f.created_at,
    })
}

impl Hone {
    /// Skips a unit for now: it goes to the back of this annotator's queue (see the module
    /// documentation). Committed when this returns.
    pub async fn skip_item(&self, input: &SkipInput) -> Result<()> {
        let name = annotator_name(&input.annotator)?;
        let mut tx = self.store().begin().await?;
        let unit = resolve_unit(
            &mut tx,
            input.project_id,
            input.kind,
            input.prompt_id,
            &input.response_ids,
        )
        .await?;
        let annotator = annotators::get_or_create(&mut tx, name, AnnotatorKind::Human).await?;
        skips::insert(&mut tx, input.project_id, annotator.id, &unit).await?;
        tx.commit().await?;
        self.release_lease(input.project_id, name, &unit);
        Ok(())
    }

    /// A skipped or flagged unit is no longer held for its annotator (`queue::leases`).
    fn release_lease(&self, project_id: ProjectId, annotator: &str, unit: &UnitRow) {
        if let Some(leases) = &self.queue_leases {
            leases.release(project_id, unit.kind, annotator, &unit_key(unit));
        }
    }

    /// Flags a unit: it never comes back to this annotator (see the module documentation).
    /// Flagging the same unit again replaces the reason and the note.
    pub async fn flag_item(&self, input: &FlagInput) -> Result<Flag> {
        let name = annotator_name(&input.annotator)?;
        let note = input
            .note
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        let mut tx = self.store().begin().await?;
        let unit = resolve_unit(
            &mut tx,
            input.project_id,
            input.kind,
            input.prompt_id,
            &input.response_ids,
        )
        .await?;
        let annotator = annotators::get_or_create(&mut tx, name, AnnotatorKind::Human).await?;
        let stored = flags::upsert(
            &mut tx,
            input.project_id,
            annotator.id,
            &unit,
            input.reason,
            note,
        )
        .await?;
        let flag = flag_view(&mut tx, stored).await?;
        tx.commit().await?;
        self.release_lease(input.project_id, name, &unit);
        Ok(flag)
    }

    /// Removes a flag: its unit comes back to its flagger's queue.
    pub async fn unflag_item(&self, flag_id: FlagId) -> Result<()> {
        let mut conn = self.store().conn().await?;
        flags::delete(&mut conn, flag_id).await?;
        Ok(())
    }

    /// The project's flags, oldest first.
    pub async fn list_flags(&self, project_id: ProjectId) -> Result<Vec<Flag>> {
        let mut conn = self.store().conn().await?;
        projects::get(&mut conn, project_id).await?;
        let mut out = Vec::new();
        for f in flags::list(&mut conn, project_id).await? {
            out.push(flag_view(&mut conn, f).await?);
        }
        Ok(out)
    }
}
