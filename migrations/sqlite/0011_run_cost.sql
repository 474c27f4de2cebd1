-- What each run's queries cost the warehouse (see migrations/postgres/0011_run_cost.sql).
ALTER TABLE runs ADD COLUMN rows_scanned INTEGER;
ALTER TABLE runs ADD COLUMN bytes_scanned INTEGER;
ALTER TABLE runs ADD COLUMN warehouse_seconds REAL;
