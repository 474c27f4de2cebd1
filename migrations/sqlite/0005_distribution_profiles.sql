-- Distribution checks: the profile each run measured of a checked column (equal-count bins
-- of a numeric column, or its most frequent values), the reference later runs judge drift
-- against. SQLite dialect of migrations/postgres/0005_distribution_profiles.sql (the reasons
-- for a table of its own are there); times are TEXT as in 0001, JSON is TEXT.
CREATE TABLE distribution_profiles (
    id          INTEGER PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    dataset     TEXT NOT NULL,
    check_name  TEXT NOT NULL,
    column_name TEXT NOT NULL,
    -- the run's end
    taken_at    TEXT NOT NULL,
    -- a distribution::Profile: {"kind": "numeric", "bins": […]} or {"kind": "values", …}
    profile     TEXT NOT NULL CHECK (json_valid(profile))
) STRICT;
-- the newest profiles of a check (previous, last_7d, snapshot)
CREATE INDEX distribution_profiles_latest
    ON distribution_profiles (dataset, check_name, taken_at DESC);
-- deleting a run's profiles when the run is pruned
CREATE INDEX distribution_profiles_run ON distribution_profiles (run_id);
