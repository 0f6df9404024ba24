-- Team mode (issue 18): the projects each annotator account works on. Leads and owners see
-- every project; an annotator sees and labels only the projects they are a member of.
CREATE TABLE project_members (
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    added_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_by_user ON project_members(user_id);
