-- PostgreSQL twin of migrations/0005_suggested_response.sql; keep in step (checked by the store's schema test)
-- The answer the AI suggestion on screen preferred when the judgment was made (NULL: none was
-- shown, or it was not recorded), so the suggestion's pull is measured against what was shown.
ALTER TABLE judgments ADD COLUMN suggested_response_id BIGINT REFERENCES responses(id);
