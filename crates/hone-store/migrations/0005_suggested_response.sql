-- The answer the AI suggestion on screen preferred when the judgment was made (NULL: none was
-- shown, or it was not recorded), so the suggestion's pull is measured against what was shown.
ALTER TABLE judgments ADD COLUMN suggested_response_id INTEGER REFERENCES responses(id);
