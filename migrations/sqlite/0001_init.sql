-- Tidemark's results store, SQLite dialect (migrations/postgres/0001_init.sql is the same
-- schema for Postgres). Times are TEXT 'YYYY-MM-DDTHH:MM:SS.ffffffZ': UTC, to the
-- microsecond, fixed width, so text order is time order. Uuids are TEXT (hyphenated,
-- lowercase); JSON is TEXT. STRICT tables refuse values of the wrong type.
-- Datasets and checks are keyed by name everywhere, and runs by a uuid, so later tables
-- (incidents, lineage) can refer to them without reshaping these.

CREATE TABLE runs (
    -- paging key for run lists; AUTOINCREMENT: never reused after a prune, so a page cursor
    -- never points at a different run
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    batch_id    TEXT NOT NULL,
    dataset     TEXT NOT NULL,
    warehouse   TEXT NOT NULL,
    -- the values of store::Trigger
    trigger     TEXT NOT NULL CHECK (trigger IN ('cli', 'schedule', 'manual')),
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
-- the exactly-once claim: one scheduled run per dataset and cron slot (also serves last_slot)
CREATE UNIQUE INDEX runs_schedule_claim ON runs (dataset, slot) WHERE trigger = 'schedule';
-- a dataset's runs, newest first
CREATE INDEX runs_by_dataset ON runs (dataset, seq DESC);
-- expire_leases reads only running runs, a small slice of the table
CREATE INDEX runs_running_lease ON runs (lease_until) WHERE status = 'running';
-- prune finds runs past retention without scanning them all
CREATE INDEX runs_started_at ON runs (started_at);

CREATE TABLE check_results (
    -- increases with insertion: the paging key, and "newest" for latest_results;
    -- AUTOINCREMENT: never reused after a prune
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    -- results are part of their run's record: pruning the run removes them
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    dataset     TEXT NOT NULL,
    warehouse   TEXT NOT NULL,
    check_name  TEXT NOT NULL,
    check_hash  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    column_name TEXT,
    -- a JSON array of column names
    columns     TEXT CHECK (json_valid(columns)),
    -- the values of engine::Outcome
    outcome     TEXT NOT NULL CHECK (outcome IN ('pass', 'warn', 'fail', 'error')),
    -- finite or null, as JSON can hold (SQLite itself turns NaN into null)
    value       REAL CHECK (value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308),
    expected    TEXT CHECK (json_valid(expected)),
    message     TEXT NOT NULL,
    -- the values of spec::Severity
    severity    TEXT CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    observed_at TEXT NOT NULL
) STRICT;
-- a check's history newest first, and the newest result per (dataset, check) for latest_results
CREATE INDEX check_results_by_check ON check_results (dataset, check_name, id DESC);
-- a run's results, and deleting them when the run is pruned
CREATE INDEX check_results_by_run ON check_results (run_id);

-- metric series outlive results (anomaly detection needs long history): no foreign key to runs
CREATE TABLE metric_points (
    id         INTEGER PRIMARY KEY,
    dataset    TEXT NOT NULL,
    check_name TEXT NOT NULL,
    at         TEXT NOT NULL,
    -- finite only: a series is plotted and fed to anomaly detection
    value      REAL NOT NULL CHECK (value BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308)
) STRICT;
-- one series oldest first, from a time on
CREATE INDEX metric_points_series ON metric_points (dataset, check_name, at);
-- prune finds points past retention without scanning them all
CREATE INDEX metric_points_at ON metric_points (at);

CREATE TABLE schema_snapshots (
    id        INTEGER PRIMARY KEY,
    dataset   TEXT NOT NULL,
    warehouse TEXT NOT NULL,
    -- a snapshot is part of its run's record: pruning the run removes it
    run_id    TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    taken_at  TEXT NOT NULL,
    -- [{"name": …, "data_type": …}, …] in the table's column order
    columns   TEXT NOT NULL CHECK (json_valid(columns))
) STRICT;
-- latest_snapshot (and schema_history through its dataset prefix), newest first
CREATE INDEX schema_snapshots_latest ON schema_snapshots (dataset, warehouse, taken_at DESC);
-- deleting a run's snapshot when the run is pruned
CREATE INDEX schema_snapshots_by_run ON schema_snapshots (run_id);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    -- only the token's hash is kept; every authenticated request looks it up
    hash       TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
) STRICT;
