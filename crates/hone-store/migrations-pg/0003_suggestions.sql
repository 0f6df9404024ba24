-- PostgreSQL twin of migrations/0003_suggestions.sql; keep in step (checked by the store's schema test)
-- Whether an AI suggestion (a reward model's preference) was on screen when the judgment was
-- made, so its influence on annotators can be measured. 0/1, a BIGINT as on SQLite.
ALTER TABLE judgments ADD COLUMN suggestion_visible BIGINT NOT NULL DEFAULT 0;
