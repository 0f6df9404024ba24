//! Dataset snapshots: the judgments a fine-tune uses, frozen and hashed.
//!
//! The hash covers the exact training rows the judgments produce (their canonical TRL JSONL),
//! so a snapshot re-read later is checked to still produce the same data.

use std::collections::HashMap;

use hone_store::judgments::{self, Judgment};
use hone_store::queue_rows;
use hone_store::snapshots::{self, Snapshot};
use hone_store::{annotators, projects, prompts, responses, Conn, JudgmentKind, Split};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::build::{build_training_data, RowRules, TrainingData};
use super::rows::to_jsonl;
use crate::{CoreError, Hone, JudgmentId, ProjectId, PromptId, Result, SnapshotId};

/// Which judgments a snapshot takes.
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotFilter {
    /// Only judgments of prompts in this split; `None` takes both. Default: train.
    pub split: Option<Split>,
    /// Judgments by these annotators (names) are left out.
    #[serde(default)]
    pub exclude_annotators: Vec<String>,
    /// Judgments of prompts carrying any of these tags are left out.
    #[serde(default)]
    pub exclude_tags: Vec<String>,
    /// Judgments made in this range (RFC 3339 times or dates, `from` inclusive, `until`
    /// exclusive; either may be open) are left out.
    #[serde(default)]
    pub exclude_from: Option<String>,
    #[serde(default)]
    pub exclude_until: Option<String>,
}

impl Default for SnapshotFilter {
    fn default() -> Self {
        Self {
            split: Some(Split::Train),
            exclude_annotators: Vec::new(),
            exclude_tags: Vec::new(),
            exclude_from: None,
            exclude_until: None,
        }
    }
}

impl SnapshotFilter {
    /// Whether a judgment made at `created_at` (the store's UTC form) falls in the excluded range.
    fn excludes_time(&self, created_at: &str) -> bool {
        if self.exclude_from.is_none() && self.exclude_until.is_none() {
            return false;
        }
        // Both bounds in the store's form order as strings; validated before use.
        let bound = |b: &Option<String>| b.as_deref().and_then(stored_utc);
        bound(&self.exclude_from).is_none_or(|from| created_at >= from.as_str())
            && bound(&self.exclude_until).is_none_or(|until| created_at < until.as_str())
    }
}

/// A date (`YYYY-MM-DD`, midnight UTC) or an RFC 3339 time with any offset, in the form the
/// store writes `created_at` (`2026-11-29T15:32:08.123Z`); `None` when it is neither.
pub(crate) fn stored_utc(value: &str) -> Option<String> {
    const FORM: &str = "%Y-%m-%dT%H:%M:%S%.3fZ";
    if let Ok(date) = chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Some(date.and_hms_opt(0, 0, 0)?.format(FORM).to_string());
    }
    let time = chrono::DateTime::parse_from_rfc3339(value).ok()?;
    Some(time.with_timezone(&chrono::Utc).format(FORM).to_string())
}

/// sha256 of the rows' canonical JSONL, the three formats in a fixed order, then the rows
/// token-level training reads (where the marks are, what an edit changed), when there are any.
///
/// Those last two sections came with token-level feedback (issue 19): two snapshots whose marks
/// sit on different characters train differently and must not share a hash. A snapshot without
/// spans or edits keeps the hash it always had; one frozen before with them still verifies
/// against [`legacy_content_hash`].
pub fn content_hash(data: &TrainingData) -> String {
    let mut hasher = trl_rows_hasher(data);
    if !data.spans.is_empty() {
        hasher.update(b"spans\n");
        hasher.update(to_jsonl(data.spans.iter().map(|r| r.to_hashed())));
    }
    if !data.edits.is_empty() {
        hasher.update(b"edits\n");
        hasher.update(to_jsonl(data.edits.iter().map(|r| r.to_hashed())));
    }
    hex::encode(hasher.finalize())
}

/// The hash of the three TRL formats only: what snapshots frozen before the spans and edits
/// were hashed carry.
pub fn legacy_content_hash(data: &TrainingData) -> String {
    hex::encode(trl_rows_hasher(data).finalize())
}

