-- Labeling at scale: an annotator may skip a unit (it goes to the back of their queue) or flag
-- it (it never comes back to them; the lead sees the flags), and may re-judge a judgment.

-- One row per skip. A unit is (kind, prompt, sorted response ids); response_ids is '[]' for a
-- prompt-level unit (ranking, demonstration). The queue orders a person's skipped units by
-- their latest skip (the largest id), so skipping again moves a unit back again.
CREATE TABLE skips (
    id            INTEGER PRIMARY KEY,
    project_id    INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    annotator_id  INTEGER NOT NULL REFERENCES annotators(id),
    kind          TEXT NOT NULL CHECK (kind IN
                    ('comparison', 'ranking', 'rating', 'edit', 'span', 'thumbs', 'demonstration', 'critique')),
    prompt_id     INTEGER NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
    response_ids  TEXT NOT NULL DEFAULT '[]',
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX skips_by_annotator ON skips(project_id, annotator_id, kind);

-- A unit an annotator flagged, with why; flagging the same unit again replaces reason and note.
CREATE TABLE flags (
    id            INTEGER PRIMARY KEY,
    project_id    INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    annotator_id  INTEGER NOT NULL REFERENCES annotators(id),
    kind          TEXT NOT NULL CHECK (kind IN
                    ('comparison', 'ranking', 'rating', 'edit', 'span', 'thumbs', 'demonstration', 'critique')),
    prompt_id     INTEGER NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
    response_ids  TEXT NOT NULL DEFAULT '[]',
    reason        TEXT NOT NULL CHECK (reason IN ('broken_prompt', 'off_topic', 'not_my_expertise', 'unsafe')),
    note          TEXT,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (annotator_id, kind, prompt_id, response_ids)
);
CREATE INDEX flags_by_project ON flags(project_id);

-- A re-judgment: the judgment that replaced this one (same annotator, project and kind). Both
-- are kept; undoing the new one brings the old one back. A judgment is replaced at most once.
ALTER TABLE judgments ADD COLUMN superseded_by INTEGER REFERENCES judgments(id) ON DELETE SET NULL;
CREATE UNIQUE INDEX judgments_superseded_by ON judgments(superseded_by) WHERE superseded_by IS NOT NULL;
