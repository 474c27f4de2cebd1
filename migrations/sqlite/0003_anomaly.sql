-- Anomaly thresholds: the band each judgement expected, kept with the result and its metric
-- point (charts draw it from the series); whether the point was judged an anomaly (kept out
-- of what later runs learn from) and whether it was later accepted as part of a level shift
-- (the new normal); and users' feedback on a point: `expected` (the new normal: learn from
-- it) or `incident` (never learn from it).
ALTER TABLE check_results ADD COLUMN band TEXT;

ALTER TABLE metric_points ADD COLUMN band_lower REAL
    CHECK (band_lower BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308);
ALTER TABLE metric_points ADD COLUMN band_upper REAL
    CHECK (band_upper BETWEEN -1.7976931348623157e308 AND 1.7976931348623157e308);
ALTER TABLE metric_points ADD COLUMN anomalous INTEGER NOT NULL DEFAULT 0
    CHECK (anomalous IN (0, 1));
ALTER TABLE metric_points ADD COLUMN shift INTEGER NOT NULL DEFAULT 0 CHECK (shift IN (0, 1));
ALTER TABLE metric_points ADD COLUMN feedback TEXT CHECK (feedback IN ('expected', 'incident'));
