//! Small enums stored as TEXT columns; their spelling is the schema's CHECK lists.

use serde::{Deserialize, Serialize};

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS))]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($(#[$vmeta])* $variant),+ }

        // Stored as its text (sqlx's derive has no `Any` impl for text enums).
        impl sqlx::Type<sqlx::Any> for $name {
            fn type_info() -> sqlx::any::AnyTypeInfo {
                <str as sqlx::Type<sqlx::Any>>::type_info()
            }
        }

        impl<'q> sqlx::Encode<'q, sqlx::Any> for $name {
            fn encode_by_ref(
                &self,
                buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, sqlx::Any>>::encode(self.as_str(), buf)
            }
        }

        impl<'r> sqlx::Decode<'r, sqlx::Any> for $name {
            fn decode(value: <sqlx::Any as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <String as sqlx::Decode<'r, sqlx::Any>>::decode(value)?;
                Ok(text.parse()?)
            }
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!(
                        "unknown {} {s:?}; expected one of: {}",
                        stringify!($name),
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}

text_enum!(
    /// Train prompts feed fine-tunes; held-out prompts only evaluate them.
    Split { Train => "train", Heldout => "heldout" }
);

text_enum!(
    /// Where a response came from.
    ResponseSource { Model => "model", Human => "human", Import => "import" }
);

text_enum!(
    AnnotatorKind { Human => "human", Simulated => "simulated", Import => "import" }
);

text_enum!(
    /// The kinds of feedback. `thumbs` (a binary verdict) and `demonstration` (a reference
    /// answer) carry the unpaired KTO and SFT rows that TRL datasets hold; `critique` is
    /// free text on a response.
    JudgmentKind {
        Comparison => "comparison",
        Ranking => "ranking",
        Rating => "rating",
        Edit => "edit",
        Span => "span",
        Thumbs => "thumbs",
        Demonstration => "demonstration",
        Critique => "critique",
    }
);

text_enum!(
    /// How the labeling queue orders the items still open: in prompt order (units others have
    /// started first, so that overlap completes), at random, where the latest reward model is
    /// least sure (smallest score margin first), or where annotators disagree most.
    QueueOrder { InOrder => "in_order", Random => "random", LeastSure => "least_sure", Disagreement => "disagreement" }
);

text_enum!(
    /// The verdict of a comparison of response A with response B.
    Choice { A => "a", B => "b", Tie => "tie", BothBad => "both_bad" }
);

text_enum!(
    /// Why an annotator flagged a unit instead of judging it: the prompt is broken (garbled,
    /// truncated, not a question), off topic for the project, outside the annotator's expertise,
    /// or unsafe (the prompt or an answer).
    FlagReason {
        BrokenPrompt => "broken_prompt",
        OffTopic => "off_topic",
        NotMyExpertise => "not_my_expertise",
        Unsafe => "unsafe",
    }
);

impl FlagReason {
    /// Reasons about the prompt itself: a flag for one of them hides all of the prompt's units
    /// (of every kind) from the flagger, not only the unit flagged.
    pub fn is_about_prompt(self) -> bool {
        !matches!(self, FlagReason::Unsafe)
    }

    /// Reasons the stats report the prompt for (to fix or remove it).
    pub fn is_reported(self) -> bool {
        matches!(self, FlagReason::BrokenPrompt | FlagReason::Unsafe)
    }
}

text_enum!(
    /// What a span label says of the characters it marks: something wrong (every label before
    /// issue 19 was one) or something good.
    #[derive(Default)]
    SpanPolarity { #[default] Error => "error", Good => "good" }
);

text_enum!(
    JobState {
        Queued => "queued",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
        Interrupted => "interrupted",
    }
);

impl JobState {
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

text_enum!(
    /// An import run: its rows are pending while `running`, count once `done`, and are gone
    /// (but for rows others' judgments refer to) once `rolled_back`.
    ImportState { Running => "running", Done => "done", RolledBack => "rolled_back" }
);
