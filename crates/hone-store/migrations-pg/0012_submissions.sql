-- PostgreSQL twin of migrations/0012_submissions.sql; keep in step (checked by the store's schema test)
-- Idempotent submissions (issue 18): a client that sends a judgment gives it an id of its own;
-- sending it again finds the judgment recorded the first time instead of recording it twice.
-- `recorded` is what the first call answered (JSON). Undoing the judgment forgets its submission.
CREATE TABLE submissions (
    submission_id  TEXT PRIMARY KEY CHECK (length(submission_id) BETWEEN 8 AND 100),
    judgment_id    BIGINT NOT NULL REFERENCES judgments(id) ON DELETE CASCADE,
    annotator_id   BIGINT NOT NULL REFERENCES annotators(id),
    recorded       TEXT NOT NULL,
    created_at     TEXT NOT NULL DEFAULT (hone_now())
);
CREATE INDEX submissions_by_judgment ON submissions(judgment_id);
