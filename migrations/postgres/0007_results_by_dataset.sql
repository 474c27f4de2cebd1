-- A dataset's result history, newest first (GET /api/v1/results?dataset=…): an index walk
-- that stops after a page, where check_results_by_check (dataset, check_name, id) made
-- Postgres gather and sort all of the dataset's results for every page.
CREATE INDEX check_results_by_dataset ON check_results (dataset, id DESC);