fn trl_rows_hasher(data: &TrainingData) -> Sha256 {
    let mut hasher = Sha256::new();
    hasher.update(b"preference\n");
    hasher.update(to_jsonl(data.preferences.iter().map(|r| r.to_trl())));
    hasher.update(b"sft\n");
    hasher.update(to_jsonl(data.sft.iter().map(|r| r.to_trl())));
    hasher.update(b"kto\n");
    hasher.update(to_jsonl(data.kto.iter().map(|r| r.to_trl())));
    hasher
}

/// The project's rules as they are now: what a new snapshot freezes.
async fn current_rules(conn: &mut Conn, project_id: ProjectId) -> Result<RowRules> {
    Ok(RowRules {
        kto_threshold: projects::get(conn, project_id).await?.kto_threshold,
        good_labels: crate::projects::good_span_labels(conn, project_id).await?,
    })
}

/// The rules a snapshot froze, from its description: its KTO threshold (the project's current
/// one for a snapshot that recorded none) and its good span labels (none before they existed).
async fn frozen_rules(conn: &mut Conn, snapshot: &Snapshot) -> Result<RowRules> {
    let description = &snapshot.description;
    let kto_threshold = match description.get("kto_threshold").and_then(|t| t.as_f64()) {
        Some(t) => t,
        None => {
            projects::get(conn, snapshot.project_id)
                .await?
                .kto_threshold
        }
    };
    let good_labels = description
        .get("good_span_labels")
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
        .filter_map(|l| l.as_str().map(str::to_owned))
        .collect();
    Ok(RowRules {
        kto_threshold,
        good_labels,
    })
}

/// The rows `judgments` produce under `rules`, passed through `then` (`with_hash` for a freeze
/// or a check; a preview needs no hash). Building and hashing them is CPU work (a few hundred
/// milliseconds at 100k judgments on two cores): it runs on a blocking thread, since on one of
/// the runtime's workers it would stall the requests queued there (the annotators' saves,
/// while a fine-tune freezes its data).
async fn rows_for<T: Send + 'static>(
    conn: &mut Conn,
    project_id: ProjectId,
    judgments: Vec<Judgment>,
    rules: &RowRules,
    then: fn(TrainingData) -> T,
) -> Result<T> {
    let prompts: HashMap<_, _> = prompts::list(conn, project_id, None)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let responses: HashMap<_, _> = responses::list_for_project(conn, project_id)
        .await?
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    let rules = rules.clone();
    crate::blocking::run(move || {
        Ok(then(build_training_data(
            &judgments, &prompts, &responses, &rules,
        )?))
    })
    .await?
}

/// Rows with their content hash.
fn with_hash(data: TrainingData) -> (TrainingData, String) {
    let hash = content_hash(&data);
    (data, hash)
}

async fn select(
    conn: &mut Conn,
    project_id: ProjectId,
    filter: &SnapshotFilter,
) -> Result<Vec<Judgment>> {
    let mut excluded = Vec::new();
    for name in &filter.exclude_annotators {
        match annotators::get_by_name(conn, name).await {
            Ok(a) => excluded.push(a.id),
            Err(hone_store::StoreError::NotFound { .. }) => {
                return Err(CoreError::invalid(
                    "exclude_annotators",
                    format!("no annotator is named {name:?}"),
                ))
            }
            Err(e) => return Err(e.into()),
        }
    }
    for (field, value) in [
        ("exclude_from", &filter.exclude_from),
        ("exclude_until", &filter.exclude_until),
    ] {
        if let Some(v) = value {
            if stored_utc(v).is_none() {
                return Err(CoreError::invalid(
                    field,
                    format!("{v:?} is not a date (YYYY-MM-DD) or an RFC 3339 time"),
                ));
            }
        }
    }
    let all_prompts = prompts::list(conn, project_id, None).await?;
    let prompt_split: HashMap<PromptId, Split> =
        all_prompts.iter().map(|p| (p.id, p.split)).collect();
    let tagged_out: std::collections::HashSet<PromptId> = all_prompts
        .iter()
        .filter(|p| p.tags.iter().any(|t| filter.exclude_tags.contains(t)))
        .map(|p| p.id)
        .collect();
    Ok(judgments::list_current(conn, project_id, None)
        .await?
        .into_iter()
        .filter(|j| j.kind() != JudgmentKind::Critique)
        .filter(|j| !excluded.contains(&j.annotator_id))
        .filter(|j| {
            filter
                .split
                .is_none_or(|s| prompt_split.get(&j.prompt_id) == Some(&s))
        })
        .filter(|j| !tagged_out.contains(&j.prompt_id))
        .filter(|j| !filter.excludes_time(&j.created_at))
        .collect())
}

