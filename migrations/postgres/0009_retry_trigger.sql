-- Retries of a scheduled run get a trigger of their own, `retry`, and keep the slot they
-- retry (they were recorded as `manual` runs without a slot). The exactly-once claim still
-- holds: its unique index covers `schedule` runs only.
ALTER TABLE runs DROP CONSTRAINT runs_trigger_check;
ALTER TABLE runs ADD CONSTRAINT runs_trigger_check
    CHECK (trigger IN ('cli', 'schedule', 'manual', 'retry'));
