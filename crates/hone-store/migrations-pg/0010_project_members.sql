-- PostgreSQL twin of migrations/0010_project_members.sql; keep in step (checked by the store's schema test)
-- Team mode (issue 18): the projects each annotator account works on. Leads and owners see
-- every project; an annotator sees and labels only the projects they are a member of.
CREATE TABLE project_members (
    project_id  BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    added_at    TEXT NOT NULL DEFAULT (hone_now()),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_by_user ON project_members(user_id);
