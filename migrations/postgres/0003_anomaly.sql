-- Anomaly thresholds: the band each judgement expected, kept with the result and its metric
-- point (charts draw it from the series); whether the point was judged an anomaly (kept out
-- of what later runs learn from) and whether it was later accepted as part of a level shift
-- (the new normal); and users' feedback on a point: `expected` (the new normal: learn from
-- it) or `incident` (never learn from it).
ALTER TABLE check_results ADD COLUMN band jsonb;

ALTER TABLE metric_points ADD COLUMN band_lower double precision
    CHECK (band_lower NOT IN ('NaN', 'Infinity', '-Infinity'));
ALTER TABLE metric_points ADD COLUMN band_upper double precision
    CHECK (band_upper NOT IN ('NaN', 'Infinity', '-Infinity'));
ALTER TABLE metric_points ADD COLUMN anomalous boolean NOT NULL DEFAULT false;
ALTER TABLE metric_points ADD COLUMN shift boolean NOT NULL DEFAULT false;
ALTER TABLE metric_points ADD COLUMN feedback text CHECK (feedback IN ('expected', 'incident'));
