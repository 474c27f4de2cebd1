//! Migrations, and pruning what retention no longer keeps.

use super::*;

sql_area! {
    impl Upkeep {
        async fn migrate(&self) -> Result<(), StoreError> {
            DB::migrate(self.writer()).await
        }

        async fn prune(
            &self,
            now: DateTime<Utc>,
            retention: Retention,
        ) -> Result<Pruned, StoreError> {
            let mut pruned = Pruned::default();
            if let Some(cutoff) = cutoff(now, retention.results) {
                let select = format!(
                    "SELECT id FROM runs WHERE started_at < $1 AND status <> 'running' \
                     ORDER BY started_at LIMIT $2{}",
                    DB::LOCK_RUNS_TO_PRUNE
                );
                let delete = |table: &str, column: &str| {
                    AssertSqlSafe(format!(
                        "DELETE FROM {table} WHERE {column} {}",
                        DB::IN_ID_LIST
                    ))
                };
                loop {
                    let mut tx = DB::begin_write(self.writer()).await?;
                    let rows = sqlx::query(AssertSqlSafe(select.as_str()))
                        .bind(DB::time(cutoff))
                        .bind(PRUNE_RUN_BATCH)
                        .fetch_all(&mut *tx)
                        .await?;
                    if rows.is_empty() {
                        tx.rollback().await?;
                        break;
                    }
                    let ids = DB::id_list(&all(&rows, |row| row.uuid("id"))?)?;
                    // Children first, explicitly, to count them (the cascade would not say).
                    pruned.results += sqlx::query(delete("check_results", "run_id"))
                        .bind(&ids)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    pruned.snapshots += sqlx::query(delete("schema_snapshots", "run_id"))
                        .bind(&ids)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    pruned.runs += sqlx::query(delete("runs", "id"))
                        .bind(&ids)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    tx.commit().await?;
                    if (rows.len() as i64) < PRUNE_RUN_BATCH {
                        break;
                    }
                }
                // Incidents settled before the cut-off (resolved, and the resolution announced)
                // go with the runs of their time; their notifications and delivery attempts
                // cascade, and incidents folded under them keep standing alone.
                pruned.incidents = sqlx::query(
                    "DELETE FROM incidents WHERE status = 'resolved' AND resolved_at < $1 \
                     AND (announced IS NULL OR announced = 'resolved')",
                )
                .bind(DB::time(cutoff))
                .execute(self.writer())
                .await?
                .rows_affected();
                // A job that has not reported an edge since the cut-off stopped writing there.
                pruned.lineage_edges = sqlx::query("DELETE FROM lineage_edges WHERE last_seen < $1")
                    .bind(DB::time(cutoff))
                    .execute(self.writer())
                    .await?
                    .rows_affected();
            }
            if let Some(cutoff) = cutoff(now, retention.metrics) {
                loop {
                    let deleted = sqlx::query(
                        "DELETE FROM metric_points WHERE id IN \
                         (SELECT id FROM metric_points WHERE at < $1 LIMIT $2)",
                    )
                    .bind(DB::time(cutoff))
                    .bind(PRUNE_POINT_BATCH)
                    .execute(self.writer())
                    .await?
                    .rows_affected();
                    pruned.metric_points += deleted;
                    if deleted < PRUNE_POINT_BATCH as u64 {
                        break;
                    }
                }
            }
            Ok(pruned)
        }
    }
}
