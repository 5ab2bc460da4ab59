-- Schema v4 -> v5: a rule can hold an alert pending for a number of consecutive evaluations (besides, or
-- instead of, a duration) before it fires: 0 (the default) and 1 both fire at the first evaluation.
ALTER TABLE rules ADD COLUMN pending_evaluations BIGINT NOT NULL DEFAULT 0;
