//! Provenance: from a version, the judgments that trained it (through its snapshot), who made
//! them under which guideline version, and the chain of parents; from a judgment, the
//! versions it trained.

use std::collections::BTreeMap;

use hone_store::judgments;
use hone_store::models::{self, BaseModel, ModelVersion};
use hone_store::snapshots::{self, Snapshot};
use hone_store::{annotators, JudgmentKind};
use serde::{Deserialize, Serialize};

use crate::{AnnotatorId, Hone, JudgmentId, PromptId, Result, SnapshotId, VersionId};

/// One judgment as provenance lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct JudgmentSource {
    pub judgment_id: JudgmentId,
    pub kind: JudgmentKind,
    pub prompt_id: PromptId,
    pub annotator: String,
    pub guideline_version: Option<i64>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VersionProvenance {
    pub version: ModelVersion,
    /// Parent, grandparent, …, up to the first version trained on the base.
    pub ancestors: Vec<ModelVersion>,
    pub base: BaseModel,
    pub snapshot: Option<Snapshot>,
    pub judgments: Vec<JudgmentSource>,
    /// Judgments per annotator.
    pub annotators: BTreeMap<String, usize>,
    /// Judgments per guideline version (`none`: made without guidelines).
    pub guideline_versions: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct JudgmentProvenance {
    pub judgment: JudgmentSource,
    /// The snapshots that hold it, and the versions trained on them.
    pub snapshot_ids: Vec<SnapshotId>,
    pub versions: Vec<ModelVersion>,
}

impl Hone {
    async fn judgment_sources(&self, ids: &[JudgmentId]) -> Result<Vec<JudgmentSource>> {
        let mut conn = self.store().conn().await?;
        let names: std::collections::HashMap<AnnotatorId, String> = annotators::list(&mut conn)
            .await?
            .into_iter()
            .map(|a| (a.id, a.name))
            .collect();
        let mut out = Vec::with_capacity(ids.len());
        for j in judgments::get_many(&mut conn, ids).await? {
            out.push(JudgmentSource {
                judgment_id: j.id,
                kind: j.kind(),
                prompt_id: j.prompt_id,
                annotator: names.get(&j.annotator_id).cloned().unwrap_or_default(),
                guideline_version: j.guideline_version,
                created_at: j.created_at.clone(),
            });
        }
        Ok(out)
    }

    /// Where version `version_id` comes from.
    pub async fn version_provenance(&self, version_id: VersionId) -> Result<VersionProvenance> {
        let mut conn = self.store().conn().await?;
        let version = models::get_version(&mut conn, version_id).await?;
        let mut ancestors = Vec::new();
        let mut next = version.parent_id;
        while let Some(id) = next {
            let parent = models::get_version(&mut conn, id).await?;
            next = parent.parent_id;
            ancestors.push(parent);
        }
        let base = models::get_base(&mut conn, version.base_model_id).await?;
        let snapshot = match version.snapshot_id {
            Some(id) => Some(snapshots::get(&mut conn, id).await?),
            None => None,
        };
        drop(conn);
        let judgments = match &snapshot {
            Some(s) => self.judgment_sources(&s.judgment_ids).await?,
            None => Vec::new(),
        };
        let mut annotators = BTreeMap::new();
        let mut guideline_versions = BTreeMap::new();
        for j in &judgments {
            *annotators.entry(j.annotator.clone()).or_default() += 1;
            *guideline_versions
                .entry(
                    j.guideline_version
                        .map_or("none".to_string(), |v| v.to_string()),
                )
                .or_default() += 1;
        }
        Ok(VersionProvenance {
            version,
            ancestors,
            base,
            snapshot,
            judgments,
            annotators,
            guideline_versions,
        })
    }

    /// The versions judgment `judgment_id` trained.
    pub async fn judgment_provenance(&self, judgment_id: JudgmentId) -> Result<JudgmentProvenance> {
        let judgment = self.judgment_sources(&[judgment_id]).await?.pop().ok_or(
            crate::CoreError::NotFound {
                entity: "judgment",
                key: judgment_id.to_string(),
            },
        )?;
        let mut conn = self.store().conn().await?;
        let snapshot_ids = judgments::snapshots_holding(&mut conn, judgment_id).await?;
        let project_id = judgments::get(&mut conn, judgment_id).await?.project_id;
        let versions = models::list_versions(&mut conn, project_id)
            .await?
            .into_iter()
            .filter(|v| v.snapshot_id.is_some_and(|s| snapshot_ids.contains(&s)))
            .collect();
        Ok(JudgmentProvenance {
            judgment,
            snapshot_ids,
            versions,
        })
    }
}