/// What a snapshot of `filter` holds now: its judgment ids, rows' hash, description, rows.
async fn frozen_rows(
    conn: &mut Conn,
    project_id: ProjectId,
    filter: &SnapshotFilter,
) -> Result<(Vec<JudgmentId>, String, serde_json::Value, TrainingData)> {
    let judgments = select(conn, project_id, filter).await?;
    let rules = current_rules(conn, project_id).await?;
    let ids: Vec<JudgmentId> = judgments.iter().map(|j| j.id).collect();
    let (data, hash) = rows_for(conn, project_id, judgments, &rules, with_hash).await?;
    let description = serde_json::json!({
        "filter": filter,
        "kto_threshold": rules.kto_threshold,
        "good_span_labels": rules.good_labels,
        "judgments": ids.len(),
        "rows": { "preference": data.preferences.len(), "sft": data.sft.len(), "kto": data.kto.len() },
        "conflicts": data.conflicts.len(),
    });
    Ok((ids, hash, description, data))
}

/// Judgment ids per write transaction when a snapshot is written in parts. 5,000 held the
/// writer 48–55 ms at times under load (two cores, beside an import and a training job), and a
/// save arriving then waited as long; 1,000 keeps a part near the import's turn.
const SNAPSHOT_PART: usize = 1_000;

/// What an optimistic read froze, to be written as a snapshot.
struct Frozen<'a> {
    project_id: ProjectId,
    /// The project's removals mark, read with the judgments.
    mark: (i64, i64),
    ids: &'a [JudgmentId],
    hash: &'a str,
    description: &'a serde_json::Value,
}

/// A snapshot being written in parts; dropped unsettled (the freeze's future dropped half-way:
/// a closed request, a cancelled job), it is deleted in the background, so that the judgments
/// it holds can be undone again.
struct Partial {
    store: hone_store::Store,
    id: SnapshotId,
    settled: bool,
}

impl Drop for Partial {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        let (store, id) = (self.store.clone(), self.id);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = drop_partial(&store, id).await {
                    tracing::warn!(snapshot = %id, error = %e, "could not drop a partial snapshot");
                }
            });
        }
    }
}

async fn drop_partial(store: &hone_store::Store, id: SnapshotId) -> Result<()> {
    let mut tx = store.begin().await?;
    snapshots::delete_incomplete(&mut tx, id).await?;
    tx.commit().await?;
    Ok(())
}

/// Where a freeze is, for the tests' hook: after the optimistic read of try `n`, or before
/// part `n + 1` of a snapshot written in parts (parts 0 to `n` are written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FreezeStep {
    Read(usize),
    Part(usize),
}

/// Whether, since `mark` (read with `frozen`), a prompt or response of the project was deleted
/// or a judgment in `frozen` was deleted, superseded or made current again.
async fn touched_since(
    conn: &mut Conn,
    project_id: ProjectId,
    mark: (i64, i64),
    frozen: &[JudgmentId],
) -> Result<bool> {
    let (revision, last_change) = queue_rows::removals_mark(conn, project_id).await?;
    if revision != mark.0 {
        return Ok(true);
    }
    if last_change == mark.1 {
        return Ok(false);
    }
    let frozen: std::collections::HashSet<JudgmentId> = frozen.iter().copied().collect();
    Ok(queue_rows::changes_after(conn, project_id, mark.1)
        .await?
        .iter()
        .any(|(_, id)| frozen.contains(id)))
}

impl Hone {
    /// The rows the project's judgments produce now, without freezing anything.
    pub async fn training_data(
        &self,
        project_id: ProjectId,
        filter: &SnapshotFilter,
    ) -> Result<TrainingData> {
        let mut conn = self.store().conn().await?;
        let judgments = select(&mut conn, project_id, filter).await?;
        let rules = current_rules(&mut conn, project_id).await?;
        rows_for(&mut conn, project_id, judgments, &rules, |data| data).await
    }

