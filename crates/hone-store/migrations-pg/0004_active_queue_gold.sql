-- PostgreSQL twin of migrations/0004_active_queue_gold.sql; keep in step (checked by the store's schema test)
-- How the labeling queue orders its items: in prompt order, at random, where the latest reward
-- model is least sure (smallest score margin first), or where annotators disagree.
ALTER TABLE projects ADD COLUMN queue_order TEXT NOT NULL DEFAULT 'in_order'
    CHECK (queue_order IN ('in_order', 'random', 'least_sure', 'disagreement'));
-- The share of queue items drawn from the gold items (known answers) an annotator has not judged.
ALTER TABLE projects ADD COLUMN gold_rate DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (gold_rate >= 0 AND gold_rate <= 1);

-- A judgment the lead marked as the known answer of its item; undoing the judgment unmarks it.
-- Keyed by the judgment's id (always given), so a plain BIGINT, not an identity.
CREATE TABLE gold_items (
    judgment_id  BIGINT PRIMARY KEY REFERENCES judgments(id) ON DELETE CASCADE,
    project_id   BIGINT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    created_at   TEXT NOT NULL DEFAULT (hone_now())
);
CREATE INDEX gold_items_project ON gold_items(project_id);

-- A reward model's score of a response, computed once: the active queue and the report on the
-- suggestions' influence read them again and again.
CREATE TABLE reward_scores (
    version_id   BIGINT NOT NULL REFERENCES model_versions(id) ON DELETE CASCADE,
    response_id  BIGINT NOT NULL REFERENCES responses(id) ON DELETE CASCADE,
    score        DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (version_id, response_id)
);
