-- PostgreSQL twin of migrations/0011_project_token_level.sql; keep in step (checked by the store's schema test)
-- Issue 19: a project's token-level feedback settings (hone-core's `TokenLevel`, as JSON):
-- which judgments train on their tokens, with which weights. Its fine-tunes start from them; a
-- run may still say otherwise. No row: the documented defaults.
-- Keyed by the project's id (always given), so a plain BIGINT, not an identity.
CREATE TABLE project_token_level (
    project_id  BIGINT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    settings    TEXT NOT NULL,
    updated_at  TEXT NOT NULL DEFAULT (hone_now())
);