    /// Freezes the judgments selected by `filter` into a snapshot, with the hash of the rows.
    ///
    /// The judgments and their rows are read in a read transaction (one consistent view), not
    /// under the writer's turn: at 100k judgments that read takes seconds, and annotators'
    /// saves would wait for it. The write then only inserts the snapshot, if no judgment it
    /// froze was deleted or superseded meanwhile and no prompt or response of the project was
    /// deleted (what migration 0008's triggers log); if one was, it reads again, and the last
    /// try reads under the writer's turn. Judgments saved, undone or re-judged after the read
    /// began and not in it leave the snapshot as it was read: it is the project as of that
    /// moment (while annotators label, a judgment is undone or re-judged every few seconds,
    /// and rereading for each kept every save waiting behind the last, writer-held read).
    pub async fn freeze_snapshot(
        &self,
        project_id: ProjectId,
        filter: &SnapshotFilter,
    ) -> Result<(Snapshot, TrainingData)> {
        self.freeze_snapshot_with(project_id, filter, SNAPSHOT_PART, &|_| Ok(()), async |_| {})
            .await
    }

    /// [`Self::freeze_snapshot`], refused with `check`'s error (nothing written) when the rows
    /// it read do not pass `check`: a fine-tune checks that its stages have rows on the very
    /// rows it freezes, instead of reading the project once more beforehand (seconds at 100k
    /// judgments).
    pub(crate) async fn freeze_snapshot_checked(
        &self,
        project_id: ProjectId,
        filter: &SnapshotFilter,
        check: &(dyn Fn(&TrainingData) -> Result<()> + Sync),
    ) -> Result<(Snapshot, TrainingData)> {
        self.freeze_snapshot_with(project_id, filter, SNAPSHOT_PART, check, async |_| {})
            .await
    }

    /// [`Self::freeze_snapshot`] writing parts of `part` judgment ids, calling `between` after
    /// each optimistic read and before each part after the first: the tests change the project
    /// there.
    async fn freeze_snapshot_with(
        &self,
        project_id: ProjectId,
        filter: &SnapshotFilter,
        part: usize,
        check: &(dyn Fn(&TrainingData) -> Result<()> + Sync),
        mut between: impl AsyncFnMut(FreezeStep),
    ) -> Result<(Snapshot, TrainingData)> {
        const OPTIMISTIC_TRIES: usize = 3;
        for attempt in 0..OPTIMISTIC_TRIES {
            let mut read = self.store().read().await?;
            let removals = queue_rows::removals_mark(&mut read, project_id).await?;
            let (ids, hash, description, data) = frozen_rows(&mut read, project_id, filter).await?;
            read.rollback().await?;
            check(&data)?;
            between(FreezeStep::Read(attempt)).await;
            let frozen = Frozen {
                project_id,
                mark: removals,
                ids: &ids,
                hash: &hash,
                description: &description,
            };
            if let Some(snapshot) = self.write_frozen(&frozen, part, &mut between).await? {
                return Ok((snapshot, data));
            }
        }
        let mut tx = self.store().begin().await?;
        let (ids, hash, description, data) = frozen_rows(&mut tx, project_id, filter).await?;
        check(&data)?;
        let snapshot = snapshots::insert(&mut tx, project_id, &ids, &hash, &description).await?;
        tx.commit().await?;
        Ok((snapshot, data))
    }

