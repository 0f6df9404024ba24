//! The lists front doors show as they are stored: base models, a project's versions, jobs and
//! a job's metric points. Front doors read them here, not from the store (ARCHITECTURE: they
//! only parse, call `hone-core`, and print).

use hone_store::jobs::{self, Job, MetricPoint};
use hone_store::models::{self, BaseModel, ModelVersion};
use hone_store::JobId;

use crate::{Hone, ProjectId, Result};

impl Hone {
    /// Every base model the workspace has registered, oldest first.
    pub async fn base_models(&self) -> Result<Vec<BaseModel>> {
        Ok(models::list_bases(&mut *self.store().conn().await?).await?)
    }

    /// A project's model versions, oldest first.
    pub async fn versions(&self, project_id: ProjectId) -> Result<Vec<ModelVersion>> {
        Ok(models::list_versions(&mut *self.store().conn().await?, project_id).await?)
    }

    /// The jobs of one project, or of all, oldest first.
    pub async fn jobs(&self, project_id: Option<ProjectId>) -> Result<Vec<Job>> {
        Ok(jobs::list(&mut *self.store().conn().await?, project_id).await?)
    }

    /// Every metric point a job logged (losses, learning rate, …), in step order.
    pub async fn job_metrics(&self, job_id: JobId) -> Result<Vec<MetricPoint>> {
        Ok(jobs::metrics(&mut *self.store().conn().await?, job_id, None).await?)
    }
}
