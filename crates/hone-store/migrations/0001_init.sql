-- Hone's feedback store. One SQLite file per workspace.
-- Timestamps are UTC RFC 3339 text with milliseconds; JSON columns hold serde_json text.

CREATE TABLE projects (
    id                INTEGER PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    task_description  TEXT NOT NULL DEFAULT '',
    rating_min        INTEGER NOT NULL DEFAULT 1,
    rating_max        INTEGER NOT NULL DEFAULT 7,
    -- a rating whose mean over criteria reaches this value is a desirable (KTO) example
    kto_threshold     REAL NOT NULL DEFAULT 5.0,
    -- how many distinct annotators should judge each queue item
    overlap           INTEGER NOT NULL DEFAULT 1 CHECK (overlap >= 1),
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    CHECK (rating_min < rating_max)
);

CREATE TABLE guidelines (
    project_id  INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    version     INTEGER NOT NULL CHECK (version >= 1),
    text        TEXT NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (project_id, version)
);

CREATE TABLE rating_criteria (
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(trim(name)) > 0),
    description  TEXT NOT NULL DEFAULT '',
    position     INTEGER NOT NULL,
    PRIMARY KEY (project_id, name)
);

CREATE TABLE span_labels (
    project_id   INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name         TEXT NOT NULL CHECK (length(trim(name)) > 0),
    description  TEXT NOT NULL DEFAULT '',
    position     INTEGER NOT NULL,
    PRIMARY KEY (project_id, name)
);

CREATE TABLE prompts (
    id            INTEGER PRIMARY KEY,
    project_id    INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    -- plain text of the prompt; for chat prompts, the last user message
    text          TEXT NOT NULL,
    -- chat form: JSON array of {"role","content"}; NULL for a plain text prompt
    messages      TEXT,
    split         TEXT NOT NULL DEFAULT 'train' CHECK (split IN ('train', 'heldout')),
    -- sha256 of the canonical content, so an import of the same prompt finds it again
    content_hash  TEXT NOT NULL,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (project_id, content_hash)
);

CREATE TABLE prompt_tags (
    prompt_id  INTEGER NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
    tag        TEXT NOT NULL CHECK (length(trim(tag)) > 0),
    PRIMARY KEY (prompt_id, tag)
);

