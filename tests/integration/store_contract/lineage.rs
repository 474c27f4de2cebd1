//! Lineage edges: kept with their source and the time span they were seen in.

use tidemark::store::EdgesVersion;

use super::{Fixture, minutes, t0};

async fn lineage_edges_keep_their_source_and_time_span(f: &Fixture) {
    use tidemark::lineage::{Edge, Source};
    let store = &f.store;
    assert_eq!(ok!(store.edges()), []);
    assert_eq!(ok!(store.edges_version()), EdgesVersion::default());
    let edge = |up: &str, down: &str, source, first: i64, last: i64| Edge {
        upstream: up.into(),
        downstream: down.into(),
        source,
        first_seen: t0() + minutes(first),
        last_seen: t0() + minutes(last),
    };
    ok!(store.upsert_edges(&[
        edge("raw.orders", "stg.orders", Source::OpenLineage, 10, 10),
        // Repeated in one call: merged, not an error.
        edge("raw.orders", "stg.orders", Source::OpenLineage, 20, 20),
        edge("raw.orders", "stg.orders", Source::View, 5, 5),
        edge("Stg Orders", "mart.Orders", Source::Dbt, 1, 2),
    ]));
    // Seen again, earlier and later: the span widens on both ends.
    ok!(store.upsert_edges(&[
        edge("raw.orders", "stg.orders", Source::OpenLineage, 15, 30),
        edge("raw.orders", "stg.orders", Source::OpenLineage, 3, 4),
    ]));
    ok!(store.upsert_edges(&[]));
    assert_eq!(
        ok!(store.edges()),
        [
            edge("Stg Orders", "mart.Orders", Source::Dbt, 1, 2),
            edge("raw.orders", "stg.orders", Source::OpenLineage, 3, 30),
            edge("raw.orders", "stg.orders", Source::View, 5, 5),
        ]
    );
    // What graphs built from the edges are checked against: their count and newest sighting.
    let version = EdgesVersion {
        count: 3,
        newest: Some(t0() + minutes(30)),
    };
    assert_eq!(ok!(store.edges_version()), version);
    // More edges than one statement takes.
    let chain = |i: usize| edge(&format!("n{i}"), &format!("n{}", i + 1), Source::Dbt, 0, 0);
    let many: Vec<Edge> = (0..2_500).map(chain).collect();
    ok!(store.upsert_edges(&many));
    assert_eq!(ok!(store.edges()).len(), 2_503);
    assert_eq!(ok!(store.edges_version()).count, 2_503);
}

on_each_store!(
    lineage_edges_keep_their_source_and_time_span,
    postgres: lineage_edges_postgres,
    sqlite: lineage_edges_sqlite,
);
