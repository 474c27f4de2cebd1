-- What each run's queries cost the warehouse: rows and bytes its scans read, where the
-- engine reports them (NULL where it does not), and the time the warehouse took to answer
-- all of its queries. NULL for runs from before this migration and for unfinished runs.
ALTER TABLE runs
    ADD COLUMN rows_scanned BIGINT,
    ADD COLUMN bytes_scanned BIGINT,
    ADD COLUMN warehouse_seconds DOUBLE PRECISION;
