//! Which accounts work on which project (migration 0010): an annotator account sees and labels
//! only its projects.

use crate::Conn;

use crate::users::User;
use crate::{ProjectId, Result, UserId};

/// Makes `user_id` a member of `project_id`; `false` if it already was.
pub async fn add(conn: &mut Conn, project_id: ProjectId, user_id: UserId) -> Result<bool> {
    let done = sqlx::query(
        "INSERT INTO project_members (project_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(project_id)
    .bind(user_id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Ends `user_id`'s membership of `project_id`; `false` if it was not a member.
pub async fn remove(conn: &mut Conn, project_id: ProjectId, user_id: UserId) -> Result<bool> {
    let done = sqlx::query("DELETE FROM project_members WHERE project_id = $1 AND user_id = $2")
        .bind(project_id)
        .bind(user_id)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// The members of a project, by name.
pub async fn of_project(conn: &mut Conn, project_id: ProjectId) -> Result<Vec<User>> {
    Ok(sqlx::query_as(
        "SELECT u.id, u.name, u.role, u.created_at, u.revoked_at FROM users u \
         JOIN project_members m ON m.user_id = u.id WHERE m.project_id = $1 ORDER BY u.name",
    )
    .bind(project_id)
    .fetch_all(&mut *conn)
    .await?)
}

/// The ids of the projects `user_id` is a member of, ascending.
pub async fn projects_of(conn: &mut Conn, user_id: UserId) -> Result<Vec<ProjectId>> {
    Ok(sqlx::query_scalar(
        "SELECT project_id FROM project_members WHERE user_id = $1 ORDER BY project_id",
    )
    .bind(user_id)
    .fetch_all(&mut *conn)
    .await?)
}

pub async fn is_member(conn: &mut Conn, project_id: ProjectId, user_id: UserId) -> Result<bool> {
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT 1 FROM project_members WHERE project_id = $1 AND user_id = $2",
    )
    .bind(project_id)
    .bind(user_id)
    .fetch_optional(&mut *conn)
    .await?
    .is_some())
}
