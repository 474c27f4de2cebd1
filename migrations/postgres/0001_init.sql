-- Tidemark's results store, Postgres dialect (migrations/sqlite/0001_init.sql is the same
-- schema for SQLite). Times are timestamptz (kept in UTC, to the microsecond); JSON is jsonb.
-- Datasets and checks are keyed by name everywhere, and runs by a uuid, so later tables
-- (incidents, lineage) can refer to them without reshaping these.

CREATE TABLE runs (
    id          uuid PRIMARY KEY,
    -- paging key for run lists: increases with insertion, unlike the random id
    seq         bigserial NOT NULL UNIQUE,
    batch_id    uuid NOT NULL,
    dataset     text NOT NULL,
    warehouse   text NOT NULL,
    -- the values of store::Trigger
    trigger     text NOT NULL CHECK (trigger IN ('cli', 'schedule', 'manual')),
    slot        timestamptz,
    -- the values of store::RunStatus
    status      text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'abandoned')),
    replica     text NOT NULL,
    started_at  timestamptz NOT NULL,
    finished_at timestamptz,
    lease_until timestamptz NOT NULL,
    error       text,
    pass_count  integer NOT NULL DEFAULT 0,
    warn_count  integer NOT NULL DEFAULT 0,
    fail_count  integer NOT NULL DEFAULT 0,
    error_count integer NOT NULL DEFAULT 0,
    -- a scheduled run without a slot would escape the claim below (NULLs never collide)
    CONSTRAINT runs_scheduled_have_slot CHECK (trigger <> 'schedule' OR slot IS NOT NULL)
);
-- the exactly-once claim: one scheduled run per dataset and cron slot across all replicas
-- (also serves last_slot)
CREATE UNIQUE INDEX runs_schedule_claim ON runs (dataset, slot) WHERE trigger = 'schedule';
-- a dataset's runs, newest first
CREATE INDEX runs_by_dataset ON runs (dataset, seq DESC);
-- expire_leases reads only running runs, a small slice of the table
CREATE INDEX runs_running_lease ON runs (lease_until) WHERE status = 'running';
-- prune finds runs past retention without scanning them all
CREATE INDEX runs_started_at ON runs (started_at);

CREATE TABLE check_results (
    -- increases with insertion: the paging key, and "newest" for latest_results
    id          bigserial PRIMARY KEY,
    -- results are part of their run's record: pruning the run removes them
    run_id      uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    dataset     text NOT NULL,
    warehouse   text NOT NULL,
    check_name  text NOT NULL,
    check_hash  text NOT NULL,
    kind        text NOT NULL,
    column_name text,
    columns     jsonb,
    -- the values of engine::Outcome
    outcome     text NOT NULL CHECK (outcome IN ('pass', 'warn', 'fail', 'error')),
    -- finite or null, as JSON (and SQLite) can hold (Postgres compares NaN equal to NaN)
    value       double precision CHECK (value NOT IN ('NaN', 'Infinity', '-Infinity')),
    expected    jsonb,
    message     text NOT NULL,
    -- the values of spec::Severity
    severity    text CHECK (severity IN ('low', 'medium', 'high', 'critical')),
    observed_at timestamptz NOT NULL
);
-- a check's history newest first, and the newest result per (dataset, check) for latest_results
CREATE INDEX check_results_by_check ON check_results (dataset, check_name, id DESC);
-- a run's results, and deleting them when the run is pruned
CREATE INDEX check_results_by_run ON check_results (run_id);

-- metric series outlive results (anomaly detection needs long history): no foreign key to runs
CREATE TABLE metric_points (
    id         bigserial PRIMARY KEY,
    dataset    text NOT NULL,
    check_name text NOT NULL,
    at         timestamptz NOT NULL,
    -- finite only: a series is plotted and fed to anomaly detection
    value      double precision NOT NULL CHECK (value NOT IN ('NaN', 'Infinity', '-Infinity'))
);
-- one series oldest first, from a time on
CREATE INDEX metric_points_series ON metric_points (dataset, check_name, at);
-- prune finds points past retention without scanning them all
CREATE INDEX metric_points_at ON metric_points (at);

CREATE TABLE schema_snapshots (
    id        bigserial PRIMARY KEY,
    dataset   text NOT NULL,
    warehouse text NOT NULL,
    -- a snapshot is part of its run's record: pruning the run removes it
    run_id    uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    taken_at  timestamptz NOT NULL,
    -- [{"name": …, "data_type": …}, …] in the table's column order
    columns   jsonb NOT NULL
);
-- latest_snapshot (and schema_history through its dataset prefix), newest first
CREATE INDEX schema_snapshots_latest ON schema_snapshots (dataset, warehouse, taken_at DESC);
-- deleting a run's snapshot when the run is pruned
CREATE INDEX schema_snapshots_by_run ON schema_snapshots (run_id);

CREATE TABLE api_tokens (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL,
    -- only the token's hash is kept; every authenticated request looks it up
    hash       text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);
