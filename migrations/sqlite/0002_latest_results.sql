-- The newest result of every check, kept up to date by finish_run: current health is then
-- a read of one row per check instead of a max(id) over every result ever stored.
CREATE TABLE latest_results (
    dataset    TEXT NOT NULL,
    check_name TEXT NOT NULL,
    -- pruning a result that is still the newest leaves the check without current health
    result_id  INTEGER NOT NULL REFERENCES check_results (id) ON DELETE CASCADE,
    PRIMARY KEY (dataset, check_name)
) STRICT;

-- lets pruning find the pointers to the results it deletes
CREATE INDEX latest_results_by_result ON latest_results (result_id);

INSERT INTO latest_results (dataset, check_name, result_id)
SELECT dataset, check_name, max(id) FROM check_results GROUP BY dataset, check_name;