    /// Writes what an optimistic read froze: in one write transaction when it fits one part,
    /// else started, filled part by part and completed, each step a short turn of its own at
    /// the writer (100k ids in one held it ~250 ms on two cores beside a training job, and
    /// every save waited). Each part is checked, in its turn, against what changed since the
    /// read; a judgment it holds that was deleted or re-judged meanwhile drops the partial
    /// snapshot and gives `None` (read again). Once written, a judgment cannot be deleted (a
    /// snapshot holds it), so a part stays true to the read.
    async fn write_frozen(
        &self,
        frozen: &Frozen<'_>,
        part: usize,
        between: &mut impl AsyncFnMut(FreezeStep),
    ) -> Result<Option<Snapshot>> {
        let project_id = frozen.project_id;
        let mut parts = frozen.ids.chunks(part.max(1));
        let first = parts.next().unwrap_or(&[]);
        let mut tx = self.store().begin().await?;
        if touched_since(&mut tx, project_id, frozen.mark, first).await? {
            return Ok(None);
        }
        if frozen.ids.len() <= part {
            let snapshot = snapshots::insert(
                &mut tx,
                project_id,
                frozen.ids,
                frozen.hash,
                frozen.description,
            )
            .await?;
            tx.commit().await?;
            return Ok(Some(snapshot));
        }
        let id = snapshots::start(&mut tx, project_id, frozen.hash, frozen.description).await?;
        snapshots::add_judgments(&mut tx, id, first).await?;
        // Guarded before the commit: dropped while it is in flight, the part may have landed.
        let mut partial = Partial {
            store: self.store().clone(),
            id,
            settled: false,
        };
        if let Err(e) = tx.commit().await {
            // Rolled back: nothing to drop, and the id may be another freeze's by now.
            partial.settled = true;
            return Err(e.into());
        }
        let filled = async || -> Result<Option<Snapshot>> {
            for (n, ids) in parts.enumerate() {
                between(FreezeStep::Part(n)).await;
                let mut tx = self.store().begin().await?;
                if touched_since(&mut tx, project_id, frozen.mark, ids).await? {
                    return Ok(None);
                }
                snapshots::add_judgments(&mut tx, id, ids).await?;
                tx.commit().await?;
            }
            let mut tx = self.store().begin().await?;
            snapshots::complete(&mut tx, id).await?;
            tx.commit().await?;
            Ok(Some(
                snapshots::get(&mut *self.store().conn().await?, id).await?,
            ))
        };
        let written = filled().await;
        partial.settled = true;
        if !matches!(written, Ok(Some(_))) {
            // Given up or failed: the partial snapshot goes (if this fails too, the next
            // `Hone::open` an hour on drops it as abandoned; the error said is the first).
            if let Err(e) = drop_partial(self.store(), id).await {
                tracing::warn!(snapshot = %id, error = %e, "could not drop a partial snapshot");
            }
        }
        written
    }

    /// The rows of a snapshot, checked against its hash.
    pub async fn snapshot_data(&self, snapshot_id: SnapshotId) -> Result<(Snapshot, TrainingData)> {
        let mut conn = self.store().conn().await?;
        let snapshot = snapshots::get(&mut conn, snapshot_id).await?;
        let judgments = judgments::get_many(&mut conn, &snapshot.judgment_ids).await?;
        let rules = frozen_rules(&mut conn, &snapshot).await?;
        let (data, hash) =
            rows_for(&mut conn, snapshot.project_id, judgments, &rules, with_hash).await?;
        if hash != snapshot.content_hash && legacy_content_hash(&data) != snapshot.content_hash {
            return Err(CoreError::invalid(
                "snapshot",
                format!("snapshot {snapshot_id} no longer produces the rows it froze (hash {hash} ≠ {})", snapshot.content_hash),
            ));
        }
        Ok((snapshot, data))
    }
}

#[cfg(test)]
mod time_tests {
    use super::stored_utc;

    #[test]
    fn bounds_are_read_as_utc_in_the_stores_form() {
        assert_eq!(
            stored_utc("2025-01-02").as_deref(),
            Some("2025-01-02T00:00:00.000Z")
        );
        assert_eq!(
            stored_utc("2025-01-02T09:00:00+02:00").as_deref(),
            Some("2025-01-02T07:00:00.000Z"),
            "an offset is taken into account"
        );
        assert_eq!(
            stored_utc("2025-01-02T03:04:05Z").as_deref(),
            Some("2025-01-02T03:04:05.000Z"),
            "so it sorts before .678"
        );
        assert!("2025-01-02T03:04:05.000Z" < "2025-01-02T03:04:05.678Z");
        assert_eq!(stored_utc("yesterday"), None);
        assert_eq!(stored_utc("2025-13-01"), None);
    }
}

#[cfg(test)]
mod hash_tests {
    use super::super::rows::{EditRow, PromptContent, SpanRow};
    use super::*;
    use crate::ResponseId;

    fn prompt() -> PromptContent {
        PromptContent {
            text: "How do I reset my password?".into(),
            messages: None,
        }
    }

