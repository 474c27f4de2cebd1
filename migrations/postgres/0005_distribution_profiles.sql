-- Distribution checks: the profile each run measured of a checked column (equal-count bins
-- of a numeric column, or its most frequent values), the reference later runs judge drift
-- against. A table of its own rather than JSON beside the result: results are listed by the
-- API and the dashboard, which have no use for a profile's kilobytes, and references are
-- looked up by check and time, which this table's index serves. A profile is part of its
-- run's record, like the schema snapshot: pruning the run removes it.
CREATE TABLE distribution_profiles (
    id          bigserial PRIMARY KEY,
    run_id      uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    dataset     text NOT NULL,
    check_name  text NOT NULL,
    column_name text NOT NULL,
    -- the run's end
    taken_at    timestamptz NOT NULL,
    -- a distribution::Profile: {"kind": "numeric", "bins": […]} or {"kind": "values", …}
    profile     jsonb NOT NULL
);
-- the newest profiles of a check (previous, last_7d, snapshot)
CREATE INDEX distribution_profiles_latest
    ON distribution_profiles (dataset, check_name, taken_at DESC);
-- deleting a run's profiles when the run is pruned
CREATE INDEX distribution_profiles_run ON distribution_profiles (run_id);
