-- Issue 19: a project's token-level feedback settings (hone-core's `TokenLevel`, as JSON):
-- which judgments train on their tokens, with which weights. Its fine-tunes start from them; a
-- run may still say otherwise. No row: the documented defaults.
CREATE TABLE project_token_level (
    project_id  INTEGER PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    settings    TEXT NOT NULL,
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
