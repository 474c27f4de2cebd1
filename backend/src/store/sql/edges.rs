//! Lineage edges, merged by upstream, downstream and source.

use super::*;
use crate::lineage::{Graph, Source};

/// Lineage edges written per statement: 5 parameters each, well under SQLite's limit.
const EDGES_PER_STATEMENT: usize = 1_000;

sql_area! {
    impl Edges {
        async fn upsert_edges(&self, edges: &[Edge]) -> Result<(), StoreError> {
            // One statement may not update a row twice (Postgres): repeats are merged first.
            let mut merged = Graph::default();
            edges.iter().cloned().for_each(|edge| merged.add_edge(edge));
            let merged: Vec<&Edge> = merged.edges().collect();
            let mut tx = DB::begin_write(self.writer()).await?;
            for chunk in merged.chunks(EDGES_PER_STATEMENT) {
                let mut upsert = QueryBuilder::<DB>::new(
                    "INSERT INTO lineage_edges \
                     (upstream, downstream, source, first_seen, last_seen) ",
                );
                upsert.push_values(chunk, |mut row, edge| {
                    row.push_bind(edge.upstream.as_str())
                        .push_bind(edge.downstream.as_str())
                        .push_bind(edge.source.as_str())
                        .push_bind(DB::time(edge.first_seen))
                        .push_bind(DB::time(edge.last_seen));
                });
                // CASE rather than least()/greatest(), which SQLite spells min()/max().
                upsert.push(
                    " ON CONFLICT (upstream, downstream, source) DO UPDATE SET \
                     first_seen = CASE WHEN excluded.first_seen < lineage_edges.first_seen \
                     THEN excluded.first_seen ELSE lineage_edges.first_seen END, \
                     last_seen = CASE WHEN excluded.last_seen > lineage_edges.last_seen \
                     THEN excluded.last_seen ELSE lineage_edges.last_seen END",
                );
                upsert.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(())
        }

        async fn edges(&self) -> Result<Vec<Edge>, StoreError> {
            let order = DB::BYTE_ORDER;
            let query = format!(
                "SELECT upstream, downstream, source, first_seen, last_seen FROM lineage_edges \
                 ORDER BY upstream{order}, downstream{order}, source"
            );
            let rows = sqlx::query(AssertSqlSafe(query))
                .fetch_all(self.reader())
                .await?;
            all(&rows, |row| {
                let source = row.text("source")?;
                Ok(Edge {
                    upstream: row.text("upstream")?,
                    downstream: row.text("downstream")?,
                    source: parsed("lineage source", &source, Source::parse)?,
                    first_seen: row.time("first_seen")?,
                    last_seen: row.time("last_seen")?,
                })
            })
        }

        async fn edges_version(&self) -> Result<EdgesVersion, StoreError> {
            let row =
                sqlx::query("SELECT count(*) AS count, max(last_seen) AS newest FROM lineage_edges")
                    .fetch_one(self.reader())
                    .await?;
            Ok(EdgesVersion {
                count: row.integer("count")?,
                newest: row.optional_time("newest")?,
            })
        }
    }
}