CREATE TABLE base_models (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    -- local folder of the Hugging Face model, or a Hub id
    location      TEXT NOT NULL,
    architecture  TEXT NOT NULL DEFAULT '',
    sha256        TEXT,
    config        TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE annotators (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE CHECK (length(trim(name)) > 0),
    kind        TEXT NOT NULL DEFAULT 'human' CHECK (kind IN ('human', 'simulated', 'import')),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE dataset_snapshots (
    id            INTEGER PRIMARY KEY,
    project_id    INTEGER NOT NULL REFERENCES projects(id),
    -- sha256 of the canonical JSONL of the training rows the judgments produced
    content_hash  TEXT NOT NULL,
    -- the filter and row counts that produced it (JSON)
    description   TEXT NOT NULL DEFAULT '{}',
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE model_versions (
    id              INTEGER PRIMARY KEY,
    project_id      INTEGER NOT NULL REFERENCES projects(id),
    name            TEXT NOT NULL,
    parent_id       INTEGER REFERENCES model_versions(id),
    base_model_id   INTEGER NOT NULL REFERENCES base_models(id),
    method          TEXT NOT NULL,
    hyperparams     TEXT NOT NULL DEFAULT '{}',
    snapshot_id     INTEGER REFERENCES dataset_snapshots(id),
    metrics         TEXT NOT NULL DEFAULT '{}',
    -- folder holding the adapter files, relative to the workspace
    adapter_dir     TEXT,
    -- the training job, whose metric_points are this version's curves
    job_id          INTEGER REFERENCES jobs(id),
    created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (project_id, name)
);

CREATE TABLE version_files (
    version_id  INTEGER NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    PRIMARY KEY (version_id, path)
);

CREATE TABLE responses (
    id                INTEGER PRIMARY KEY,
    prompt_id         INTEGER NOT NULL REFERENCES prompts(id) ON DELETE CASCADE,
    text              TEXT NOT NULL,
    source            TEXT NOT NULL CHECK (source IN ('model', 'human', 'import')),
    -- set when source = 'model': the version that generated it (NULL = the base model itself)
    model_version_id  INTEGER REFERENCES model_versions(id),
    base_model_id     INTEGER REFERENCES base_models(id),
    generation        TEXT NOT NULL DEFAULT '{}',
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX responses_by_prompt ON responses(prompt_id);

-- What every judgment shares. The kind-specific part lives in one table per kind.
CREATE TABLE judgments (
    id                 INTEGER PRIMARY KEY,
    project_id         INTEGER NOT NULL REFERENCES projects(id),
    prompt_id          INTEGER NOT NULL REFERENCES prompts(id),
    kind               TEXT NOT NULL CHECK (kind IN
                         ('comparison', 'ranking', 'rating', 'edit', 'span', 'thumbs', 'demonstration', 'critique')),
    annotator_id       INTEGER NOT NULL REFERENCES annotators(id),
    time_spent_ms      INTEGER NOT NULL DEFAULT 0 CHECK (time_spent_ms >= 0),
    -- response ids in the order they were actually shown (left/right or list order)
    shown_order        TEXT NOT NULL DEFAULT '[]',
    guideline_version  INTEGER,
    critique           TEXT,
    created_at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX judgments_by_project ON judgments(project_id, kind);
CREATE INDEX judgments_by_annotator ON judgments(annotator_id);

CREATE TABLE comparisons (
    judgment_id  INTEGER PRIMARY KEY REFERENCES judgments(id) ON DELETE CASCADE,
    response_a   INTEGER NOT NULL REFERENCES responses(id),
    response_b   INTEGER NOT NULL REFERENCES responses(id),
    choice       TEXT NOT NULL CHECK (choice IN ('a', 'b', 'tie', 'both_bad')),
    strength     INTEGER CHECK (strength BETWEEN 1 AND 3),
    reason       TEXT,
    CHECK (response_a <> response_b)
);

CREATE TABLE ranking_entries (
    judgment_id  INTEGER NOT NULL REFERENCES judgments(id) ON DELETE CASCADE,
    -- 0 is the best
    rank         INTEGER NOT NULL CHECK (rank >= 0),
    response_id  INTEGER NOT NULL REFERENCES responses(id),
    PRIMARY KEY (judgment_id, rank),
    UNIQUE (judgment_id, response_id)
);

-- One row per single-response judgment (rating, edit, span, thumbs, demonstration, critique).
CREATE TABLE judged_responses (
    judgment_id  INTEGER PRIMARY KEY REFERENCES judgments(id) ON DELETE CASCADE,
    response_id  INTEGER NOT NULL REFERENCES responses(id)
);

CREATE TABLE rating_scores (
    judgment_id  INTEGER NOT NULL REFERENCES judgments(id) ON DELETE CASCADE,
    criterion    TEXT NOT NULL,
    value        INTEGER NOT NULL,
    PRIMARY KEY (judgment_id, criterion)
);

CREATE TABLE edits (
    judgment_id            INTEGER PRIMARY KEY REFERENCES judgments(id) ON DELETE CASCADE,
    -- the corrected text is stored as a response of its own (source 'human')
    corrected_response_id  INTEGER NOT NULL REFERENCES responses(id),
    -- unified diff original -> corrected
    diff                   TEXT NOT NULL
);

CREATE TABLE span_annotations (
    judgment_id  INTEGER NOT NULL REFERENCES judgments(id) ON DELETE CASCADE,
    position     INTEGER NOT NULL,
    -- character (Unicode scalar) offsets into the response text, end exclusive
    char_start   INTEGER NOT NULL CHECK (char_start >= 0),
    char_end     INTEGER NOT NULL,
    label        TEXT NOT NULL,
    note         TEXT,
    PRIMARY KEY (judgment_id, position),
    CHECK (char_end > char_start)
);

CREATE TABLE thumbs (
    judgment_id  INTEGER PRIMARY KEY REFERENCES judgments(id) ON DELETE CASCADE,
    up           INTEGER NOT NULL CHECK (up IN (0, 1))
);

CREATE TABLE snapshot_judgments (
    snapshot_id  INTEGER NOT NULL REFERENCES dataset_snapshots(id) ON DELETE CASCADE,
    judgment_id  INTEGER NOT NULL REFERENCES judgments(id),
    PRIMARY KEY (snapshot_id, judgment_id)
);

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    project_id  INTEGER REFERENCES projects(id),
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'interrupted')),
    progress    REAL NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    message     TEXT NOT NULL DEFAULT '',
    error       TEXT,
    params      TEXT NOT NULL DEFAULT '{}',
    result      TEXT,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE metric_points (
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    step        INTEGER NOT NULL,
    value       REAL NOT NULL,
    PRIMARY KEY (job_id, name, step)
);
