-- Lineage edges reported from outside (OpenLineage events; migrations/sqlite/0006_lineage.sql
-- is the same schema for SQLite). Declared, view and dbt edges are derived when the graph is
-- built and never stored. An edge is kept once per source, with the first and last time it
-- was reported, so a stale edge (a job that stopped writing a table) can be told apart.

CREATE TABLE lineage_edges (
    upstream   text NOT NULL,
    downstream text NOT NULL,
    source     text NOT NULL,
    first_seen timestamptz NOT NULL,
    last_seen  timestamptz NOT NULL,
    PRIMARY KEY (upstream, downstream, source)
);
