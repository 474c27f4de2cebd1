-- Lineage edges reported from outside (OpenLineage events; migrations/postgres/0006_lineage.sql
-- is the same schema for Postgres). Declared, view and dbt edges are derived when the graph
-- is built and never stored. An edge is kept once per source, with the first and last time
-- it was reported, so a stale edge (a job that stopped writing a table) can be told apart.

CREATE TABLE lineage_edges (
    upstream   TEXT NOT NULL,
    downstream TEXT NOT NULL,
    source     TEXT NOT NULL,
    -- RFC 3339 UTC, fixed width: text order is time order
    first_seen TEXT NOT NULL,
    last_seen  TEXT NOT NULL,
    PRIMARY KEY (upstream, downstream, source)
) STRICT;
