-- The labeling queue keeps each project's units and votes in memory and reads only the rows
-- added since its last look (rows only ever get larger ids). What it cannot see that way is
-- written down here by triggers, so that every writer (this process, another `hone`, a future
-- store function) keeps the rule:
--
-- - a judgment deleted (an undo), superseded (a re-judgment) or made current again (the undo
--   of a re-judgment clears `superseded_by`) is logged in `queue_changes`, and the queue moves
--   that annotator's vote in place; so is a judgment that takes the id of a deleted one
--   (SQLite gives a new row the largest id plus one: undo the newest judgment and the next
--   one gets its id, which the queue has already read past);
-- - a prompt or response deleted (an import rolled back) bumps the project's revision in
--   `queue_revisions`, and the queue rebuilds its index from scratch.
--
-- No foreign keys: a project being deleted cascades into these triggers.
CREATE TABLE queue_revisions (
    project_id  INTEGER PRIMARY KEY,
    revision    INTEGER NOT NULL
);

CREATE TABLE queue_changes (
    -- AUTOINCREMENT: a sequence number is never given out twice, so "after N" stays exact.
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id   INTEGER NOT NULL,
    judgment_id  INTEGER NOT NULL
);
CREATE INDEX queue_changes_by_project ON queue_changes(project_id, seq);
CREATE INDEX queue_changes_by_judgment ON queue_changes(judgment_id);

CREATE TRIGGER queue_change_judgment_deleted AFTER DELETE ON judgments BEGIN
    INSERT INTO queue_changes (project_id, judgment_id) VALUES (OLD.project_id, OLD.id);
END;

CREATE TRIGGER queue_change_judgment_superseded AFTER UPDATE OF superseded_by ON judgments BEGIN
    INSERT INTO queue_changes (project_id, judgment_id) VALUES (NEW.project_id, NEW.id);
END;

-- The largest judgment id when this migration ran: an id at or below it may have been deleted
-- before deletions were logged, so a new judgment taking it is logged as a change too.
CREATE TABLE queue_judgment_ids_before (last_id INTEGER NOT NULL);
INSERT INTO queue_judgment_ids_before (last_id) SELECT COALESCE(MAX(id), 0) FROM judgments;

CREATE TRIGGER queue_change_judgment_id_reused AFTER INSERT ON judgments
WHEN NEW.id <= (SELECT last_id FROM queue_judgment_ids_before)
    OR EXISTS (SELECT 1 FROM queue_changes WHERE judgment_id = NEW.id) BEGIN
    INSERT INTO queue_changes (project_id, judgment_id) VALUES (NEW.project_id, NEW.id);
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

-- An annotator's judgments on one prompt (the queue re-reads them when one goes away; an
-- import's undo looks for others' judgments on its prompts).
CREATE INDEX judgments_by_prompt ON judgments(prompt_id, annotator_id);
