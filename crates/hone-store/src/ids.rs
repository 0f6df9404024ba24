//! Typed ids: a row's id as its own type where it crosses crates, so a job's id cannot be
//! passed where a project's is meant. Each is an `i64` in the database, in JSON (a bare
//! number, `serde(transparent)`) and in TypeScript (`number`).
//!
//! Typed: [`JobId`], [`VersionId`], [`SnapshotId`], [`BaseModelId`], [`AnnotatorId`],
//! [`JudgmentId`], [`ResponseId`], [`PromptId`], [`ProjectId`], [`ImportRunId`], [`UserId`],
//! [`FlagId`]. An API token's id and a skip's id stay `i64` (neither goes further than
//! hone-core), as do the queue's watermarks.

/// Defines an id type over `i64` with what a store id needs: sqlx's `Any` encoding, a value of
/// a multi-row insert, serde, ts-rs, `Display` and `Debug` (the bare number) and `FromStr`
/// (for the CLI).
macro_rules! typed_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl sqlx::Type<sqlx::Any> for $name {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <i64 as sqlx::Type<sqlx::Any>>::type_info()
            }

            // Whatever integer column an `i64` reads, so does the id.
            fn compatible(ty: &sqlx::any::AnyTypeInfo) -> bool {
                <i64 as sqlx::Type<sqlx::Any>>::compatible(ty)
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Any> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <i64 as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(&self.0, buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Any> for $name {
            fn decode(
                value: <sqlx::Any as sqlx::Database>::ValueRef<'r>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                <i64 as sqlx::Decode<'r, sqlx::Any>>::decode(value).map($name)
            }
        }

        impl From<$name> for crate::dialect::Value {
            fn from(id: $name) -> Self {
                id.0.into()
            }
        }

        impl From<Option<$name>> for crate::dialect::Value {
            fn from(id: Option<$name>) -> Self {
                id.map(|id| id.0).into()
            }
        }

        // The bare number, as in JSON: messages list ids with `{:?}` ("[3, 4]").
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.trim().parse().map($name)
            }
        }
    };
}

typed_id!(
    /// A job of the workspace (`jobs.id`): a fine-tune run, kept across restarts (and resumed
    /// by it). Not the id of a job stream of one API session (hone-api's `u64`).
    JobId
);

typed_id!(
    /// A model version (`model_versions.id`): a LoRA adapter trained on a base model, or
    /// imported.
    VersionId
);

typed_id!(
    /// A dataset snapshot (`dataset_snapshots.id`): the frozen judgments a version trained on.
    SnapshotId
);

typed_id!(
    /// A base model the workspace knows (`base_models.id`): a model folder versions train on.
    BaseModelId
);

typed_id!(
    /// An annotator (`annotators.id`): a person, a team member's account or a stand-in (an
    /// import, a model, the demo's simulated expert) whose judgments are kept apart.
    AnnotatorId
);

typed_id!(
    /// A judgment (`judgments.id`): one annotator's verdict on one unit. The queue's
    /// watermarks ("every judgment after id N") stay plain numbers.
    JudgmentId
);

typed_id!(
    /// A response (`responses.id`): one answer shown for a prompt — a model's, an import's or
    /// a person's correction. The queue's watermarks ("every response after id N") stay plain
    /// numbers.
    ResponseId
);

typed_id!(
    /// A prompt (`prompts.id`): one prompt of a project, with its responses. The queue's
    /// watermarks ("every prompt after id N") stay plain numbers.
    PromptId
);

typed_id!(
    /// A project (`projects.id`): a task with its prompts, judgments, guidelines and model
    /// versions.
    ProjectId
);

typed_id!(
    /// An import run (`imports.id`): one file written in many short transactions; the
    /// prompts, responses and judgments it writes carry it (`import_id`) until it is done.
    ImportRunId
);

typed_id!(
    /// A team account (`users.id`): a person who signs in with API tokens. Not an
    /// annotator's id: the account's judgments carry the annotator of its name.
    UserId
);

typed_id!(
    /// A flag (`flags.id`): one annotator marked one queue unit as not to be judged.
    FlagId
);

#[cfg(test)]
mod tests {
    use super::JobId;

    #[test]
    fn an_id_is_a_bare_number_in_json_and_text() {
        assert_eq!(serde_json::to_string(&JobId(42)).unwrap(), "42");
        assert_eq!(serde_json::from_str::<JobId>("7").unwrap(), JobId(7));
        assert!(serde_json::from_str::<JobId>("\"7\"").is_err());
        assert_eq!(" 12 ".parse::<JobId>().unwrap(), JobId(12));
        assert!("twelve".parse::<JobId>().is_err());
        assert_eq!(JobId(3).to_string(), "3");
        assert_eq!(format!("{:?}", [JobId(3), JobId(4)]), "[3, 4]");
    }
}
