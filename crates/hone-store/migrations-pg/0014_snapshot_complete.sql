-- PostgreSQL twin of migrations/0014_snapshot_complete.sql; keep in step (checked by the store's schema test)
-- Issue 17: a snapshot of many judgments is written in parts, one short write transaction per
-- few thousand judgment ids, so that annotators' saves never wait for the whole (100k ids held
-- the writer ~250 ms). Until its last part it is incomplete: invisible to `get` and `list`,
-- deleted if its writer gives up or dies.
ALTER TABLE dataset_snapshots ADD COLUMN complete BIGINT NOT NULL DEFAULT 1 CHECK (complete IN (0, 1));

-- Which snapshots hold a judgment (an undo asks, under the writer's turn): without this index
-- each undo scanned every snapshot's ids (100k judgments frozen: ~20 ms an undo).
CREATE INDEX snapshot_judgments_by_judgment ON snapshot_judgments(judgment_id);
