-- Imports as runs: a big file is written in short transactions (chunks) so that annotators'
-- judgments never wait long for the write lock, and still lands all or nothing. Every row an
-- import creates carries its import's id; while the run is `running` (or being undone) those
-- rows count for nothing (the queue, current judgments and snapshots leave them out), and a
-- failed or killed run is undone by deleting them.
CREATE TABLE imports (
    id           INTEGER PRIMARY KEY,
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    path         TEXT NOT NULL,
    annotator    TEXT NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('running', 'done', 'rolled_back')),
    -- records written so far (progress), then in all
    records      INTEGER NOT NULL DEFAULT 0,
    -- why a run was rolled back
    error        TEXT,
    started_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    finished_at  TEXT
);

ALTER TABLE prompts ADD COLUMN import_id INTEGER REFERENCES imports(id);
ALTER TABLE responses ADD COLUMN import_id INTEGER REFERENCES imports(id);
ALTER TABLE judgments ADD COLUMN import_id INTEGER REFERENCES imports(id);
CREATE INDEX prompts_by_import ON prompts(import_id) WHERE import_id IS NOT NULL;
CREATE INDEX responses_by_import ON responses(import_id) WHERE import_id IS NOT NULL;
CREATE INDEX judgments_by_import ON judgments(import_id) WHERE import_id IS NOT NULL;

-- Finding a verdict already recorded (a re-import) and the judgments of a response, without
-- scanning an annotator's every judgment: the scan made imports quadratic.
CREATE INDEX comparisons_by_pair ON comparisons(response_a, response_b);
CREATE INDEX judged_responses_by_response ON judged_responses(response_id);
CREATE INDEX ranking_entries_by_response ON ranking_entries(response_id);
CREATE INDEX edits_by_response ON edits(corrected_response_id);
