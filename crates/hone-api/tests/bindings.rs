//! The UI's TypeScript types are generated from the Rust types (ts-rs) and committed in
//! `ui/src/lib/api/types/`. This test generates them again and fails when the committed
//! ones differ, so they cannot drift; `HONE_UPDATE_TS=1` writes them instead
//! (`bash scripts/gen-api-types.sh`).
//!
//! One change is made to ts-rs's output: 64-bit integers become `number`, not `bigint`,
//! because serde_json writes them as JSON numbers (Hone's ids and counts stay far below 2^53).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ts_rs::TS;

/// Read when the test runs, not when it is compiled: cargo reuses a test binary built from
/// another checkout of the same workspace (a shared target folder), and a compile-time path
/// would then point into that other checkout.
pub const RUNTIME_MANIFEST_DIR: &str = "cargo test sets CARGO_MANIFEST_DIR";

/// Every type a command takes or returns; ts-rs follows their fields to the rest.
fn export_all(dir: &Path) {
    use hone_api::types::*;
    use hone_core::*;
    macro_rules! export {
        ($($t:ty),+ $(,)?) => { $( <$t>::export_all_to(dir).unwrap_or_else(|e| panic!("exporting {}: {e}", stringify!($t))); )+ };
    }
    export!(
        hone_api::ApiError,
        hone_api::JobEvent,
        WorkspaceInfo,
        ModelInfo,
        JobStarted,
        UiSettings,
        ProjectArgs,
        DownloadArgs,
        GuidelinesArgs,
        NamedItemArgs,
        SpanLabelArgs,
        DirArgs,
        ListPromptsArgs,
        ImportTextArgs,
        SetSplitArgs,
        PromptArgs,
        NextItemArgs,
        JudgmentArgs,
        AddUserArgs,
        QueueProgressArgs,
        queue::progress::KindProgress,
        UserArgs,
        MemberArgs,
        ProjectTokenLevelArgs,
        accounts::Account,
        accounts::IssuedToken,
        store::users::User,
        DefaultRecipeArgs,
        FineTuneArgs,
        JobArgs,
        StoredJobArgs,
        ListJobsArgs,
        ExportVersionArgs,
        ArenaArgs,
        projects::ProjectSpec,
        projects::ProjectDetails,
        store::projects::Project,
        store::projects::Guideline,
        store::models::BaseModel,
        store::models::ModelVersion,
        store::jobs::Job,
        store::jobs::MetricPoint,
        store::prompts::Prompt,
        stats::ProjectStats,
        content::PromptWithResponses,
        import::ImportReport,
        generation::GenerationRequest,
        generation::Candidates,
        playground::PlaygroundRequest,
        playground::PlaygroundAnswer,
        playground::CandidateInput,
        playground::CandidateAdded,
        queue::QueueItem,
        feedback::FeedbackInput,
        feedback::Recorded,
        finetune::Recipe,
        finetune::Plan,
        finetune::FineTuneEvent,
        finetune::FineTuneOutcome,
        finetune::VersionFormat,
        arena::ArenaRound,
        arena::ArenaResults,
        VersionArgs,
        PromoteArgs,
        RetrainArgs,
        version_eval::VersionEvaluation,
        promotion::Promotion,
        provenance::VersionProvenance,
        provenance::JudgmentProvenance,
        annotator_report::AnnotatorReport,
        retrain::Exclusions,
        SuggestionArgs,
        suggestion::Suggestion,
        ProjectSettingsArgs,
        store::projects::NewProject,
        store::QueueOrder,
        gold::GoldItem,
        annotator_report::GoldAgreement,
        annotator_report::SuggestionInfluence,
        annotator_report::PairAgreement,
        FlagArgs,
        triage::SkipInput,
        triage::FlagInput,
        triage::Flag,
        FlagReason,
        history::HistoryQuery,
        history::HistoryPage,
        history::JudgmentDetail,
        stats::FlaggedPrompt,
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn read_all(dir: &Path) -> BTreeMap<String, String> {
    walk(dir)
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(dir).unwrap().to_string_lossy().into_owned(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

fn generated() -> BTreeMap<String, String> {
    let dir = tempfile::tempdir().unwrap();
    export_all(dir.path());
    read_all(dir.path())
        .into_iter()
        .map(|(name, text)| (name, text.replace("bigint", "number")))
        .collect()
}

#[test]
fn the_committed_typescript_types_are_the_generated_ones() {
    let target = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect(RUNTIME_MANIFEST_DIR))
        .join("../../ui/src/lib/api/types");
    let fresh = generated();
    assert!(
        fresh.contains_key("FeedbackInput.ts") && fresh.contains_key("JobEvent.ts"),
        "{:?}",
        fresh.keys().collect::<Vec<_>>()
    );
    if std::env::var_os("HONE_UPDATE_TS").is_some() {
        assert!(
            std::env::var_os("CI").is_none(),
            "HONE_UPDATE_TS rewrites the types instead of checking them; it is refused under CI"
        );
        if target.exists() {
            std::fs::remove_dir_all(&target).unwrap();
        }
        for (name, text) in &fresh {
            let path = target.join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        return;
    }
    let committed = if target.exists() {
        read_all(&target)
    } else {
        BTreeMap::new()
    };
    let stale: Vec<&String> = fresh
        .keys()
        .filter(|k| committed.get(*k) != fresh.get(*k))
        .chain(committed.keys().filter(|k| !fresh.contains_key(*k)))
        .collect();
    assert!(
        stale.is_empty(),
        "ui/src/lib/api/types is out of date ({stale:?}); run `bash scripts/gen-api-types.sh`"
    );
}
