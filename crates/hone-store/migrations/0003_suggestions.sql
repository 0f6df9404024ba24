-- Whether an AI suggestion (a reward model's preference) was on screen when the judgment was
-- made, so its influence on annotators can be measured.
ALTER TABLE judgments ADD COLUMN suggestion_visible INTEGER NOT NULL DEFAULT 0;
