-- The labeling queue keeps each project's units and votes in memory and reads only the rows
-- added since its last look (rows only ever get larger ids). What it cannot see that way — a
-- row deleted (an undo, an import rolled back), a judgment superseded by a re-judgment — bumps
-- the project's revision here, and the queue rebuilds its index from scratch. Triggers, so
-- that every writer (this process, another `hone`, a future store function) keeps the rule.
-- No foreign key: a project being deleted cascades into these triggers.
CREATE TABLE queue_revisions (
    project_id  INTEGER PRIMARY KEY,
    revision    INTEGER NOT NULL
);

CREATE TRIGGER queue_revision_judgment_deleted AFTER DELETE ON judgments BEGIN
    INSERT INTO queue_revisions (project_id, revision) VALUES (OLD.project_id, 1)
        ON CONFLICT (project_id) DO UPDATE SET revision = revision + 1;
END;

CREATE TRIGGER queue_revision_judgment_superseded AFTER UPDATE OF superseded_by ON judgments BEGIN
    INSERT INTO queue_revisions (project_id, revision) VALUES (NEW.project_id, 1)
        ON CONFLICT (project_id) DO UPDATE SET revision = revision + 1;
END;

CREATE TRIGGER queue_revision_prompt_deleted AFTER DELETE ON prompts BEGIN
    INSERT INTO queue_revisions (project_id, revision) VALUES (OLD.project_id, 1)
        ON CONFLICT (project_id) DO UPDATE SET revision = revision + 1;
END;

CREATE TRIGGER queue_revision_response_deleted AFTER DELETE ON responses BEGIN
    INSERT INTO queue_revisions (project_id, revision)
        SELECT project_id, 1 FROM prompts WHERE id = OLD.prompt_id
        ON CONFLICT (project_id) DO UPDATE SET revision = revision + 1;
END;