    #[test]
    fn marks_on_other_characters_or_another_edit_change_the_hash_and_the_store_ids_do_not() {
        let mut data = TrainingData::default();
        assert_eq!(
            content_hash(&data),
            legacy_content_hash(&data),
            "without spans or edits the hash is the one snapshots always had"
        );
        data.spans.push(SpanRow {
            prompt: prompt(),
            completion: "Open Settings, then Account.".into(),
            marked: vec![(0, 4)],
            good: vec![],
            response_id: ResponseId(1),
            judgment_ids: vec![JudgmentId(1)],
        });
        let first = content_hash(&data);
        assert_ne!(first, legacy_content_hash(&data));
        data.spans[0].marked = vec![(5, 13)];
        let moved = content_hash(&data);
        assert_ne!(
            moved, first,
            "the same answer marked elsewhere trains differently"
        );
        data.spans[0].response_id = ResponseId(7);
        data.spans[0].judgment_ids = vec![JudgmentId(8), JudgmentId(9)];
        assert_eq!(
            content_hash(&data),
            moved,
            "ids are the store's, not the data's"
        );
        data.edits.push(EditRow {
            prompt: prompt(),
            original: "Make a new account.".into(),
            corrected: "Open Settings, then Account.".into(),
            original_response_id: ResponseId(1),
            corrected_response_id: ResponseId(2),
            judgment_ids: vec![JudgmentId(3)],
        });
        let edited = content_hash(&data);
        assert_ne!(edited, moved);
        data.edits[0].corrected = "Open Settings.".into();
        assert_ne!(content_hash(&data), edited);
        data.edits[0].corrected = "Open Settings, then Account.".into();
        assert_eq!(content_hash(&data), edited);
        data.spans[0].good = vec![(14, 27)];
        assert_ne!(
            content_hash(&data),
            edited,
            "what is marked good trains too"
        );
    }
}

#[cfg(test)]
mod optimistic_tests {
    use hone_store::prompts::NewPrompt;
    use hone_store::responses::NewResponse;
    use hone_store::ResponseSource;

    use super::*;
    use crate::feedback::{FeedbackInput, FeedbackKind};
    use crate::projects::ProjectSpec;
    use crate::Choice;

    /// A project with `n` prompts, each a pair judged by alice; the judgments' ids.
    async fn judged_pairs(hone: &Hone, n: usize) -> (ProjectId, Vec<JudgmentId>) {
        let spec = ProjectSpec::named("freeze");
        let project = hone.create_project(&spec).await.unwrap().project.id;
        let mut judgments = Vec::new();
        for i in 0..n {
            let prompt = NewPrompt::text(format!("question {i}?"));
            let prompt = hone.add_prompt(project, &prompt).await.unwrap();
            let mut pair = Vec::new();
            for text in ["a good answer", "a bad answer"] {
                let response = NewResponse::new(prompt.id, text, ResponseSource::Model);
                pair.push(hone.add_response(&response).await.unwrap().id);
            }
            let kind = FeedbackKind::Comparison {
                response_a: pair[0],
                response_b: pair[1],
                choice: Choice::A,
                strength: None,
                reason: None,
            };
            let input = FeedbackInput::new(project, "alice", kind);
            judgments.push(hone.record_feedback(&input).await.unwrap().judgment_id);
        }
        (project, judgments)
    }

    /// Undoes one judgment after each of the first `tries` reads; the snapshot frozen then.
    async fn freeze_while_undoing(tries: usize) -> (Vec<JudgmentId>, Snapshot, TrainingData) {
        let dir = tempfile::TempDir::new().unwrap();
        let hone = Hone::open(dir.path()).await.unwrap();
        let (project, judgments) = judged_pairs(&hone, 4).await;
        let mut undone = Vec::new();
        let filter = SnapshotFilter::default();
        let (snapshot, data) = hone
            .freeze_snapshot_with(project, &filter, SNAPSHOT_PART, &|_| Ok(()), async |step| {
                if let FreezeStep::Read(attempt) = step {
                    if attempt < tries {
                        hone.undo_judgment(judgments[attempt]).await.unwrap();
                        undone.push(judgments[attempt]);
                    }
                }
            })
            .await
            .unwrap();
        assert_eq!(undone.len(), tries.min(3));
        let kept: Vec<JudgmentId> = judgments
            .into_iter()
            .filter(|j| !undone.contains(j))
            .collect();
        // What the store holds now is what a fresh freeze reads: the snapshot must match it.
        let fresh = hone.training_data(project, &filter).await.unwrap();
        assert_eq!(content_hash(&data), content_hash(&fresh));
        (kept, snapshot, data)
    }

    #[tokio::test]
    async fn a_judgment_undone_between_the_read_and_the_write_is_not_frozen() {
        let (kept, snapshot, data) = freeze_while_undoing(1).await;
        assert_eq!(snapshot.judgment_ids, kept, "read again after the undo");
        assert_eq!(data.preferences.len(), 3);
        assert_eq!(snapshot.content_hash, content_hash(&data));
    }

