-- no-transaction
-- Retries of a scheduled run get a trigger of their own, `retry`, and keep the slot they
-- retry (see migrations/postgres/0009_retry_trigger.sql). SQLite cannot change a CHECK
-- constraint in place: the table is rebuilt as its documentation prescribes ("Making
-- Other Kinds Of Table Schema Changes"), with foreign keys off so that dropping the old
-- table cascades to no result. Hence no transaction around the file (the pragma is a no-op
-- inside one) but one of its own inside it; and it can run again if it is interrupted after
-- its commit but before sqlx records it.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;
DROP TABLE IF EXISTS runs_rebuilt;
CREATE TABLE runs_rebuilt (
    -- paging key for run lists; AUTOINCREMENT: never reused after a prune, so a page cursor
    -- never points at a different run
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    batch_id    TEXT NOT NULL,
    dataset     TEXT NOT NULL,
    warehouse   TEXT NOT NULL,
    -- the values of store::Trigger
    trigger     TEXT NOT NULL CHECK (trigger IN ('cli', 'schedule', 'manual', 'retry')),
    slot        TEXT,
    -- the values of store::RunStatus
    status      TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'abandoned')),
    replica     TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    lease_until TEXT NOT NULL,
    error       TEXT,
    pass_count  INTEGER NOT NULL DEFAULT 0,
    warn_count  INTEGER NOT NULL DEFAULT 0,
    fail_count  INTEGER NOT NULL DEFAULT 0,
    error_count INTEGER NOT NULL DEFAULT 0,
    -- a scheduled run without a slot would escape the claim below (NULLs never collide)
    CONSTRAINT runs_scheduled_have_slot CHECK (trigger <> 'schedule' OR slot IS NOT NULL)
) STRICT;
INSERT INTO runs_rebuilt (seq, id, batch_id, dataset, warehouse, trigger, slot, status,
                          replica, started_at, finished_at, lease_until, error, pass_count,
                          warn_count, fail_count, error_count)
SELECT seq, id, batch_id, dataset, warehouse, trigger, slot, status, replica, started_at,
       finished_at, lease_until, error, pass_count, warn_count, fail_count, error_count
FROM runs;
-- AUTOINCREMENT's high-water mark goes along, so a pruned run's seq is never handed out again
DELETE FROM sqlite_sequence WHERE name = 'runs_rebuilt';
INSERT INTO sqlite_sequence (name, seq) SELECT 'runs_rebuilt', seq FROM sqlite_sequence WHERE name = 'runs';
DROP TABLE runs;
ALTER TABLE runs_rebuilt RENAME TO runs;
-- the indexes of 0001_init.sql, which went with the old table
CREATE UNIQUE INDEX runs_schedule_claim ON runs (dataset, slot) WHERE trigger = 'schedule';
CREATE INDEX runs_by_dataset ON runs (dataset, seq DESC);
CREATE INDEX runs_running_lease ON runs (lease_until) WHERE status = 'running';
CREATE INDEX runs_started_at ON runs (started_at);
COMMIT;
PRAGMA foreign_keys = ON;
