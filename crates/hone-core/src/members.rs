//! Project membership in team mode (issue 18): a lead says which annotator accounts work on a
//! project; an annotator sees and labels only those projects (`hone-api`'s roles enforce it).
//! Leads and owners see every project.

use hone_store::users::{self, User};
use hone_store::{members, projects};

use crate::{CoreError, Hone, ProjectId, Result, UserId};

impl Hone {
    /// The accounts that are members of the project, by name.
    pub async fn project_members(&self, project_id: ProjectId) -> Result<Vec<User>> {
        let mut conn = self.store().conn().await?;
        projects::get(&mut conn, project_id).await?;
        Ok(members::of_project(&mut conn, project_id).await?)
    }

    /// Makes the account `name` a member of the project (again: no change); the members after.
    pub async fn add_member(&self, project_id: ProjectId, name: &str) -> Result<Vec<User>> {
        let mut tx = self.store().begin().await?;
        projects::get(&mut tx, project_id).await?;
        let user = users::get_by_name(&mut tx, name).await?;
        if user.revoked_at.is_some() {
            return Err(CoreError::invalid(
                "name",
                format!("{name:?} was revoked; it cannot join a project"),
            ));
        }
        members::add(&mut tx, project_id, user.id).await?;
        let after = members::of_project(&mut tx, project_id).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// Ends the account's membership of the project; its judgments stay. The members after.
    pub async fn remove_member(&self, project_id: ProjectId, name: &str) -> Result<Vec<User>> {
        let mut tx = self.store().begin().await?;
        projects::get(&mut tx, project_id).await?;
        let user = users::get_by_name(&mut tx, name).await?;
        if !members::remove(&mut tx, project_id, user.id).await? {
            return Err(CoreError::invalid(
                "name",
                format!("{name:?} is not a member of project {project_id}"),
            ));
        }
        let after = members::of_project(&mut tx, project_id).await?;
        tx.commit().await?;
        Ok(after)
    }

    /// The ids of the projects the account is a member of.
    pub async fn member_projects(&self, user_id: UserId) -> Result<Vec<ProjectId>> {
        Ok(members::projects_of(&mut *self.store().conn().await?, user_id).await?)
    }

    pub async fn is_member(&self, project_id: ProjectId, user_id: UserId) -> Result<bool> {
        Ok(members::is_member(&mut *self.store().conn().await?, project_id, user_id).await?)
    }
}