    #[tokio::test]
    async fn a_judgment_saved_and_undone_after_the_read_leaves_the_snapshot_as_read() {
        let dir = tempfile::TempDir::new().unwrap();
        let hone = Hone::open(dir.path()).await.unwrap();
        let (project, judgments) = judged_pairs(&hone, 3).await;
        let mut reads = 0;
        let (snapshot, data) = hone
            .freeze_snapshot_with(
                project,
                &SnapshotFilter::default(),
                SNAPSHOT_PART,
                &|_| Ok(()),
                async |_| {
                    reads += 1;
                    // Another annotator saves a verdict on the first pair and takes it back.
                    let first = hone
                        .training_data(project, &SnapshotFilter::default())
                        .await
                        .unwrap();
                    let pair = &first.preferences[0];
                    let kind = FeedbackKind::Comparison {
                        response_a: pair.chosen_response_id,
                        response_b: pair.rejected_response_id,
                        choice: Choice::B,
                        strength: None,
                        reason: None,
                    };
                    let input = FeedbackInput::new(project, "bob", kind);
                    let saved = hone.record_feedback(&input).await.unwrap().judgment_id;
                    hone.undo_judgment(saved).await.unwrap();
                },
            )
            .await
            .unwrap();
        assert_eq!(
            reads, 1,
            "the change touched no frozen judgment: no second read"
        );
        assert_eq!(snapshot.judgment_ids, judgments);
        assert_eq!(data.preferences.len(), 3);
        assert_eq!(snapshot.content_hash, content_hash(&data));
    }

    #[tokio::test]
    async fn a_snapshot_written_in_parts_is_unseen_until_complete_and_a_part_changed_meanwhile_reads_again(
    ) {
        let dir = tempfile::TempDir::new().unwrap();
        let hone = Hone::open(dir.path()).await.unwrap();
        let (project, judgments) = judged_pairs(&hone, 5).await;
        let mut steps = Vec::new();
        let (snapshot, data) = hone
            .freeze_snapshot_with(
                project,
                &SnapshotFilter::default(),
                2,
                &|_| Ok(()),
                async |step| {
                    steps.push(step);
                    if step != FreezeStep::Part(0) || steps.contains(&FreezeStep::Read(1)) {
                        return;
                    }
                    // The first part is written: the snapshot exists, unseen, and holds its judgments.
                    let mut conn = hone.store().conn().await.unwrap();
                    assert!(snapshots::list(&mut conn, project)
                        .await
                        .unwrap()
                        .is_empty());
                    let error = hone.undo_judgment(judgments[0]).await.unwrap_err();
                    assert!(error.to_string().contains("being frozen"), "{error}");
                    // A judgment of the last part, not written yet, is undone.
                    hone.undo_judgment(judgments[4]).await.unwrap();
                },
            )
            .await
            .unwrap();
        use FreezeStep::{Part, Read};
        assert_eq!(
            steps,
            [Read(0), Part(0), Part(1), Read(1), Part(0)],
            "the undo was seen at the last part (three of 2, 2, 1); the second read froze the four left"
        );
        assert_eq!(snapshot.judgment_ids, judgments[..4]);
        assert_eq!(data.preferences.len(), 4);
        let fresh = hone
            .training_data(project, &SnapshotFilter::default())
            .await
            .unwrap();
        assert_eq!(snapshot.content_hash, content_hash(&fresh));
        let (stored, rebuilt) = hone.snapshot_data(snapshot.id).await.unwrap();
        assert_eq!(
            (&stored, content_hash(&rebuilt)),
            (&snapshot, snapshot.content_hash.clone())
        );
        let mut conn = hone.store().conn().await.unwrap();
        assert_eq!(
            snapshots::list(&mut conn, project).await.unwrap(),
            [snapshot],
            "the partial snapshot was dropped"
        );
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM snapshot_judgments")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert_eq!(rows, 4);
    }

    #[tokio::test]
    async fn past_its_optimistic_tries_the_freeze_reads_under_the_writers_turn() {
        // An undo after every optimistic read: the last read is made with the writer's turn.
        let (kept, snapshot, data) = freeze_while_undoing(3).await;
        assert_eq!(snapshot.judgment_ids, kept);
        assert_eq!(data.preferences.len(), 1);
    }
}
