-- PostgreSQL twin of migrations/0013_span_label_polarity.sql; keep in step (checked by the store's schema test)
-- Issue 19: a span label marks an error (the default, what every label meant before) or what is
-- good. Marks with an error label train against their tokens (unlikelihood); marks with a good
-- label train for them (likelihood); an answer with only good marks is a desirable one.
ALTER TABLE span_labels ADD COLUMN polarity TEXT NOT NULL DEFAULT 'error' CHECK (polarity IN ('error', 'good'));
